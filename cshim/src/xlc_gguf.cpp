// A GGUF file's metadata and tensor sizes, read with ggml's own parser
// (no tensor data is loaded): what estimate_gpu_layers plans from.
#include "xlc_internal.h"

#include "gguf.h"

#include <memory>

using namespace xlc;

static ojson scalar(const gguf_context * ctx, int64_t id, gguf_type type) {
    switch (type) {
        case GGUF_TYPE_UINT8:   return gguf_get_val_u8(ctx, id);
        case GGUF_TYPE_INT8:    return gguf_get_val_i8(ctx, id);
        case GGUF_TYPE_UINT16:  return gguf_get_val_u16(ctx, id);
        case GGUF_TYPE_INT16:   return gguf_get_val_i16(ctx, id);
        case GGUF_TYPE_UINT32:  return gguf_get_val_u32(ctx, id);
        case GGUF_TYPE_INT32:   return gguf_get_val_i32(ctx, id);
        case GGUF_TYPE_FLOAT32: return gguf_get_val_f32(ctx, id);
        case GGUF_TYPE_UINT64:  return gguf_get_val_u64(ctx, id);
        case GGUF_TYPE_INT64:   return gguf_get_val_i64(ctx, id);
        case GGUF_TYPE_FLOAT64: return gguf_get_val_f64(ctx, id);
        case GGUF_TYPE_BOOL:    return gguf_get_val_bool(ctx, id);
        case GGUF_TYPE_STRING:  return gguf_get_val_str(ctx, id);
        default:                return nullptr;
    }
}

extern "C" xlc_status xlc_gguf_info(const char * path, char ** out) {
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        if (!path) throw invalid("path is NULL");
        init_once();
        gguf_init_params params = {/* no_alloc */ true, /* ctx */ nullptr};
        std::unique_ptr<gguf_context, decltype(&gguf_free)> owner(gguf_init_from_file(path, params), gguf_free);
        gguf_context * ctx = owner.get();
        if (!ctx) throw error(XLC_ERR_NOT_FOUND, std::string("cannot read GGUF file '") + path + "'");
        ojson kv = ojson::object();
        for (int64_t i = 0; i < gguf_get_n_kv(ctx); ++i) {
            const gguf_type type = gguf_get_kv_type(ctx, i);
            if (type == GGUF_TYPE_ARRAY) {
                const gguf_type elem = gguf_get_arr_type(ctx, i);
                const size_t n = gguf_get_arr_n(ctx, i);
                if (elem == GGUF_TYPE_INT32 && n <= 1024) {  // per-layer values (head counts)
                    ojson arr = ojson::array();
                    const auto * data = static_cast<const int32_t *>(gguf_get_arr_data(ctx, i));
                    for (size_t j = 0; j < n; ++j) arr.push_back(data[j]);
                    kv[gguf_get_key(ctx, i)] = arr;
                } else {
                    kv[gguf_get_key(ctx, i)] = {{"array_length", n}};  // vocabularies: only their size
                }
            } else {
                kv[gguf_get_key(ctx, i)] = scalar(ctx, i, type);
            }
        }
        ojson tensors = ojson::object();
        for (int64_t i = 0; i < gguf_get_n_tensors(ctx); ++i) {
            tensors[gguf_get_tensor_name(ctx, i)] = gguf_get_tensor_size(ctx, i);
        }
        *out = dup_or_throw(ojson{{"kv", kv}, {"tensors", tensors}}.dump());
    });
}
