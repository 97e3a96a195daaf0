// Requests read event by event: each runs xlc_server_handle() on a thread of
// its own and queues what it delivers, so that a caller can pull events (an
// iterator) or be woken through a file descriptor (an asyncio loop) instead of
// being called back. Built on the public request call alone, so the request
// path itself stays in one place.
//
// The queue is the back-pressure: a reader that leaves max_pending events
// untaken gets its generation stopped (llama.cpp cannot pause one slot), and
// the request ends with XLC_ERR_CALLBACK once the queued events are taken.
#include "xlc_internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

using namespace xlc;

namespace {

// Requests still running per server, so that a server is not freed under them
// (xlc_server_wait_requests).
std::mutex                              g_live_mutex;
std::condition_variable                 g_live_cv;
std::unordered_map<xlc_server *, int>   g_live;

} // namespace

namespace xlc {
// The cancel flag of the request the calling thread runs, if any: the request
// path polls it while it waits for a first token (xlc_internal.h).
thread_local const std::atomic<bool> * t_cancel_flag = nullptr;
} // namespace xlc

struct xlc_request {
    std::mutex              mutex;
    std::condition_variable cv;
    std::deque<std::string> events;
    std::string             whole;          // an unstreamed answer, delivered last
    bool                    has_whole = false;
    size_t                  max_pending = 0;
    std::atomic<bool>       cancelled{false};
    bool                    overflowed = false;
    bool                    done = false;
    int                     owners = 2;      // the caller's handle and the thread
    int                     pipe_r = -1;
    int                     pipe_w = -1;
    bool                    signalled = false;  // a byte is in the pipe for what is queued now

    xlc_status  status = XLC_OK;
    std::string message;
    int         http_status = 0;
    std::string content_type;

    // wakes a reader waiting on the pipe; the mutex is held
    void signal() {
        if (pipe_w >= 0 && !signalled) {
            const char byte = 1;
            ssize_t n;
            do {
                n = ::write(pipe_w, &byte, 1);
            } while (n < 0 && errno == EINTR);
            signalled = true;
        }
    }

    // drops one owner; the last one frees
    static void release(xlc_request * r) {
        bool last;
        {
            std::lock_guard<std::mutex> lock(r->mutex);
            last = --r->owners == 0;
        }
        if (last) {
            if (r->pipe_r >= 0) ::close(r->pipe_r);
            if (r->pipe_w >= 0) ::close(r->pipe_w);
            delete r;
        }
    }
};

namespace {

int on_event(const char * data, size_t len, void * user_data) {
    auto * r = static_cast<xlc_request *>(user_data);
    std::lock_guard<std::mutex> lock(r->mutex);
    if (r->cancelled.load()) {
        return 1;
    }
    if (r->events.size() >= r->max_pending) {
        r->overflowed = true;
        return -1;
    }
    const bool was_empty = r->events.empty();
    r->events.emplace_back(data, len);
    if (was_empty) {
        r->cv.notify_all();
        r->signal();
    }
    return 0;
}

void run(xlc_request * r, xlc_server * server, std::string method, std::string path, std::string body, int flags) {
    t_cancel_flag = &r->cancelled;
    int http_status = 0;
    char * out_body = nullptr;
    char * out_type = nullptr;
    const xlc_status status = xlc_server_handle(server, method.c_str(), path.c_str(), body.data(), body.size(),
                                                flags, on_event, r, &http_status, &out_body, &out_type);
    t_cancel_flag = nullptr;
    {
        std::lock_guard<std::mutex> lock(r->mutex);
        r->status = status;
        r->message = status == XLC_OK ? "" : xlc_last_error();
        if (r->overflowed) {
            r->message = "the reader left " + std::to_string(r->max_pending) +
                         " events untaken; the generation was stopped";
        }
        r->http_status = http_status;
        r->content_type = out_type ? out_type : "";
        if ((status == XLC_OK || status == XLC_ERR_REQUEST) && out_body && *out_body) {  // a refusal: its error answer
            r->whole = out_body;
            r->has_whole = true;
        }
        r->done = true;
        r->cv.notify_all();
        r->signal();
    }
    std::free(out_body);
    std::free(out_type);
    xlc_request::release(r);
    {
        std::lock_guard<std::mutex> lock(g_live_mutex);
        if (--g_live[server] == 0) g_live.erase(server);
    }
    g_live_cv.notify_all();
}

} // namespace

extern "C" {

xlc_status xlc_request_start(xlc_server * server, const char * method, const char * path,
                             const char * body, size_t body_len, int flags, size_t max_pending,
                             xlc_request ** out) {
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        if (!server) throw invalid("server is NULL");
        if (!method || !path) throw invalid("method and path are required");
        if (max_pending == 0) throw invalid("max_pending must be at least 1");
        auto * r = new xlc_request();
        r->max_pending = max_pending;
        {
            std::lock_guard<std::mutex> lock(g_live_mutex);
            ++g_live[server];
        }
        try {
            std::thread(run, r, server, std::string(method), std::string(path),
                        body ? std::string(body, body_len) : std::string(), flags).detach();
        } catch (...) {
            {
                std::lock_guard<std::mutex> lock(g_live_mutex);
                if (--g_live[server] == 0) g_live.erase(server);
            }
            delete r;
            throw;
        }
        *out = r;
    });
}

int xlc_request_next(xlc_request * r, int timeout_ms, char ** out_data, size_t * out_len) {
    if (out_data) *out_data = nullptr;
    if (out_len) *out_len = 0;
    if (!r || !out_data) return -1;
    std::unique_lock<std::mutex> lock(r->mutex);
    auto ready = [r] { return !r->events.empty() || r->done; };
    if (!ready()) {
        if (timeout_ms == 0) {
            r->signalled = false;
            return 0;
        }
        if (timeout_ms < 0) {
            r->cv.wait(lock, ready);
        } else if (!r->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
            r->signalled = false;
            return 0;
        }
    }
    std::string taken;
    int kind;
    if (!r->events.empty()) {
        taken = std::move(r->events.front());
        r->events.pop_front();
        kind = 1;
    } else if (r->has_whole) {
        taken = std::move(r->whole);
        r->has_whole = false;
        kind = 2;
    } else {
        return -1;
    }
    lock.unlock();
    *out_data = dup(taken);
    if (!*out_data) return -1;
    if (out_len) *out_len = taken.size();
    return kind;
}

int xlc_request_fd(xlc_request * r) {
    if (!r) return -1;
    std::lock_guard<std::mutex> lock(r->mutex);
    if (r->pipe_r < 0) {
        int fds[2];
        if (::pipe(fds) != 0) return -1;
        for (int fd : fds) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        r->pipe_r = fds[0];
        r->pipe_w = fds[1];
        if (!r->events.empty() || r->done) r->signal();
    }
    return r->pipe_r;
}

xlc_status xlc_request_result(xlc_request * r, int * out_status, char ** out_content_type) {
    if (out_status) *out_status = 0;
    if (out_content_type) *out_content_type = nullptr;
    if (!r) {
        set_error("request is NULL");
        return XLC_ERR_INVALID_ARGUMENT;
    }
    std::lock_guard<std::mutex> lock(r->mutex);
    if (!r->done) {
        set_error("the request is still running");
        return XLC_ERR_INVALID_ARGUMENT;
    }
    if (out_status) *out_status = r->http_status;
    if (out_content_type) *out_content_type = dup(r->content_type);
    set_error(r->message);
    return r->status;
}

void xlc_request_cancel(xlc_request * r) {
    if (r) r->cancelled.store(true);
}

void xlc_request_free(xlc_request * r) {
    if (!r) return;
    r->cancelled.store(true);
    {
        // the thread may still run: it must not write to a pipe the caller stopped watching
        std::lock_guard<std::mutex> lock(r->mutex);
        r->signalled = true;
    }
    xlc_request::release(r);
}

void xlc_server_wait_requests(xlc_server * server) {
    std::unique_lock<std::mutex> lock(g_live_mutex);
    g_live_cv.wait(lock, [server] { return g_live.find(server) == g_live.end(); });
}

} // extern "C"
