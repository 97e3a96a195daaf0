// Server-sent events to payloads: what xlc_server_handle() hands a stream callback
// with XLC_STREAM_EVENTS. No llama.cpp here, so tests/c can drive it directly.
#pragma once

#include <functional>
#include <string>

namespace xlc {

// Splits SSE text into the data payloads of complete events, whatever the chunk
// boundaries; an incomplete event waits in `pending` for the next chunk.
class sse_splitter {
public:
    // Called once per payload (the "data:" lines of one event joined by '\n', the
    // final "[DONE]" and comment-only events left out); returns false to stop.
    using emit_fn = std::function<bool(const std::string & payload)>;

    // Feeds one chunk; false when emit asked to stop (the rest stays pending).
    bool feed(const std::string & chunk, const emit_fn & emit);

    // Text of an event not yet terminated by a blank line.
    const std::string & pending() const { return pending_; }

private:
    std::string pending_;
};

} // namespace xlc
