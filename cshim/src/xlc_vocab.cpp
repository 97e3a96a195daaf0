// A model file's vocabulary alone (llama.cpp's vocab_only load, no weights): llama_tokenize and
// llama_token_to_piece themselves, for callers that need token-exact text <-> ids with every flag
// (the llama_cpp compatibility package), and for vocabulary-only GGUF files no server can load.
#include "xlc_internal.h"

#include "llama.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace xlc;

struct xlc_vocab {
    llama_model * model;
    const llama_vocab * vocab;
};

extern "C" xlc_status xlc_vocab_open(const char * model_path, xlc_vocab ** out) {
    if (out) *out = nullptr;
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        if (!model_path) throw invalid("model_path is NULL");
        init_once();
        llama_model_params params = llama_model_default_params();
        params.vocab_only = true;
        log_capture_begin();
        llama_model * model = llama_model_load_from_file(model_path, params);
        const std::string captured = log_capture_end();
        if (!model) {
            throw error(XLC_ERR_MODEL_LOAD, std::string("cannot load the vocabulary of '") + model_path + "'" +
                                                (captured.empty() ? "" : ": " + captured));
        }
        *out = new xlc_vocab{model, llama_model_get_vocab(model)};
    });
}

static std::string meta_string(int32_t (*get)(const llama_model *, int32_t, char *, size_t),
                               const llama_model * model, int32_t i) {
    std::vector<char> buf(256);
    int32_t n = get(model, i, buf.data(), buf.size());
    if (n >= static_cast<int32_t>(buf.size())) {
        buf.resize(n + 1);
        n = get(model, i, buf.data(), buf.size());
    }
    return n < 0 ? std::string() : std::string(buf.data(), n);
}

extern "C" xlc_status xlc_vocab_info(const xlc_vocab * v, char ** out) {
    return return_text(out, [&] {
        if (!v) throw invalid("vocab is NULL");
        ojson metadata = ojson::object();
        for (int32_t i = 0; i < llama_model_meta_count(v->model); ++i) {
            metadata[meta_string(llama_model_meta_key_by_index, v->model, i)] =
                meta_string(llama_model_meta_val_str_by_index, v->model, i);
        }
        // a vocab_only load leaves the hyperparameters unread: the file's keys say them
        const std::string arch = metadata.value("general.architecture", "");
        auto number = [&](const char * key) -> long long {
            const std::string text = metadata.value(arch + "." + key, "");
            return text.empty() ? 0 : std::stoll(text);
        };
        return ojson{
            {"n_vocab", llama_vocab_n_tokens(v->vocab)},
            {"n_ctx_train", number("context_length")},
            {"n_embd", number("embedding_length")},
            {"bos", llama_vocab_bos(v->vocab)},
            {"eos", llama_vocab_eos(v->vocab)},
            {"nl", llama_vocab_nl(v->vocab)},
            {"sep", llama_vocab_sep(v->vocab)},
            {"fim_pre", llama_vocab_fim_pre(v->vocab)},
            {"fim_suf", llama_vocab_fim_suf(v->vocab)},
            {"fim_mid", llama_vocab_fim_mid(v->vocab)},
            {"add_bos", llama_vocab_get_add_bos(v->vocab)},
            {"add_eos", llama_vocab_get_add_eos(v->vocab)},
            {"metadata", metadata},
        }.dump();
    });
}

extern "C" xlc_status xlc_vocab_tokenize(const xlc_vocab * v, const char * text, size_t len, int add_special,
                                         int parse_special, char ** out) {
    return return_text(out, [&] {
        if (!v) throw invalid("vocab is NULL");
        if (!text && len) throw invalid("text is NULL");
        if (len > INT32_MAX) throw invalid("text is longer than 2 GiB");
        std::vector<llama_token> ids(len + 2);  // at most one token per byte, and BOS/EOS
        int32_t n = llama_tokenize(v->vocab, text ? text : "", static_cast<int32_t>(len), ids.data(),
                                   static_cast<int32_t>(ids.size()), add_special != 0, parse_special != 0);
        if (n < 0) {
            ids.resize(-static_cast<int64_t>(n));
            n = llama_tokenize(v->vocab, text ? text : "", static_cast<int32_t>(len), ids.data(),
                               static_cast<int32_t>(ids.size()), add_special != 0, parse_special != 0);
        }
        if (n < 0) throw error(XLC_ERR_INTERNAL, "llama_tokenize failed");
        ids.resize(n);
        return ojson(ids).dump();
    });
}

extern "C" xlc_status xlc_vocab_pieces(const xlc_vocab * v, const int * tokens, size_t n_tokens, int special,
                                       char ** out, size_t * out_len) {
    if (out) *out = nullptr;
    if (out_len) *out_len = 0;
    return guard([&] {
        if (!v) throw invalid("vocab is NULL");
        if (!out || !out_len) throw invalid("out or out_len is NULL");
        if (!tokens && n_tokens) throw invalid("tokens is NULL");
        const int32_t n_vocab = llama_vocab_n_tokens(v->vocab);
        std::string text;
        std::vector<char> buf(64);
        for (size_t i = 0; i < n_tokens; ++i) {
            if (tokens[i] < 0 || tokens[i] >= n_vocab) {
                throw invalid("token " + std::to_string(tokens[i]) + " is out of range [0, " +
                              std::to_string(n_vocab) + ")");
            }
            int32_t n = llama_token_to_piece(v->vocab, tokens[i], buf.data(), static_cast<int32_t>(buf.size()), 0,
                                             special != 0);
            if (n < 0) {
                buf.resize(-n);
                n = llama_token_to_piece(v->vocab, tokens[i], buf.data(), static_cast<int32_t>(buf.size()), 0,
                                         special != 0);
            }
            if (n > 0) text.append(buf.data(), n);
        }
        // the pieces may hold NUL bytes (a <0x00> byte token): the length travels beside them
        char * copy = static_cast<char *>(malloc(text.size() + 1));
        if (!copy) throw std::bad_alloc();
        memcpy(copy, text.data(), text.size());
        copy[text.size()] = '\0';
        *out = copy;
        *out_len = text.size();
    });
}

extern "C" void xlc_vocab_free(xlc_vocab * v) {
    if (!v) return;
    llama_model_free(v->model);
    delete v;
}
