// Containing ggml's aborts (xlc_abort.cpp).
//
// GGML_ABORT and a failed GGML_ASSERT hand their message to ggml's abort
// callback and then call abort(). This library installs that callback when it
// is loaded. Where the caller can recover, the callback throws an xlc::error
// instead, which unwinds out of ggml_abort into the code that called ggml
// (ggml.c is built with unwind tables), to the nearest catch:
//
//  - on a thread holding an abort_scope, for every abort;
//  - on any thread, for an abort raised in ggml's RPC client (ggml-rpc.cpp):
//    an unreachable server, a failed handshake, a connection lost. On the
//    thread that asked (loading a model, querying a device) that is an
//    ordinary error. On ggml-rpc's own I/O thread nothing can catch it, so the
//    process still ends (std::terminate, which prints the message), as it did.
//
// Everywhere else ggml's abort is left as it was.
#pragma once

#include "xlc_internal.h"

namespace xlc {

// While one is alive on a thread, any ggml abort on that thread throws
// xlc::error(status, "ggml: <message>") instead of ending the process. Only
// for code whose caller catches and whose state survives the unwinding.
class abort_scope {
public:
    explicit abort_scope(xlc_status status = XLC_ERR_INTERNAL);
    ~abort_scope();
    abort_scope(const abort_scope &) = delete;
    abort_scope & operator=(const abort_scope &) = delete;

private:
    xlc_status previous_;
};

// Installs the callback (done once when the library loads; idempotent).
void abort_containment_install();

} // namespace xlc
