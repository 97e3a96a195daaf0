// System and device information, and JSON schema to grammar conversion.
#include "xlc_internal.h"
#include "xlc_llama_adapter.h"

#include "ggml-backend.h"
#include "json-schema-to-grammar.h"
#include "llama.h"

using namespace xlc;

extern "C" {

xlc_status xlc_system_info(char ** out) {
    return return_text(out, [] {
        init_once();
        return std::string(llama_print_system_info());
    });
}

xlc_status xlc_devices(char ** out) {
    return return_text(out, [] {
        init_once();
        ojson list = ojson::array();
        for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
            ggml_backend_dev_t dev = ggml_backend_dev_get(i);
            ggml_backend_dev_props props;
            ggml_backend_dev_get_props(dev, &props);
            list.push_back({
                {"name", props.name ? props.name : ""},
                {"description", props.description ? props.description : ""},
                {"type", static_cast<int>(props.type)},  // ggml_backend_dev_type
                {"backend", ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev))},
                {"device_id", props.device_id ? props.device_id : ""},
                {"memory_free", props.memory_free},
                {"memory_total", props.memory_total},
                {"caps", {
                    {"async", props.caps.async},
                    {"host_buffer", props.caps.host_buffer},
                    {"buffer_from_host_ptr", props.caps.buffer_from_host_ptr},
                    {"events", props.caps.events},
                }},
            });
        }
        return list.dump();
    });
}

xlc_status xlc_json_schema_to_grammar(const char * schema_json, char ** out) {
    return guard([&] {
        if (out == nullptr) {
            throw invalid("out is NULL");
        }
        *out = nullptr;
        if (schema_json == nullptr) {
            throw invalid("schema is NULL");
        }
        llama::json schema;
        try {
            schema = llama::json::parse(std::string(schema_json));
        } catch (const std::exception & e) {
            throw invalid(std::string("schema is not valid JSON: ") + e.what());
        }
        if (!schema.is_object() && !schema.is_boolean()) {
            throw invalid("a JSON schema must be an object or a boolean");
        }
        std::string grammar;
        try {
            grammar = json_schema_to_grammar(schema);  // LLGuidance's form when active (xlc_llguidance.cpp)
        } catch (const std::exception & e) {
            throw invalid(e.what());
        }
        *out = dup_or_throw(grammar);
    });
}

} // extern "C"
