// Fixes the facade puts around llama-server's route handlers where the model
// kit's feature tests found llama-server misbehaving: LoRA scales and ids,
// embeddings on a reranker, client errors answered as server errors. The
// vendored tree is not patched; each fix wraps one handler.
#include "xlc_feature_routes.h"
#include "xlc_llama_adapter.h"

#include "llama.h"
#include "server-common.h"

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace xlc {

namespace {

using handler_t = server_http_context::handler_t;

server_http_res_ptr json_error(const std::string & message, error_type type) {
    auto res = std::make_unique<server_http_res>();
    json err = format_error_response(message, type);
    res->status = json_value(err, "code", 500);
    res->data = safe_json_to_str({{"error", err}});
    return res;
}

// A request without "lora" runs with the server's current scales, but
// llama-server then keeps the slot's cached prompt even when those scales have
// changed since it was computed (POST /lora-adapters, or an earlier request's
// own "lora"), so the answer mixes two adapters' states. Naming the current
// scales explicitly takes llama-server's other path, which compares them with
// the slot's and drops the stale cache.
handler_t with_lora_scales(handler_t fn, server_routes & routes, size_t n_adapters) {
    return [fn = std::move(fn), &routes, n_adapters](const server_http_req & req) -> server_http_res_ptr {
        if (n_adapters == 0) {
            return fn(req);  // nothing to name; validate_request refused any "lora" ids
        }
        json body = llama::parse_or_discarded(req.body);
        if (!body.is_object()) {
            return fn(req);  // the handler reports the bad body
        }
        if (body.contains("lora")) {  // the request names its own scales (validate_request checked the ids)
            return fn(req);
        }
        const std::function<bool()> never = [] { return false; };
        const server_http_req get{{}, {}, "/lora-adapters", "", "", {}, never};
        auto current = routes.get_lora_adapters(get);
        json adapters = llama::parse_or_discarded(current ? current->data : std::string());
        if (!current || current->status != 200 || !adapters.is_array()) {
            return fn(req);
        }
        json scales = json::array();
        for (const auto & a : adapters) {
            scales.push_back({{"id", a.at("id")}, {"scale", a.at("scale")}});
        }
        body["lora"] = std::move(scales);
        const server_http_req rewritten{req.params, req.headers, req.path, req.query_string, body.dump(), {}, req.should_stop};
        return fn(rewritten);
    };
}

// With pooling RANK a sequence's "embedding" is its score (n_cls_out floats),
// but llama-server copies n_embd floats from it: a read past the end of the
// buffer, returned as if it were an embedding.
handler_t refuse_on_reranker(handler_t fn, server_context & ctx_server, const common_params & params) {
    return [fn = std::move(fn), &ctx_server, &params](const server_http_req & req) -> server_http_res_ptr {
        if (params.embedding) {
            // set once at load, before requests are served (and never null without sleep mode)
            const llama_context * ctx = ctx_server.get_llama_context();
            if (ctx && llama_pooling_type(ctx) == LLAMA_POOLING_TYPE_RANK) {
                return json_error("This server is a reranker (pooling rank): it scores documents on /v1/rerank "
                                  "and has no embeddings. Start it with another pooling type for embeddings",
                                  ERROR_TYPE_NOT_SUPPORTED);
            }
        }
        return fn(req);
    };
}

// Errors llama-server raises as server errors (500) that are the client's to
// fix: an input longer than the physical batch, an image sent to a model
// without a projector. Recognised by llama-server's own message.
handler_t client_errors_are_400(handler_t fn, std::vector<std::string> markers) {
    return [fn = std::move(fn), markers = std::move(markers)](const server_http_req & req) -> server_http_res_ptr {
        server_http_res_ptr res;
        try {
            res = fn(req);
        } catch (const std::runtime_error & e) {  // thrown while the request is parsed
            const std::string what = e.what();
            for (const auto & marker : markers) {
                if (what.find(marker) != std::string::npos) {
                    return json_error(what, ERROR_TYPE_INVALID_REQUEST);
                }
            }
            throw;
        }
        if (!res || res->is_stream() || res->status != 500) {
            return res;
        }
        for (const auto & marker : markers) {
            if (res->data.find(marker) == std::string::npos) {
                continue;
            }
            json body = llama::parse_or_discarded(res->data);
            if (body.is_object() && body.contains("error") && body.at("error").is_object()) {
                return json_error(json_value(body.at("error"), "message", std::string()), ERROR_TYPE_INVALID_REQUEST);
            }
        }
        return res;
    };
}

bool is_one_of(const std::string & path, const std::set<std::string> & paths) {
    return paths.count(path) != 0;
}

} // namespace

server_http_context::handler_t feature_route(const std::string & method, const std::string & path,
                                             server_http_context::handler_t handler, server_routes & routes,
                                             server_context & ctx_server, const common_params & params) {
    if (!handler || method != "POST") {
        return handler;
    }
    static const std::set<std::string> generating = {
        "/completion", "/completions", "/v1/completions", "/chat/completions", "/v1/chat/completions",
        "/v1/responses", "/responses", "/v1/messages", "/infill"};
    static const std::set<std::string> embeddings = {"/embedding", "/embeddings", "/v1/embeddings"};
    static const std::set<std::string> reranking = {"/rerank", "/reranking", "/v1/rerank", "/v1/reranking"};

    const size_t n_adapters = params.lora_adapters.size();
    if (is_one_of(path, generating)) {
        handler = with_lora_scales(std::move(handler), routes, n_adapters);
    }
    if (is_one_of(path, embeddings)) {
        handler = refuse_on_reranker(std::move(handler), ctx_server, params);
    }
    if (is_one_of(path, embeddings) || is_one_of(path, reranking)) {
        handler = client_errors_are_400(std::move(handler), {"is too large to process"});
    }
    if (is_one_of(path, generating)) {
        handler = client_errors_are_400(std::move(handler), {"input is not supported - hint"});
    }
    return handler;
}

} // namespace xlc
