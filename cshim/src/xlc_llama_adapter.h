// Every reach of the facade into llama.cpp's and llama-server's internals that moves
// between releases, in one place. Each is written against what the vendored tree has,
// found at compile time: a member's presence by the detection idiom below, the rest by
// cshim/cmake/llama_probe.cmake (xlc_llama_config.h: the mangled names of the functions
// wrapped at link time, one parameter list that changed). Never by a version number.
// The rest of the facade talks to these, not to the members themselves.
#pragma once

#include "xlc_llama_config.h"

#include "common.h"
#include "server-common.h"  // `json`, llama-server's JSON type: nlohmann's ordered_json, later common_json
#include "server-http.h"
#include "speculative.h"

#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// The error type of llama.cpp's own JSON wrapper; only declared here, so that naming it
// compiles in a tree that has no such wrapper (there nothing throws it).
struct common_json_error;

namespace xlc::llama {

// llama-server's JSON type, which its handlers and the wrapped functions take.
using json = ::json;

// --- the detection idiom: does T have this member? ---------------------------------------

#define XLC_HAS_MEMBER(NAME, EXPR)                                                           \
    template <class T, class = void> struct NAME : std::false_type {};                       \
    template <class T> struct NAME<T, std::void_t<decltype(EXPR)>> : std::true_type {};

XLC_HAS_MEMBER(has_listening_addresses, std::declval<T &>().listening_addresses)
XLC_HAS_MEMBER(has_join, std::declval<T &>().join())
XLC_HAS_MEMBER(has_parse_no_throw, T::parse_no_throw(std::string()))
XLC_HAS_MEMBER(has_exception_type, std::declval<typename T::exception &>())
XLC_HAS_MEMBER(has_hostnames, std::declval<T &>().hostnames)
XLC_HAS_MEMBER(has_kv_unified_per_slot, std::declval<T &>().kv_unified_per_slot)

#undef XLC_HAS_MEMBER

// --- server_http_context ---------------------------------------------------------------

// The address the listener reports (the first, where it listens on several).
template <class H = server_http_context> std::string http_address(const H & http) {
    if constexpr (has_listening_addresses<H>::value) {
        return http.listening_addresses.empty() ? std::string() : http.listening_addresses.front();
    } else {
        return http.listening_address;
    }
}

// Waits for the listener's threads after stop().
template <class H = server_http_context> void http_join(H & http) {
    if constexpr (has_join<H>::value) {
        http.join();
    } else {
        if (http.thread.joinable()) http.thread.join();
    }
}

// --- common_params members the facade reads itself -------------------------------------------

// The host the listener was asked for (the first, where several may be named).
template <class P = common_params> std::string host(const P & p) {
    if constexpr (has_hostnames<P>::value) {
        return p.hostnames.empty() ? std::string() : p.hostnames.front();
    } else {
        return p.hostname;
    }
}

// The context each parallel slot gets when n_ctx is unset (0: not set, or no such setting).
template <class P = common_params> int kv_unified_per_slot(const P & p) {
    if constexpr (has_kv_unified_per_slot<P>::value) {
        return p.kv_unified_per_slot;
    } else {
        return 0;
    }
}

// --- free functions: the tree's own where it has one, else the fallback beside it -------------
// (an unqualified call sees both; overload resolution prefers the tree's non-template)

namespace absent {
template <class S> std::vector<common_speculative_type> common_speculative_types_from_gguf(const S &) {
    return {};  // no reader of the draft file's method: the caller's default stands
}
} // namespace absent

// The speculative methods a draft model file names in its metadata (MTP, DFlash), if any.
inline std::vector<common_speculative_type> speculative_types_from_gguf(const std::string & path) {
    using namespace absent;
    return common_speculative_types_from_gguf(path);
}

// --- llama-server's JSON ---------------------------------------------------------------

// Parses text; a discarded value (is_discarded(), not an object or array) where it is not JSON.
template <class J = json> J parse_or_discarded(const std::string & text) {
    if constexpr (has_parse_no_throw<J>::value) {
        return J::parse_no_throw(text);
    } else {
        return J::parse(text, nullptr, false);
    }
}

// What parsing or reading llama-server's JSON throws: nlohmann's exception, or the wrapper's error.
template <class J, class = void> struct json_error_of { using type = ::common_json_error; };
template <class J> struct json_error_of<J, std::enable_if_t<has_exception_type<J>::value>> {
    using type = typename J::exception;
};
using json_error = typename json_error_of<json>::type;

} // namespace xlc::llama

// The names of a function wrapped at link time (-Wl,--wrap, CMakeLists.txt): declare the
// wrapper and the real function under them, whatever this tree mangles the function to.
#define XLC_WRAP_NAME(FN) __asm__("__wrap_" XLC_SYM_##FN)
#define XLC_REAL_NAME(FN) __asm__("__real_" XLC_SYM_##FN)

// server_schema::eval_llama_cmpl_schema took the slot's context size before the logit biases:
// its parameter, and the argument passed on, where this tree has it.
#if XLC_EVAL_SCHEMA_TAKES_N_CTX_SLOT
#define XLC_EVAL_SCHEMA_SLOT_PARAM(NAME) const int NAME,
#define XLC_EVAL_SCHEMA_SLOT_ARG(NAME) NAME,
#else
#define XLC_EVAL_SCHEMA_SLOT_PARAM(NAME)
#define XLC_EVAL_SCHEMA_SLOT_ARG(NAME)
#endif
