// Ranges of the common_params fields that llama.cpp does not check itself and
// that end in a GGML_ASSERT (the process aborts), a hang or a silent misbehaviour
// when out of range. They were found by reading llama_context's constructor, the
// model loader and server_context's load path, and by trying every numeric field
// at its edges in a child process (tests/stress/params_fuzz.py re-runs that search).
//
// A field's own range is checked whenever it is set (xlc_params_apply, so
// `params.n_batch = 0` raises at once); relations between fields are checked when
// a server is created, before anything is allocated.
#include "xlc_params.h"

#include "common.h"
#include "ggml.h"
#include "llama.h"

#include <climits>
#include <string>
#include <vector>

namespace xlc {

namespace {

// One field's allowed values: [min, max], plus the special values it also takes.
struct range_rule {
    const char *           field;
    long long              min;
    long long              max;
    std::vector<long long> specials;
    const char *           why;  // what an out-of-range value would do
};

const long long k_max_threads = GGML_MAX_N_THREADS;

const std::vector<range_rule> & rules() {
    static const std::vector<range_rule> table = {
        {"n_ctx", 0, INT_MAX, {}, "0 takes the model's training context"},
        {"n_batch", 1, INT_MAX, {}, "0 aborts in llama_context (n_outputs_max)"},
        {"n_ubatch", 1, INT_MAX, {}, "0 aborts in llama_context"},
        {"n_parallel", 1, static_cast<long long>(llama_max_parallel_sequences()), {-1},
         "0 builds a server with no slot, where every request waits forever; -1 means 4 with a unified cache"},
        {"n_keep", -1, INT_MAX, {}, "-1 keeps the whole prompt"},
        {"n_outputs_max", 0, INT_MAX, {}, "0 means n_batch"},
        {"n_outputs_max_per_seq", 0, INT_MAX, {}, "0 means n_outputs_max"},
        {"yarn_orig_ctx", 0, INT_MAX, {}, "0 takes the model's"},
        {"cpuparams.n_threads", 1, k_max_threads, {-1}, "0 aborts at the first decode; -1 picks the core count"},
        {"cpuparams_batch.n_threads", 1, k_max_threads, {-1}, "0 aborts at the first batch; -1 follows cpuparams"},
        {"speculative.draft.cpuparams.n_threads", 1, k_max_threads, {-1}, "0 aborts in the draft model's decode"},
        {"speculative.draft.cpuparams_batch.n_threads", 1, k_max_threads, {-1}, "0 aborts in the draft model's decode"},
        {"cpuparams.poll", 0, 100, {}, "a percentage"},
        {"cpuparams_batch.poll", 0, 100, {}, "a percentage"},
        {"port", INT_MIN, 65535, {}, "a TCP port, 0 for a free one, negative for no HTTP listener"},
        {"timeout_read", 1, INT_MAX, {}, "seconds; 0 makes every HTTP read time out at once"},
        {"timeout_write", 1, INT_MAX, {}, "seconds; 0 makes every HTTP write time out at once"},
        {"main_gpu", -1, INT_MAX, {}, "a device index"},
    };
    return table;
}

std::string describe(const range_rule & r) {
    std::string out;
    for (long long s : r.specials) out += std::to_string(s) + " or ";
    if (r.min == INT_MIN) {
        out += "at most " + std::to_string(r.max);
    } else if (r.max == INT_MAX) {
        out += "at least " + std::to_string(r.min);
    } else {
        out += "between " + std::to_string(r.min) + " and " + std::to_string(r.max);
    }
    return out;
}

void check_rule(const range_rule & r, const common_params & p) {
    const field * f = find_field(r.field);
    if (!f) return;  // a field llama.cpp dropped: the drift test names it
    const ojson value = f->get(p);
    if (!value.is_number_integer()) return;
    const long long v = value.get<long long>();
    if (v >= r.min && v <= r.max) return;
    for (long long s : r.specials) {
        if (v == s) return;
    }
    throw invalid(std::string(r.field) + " must be " + describe(r) + " (" + r.why + "), not " + std::to_string(v));
}

[[noreturn]] void refuse(const std::string & message) { throw invalid(message); }

} // namespace

std::vector<std::string> params_checked_fields() {
    std::vector<std::string> out;
    for (const auto & r : rules()) out.push_back(r.field);
    return out;
}

void params_check_field(const std::string & name, const common_params & p) {
    for (const auto & r : rules()) {
        if (name == r.field) check_rule(r, p);
    }
}

void params_check_ranges(const common_params & p) {
    for (const auto & r : rules()) check_rule(r, p);
}

void params_check_server(const common_params & p) {
    params_check_ranges(p);

    for (size_t i = 0; i < sizeof(p.tensor_split) / sizeof(p.tensor_split[0]); ++i) {
        if (!(p.tensor_split[i] >= 0.0f)) {
            refuse("tensor_split[" + std::to_string(i) + "] must be a non-negative share, not " +
                   std::to_string(p.tensor_split[i]));
        }
    }
}

} // namespace xlc
