#include "gomag_wire.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace plexus::gomag {

using plexus::sdk::Error;

std::string multipart_body(std::string_view boundary, std::string_view field, std::string_view value) {
    std::string out;
    out.reserve(value.size() + 2 * boundary.size() + 96);
    out.append("--").append(boundary).append("\r\n");
    out.append("Content-Disposition: form-data; name=\"").append(field).append("\"\r\n\r\n");
    out.append(value).append("\r\n");
    out.append("--").append(boundary).append("--\r\n");
    return out;
}

std::string make_boundary(uint64_t salt) {
    static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t x = salt * 0x9E3779B97F4A7C15ull + 0xD1B54A32D192ED03ull;
    std::string b = "----PlexusGomag";
    for (int i = 0; i < 16; ++i) {
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ull;
        b += digits[x % 36];
    }
    return b;
}

namespace {

bool is_200(const json& v) {
    if (v.is_number()) return v.get<double>() == 200;
    if (v.is_string()) return v.get<std::string>() == "200";
    return false;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string message_text(const json& m) {
    if (m.is_string()) return m.get<std::string>();
    if (m.is_array()) {
        std::string out;
        for (const auto& x : m) {
            const std::string t = x.is_string() ? x.get<std::string>() : x.dump();
            if (t.empty()) continue;
            out += (out.empty() ? "" : "; ") + t;
        }
        return out;
    }
    if (m.is_null()) return {};
    return m.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A body that says the bucket is empty (gomag.md: "treat any throttling text as retryable").
bool says_throttled(const std::string& text) {
    const std::string t = lower(text);
    return t.find("rate limit") != std::string::npos || t.find("ratelimit") != std::string::npos ||
           t.find("rate_limit") != std::string::npos || t.find("too many") != std::string::npos ||
           t.find("too_many") != std::string::npos;
}

}  // namespace

std::optional<std::string> business_error(const json& body) {
    if (!body.is_object()) return std::nullopt;
    const auto e = body.find("error");
    const auto s = body.find("status");
    const bool failed = (e != body.end() && !e->is_null() && !is_200(*e)) ||
                        (s != body.end() && !s->is_null() && !is_200(*s));
    if (!failed) return std::nullopt;
    std::string code = e != body.end() ? text_of(*e) : text_of(*s);
    std::string text;
    if (auto m = body.find("message"); m != body.end()) text = message_text(*m);
    if (auto m = body.find("errorMessage"); m != body.end() && text.empty()) text = message_text(*m);
    if (s != body.end() && e != body.end() && text_of(*s) != code) code += "/" + text_of(*s);
    return "error " + code + (text.empty() ? "" : ": " + text);
}

Verdict judge(int http_status, const std::string& body, const std::string& what) {
    Verdict v;
    const std::string on = " (HTTP " + std::to_string(http_status) + " on " + what + ")";
    if (http_status == 401 || http_status == 403) {
        v.status = PLEXUS_ERR_AUTH;
        v.message = "Gomag refused the credentials" + on + ": check api_key and shop_url";
        return v;
    }
    if (http_status == 429) {
        v.status = PLEXUS_ERR_RATE_LIMIT;
        v.throttled = true;
        v.message = "Gomag's request budget is spent" + on;
        return v;
    }
    if (http_status == 404) {
        v.status = PLEXUS_ERR_CONFIG;
        v.message = "Gomag has no such API path" + on + ": check base_url (https://api.gomag.ro)";
        return v;
    }
    if (http_status >= 500) {
        v.status = PLEXUS_ERR_TRANSIENT;
        v.message = "Gomag is unavailable" + on;
        return v;
    }
    if (http_status < 200 || http_status >= 300) {
        v.status = PLEXUS_ERR_VALIDATION;
        v.message = "Gomag refused the request" + on;
        return v;
    }
    v.body = json::parse(body, nullptr, false);
    if (v.body.is_discarded()) {
        v.status = PLEXUS_ERR_TRANSIENT;
        v.message = "malformed response from Gomag" + on + ": the body is not JSON";
        v.body = nullptr;
        return v;
    }
    if (auto err = business_error(v.body)) {
        const json& e = v.body.contains("error") ? v.body["error"] : v.body["status"];
        const auto code = integer_of(e);
        if (code && *code == 100) {
            v.status = PLEXUS_ERR_AUTH;
            v.message = "Gomag refused the credentials" + on + ": " + *err + " (check api_key and shop_url)";
        } else if ((code && *code == 429) || says_throttled(*err)) {
            v.status = PLEXUS_ERR_RATE_LIMIT;
            v.throttled = true;
            v.message = "Gomag's request budget is spent" + on + ": " + *err;
        } else {
            v.status = PLEXUS_ERR_VALIDATION;
            v.message = "Gomag refused it" + on + ": " + *err;
        }
    }
    return v;
}

std::vector<std::pair<std::string, json>> collection_items(const json& collection) {
    std::vector<std::pair<std::string, json>> out;
    if (collection.is_object()) {
        out.reserve(collection.size());
        for (auto it = collection.begin(); it != collection.end(); ++it)
            if (it.value().is_object()) out.emplace_back(it.key(), it.value());
    } else if (collection.is_array()) {
        out.reserve(collection.size());
        size_t i = 0;
        for (const auto& item : collection) {
            if (item.is_object()) {
                const std::string id = item.contains("id") ? text_of(item["id"]) : std::to_string(i);
                out.emplace_back(id, item);
            }
            ++i;
        }
    }
    return out;
}

std::optional<double> number_of(const json& value) {
    if (value.is_number()) return value.get<double>();
    if (!value.is_string()) return std::nullopt;
    std::string s = value.get<std::string>();
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(d)) return std::nullopt;
    return d;
}

std::optional<int64_t> integer_of(const json& value) {
    const auto d = number_of(value);
    if (!d || *d != std::floor(*d) || std::fabs(*d) > 9.0e15) return std::nullopt;
    return static_cast<int64_t>(*d);
}

std::string text_of(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_null()) return {};
    if (value.is_number_float()) {
        const double d = value.get<double>();
        if (d == std::floor(d) && std::fabs(d) < 9.0e15) return std::to_string(static_cast<int64_t>(d));
    }
    return value.dump();
}

std::optional<Budget> budget_of(const std::vector<std::pair<std::string, std::string>>& headers, bool write) {
    const std::string base = write ? "api-ratelimit-write" : "api-ratelimit-read";
    std::optional<double> rate, burst, remaining;
    for (const auto& [k, v] : headers) {
        const std::string name = lower(k);
        auto num = [&]() { return number_of(json(v)); };
        if (name == base) rate = num();
        else if (name == base + "-burst") burst = num();
        else if (name == base + "-remaining") remaining = num();
    }
    if (!burst || !remaining) return std::nullopt;
    return Budget{rate.value_or(0), *burst, *remaining};
}

std::string cursor_time(const std::string& t) {
    if (t.size() == 19 && t[10] == ' ' && date_of(t)) {
        std::string out = t;
        out[10] = 'T';
        return out;
    }
    return t;
}

std::optional<std::string> date_of(std::string_view text) {
    if (text.size() < 10) return std::nullopt;
    for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    if (text[4] != '-' || text[7] != '-') return std::nullopt;
    if (text.size() > 10 && text[10] != 'T' && text[10] != ' ') return std::nullopt;
    const int month = (text[5] - '0') * 10 + (text[6] - '0');
    const int day = (text[8] - '0') * 10 + (text[9] - '0');
    if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
    return std::string(text.substr(0, 10));
}

namespace {
json parse_cursor(const std::string& text, const char* what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw Error(PLEXUS_ERR_CONFIG, std::string("the stored ") + what + " cursor \"" + text.substr(0, 80) +
                                           "\" is not this connector's (a JSON object); rewind the process");
    return j;
}
std::vector<std::string> strings(const json& j, const char* name) {
    std::vector<std::string> out;
    if (auto it = j.find(name); it != j.end() && it->is_array())
        for (const auto& s : *it)
            if (s.is_string()) out.push_back(s.get<std::string>());
    return out;
}
}  // namespace

UpdatedCursor UpdatedCursor::decode(const std::string& text) {
    UpdatedCursor c;
    if (text.empty()) return c;
    json j = parse_cursor(text, "product");
    c.w = j.value("w", "");
    c.k = strings(j, "k");
    c.p = j.value("p", int64_t{0});
    c.l = j.value("l", int64_t{0});
    c.d = j.value("d", "");
    c.m = j.value("m", "");
    c.mk = strings(j, "mk");
    return c;
}

std::string UpdatedCursor::encode() const {
    json j{{"w", w}, {"k", k}};
    if (p > 0) {
        j["p"] = p;
        j["l"] = l;
        j["d"] = d;
        j["m"] = m;
        j["mk"] = mk;
    }
    return j.dump();
}

bool UpdatedCursor::is_new(const std::string& key, const std::string& updated) const {
    if (updated > w) return true;
    if (updated < w) return false;
    return std::find(k.begin(), k.end(), key) == k.end();
}

void UpdatedCursor::see(const std::string& key, const std::string& updated) {
    if (updated > m) {
        m = updated;
        mk = {key};
    } else if (updated == m && std::find(mk.begin(), mk.end(), key) == mk.end()) {
        mk.push_back(key);
    }
}

void UpdatedCursor::finish_set() {
    if (m > w) {
        w = m;
        k = mk;
    } else if (m == w && !m.empty()) {
        for (const auto& x : mk)
            if (std::find(k.begin(), k.end(), x) == k.end()) k.push_back(x);
    }
    p = 0;
    l = 0;
    d.clear();
    m.clear();
    mk.clear();
}

OrderCursor OrderCursor::decode(const std::string& text) {
    OrderCursor c;
    if (text.empty()) return c;
    json j = parse_cursor(text, "order");
    c.s = j.value("s", "");
    c.u = j.value("u", "");
    c.n = j.value("n", "");
    c.p = j.value("p", int64_t{0});
    c.o = j.value("o", int64_t{0});
    return c;
}

std::string OrderCursor::encode() const {
    json j = json::object();
    if (!s.empty()) j["s"] = s;
    if (!u.empty()) j["u"] = u;
    if (!n.empty()) j["n"] = n;
    if (p > 0) j["p"] = p;
    if (o > 0) j["o"] = o;
    return j.dump();
}

}  // namespace plexus::gomag
