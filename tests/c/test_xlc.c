/*
 * test_xlc.c - the C facade from C, as a C program sees it (xlc.h only).
 *
 *   test_xlc            the checks that need no model: status codes, NULL arguments,
 *                       bad JSON, parameter ranges, strings and their ownership
 *   test_xlc MODEL      also serves MODEL: requests, streamed events, and close()
 *                       racing requests, other close() calls and stream callbacks
 *
 * Prints one line per failed check and exits non-zero if any failed.
 */
#include "xlc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        ++g_checks;                                                   \
        if (!(cond)) {                                                \
            ++g_failures;                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, " [last error: %s]\n", xlc_last_error()); \
        }                                                             \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* --- no model --------------------------------------------------------------------- */

static void test_identity(void) {
    CHECK(xlc_abi_version() == XLC_ABI_VERSION, "abi version %d != %d", xlc_abi_version(), XLC_ABI_VERSION);
    CHECK(xlc_backend() != NULL && strlen(xlc_backend()) > 0, "backend name");
    for (int s = XLC_OK; s <= XLC_ERR_INTERNAL; ++s) {
        const char * text = xlc_status_string((xlc_status) s);
        CHECK(text != NULL && strlen(text) > 0 && strcmp(text, "unknown status") != 0, "status string of %d", s);
    }
    CHECK(strcmp(xlc_status_string((xlc_status) 99), "unknown status") == 0, "unknown status string");
    CHECK(strcmp(xlc_status_string(XLC_ERR_INVALID_ARGUMENT), xlc_status_string(XLC_ERR_NOT_FOUND)) != 0,
          "distinct status strings");

    char * info = NULL;
    char abi_field[32];
    snprintf(abi_field, sizeof abi_field, "\"abi_version\":%d", XLC_ABI_VERSION);
    CHECK(xlc_build_info(&info) == XLC_OK && info && strstr(info, abi_field), "build info: %s", info);
    xlc_free(info);
    CHECK(strcmp(xlc_last_error(), "") == 0, "a successful call clears the last error");
    char * devices = NULL;
    CHECK(xlc_devices(&devices) == XLC_OK && devices && devices[0] == '[', "devices");
    xlc_free(devices);
    char * system = NULL;
    CHECK(xlc_system_info(&system) == XLC_OK && system && strstr(system, "CPU"), "system info");
    xlc_free(system);
    xlc_free(NULL);
}

static void test_null_arguments(void) {
    CHECK(xlc_build_info(NULL) == XLC_ERR_INVALID_ARGUMENT, "build_info(NULL)");
    CHECK(strstr(xlc_last_error(), "NULL") != NULL, "the message names the NULL");
    CHECK(xlc_system_info(NULL) == XLC_ERR_INVALID_ARGUMENT, "system_info(NULL)");
    CHECK(xlc_devices(NULL) == XLC_ERR_INVALID_ARGUMENT, "devices(NULL)");
    CHECK(xlc_params_schema(NULL) == XLC_ERR_INVALID_ARGUMENT, "params_schema(NULL)");
    CHECK(xlc_log_next(0, NULL, NULL) == XLC_ERR_INVALID_ARGUMENT, "log_next(NULL text)");

    char * out = (char *) 1;
    CHECK(xlc_params_apply(NULL, &out) == XLC_ERR_INVALID_ARGUMENT && out == NULL, "params_apply(NULL json)");
    CHECK(xlc_params_apply("{}", NULL) == XLC_ERR_INVALID_ARGUMENT, "params_apply(NULL out)");
    out = (char *) 1;
    CHECK(xlc_params_from_args(NULL, NULL, &out) == XLC_ERR_INVALID_ARGUMENT && out == NULL, "from_args(NULL args)");
    out = (char *) 1;
    CHECK(xlc_gguf_info(NULL, &out) == XLC_ERR_INVALID_ARGUMENT && out == NULL, "gguf_info(NULL)");
    CHECK(xlc_gguf_info("/nonexistent/model.gguf", &out) == XLC_ERR_NOT_FOUND && out == NULL, "gguf_info(missing)");
    CHECK(xlc_json_schema_to_grammar(NULL, &out) == XLC_ERR_INVALID_ARGUMENT, "schema_to_grammar(NULL)");
    CHECK(xlc_json_schema_to_grammar("{}", NULL) == XLC_ERR_INVALID_ARGUMENT, "schema_to_grammar(NULL out)");
    CHECK(xlc_llguidance_load(NULL) == XLC_ERR_INVALID_ARGUMENT, "llguidance_load(NULL)");

    xlc_server * srv = (xlc_server *) 1;
    CHECK(xlc_server_create(NULL, &srv) == XLC_ERR_INVALID_ARGUMENT && srv == NULL, "server_create(NULL params)");
    CHECK(xlc_server_create("{}", NULL) == XLC_ERR_INVALID_ARGUMENT, "server_create(NULL out)");
    CHECK(xlc_server_create("{}", &srv) == XLC_ERR_INVALID_ARGUMENT && srv == NULL, "server_create without a model");
    CHECK(strstr(xlc_last_error(), "model.path") != NULL, "the message says what is missing");
    CHECK(xlc_server_address(NULL, &out) == XLC_ERR_INVALID_ARGUMENT, "server_address(NULL)");
    int status = -1;
    char * body = (char *) 1;
    CHECK(xlc_server_handle(NULL, "GET", "/health", NULL, 0, 0, NULL, NULL, &status, &body, NULL) ==
              XLC_ERR_INVALID_ARGUMENT && body == NULL && status == 0, "server_handle(NULL server)");
    CHECK(xlc_server_close(NULL) == XLC_ERR_INVALID_ARGUMENT, "server_close(NULL)");
    xlc_server_free(NULL);
}

static void test_bad_json_and_ranges(void) {
    char * out = (char *) 1;
    CHECK(xlc_params_apply("{not json", &out) == XLC_ERR_INVALID_ARGUMENT && out == NULL, "bad JSON");
    CHECK(strstr(xlc_last_error(), "JSON") != NULL, "the message says JSON");
    CHECK(xlc_params_apply("[1,2]", &out) == XLC_ERR_INVALID_ARGUMENT, "a list is not a parameter set");
    CHECK(xlc_params_apply("{\"n_ctxx\": 1}", &out) == XLC_ERR_INVALID_ARGUMENT, "unknown field");
    CHECK(xlc_params_apply("{\"n_ctx\": \"big\"}", &out) == XLC_ERR_INVALID_ARGUMENT, "wrong type");

    /* values llama.cpp asserts on: refused with the field's name, before anything runs */
    static const char * refused[][2] = {
        {"{\"n_batch\": 0}", "n_batch"},
        {"{\"n_ubatch\": 0}", "n_ubatch"},
        {"{\"n_parallel\": 0}", "n_parallel"},
        {"{\"cpuparams.n_threads\": 0}", "cpuparams.n_threads"},
        {"{\"cpuparams_batch.n_threads\": 0}", "cpuparams_batch.n_threads"},
        {"{\"port\": 70000}", "port"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); ++i) {
        out = (char *) 1;
        CHECK(xlc_params_apply(refused[i][0], &out) == XLC_ERR_INVALID_ARGUMENT && out == NULL, "%s", refused[i][0]);
        CHECK(strstr(xlc_last_error(), refused[i][1]) != NULL, "message for %s names %s", refused[i][0], refused[i][1]);
    }
    CHECK(xlc_params_apply("{\"n_batch\": 1, \"cpuparams.n_threads\": -1, \"n_parallel\": -1}", &out) == XLC_OK,
          "edge values that are allowed");
    xlc_free(out);

    char * grammar = NULL;
    CHECK(xlc_json_schema_to_grammar("{\"type\": \"object\"}", &grammar) == XLC_OK && grammar, "schema to grammar");
    xlc_free(grammar);
}

/* --- with a model ----------------------------------------------------------------- */

struct stream_count {
    int events;
    int bad;
};

static int count_events(const char * data, size_t len, void * user) {
    struct stream_count * c = (struct stream_count *) user;
    /* XLC_STREAM_EVENTS: one JSON payload per call, never "data:" framing or [DONE] */
    if (len == 0 || data[0] != '{' || data[len - 1] != '}' || strncmp(data, "data:", 5) == 0) c->bad++;
    c->events++;
    return 0;
}

static void test_requests(xlc_server * srv) {
    int status = 0;
    char * body = NULL;
    char * type = NULL;
    CHECK(xlc_server_handle(srv, "GET", "/health", NULL, 0, 0, NULL, NULL, &status, &body, &type) == XLC_OK,
          "GET /health");
    CHECK(status == 200 && body && strstr(body, "ok"), "health: %d %s", status, body ? body : "");
    CHECK(type && strstr(type, "json"), "content type");
    xlc_free(body);
    xlc_free(type);

    const char * bad = "{\"tokens\": [-1]}";
    /* refused before llama.cpp's handler: XLC_ERR_REQUEST, with the 400 answer in the out-parameters */
    CHECK(xlc_server_handle(srv, "POST", "/detokenize", bad, strlen(bad), 0, NULL, NULL, &status, &body, NULL) ==
              XLC_ERR_REQUEST && status == 400 && body && strstr(body, "\"error\""),
          "a token id out of range is a refused 400, got %d", status);
    xlc_free(body);

    CHECK(xlc_server_handle(srv, "GET", "/no/such/route", NULL, 0, 0, NULL, NULL, &status, &body, NULL) == XLC_OK &&
              status == 404, "unknown route: 404");
    xlc_free(body);
    CHECK(xlc_server_handle(srv, "POST", "/health", "x", 0, 0, NULL, NULL, NULL, NULL, NULL) == XLC_OK,
          "every out-parameter may be NULL");
    CHECK(xlc_server_handle(srv, "POST", "/tokenize", NULL, 5, 0, NULL, NULL, &status, &body, NULL) ==
              XLC_ERR_INVALID_ARGUMENT && body == NULL, "a NULL body with a length");

    const char * req = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 6, \"stream\": true}";
    struct stream_count c = {0, 0};
    CHECK(xlc_server_handle(srv, "POST", "/v1/completions", req, strlen(req), XLC_STREAM_EVENTS, count_events, &c,
                            &status, &body, NULL) == XLC_OK, "stream");
    CHECK(status == 200 && c.events >= 6 && c.bad == 0, "stream: %d events, %d malformed", c.events, c.bad);
    CHECK(body && body[0] == '\0', "a streamed answer leaves the body empty");
    xlc_free(body);
}

struct racer {
    xlc_server * srv;
    xlc_status   rc;
    int          events;
    int          started;
    double       ended;  /* when its call returned */
    pthread_mutex_t * lock;
    pthread_cond_t *  cond;
};

static int racer_chunk(const char * data, size_t len, void * user) {
    (void) data;
    (void) len;
    struct racer * r = (struct racer *) user;
    pthread_mutex_lock(r->lock);
    r->events++;
    r->started = 1;
    pthread_cond_broadcast(r->cond);
    pthread_mutex_unlock(r->lock);
    return 0;
}

static void * racer_run(void * arg) {
    struct racer * r = (struct racer *) arg;
    const char * req = "{\"prompt\": \"Tell a long story\", \"max_tokens\": 4000, \"ignore_eos\": true, \"stream\": true}";
    r->rc = xlc_server_handle(r->srv, "POST", "/v1/completions", req, strlen(req), XLC_STREAM_EVENTS, racer_chunk, r,
                              NULL, NULL, NULL);
    r->ended = now_s();
    return NULL;
}

static void * closer_run(void * arg) {
    xlc_server_close((xlc_server *) arg);
    return NULL;
}

/* close() while streams run, from several threads at once: every stream ends with
 * XLC_ERR_CLOSED, quickly, and the server refuses what comes after. */
static void test_close_races(xlc_server * srv) {
    enum { N = 3, CLOSERS = 4 };
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct racer racers[N];
    pthread_t threads[N], closers[CLOSERS];
    for (int i = 0; i < N; ++i) {
        racers[i] = (struct racer){srv, XLC_OK, 0, 0, 0.0, &lock, &cond};
        pthread_create(&threads[i], NULL, racer_run, &racers[i]);
    }
    pthread_mutex_lock(&lock);
    const double deadline = now_s() + 60;
    for (int i = 0; i < N; ++i) {
        while (!racers[i].started && now_s() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&cond, &lock, &ts);
        }
    }
    pthread_mutex_unlock(&lock);
    const double t0 = now_s();
    for (int i = 0; i < CLOSERS; ++i) pthread_create(&closers[i], NULL, closer_run, srv);
    for (int i = 0; i < CLOSERS; ++i) pthread_join(closers[i], NULL);
    const double closed_in = now_s() - t0;
    double last_end = 0;
    for (int i = 0; i < N; ++i) {
        pthread_join(threads[i], NULL);
        if (racers[i].ended - t0 > last_end) last_end = racers[i].ended - t0;
    }
    /* a stream notices close() at its next token or within llama.cpp's one-second poll; close()
     * itself also waits for the decode step under way and frees the model (slower on a busy machine) */
    CHECK(last_end < 2.0, "the streams ended %.2f s after close() began", last_end);
    CHECK(closed_in < 10.0, "close() with %d streams in flight took %.2f s", N, closed_in);
    printf("test_xlc: %d streams ended %.2f s after close() began; close() took %.2f s\n", N, last_end, closed_in);
    for (int i = 0; i < N; ++i) {
        CHECK(racers[i].started && racers[i].rc == XLC_ERR_CLOSED, "stream %d: started %d, status %d (%s)", i,
              racers[i].started, racers[i].rc, xlc_status_string(racers[i].rc));
    }
    int status = 0;
    CHECK(xlc_server_handle(srv, "GET", "/health", NULL, 0, 0, NULL, NULL, &status, NULL, NULL) == XLC_ERR_CLOSED,
          "requests after close() are refused");
    CHECK(xlc_server_close(srv) == XLC_OK, "close() again is fine");
}

struct closing_callback {
    xlc_server * srv;
    int          calls;
    xlc_status   close_rc;
    double       closed_at;
};

static int close_from_callback(const char * data, size_t len, void * user) {
    (void) data;
    (void) len;
    struct closing_callback * c = (struct closing_callback *) user;
    if (c->calls++ == 0) {
        c->closed_at = now_s();
        c->close_rc = xlc_server_close(c->srv);
    }
    return 0;
}

/* close() from inside a stream callback: no deadlock, the stream ends as closed. */
static void test_close_from_callback(const char * params) {
    xlc_server * srv = NULL;
    CHECK(xlc_server_create(params, &srv) == XLC_OK && srv, "second server");
    if (!srv) return;
    struct closing_callback c = {srv, 0, XLC_ERR_INTERNAL, 0.0};
    const char * req = "{\"prompt\": \"Once\", \"max_tokens\": 500, \"ignore_eos\": true, \"stream\": true}";
    const xlc_status rc = xlc_server_handle(srv, "POST", "/v1/completions", req, strlen(req), XLC_STREAM_EVENTS,
                                            close_from_callback, &c, NULL, NULL, NULL);
    const double took = now_s() - c.closed_at;
    CHECK(c.close_rc == XLC_OK, "close() inside the callback returned %d", c.close_rc);
    CHECK(rc == XLC_ERR_CLOSED, "the stream that closed its server ends closed, got %d", rc);
    CHECK(c.calls == 1, "no chunk after close(): %d calls", c.calls);
    CHECK(took < 10.0, "the call returned %.2f s after its callback closed the server", took);
    xlc_server_free(srv);
}

static int free_from_callback(const char * data, size_t len, void * user) {
    (void) data;
    (void) len;
    xlc_server ** srv = (xlc_server **) user;
    if (*srv) {
        xlc_server_free(*srv);  /* the call this callback runs in frees it when it returns */
        *srv = NULL;
    }
    return 0;
}

/* xlc_server_free() from inside a stream callback: the call ends as closed, then frees the server. */
static void test_free_from_callback(const char * params) {
    xlc_server * srv = NULL;
    CHECK(xlc_server_create(params, &srv) == XLC_OK && srv, "third server");
    if (!srv) return;
    xlc_server * handle = srv;
    const char * req = "{\"prompt\": \"Once\", \"max_tokens\": 50, \"stream\": true}";
    const xlc_status rc = xlc_server_handle(handle, "POST", "/v1/completions", req, strlen(req), XLC_STREAM_EVENTS,
                                            free_from_callback, &srv, NULL, NULL, NULL);
    CHECK(srv == NULL && rc == XLC_ERR_CLOSED, "free() from a callback: status %d", rc);
}

int main(int argc, char ** argv) {
    test_identity();
    test_null_arguments();
    test_bad_json_and_ranges();
    if (argc > 1) {
        char params[4096];
        snprintf(params, sizeof(params),
                 "{\"model.path\": \"%s\", \"n_ctx\": 1024, \"n_parallel\": 3, \"cpuparams.n_threads\": 2, "
                 "\"cpuparams_batch.n_threads\": 2, \"warmup\": false, \"port\": 0}",
                 argv[1]);
        xlc_server * srv = NULL;
        CHECK(xlc_server_create(params, &srv) == XLC_OK && srv, "create a server for %s", argv[1]);
        if (srv) {
            char * address = NULL;
            CHECK(xlc_server_address(srv, &address) == XLC_OK && address && strncmp(address, "http://", 7) == 0,
                  "address %s", address ? address : "(null)");
            xlc_free(address);
            test_requests(srv);
            test_close_races(srv);
            xlc_server_free(srv);
        }
        test_close_from_callback(params);
        test_free_from_callback(params);
    }
    printf("test_xlc: %d checks, %d failed%s\n", g_checks, g_failures, argc > 1 ? "" : " (no model: server checks skipped)");
    return g_failures ? 1 : 0;
}
