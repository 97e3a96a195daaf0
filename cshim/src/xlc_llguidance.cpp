// LLGuidance without cargo: llama.cpp's common/llguidance.cpp is compiled
// against the llguidance sdist's header, and the llg_* functions it calls are
// defined here as forwarders to the C API that the llguidance wheel's
// _lib.abi3.so exports, dlopen()ed at run time (xlc_llguidance_load).
//
// When that library is not loaded (missing, or PyPy, where it cannot resolve
// CPython's symbols), JSON schemas fall back to llama.cpp's GBNF engine: the
// link wraps json_schema_to_grammar() so that it is asked for GBNF.
#include "xlc_internal.h"

#include "json-schema-to-grammar.h"
#include "json.h"
#include "llguidance.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <mutex>

// name, return type, parameters, arguments, what it gives while the library is not loaded
#define XLC_LLG_FUNCTIONS(X)                                                                                              \
    X(llg_new_tokenizer, LlgTokenizer *, (const LlgTokenizerInit * a, char * b, size_t c), (a, b, c), not_loaded(b, c))   \
    X(llg_clone_tokenizer, LlgTokenizer *, (const LlgTokenizer * a), (a), nullptr)                                        \
    X(llg_free_tokenizer, void, (LlgTokenizer * a), (a), void())                                                          \
    X(llg_constraint_init_set_defaults, void, (LlgConstraintInit * a, const LlgTokenizer * b), (a, b), void())            \
    X(llg_new_matcher, LlgMatcher *, (const LlgConstraintInit * a, const char * b, const char * c), (a, b, c), nullptr)    \
    X(llg_clone_matcher, LlgMatcher *, (const LlgMatcher * a), (a), nullptr)                                              \
    X(llg_free_matcher, void, (LlgMatcher * a), (a), void())                                                              \
    X(llg_matcher_compute_mask, int32_t, (LlgMatcher * a), (a), -1)                                                       \
    X(llg_matcher_consume_token, int32_t, (LlgMatcher * a, uint32_t b), (a, b), -1)                                       \
    X(llg_matcher_get_error, const char *, (LlgMatcher * a), (a), "LLGuidance is not loaded")                            \
    X(llg_matcher_get_mask, const uint32_t *, (LlgMatcher * a), (a), nullptr)                                             \
    X(llg_matcher_get_mask_byte_size, size_t, (const LlgMatcher * a), (a), 0)                                             \
    X(llg_matcher_reset, int32_t, (LlgMatcher * a), (a), -1)

namespace {

struct llg_table {
#define XLC_LLG_POINTER(name, ret, params, args, fallback) ret(*name) params = nullptr;
    XLC_LLG_FUNCTIONS(XLC_LLG_POINTER)
#undef XLC_LLG_POINTER
};

llg_table         g_llg;
std::atomic<bool> g_llg_loaded{false};
std::atomic<bool> g_llg_enabled{true};
std::mutex        g_llg_mutex;

bool llg_active() { return g_llg_loaded.load() && g_llg_enabled.load(); }

LlgTokenizer * not_loaded(char * error, size_t size) {
    if (error && size) std::snprintf(error, size, "%s", "LLGuidance is not loaded");
    return nullptr;
}

} // namespace

// The forwarders llama.cpp's llguidance.cpp links against. Without the
// library they fail the way llg does (no tokenizer, an error string), so a
// grammar in LLGuidance's format is refused rather than crashing.
extern "C" {
#define XLC_LLG_FORWARD(name, ret, params, args, fallback) \
    ret name params {                                      \
        if (!g_llg.name) return fallback;                  \
        return g_llg.name args;                            \
    }
XLC_LLG_FUNCTIONS(XLC_LLG_FORWARD)
#undef XLC_LLG_FORWARD
}

// json_schema_to_grammar(const common_json &, bool force_gbnf), wrapped at link
// time (CMakeLists.txt); the __real_/__wrap_ names are the mangled symbol's.
extern "C" std::string __real__Z22json_schema_to_grammarB5cxx11RK11common_jsonb(const common_json & schema, bool force_gbnf);

extern "C" std::string __wrap__Z22json_schema_to_grammarB5cxx11RK11common_jsonb(const common_json & schema, bool force_gbnf) {
    if (force_gbnf || !llg_active()) {
        return __real__Z22json_schema_to_grammarB5cxx11RK11common_jsonb(schema, true);
    }
    // LLGuidance's form only embeds the schema, and llama.cpp samples unconstrained when
    // LLGuidance then rejects it; converting it once checks it, so a bad schema is a 400
    __real__Z22json_schema_to_grammarB5cxx11RK11common_jsonb(schema, true);
    return __real__Z22json_schema_to_grammarB5cxx11RK11common_jsonb(schema, false);
}

extern "C" {

xlc_status xlc_llguidance_load(const char * path) {
    return xlc::guard([&] {
        std::lock_guard<std::mutex> lock(g_llg_mutex);
        if (g_llg_loaded.load()) return;
        if (!path || !*path) throw xlc::invalid("no path to the llguidance library");
        // RTLD_NOW: a library that cannot resolve everything (PyPy) fails here, not mid-generation
        void * handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) throw xlc::error(XLC_ERR_NOT_FOUND, std::string("cannot load ") + path + ": " + dlerror());
        llg_table table;
#define XLC_LLG_RESOLVE(name, ret, params, args, fallback)                                                  \
        table.name = reinterpret_cast<ret(*) params>(dlsym(handle, #name));                           \
        if (!table.name) {                                                                            \
            dlclose(handle);                                                                          \
            throw xlc::error(XLC_ERR_NOT_FOUND, std::string(path) + " lacks " #name);                 \
        }
        XLC_LLG_FUNCTIONS(XLC_LLG_RESOLVE)
#undef XLC_LLG_RESOLVE
        g_llg = table;  // the handle stays open for the life of the process
        g_llg_loaded.store(true);
    });
}

void xlc_llguidance_enable(int enable) { g_llg_enabled.store(enable != 0); }

int xlc_llguidance_active(void) { return llg_active() ? 1 : 0; }

} // extern "C"
