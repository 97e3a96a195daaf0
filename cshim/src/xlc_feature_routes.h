// The facade's fixes around llama-server's route handlers, by feature (xlc_feature_routes.cpp).
#pragma once

#include "common.h"
#include "server-context.h"
#include "server-http.h"

#include <string>

namespace xlc {

// Returns `handler` wrapped with the fixes that apply to `method` `path` on this
// server (LoRA scales and ids, embeddings on a reranker, inputs longer than a
// batch), or unchanged. Called once per route while the route table is built;
// `routes`, `ctx_server` and `params` must outlive the handler.
server_http_context::handler_t feature_route(const std::string & method, const std::string & path,
                                             server_http_context::handler_t handler, server_routes & routes,
                                             server_context & ctx_server, const common_params & params);

} // namespace xlc
