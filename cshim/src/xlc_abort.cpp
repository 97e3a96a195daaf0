// ggml's abort callback: recoverable aborts become exceptions (see xlc_abort.h).
#include "xlc_abort.h"

#include "ggml.h"

#include <cstdio>
#include <string>

extern "C" void ggml_print_backtrace(void);  // ggml.c; what ggml's abort prints when no callback is set

namespace {

thread_local int        t_depth  = 0;
thread_local xlc_status t_status = XLC_ERR_INTERNAL;

// ggml's message is "<file>:<line>: <text>"; returns the text, and the file's base name and line in *where.
std::string split_message(const char * message, std::string * where) {
    std::string m = message ? message : "";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    const size_t sep = m.find(": ");
    if (sep == std::string::npos) return m;
    std::string location = m.substr(0, sep);
    const size_t slash = location.find_last_of("/\\");
    *where = slash == std::string::npos ? location : location.substr(slash + 1);
    std::string text = m.substr(sep + 2);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

void on_ggml_abort(const char * message) {
    std::string where;
    const std::string text = split_message(message, &where);
    if (t_depth > 0) {
        throw xlc::error(t_status, "ggml: " + text + " [" + where + "]");
    }
    if (where.rfind("ggml-rpc.cpp", 0) == 0) {
        // ggml-rpc's client aborts only when a server is unreachable, refuses the handshake or
        // drops the connection: the caller's thread can report that; the RPC I/O thread cannot
        throw xlc::error(XLC_ERR_IO, "RPC: " + text + " [" + where + "]");
    }
    // what ggml does without a callback; abort() follows when this returns
    std::fprintf(stderr, "%s\n", message ? message : "ggml abort");
    ggml_print_backtrace();
}

struct installer {
    installer() { xlc::abort_containment_install(); }
} g_installer;

} // namespace

namespace xlc {

abort_scope::abort_scope(xlc_status status) : previous_(t_status) {
    ++t_depth;
    t_status = status;
}

abort_scope::~abort_scope() {
    --t_depth;
    t_status = previous_;
}

void abort_containment_install() {
    ggml_set_abort_callback(on_ggml_abort);
}

} // namespace xlc
