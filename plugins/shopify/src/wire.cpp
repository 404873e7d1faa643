#include "wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace plexus::shopify {

using plexus::sdk::Error;
using plexus::sdk::WriteResult;

namespace {

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

std::string url_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
            i += 2;
        } else if (s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string text_of(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (const auto& m : v) {
            if (!out.empty()) out += ", ";
            out += text_of(m);
        }
        return out;
    }
    return v.dump();
}

}  // namespace

std::optional<CallLimit> parse_call_limit(const std::string& header) {
    const auto slash = header.find('/');
    if (slash == std::string::npos) return std::nullopt;
    char* end = nullptr;
    const std::string a = trim(header.substr(0, slash)), b = trim(header.substr(slash + 1));
    const double used = std::strtod(a.c_str(), &end);
    if (a.empty() || *end) return std::nullopt;
    const double max = std::strtod(b.c_str(), &end);
    if (b.empty() || *end || max <= 0) return std::nullopt;
    return CallLimit{used, max};
}

std::optional<std::string> link_page_info(const std::string& link_header, const std::string& rel) {
    // Links are separated by commas; each is "<url>; rel=\"next\"". URLs carry no raw comma.
    size_t pos = 0;
    while (pos < link_header.size()) {
        size_t comma = link_header.find(',', pos);
        if (comma == std::string::npos) comma = link_header.size();
        const std::string part = link_header.substr(pos, comma - pos);
        pos = comma + 1;
        const auto lt = part.find('<'), gt = part.find('>');
        if (lt == std::string::npos || gt == std::string::npos || gt < lt) continue;
        const std::string params = part.substr(gt + 1);
        if (params.find("rel=\"" + rel + "\"") == std::string::npos) continue;
        const std::string url = part.substr(lt + 1, gt - lt - 1);
        const auto q = url.find('?');
        if (q == std::string::npos) return std::nullopt;
        const std::string query = url.substr(q + 1);
        size_t p = 0;
        while (p <= query.size()) {
            size_t amp = query.find('&', p);
            if (amp == std::string::npos) amp = query.size();
            const std::string kv = query.substr(p, amp - p);
            if (kv.rfind("page_info=", 0) == 0) return url_decode(kv.substr(10));
            p = amp + 1;
        }
        return std::nullopt;
    }
    return std::nullopt;
}

std::string errors_message(const json& body) {
    if (!body.is_object() || !body.contains("errors")) return {};
    const json& e = body["errors"];
    if (e.is_object()) {
        std::string out;
        for (auto it = e.begin(); it != e.end(); ++it) {
            if (!out.empty()) out += "; ";
            out += it.key() == "base" ? text_of(it.value()) : it.key() + ": " + text_of(it.value());
        }
        return out;
    }
    return text_of(e);
}

bool email_taken(const json& body) {
    if (!body.is_object() || !body.contains("errors") || !body["errors"].is_object()) return false;
    const auto it = body["errors"].find("email");
    if (it == body["errors"].end()) return false;
    return text_of(*it).find("taken") != std::string::npos;
}

std::optional<int64_t> parse_timestamp(const std::string& t) {
    int y, mo, d, h, mi, s;
    if (t.size() < 19 || std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
        return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
    size_t i = 19;
    if (i < t.size() && t[i] == '.') {
        ++i;
        while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    }
    int64_t offset = 0;
    if (i == t.size()) return std::nullopt;  // no zone: ambiguous
    if (t[i] == 'Z' || t[i] == 'z') {
        if (i + 1 != t.size()) return std::nullopt;
    } else if (t[i] == '+' || t[i] == '-') {
        int oh, om;
        if (t.size() != i + 6 || std::sscanf(t.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2)
            return std::nullopt;
        offset = (oh * 60 + om) * 60 * (t[i] == '-' ? -1 : 1);
    } else {
        return std::nullopt;
    }
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
}

std::string format_utc(int64_t seconds) {
    int64_t days = seconds / 86400, rem = seconds % 86400;
    if (rem < 0) rem += 86400, --days;
    // civil_from_days
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = static_cast<int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                  static_cast<long long>(rem / 3600), static_cast<long long>(rem % 3600 / 60),
                  static_cast<long long>(rem % 60));
    return buf;
}

std::string url_encode(const std::string& text) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string exchange_name(const std::string& method, const std::string& path) {
    const auto q = path.find('?');
    return method + " " + (q == std::string::npos ? path : path.substr(0, q));
}

Failure classify(int status, const std::string& body, const std::string& exchange) {
    if (status >= 200 && status < 300) return {};
    const json parsed = json::parse(body, nullptr, false);
    std::string detail = errors_message(parsed);
    const std::string where = " (HTTP " + std::to_string(status) + " on " + exchange + ")";
    if (status == 401)
        return {PLEXUS_ERR_AUTH, "Shopify refused the access token" + where +
                                     ": check the access_token setting (an Admin API token, shpat_…) "
                                     "and store_domain"};
    if (status == 403)
        return {PLEXUS_ERR_AUTH, "the access token lacks a permission (scope) this needs" + where +
                                     (detail.empty() ? "" : ": " + detail) +
                                     "; grant the scope to the app in the Shopify admin"};
    if (status == 402 || status == 423)
        return {PLEXUS_ERR_AUTH, std::string("the shop is ") +
                                     (status == 402 ? "frozen (payment required)" : "locked") + where};
    if (status == 429)
        return {PLEXUS_ERR_RATE_LIMIT,
                "Shopify kept answering 429 Too Many Requests after the host's retries" + where};
    if (status >= 500)
        return {PLEXUS_ERR_TRANSIENT, "Shopify is unavailable" + where + " after the host's retries"};
    if (status == 404)
        return {PLEXUS_ERR_NOT_FOUND, "not found" + where + (detail.empty() ? "" : ": " + detail)};
    if (status == 400 || status == 422)
        return {PLEXUS_ERR_VALIDATION, (detail.empty() ? "request refused" : detail) + where};
    return {PLEXUS_ERR_TRANSIENT, "unexpected answer from Shopify" + where +
                                      (detail.empty() ? "" : ": " + detail)};
}

json parse_body(int status, const std::string& body, const std::string& exchange) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " +
                                              std::to_string(status) + " on " + exchange + ")");
    return j;
}

ListPage parse_list_page(int status, const std::string& link_header, const std::string& body,
                         const std::string& plural, const std::string& exchange) {
    if (Failure f = classify(status, body, exchange); f.status != PLEXUS_OK)
        throw Error(f.status, f.message);
    json j = parse_body(status, body, exchange);
    auto it = j.find(plural);
    if (it == j.end() || !it->is_array())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " +
                                              std::to_string(status) + " on " + exchange +
                                              "): no \"" + plural + "\" list");
    ListPage page;
    for (auto& item : *it) {
        if (!item.is_object() || !item.contains("id"))
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " +
                                                  std::to_string(status) + " on " + exchange +
                                                  "): an element of \"" + plural + "\" has no id");
        page.items.push_back(std::move(item));
    }
    page.next_page_info = link_page_info(link_header, "next");
    return page;
}

WriteResult interpret_write(int status, const std::string& body, const std::string& singular,
                            bool create, const std::string& exchange) {
    if (status == 422 || status == 400 || status == 404) {
        const json parsed = json::parse(body, nullptr, false);
        if (status == 422 && create && singular == "customer" && email_taken(parsed))
            return WriteResult::failed(PLEXUS_ERR_CONFLICT,
                                       "a customer with this e-mail already exists: " +
                                           errors_message(parsed));
        Failure f = classify(status, body, exchange);
        return WriteResult::failed(f.status, f.message);
    }
    if (Failure f = classify(status, body, exchange); f.status != PLEXUS_OK)
        throw Error(f.status, f.message);
    json j = parse_body(status, body, exchange);
    auto it = j.find(singular);
    if (it == j.end() || !it->is_object() || !it->contains("id"))
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " +
                                              std::to_string(status) + " on " + exchange +
                                              "): no \"" + singular + "\" with an id");
    const json& id = (*it)["id"];
    // The cursor a later read will report for this object (updated_at in UTC, as read() does):
    // the host's echo check for two-way syncs compares the two.
    std::string cursor;
    if (auto u = it->find("updated_at"); u != it->end() && u->is_string())
        if (auto t = parse_timestamp(u->get<std::string>())) cursor = format_utc(*t);
    return WriteResult::ok(id.is_string() ? id.get<std::string>() : id.dump(), std::move(cursor));
}

std::string ReadCursor::encode() const {
    json j{{"v", 1}, {"updated_at_min", updated_at_min}, {"skip_ids", skip_ids}};
    if (!page_info.empty()) {
        j["page_info"] = page_info;
        j["max_updated_at"] = max_updated_at;
        j["max_ids"] = max_ids;
    }
    return j.dump();
}

ReadCursor ReadCursor::decode(const std::string& text) {
    ReadCursor c;
    if (text.empty()) return c;
    json j = json::parse(text, nullptr, false);
    if (!j.is_object() || j.value("v", 0) != 1)
        throw Error(PLEXUS_ERR_CONFIG, "the stored cursor is not a Shopify connector cursor (v1): " +
                                           text.substr(0, 200));
    try {
        c.updated_at_min = j.value("updated_at_min", "");
        c.skip_ids = j.value("skip_ids", std::vector<std::string>{});
        c.page_info = j.value("page_info", "");
        c.max_updated_at = j.value("max_updated_at", "");
        c.max_ids = j.value("max_ids", std::vector<std::string>{});
    } catch (const json::exception& e) {
        throw Error(PLEXUS_ERR_CONFIG, std::string("the stored cursor is unreadable: ") + e.what());
    }
    return c;
}

void ReadCursor::see(const std::string& id, int64_t updated) {
    const auto current = max_updated_at.empty() ? std::nullopt : parse_timestamp(max_updated_at);
    if (!current || updated > *current) {
        max_updated_at = format_utc(updated);
        max_ids = {id};
    } else if (updated == *current &&
               std::find(max_ids.begin(), max_ids.end(), id) == max_ids.end()) {
        max_ids.push_back(id);
    }
}

ReadCursor ReadCursor::finished() const {
    ReadCursor next;
    if (max_updated_at.empty()) {  // nothing new in this set: ask the same again next time
        next.updated_at_min = updated_at_min;
        next.skip_ids = skip_ids;
        return next;
    }
    next.updated_at_min = max_updated_at;
    next.skip_ids = max_ids;
    if (max_updated_at == updated_at_min)  // every record sat on the boundary second
        for (const auto& id : skip_ids)
            if (std::find(next.skip_ids.begin(), next.skip_ids.end(), id) == next.skip_ids.end())
                next.skip_ids.push_back(id);
    return next;
}

bool ReadCursor::skips(const std::string& id, int64_t updated) const {
    if (updated_at_min.empty()) return false;
    const auto min = parse_timestamp(updated_at_min);
    if (!min || updated != *min) return false;
    return std::find(skip_ids.begin(), skip_ids.end(), id) != skip_ids.end();
}

}  // namespace plexus::shopify
