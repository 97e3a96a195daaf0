// Request checks that run before llama.cpp's handlers, for HTTP and in-process
// callers alike. Each catches a client mistake that llama.cpp would otherwise
// answer with a 500 (an exception it does not classify), silently accept, or
// turn into a wrong result:
//   - token ids outside the vocabulary (/detokenize indexes a vector with them;
//     ids beyond 32 bits are truncated to another token);
//   - chat messages and tools of the wrong shape (OpenAI, Anthropic, Responses);
//   - images, audio or video for a model without a projector that takes them;
//   - LoRA adapter ids that no adapter has (llama-server answers "success");
//   - a JSON schema together with a grammar.
// Anything not checked here still reaches llama.cpp, whose own checks stand.
#include "xlc_server.h"

#include <cctype>
#include <stdexcept>

namespace xlc {

namespace {

constexpr size_t k_max_json_depth = 256;

[[noreturn]] void refuse(const std::string & where, const std::string & what) {
    throw std::invalid_argument(where + " " + what);
}

std::string at(const std::string & path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
std::string at(const std::string & path, const char * key) { return path.empty() ? key : path + "." + key; }

const ojson * member(const ojson & obj, const char * key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

void need_string(const ojson & obj, const char * key, const std::string & path, bool required) {
    const ojson * v = member(obj, key);
    if (!v) {
        if (required) refuse(at(path, key), "is required");
        return;
    }
    if (!v->is_string()) refuse(at(path, key), "must be a string, not " + std::string(v->type_name()));
}

void need_object(const ojson & v, const std::string & path) {
    if (!v.is_object()) refuse(path, "must be an object, not " + std::string(v.type_name()));
}

// --- token ids -----------------------------------------------------------------------

// The string value of obj[key], or "" when there is none.
std::string string_member(const ojson & obj, const char * key) {
    const ojson * v = member(obj, key);
    return v && v->is_string() ? v->get<std::string>() : std::string();
}

void check_token(const ojson & v, const std::string & path, const model_facts & facts) {
    if (!v.is_number_integer()) refuse(path, "must be an integer token id, not " + v.dump());
    const bool negative = v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0;
    const bool too_big = v.is_number_unsigned() ? v.get<uint64_t>() >= static_cast<uint64_t>(facts.n_vocab)
                                                : !negative && v.get<int64_t>() >= facts.n_vocab;
    if (negative || too_big) {
        refuse(path, "is " + v.dump() + ", not a token id of this model (0 <= id < " + std::to_string(facts.n_vocab) + ")");
    }
}

// A prompt as llama.cpp takes it: a string, token ids, or lists mixing both (one level deep
// for several prompts). Only the ids are checked; every other shape is llama.cpp's to judge.
void check_prompt_tokens(const ojson & v, const std::string & path, const model_facts & facts, int depth = 0) {
    if (v.is_number()) {
        check_token(v, path, facts);
    } else if (v.is_array() && depth < 2) {
        for (size_t i = 0; i < v.size(); ++i) check_prompt_tokens(v[i], at(path, i), facts, depth + 1);
    }
}

// --- media ---------------------------------------------------------------------------

void need_projector(bool supported, const char * kind, const std::string & path) {
    if (!supported) {
        refuse(path, std::string("is ") + kind + " input, which this model cannot take: it needs a multimodal projector "
                         "that handles " + kind + " (params.mmproj.path)");
    }
}

bool is_base64(const std::string & s) {
    if (s.empty()) return false;
    for (unsigned char c : s) {
        if (!(std::isalnum(c) || c == '+' || c == '/' || c == '=' || c == '-' || c == '_' || std::isspace(c))) return false;
    }
    return true;
}

// A media reference: an http(s) or file:// URL, a data: URI, or raw base64.
void check_media_url(const ojson & v, const std::string & path) {
    if (!v.is_string()) refuse(path, "must be a string (a URL, a data: URI or base64 data)");
    const std::string url = v.get<std::string>();
    if (url.rfind("http", 0) == 0 || url.rfind("file://", 0) == 0 || url.rfind("data:", 0) == 0) return;
    if (!is_base64(url)) refuse(path, "is neither a URL, a data: URI nor base64 data");
}

// --- OpenAI chat ---------------------------------------------------------------------

void check_content_part(const ojson & part, const std::string & path, const model_facts & facts) {
    need_object(part, path);
    need_string(part, "type", path, true);
    const std::string type = part["type"];
    if (type == "text" || type == "media_marker") {
        need_string(part, "text", path, true);
    } else if (type == "image_url") {
        need_projector(facts.has_image, "image", path);
        const ojson * image = member(part, "image_url");
        if (!image) refuse(at(path, "image_url"), "is required");
        need_object(*image, at(path, "image_url"));
        if (!member(*image, "url")) refuse(at(at(path, "image_url"), "url"), "is required");
        check_media_url((*image)["url"], at(at(path, "image_url"), "url"));
    } else if (type == "input_audio" || type == "input_video" || type == "video_url") {
        const bool audio = type == "input_audio";
        need_projector(audio ? facts.has_audio : facts.has_video, audio ? "audio" : "video", path);
        const ojson * media = member(part, type.c_str());
        if (!media) refuse(at(path, type.c_str()), "is required");
        need_object(*media, at(path, type.c_str()));
        const char * key = member(*media, "data") ? "data" : "url";
        if (!member(*media, key)) refuse(at(path, type.c_str()), "needs \"data\" or \"url\"");
        check_media_url((*media)[key], at(at(path, type.c_str()), key));
    } else {
        refuse(at(path, "type"), "is \"" + type + "\", not one of \"text\", \"image_url\", \"input_audio\", \"input_video\"");
    }
}

void check_tool_calls(const ojson & calls, const std::string & path) {
    if (calls.is_null()) return;
    if (!calls.is_array()) refuse(path, "must be a list of tool calls, not " + std::string(calls.type_name()));
    for (size_t i = 0; i < calls.size(); ++i) {
        const std::string p = at(path, i);
        need_object(calls[i], p);
        need_string(calls[i], "type", p, true);
        if (calls[i]["type"] != "function") refuse(at(p, "type"), "must be \"function\"");
        need_string(calls[i], "id", p, false);
        const ojson * fn = member(calls[i], "function");
        if (!fn) refuse(at(p, "function"), "is required");
        need_object(*fn, at(p, "function"));
        need_string(*fn, "name", at(p, "function"), true);
        const ojson * args = member(*fn, "arguments");
        if (!args) refuse(at(at(p, "function"), "arguments"), "is required");
        if (!args->is_string() && !args->is_object()) {
            refuse(at(at(p, "function"), "arguments"), "must be a JSON string or an object");
        }
    }
}

void check_chat_messages(const ojson & body, const model_facts & facts) {
    const ojson * messages = member(body, "messages");
    if (!messages) refuse("'messages'", "is required");  // llama.cpp's own wording
    if (!messages->is_array()) refuse("messages", "must be a list of messages, not " + std::string(messages->type_name()));
    for (size_t i = 0; i < messages->size(); ++i) {
        const ojson & msg = (*messages)[i];
        const std::string path = at("messages", i);
        need_object(msg, path);
        need_string(msg, "role", path, true);
        for (const char * key : {"name", "tool_call_id", "reasoning_content"}) {
            const ojson * v = member(msg, key);
            if (v && !v->is_null() && !v->is_string()) refuse(at(path, key), "must be a string");
        }
        const ojson * content = member(msg, "content");
        const ojson * calls = member(msg, "tool_calls");
        if (calls) check_tool_calls(*calls, at(path, "tool_calls"));
        if (!content) {
            if (!calls) refuse(path, "needs \"content\" (or \"tool_calls\" for an assistant message)");
            continue;
        }
        if (content->is_array()) {
            for (size_t j = 0; j < content->size(); ++j) check_content_part((*content)[j], at(at(path, "content"), j), facts);
        } else if (!content->is_string() && !content->is_null()) {
            refuse(at(path, "content"), "must be a string, a list of content parts or null, not " + std::string(content->type_name()));
        }
    }
}

void check_tools(const ojson & body) {
    const ojson * tools = member(body, "tools");
    if (!tools || tools->is_null()) return;
    if (!tools->is_array()) refuse("tools", "must be a list of tools, not " + std::string(tools->type_name()));
    for (size_t i = 0; i < tools->size(); ++i) {
        const ojson & tool = (*tools)[i];
        const std::string path = at("tools", i);
        need_object(tool, path);
        need_string(tool, "type", path, true);
        if (tool["type"] != "function") refuse(at(path, "type"), "must be \"function\"");
        const ojson * fn = member(tool, "function");
        if (!fn) refuse(at(path, "function"), "is required");
        need_object(*fn, at(path, "function"));
        need_string(*fn, "name", at(path, "function"), true);
        need_string(*fn, "description", at(path, "function"), false);
        const ojson * params = member(*fn, "parameters");
        if (params && !params->is_null() && !params->is_object()) {
            refuse(at(at(path, "function"), "parameters"), "must be a JSON schema object");
        }
    }
}

void check_schema_and_grammar(const ojson & body) {
    const ojson * schema = member(body, "json_schema");
    const ojson * grammar = member(body, "grammar");
    if (schema && !schema->is_null() && grammar && grammar->is_string() && !grammar->get<std::string>().empty()) {
        refuse("json_schema", "and grammar cannot be used together");
    }
}

// --- Anthropic messages --------------------------------------------------------------

void check_anthropic_block(const ojson & block, const std::string & path, const model_facts & facts);

// The blocks of a "content" that is a list (a message's, or a tool_result's); a string needs no check.
void check_anthropic_content(const ojson & holder, const std::string & path, const model_facts & facts) {
    const ojson * content = member(holder, "content");
    if (!content || !content->is_array()) return;
    for (size_t i = 0; i < content->size(); ++i) {
        check_anthropic_block((*content)[i], at(at(path, "content"), i), facts);
    }
}

void check_anthropic_block(const ojson & block, const std::string & path, const model_facts & facts) {
    need_object(block, path);
    need_string(block, "type", path, true);
    const std::string type = block["type"];
    if (type == "text") {
        need_string(block, "text", path, true);
    } else if (type == "image") {
        need_projector(facts.has_image, "image", path);
        const ojson * source = member(block, "source");
        if (!source) refuse(at(path, "source"), "is required");
        need_object(*source, at(path, "source"));
    } else if (type == "tool_result") {
        check_anthropic_content(block, path, facts);
    }
}

void check_anthropic_messages(const ojson & body, const model_facts & facts) {
    const ojson * messages = member(body, "messages");
    if (!messages) refuse("'messages'", "is required");
    if (!messages->is_array()) refuse("messages", "must be a list of messages, not " + std::string(messages->type_name()));
    for (size_t i = 0; i < messages->size(); ++i) {
        const ojson & msg = (*messages)[i];
        const std::string path = at("messages", i);
        need_object(msg, path);
        need_string(msg, "role", path, true);
        check_anthropic_content(msg, path, facts);
    }
}

// --- OpenAI responses ----------------------------------------------------------------

void check_responses_input(const ojson & body, const model_facts & facts) {
    const ojson * input = member(body, "input");
    if (!input || !input->is_array()) return;
    for (size_t i = 0; i < input->size(); ++i) {
        const ojson * content = member((*input)[i], "content");
        if (!content || !content->is_array()) continue;
        for (size_t j = 0; j < content->size(); ++j) {
            const ojson & part = (*content)[j];
            if (string_member(part, "type") == "input_image") {
                need_projector(facts.has_image, "image", at(at(at("input", i), "content"), j));
            }
        }
    }
}

// --- LoRA ----------------------------------------------------------------------------

void check_lora_list(const ojson & list, const std::string & path, const model_facts & facts) {
    if (!list.is_array()) refuse(path, "must be a list of {\"id\", \"scale\"} objects");
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string p = at(path, i);
        need_object(list[i], p);
        const ojson * id = member(list[i], "id");
        if (!id) refuse(at(p, "id"), "is required");
        const std::string range = facts.n_lora == 0 ? "this server has no LoRA adapters (params.lora_adapters)"
                                                    : "adapters are numbered 0 to " + std::to_string(facts.n_lora - 1);
        if (!id->is_number_integer()) refuse(at(p, "id"), "must be an integer; " + range);
        const bool out_of_range = id->is_number_unsigned() ? id->get<uint64_t>() >= facts.n_lora
                                                           : id->get<int64_t>() < 0 || static_cast<uint64_t>(id->get<int64_t>()) >= facts.n_lora;
        if (out_of_range) refuse(at(p, "id"), "is " + id->dump() + ", but " + range);
        const ojson * scale = member(list[i], "scale");
        if (scale && !scale->is_number()) refuse(at(p, "scale"), "must be a number");
    }
}

bool is_one_of(const std::string & path, std::initializer_list<const char *> paths) {
    for (const char * p : paths) {
        if (path == p) return true;
    }
    return false;
}

// How deeply arrays and objects nest in JSON text (strings skipped), stopping past `limit`.
size_t json_depth(const std::string & text, size_t limit) {
    size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest && (deepest = depth) > limit) break;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

} // namespace

void validate_request(const std::string & method, const std::string & route_path,
                      const std::string & body_text, const model_facts & facts) {
    if (method != "POST") return;
    // nlohmann's JSON (llama.cpp's and ours) copies and frees nested values recursively: a
    // body nested a hundred thousand deep overflows the stack before any check could run
    if (json_depth(body_text, k_max_json_depth) > k_max_json_depth) {
        refuse("the request body", "nests arrays and objects more than " + std::to_string(k_max_json_depth) + " deep");
    }
    // a body that does not parse is llama.cpp's to refuse (400, with the parser's message)
    const ojson body = ojson::parse(body_text, nullptr, false);
    if (body.is_discarded()) return;

    if (route_path == "/lora-adapters") {
        check_lora_list(body, "body", facts);
        return;
    }
    // every other route reads fields of an object (llama.cpp's Anthropic routes answered 500 otherwise)
    if (!body.is_object()) {
        refuse("the request body", "must be a JSON object, not " + std::string(body.type_name()));
    }

    if (route_path == "/detokenize") {
        if (const ojson * tokens = member(body, "tokens")) {
            if (!tokens->is_array()) refuse("tokens", "must be a list of token ids");
            for (size_t i = 0; i < tokens->size(); ++i) check_token((*tokens)[i], at("tokens", i), facts);
        }
        return;
    }
    if (is_one_of(route_path, {"/completion", "/completions", "/v1/completions", "/infill", "/tokenize",
                               "/embedding", "/embeddings", "/v1/embeddings"})) {
        for (const char * key : {"prompt", "input", "content"}) {
            if (const ojson * v = member(body, key)) check_prompt_tokens(*v, key, facts);
        }
    }
    if (is_one_of(route_path, {"/chat/completions", "/v1/chat/completions", "/apply-template",
                               "/chat/completions/input_tokens", "/v1/chat/completions/input_tokens"})) {
        check_chat_messages(body, facts);
        check_tools(body);
    }
    if (is_one_of(route_path, {"/v1/messages", "/v1/messages/count_tokens"})) {
        check_anthropic_messages(body, facts);
    }
    if (is_one_of(route_path, {"/v1/responses", "/responses", "/responses/input_tokens", "/v1/responses/input_tokens"})) {
        check_responses_input(body, facts);
    }
    if (const ojson * lora = member(body, "lora")) {
        if (!lora->is_null()) check_lora_list(*lora, "lora", facts);
    }
    check_schema_and_grammar(body);
}

} // namespace xlc
