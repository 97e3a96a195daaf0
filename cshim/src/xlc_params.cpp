// common_params <-> JSON, driven by the table in xlc_params_table.inc.
//
// Each C++ member type has a codec that reads it to JSON, writes it from JSON
// (checking type and range) and names its type for the Python side. The table
// is generated from the vendored common/common.h at build time (cshim/gen_params.py)
// and only lists members; types are deduced, so a new llama.cpp field needs no edit.
#include "xlc_params.h"
#include "xlc_rpc.h"

#include "arg.h"
#include "common.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml-opt.h"
#include "ggml.h"
#include "llama.h"
#include "sampling.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

namespace xlc {

// --- enums ---------------------------------------------------------------------

// Every enum and integer constant of the vendored headers, generated at build time
// (cshim/gen_enums.py): names from the headers, values from the compiler.
template <class E> struct enum_info;  // name() and members() per enum type

#define XLC_ENUM(T)                                                        \
    template <> struct enum_info<enum T> {                                    \
        static const char * name() { return #T; }                          \
        static const std::vector<std::pair<const char *, long long>> & members() { \
            static const std::vector<std::pair<const char *, long long>> m = {
#define XLC_VALUE(V) {#V, static_cast<long long>(V)},
#define XLC_END() }; return m; } };
#define XLC_CONST(C)
#include "xlc_enums.inc"
#undef XLC_ENUM
#undef XLC_VALUE
#undef XLC_END
#undef XLC_CONST

// A *_COUNT member counts the others; it names no value a field can hold.
static bool is_count(const char * member) {
    const size_t n = std::strlen(member);
    return n >= 6 && std::strcmp(member + n - 6, "_COUNT") == 0;
}

ojson enums_json() {
    ojson out = ojson::object();
    auto add = [&](const char * name, const std::vector<std::pair<const char *, long long>> & members) {
        ojson e = ojson::object();
        for (const auto & [k, v] : members) e[k] = v;
        out[name] = e;
    };
#define XLC_ENUM(T) add(enum_info<enum T>::name(), enum_info<enum T>::members());
#define XLC_VALUE(V)
#define XLC_END()
#define XLC_CONST(C)
#include "xlc_enums.inc"
#undef XLC_ENUM
#undef XLC_VALUE
#undef XLC_END
#undef XLC_CONST
    return out;
}

ojson constants_json() {
    ojson out = ojson::object();
#define XLC_ENUM(T)
#define XLC_VALUE(V)
#define XLC_END()
#define XLC_CONST(C) out[#C] = static_cast<long long>(C);
#include "xlc_enums.inc"
#undef XLC_ENUM
#undef XLC_VALUE
#undef XLC_END
#undef XLC_CONST
    return out;
}

// --- codecs ------------------------------------------------------------------

static std::string kind_of(const ojson & v) {
    return std::string(v.type_name());
}

[[noreturn]] static void type_error(const std::string & want, const ojson & v) {
    throw invalid("expected " + want + ", got " + kind_of(v) + " " + v.dump());
}

template <class T, class = void> struct codec;

template <> struct codec<bool> {
    static std::string type() { return "bool"; }
    static ojson get(const bool & v) { return v; }
    static void set(bool & dst, const ojson & v) {
        if (!v.is_boolean()) type_error("a bool", v);
        dst = v.get<bool>();
    }
};

template <class T> struct codec<T, std::enable_if_t<std::is_integral<T>::value && !std::is_same<T, bool>::value>> {
    static std::string type() { return "int"; }
    static ojson get(const T & v) { return v; }
    static void set(T & dst, const ojson & v) {
        if (!v.is_number_integer()) type_error("an int", v);
        if (v.is_number_unsigned()) {
            const auto u = v.get<unsigned long long>();
            if (u > static_cast<unsigned long long>(std::numeric_limits<T>::max())) {
                throw invalid("value " + v.dump() + " out of range for this field");
            }
            dst = static_cast<T>(u);
            return;
        }
        const auto i = v.get<long long>();
        if (i < static_cast<long long>(std::numeric_limits<T>::min()) ||
            (i > 0 && static_cast<unsigned long long>(i) > static_cast<unsigned long long>(std::numeric_limits<T>::max()))) {
            throw invalid("value " + v.dump() + " out of range for this field");
        }
        dst = static_cast<T>(i);
    }
};

template <class T> struct codec<T, std::enable_if_t<std::is_floating_point<T>::value>> {
    static std::string type() { return "float"; }
    static ojson get(const T & v) { return std::isfinite(v) ? ojson(v) : ojson(nullptr); }
    static void set(T & dst, const ojson & v) {
        if (!v.is_number()) type_error("a float", v);
        dst = v.get<T>();
    }
};

template <> struct codec<std::string> {
    static std::string type() { return "str"; }
    static ojson get(const std::string & v) { return v; }
    static void set(std::string & dst, const ojson & v) {
        if (!v.is_string()) type_error("a str", v);
        dst = v.get<std::string>();
    }
};

template <class E> struct codec<E, std::enable_if_t<std::is_enum<E>::value>> {
    static std::string type() { return std::string("enum:") + enum_info<E>::name(); }
    static ojson get(const E & v) { return static_cast<long long>(v); }
    static void set(E & dst, const ojson & v) {
        const auto & members = enum_info<E>::members();
        if (v.is_string()) {
            for (const auto & [k, val] : members) {
                if (!is_count(k) && v.get<std::string>() == k) {
                    dst = static_cast<E>(val);
                    return;
                }
            }
            throw invalid("'" + v.get<std::string>() + "' is not a member of " + enum_info<E>::name());
        }
        if (!v.is_number_integer()) type_error(std::string("a ") + enum_info<E>::name() + " member", v);
        const long long i = v.get<long long>();
        for (const auto & [k, val] : members) {
            if (!is_count(k) && val == i) {
                dst = static_cast<E>(i);
                return;
            }
        }
        throw invalid(std::to_string(i) + " is not a value of " + enum_info<E>::name());
    }
};

template <class T> struct codec<std::vector<T>> {
    static std::string type() { return "list[" + codec<T>::type() + "]"; }
    static ojson get(const std::vector<T> & v) {
        ojson out = ojson::array();
        for (const auto & x : v) out.push_back(codec<T>::get(x));
        return out;
    }
    static void set(std::vector<T> & dst, const ojson & v) {
        if (!v.is_array()) type_error("a list", v);
        std::vector<T> out;
        out.reserve(v.size());
        for (const auto & x : v) {
            T item{};
            codec<T>::set(item, x);
            out.push_back(std::move(item));
        }
        dst = std::move(out);
    }
};

template <class T> struct codec<std::set<T>> {
    static std::string type() { return "set[" + codec<T>::type() + "]"; }
    static ojson get(const std::set<T> & v) {
        ojson out = ojson::array();
        for (const auto & x : v) out.push_back(codec<T>::get(x));
        return out;
    }
    static void set(std::set<T> & dst, const ojson & v) {
        if (!v.is_array()) type_error("a list", v);
        std::set<T> out;
        for (const auto & x : v) {
            T item{};
            codec<T>::set(item, x);
            out.insert(std::move(item));
        }
        dst = std::move(out);
    }
};

// Fixed C arrays (tensor_split, cpumask): a list of at most N, the rest zero.
template <class T, size_t N> struct codec<T[N]> {
    static std::string type() { return "list[" + codec<T>::type() + "]"; }
    static ojson get(const T (&v)[N]) {
        ojson out = ojson::array();
        for (size_t i = 0; i < N; ++i) out.push_back(codec<T>::get(v[i]));
        return out;
    }
    static void set(T (&dst)[N], const ojson & v) {
        if (!v.is_array()) type_error("a list", v);
        if (v.size() > N) throw invalid("at most " + std::to_string(N) + " items");
        T tmp[N] = {};
        for (size_t i = 0; i < v.size(); ++i) codec<T>::set(tmp[i], v[i]);
        for (size_t i = 0; i < N; ++i) dst[i] = tmp[i];
    }
};

template <> struct codec<std::map<std::string, std::string>> {
    static std::string type() { return "dict[str,str]"; }
    static ojson get(const std::map<std::string, std::string> & v) {
        ojson out = ojson::object();
        for (const auto & [k, x] : v) out[k] = x;
        return out;
    }
    static void set(std::map<std::string, std::string> & dst, const ojson & v) {
        if (!v.is_object()) type_error("a dict", v);
        std::map<std::string, std::string> out;
        for (const auto & [k, x] : v.items()) {
            if (!x.is_string()) type_error("a str value for key '" + k + "'", x);
            out[k] = x.get<std::string>();
        }
        dst = std::move(out);
    }
};

static const ojson & require(const ojson & obj, const char * key);

// A grammar crosses as {"type": common_grammar_type, "grammar": str}, as upstream
// xllamacpp's CommonGrammar has it; a bare str is a user grammar, "" none.
template <> struct codec<common_grammar> {
    static std::string type() { return "grammar"; }
    static ojson get(const common_grammar & v) {
        return {{"type", static_cast<long long>(v.type)}, {"grammar", v.grammar}};
    }
    static void set(common_grammar & dst, const ojson & v) {
        common_grammar g;  // fields set directly: the two-argument constructor asserts on (NONE, "")
        if (v.is_string()) {
            g.grammar = v.get<std::string>();
            g.type = g.grammar.empty() ? COMMON_GRAMMAR_TYPE_NONE : COMMON_GRAMMAR_TYPE_USER;
        } else if (v.is_object()) {
            codec<common_grammar_type>::set(g.type, require(v, "type"));
            codec<std::string>::set(g.grammar, require(v, "grammar"));
        } else {
            type_error("a grammar {type, grammar} or a str", v);
        }
        dst = std::move(g);
    }
};

static const ojson & require(const ojson & obj, const char * key) {
    if (!obj.contains(key)) throw invalid(std::string("missing key '") + key + "'");
    return obj.at(key);
}

template <> struct codec<llama_logit_bias> {
    static std::string type() { return "logit_bias"; }
    static ojson get(const llama_logit_bias & v) { return ojson::array({v.token, v.bias}); }
    static void set(llama_logit_bias & dst, const ojson & v) {
        if (!v.is_array() || v.size() != 2) type_error("a [token, bias] pair", v);
        codec<llama_token>::set(dst.token, v[0]);
        codec<float>::set(dst.bias, v[1]);
    }
};

template <> struct codec<common_adapter_lora_info> {
    static std::string type() { return "lora"; }
    static ojson get(const common_adapter_lora_info & v) {
        return {{"path", v.path}, {"scale", v.scale}, {"task_name", v.task_name}, {"prompt_prefix", v.prompt_prefix}};
    }
    static void set(common_adapter_lora_info & dst, const ojson & v) {
        if (!v.is_object()) type_error("a LoRA adapter {path, scale}", v);
        dst = common_adapter_lora_info{};
        dst.scale = 1.0f;
        codec<std::string>::set(dst.path, require(v, "path"));
        if (v.contains("scale")) codec<float>::set(dst.scale, v.at("scale"));
        if (v.contains("task_name")) codec<std::string>::set(dst.task_name, v.at("task_name"));
        if (v.contains("prompt_prefix")) codec<std::string>::set(dst.prompt_prefix, v.at("prompt_prefix"));
        dst.ptr = nullptr;
    }
};

template <> struct codec<common_grammar_trigger> {
    static std::string type() { return "grammar_trigger"; }
    static ojson get(const common_grammar_trigger & v) {
        return {{"type", static_cast<int>(v.type)}, {"value", v.value}, {"token", v.token}};
    }
    static void set(common_grammar_trigger & dst, const ojson & v) {
        if (!v.is_object()) type_error("a grammar trigger {type, value, token}", v);
        codec<common_grammar_trigger_type>::set(dst.type, require(v, "type"));
        codec<std::string>::set(dst.value, require(v, "value"));
        if (v.contains("token")) codec<llama_token>::set(dst.token, v.at("token"));
    }
};

template <> struct codec<common_control_vector_load_info> {
    static std::string type() { return "control_vector"; }
    static ojson get(const common_control_vector_load_info & v) { return {{"fname", v.fname}, {"strength", v.strength}}; }
    static void set(common_control_vector_load_info & dst, const ojson & v) {
        if (!v.is_object()) type_error("a control vector {fname, strength}", v);
        codec<std::string>::set(dst.fname, require(v, "fname"));
        dst.strength = 1.0f;
        if (v.contains("strength")) codec<float>::set(dst.strength, v.at("strength"));
    }
};

// Devices cross as their ggml names ("CPU", "CUDA0", ...); "" is none.
template <> struct codec<ggml_backend_dev_t> {
    static std::string type() { return "device"; }
    static ojson get(const ggml_backend_dev_t & v) { return v ? ggml_backend_dev_name(v) : ""; }
    static void set(ggml_backend_dev_t & dst, const ojson & v) {
        if (!v.is_string()) type_error("a device name", v);
        const auto name = v.get<std::string>();
        if (name.empty()) {
            dst = nullptr;
            return;
        }
        ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());
        if (!dev) dev = rpc_device_by_name(name);  // an RPC server's, once named (xlc_rpc.cpp)
        if (!dev) {
            std::string known;
            for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
                known += (known.empty() ? "" : ", ") + std::string(ggml_backend_dev_name(ggml_backend_dev_get(i)));
            }
            for (const auto & rpc : rpc_device_names()) known += ", " + rpc;
            throw invalid("unknown device '" + name + "' (available: " + known + ")");
        }
        dst = dev;
    }
};

// A device list as llama.cpp reads it: up to a null entry, which a non-empty list must end with.
template <> struct codec<std::vector<ggml_backend_dev_t>> {
    static std::string type() { return "list[device]"; }
    static ojson get(const std::vector<ggml_backend_dev_t> & v) {
        ojson out = ojson::array();
        for (auto dev : v) out.push_back(codec<ggml_backend_dev_t>::get(dev));
        return out;
    }
    static void set(std::vector<ggml_backend_dev_t> & dst, const ojson & v) {
        if (!v.is_array()) type_error("a list", v);
        std::vector<ggml_backend_dev_t> out;
        for (const auto & x : v) {
            ggml_backend_dev_t dev = nullptr;
            codec<ggml_backend_dev_t>::set(dev, x);
            out.push_back(dev);
        }
        if (!out.empty() && out.back() != nullptr) out.push_back(nullptr);
        dst = std::move(out);
    }
};

// The sampler chain crosses as upstream xllamacpp has it: a ';'-joined string
// of llama.cpp's sampler names ("top_k;temperature"); a list of members is
// accepted too.
template <> struct codec<std::vector<common_sampler_type>> {
    static std::string type() { return "samplers"; }
    static ojson get(const std::vector<common_sampler_type> & v) {
        std::string out;
        for (auto t : v) out += (out.empty() ? "" : ";") + common_sampler_type_to_str(t);
        return out;
    }
    static void set(std::vector<common_sampler_type> & dst, const ojson & v) {
        if (v.is_array()) {
            std::vector<common_sampler_type> out;
            for (const auto & x : v) {
                common_sampler_type t{};
                codec<common_sampler_type>::set(t, x);
                out.push_back(t);
            }
            dst = std::move(out);
            return;
        }
        if (!v.is_string()) type_error("a ';'-separated str of sampler names", v);
        std::vector<std::string> names = string_split<std::string>(v.get<std::string>(), ';');
        names.erase(std::remove(names.begin(), names.end(), std::string()), names.end());
        for (const auto & n : names) {
            if (common_sampler_types_from_names({n}).empty()) throw invalid("unknown sampler '" + n + "'");
        }
        dst = common_sampler_types_from_names(names);
    }
};

// Tensor buffer-type overrides cross as upstream xllamacpp has them, the string
// llama-server's -ot takes: "pattern=BUFT,pattern2=BUFT". The end markers
// llama.cpp pads the list with are not shown.
template <> struct codec<std::vector<llama_model_tensor_buft_override>> {
    static std::string type() { return "str"; }
    static ojson get(const std::vector<llama_model_tensor_buft_override> & v) {
        std::string out;
        for (const auto & o : v) {
            if (!o.pattern || !o.buft) continue;
            out += (out.empty() ? "" : ",") + std::string(o.pattern) + "=" + ggml_backend_buft_name(o.buft);
        }
        return out;
    }
    static void set(std::vector<llama_model_tensor_buft_override> & dst, const ojson & v) {
        if (!v.is_string()) type_error("a str like \"pattern=CPU,pattern2=CPU\"", v);
        std::map<std::string, ggml_backend_buffer_type_t> bufts;
        for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
            if (auto * buft = ggml_backend_dev_buffer_type(ggml_backend_dev_get(i))) bufts[ggml_backend_buft_name(buft)] = buft;
        }
        std::vector<llama_model_tensor_buft_override> out;
        for (const auto & item : string_split<std::string>(v.get<std::string>(), ',')) {
            if (item.empty()) continue;
            const size_t eq = item.find('=');
            if (eq == std::string::npos) throw invalid("invalid value '" + item + "': expected pattern=BUFFER_TYPE");
            const std::string name = item.substr(eq + 1);
            auto it = bufts.find(name);
            if (it == bufts.end()) {
                std::string known;
                for (const auto & [k, _] : bufts) known += (known.empty() ? "" : ", ") + k;
                throw invalid("unknown buffer type '" + name + "' (available: " + known + ")");
            }
            out.push_back({intern(item.substr(0, eq)), it->second});
        }
        dst = std::move(out);
    }
    // patterns are C strings that must outlive every copy of the params
    static const char * intern(const std::string & s) {
        static std::mutex mutex;
        static std::set<std::string> pool;
        std::lock_guard<std::mutex> lock(mutex);
        return pool.insert(s).first->c_str();
    }
};

// Metadata overrides cross as llama-server's --override-kv strings, "KEY=TYPE:VALUE".
template <> struct codec<llama_model_kv_override> {
    static std::string type() { return "str"; }
    static ojson get(const llama_model_kv_override & o) {
        std::string out = std::string(o.key) + "=";
        switch (o.tag) {
            case LLAMA_KV_OVERRIDE_TYPE_INT:   return out + "int:" + std::to_string(o.val_i64);
            case LLAMA_KV_OVERRIDE_TYPE_FLOAT: return out + "float:" + std::to_string(o.val_f64);
            case LLAMA_KV_OVERRIDE_TYPE_BOOL:  return out + "bool:" + (o.val_bool ? "true" : "false");
            default:                           return out + "str:" + o.val_str;
        }
    }
    static void set(llama_model_kv_override & dst, const ojson & v) {
        if (!v.is_string()) type_error("a str like \"KEY=int:42\"", v);
        std::vector<llama_model_kv_override> parsed;
        if (!string_parse_kv_override(v.get<std::string>().c_str(), parsed) || parsed.empty()) {
            throw invalid("invalid override '" + v.get<std::string>() + "': expected KEY=TYPE:VALUE, TYPE one of int, float, bool, str");
        }
        dst = parsed.front();
    }
};

template <> struct codec<std::vector<llama_model_kv_override>> {
    static std::string type() { return "list[str]"; }
    static ojson get(const std::vector<llama_model_kv_override> & v) {
        ojson out = ojson::array();
        for (const auto & o : v) {
            if (o.key[0]) out.push_back(codec<llama_model_kv_override>::get(o));  // skip the end marker
        }
        return out;
    }
    static void set(std::vector<llama_model_kv_override> & dst, const ojson & v) {
        if (!v.is_array()) type_error("a list", v);
        std::vector<llama_model_kv_override> out;
        for (const auto & x : v) {
            llama_model_kv_override o{};
            codec<llama_model_kv_override>::set(o, x);
            out.push_back(o);
        }
        dst = std::move(out);
    }
};

// --- the table -----------------------------------------------------------------

template <class T> using member_t = std::remove_cv_t<std::remove_reference_t<T>>;

#define XLC_FIELD(NAME, MEMBER, FLAG, HELP)                                                          \
    field{NAME, FLAG, HELP,                                                                          \
          &codec<member_t<decltype(std::declval<common_params &>().MEMBER)>>::type,                  \
          [](const common_params & p) -> ojson {                                                     \
              return codec<member_t<decltype(std::declval<common_params &>().MEMBER)>>::get(p.MEMBER); \
          },                                                                                         \
          [](common_params & p, const ojson & v) {                                                   \
              codec<member_t<decltype(std::declval<common_params &>().MEMBER)>>::set(p.MEMBER, v);   \
          }},
#define XLC_EXCLUDED(NAME, REASON)
#define XLC_VIEW(NAME, FLAG, HELP, FN) field{NAME, FLAG, HELP, &FN##_type, &FN##_get, &FN##_set, true},

const std::vector<field> & fields() {
    static const std::vector<field> table = {
#include "xlc_params_table.inc"
    };
    return table;
}

#undef XLC_FIELD
#undef XLC_EXCLUDED
#undef XLC_VIEW

const std::vector<std::pair<const char *, const char *>> & excluded_fields() {
#define XLC_FIELD(NAME, MEMBER, FLAG, HELP)
#define XLC_EXCLUDED(NAME, REASON) {NAME, REASON},
#define XLC_VIEW(NAME, FLAG, HELP, FN)
    static const std::vector<std::pair<const char *, const char *>> table = {
#include "xlc_params_table.inc"
    };
#undef XLC_FIELD
#undef XLC_EXCLUDED
#undef XLC_VIEW
    return table;
}

const field * find_field(const std::string & name) {
    static const std::map<std::string, const field *> index = [] {
        std::map<std::string, const field *> out;
        for (const auto & f : fields()) out[f.name] = &f;
        return out;
    }();
    auto it = index.find(name);
    return it == index.end() ? nullptr : it->second;
}

// --- operations --------------------------------------------------------------

common_params make_params() {
    common_params p;
    p.lr.epoch = 0;  // the one member llama.cpp leaves uninitialised (set by its optimizer loop)
    // xllamacpp's one default of its own, as upstream xllamacpp has it: port 0 lets the
    // OS pick a free port, so that several servers can live in one process
    p.port = 0;
    // and one for reliability: llama-server waits an hour on a silent client; one that sends
    // half a request (or connects and sends nothing) holds an HTTP worker that long. Half a
    // minute, for reads and writes alike, as llama-server's --timeout sets both.
    p.timeout_read = 30;
    p.timeout_write = 30;
    return p;
}

ojson params_to_json(const common_params & p) {
    ojson out = ojson::object();
    for (const auto & f : fields()) out[f.name] = f.get(p);
    return out;
}

void params_apply(common_params & p, const ojson & values) {
    if (!values.is_object()) {
        throw invalid("parameters must be a JSON object of field names to values");
    }
    for (const auto & [name, value] : values.items()) {
        const field * f = find_field(name);
        if (!f) {
            throw invalid("unknown parameter '" + name + "'");
        }
        try {
            f->set(p, value);
        } catch (const error & e) {
            throw invalid("parameter '" + name + "': " + e.what());
        }
        params_check_field(name, p);
    }
}

// llama-server's flags with their help, from llama.cpp's own argument table.
static ojson server_options() {
    common_params scratch = make_params();
    auto ctx = common_params_parser_init(scratch, LLAMA_EXAMPLE_SERVER);
    ojson out = ojson::array();
    for (const auto & opt : ctx.options) {
        if (!opt.examples.count(LLAMA_EXAMPLE_SERVER) && !opt.examples.count(LLAMA_EXAMPLE_COMMON)) continue;
        ojson args = ojson::array(), neg = ojson::array();
        for (const char * a : opt.args) args.push_back(a);
        for (const char * a : opt.args_neg) neg.push_back(a);
        out.push_back({{"args", args}, {"args_neg", neg}, {"value_hint", opt.value_hint ? opt.value_hint : ""},
                       {"env", opt.env ? opt.env : ""}, {"help", opt.help}});
    }
    return out;
}

ojson params_schema() {
    const common_params defaults = make_params();
    const ojson options = server_options();
    std::map<std::string, std::string> helps;
    for (const auto & opt : options) {
        for (const auto & a : opt["args"]) helps[a.get<std::string>()] = opt["help"].get<std::string>();
        for (const auto & a : opt["args_neg"]) helps[a.get<std::string>()] = opt["help"].get<std::string>();
    }
    ojson list = ojson::array();
    for (const auto & f : fields()) {
        // the first of the flags that set it (best first) that llama-server has names it and gives its help
        std::string help = f.help ? f.help : "", flag;
        for (const auto & candidate : string_split<std::string>(f.flag ? f.flag : "", ' ')) {
            auto it = helps.find(candidate);
            if (!candidate.empty() && it != helps.end()) {
                flag = candidate;
                help = it->second;
                break;
            }
        }
        list.push_back({
            {"name", f.name},
            {"type", f.type()},
            {"default", f.get(defaults)},
            {"help", help},
            {"flag", flag},
            {"view", f.view},
        });
    }
    ojson excluded = ojson::object();
    for (const auto & [name, reason] : excluded_fields()) excluded[name] = reason;
    ojson exiting = ojson::array();
    for (const auto & f : exiting_flags()) exiting.push_back(f);
    return {{"fields", list},       {"enums", enums_json()},      {"constants", constants_json()},
            {"excluded", excluded}, {"options", options},         {"exiting_flags", exiting}};
}

// The flags whose llama.cpp handlers print and exit() the process; refused in-process.
// Kept by hand: tests/test_drift.py compares it with common/arg.cpp.
const std::set<std::string> & exiting_flags() {
    static const std::set<std::string> flags = {"--version", "-cl", "--cache-list", "--list-devices"};
    return flags;
}

// Parses llama-server flags onto p with llama.cpp's own option handlers.
// The handlers are driven here rather than through common_params_parse(),
// which prints its errors and may exit() the process.
void params_parse_args(common_params & p, const std::vector<std::string> & args) {
    auto ctx = common_params_parser_init(p, LLAMA_EXAMPLE_SERVER);
    std::map<std::string, std::pair<common_arg *, bool>> by_flag;
    for (auto & opt : ctx.options) {
        for (const char * a : opt.args) by_flag[a] = {&opt, true};
        for (const char * a : opt.args_neg) by_flag[a] = {&opt, false};
    }
    common_params & out = ctx.params;
    for (size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        if (arg.rfind("--", 0) == 0) {
            std::replace(arg.begin(), arg.end(), '_', '-');
        }
        auto it = by_flag.find(arg);
        if (it == by_flag.end()) {
            throw invalid("invalid argument: " + args[i]);
        }
        common_arg & opt = *it->second.first;
        for (const char * a : opt.args) {
            if (exiting_flags().count(a)) {
                throw invalid("argument " + arg + " prints information and exits; it is not available in-process");
            }
        }
        auto value = [&](const char * what) -> std::string {
            if (i + 1 >= args.size()) {
                throw invalid("expected " + std::string(what) + " for argument " + arg);
            }
            return args[++i];
        };
        try {
            if (arg == "--rpc") {
                // named per model here, not added to ggml's global device list (xlc_rpc.cpp)
                rpc_servers_set(out, value("a list of RPC servers"));
                continue;
            }
            if ((arg == "-dev" || arg == "--device") && opt.handler_string) {
                const std::string list = value("a list of devices");
                if (!rpc_device_flag(out, list)) opt.handler_string(out, list);
                continue;
            }
            if (opt.handler_void) {
                opt.handler_void(out);
            } else if (opt.handler_bool) {
                opt.handler_bool(out, it->second.second);
            } else if (opt.handler_int) {
                const std::string v = value("a value");
                size_t used = 0;
                int n = 0;
                try {
                    n = std::stoi(v, &used);
                } catch (const std::exception &) {
                    used = 0;
                }
                if (used != v.size()) throw invalid("'" + v + "' is not an integer");
                opt.handler_int(out, n);
            } else if (opt.handler_string) {
                opt.handler_string(out, value("a value"));
            } else if (opt.handler_str_str) {
                const std::string v1 = value("two values");
                opt.handler_str_str(out, v1, value("two values"));
            }
        } catch (const std::exception & e) {
            throw invalid("error while handling argument \"" + arg + "\": " + e.what());
        }
    }
    if (out.usage || out.completion) {
        throw invalid("usage and completion output are not available in-process");
    }
    p = out;
}

} // namespace xlc

using namespace xlc;

extern "C" {

xlc_status xlc_params_schema(char ** out) {
    return return_text(out, [] {
        init_once();
        return params_schema().dump();
    });
}

xlc_status xlc_params_apply(const char * params_json, char ** out) {
    return guard([&] {
        init_once();
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        common_params p = make_params();
        params_apply(p, parse_json(params_json, "params"));
        *out = dup_or_throw(params_to_json(p).dump());
    });
}

xlc_status xlc_params_from_args(const char * params_json, const char * args_json, char ** out) {
    return guard([&] {
        init_once();
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        common_params p = make_params();
        if (params_json) params_apply(p, parse_json(params_json, "params"));
        const ojson args = parse_json(args_json, "args");
        if (!args.is_array()) throw invalid("args must be a JSON array of strings");
        std::vector<std::string> list;
        for (const auto & a : args) {
            if (!a.is_string()) throw invalid("args must be a JSON array of strings");
            list.push_back(a.get<std::string>());
        }
        params_parse_args(p, list);
        params_check_ranges(p);
        *out = dup_or_throw(params_to_json(p).dump());
    });
}

} // extern "C"
