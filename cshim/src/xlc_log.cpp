// llama.cpp's log lines, queued for the caller instead of printed.
//
// Two sources feed the queue: llama/ggml's log callback, and common_log_add(),
// which llama-server's SRV_* / SLT_* macros call. The latter has no callback
// hook, so the link step wraps it (-Wl,--wrap, see CMakeLists.txt). The queue
// is bounded and never blocks a producer: the inference thread must not wait
// on whoever drains it.
#include "xlc_internal.h"
#include "xlc_llama_adapter.h"

#include "log.h"
#include "llama.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <mutex>
#include <vector>

namespace {

struct log_record {
    int level;
    std::string text;
};

constexpr size_t k_max_records = 4096;

std::mutex              g_mutex;
std::condition_variable g_cv;
std::deque<log_record>  g_queue;
std::atomic<int>        g_min_level{XLC_LOG_WARN};
int                     g_last_level = XLC_LOG_INFO; // level a CONT line inherits

thread_local bool        t_capturing = false;
thread_local std::string t_captured;

// ggml levels: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
void sink(int level, const char * text) {
    if (text == nullptr || *text == '\0') {
        return;
    }
    if (t_capturing && level == GGML_LOG_LEVEL_ERROR) {
        t_captured += text;
    }
    std::lock_guard<std::mutex> lock(g_mutex);
    if (level == GGML_LOG_LEVEL_CONT) {
        level = g_last_level;
        if (level < g_min_level.load(std::memory_order_relaxed)) {
            return;
        }
        if (!g_queue.empty() && g_queue.back().text.back() != '\n') {
            g_queue.back().text += text;
            return;
        }
    } else {
        if (level == GGML_LOG_LEVEL_NONE) {
            level = XLC_LOG_INFO;
        }
        g_last_level = level;
        if (level < g_min_level.load(std::memory_order_relaxed)) {
            return;
        }
    }
    if (g_queue.size() >= k_max_records) {
        g_queue.pop_front();
    }
    g_queue.push_back({level, text});
    g_cv.notify_one();
}

void llama_callback(enum ggml_log_level level, const char * text, void *) {
    try {
        sink(level, text);
    } catch (...) {  // called from ggml's C code: a lost line is better than an exception there
    }
}

// common_log verbosity threshold matching a minimum xlc level, so that lines
// below it are not even formatted (LOG_TMPL checks it first).
int verbosity_for(int level) {
    switch (level) {
        case XLC_LOG_DEBUG: return LOG_LEVEL_DEBUG;
        case XLC_LOG_INFO:  return LOG_LEVEL_TRACE;
        case XLC_LOG_WARN:  return LOG_LEVEL_WARN;
        default:            return LOG_LEVEL_ERROR;
    }
}

} // namespace

// The wrapped common_log_default_callback: llama-server hands it to mtmd as the projector's log
// hook (mtmd_helper_log_set), and inside log.cpp it calls the unwrapped common_log_add.
void wrap_common_log_default_callback(enum ggml_log_level level, const char * text, void * user_data)
    XLC_WRAP_NAME(common_log_default_callback);
void wrap_common_log_default_callback(enum ggml_log_level level, const char * text, void * user_data) {
    llama_callback(level, text, user_data);
}

// The wrapped common_log_add(common_log *, ggml_log_level, const char *, ...).
void wrap_common_log_add(common_log *, enum ggml_log_level level, const char * fmt, ...) XLC_WRAP_NAME(common_log_add);
void wrap_common_log_add(common_log *, enum ggml_log_level level, const char * fmt, ...) {
    char stack_buf[512];
    va_list args;
    va_start(args, fmt);
    va_list args2;
    va_copy(args2, args);
    const int n = std::vsnprintf(stack_buf, sizeof(stack_buf), fmt, args);
    va_end(args);
    if (n < 0) {
        va_end(args2);
        return;
    }
    try {
        if (static_cast<size_t>(n) < sizeof(stack_buf)) {
            sink(level, stack_buf);
        } else {
            std::vector<char> heap_buf(static_cast<size_t>(n) + 1);
            std::vsnprintf(heap_buf.data(), heap_buf.size(), fmt, args2);
            sink(level, heap_buf.data());
        }
    } catch (...) {  // logging never throws into llama.cpp
    }
    va_end(args2);
}

namespace xlc {

void log_install() {
    llama_log_set(llama_callback, nullptr);
    common_log_set_verbosity_thold(verbosity_for(g_min_level.load()));
}

void log_capture_begin() {
    t_capturing = true;
    t_captured.clear();
}

std::string log_capture_end() {
    t_capturing = false;
    std::string out;
    out.swap(t_captured);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
        out.pop_back();
    }
    return out;
}

} // namespace xlc

extern "C" {

void xlc_log_set_level(int level) {
    if (level < XLC_LOG_DEBUG) level = XLC_LOG_DEBUG;
    if (level > XLC_LOG_ERROR) level = XLC_LOG_ERROR;
    g_min_level.store(level);
    try {
        common_log_set_verbosity_thold(verbosity_for(level));
    } catch (...) {  // cannot fail today; nothing may cross extern "C" if it ever does
    }
}

xlc_status xlc_log_next(int timeout_ms, int * level, char ** text) {
    return xlc::guard([&] {
        if (!text) throw xlc::invalid("text is NULL");
        *text = nullptr;
        std::unique_lock<std::mutex> lock(g_mutex);
        if (g_queue.empty()) {
            g_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0),
                          [] { return !g_queue.empty(); });
        }
        if (g_queue.empty()) {
            return;
        }
        log_record rec = std::move(g_queue.front());
        g_queue.pop_front();
        lock.unlock();
        if (level) *level = rec.level;
        *text = xlc::dup_or_throw(rec.text);
    });
}

} // extern "C"
