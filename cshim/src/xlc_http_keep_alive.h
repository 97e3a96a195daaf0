// How long cpp-httplib keeps an idle keep-alive connection, chosen per server.
//
// cpp-httplib reads CPPHTTPLIB_KEEPALIVE_TIMEOUT_SECOND once, as the default of every
// httplib::Server it constructs (in httplib.cpp), and advertises it in each answer's
// `Keep-Alive: timeout=N`; llama-server has no flag for it. cshim/CMakeLists.txt compiles
// httplib.cpp with this header forced in, so the default becomes this thread's value at the
// moment server_http_context::init() constructs the listener. llama-server from the same
// tree keeps cpp-httplib's 5 s, since nothing sets the value there.
#pragma once

#include <ctime>

namespace xlc_httplib {
inline thread_local time_t keep_alive_timeout_s = 5;  // cpp-httplib's own default
}

#define CPPHTTPLIB_KEEPALIVE_TIMEOUT_SECOND (::xlc_httplib::keep_alive_timeout_s)
