// llama-server in-process: the server's lifecycle. xlc_server_create follows
// tools/server/server.cpp in single-model mode (prepare the parameters, open the
// listener, load the model, run the loop on its own thread); close() ends every
// request in flight, HTTP or in-process, before it stops the loop and frees the model.
#include "xlc_llama_adapter.h"
#include "xlc_http_keep_alive.h"
#include "xlc_params.h"
#include "xlc_server.h"
#include "xlc_speculative.h"

#include "llama.h"
#include "server-stream.h"

#include <chrono>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <fstream>

using namespace xlc;

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
    if (llama::kv_unified_per_slot(p) > 0 && p.n_ctx == 0) {
        p.n_ctx = p.n_parallel * llama::kv_unified_per_slot(p);
    }
    if (p.cpuparams.n_threads < 0) {
        p.cpuparams.n_threads = common_cpu_get_num_math();
    }
    if (p.cpuparams_batch.n_threads < 0) {
        p.cpuparams_batch.n_threads = p.cpuparams.n_threads;
    }
    resolve_speculative_types(p);  // a draft model path alone turns drafting on (xlc_speculative.cpp)
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
    // HTTP workers: cpp-httplib's pool adds a thread for a new connection only when it
    // sees no idle one, and it counts a woken thread as idle until it runs; a burst of
    // connections that send nothing (or half a request) then queues later requests
    // behind them until their read times out. Enough fixed workers absorb such bursts.
    if (p.n_threads_http < 1) {
        p.n_threads_http = std::max(p.n_parallel + 4, k_min_http_workers);
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

// Loads the model on the thread that then runs the loop, as llama-server's main thread
// does: ggml's OpenMP team is per calling thread, and two teams (load and warm-up on the
// caller's thread, decoding on the loop's) oversubscribe the cores, which makes libgomp
// stop spin-waiting and costs ~15% of decode speed on two cores.
void start_loop(xlc_server * srv) {
    struct load_result {
        std::mutex              mutex;
        std::condition_variable cv;
        bool                    done = false;
        bool                    loaded = false;
        std::string             why;
    };
    auto result = std::make_shared<load_result>();
    srv->loop = std::thread([srv, result] {
        log_capture_begin();
        bool loaded = false;
        std::string why;
        try {
            loaded = srv->ctx_server->load_model(srv->params);
            if (loaded) {
                // get_meta() belongs to the loop's thread
                srv->routes->update_meta(*srv->ctx_server);
                const server_context_meta meta = srv->ctx_server->get_meta();
                srv->facts.n_vocab = meta.model_vocab_n_tokens;
                srv->facts.has_image = meta.has_inp_image;
                srv->facts.has_audio = meta.has_inp_audio;
                srv->facts.has_video = meta.has_inp_video;
                srv->facts.n_lora = srv->params.lora_adapters.size();
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
            try {
                srv->ctx_server->start_loop();
            } catch (...) {
                // the loop ended on an error: requests still in flight end when close() runs
            }
        }
        std::lock_guard<std::mutex> lock(srv->mutex);
        srv->loop_done = true;
        srv->cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(result->mutex);
    result->cv.wait(lock, [&] { return result->done; });
    if (!result->loaded) {
        lock.unlock();
        srv->loop.join();
        throw error(XLC_ERR_MODEL_LOAD, "failed to load model '" + srv->params.model.path + "'" +
                                            (result->why.empty() ? "" : ": " + result->why));
    }
}

// The idle keep-alive timeout: $XLLAMACPP_KEEP_ALIVE_TIMEOUT seconds, else k_keep_alive_s.
time_t keep_alive_timeout() {
    const char * text = std::getenv("XLLAMACPP_KEEP_ALIVE_TIMEOUT");
    if (!text || !*text) return k_keep_alive_s;
    char * end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > 3600) {
        throw invalid(std::string("XLLAMACPP_KEEP_ALIVE_TIMEOUT must be a whole number of seconds from 1 to 3600, not '") +
                      text + "'");
    }
    return value;
}

void start_http(xlc_server * srv) {
    const common_params & p = srv->params;
    // read by the listener's constructor, inside init() (xlc_http_keep_alive.h)
    xlc_httplib::keep_alive_timeout_s = keep_alive_timeout();
    const bool ok = srv->ctx_http.init(p);
    xlc_httplib::keep_alive_timeout_s = 5;
    if (!ok) {
        throw error(XLC_ERR_IO, "failed to initialise the HTTP server");
    }
    for (const auto & rt : srv->table) {
        const std::string method = rt.method;
        if (method == "GET") srv->ctx_http.get(rt.path, rt.handler);
        else if (method == "POST") srv->ctx_http.post(rt.path, rt.handler);
        else srv->ctx_http.del(rt.path, rt.handler);
    }
    if (!srv->ctx_http.start()) {
        throw error(XLC_ERR_IO, "could not listen on " + (llama::host(p).empty() ? std::string("?") : llama::host(p)) +
                                    ":" + std::to_string(p.port));
    }
    srv->http_port = srv->ctx_http.port;
    srv->address = llama::http_address(srv->ctx_http);
}

// Cancels the resumable streams (X-Conversation-Id) still running: llama-server keeps
// them generating after their client goes, and only their own stop request ends them.
void cancel_conversations(xlc_server * srv) {
    std::vector<std::string> ids;
    {
        std::lock_guard<std::mutex> lock(srv->mutex);
        ids.assign(srv->conversations.begin(), srv->conversations.end());
    }
    if (ids.empty()) return;
    const handler_t cancel = server_stream_make_delete_handler();
    const std::function<bool()> never = [] { return false; };
    for (const auto & id : ids) {
        server_http_req req{{{"conv_id", id}}, {}, "/v1/stream", "", "", {}, never};
        cancel(req);
    }
}

} // namespace

void xlc_server::close() {
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (closed) return;
        closed = true;
    }
    // from here every wrapped request sees should_stop() and every new one is refused
    closing.store(true);
    cancel_conversations(this);

    if (http_enabled) {
        ctx_http.stop();
        // join() waits for the workers; shut their connections (again and again, for one
        // accepted while the listener stopped) so that none waits for a slow client
        std::atomic<bool> joined{false};
        std::thread reaper([this, &joined] {
            while (!joined.load()) {
                shutdown_connections(http_port);
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        });
        llama::http_join(ctx_http);
        joined.store(true);
        reaper.join();
    }
    {
        // in-process calls notice `closing` within llama.cpp's one-second poll; those on
        // this thread are the caller's own (close() from a stream callback): not waited for
        std::unique_lock<std::mutex> lock(mutex);
        const int mine = calls_on_this_thread(this);
        cv.wait(lock, [&] { return in_flight <= mine; });
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
    {
        std::lock_guard<std::mutex> lock(mutex);
        shutdown_done = true;
    }
    release();
}

void xlc_server::release() {
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!shutdown_done || in_flight > 0 || released) return;
        released = true;
    }
    routes.reset();
    ctx_server.reset();  // frees the model and its contexts
#if defined(__GLIBC__)
    // The model's buffers were allocated on the loop's thread, in its own malloc arena, which glibc
    // keeps after they are freed: without a trim, each create/close cycle that lands in another arena
    // holds tens of MB more of the host process's memory (make stress: +110 MB over 30 cycles).
    malloc_trim(0);
#endif
}

extern "C" {

xlc_status xlc_server_create(const char * params_json, xlc_server ** out) {
    if (out) *out = nullptr;
    std::unique_ptr<xlc_server> srv;
    const xlc_status status = guard([&] {
        if (!out) throw invalid("out is NULL");
        init_once();
        srv = std::make_unique<xlc_server>();
        common_params & p = srv->params;
        p = make_params();
        const ojson given = parse_json(params_json, "params");
        params_apply(p, given);
        if (p.model.path.empty()) {
            // upstream xllamacpp's words: llama-server starts its router when it has no model
            throw invalid("params.model.path is required: a Server loads one model "
                          "(llama-server's router feature, which starts with none, is not part of Server)");
        }
        params_check_server(p);  // every value llama.cpp would assert on, before anything is created
        check_model_file("model", p.model.path);
        check_model_file("multimodal projector", p.mmproj.path);
        check_model_file("draft model", p.speculative.draft.mparams.path);
        for (const auto & lora : p.lora_adapters) check_model_file("LoRA adapter", lora.path);
        apply_model_defaults(p, given);  // before prepare_params: n_ctx as asked (xlc_model_defaults.cpp)
        prepare_params(p);
        default_chat_template(p);

        srv->ctx_server = std::make_unique<server_context>();
        srv->routes = std::make_unique<server_routes>(p, *srv->ctx_server);
        srv->build_table();
        srv->http_enabled = p.port >= 0;  // a negative port: in-process only, no listener
        if (srv->http_enabled) {
            start_http(srv.get());
        }
        start_loop(srv.get());
        srv->ctx_http.is_ready.store(true);
        *out = srv.release();
    });
    if (status != XLC_OK && srv) {
        const std::string message = xlc_last_error();
        try {
            srv->close();
            srv.reset();
        } catch (...) {
        }
        set_error(message);
    }
    return status;
}

xlc_status xlc_server_address(xlc_server * server, char ** out) {
    return return_text(out, [&] {
        if (!server) throw invalid("server is NULL");
        return server->address;
    });
}

xlc_status xlc_server_params(xlc_server * server, char ** out) {
    return return_text(out, [&] {
        if (!server) throw invalid("server is NULL");
        return params_to_json(server->params).dump();
    });
}

xlc_status xlc_server_close(xlc_server * server) {
    return guard([&] {
        if (!server) throw invalid("server is NULL");
        server->close();
    });
}

void xlc_server_free(xlc_server * server) {
    if (!server) return;
    try {
        server->close();
        if (calls_on_this_thread(server) > 0) {
            // from a stream callback: the call it runs in frees it when it returns
            std::lock_guard<std::mutex> lock(server->mutex);
            server->free_when_idle = true;
            return;
        }
        delete server;
    } catch (...) {
    }
}

} // extern "C"
