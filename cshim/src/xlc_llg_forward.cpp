// The llg_* functions that llama.cpp's common/llguidance.cpp calls, defined as
// forwarders to the llguidance wheel's library once it is opened. Linked into
// libxlc and into the bench's llama-server, which share llama-common.
#include "xlc_llg_forward.h"

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
std::mutex        g_llg_mutex;

LlgTokenizer * not_loaded(char * error, size_t size) {
    if (error && size) std::snprintf(error, size, "%s", "LLGuidance is not loaded");
    return nullptr;
}

} // namespace

// Without the library they fail the way llg does (no tokenizer, an error
// string), so a grammar in LLGuidance's format is refused rather than crashing.
extern "C" {
#define XLC_LLG_FORWARD(name, ret, params, args, fallback) \
    ret name params {                                      \
        if (!g_llg.name) return fallback;                  \
        return g_llg.name args;                            \
    }
XLC_LLG_FUNCTIONS(XLC_LLG_FORWARD)
#undef XLC_LLG_FORWARD
}

bool xlc_llg_open(const char * path, std::string & error) {
    std::lock_guard<std::mutex> lock(g_llg_mutex);
    if (g_llg_loaded.load()) return true;
    // RTLD_NOW: a library that cannot resolve everything (PyPy) fails here, not mid-generation
    void * handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        error = std::string("cannot load ") + path + ": " + dlerror();
        return false;
    }
    llg_table table;
#define XLC_LLG_RESOLVE(name, ret, params, args, fallback)                    \
    table.name = reinterpret_cast<ret(*) params>(dlsym(handle, #name));      \
    if (!table.name) {                                                       \
        dlclose(handle);                                                     \
        error = std::string(path) + " lacks " #name;                         \
        return false;                                                        \
    }
    XLC_LLG_FUNCTIONS(XLC_LLG_RESOLVE)
#undef XLC_LLG_RESOLVE
    g_llg = table;  // the handle stays open for the life of the process
    g_llg_loaded.store(true);
    return true;
}

bool xlc_llg_loaded() { return g_llg_loaded.load(); }
