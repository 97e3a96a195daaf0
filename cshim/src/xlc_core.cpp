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

void set_error(const std::string & msg) { t_last_error = msg; }

char * dup(const std::string & s) {
    char * out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) {
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = '\0';
    }
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

char * xlc_build_info(void) {
    ojson info = {
        {"build_number", llama_build_number()},
        {"commit", llama_commit()},
        {"compiler", llama_compiler()},
        {"target", llama_build_target()},
        {"backend", XLC_BACKEND_NAME},
        {"abi_version", XLC_ABI_VERSION},
    };
    return dup(info.dump());
}

} // extern "C"
