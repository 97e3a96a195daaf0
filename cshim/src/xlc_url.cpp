// Paths and query strings (xlc_url.h).
#include "xlc_url.h"

namespace xlc {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::string url_decode(const std::string & s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+' && plus_is_space) {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<std::string> split_path(const std::string & path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        if (j > i) out.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::map<std::string, std::string> parse_query(const std::string & query) {
    std::map<std::string, std::string> params;
    size_t start = 0;
    while (start < query.size()) {
        size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        const std::string item = query.substr(start, end - start);
        if (!item.empty()) {
            const size_t eq = item.find('=');
            const std::string key = url_decode(item.substr(0, eq), true);
            params[key] = eq == std::string::npos ? "" : url_decode(item.substr(eq + 1), true);
        }
        start = end + 1;
    }
    return params;
}

void split_target(const std::string & target, std::string & path, std::string & query) {
    const size_t q = target.find('?');
    if (q == std::string::npos) {
        path = target;
        query.clear();
    } else {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
}

} // namespace xlc
