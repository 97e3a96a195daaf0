// Compiled at configure time (llama_probe.cmake), never linked: the symbols it takes the address of
// are the ones the facade wraps at link time, and the object's undefined symbols are their mangled
// names in this llama.cpp, whatever types their parameters have here.
#include "json-schema-to-grammar.h"
#include "log.h"
#include "sampling.h"
#include "server-common.h"
#include "server-schema.h"
#include "speculative.h"

void * xlc_probe[] = {
    (void *) &common_log_add,
    (void *) &common_log_default_callback,
    (void *) static_cast<std::string (*)(const json &, bool)>(&json_schema_to_grammar),
    (void *) &server_schema::eval_llama_cmpl_schema,
    (void *) &common_sampler_init,
    (void *) &llama_set_sampler,
    (void *) &common_speculative_init,
    (void *) &common_speculative_draft,
    (void *) &common_sampler_get_candidates,
};
