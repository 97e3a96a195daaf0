// Library identity, errors, strings and the process-wide llama.cpp set-up.
#include "xlc_internal.h"

#include "build-info.h"
#include "common.h"
#include "llama.h"
#include "server-stream.h"

#include <clocale>
#include <cstdlib>
#include <cstring>
#include <mutex>

#ifndef XLC_BACKEND_NAME
#define XLC_BACKEND_NAME "cpu"
#endif

namespace xlc {

static thread_local std::string t_last_error;

void set_error(const std::string & msg) noexcept {
    try {
        t_last_error = msg;
    } catch (...) {
        t_last_error.clear();  // out of memory: xlc_status_string() still says what failed
    }
}

char * dup(const std::string & s) {
    char * out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) {
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = '\0';
    }
    return out;
}

char * dup_or_throw(const std::string & s) {
    char * out = dup(s);
    if (!out) throw std::bad_alloc();
    return out;
}

ojson parse_json(const char * text, const char * what) {
    if (text == nullptr) {
        throw invalid(std::string(what) + " is NULL");
    }
    try {
        return ojson::parse(text);
    } catch (const std::exception & e) {
        throw invalid(std::string(what) + " is not valid JSON: " + e.what());
    }
}

void init_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        std::setlocale(LC_NUMERIC, "C");
        common_init();
        log_install();  // after common_init, which points llama's log at stderr
        llama_backend_init();
        // the resumable-stream session GC that llama-server starts before any route runs
        server_stream_session_manager_start();
    });
}

} // namespace xlc

using namespace xlc;

extern "C" {

int xlc_abi_version(void) { return XLC_ABI_VERSION; }

const char * xlc_backend(void) { return XLC_BACKEND_NAME; }

const char * xlc_last_error(void) { return t_last_error.c_str(); }

void xlc_free(char * s) { std::free(s); }

const char * xlc_status_string(xlc_status status) {
    switch (status) {
        case XLC_OK:                   return "ok";
        case XLC_ERR_INVALID_ARGUMENT: return "invalid argument";
        case XLC_ERR_NOT_FOUND:        return "not found";
        case XLC_ERR_MODEL_LOAD:       return "model load failed";
        case XLC_ERR_IO:               return "input/output error";
        case XLC_ERR_CLOSED:           return "server closed";
        case XLC_ERR_CALLBACK:         return "stream callback failed";
        case XLC_ERR_INTERNAL:         return "internal error";
    }
    return "unknown status";
}

xlc_status xlc_build_info(char ** out) {
    return return_text(out, [] {
        const ojson info = {
            {"build_number", llama_build_number()},
            {"commit", llama_commit()},
            {"compiler", llama_compiler()},
            {"target", llama_build_target()},
            {"backend", XLC_BACKEND_NAME},
            {"abi_version", XLC_ABI_VERSION},
        };
        return info.dump();
    });
}

} // extern "C"
