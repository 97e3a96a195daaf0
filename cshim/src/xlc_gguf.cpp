// A GGUF file's metadata and tensor sizes, read with ggml's own parser
// (no tensor data is loaded): what estimate_gpu_layers plans from.
#include "xlc_internal.h"

#include "ggml.h"
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

// Arrays longer than this cross as their length only (vocabularies, merges).
static const size_t MAX_ARRAY = 1024;

static size_t elem_size(gguf_type t) {
    switch (t) {
        case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
        case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
        case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
        default: return 1;
    }
}

static ojson array_value(const gguf_context * ctx, int64_t id) {
    const gguf_type elem = gguf_get_arr_type(ctx, id);
    const size_t n = gguf_get_arr_n(ctx, id);
    ojson out = {{"type", static_cast<int>(GGUF_TYPE_ARRAY)}, {"elem", static_cast<int>(elem)}, {"length", n}};
    if (n > MAX_ARRAY || elem == GGUF_TYPE_ARRAY) return out;
    ojson values = ojson::array();
    if (elem == GGUF_TYPE_STRING) {
        for (size_t j = 0; j < n; ++j) values.push_back(gguf_get_arr_str(ctx, id, j));
    } else {
        const auto * data = static_cast<const uint8_t *>(gguf_get_arr_data(ctx, id));
        for (size_t j = 0; j < n; ++j) {
            const void * p = data + j * elem_size(elem);
            switch (elem) {
                case GGUF_TYPE_UINT8:   values.push_back(*static_cast<const uint8_t *>(p)); break;
                case GGUF_TYPE_INT8:    values.push_back(*static_cast<const int8_t *>(p)); break;
                case GGUF_TYPE_UINT16:  values.push_back(*static_cast<const uint16_t *>(p)); break;
                case GGUF_TYPE_INT16:   values.push_back(*static_cast<const int16_t *>(p)); break;
                case GGUF_TYPE_UINT32:  values.push_back(*static_cast<const uint32_t *>(p)); break;
                case GGUF_TYPE_INT32:   values.push_back(*static_cast<const int32_t *>(p)); break;
                case GGUF_TYPE_FLOAT32: values.push_back(*static_cast<const float *>(p)); break;
                case GGUF_TYPE_UINT64:  values.push_back(*static_cast<const uint64_t *>(p)); break;
                case GGUF_TYPE_INT64:   values.push_back(*static_cast<const int64_t *>(p)); break;
                case GGUF_TYPE_FLOAT64: values.push_back(*static_cast<const double *>(p)); break;
                case GGUF_TYPE_BOOL:    values.push_back(*static_cast<const int8_t *>(p) != 0); break;
                default:                values.push_back(nullptr); break;
            }
        }
    }
    out["value"] = values;
    return out;
}

extern "C" xlc_status xlc_gguf_info(const char * path, char ** out) {
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        if (!path) throw invalid("path is NULL");
        init_once();
        ggml_context * meta = nullptr;  // tensor shapes, without their data
        gguf_init_params params = {/* no_alloc */ true, /* ctx */ &meta};
        std::unique_ptr<gguf_context, decltype(&gguf_free)> owner(gguf_init_from_file(path, params), gguf_free);
        std::unique_ptr<ggml_context, decltype(&ggml_free)> meta_owner(meta, ggml_free);
        gguf_context * ctx = owner.get();
        if (!ctx) throw error(XLC_ERR_NOT_FOUND, std::string("cannot read GGUF file '") + path + "'");
        ojson kv = ojson::object();
        for (int64_t i = 0; i < gguf_get_n_kv(ctx); ++i) {
            const gguf_type type = gguf_get_kv_type(ctx, i);
            kv[gguf_get_key(ctx, i)] = type == GGUF_TYPE_ARRAY
                                           ? array_value(ctx, i)
                                           : ojson{{"type", static_cast<int>(type)}, {"value", scalar(ctx, i, type)}};
        }
        ojson tensors = ojson::object();
        const size_t data_offset = gguf_get_data_offset(ctx);
        for (int64_t i = 0; i < gguf_get_n_tensors(ctx); ++i) {
            const char * name = gguf_get_tensor_name(ctx, i);
            ojson shape = ojson::array();
            if (const ggml_tensor * t = meta ? ggml_get_tensor(meta, name) : nullptr) {
                for (int d = 0; d < ggml_n_dims(t); ++d) shape.push_back(t->ne[d]);
            }
            tensors[name] = {
                {"n_bytes", gguf_get_tensor_size(ctx, i)},
                {"shape", shape},
                {"type", ggml_type_name(gguf_get_tensor_type(ctx, i))},
                {"offset", data_offset + gguf_get_tensor_offset(ctx, i)},
            };
        }
        *out = dup_or_throw(ojson{{"kv", kv}, {"tensors", tensors}}.dump());
    });
}
