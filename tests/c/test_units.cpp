// The facade's parsers, alone (no model, no llama.cpp): the SSE event splitter fed
// at every chunk boundary, and path/query parsing.
#include "xlc_sse.h"
#include "xlc_url.h"

#include <cstdio>
#include <string>
#include <vector>

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond, what)                                                    \
    do {                                                                     \
        ++g_checks;                                                          \
        if (!(cond)) {                                                       \
            ++g_failures;                                                    \
            std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what); \
        }                                                                    \
    } while (0)

static std::vector<std::string> split_all(const std::string & text, const std::vector<size_t> & cuts) {
    xlc::sse_splitter splitter;
    std::vector<std::string> out;
    size_t start = 0;
    std::vector<size_t> points = cuts;
    points.push_back(text.size());
    for (size_t cut : points) {
        splitter.feed(text.substr(start, cut - start), [&](const std::string & payload) {
            out.push_back(payload);
            return true;
        });
        start = cut;
    }
    return out;
}

static void test_sse_every_boundary() {
    const std::string text =
        "data: {\"a\":1}\n\n"
        ": a comment, no data\n\n"
        "event: message\ndata: {\"b\":\ndata: 2}\n\n"
        "data:{\"c\":3}\r\n\r\n"
        "data: [DONE]\n\n";
    const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":\n2}", "{\"c\":3}"};
    CHECK(split_all(text, {}) == want, "whole text in one chunk");
    // one cut anywhere, then two cuts anywhere: the payloads never change
    for (size_t i = 0; i <= text.size(); ++i) {
        CHECK(split_all(text, {i}) == want, ("one cut at " + std::to_string(i)).c_str());
        for (size_t j = i; j <= text.size(); j += 3) {
            CHECK(split_all(text, {i, j}) == want, ("cuts at " + std::to_string(i) + "," + std::to_string(j)).c_str());
        }
    }
    // byte by byte
    std::vector<size_t> every;
    for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
    CHECK(split_all(text, every) == want, "byte by byte");
}

static void test_sse_stop_and_pending() {
    xlc::sse_splitter splitter;
    int seen = 0;
    const bool go_on = splitter.feed("data: 1\n\ndata: 2\n\ndata: 3", [&](const std::string &) { return ++seen < 1; });
    CHECK(!go_on && seen == 1, "emit returning false stops the feed");
    xlc::sse_splitter partial;
    partial.feed("data: {\"x\"", [](const std::string &) { return true; });
    CHECK(partial.pending() == "data: {\"x\"", "an unterminated event waits");
    std::vector<std::string> got;
    partial.feed(":1}\n\n", [&](const std::string & p) { got.push_back(p); return true; });
    CHECK(got.size() == 1 && got[0] == "{\"x\":1}" && partial.pending().empty(), "and completes with the next chunk");
}

static void test_url() {
    using xlc::parse_query;
    using xlc::split_path;
    using xlc::url_decode;
    CHECK(url_decode("a%20b+c", true) == "a b c", "query decoding");
    CHECK(url_decode("a%20b+c", false) == "a b+c", "path decoding keeps '+'");
    CHECK(url_decode("%zz%4", true) == "%zz%4", "bad escapes stay as they are");
    CHECK(url_decode("%", true) == "%" && url_decode("", true).empty(), "edges");
    CHECK(split_path("/slots/0") == (std::vector<std::string>{"slots", "0"}), "split path");
    CHECK(split_path("//a///b/") == (std::vector<std::string>{"a", "b"}), "empty segments dropped");
    CHECK(split_path("").empty() && split_path("/").empty(), "root");
    auto q = parse_query("action=save&x=a%2Fb&flag&&=v&k=1=2");
    CHECK(q["action"] == "save" && q["x"] == "a/b", "query values");
    CHECK(q.count("flag") && q["flag"].empty(), "a key without a value");
    CHECK(q[""] == "v" && q["k"] == "1=2", "odd items");
    std::string path, query;
    xlc::split_target("/slots/1?action=erase?x", path, query);
    CHECK(path == "/slots/1" && query == "action=erase?x", "split at the first '?'");
    xlc::split_target("/health", path, query);
    CHECK(path == "/health" && query.empty(), "no query");
}

int main() {
    test_sse_every_boundary();
    test_sse_stop_and_pending();
    test_url();
    std::printf("test_units: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
