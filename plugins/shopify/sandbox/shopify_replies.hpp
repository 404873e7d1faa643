// Small helpers the Shopify sandbox's route files share: JSON answers, the hex encoding of
// page_info cursors (no ',' or ';' inside Link URLs), the query's comma lists.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace plexus::sandbox::shopify_detail {

inline void reply(httplib::Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json; charset=utf-8");
}

inline std::string hex_encode(const std::string& s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

inline std::optional<std::string> hex_decode(const std::string& s) {
    if (s.size() % 2) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < s.size(); i += 2) {
        auto v = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int a = v(s[i]), b = v(s[i + 1]);
        if (a < 0 || b < 0) return std::nullopt;
        out += static_cast<char>(a * 16 + b);
    }
    return out;
}

// ISO 8601 with an offset or Z → Unix seconds.
inline std::optional<int64_t> parse_time(const std::string& t) {
    int y, mo, d, h, mi, s;
    if (t.size() < 19 || std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
        return std::nullopt;
    size_t i = 19;
    if (i < t.size() && t[i] == '.')
        for (++i; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]));) ++i;
    int64_t offset = 0;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
        int oh = 0, om = 0;
        if (std::sscanf(t.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
        offset = (oh * 60 + om) * 60 * (t[i] == '-' ? -1 : 1);
    } else if (i < t.size() && t[i] != 'Z') {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return static_cast<int64_t>(timegm(&tm)) - offset;
}

// "1,2,3" → {1, 2, 3} (empty parts skipped).
inline std::vector<int64_t> id_list(const std::string& s) {
    std::vector<int64_t> out;
    size_t p = 0;
    while (p <= s.size()) {
        size_t c = s.find(',', p);
        if (c == std::string::npos) c = s.size();
        if (c > p) out.push_back(std::atoll(s.substr(p, c - p).c_str()));
        p = c + 1;
    }
    return out;
}

// A request's {"<singular>": {...}} body, or a 400 answered as Shopify does.
inline std::optional<nlohmann::json> wrapped_body(const httplib::Request& req, httplib::Response& res,
                                                  const std::string& singular) {
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains(singular) || !body[singular].is_object()) {
        reply(res, 400, {{"errors", {{singular, "Required parameter missing or invalid"}}}});
        return std::nullopt;
    }
    return body[singular];
}

}  // namespace plexus::sandbox::shopify_detail
