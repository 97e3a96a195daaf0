// Speculative decoding as upstream xllamacpp's users drive it, on today's llama.cpp.
//
// A draft model path alone turns draft-model speculation on (upstream's README
// promises it); today's llama.cpp leaves speculative.types at NONE, loads the
// draft and drafts nothing.
//
// The per-request keys "speculative.n_max", "speculative.n_min" and
// "speculative.p_min" take effect again. llama-server no longer reads them (its
// request schema keeps them under #if 0) and its per-task parameters do not
// reach the drafting, so six functions are wrapped at link time (CMakeLists.txt):
//  - eval_llama_cmpl_schema, request JSON -> task params (on the request's thread):
//    files the request's values and tags task.params.sampling with their id, in the
//    high bits of user_sampling_config, which llama.cpp reads only while loading;
//  - common_sampler_init then llama_set_sampler, a slot taking a task (on the loop
//    thread): bind the tag to the slot's sequence;
//  - common_speculative_init: learns which draft samplers belong to which sequence
//    (each draft implementation makes one per sequence, in order);
//  - common_speculative_draft: caps the sequence's draft at n_max (the per-sequence
//    limit llama.cpp offers), and drops drafts shorter than n_min afterwards;
//  - common_sampler_get_candidates, while drafting: the request's p_min decides
//    whether the draft model's top candidate is confident enough to go on.
// Everything but the id registry is per loop thread, that is per server.
#include "xlc_speculative.h"
#include "xlc_llama_adapter.h"

#include "common.h"
#include "llama.h"
#include "sampling.h"
#include "server-schema.h"
#include "speculative.h"

#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace xlc {

void resolve_speculative_types(common_params & p) {
    auto & spec = p.speculative;
    if (spec.draft.mparams.path.empty() || spec.types != std::vector<common_speculative_type>{COMMON_SPECULATIVE_TYPE_NONE}) {
        return;
    }
    // as llama.cpp's argument handling: the draft file's metadata may name its method (MTP, DFlash)
    const auto from_file = llama::speculative_types_from_gguf(spec.draft.mparams.path);
    spec.types = from_file.empty() ? std::vector<common_speculative_type>{COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE} : from_file;
}

} // namespace xlc

namespace {

struct overrides {
    int   n_max = -1;  // -1: the server's
    int   n_min = -1;
    float p_min = -1.0f;
};

constexpr uint64_t TAG_MARK  = 1ull << 63;
constexpr int      TAG_SHIFT = 32;

// Requests' overrides by id. A task that never reaches a slot leaves its entry
// behind, so only the most recent ones are kept.
struct registry {
    std::mutex                   mutex;
    std::map<uint32_t, overrides> by_id;
    std::deque<uint32_t>         order;
    uint32_t                     next = 0;

    uint32_t file(const overrides & o) {
        std::lock_guard<std::mutex> lock(mutex);
        next = (next + 1) & 0x7fffffffu;
        if (next == 0) next = 1;
        by_id[next] = o;
        order.push_back(next);
        while (order.size() > 4096) {
            by_id.erase(order.front());
            order.pop_front();
        }
        return next;
    }

    bool find(uint32_t id, overrides & out) {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = by_id.find(id);
        if (it == by_id.end()) return false;
        out = it->second;
        return true;
    }
};

registry & requests() {
    static registry r;
    return r;
}

// what one loop thread knows
struct loop_state {
    bool                                    launching = false;  // common_sampler_init ran; llama_set_sampler binds
    overrides                               launch;
    bool                                    has_launch = false;
    std::map<llama_seq_id, overrides>       by_seq;              // the tasks' overrides, by slot sequence
    std::map<const common_speculative *, int> n_seq;             // sequences of each speculative state
    bool                                    initialising = false;
    std::vector<common_sampler *>           created;             // samplers made while initialising
    std::map<const common_sampler *, llama_seq_id> draft_sampler_seq;
    float                                   server_p_min = 0.0f;
    const common_speculative *              drafting = nullptr;
};

thread_local loop_state t_loop;

int read_count(const xlc::llama::json & data, const char * key) {
    const xlc::llama::json & v = data.at(key);
    if (!v.is_number()) throw std::invalid_argument(std::string(key) + " must be a non-negative integer");
    const double d = v.get<double>();
    if (!(d >= 0) || d != std::floor(d) || d > 1e6) {
        throw std::invalid_argument(std::string(key) + " must be a non-negative integer");
    }
    return static_cast<int>(d);
}

overrides read_overrides(const xlc::llama::json & data) {
    overrides o;
    if (!data.is_object()) return o;
    if (data.contains("speculative.n_max") && !data.at("speculative.n_max").is_null()) {
        o.n_max = read_count(data, "speculative.n_max");
    }
    if (data.contains("speculative.n_min") && !data.at("speculative.n_min").is_null()) {
        o.n_min = read_count(data, "speculative.n_min");
    }
    if (data.contains("speculative.p_min") && !data.at("speculative.p_min").is_null()) {
        const xlc::llama::json & v = data.at("speculative.p_min");
        const double p = v.is_number() ? v.get<double>() : -1.0;
        if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument("speculative.p_min must be a number from 0 to 1");
        o.p_min = static_cast<float>(p);
    }
    return o;
}

bool any(const overrides & o) {
    return o.n_max >= 0 || o.n_min >= 0 || o.p_min >= 0.0f;
}

} // namespace

// --- the wrapped functions (their names in this tree: xlc_llama_adapter.h) ---------------------

// task_params server_schema::eval_llama_cmpl_schema(const llama_vocab *, const common_params &,
//                                                   const std::vector<llama_logit_bias> &, const json &)
task_params real_eval_llama_cmpl_schema(const llama_vocab *, const common_params &, XLC_EVAL_SCHEMA_SLOT_PARAM(n_ctx_slot)
                                        const std::vector<llama_logit_bias> &, const xlc::llama::json &)
    XLC_REAL_NAME(eval_llama_cmpl_schema);
task_params wrap_eval_llama_cmpl_schema(const llama_vocab * vocab, const common_params & base,
                                        XLC_EVAL_SCHEMA_SLOT_PARAM(n_ctx_slot)
                                        const std::vector<llama_logit_bias> & bias_eog, const xlc::llama::json & data)
    XLC_WRAP_NAME(eval_llama_cmpl_schema);

task_params wrap_eval_llama_cmpl_schema(const llama_vocab * vocab, const common_params & base,
                                        XLC_EVAL_SCHEMA_SLOT_PARAM(n_ctx_slot)
                                        const std::vector<llama_logit_bias> & bias_eog, const xlc::llama::json & data) {
    task_params params = real_eval_llama_cmpl_schema(vocab, base, XLC_EVAL_SCHEMA_SLOT_ARG(n_ctx_slot) bias_eog, data);
    const overrides o = read_overrides(data);
    if (any(o)) {
        params.sampling.user_sampling_config |= TAG_MARK | (static_cast<uint64_t>(requests().file(o)) << TAG_SHIFT);
    }
    return params;
}

// common_sampler * common_sampler_init(const llama_model *, common_params_sampling &)
common_sampler * real_common_sampler_init(const llama_model *, common_params_sampling &) XLC_REAL_NAME(common_sampler_init);

common_sampler * wrap_common_sampler_init(const llama_model * model, common_params_sampling & params) XLC_WRAP_NAME(common_sampler_init);

common_sampler * wrap_common_sampler_init(const llama_model * model, common_params_sampling & params) {
    common_sampler * smpl = real_common_sampler_init(model, params);
    if (t_loop.initialising) {
        t_loop.created.push_back(smpl);
    }
    // a slot taking a task calls llama_set_sampler next; remember the task's overrides for it
    const uint64_t cfg = params.user_sampling_config;
    t_loop.launching = true;
    t_loop.has_launch = (cfg & TAG_MARK) && requests().find(static_cast<uint32_t>((cfg & ~TAG_MARK) >> TAG_SHIFT), t_loop.launch);
    return smpl;
}

// bool llama_set_sampler(llama_context *, llama_seq_id, llama_sampler *)
bool real_llama_set_sampler(llama_context *, llama_seq_id, llama_sampler *) XLC_REAL_NAME(llama_set_sampler);

bool wrap_llama_set_sampler(llama_context * ctx, llama_seq_id seq_id, llama_sampler * smpl) XLC_WRAP_NAME(llama_set_sampler);

bool wrap_llama_set_sampler(llama_context * ctx, llama_seq_id seq_id, llama_sampler * smpl) {
    if (t_loop.launching) {
        t_loop.launching = false;
        if (t_loop.has_launch) {
            t_loop.by_seq[seq_id] = t_loop.launch;
        } else {
            t_loop.by_seq.erase(seq_id);
        }
    }
    return real_llama_set_sampler(ctx, seq_id, smpl);
}

// common_speculative * common_speculative_init(common_params_speculative &, uint32_t)
common_speculative * real_common_speculative_init(common_params_speculative &, uint32_t) XLC_REAL_NAME(common_speculative_init);

common_speculative * wrap_common_speculative_init(common_params_speculative & params, uint32_t n_seq) XLC_WRAP_NAME(common_speculative_init);

common_speculative * wrap_common_speculative_init(common_params_speculative & params, uint32_t n_seq) {
    t_loop.initialising = true;
    t_loop.created.clear();
    common_speculative * spec = nullptr;
    try {
        spec = real_common_speculative_init(params, n_seq);
    } catch (...) {
        t_loop.initialising = false;
        throw;
    }
    t_loop.initialising = false;
    if (spec) {
        t_loop.n_seq[spec] = static_cast<int>(n_seq);
        t_loop.server_p_min = params.draft.p_min;
        // each draft implementation makes one sampler per sequence, sequence 0 first
        if (n_seq > 0 && t_loop.created.size() % n_seq == 0) {
            for (size_t k = 0; k < t_loop.created.size(); ++k) {
                t_loop.draft_sampler_seq[t_loop.created[k]] = static_cast<llama_seq_id>(k % n_seq);
            }
        }
    }
    t_loop.created.clear();
    return spec;
}

// void common_speculative_draft(common_speculative *)
void real_common_speculative_draft(common_speculative *) XLC_REAL_NAME(common_speculative_draft);

void wrap_common_speculative_draft(common_speculative * spec) XLC_WRAP_NAME(common_speculative_draft);

void wrap_common_speculative_draft(common_speculative * spec) {
    auto it = spec ? t_loop.n_seq.find(spec) : t_loop.n_seq.end();
    if (it == t_loop.n_seq.end() || t_loop.by_seq.empty()) {
        real_common_speculative_draft(spec);
        return;
    }
    const int n_seq = it->second;
    std::vector<std::pair<llama_seq_id, overrides>> active;
    for (const auto & [seq, o] : t_loop.by_seq) {
        if (seq < 0 || seq >= n_seq) continue;
        auto & dp = common_speculative_get_draft_params(spec, seq);
        if (!dp.drafting) continue;
        if (o.n_max == 0) {
            dp.drafting = false;  // no draft for this request
            continue;
        }
        if (o.n_max > 0) {
            dp.n_max = dp.n_max > 0 ? std::min(dp.n_max, o.n_max) : o.n_max;
        }
        active.emplace_back(seq, o);
    }
    t_loop.drafting = spec;
    try {
        real_common_speculative_draft(spec);
    } catch (...) {
        t_loop.drafting = nullptr;
        throw;
    }
    t_loop.drafting = nullptr;
    for (const auto & [seq, o] : active) {
        auto & dp = common_speculative_get_draft_params(spec, seq);
        if (o.n_min > 0 && dp.result && dp.result->size() < static_cast<size_t>(o.n_min)) {
            dp.result->clear();
        }
    }
}

// llama_token_data_array * common_sampler_get_candidates(common_sampler *, bool)
llama_token_data_array * real_common_sampler_get_candidates(common_sampler *, bool) XLC_REAL_NAME(common_sampler_get_candidates);

llama_token_data_array * wrap_common_sampler_get_candidates(common_sampler * smpl, bool do_sort) XLC_WRAP_NAME(common_sampler_get_candidates);

llama_token_data_array * wrap_common_sampler_get_candidates(common_sampler * smpl, bool do_sort) {
    llama_token_data_array * cur = real_common_sampler_get_candidates(smpl, do_sort);
    if (!t_loop.drafting || !do_sort || !cur || cur->size == 0) return cur;
    auto s = t_loop.draft_sampler_seq.find(smpl);
    if (s == t_loop.draft_sampler_seq.end()) return cur;
    auto o = t_loop.by_seq.find(s->second);
    if (o == t_loop.by_seq.end() || o->second.p_min < 0.0f) return cur;
    // the draft loop stops when the top candidate's p is under the server's p_min:
    // move p to the side of that threshold the request's p_min puts it on
    float & p = cur->data[0].p;
    if (p < o->second.p_min) {
        p = -1.0f;
    } else if (p < t_loop.server_p_min) {
        p = t_loop.server_p_min;
    }
    return cur;
}

