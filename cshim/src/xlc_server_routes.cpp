// The route table and dispatch. One table feeds both the HTTP listener and
// xlc_server_handle(), and every entry goes through the same wrapper, so HTTP
// and in-process callers get the same checks and the same answers:
//   - exceptions become JSON errors (400 for the client's mistakes, 500 otherwise);
//   - the request is checked before llama.cpp sees it (xlc_server_validate.cpp);
//   - its stop condition also fires when the server closes, so close() ends it;
//   - the request the handler saw lives as long as the response that refers to it.
#include "xlc_feature_routes.h"
#include "xlc_llama_adapter.h"
#include "xlc_server.h"
#include "xlc_sse.h"
#include "xlc_url.h"

#include "server-common.h"
#include "server-stream.h"

#include <cstdlib>
#include <functional>
#include <set>

using namespace xlc;

namespace {

server_http_res_ptr json_error(int status, const std::string & message, const std::string & type) {
    auto res = std::make_unique<server_http_res>();
    res->status = status;
    res->data = safe_json_to_str({{"error", {{"code", status}, {"message", message}, {"type", type}}}});
    return res;
}

server_http_res_ptr closed_error() {
    return json_error(503, "the server is closing", "unavailable_error");
}

// llama-server reads response_format on chat only; completions take it too, as
// the json_schema it stands for (OpenAI-style clients send it on both).
std::string completions_body(const std::string & body) {
    if (body.find("response_format") == std::string::npos) return body;
    ojson data = ojson::parse(body, nullptr, false);
    if (!data.is_object() || !data.contains("response_format") || data.contains("json_schema")) return body;
    const ojson & rf = data["response_format"];
    const std::string type = rf.is_object() && rf.contains("type") && rf["type"].is_string() ? rf["type"].get<std::string>() : "";
    ojson schema;
    if (type == "json_object") {
        schema = rf.contains("schema") ? rf["schema"] : ojson{{"type", "object"}};
    } else if (type == "json_schema" && rf.contains("json_schema") && rf["json_schema"].is_object()) {
        schema = rf["json_schema"].value("schema", ojson{{"type", "object"}});
    } else if (type == "text") {
        return body;
    } else {
        throw std::invalid_argument("response_format type must be \"text\", \"json_object\" or \"json_schema\"");
    }
    data["json_schema"] = schema;
    data.erase("response_format");
    return data.dump();
}

// The request as the handler sees it, with the stop condition it refers to.
struct owned_request {
    std::function<bool()>            should_stop;
    std::unique_ptr<server_http_req> req;
};

// The handler's response, kept together with the request it may still read
// (llama.cpp's streams keep a pointer to it), and cut short when the server closes.
class owning_response : public server_http_res {
public:
    owning_response(xlc_server * srv, std::unique_ptr<owned_request> request, server_http_res_ptr inner,
                    std::string conversation)
        : srv_(srv), request_(std::move(request)), inner_(std::move(inner)), conversation_(std::move(conversation)) {
        status = inner_->status;
        headers = inner_->headers;
        content_type = inner_->content_type;
        if (inner_->is_stream()) {
            // llama-server's stream provider returns false after the last chunk, which cpp-httplib
            // takes for a cancel: it closes the connection after every streamed answer, while the
            // headers promise keep-alive, and a client that sends its next request on that socket
            // before the FIN arrives loses it. The facade cannot change the provider, so it says so:
            // the client opens a new connection for its next request (docs/reliability.md).
            headers["Connection"] = "close";
            next = [this](std::string & out) -> bool {
                if (srv_->closing.load()) {
                    out = format_oai_sse(json{{"error", format_error_response("the server is closing", ERROR_TYPE_UNAVAILABLE)}});
                    return false;
                }
                return inner_->next(out);
            };
        } else if (srv_->closing.load() && inner_->data.empty()) {
            // llama.cpp's handler gave up waiting because we asked it to: say why
            status = 503;
            data = safe_json_to_str({{"error", format_error_response("the server is closing", ERROR_TYPE_UNAVAILABLE)}});
        } else {
            data = std::move(inner_->data);
        }
    }

    ~owning_response() override {
        inner_.reset();  // first: its reader cancels its tasks and may still read the request
        request_.reset();
        if (!conversation_.empty()) {
            std::lock_guard<std::mutex> lock(srv_->mutex);
            auto it = srv_->conversations.find(conversation_);
            if (it != srv_->conversations.end()) srv_->conversations.erase(it);
        }
    }

    void on_complete() override {
        if (inner_) inner_->on_complete();
    }

private:
    xlc_server *                   srv_;
    std::unique_ptr<owned_request> request_;
    server_http_res_ptr            inner_;
    std::string                    conversation_;
};

// Same contract as llama-server's wrapper: a handler never throws; invalid_argument
// is the client's fault (400), anything else is ours (500). Two additions: a JSON
// error (a body that does not parse, a field of the wrong type) is the client's too,
// where llama-server answers 500; and so is any error of a route that only converts
// and parses the request before it hands it to handle_completions_impl (which
// answers its own errors), when `parse_errors_are_the_clients` says so.
// Set when answer_errors() made the answer from an exception: the route refused the request
// outright. The in-process call on this thread then reports XLC_ERR_REQUEST (upstream
// xllamacpp raises there); HTTP answers the error object as llama-server does.
thread_local bool t_refused = false;

template <class F> server_http_res_ptr answer_errors(F && fn, bool parse_errors_are_the_clients) noexcept {
    std::string message;
    error_type type = ERROR_TYPE_SERVER;
    try {
        return fn();
    } catch (const std::invalid_argument & e) {
        type = ERROR_TYPE_INVALID_REQUEST;
        message = e.what();
    } catch (const llama::json_error & e) {
        type = ERROR_TYPE_INVALID_REQUEST;
        message = std::string("invalid JSON in request: ") + e.what();
    } catch (const std::bad_alloc &) {
        message = "out of memory";
    } catch (const std::exception & e) {
        if (parse_errors_are_the_clients) type = ERROR_TYPE_INVALID_REQUEST;
        message = e.what();
    } catch (...) {
        message = "unknown error";
    }
    t_refused = true;  // only an exception gets here
    try {
        auto res = std::make_unique<server_http_res>();
        json err = format_error_response(message, type);
        res->status = json_value(err, "code", 500);
        res->data = safe_json_to_str({{"error", err}});
        return res;
    } catch (...) {
        return nullptr;  // out of memory: the caller answers 500 without a body
    }
}

// The chat-shaped routes: llama-server's handler converts and parses the request
// (oaicompat_chat_params_parse, the Anthropic and Responses converters, the chat
// template) and then calls handle_completions_impl, which answers its own errors;
// what escapes them is a request it could not take (a runtime_error, a 500 there).
bool parses_then_runs(const std::string & path) {
    static const std::set<std::string> routes = {
        "/chat/completions", "/v1/chat/completions", "/v1/responses", "/responses", "/v1/messages",
        "/v1/messages/count_tokens", "/apply-template", "/chat/completions/input_tokens",
        "/v1/chat/completions/input_tokens", "/responses/input_tokens", "/v1/responses/input_tokens",
        "/v1/audio/transcriptions", "/audio/transcriptions"};
    return routes.count(path) > 0;
}

// Wraps one route's llama.cpp handler (see the file comment).
handler_t wrap(xlc_server * srv, const route & rt, std::string (*rewrite)(const std::string &)) {
    const std::string method = rt.method;
    const std::string path = rt.path;
    const bool client_errors = parses_then_runs(path);
    handler_t fn = rt.handler;
    return [srv, method, path, fn, rewrite, client_errors](const server_http_req & req) -> server_http_res_ptr {
        server_http_res_ptr res = answer_errors([&]() -> server_http_res_ptr {
            if (srv->closing.load()) return closed_error();
            if (!fn) throw std::runtime_error("this endpoint is not available");
            const std::string body = rewrite ? rewrite(req.body) : req.body;
            validate_request(method, path, body, srv->facts);

            auto owned = std::make_unique<owned_request>();
            const std::function<bool()> outer = req.should_stop;
            owned->should_stop = [srv, outer] { return srv->closing.load() || (outer && outer()); };
            owned->req.reset(new server_http_req{req.params, req.headers, req.path, req.query_string, body,
                                                 req.files, owned->should_stop});
            std::string conversation = server_stream_conv_id_from_headers(req.headers);
            if (!conversation.empty()) {
                std::lock_guard<std::mutex> lock(srv->mutex);
                srv->conversations.insert(conversation);
            }
            server_http_res_ptr inner;
            try {
                inner = fn(*owned->req);
            } catch (...) {
                if (!conversation.empty()) {
                    std::lock_guard<std::mutex> lock(srv->mutex);
                    srv->conversations.erase(srv->conversations.find(conversation));
                }
                throw;
            }
            if (!inner) throw std::runtime_error("the handler gave no response");
            return std::make_unique<owning_response>(srv, std::move(owned), std::move(inner), std::move(conversation));
        }, client_errors);
        if (!res) {
            res = std::make_unique<server_http_res>();
            res->status = 500;
        }
        return res;
    };
}

} // namespace

void xlc_server::build_table() {
    server_routes & r = *routes;
    handler_t res_403 = [](const server_http_req &) {
        return json_error(403, "this feature is disabled", "feature_disabled");
    };
    table = {
        {"GET",  "/health",                          r.get_health},
        {"GET",  "/v1/health",                       r.get_health},
        {"GET",  "/metrics",                         r.get_metrics},
        {"GET",  "/props",                           r.get_props},
        {"POST", "/props",                           r.post_props},
        {"GET",  "/models",                          r.get_models},
        {"GET",  "/v1/models",                       r.get_models},
        {"POST", "/completion",                      r.post_completions},
        {"POST", "/completions",                     r.post_completions},
        {"POST", "/v1/completions",                  r.post_completions_oai},
        {"POST", "/chat/completions",                r.post_chat_completions},
        {"POST", "/v1/chat/completions",             r.post_chat_completions},
        {"POST", "/v1/chat/completions/control",     r.post_control},
        {"POST", "/v1/responses",                    r.post_responses_oai},
        {"POST", "/responses",                       r.post_responses_oai},
        {"POST", "/v1/audio/transcriptions",         r.post_transcriptions_oai},
        {"POST", "/audio/transcriptions",            r.post_transcriptions_oai},
        {"POST", "/v1/messages",                     r.post_anthropic_messages},
        {"POST", "/v1/messages/count_tokens",        r.post_anthropic_count_tokens},
        {"POST", "/infill",                          r.post_infill},
        {"POST", "/embedding",                       r.post_embeddings},
        {"POST", "/embeddings",                      r.post_embeddings},
        {"POST", "/v1/embeddings",                   r.post_embeddings_oai},
        {"POST", "/rerank",                          r.post_rerank},
        {"POST", "/reranking",                       r.post_rerank},
        {"POST", "/v1/rerank",                       r.post_rerank},
        {"POST", "/v1/reranking",                    r.post_rerank},
        {"POST", "/tokenize",                        r.post_tokenize},
        {"POST", "/detokenize",                      r.post_detokenize},
        {"POST", "/apply-template",                  r.post_apply_template},
        {"POST", "/chat/completions/input_tokens",   r.post_chat_completions_tok},
        {"POST", "/v1/chat/completions/input_tokens", r.post_chat_completions_tok},
        {"POST", "/responses/input_tokens",          r.post_responses_tok_oai},
        {"POST", "/v1/responses/input_tokens",       r.post_responses_tok_oai},
        {"GET",  "/lora-adapters",                   r.get_lora_adapters},
        {"POST", "/lora-adapters",                   r.post_lora_adapters},
        {"GET",  "/slots",                           r.get_slots},
        {"POST", "/slots/:id_slot",                  r.post_slots},
        {"GET",  XLC_ROUTE_STREAM_GET,               server_stream_make_get_handler()},  // xlc_llama_config.h
        {"POST", "/v1/streams/lookup",               server_stream_make_lookup_handler()},
        {"DELETE", XLC_ROUTE_STREAM_DELETE,          server_stream_make_delete_handler()},
        {"GET",  "/tools",                           res_403},
        {"POST", "/tools",                           res_403},
        {"GET",  "/cors-proxy",                      res_403},
        {"POST", "/cors-proxy",                      res_403},
    };
    for (auto & rt : table) {
        const bool completions = rt.path == "/completion" || rt.path == "/completions" || rt.path == "/v1/completions";
        rt.handler = feature_route(rt.method, rt.path, std::move(rt.handler), r, *ctx_server, params);
        rt.handler = wrap(this, rt, completions ? completions_body : nullptr);
    }
}

const route * xlc_server::match(const std::string & method, const std::string & path,
                                std::map<std::string, std::string> & params) const {
    const auto parts = split_path(path);
    for (const auto & rt : table) {
        if (method != rt.method) continue;
        const auto pattern = split_path(rt.path);
        if (pattern.size() != parts.size()) continue;
        std::map<std::string, std::string> captured;
        bool ok = true;
        for (size_t i = 0; i < parts.size() && ok; ++i) {
            if (!pattern[i].empty() && pattern[i][0] == ':') {
                captured[pattern[i].substr(1)] = url_decode(parts[i], false);
            } else {
                ok = pattern[i] == parts[i];
            }
        }
        if (ok) {
            for (auto & [k, v] : captured) params[k] = v;
            return &rt;
        }
    }
    return nullptr;
}

namespace {

// Which servers this thread is inside xlc_server_handle() for: close() from a
// stream callback must not wait for the call it runs in.
thread_local std::vector<const xlc_server *> t_handling;

struct handling_scope {
    explicit handling_scope(const xlc_server * s) { t_handling.push_back(s); }
    ~handling_scope() { t_handling.pop_back(); }
};

} // namespace

int xlc::calls_on_this_thread(const xlc_server * server) {
    int n = 0;
    for (const xlc_server * s : t_handling) n += s == server;
    return n;
}

namespace {

xlc_status handle(xlc_server * server, const char * method, const char * path, const char * body, size_t body_len,
                  int flags, xlc_stream_callback callback, void * user_data, int * out_status, char ** out_body,
                  char ** out_content_type) {
    if (out_body) *out_body = nullptr;
    if (out_content_type) *out_content_type = nullptr;
    if (out_status) *out_status = 0;
    if (!server) {
        set_error("server is NULL");
        return XLC_ERR_INVALID_ARGUMENT;
    }
    {
        std::lock_guard<std::mutex> lock(server->mutex);
        if (server->closed || server->closing.load()) {
            set_error("the server is closed");
            return XLC_ERR_CLOSED;
        }
        ++server->in_flight;
    }
    bool callback_failed = false;
    bool refused = false;  // the route refused the request outright: its error answer is in *out_*
    xlc_status status = guard([&] {
        if (!method || !path) throw invalid("method and path are required");
        if (!body && body_len > 0) throw invalid("body is NULL but body_len is not 0");
        handling_scope scope(server);
        std::string route_path, query;
        split_target(path, route_path, query);
        std::map<std::string, std::string> params = parse_query(query);

        const route * rt = server->match(method, route_path, params);
        std::atomic<bool> stop{false};
        const std::atomic<bool> * cancel = t_cancel_flag;  // set by xlc_request_start's thread
        const std::function<bool()> should_stop = [&] { return stop.load() || (cancel && cancel->load()); };
        server_http_req req{params, {}, route_path, query, body ? std::string(body, body_len) : std::string(), {}, should_stop};
        t_refused = false;
        server_http_res_ptr res = rt ? rt->handler(req) : json_error(404, "File Not Found", "not_found_error");
        refused = t_refused;

        std::string collected;
        if (res->is_stream()) {
            sse_splitter splitter;
            auto deliver = [&](const std::string & data) -> bool {
                if (!callback) {
                    collected += data;
                    return true;
                }
                const int rc = callback(data.data(), data.size(), user_data);
                if (rc < 0) callback_failed = true;
                return rc == 0;
            };
            while (!server->closing.load()) {
                std::string chunk;
                const bool more = res->next(chunk);
                bool go_on = true;
                if (!chunk.empty() && !server->closing.load()) {
                    if ((flags & XLC_STREAM_EVENTS) && callback) {
                        go_on = splitter.feed(chunk, deliver);
                    } else {
                        go_on = deliver(chunk);
                    }
                }
                if (!go_on) {
                    stop.store(true);
                    break;
                }
                if (!more) break;
            }
        } else {
            collected = std::move(res->data);
        }
        const bool cut_by_close = server->closing.load() && !stop.load() && (res->is_stream() || res->status == 503);
        if (out_status) *out_status = res->status;
        if (out_content_type) *out_content_type = dup_or_throw(res->content_type);
        stop.store(true);
        res->on_complete();
        res.reset();  // cancels the tasks of a stream stopped early, freeing its slot
        if (cut_by_close) {
            throw error(XLC_ERR_CLOSED, "the server was closed while the request was running");
        }
        if (callback_failed) {
            throw error(XLC_ERR_CALLBACK, "the stream callback failed; the generation was stopped");
        }
        if (out_body) *out_body = dup_or_throw(collected);
    });
    if (status != XLC_OK) {
        if (out_content_type && *out_content_type) {
            std::free(*out_content_type);
            *out_content_type = nullptr;
        }
        if (out_status) *out_status = 0;
    }
    bool free_now = false;
    {
        std::lock_guard<std::mutex> lock(server->mutex);
        --server->in_flight;
        free_now = server->free_when_idle && server->in_flight == 0;
        server->cv.notify_all();
    }
    // a server closed (or freed) from inside a stream callback is released by its last call
    server->release();
    if (status == XLC_OK && refused) {
        set_error("the request was refused (its error answer is in the body)");
        status = XLC_ERR_REQUEST;
    }
    if (free_now) delete server;
    return status;
}

} // namespace

extern "C" xlc_status xlc_server_handle(xlc_server * server, const char * method, const char * path,
                                        const char * body, size_t body_len, int flags,
                                        xlc_stream_callback callback, void * user_data,
                                        int * out_status, char ** out_body, char ** out_content_type) {
    try {
        return handle(server, method, path, body, body_len, flags, callback, user_data, out_status, out_body,
                      out_content_type);
    } catch (...) {  // only the bookkeeping outside guard() could throw (a mutex): nothing crosses extern "C"
        set_error("internal error in xlc_server_handle");
        return XLC_ERR_INTERNAL;
    }
}
