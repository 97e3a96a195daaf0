// Shared plumbing of the facade: error capture, string hand-off, one-time init.
#pragma once

#include "xlc.h"

#include <nlohmann/json.hpp>

#include <new>
#include <atomic>
#include <stdexcept>
#include <string>

namespace xlc {

using ojson = nlohmann::ordered_json;

// An error that carries the status it becomes at the C boundary.
struct error : std::runtime_error {
    xlc_status status;
    error(xlc_status s, const std::string & msg) : std::runtime_error(msg), status(s) {}
};

inline error invalid(const std::string & msg) { return error(XLC_ERR_INVALID_ARGUMENT, msg); }

void  set_error(const std::string & msg) noexcept;  // this thread's xlc_last_error()
char * dup(const std::string & s);           // malloc'ed copy, NULL when out of memory
char * dup_or_throw(const std::string & s);  // the same, throwing std::bad_alloc instead of NULL

// Runs f, turning every exception into a status plus xlc_last_error().
template <class F> xlc_status guard(F && f) noexcept {
    try {
        f();
        set_error("");
        return XLC_OK;
    } catch (const error & e) {
        set_error(e.what());
        return e.status;
    } catch (const std::invalid_argument & e) {
        set_error(e.what());
        return XLC_ERR_INVALID_ARGUMENT;
    } catch (const std::bad_alloc &) {
        set_error("out of memory");
        return XLC_ERR_INTERNAL;
    } catch (const std::exception & e) {
        set_error(e.what());
        return XLC_ERR_INTERNAL;
    } catch (...) {
        set_error("unknown C++ exception");
        return XLC_ERR_INTERNAL;
    }
}

// The one shape of a call that returns text: checks out, runs make() under guard()
// and hands its result to the caller in *out (NULL on failure).
template <class F> xlc_status return_text(char ** out, F && make) noexcept {
    if (out) *out = nullptr;
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = dup_or_throw(make());
    });
}

// Parses JSON text, raising xlc::error with the parser's message.
ojson parse_json(const char * text, const char * what);

// llama.cpp's process-wide set-up (backends, logging); idempotent, thread-safe.
void init_once();

// The cancel flag of the request this thread runs for xlc_request_start (xlc_request.cpp), or NULL;
// the request path polls it while it waits, as llama-server polls a client's connection.
extern thread_local const std::atomic<bool> * t_cancel_flag;

// Logging (xlc_log.cpp).
void log_install();
void log_capture_begin();             // start recording this thread's error lines
std::string log_capture_end();        // stop and return them, newest last

} // namespace xlc
