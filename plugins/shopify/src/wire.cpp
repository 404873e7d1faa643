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
