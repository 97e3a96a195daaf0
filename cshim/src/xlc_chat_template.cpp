// A chat template for a model file that carries none.
//
// llama.cpp falls back to ChatML there, whatever the model: Gemma then answers past its turn
// with <|im_end|><|im_start|>... until max_tokens. llama.cpp ships built-in (non-jinja)
// templates named after model families (llama_chat_builtin_templates()), so the facade picks
// one from what the file says about itself, reading every table from llama.cpp:
//   - architecture: a built-in name equal to general.architecture, or the same family with
//     another version number (gemma for gemma3, llama2/llama3/llama4 for llama);
//   - tokenizer: the candidate's own rendering of a short chat (llama_chat_apply_template)
//     must contain control or user-defined tokens of this vocabulary (gemma's <start_of_turn>,
//     llama3's <|eot_id|>); the one that contains most wins.
// The built-in formats are not jinja, and llama.cpp's tools (which the web UI sends with every
// chat) need jinja; so the facade then looks among the jinja templates llama.cpp ships
// (models/templates, embedded at build time) for one that llama.cpp itself detects as that
// format, and uses it with jinja on. Only without one does it set the name and turn jinja off.
// Nothing fits: llama.cpp's fallback stays. An explicit chat_template always wins.
#include "xlc_server.h"

#include "gguf.h"
#include "llama.h"
#include "log.h"

#include <cctype>
#include <memory>
#include <vector>

namespace xlc {

namespace {

struct gguf_free_fn {
    void operator()(gguf_context * g) const { gguf_free(g); }
};

std::string string_value(const gguf_context * g, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(g, id);
}

bool has_chat_template(const gguf_context * g) {
    const std::string key = "tokenizer.chat_template";
    for (int64_t i = 0; i < gguf_get_n_kv(g); ++i) {
        const std::string k = gguf_get_key(g, i);
        if (k == key || k.rfind(key + ".", 0) == 0) return true;  // the default, or a named one (tool_use)
    }
    return false;
}

// A name without its trailing version: gemma3 -> gemma, llama2 -> llama; llama2-sys stays.
std::string family(const std::string & name) {
    size_t end = name.size();
    while (end > 0 && (std::isdigit(static_cast<unsigned char>(name[end - 1])) || name[end - 1] == '.')) --end;
    return name.substr(0, end);
}

// The vocabulary's control and user-defined tokens: the markers a template may be built of.
std::vector<std::string> marker_tokens(const gguf_context * g) {
    std::vector<std::string> out;
    const int64_t tokens = gguf_find_key(g, "tokenizer.ggml.tokens");
    const int64_t types = gguf_find_key(g, "tokenizer.ggml.token_type");
    if (tokens < 0 || types < 0 || gguf_get_kv_type(g, tokens) != GGUF_TYPE_ARRAY ||
        gguf_get_kv_type(g, types) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, tokens) != GGUF_TYPE_STRING ||
        gguf_get_arr_type(g, types) != GGUF_TYPE_INT32 || gguf_get_arr_n(g, tokens) != gguf_get_arr_n(g, types)) {
        return out;
    }
    const auto * type = static_cast<const int32_t *>(gguf_get_arr_data(g, types));
    for (size_t i = 0; i < gguf_get_arr_n(g, tokens); ++i) {
        if (type[i] == LLAMA_TOKEN_TYPE_CONTROL || type[i] == LLAMA_TOKEN_TYPE_USER_DEFINED) {
            std::string text = gguf_get_arr_str(g, tokens, i);
            if (text.size() > 1) out.push_back(std::move(text));
        }
    }
    return out;
}

struct shipped_template {
    const char * name;
    const char * source;
};

const shipped_template k_shipped[] = {
#define XLC_CHAT_TEMPLATE(name, source) {name, source},
#include "xlc_chat_templates.inc"
#undef XLC_CHAT_TEMPLATE
};

std::string render(const char * name) {
    const llama_chat_message chat[] = {{"system", "S"}, {"user", "U"}, {"assistant", "A"}, {"user", "V"}};
    const int32_t n = llama_chat_apply_template(name, chat, 4, true, nullptr, 0);
    if (n <= 0) return "";
    std::string out(static_cast<size_t>(n), '\0');
    llama_chat_apply_template(name, chat, 4, true, out.data(), n);
    return out;
}

} // namespace

void default_chat_template(common_params & p) {
    if (!p.chat_template.empty() || p.model.path.empty()) return;
    gguf_init_params init{/* no_alloc */ true, /* ctx */ nullptr};
    std::unique_ptr<gguf_context, gguf_free_fn> g(gguf_init_from_file(p.model.path.c_str(), init));
    if (!g || has_chat_template(g.get())) return;
    // llama.cpp names a template itself for one tokenizer (llama_model_chat_template: tekken)
    if (string_value(g.get(), "tokenizer.ggml.pre") == "tekken") return;
    const std::string arch = string_value(g.get(), "general.architecture");
    if (arch.empty()) return;

    std::vector<const char *> names(llama_chat_builtin_templates(nullptr, 0));
    llama_chat_builtin_templates(names.data(), names.size());
    const std::vector<std::string> markers = marker_tokens(g.get());
    std::string best;
    size_t best_score = 0;
    for (const char * name : names) {
        const std::string n = name;
        if (n != arch && (family(n) != family(arch) || family(n).empty())) continue;
        const std::string text = render(name);
        size_t score = 0;
        for (const auto & m : markers) score += text.find(m) != std::string::npos;
        // most markers first; on a tie the architecture's own name, then llama.cpp's order
        if (score > best_score || (score == best_score && score > 0 && n == arch)) {
            best = n;
            best_score = score;
        }
    }
    if (best.empty()) return;
    // a shipped jinja template that llama.cpp detects as this format renders the sample as it does
    const std::string expected = render(best.c_str());
    const char * shipped = nullptr;
    if (p.use_jinja) {
        for (const auto & t : k_shipped) {
            if (render(t.source) == expected) {
                shipped = t.name;
                p.chat_template = t.source;
                break;
            }
        }
    }
    if (!shipped) {
        p.chat_template = best;
        p.use_jinja = false;  // a built-in format is llama.cpp's own formatter, not a jinja source
    }
    LOG_INF("xllamacpp: %s has no chat template: using llama.cpp's built-in '%s' format "
            "(architecture %s; %zu of its markers are tokens of this vocabulary), %s%s%s; "
            "set chat_template to choose another\n",
            p.model.path.c_str(), best.c_str(), arch.c_str(), best_score,
            shipped ? "as llama.cpp's jinja template models/templates/" : "without jinja",
            shipped ? shipped : "", shipped ? ".jinja" : "");
}

} // namespace xlc
