// Request paths and query strings, as xlc_server_handle() receives them.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace xlc {

// Percent-decodes s; '+' becomes a space when plus_is_space (query strings).
std::string url_decode(const std::string & s, bool plus_is_space);

// "/slots/0" -> {"slots", "0"}; empty segments are dropped.
std::vector<std::string> split_path(const std::string & path);

// "a=1&b=x%20y" -> {a: "1", b: "x y"}; a key without '=' maps to "".
std::map<std::string, std::string> parse_query(const std::string & query);

// Splits "path?query" at the first '?'.
void split_target(const std::string & target, std::string & path, std::string & query);

} // namespace xlc
