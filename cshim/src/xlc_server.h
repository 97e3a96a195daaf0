// The server facade's shared state. Its jobs live in their own files:
//   xlc_server.cpp           lifecycle: create, close, free
//   xlc_server_routes.cpp    the route table, the request wrapper and dispatch (xlc_server_handle)
//   xlc_server_validate.cpp  request checks that run before llama.cpp's handlers
//   xlc_server_sockets.cpp   ending the HTTP connections of a closing server
//   xlc_url.cpp, xlc_sse.cpp path/query parsing and the SSE event splitter
//   xlc_chat_template.cpp    a built-in chat template for a model file without one
#pragma once

#include "xlc_internal.h"

#include "common.h"
#include "server-context.h"
#include "server-http.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace xlc {

using handler_t = server_http_context::handler_t;

// Fixed HTTP workers at the least (see prepare_params in xlc_server.cpp).
constexpr int k_min_http_workers = 64;

// How long an idle keep-alive connection stays open, advertised in `Keep-Alive: timeout=N`
// (cpp-httplib's default, 5 s, closes connections clients are about to reuse);
// $XLLAMACPP_KEEP_ALIVE_TIMEOUT overrides it.
constexpr long k_keep_alive_s = 60;

struct route {
    const char * method;
    std::string  path;  // may hold ":name" segments
    handler_t    handler;
};

// What request validation needs to know about the loaded model.
struct model_facts {
    int32_t n_vocab     = 0;
    bool    has_image   = false;  // a projector that takes images
    bool    has_audio   = false;  // a projector that takes audio
    bool    has_video   = false;  // a projector that takes video
    size_t  n_lora      = 0;      // adapters loaded at start (ids 0 .. n_lora-1)
};

// Checks a request before llama.cpp's handler sees it (xlc_server_validate.cpp).
// Throws std::invalid_argument (a 400) with a message naming the offending field.
void validate_request(const std::string & method, const std::string & route_path,
                      const std::string & body, const model_facts & facts);

// When the model file has no chat template and chat_template is empty: llama.cpp's built-in
// template its architecture and vocabulary call for, if one fits (xlc_chat_template.cpp).
void default_chat_template(common_params & p);

// How many xlc_server_handle() calls for `server` run on this thread (a stream callback
// that calls close() runs inside one).
int calls_on_this_thread(const xlc_server * server);

// Shuts down (without closing) every accepted TCP connection on `port`, so that the
// HTTP workers blocked reading or writing them return at once (xlc_server_sockets.cpp).
void shutdown_connections(int port);

} // namespace xlc

struct xlc_server {
    common_params                   params;
    std::unique_ptr<server_context> ctx_server;
    std::unique_ptr<server_routes>  routes;
    server_http_context             ctx_http;
    bool                            http_enabled = false;
    int                             http_port = -1;  // the port bound, once listening
    std::vector<xlc::route>         table;
    std::string                     address;
    xlc::model_facts                facts;

    std::thread                     loop;
    std::atomic<bool>               closing{false};
    std::mutex                      mutex;
    std::condition_variable         cv;
    bool                            loop_done = false;
    int                             in_flight = 0;     // xlc_server_handle calls running
    bool                            closed = false;
    bool                            shutdown_done = false;  // close() has stopped HTTP and the loop
    bool                            released = false;       // model and routes freed
    bool                            free_when_idle = false; // xlc_server_free ran inside a stream callback
    std::multiset<std::string>      conversations;     // X-Conversation-Id of live HTTP streams

    void build_table();
    const xlc::route * match(const std::string & method, const std::string & path,
                             std::map<std::string, std::string> & params) const;
    void close();
    void release();  // frees the model once nothing runs; callers hold no lock
};
