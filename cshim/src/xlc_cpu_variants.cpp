// Which CPU kernels run. A portable build (cmake/cpu-variants.cmake) holds ggml's
// CPU backend once per instruction-set level, each folded into an object of its
// own with two entry points left; this file stands in for ggml_backend_cpu_reg(),
// which ggml's registry calls when it first lists its backends, and hands it the
// best variant this CPU runs, by ggml's own CPUID score.
#include "xlc_internal.h"

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <cstdlib>
#include <cstring>

#ifdef XLC_CPU_VARIANTS_INC

typedef void (*xlc_ctor)(void);

extern "C" {
#define XLC_CPU_VARIANT(id, name)                                                         \
    ggml_backend_reg_t xlcv_##id##_init(void);                                            \
    int xlcv_##id##_score(void);                                                          \
    extern const xlc_ctor __start_xlcv_##id##_ctors[] __attribute__((weak, visibility("hidden"))); \
    extern const xlc_ctor __stop_xlcv_##id##_ctors[] __attribute__((weak, visibility("hidden")));
#include XLC_CPU_VARIANTS_INC
#undef XLC_CPU_VARIANT
}

namespace {

struct variant {
    const char * name;
    ggml_backend_reg_t (*init)(void);
    int (*score)(void);          // ggml's CPUID check, built without the variant's instruction flags
    const xlc_ctor * ctors_begin;  // the variant's static constructors, not run at load time
    const xlc_ctor * ctors_end;
};

const variant k_variants[] = {
#define XLC_CPU_VARIANT(id, name) {name, xlcv_##id##_init, xlcv_##id##_score, __start_xlcv_##id##_ctors, __stop_xlcv_##id##_ctors},
#include XLC_CPU_VARIANTS_INC
#undef XLC_CPU_VARIANT
};

// The best score wins, as in ggml's own loader; $XLLAMACPP_CPU_VARIANT picks one this CPU runs.
const variant & chosen() {
    static const variant & v = [] () -> const variant & {
        const char * wanted = std::getenv("XLLAMACPP_CPU_VARIANT");
        const variant * best = &k_variants[0];
        int best_score = -1;
        for (const variant & v : k_variants) {
            const int score = v.score();
            if (wanted && *wanted && std::strcmp(wanted, v.name) == 0 && score > 0) {
                return v;
            }
            if (score > best_score) {
                best = &v;
                best_score = score;
            }
        }
        return *best;
    }();
    return v;
}

} // namespace

extern "C" ggml_backend_reg_t ggml_backend_cpu_reg(void) {
    static ggml_backend_reg_t reg = [] {
        const variant & v = chosen();
        for (const xlc_ctor * f = v.ctors_begin; f && f < v.ctors_end; ++f) {
            (*f)();
        }
        return v.init();
    }();
    return reg;
}

#endif // XLC_CPU_VARIANTS_INC

using namespace xlc;

extern "C" char * xlc_cpu_variants(void) {
    ojson out = {{"chosen", "native"}, {"variants", ojson::array()}};
#ifdef XLC_CPU_VARIANTS_INC
    out["chosen"] = chosen().name;
    for (const variant & v : k_variants) {
        out["variants"].push_back({{"name", v.name}, {"score", v.score()}});
    }
#endif
    return dup(out.dump());
}
