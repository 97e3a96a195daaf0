/*
 * xlc.h - the plain-C facade over llama.cpp and its server.
 *
 * One prefix (xlc_), opaque handles, JSON text in and out. No C++ type and no
 * exception crosses this boundary. One failure convention: every function that
 * can fail returns an xlc_status and hands its result through an out-parameter;
 * on failure xlc_last_error() holds the message on the failing thread and the
 * out-parameters are NULL (or 0). Functions that return a value directly
 * (xlc_abi_version, xlc_backend, xlc_status_string, ...) cannot fail.
 *
 * Ownership: every `char *` this library returns is the caller's and is
 * released with xlc_free(). Every `const char *` it returns is the library's.
 *
 * This header is also the input of build_ffi.py (cffi, ABI mode), so it keeps
 * to the subset of C that cffi's cdef parser reads: no #include in the
 * declarations, no macros other than plain integer #defines.
 */
#ifndef XLC_H
#define XLC_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef XLC_NO_SYSTEM_HEADERS
#include <stddef.h>
#endif

#if defined(XLC_BUILDING)
#define XLC_API __attribute__((visibility("default")))
#else
#define XLC_API
#endif

/* XLC_CDEF_BEGIN (build_ffi.py reads from here to XLC_CDEF_END) */

/* Bumped whenever a declaration below changes; the Python module refuses a
 * library whose xlc_abi_version() differs from the one it was generated from. */
#define XLC_ABI_VERSION 4

typedef enum xlc_status {
    XLC_OK                   = 0,
    XLC_ERR_INVALID_ARGUMENT = 1, /* bad JSON, unknown name, wrong type or value */
    XLC_ERR_NOT_FOUND        = 2, /* no such route or file */
    XLC_ERR_MODEL_LOAD       = 3, /* the model (or a projector, adapter) failed to load */
    XLC_ERR_IO               = 4, /* the HTTP listener could not start */
    XLC_ERR_CLOSED           = 5, /* the server is closing or closed */
    XLC_ERR_CALLBACK         = 6, /* the stream callback failed; the generation was stopped */
    XLC_ERR_INTERNAL         = 7, /* anything else; the message says what */
    XLC_ERR_REQUEST          = 8  /* xlc_server_handle: the route refused the request outright (its handler
                                     threw); the error answer is in *out_status and *out_body as usual */
} xlc_status;

/* Log levels, the same numbers as ggml_log_level. */
typedef enum xlc_log_level {
    XLC_LOG_DEBUG = 1,
    XLC_LOG_INFO  = 2,
    XLC_LOG_WARN  = 3,
    XLC_LOG_ERROR = 4
} xlc_log_level;

/* Flags of xlc_server_handle(). */
#define XLC_STREAM_EVENTS 1 /* deliver each server-sent event's data payload alone, without "data: " framing or the final [DONE] */

typedef struct xlc_server xlc_server;

/* Receives one chunk of a streamed response; `data` is valid only during the
 * call. Return 0 to go on, 1 to stop the generation at once (its slot is
 * freed), -1 to stop and report XLC_ERR_CALLBACK. Called on the calling thread. */
typedef int (*xlc_stream_callback)(const char * data, size_t len, void * user_data);

/* --- library ------------------------------------------------------------- */

/* The XLC_ABI_VERSION this library was built with. */
XLC_API int xlc_abi_version(void);

/* The backend this library was built for: "cpu", "cuda", "hip" or "vulkan". Library-owned. */
XLC_API const char * xlc_backend(void);

/* The vendored llama.cpp's build number and commit, as JSON in *out (caller frees). */
XLC_API xlc_status xlc_build_info(char ** out);

/* A short English description of a status ("invalid argument"). Library-owned; never NULL. */
XLC_API const char * xlc_status_string(xlc_status status);

/* Message of the last failing call on this thread ("" if none). Library-owned, valid until this thread's next call. */
XLC_API const char * xlc_last_error(void);

/* Releases a string returned by this library. NULL is a no-op. */
XLC_API void xlc_free(char * s);

/* --- logging ------------------------------------------------------------- */

/* Lowest level kept from llama.cpp's logs; lower ones are dropped before they are formatted. Default: XLC_LOG_WARN. */
XLC_API void xlc_log_set_level(int level);

/* Waits up to timeout_ms for the next log record: its level in *level and its caller-freed text in *text,
 * or *text NULL on timeout. Records are queued (bounded, oldest dropped) so that llama.cpp's threads
 * never wait on the caller. */
XLC_API xlc_status xlc_log_next(int timeout_ms, int * level, char ** text);

/* --- system -------------------------------------------------------------- */

/* llama.cpp's system info line ("CPU : SSE3 = 1 | ...") in *out (caller frees). */
XLC_API xlc_status xlc_system_info(char ** out);

/* The devices ggml sees, as a JSON array of {name, description, type (ggml_backend_dev_type), backend,
 * device_id, memory_free, memory_total, caps} in *out (caller frees). */
XLC_API xlc_status xlc_devices(char ** out);

/* A GGUF file's metadata and tensor table as JSON in *out (caller frees); no tensor data is read:
 * {"kv": {key: {"type", "value"}}, "tensors": {name: {"n_bytes", "type", "offset"}}}, gguf_type numbers;
 * an array is {"type": 9, "elem", "length"}, with its "value" when it has at most 1024 items. */
XLC_API xlc_status xlc_gguf_info(const char * path, char ** out);

/* Converts a JSON schema to a grammar llama.cpp's sampler accepts; *out is caller-freed. */
XLC_API xlc_status xlc_json_schema_to_grammar(const char * schema_json, char ** out);

/* --- structured output: LLGuidance ---------------------------------------- */

/* Loads the llguidance wheel's library (its _lib.abi3.so, which exports the llg_* C API) so that JSON
 * schemas and "%llguidance" grammars use LLGuidance; until then they use llama.cpp's GBNF engine. */
XLC_API xlc_status xlc_llguidance_load(const char * path);

/* Turns LLGuidance off (0) or back on (1) once loaded; off, JSON schemas become GBNF. */
XLC_API void xlc_llguidance_enable(int enable);

/* 1 when JSON schemas go to LLGuidance, 0 when they go to GBNF. */
XLC_API int xlc_llguidance_active(void);

/* --- parameters (common_params) ------------------------------------------ */

/* Every field of common_params with its type, default and help, and every enum, as JSON in *out (caller frees). */
XLC_API xlc_status xlc_params_schema(char ** out);

/* Applies a JSON object of dotted field names onto llama.cpp's defaults, checks each value's type and
 * range, and returns the whole resulting parameter set as JSON in *out (caller frees). */
XLC_API xlc_status xlc_params_apply(const char * params_json, char ** out);

/* Parses llama-server's command-line flags (a JSON array of strings, without argv[0]) onto the
 * parameters given as JSON (NULL: defaults) and returns the result as JSON in *out (caller frees). */
XLC_API xlc_status xlc_params_from_args(const char * params_json, const char * args_json, char ** out);

/* --- server -------------------------------------------------------------- */

/* Checks every parameter that llama.cpp would otherwise assert on (XLC_ERR_INVALID_ARGUMENT naming the
 * field and its range), loads the model in params_json (as xlc_params_apply takes), starts the server
 * loop and its HTTP listener; *out is freed with xlc_server_free. */
XLC_API xlc_status xlc_server_create(const char * params_json, xlc_server ** out);

/* The HTTP address the server listens on, "http://HOST:PORT" ("" if none), in *out (caller frees). */
XLC_API xlc_status xlc_server_address(xlc_server * server, char ** out);

/* The parameters the server runs with, as xlc_params_apply returns them: those it was given, with the
 * values it resolves as it starts filled in (a thread count of -1 is the number of math cores, the
 * batch and draft thread counts inherit it), in *out (caller frees). */
XLC_API xlc_status xlc_server_params(xlc_server * server, char ** out);

/* Runs one request through the same route table the HTTP listener serves, with the same checks
 * (a client mistake is a 4xx answer with an error object, and XLC_OK).
 * method: "GET", "POST" or "DELETE"; path may carry a query string; body may be NULL (then body_len 0).
 * A streamed response goes chunk by chunk to callback (flags: XLC_STREAM_*) and *out_body is "";
 * otherwise *out_body holds the whole body. *out_status is the HTTP status; XLC_ERR_REQUEST marks an
 * error answer made from the route's refusal (the handler, or the facade's checks before it, threw)
 * rather than returned by it. *out_body and *out_content_type (either may be NULL) are caller-freed.
 * Safe to call from many threads at once, and from a stream callback. XLC_ERR_CLOSED when the server
 * is closed before or during the call. */
XLC_API xlc_status xlc_server_handle(xlc_server * server, const char * method, const char * path,
                                     const char * body, size_t body_len, int flags,
                                     xlc_stream_callback callback, void * user_data,
                                     int * out_status, char ** out_body, char ** out_content_type);

/* Stops the HTTP listener and the loop and ends every request in flight (in-process calls return
 * XLC_ERR_CLOSED, HTTP clients get a 503 or a closed connection) within about a second. Callable from
 * any thread, a stream callback included (the model is then freed when that call returns). Safe to
 * call more than once; the handle stays valid until xlc_server_free. */
XLC_API xlc_status xlc_server_close(xlc_server * server);

/* Closes (if needed) and frees the server. NULL is a no-op. From inside a stream callback, the server
 * is freed when the call that runs the callback returns. */
XLC_API void xlc_server_free(xlc_server * server);

/* --- RPC: ggml's RPC backend (xlc_rpc.cpp) --------------------------------- */

/* Connects to a ggml RPC server at "HOST:PORT" and asks its protocol version and devices, giving up
 * after timeout_ms. *out (caller frees): {"endpoint", "protocol", "devices": [{memory_free, memory_total}]}.
 * A server that cannot be reached or does not answer is XLC_ERR_IO, the message naming the address. */
XLC_API xlc_status xlc_rpc_probe(const char * endpoint, int timeout_ms, char ** out);

/* The devices of the RPC servers named so far in this process (params "rpc_servers", --rpc), shaped as
 * xlc_devices() plus "endpoint", "reachable" and "error", as JSON in *out (caller frees). */
XLC_API xlc_status xlc_rpc_devices(char ** out);

/* Serves this machine's devices to RPC clients on host:port (an IPv4 address) until it fails; it never
 * returns otherwise, and has no stop call: run it in a process of its own. devices: comma-separated
 * names (NULL: the GPUs, else the CPU); threads <= 0: half the cores; cache_dir may be NULL. */
XLC_API xlc_status xlc_rpc_serve(const char * host, int port, const char * devices, int threads, const char * cache_dir);

/* --- backends ------------------------------------------------------------ */

/* The CPU kernels in use, as JSON {"chosen": name, "variants": [{"name", "score"}, ...]}. A portable
 * build holds ggml's CPU backend once per instruction-set level and uses the best-scoring one this CPU
 * runs (score 0: it cannot), or the one $XLLAMACPP_CPU_VARIANT names if this CPU runs it; a build for
 * its build machine's CPU reports "native" and no variants. Caller frees. */
XLC_API char * xlc_cpu_variants(void);
/* --- requests read event by event (xlc_request.cpp) ----------------------- */

typedef struct xlc_request xlc_request;

/* Starts one request as xlc_server_handle() runs it (same method, path, body and flags) on a thread of its own,
 * and returns at once. Its events queue until xlc_request_next() takes them; when max_pending of them wait
 * untaken, the generation is stopped (its slot freed) and the request ends with XLC_ERR_CALLBACK.
 * *out is released with xlc_request_free(). */
XLC_API xlc_status xlc_request_start(xlc_server * server, const char * method, const char * path,
                                     const char * body, size_t body_len, int flags, size_t max_pending,
                                     xlc_request ** out);

/* Takes the next event, waiting up to timeout_ms (< 0: as long as it takes). Returns 1 for a streamed event,
 * 2 for a whole unstreamed answer (always the last), each in *out_data (caller frees) and *out_len;
 * 0 when none came in time; -1 once the request has ended and everything was taken. */
XLC_API int xlc_request_next(xlc_request * request, int timeout_ms, char ** out_data, size_t * out_len);

/* A descriptor that turns readable when xlc_request_next() has something again after it returned 0 (read and
 * drop its bytes), for event loops. Library-owned, valid until xlc_request_free(); -1 if none could be made. */
XLC_API int xlc_request_fd(xlc_request * request);

/* How an ended request went: the status xlc_server_handle() returned (its message in xlc_last_error() on this
 * thread), the HTTP status and content type (caller frees). XLC_ERR_INVALID_ARGUMENT while it still runs. */
XLC_API xlc_status xlc_request_result(xlc_request * request, int * out_status, char ** out_content_type);

/* Stops the request's generation (its slot is freed within a decoding step, or within a second while the
 * prompt is processed); the request then ends. Safe from any thread. */
XLC_API void xlc_request_cancel(xlc_request * request);

/* Cancels the request if it still runs and releases the handle, without waiting for its thread. */
XLC_API void xlc_request_free(xlc_request * request);

/* Waits until every request started on server has ended (xlc_server_close() ends them); call before
 * xlc_server_free() when requests were started. */
XLC_API void xlc_server_wait_requests(xlc_server * server);

/* --- a model file's vocabulary alone (xlc_vocab.cpp) ---------------------- */

typedef struct xlc_vocab xlc_vocab;

/* Loads only the vocabulary and metadata of a GGUF model (llama.cpp's vocab_only: no weights, no
 * context), so that vocabulary-only files open too. *out is released with xlc_vocab_free(). */
XLC_API xlc_status xlc_vocab_open(const char * model_path, xlc_vocab ** out);

/* JSON in *out (caller frees): {"n_vocab", "n_ctx_train", "n_embd", "bos", "eos", "nl", "sep", "fim_pre",
 * "fim_suf", "fim_mid" (token ids, -1 when none), "add_bos", "add_eos", "metadata": {key: value as text}}. */
XLC_API xlc_status xlc_vocab_info(const xlc_vocab * vocab, char ** out);

/* llama_tokenize of the len bytes at text, as a JSON array of token ids in *out (caller frees). */
XLC_API xlc_status xlc_vocab_tokenize(const xlc_vocab * vocab, const char * text, size_t len, int add_special,
                                      int parse_special, char ** out);

/* The pieces of n_tokens tokens (llama_token_to_piece, no space stripped; special: render special tokens),
 * concatenated into *out (caller frees; the bytes may hold NULs) with their length in *out_len. */
XLC_API xlc_status xlc_vocab_pieces(const xlc_vocab * vocab, const int * tokens, size_t n_tokens, int special,
                                    char ** out, size_t * out_len);

/* Releases a vocabulary. NULL is a no-op. */
XLC_API void xlc_vocab_free(xlc_vocab * vocab);

/* XLC_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* XLC_H */
