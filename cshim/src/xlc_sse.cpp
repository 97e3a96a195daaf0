// The SSE event splitter (xlc_sse.h).
#include "xlc_sse.h"

namespace xlc {

namespace {

// The payload of one event's text (without its terminating blank line).
std::string event_payload(const std::string & text, size_t begin, size_t end) {
    std::string data;
    bool any = false;
    size_t line_start = begin;
    while (line_start < end) {
        size_t line_end = text.find('\n', line_start);
        if (line_end == std::string::npos || line_end > end) line_end = end;
        size_t len = line_end - line_start;
        if (len > 0 && text[line_start + len - 1] == '\r') --len;  // CRLF framing
        if (len >= 5 && text.compare(line_start, 5, "data:") == 0) {
            size_t off = line_start + 5;
            if (off < line_start + len && text[off] == ' ') ++off;
            if (any) data += '\n';
            data.append(text, off, line_start + len - off);
            any = true;
        }
        line_start = line_end + 1;
    }
    return data;
}

// Where the blank line that ends the event starting at `from` begins, and its length.
bool find_event_end(const std::string & text, size_t from, size_t & end, size_t & sep) {
    const size_t lf = text.find("\n\n", from);
    const size_t crlf = text.find("\r\n\r\n", from);
    if (lf == std::string::npos && crlf == std::string::npos) return false;
    if (crlf != std::string::npos && (lf == std::string::npos || crlf < lf)) {
        end = crlf;
        sep = 4;
    } else {
        end = lf;
        sep = 2;
    }
    return true;
}

} // namespace

bool sse_splitter::feed(const std::string & chunk, const emit_fn & emit) {
    pending_ += chunk;
    size_t start = 0;
    size_t end = 0;
    size_t sep = 0;
    bool go_on = true;
    while (go_on && find_event_end(pending_, start, end, sep)) {
        const std::string data = event_payload(pending_, start, end);
        start = end + sep;
        if (!data.empty() && data != "[DONE]") {
            go_on = emit(data);
        }
    }
    pending_.erase(0, start);
    return go_on;
}

} // namespace xlc
