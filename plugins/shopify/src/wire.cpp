#include "wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cmath>
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

// Percent-decoding without turning '+' into a space: RFC 3986 query text, not a form. Applied
// to a page_info that may or may not have been decoded already (see link_page_info).
std::string percent_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
            i += 2;
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

std::vector<Link> parse_link_header(const std::string& header) {
    // RFC 8288: link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), separated by
    // commas. The URL is read up to the '>' that ends it (one followed by ';', ',' or the end),
    // not up to the next comma: an HTTP client may hand the header over percent-decoded
    // (cpp-httplib 0.11 decodes every header value but Location and Referer), and then
    // fields=id%2Ctitle arrives as fields=id,title. Parameter values may be quoted strings,
    // which may hold commas and semicolons too.
    std::vector<Link> out;
    const size_t n = header.size();
    size_t i = 0;
    const auto skip_ws = [&] {
        while (i < n && (header[i] == ' ' || header[i] == '\t')) ++i;
    };
    while (i < n) {
        skip_ws();
        if (i < n && header[i] == ',') {
            ++i;
            continue;
        }
        if (i >= n) break;
        if (header[i] != '<') {  // garbage: go on after the next comma that precedes a '<'
            const size_t lt = header.find('<', i);
            if (lt == std::string::npos) break;
            i = lt;
            continue;
        }
        // The URL: up to the first '>' followed (after blanks) by ';', ',' or the end.
        size_t gt = std::string::npos;
        for (size_t k = i + 1; k < n; ++k) {
            if (header[k] != '>') continue;
            size_t m = k + 1;
            while (m < n && (header[m] == ' ' || header[m] == '\t')) ++m;
            if (m == n || header[m] == ';' || header[m] == ',') {
                gt = k;
                break;
            }
        }
        if (gt == std::string::npos) break;  // an unterminated URL: nothing more to read
        Link link;
        link.url = header.substr(i + 1, gt - i - 1);
        i = gt + 1;
        // Parameters: ; name[=value | ="quoted"] …, until a ',' outside quotes or the end.
        for (;;) {
            skip_ws();
            if (i >= n || header[i] == ',') break;
            if (header[i] != ';') {  // stray text: skip to the next separator
                while (i < n && header[i] != ';' && header[i] != ',') ++i;
                continue;
            }
            ++i;
            skip_ws();
            size_t name_end = i;
            while (name_end < n && header[name_end] != '=' && header[name_end] != ';' && header[name_end] != ',' &&
                   header[name_end] != ' ' && header[name_end] != '\t')
                ++name_end;
            std::string name = header.substr(i, name_end - i);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            i = name_end;
            skip_ws();
            std::string value;
            if (i < n && header[i] == '=') {
                ++i;
                skip_ws();
                if (i < n && header[i] == '"') {
                    for (++i; i < n && header[i] != '"'; ++i) {
                        if (header[i] == '\\' && i + 1 < n) ++i;
                        value += header[i];
                    }
                    if (i < n) ++i;  // the closing quote
                } else {
                    while (i < n && header[i] != ';' && header[i] != ',' && header[i] != ' ' && header[i] != '\t')
                        value += header[i++];
                }
            }
            if (name == "rel" && link.rel.empty()) {  // RFC 8288 §3.3: only the first rel counts
                for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                link.rel = value;
            }
        }
        out.push_back(std::move(link));
    }
    return out;
}

std::optional<std::string> query_param(const std::string& url, const std::string& name) {
    const auto q = url.find('?');
    if (q == std::string::npos) return std::nullopt;
    std::string query = url.substr(q + 1);
    if (const auto hash = query.find('#'); hash != std::string::npos) query.resize(hash);
    size_t p = 0;
    while (p <= query.size()) {
        size_t amp = query.find('&', p);
        if (amp == std::string::npos) amp = query.size();
        const std::string kv = query.substr(p, amp - p);
        const auto eq = kv.find('=');
        if (percent_decode(kv.substr(0, eq)) == name)
            return eq == std::string::npos ? std::string() : percent_decode(kv.substr(eq + 1));
        p = amp + 1;
    }
    return std::nullopt;
}

std::optional<std::string> link_page_info(const std::string& link_header, const std::string& rel) {
    for (const auto& link : parse_link_header(link_header)) {
        // rel may list several relation types ("next last").
        bool has = false;
        size_t p = 0;
        while (p <= link.rel.size() && !has) {
            size_t sp = link.rel.find(' ', p);
            if (sp == std::string::npos) sp = link.rel.size();
            has = link.rel.compare(p, sp - p, rel) == 0 && sp - p == rel.size();
            p = sp + 1;
        }
        if (!has) continue;
        auto page_info = query_param(link.url, "page_info");
        if (!page_info || page_info->empty()) return std::nullopt;
        return page_info;
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
                         const std::string& plural, const std::string& exchange, bool require_id) {
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
        if (!item.is_object() || (require_id && !item.contains("id")))
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " +
                                                  std::to_string(status) + " on " + exchange +
                                                  "): an element of \"" + plural + "\" is not an object" +
                                                  (require_id ? " with an id" : ""));
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

std::string category_handle(const std::string& category_id) {
    std::string slug;
    bool pending_dash = false;
    for (unsigned char c : category_id) {
        if (std::isalnum(c) && c < 0x80) {
            if (pending_dash && !slug.empty()) slug += '-';
            pending_dash = false;
            slug += static_cast<char>(std::tolower(c));
        } else {
            pending_dash = true;
        }
    }
    if (slug.size() > 200) slug.resize(200);
    // Lossless (up to case) only when the id was already a slug: [A-Za-z0-9] runs joined by
    // single '-', no leading or trailing '-'.
    std::string lowered;
    for (unsigned char c : category_id) lowered += static_cast<char>(std::tolower(c));
    std::string handle = std::string(kCategoryHandlePrefix) + slug;
    if (lowered != slug || slug.empty()) {
        uint32_t h = 2166136261u;
        for (unsigned char c : category_id) {
            h ^= c;
            h *= 16777619u;
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, "%08x", h);
        handle += (slug.empty() ? "" : "-") + std::string(buf);
    }
    return handle;
}

std::optional<int64_t> parse_cents(const json& value) {
    std::string text;
    if (value.is_number_integer()) return value.get<int64_t>() * 100;
    if (value.is_number()) {
        const double d = value.get<double>();
        const double cents = d * 100;
        const double rounded = static_cast<double>(static_cast<int64_t>(cents + (cents < 0 ? -0.5 : 0.5)));
        if (std::abs(cents - rounded) > 1e-6) return std::nullopt;
        return static_cast<int64_t>(rounded);
    }
    if (!value.is_string()) return std::nullopt;
    text = trim(value.get<std::string>());
    if (text.empty()) return std::nullopt;
    size_t i = 0;
    bool negative = false;
    if (text[i] == '-' || text[i] == '+') negative = text[i++] == '-';
    int64_t units = 0, cents = 0;
    size_t digits = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
        if (units > 1'000'000'000'000) return std::nullopt;
        units = units * 10 + (text[i] - '0');
    }
    if (i < text.size() && text[i] == '.') {
        ++i;
        size_t decimals = 0;
        for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++decimals) {
            if (decimals >= 2) {
                if (text[i] != '0') return std::nullopt;  // 19.999 is not money
                continue;
            }
            cents = cents * 10 + (text[i] - '0');
        }
        if (decimals == 1) cents *= 10;
        digits += decimals;
    }
    if (i != text.size() || digits == 0) return std::nullopt;
    const int64_t total = units * 100 + cents;
    return negative ? -total : total;
}

std::string format_cents(int64_t cents) {
    const int64_t a = cents < 0 ? -cents : cents;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s%lld.%02lld", cents < 0 ? "-" : "", static_cast<long long>(a / 100),
                  static_cast<long long>(a % 100));
    return buf;
}

std::string inventory_level_key(int64_t inventory_item_id, int64_t location_id) {
    return std::to_string(inventory_item_id) + ":" + std::to_string(location_id);
}

std::optional<std::pair<int64_t, int64_t>> parse_inventory_level_key(const std::string& key) {
    const auto colon = key.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= key.size()) return std::nullopt;
    char* end = nullptr;
    const std::string a = key.substr(0, colon), b = key.substr(colon + 1);
    const long long item = std::strtoll(a.c_str(), &end, 10);
    if (*end || item <= 0) return std::nullopt;
    const long long location = std::strtoll(b.c_str(), &end, 10);
    if (*end || location <= 0) return std::nullopt;
    return std::make_pair(static_cast<int64_t>(item), static_cast<int64_t>(location));
}

WriteResult interpret_inventory_set(int status, const std::string& body, const std::string& exchange) {
    if (status == 422 || status == 400 || status == 404) {
        Failure f = classify(status, body, exchange);
        return WriteResult::failed(f.status, f.message);
    }
    if (Failure f = classify(status, body, exchange); f.status != PLEXUS_OK) throw Error(f.status, f.message);
    json j = parse_body(status, body, exchange);
    auto it = j.find("inventory_level");
    const auto malformed = [&] {
        return Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " + std::to_string(status) +
                                               " on " + exchange + "): no \"inventory_level\" with its ids");
    };
    if (it == j.end() || !it->is_object()) throw malformed();
    const json& level = *it;
    if (!level.contains("inventory_item_id") || !level["inventory_item_id"].is_number_integer() ||
        !level.contains("location_id") || !level["location_id"].is_number_integer())
        throw malformed();
    std::string cursor;
    if (auto u = level.find("updated_at"); u != level.end() && u->is_string())
        if (auto t = parse_timestamp(u->get<std::string>())) cursor = format_utc(*t);
    return WriteResult::ok(inventory_level_key(level["inventory_item_id"].get<int64_t>(), level["location_id"].get<int64_t>()),
                           std::move(cursor));
}

std::vector<MetafieldWrite> plan_metafields(const std::vector<MetafieldValue>& wanted, const json& existing) {
    std::vector<MetafieldWrite> out;
    const json empty = json::array();
    const json& list = existing.is_object() && existing.contains("metafields") && existing["metafields"].is_array()
                           ? existing["metafields"]
                           : empty;
    for (const auto& w : wanted) {
        const json* found = nullptr;
        for (const auto& m : list)
            if (m.is_object() && m.value("namespace", "") == kMetafieldNamespace && m.value("key", "") == w.key) {
                found = &m;
                break;
            }
        if (!found) {
            out.push_back({w, 0});
            continue;
        }
        const json& v = (*found)["value"];
        std::string current = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
        bool same = current == w.value && found->value("type", w.type) == w.type;
        if (!same && w.type == "number_decimal") {  // "12.5" and "12.50" are the same amount
            auto a = parse_cents(json(current)), b = parse_cents(json(w.value));
            same = a && b && *a == *b && found->value("type", w.type) == w.type;
        }
        if (!same) {
            const json& id = (*found)["id"];
            out.push_back({w, id.is_number_integer() ? id.get<int64_t>() : std::atoll(id.is_string() ? id.get<std::string>().c_str() : "0")});
        }
    }
    return out;
}

bool invoice_paid(const std::string& state, std::optional<int64_t> amount_due_cents) {
    std::string s;
    for (unsigned char c : trim(state)) s += static_cast<char>(std::tolower(c));
    return s == "paid" || (amount_due_cents && *amount_due_cents == 0);
}

namespace {
int64_t id_of(const json& v) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) return std::atoll(v.get<std::string>().c_str());
    return 0;
}
}  // namespace

PaymentPlan plan_payment(const json& order, const json& transactions) {
    PaymentPlan plan;
    const std::string fs = order.value("financial_status", "");
    const std::string name = order.contains("name") && order["name"].is_string() ? order["name"].get<std::string>() : "";
    if (fs == "paid" || fs == "partially_refunded" || fs == "refunded") return plan;
    if (fs == "voided") {
        plan.refusal = "the order's payment was voided in Shopify (financial_status voided); record the payment of " +
                       (name.empty() ? std::string("this order") : name) + " by hand";
        return plan;
    }
    const auto total = order.contains("total_price") ? parse_cents(order["total_price"]) : std::nullopt;
    if (!total) {
        plan.refusal = "the order has no readable total_price";
        return plan;
    }
    const json empty = json::array();
    const json& list = transactions.is_object() && transactions.contains("transactions") && transactions["transactions"].is_array()
                           ? transactions["transactions"]
                           : empty;
    struct Auth {
        int64_t id, amount, captured = 0;
        bool voided = false;
    };
    std::vector<Auth> auths;
    int64_t paid = 0;
    for (const auto& t : list) {
        if (!t.is_object()) continue;
        const std::string kind = t.value("kind", ""), status = t.value("status", "");
        const auto amount = t.contains("amount") ? parse_cents(t["amount"]) : std::nullopt;
        if (!amount) continue;
        if (kind == "authorization" && status == "success") auths.push_back({id_of(t["id"]), *amount});
        if ((kind == "capture" || kind == "sale") && (status == "success" || status == "pending")) paid += *amount;
    }
    for (const auto& t : list) {
        if (!t.is_object() || !t.contains("parent_id") || t["parent_id"].is_null()) continue;
        const std::string kind = t.value("kind", ""), status = t.value("status", "");
        const int64_t parent = id_of(t["parent_id"]);
        const auto amount = t.contains("amount") ? parse_cents(t["amount"]) : std::nullopt;
        for (auto& a : auths) {
            if (a.id != parent) continue;
            if (kind == "capture" && (status == "success" || status == "pending") && amount) a.captured += *amount;
            if (kind == "void" && status == "success") a.voided = true;
        }
    }
    int64_t due = *total - paid;
    if (order.contains("total_outstanding"))
        if (auto outstanding = parse_cents(order["total_outstanding"])) due = std::min(due, *outstanding);
    if (due <= 0) return plan;
    std::sort(auths.begin(), auths.end(), [](const Auth& a, const Auth& b) { return a.id < b.id; });
    const std::string currency = order.contains("presentment_currency") && order["presentment_currency"].is_string()
                                     ? order["presentment_currency"].get<std::string>()
                                     : order.value("currency", "");
    for (const auto& a : auths) {
        const int64_t left = a.amount - a.captured;
        if (a.voided || left <= 0 || due <= 0) continue;
        const int64_t amount = std::min(left, due);
        plan.steps.push_back({"capture", a.id, amount, currency});
        due -= amount;
    }
    if (due > 0) plan.steps.push_back({"sale", 0, due, currency});
    return plan;
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
