// llama-server in-process: its server_context loop, its route handlers and its
// HTTP listener, driven the way tools/server/server.cpp drives them in
// single-model mode. One route table feeds both the listener and
// xlc_server_handle(), so HTTP and in-process callers cannot disagree.
#include "xlc_internal.h"
#include "xlc_params.h"

#include "common.h"
#include "llama.h"
#include "server-common.h"
#include "server-context.h"
#include "server-http.h"
#include "server-stream.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace xlc;

namespace {

using handler_t = server_http_context::handler_t;

struct route {
    const char * method;
    std::string  path;  // may hold ":name" segments
    handler_t    handler;
};

// Same contract as llama-server's wrapper: a handler never throws;
// invalid_argument is the client's fault (400), anything else is ours (500).
// One addition: a JSON error (a body that does not parse, a field of the wrong
// type) is the client's too, where llama-server answers 500.
handler_t guarded(handler_t fn) {
    return [fn = std::move(fn)](const server_http_req & req) -> server_http_res_ptr {
        std::string message;
        error_type type = ERROR_TYPE_SERVER;
        try {
            if (!fn) throw std::runtime_error("this endpoint is not available");
            return fn(req);
        } catch (const std::invalid_argument & e) {
            type = ERROR_TYPE_INVALID_REQUEST;
            message = e.what();
        } catch (const common_json_error & e) {
            type = ERROR_TYPE_INVALID_REQUEST;
            message = std::string("invalid JSON in request: ") + e.what();
        } catch (const std::exception & e) {
            message = e.what();
        } catch (...) {
            message = "unknown error";
        }
        auto res = std::make_unique<server_http_res>();
        json err = format_error_response(message, type);
        res->status = json_value(err, "code", 500);
        res->data = safe_json_to_str({{"error", err}});
        return res;
    };
}

// llama-server reads response_format on chat only; completions take it too, as
// the json_schema it stands for (OpenAI-style clients send it on both).
handler_t with_response_format(handler_t fn) {
    return [fn = std::move(fn)](const server_http_req & req) -> server_http_res_ptr {
        if (req.body.find("response_format") == std::string::npos) return fn(req);
        ojson body = ojson::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("response_format") || body.contains("json_schema")) return fn(req);
        const ojson & rf = body["response_format"];
        const std::string type = rf.is_object() ? rf.value("type", "") : "";
        ojson schema;
        if (type == "json_object") {
            schema = rf.contains("schema") ? rf["schema"] : ojson{{"type", "object"}};
        } else if (type == "json_schema" && rf.contains("json_schema") && rf["json_schema"].is_object()) {
            schema = rf["json_schema"].value("schema", ojson{{"type", "object"}});
        } else if (type == "text") {
            return fn(req);
        } else {
            throw std::invalid_argument("response_format type must be \"text\", \"json_object\" or \"json_schema\"");
        }
        body["json_schema"] = schema;
        body.erase("response_format");
        const server_http_req rewritten{req.params, req.headers, req.path, req.query_string, body.dump(), {}, req.should_stop};
        return fn(rewritten);
    };
}

server_http_res_ptr json_error(int status, const std::string & message, const std::string & type) {
    auto res = std::make_unique<server_http_res>();
    res->status = status;
    res->data = safe_json_to_str({{"error", {{"code", status}, {"message", message}, {"type", type}}}});
    return res;
}

std::vector<std::string> split_path(const std::string & path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        if (j > i) out.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::string url_decode(const std::string & s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit((unsigned char) s[i + 1]) && std::isxdigit((unsigned char) s[i + 2])) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// Splits SSE text into the data payloads of complete events; keeps the rest.
struct sse_splitter {
    std::string pending;

    template <class F> bool feed(const std::string & chunk, F && emit) {
        pending += chunk;
        size_t start = 0;
        while (true) {
            size_t end = pending.find("\n\n", start);
            if (end == std::string::npos) break;
            std::string data;
            size_t line_start = start;
            while (line_start < end) {
                size_t line_end = pending.find('\n', line_start);
                if (line_end == std::string::npos || line_end > end) line_end = end;
                const std::string line = pending.substr(line_start, line_end - line_start);
                if (line.rfind("data:", 0) == 0) {
                    size_t off = 5;
                    if (off < line.size() && line[off] == ' ') ++off;
                    if (!data.empty()) data += '\n';
                    data += line.substr(off);
                }
                line_start = line_end + 1;
            }
            start = end + 2;
            if (!data.empty() && data != "[DONE]" && !emit(data)) {
                pending.erase(0, start);
                return false;
            }
        }
        pending.erase(0, start);
        return true;
    }
};

} // namespace

struct xlc_server {
    common_params                   params;
    std::unique_ptr<server_context> ctx_server;
    std::unique_ptr<server_routes>  routes;
    server_http_context             ctx_http;
    bool                            http_enabled = false;
    std::vector<route>              table;
    std::string                     address;

    std::thread                     loop;
    std::atomic<bool>               closing{false};
    std::mutex                      mutex;
    std::condition_variable         cv;
    bool                            loop_done = false;
    int                             in_flight = 0;
    bool                            closed = false;

    void build_table();
    const route * match(const std::string & method, const std::string & path,
                        std::map<std::string, std::string> & params) const;
    void close();
};

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
        {"POST", "/completion",                      with_response_format(r.post_completions)},
        {"POST", "/completions",                     with_response_format(r.post_completions)},
        {"POST", "/v1/completions",                  with_response_format(r.post_completions_oai)},
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
        {"GET",  "/v1/stream",                       server_stream_make_get_handler()},
        {"POST", "/v1/streams/lookup",               server_stream_make_lookup_handler()},
        {"DELETE", "/v1/stream",                     server_stream_make_delete_handler()},
        {"GET",  "/tools",                           res_403},
        {"POST", "/tools",                           res_403},
        {"GET",  "/cors-proxy",                      res_403},
        {"POST", "/cors-proxy",                      res_403},
    };
    for (auto & rt : table) {
        rt.handler = guarded(rt.handler);
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
                captured[pattern[i].substr(1)] = url_decode(parts[i]);
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

void xlc_server::close() {
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (closed) return;
        closed = true;
    }
    closing.store(true);
    if (http_enabled) {
        ctx_http.stop();
    }
    if (loop.joinable()) {
        // terminate() before start_loop() has set its running flag would be lost; repeat until the loop is out
        std::unique_lock<std::mutex> lock(mutex);
        while (!loop_done) {
            lock.unlock();
            ctx_server->terminate();
            lock.lock();
            cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return loop_done; });
        }
        lock.unlock();
        loop.join();
    }
    if (http_enabled) {
        ctx_http.join();
    }
    {
        // in-process calls notice `closing` through their should_stop and return
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return in_flight == 0; });
    }
    routes.reset();
    ctx_server.reset();  // frees the model and its contexts
}

namespace {

// What llama_server() does to the parameters before it starts.
void prepare_params(common_params & p) {
    if (p.embedding && p.n_batch > p.n_ubatch) {
        p.n_batch = p.n_ubatch;  // embeddings need the whole input in one ubatch
    }
    if (p.n_parallel < 0) {
        p.n_parallel = 4;
        p.kv_unified = true;
    }
    if (p.kv_unified_per_slot > 0 && p.n_ctx == 0) {
        p.n_ctx = p.n_parallel * p.kv_unified_per_slot;
    }
    if (p.cpuparams.n_threads < 0) {
        p.cpuparams.n_threads = common_cpu_get_num_math();
    }
    if (p.cpuparams_batch.n_threads < 0) {
        p.cpuparams_batch.n_threads = p.cpuparams.n_threads;
    }
    auto & d = p.speculative.draft;
    if (d.cpuparams.n_threads < 0) d.cpuparams.n_threads = p.cpuparams.n_threads;
    if (d.cpuparams_batch.n_threads < 0) d.cpuparams_batch.n_threads = p.cpuparams_batch.n_threads;
    // the end markers llama.cpp's parser adds: an empty key after the metadata overrides,
    // null entries after the buffer-type overrides (padded to the maximum, which the
    // memory fitting writes into)
    if (!p.kv_overrides.empty() && p.kv_overrides.back().key[0] != 0) {
        p.kv_overrides.emplace_back();
        p.kv_overrides.back().key[0] = 0;
    }
    while (p.tensor_buft_overrides.size() < llama_max_tensor_buft_overrides()) {
        p.tensor_buft_overrides.push_back({nullptr, nullptr});
    }
    if (!p.speculative.draft.tensor_buft_overrides.empty() && p.speculative.draft.tensor_buft_overrides.back().pattern) {
        p.speculative.draft.tensor_buft_overrides.push_back({nullptr, nullptr});
    }
    // directories, as their flag handlers leave them: with a trailing separator
    for (std::string * dir : {&p.slot_save_path, &p.media_path}) {
        if (!dir->empty() && dir->back() != '/') *dir += '/';
    }
    const auto name = p.model.get_name();
    if (p.model_alias.empty() && !name.empty()) {
        p.model_alias.insert(name);
    }
}

void check_model_file(const std::string & what, const std::string & path) {
    if (path.empty()) return;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        throw error(XLC_ERR_MODEL_LOAD, what + " '" + path + "' cannot be opened: no such file or not readable");
    }
    char magic[4] = {0};
    f.read(magic, 4);
    if (f.gcount() < 4 || std::string(magic, 4) != "GGUF") {
        throw error(XLC_ERR_MODEL_LOAD, what + " '" + path + "' is not a GGUF file (bad magic)");
    }
}

} // namespace

extern "C" {

xlc_status xlc_server_create(const char * params_json, xlc_server ** out) {
    std::unique_ptr<xlc_server> srv;
    const xlc_status status = guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        init_once();
        srv = std::make_unique<xlc_server>();
        common_params & p = srv->params;
        p = make_params();
        params_apply(p, parse_json(params_json, "params"));
        if (p.model.path.empty()) {
            throw invalid("no model: set params.model.path");
        }
        check_model_file("model", p.model.path);
        check_model_file("multimodal projector", p.mmproj.path);
        check_model_file("draft model", p.speculative.draft.mparams.path);
        for (const auto & lora : p.lora_adapters) check_model_file("LoRA adapter", lora.path);
        prepare_params(p);

        srv->ctx_server = std::make_unique<server_context>();
        srv->routes = std::make_unique<server_routes>(p, *srv->ctx_server);
        srv->build_table();

        // a negative port: in-process only, no listener
        srv->http_enabled = p.port >= 0;
        if (srv->http_enabled) {
            if (!srv->ctx_http.init(p)) {
                throw error(XLC_ERR_IO, "failed to initialise the HTTP server");
            }
            for (const auto & rt : srv->table) {
                if (std::string(rt.method) == "GET") srv->ctx_http.get(rt.path, rt.handler);
                else if (std::string(rt.method) == "POST") srv->ctx_http.post(rt.path, rt.handler);
                else srv->ctx_http.del(rt.path, rt.handler);
            }
            if (!srv->ctx_http.start()) {
                throw error(XLC_ERR_IO, "could not listen on " + (p.hostnames.empty() ? std::string("?") : p.hostnames[0]) +
                                            ":" + std::to_string(p.port));
            }
            if (!srv->ctx_http.listening_addresses.empty()) {
                srv->address = srv->ctx_http.listening_addresses.front();
            }
        }

        // The model loads on the thread that then runs the loop, as llama-server's main
        // thread does: ggml's OpenMP team is per calling thread, and two teams (load and
        // warm-up on this thread, decoding on the loop's) oversubscribe the cores, which
        // makes libgomp stop spin-waiting and costs ~15% of decode speed on two cores.
        xlc_server * raw = srv.get();
        struct load_result {
            std::mutex              mutex;
            std::condition_variable cv;
            bool                    done = false;
            bool                    loaded = false;
            std::string             why;
        };
        auto result = std::make_shared<load_result>();
        raw->loop = std::thread([raw, result] {
            log_capture_begin();
            bool loaded = false;
            std::string why;
            try {
                loaded = raw->ctx_server->load_model(raw->params);
                if (loaded) {
                    raw->routes->update_meta(*raw->ctx_server);  // get_meta() belongs to the loop's thread
                }
            } catch (const std::exception & e) {
                loaded = false;
                why = e.what();
            }
            const std::string captured = log_capture_end();
            if (why.empty()) why = captured;
            {
                std::lock_guard<std::mutex> lock(result->mutex);
                result->done = true;
                result->loaded = loaded;
                result->why = why;
            }
            result->cv.notify_all();
            if (loaded) {
                raw->ctx_server->start_loop();
            }
            std::lock_guard<std::mutex> lock(raw->mutex);
            raw->loop_done = true;
            raw->cv.notify_all();
        });
        {
            std::unique_lock<std::mutex> lock(result->mutex);
            result->cv.wait(lock, [&] { return result->done; });
        }
        if (!result->loaded) {
            raw->loop.join();
            throw error(XLC_ERR_MODEL_LOAD, "failed to load model '" + p.model.path + "'" +
                                                (result->why.empty() ? "" : ": " + result->why));
        }
        srv->ctx_http.is_ready.store(true);
        *out = srv.release();
    });
    if (status != XLC_OK && srv) {
        const std::string message = xlc_last_error();
        srv->close();
        srv.reset();
        set_error(message);
    }
    return status;
}

char * xlc_server_address(xlc_server * server) {
    return dup(server ? server->address : "");
}

xlc_status xlc_server_handle(xlc_server * server, const char * method, const char * path,
                             const char * body, size_t body_len, int flags,
                             xlc_stream_callback callback, void * user_data,
                             int * out_status, char ** out_body, char ** out_content_type) {
    if (out_body) *out_body = nullptr;
    if (out_content_type) *out_content_type = nullptr;
    if (out_status) *out_status = 0;
    if (!server) {
        set_error("server is NULL");
        return XLC_ERR_INVALID_ARGUMENT;
    }
    {
        std::lock_guard<std::mutex> lock(server->mutex);
        if (server->closed) {
            set_error("the server is closed");
            return XLC_ERR_CLOSED;
        }
        ++server->in_flight;
    }
    bool callback_failed = false;
    bool cut_by_close = false;
    const xlc_status status = guard([&] {
        if (!method || !path) throw invalid("method and path are required");
        std::string full = path;
        std::string query;
        const size_t q = full.find('?');
        if (q != std::string::npos) {
            query = full.substr(q + 1);
            full = full.substr(0, q);
        }
        std::map<std::string, std::string> params;
        size_t start = 0;
        while (start < query.size()) {
            size_t end = query.find('&', start);
            if (end == std::string::npos) end = query.size();
            const std::string item = query.substr(start, end - start);
            const size_t eq = item.find('=');
            if (!item.empty()) {
                params[url_decode(item.substr(0, eq))] = eq == std::string::npos ? "" : url_decode(item.substr(eq + 1));
            }
            start = end + 1;
        }

        std::string method_s = method;
        const route * rt = server->match(method_s, full, params);
        server_http_res_ptr res;
        std::atomic<bool> stop{false};
        const std::atomic<bool> * cancel = t_cancel_flag;  // set by xlc_request_start's thread
        const std::function<bool()> should_stop = [&] {
            return stop.load() || server->closing.load() || (cancel && cancel->load());
        };
        server_http_req req{params, {}, full, query, body ? std::string(body, body_len) : std::string(), {}, should_stop};
        if (!rt) {
            res = json_error(404, "File Not Found", "not_found_error");
        } else {
            res = rt->handler(req);
        }

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
            while (true) {
                std::string chunk;
                const bool more = res->next(chunk);
                bool go_on = true;
                if (!chunk.empty()) {
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
        cut_by_close = server->closing.load() && !stop.load();
        if (out_status) *out_status = res->status;
        if (out_content_type) *out_content_type = dup(res->content_type);
        res->on_complete();
        res.reset();  // cancels the tasks of a stream stopped early, freeing its slot
        if (cut_by_close) {
            throw error(XLC_ERR_CLOSED, "the server was closed while the request was running");
        }
        if (callback_failed) {
            throw error(XLC_ERR_CALLBACK, "the stream callback failed; the generation was stopped");
        }
        if (out_body) *out_body = dup(collected);
    });
    if (status != XLC_OK && out_content_type && *out_content_type) {
        std::free(*out_content_type);
        *out_content_type = nullptr;
    }
    {
        std::lock_guard<std::mutex> lock(server->mutex);
        --server->in_flight;
        server->cv.notify_all();
    }
    return status;
}

void xlc_server_close(xlc_server * server) {
    if (server) {
        try {
            server->close();
        } catch (...) {
        }
    }
}

void xlc_server_free(xlc_server * server) {
    if (server) {
        xlc_server_close(server);
        delete server;
    }
}

} // extern "C"
