// The common_params table and its JSON conversions (xlc_params.cpp).
#pragma once

#include "xlc_internal.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

struct common_params;

namespace xlc {

// One row of xlc_params_table.inc (generated from the vendored tree by cshim/gen_params.py).
struct field {
    const char * name;  // dotted path inside common_params
    const char * flag;  // flags whose handlers set it, space-separated, best first, or nullptr
    const char * help;  // fallback help
    std::string (*type)();
    ojson (*get)(const common_params &);
    void (*set)(common_params &, const ojson &);
    bool view = false;  // not a member: another member seen another way (XLC_VIEW)
};

const std::vector<field> & fields();
const field * find_field(const std::string & name);

common_params make_params();  // llama.cpp's defaults, every member initialised
ojson params_to_json(const common_params & p);
void  params_apply(common_params & p, const ojson & values);  // throws xlc::error
void  params_parse_args(common_params & p, const std::vector<std::string> & args);
ojson params_schema();
const std::set<std::string> & exiting_flags();  // llama-server flags whose handlers exit() the process

// xlc_params_check.cpp: ranges llama.cpp would assert on, checked before it sees them.
void params_check_field(const std::string & name, const common_params & p);  // one field's own range
void params_check_ranges(const common_params & p);                           // every field's own range
void params_check_server(const common_params & p);                           // all of them, and their relations
std::vector<std::string> params_checked_fields();

// xlc_model_defaults.cpp: defaults chosen from the model's metadata, for the fields not in `given`.
void apply_model_defaults(common_params & p, const ojson & given);

} // namespace xlc
