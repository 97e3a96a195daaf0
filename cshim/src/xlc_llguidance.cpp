// LLGuidance without cargo: llama.cpp's common/llguidance.cpp is compiled
// against the llguidance sdist's header, and the llg_* functions it calls are
// forwarders (xlc_llg_forward.cpp) to the C API that the llguidance wheel's
// _lib.abi3.so exports, dlopen()ed at run time (xlc_llguidance_load).
//
// When that library is not loaded (missing, or PyPy, where it cannot resolve
// CPython's symbols), JSON schemas fall back to llama.cpp's GBNF engine: the
// link wraps json_schema_to_grammar() so that it is asked for GBNF.
#include "xlc_internal.h"
#include "xlc_llg_forward.h"

#include "xlc_llama_adapter.h"

#include "json-schema-to-grammar.h"

#include <atomic>

namespace {

std::atomic<bool> g_llg_enabled{true};

bool llg_active() { return xlc_llg_loaded() && g_llg_enabled.load(); }

} // namespace

// json_schema_to_grammar(const json &, bool force_gbnf), wrapped at link time (CMakeLists.txt)
using schema_json = xlc::llama::json;
std::string real_json_schema_to_grammar(const schema_json & schema, bool force_gbnf) XLC_REAL_NAME(json_schema_to_grammar);
std::string wrap_json_schema_to_grammar(const schema_json & schema, bool force_gbnf) XLC_WRAP_NAME(json_schema_to_grammar);

std::string wrap_json_schema_to_grammar(const schema_json & schema, bool force_gbnf) {
    if (force_gbnf || !llg_active()) {
        return real_json_schema_to_grammar(schema, true);
    }
    // LLGuidance's form only embeds the schema, and llama.cpp samples unconstrained when
    // LLGuidance then rejects it; converting it once checks it, so a bad schema is a 400
    real_json_schema_to_grammar(schema, true);
    // LLGuidance's JSON allows unbounded whitespace between tokens, where small models
    // loop on newlines until max_tokens; unless the schema says otherwise, ask for compact
    // JSON (GBNF bounds whitespace the same way)
    xlc::ojson s = xlc::ojson::parse(schema.dump());
    if (s.is_object() && !s.contains("x-guidance")) {
        s["x-guidance"] = {{"whitespace_flexible", false}};
    }
    return "%llguidance {}\nstart: %json " + s.dump();
}

extern "C" {

xlc_status xlc_llguidance_load(const char * path) {
    return xlc::guard([&] {
        if (!path || !*path) throw xlc::invalid("no path to the llguidance library");
        std::string error;
        if (!xlc_llg_open(path, error)) throw xlc::error(XLC_ERR_NOT_FOUND, error);
    });
}

void xlc_llguidance_enable(int enable) { g_llg_enabled.store(enable != 0); }

int xlc_llguidance_active(void) { return llg_active() ? 1 : 0; }

} // extern "C"
