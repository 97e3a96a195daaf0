// Defaults that depend on the model, chosen before it loads from its GGUF metadata.
// Each is a value a llama-server user could pass as a flag; docs/benchmarks.md
// ("Per request") says why, and what it costs.
#include "xlc_params.h"

#include "common.h"
#include "gguf.h"

#include <algorithm>
#include <memory>

namespace xlc {

namespace {

int64_t metadata_int(const gguf_context * ctx, const std::string & key) {
    const int64_t id = gguf_find_key(ctx, key.c_str());
    if (id < 0) return 0;
    switch (gguf_get_kv_type(ctx, id)) {
        case GGUF_TYPE_UINT32: return gguf_get_val_u32(ctx, id);
        case GGUF_TYPE_INT32:  return gguf_get_val_i32(ctx, id);
        case GGUF_TYPE_UINT64: return (int64_t) gguf_get_val_u64(ctx, id);
        case GGUF_TYPE_INT64:  return gguf_get_val_i64(ctx, id);
        default:               return 0;
    }
}

}  // namespace

void apply_model_defaults(common_params & p, const ojson & given) {
    // swa_full: with the small SWA cache, llama-server restores a context checkpoint
    // taken 4 tokens before the end of the previous prompt whenever the cache's oldest
    // position is 0 (any prompt shorter than the window), so a repeated or extended
    // prompt re-processes that tail. With the full-size cache the common prefix is kept.
    // The full cache costs memory: its SWA layers hold n_ctx tokens instead of
    // n_swa + n_ubatch (llama_kv_cache_iswa), so it is the default only where that at
    // most doubles them, and only when swa_full was not given.
    if (given.contains("swa_full") || p.model.path.empty()) return;
    gguf_init_params params = {/* no_alloc = */ true, /* ctx = */ nullptr};
    std::unique_ptr<gguf_context, decltype(&gguf_free)> ctx(gguf_init_from_file(p.model.path.c_str(), params), gguf_free);
    if (!ctx) return;  // the loader reports an unreadable file itself
    const int64_t arch_id = gguf_find_key(ctx.get(), "general.architecture");
    if (arch_id < 0 || gguf_get_kv_type(ctx.get(), arch_id) != GGUF_TYPE_STRING) return;
    const std::string arch = gguf_get_val_str(ctx.get(), arch_id);
    const int64_t n_swa = metadata_int(ctx.get(), arch + ".attention.sliding_window");
    const int64_t n_ctx = p.n_ctx > 0 ? p.n_ctx : metadata_int(ctx.get(), arch + ".context_length");
    if (n_swa <= 0 || n_ctx <= 0) return;
    // per KV stream, as llama.cpp sizes them (n_parallel < 0: prepare_params' 4 slots, unified)
    const bool unified = p.kv_unified || p.n_parallel < 0;
    const int64_t n_seq = p.n_parallel < 0 ? 4 : std::max(1, p.n_parallel);
    const int64_t full = unified ? n_ctx : n_ctx / n_seq;
    const int64_t small = n_swa * (unified ? n_seq : 1) + p.n_ubatch;
    if (full <= 2 * small) {
        p.swa_full = true;
    }
}

}  // namespace xlc
