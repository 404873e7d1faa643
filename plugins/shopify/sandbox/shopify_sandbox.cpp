#include "shopify_sandbox.hpp"
#include "shopify_replies.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>

namespace plexus::sandbox {

using nlohmann::json;
using namespace shopify_detail;

namespace {

constexpr int kBucketSize = 40;
constexpr double kLeakPerSecond = 2.0;

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The filters a list understands; page_info carries them to later pages.
const std::vector<std::string> kFilters = {"updated_at_min", "updated_at_max", "created_at_min", "created_at_max",
                                           "since_id", "ids", "status", "name", "handle", "title",
                                           "product_id", "collection_id"};

}  // namespace

ShopifySandbox::ShopifySandbox(Options options) : options_(std::move(options)), rate_limit_(options_.rate_limit) {
    seed();
}

std::string ShopifySandbox::format_time(int64_t seconds) {
    const int64_t local = seconds + 2 * 3600;
    std::time_t t = static_cast<std::time_t>(local);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+02:00", &tm);
    return buf;
}

int64_t ShopifySandbox::now_seconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string ShopifySandbox::money(int64_t cents) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%lld.%02lld", cents < 0 ? "-" : "", static_cast<long long>(std::llabs(cents) / 100),
                  static_cast<long long>(std::llabs(cents) % 100));
    return buf;
}

void ShopifySandbox::set_rate_limit(bool on) { rate_limit_ = on; }

ShopifySandbox::Table& ShopifySandbox::table(const std::string& plural) {
    return const_cast<Table&>(static_cast<const ShopifySandbox*>(this)->table(plural));
}
const ShopifySandbox::Table& ShopifySandbox::table(const std::string& plural) const {
    if (plural == "customers") return customers_;
    if (plural == "products") return products_;
    if (plural == "custom_collections") return custom_collections_;
    if (plural == "collects") return collects_;
    if (plural == "locations") return locations_;
    return orders_;
}

std::optional<int64_t> ShopifySandbox::cents_of(const json& value) {
    if (value.is_number_integer()) return value.get<int64_t>() * 100;
    if (value.is_number()) return static_cast<int64_t>(std::llround(value.get<double>() * 100));
    if (!value.is_string()) return std::nullopt;
    static const std::regex money_re(R"(^-?\d+(\.\d{1,2})?$)");
    const std::string s = value.get<std::string>();
    if (!std::regex_match(s, money_re)) return std::nullopt;
    const bool negative = s[0] == '-';
    const std::string digits = negative ? s.substr(1) : s;
    const auto dot = digits.find('.');
    int64_t cents = std::atoll(digits.substr(0, dot).c_str()) * 100;
    if (dot != std::string::npos) {
        std::string frac = digits.substr(dot + 1);
        if (frac.size() == 1) frac += '0';
        cents += std::atoll(frac.c_str());
    }
    return negative ? -cents : cents;
}

json ShopifySandbox::collects_of(int64_t product_id) const {
    std::lock_guard lock(mutex_);
    json out = json::array();
    for (const auto& [id, s] : collects_)
        if (s.data["product_id"] == product_id) out.push_back(s.data);
    return out;
}

json ShopifySandbox::inventory_level(int64_t item, int64_t location) const {
    std::lock_guard lock(mutex_);
    auto it = levels_.find({item, location});
    return it == levels_.end() ? json() : it->second.data;
}

json ShopifySandbox::order_transactions(int64_t order_id) const {
    std::lock_guard lock(mutex_);
    auto it = transactions_.find(order_id);
    return it == transactions_.end() ? json::array() : json(it->second);
}

json ShopifySandbox::order_metafields(int64_t order_id) const {
    std::lock_guard lock(mutex_);
    auto it = metafields_.find(order_id);
    return it == metafields_.end() ? json::array() : json(it->second);
}

size_t ShopifySandbox::count(const std::string& plural) const {
    std::lock_guard lock(mutex_);
    return table(plural).size();
}

json ShopifySandbox::object(const std::string& plural, int64_t id) const {
    std::lock_guard lock(mutex_);
    const auto& t = table(plural);
    auto it = t.find(id);
    return it == t.end() ? json() : it->second.data;
}

std::string ShopifySandbox::call_limit_header() {
    // Called with mutex_ held.
    const int used = rate_limit_ ? std::max(1, static_cast<int>(std::ceil(bucket_level_))) : 1;
    return std::to_string(std::min(used, kBucketSize)) + "/" + std::to_string(kBucketSize);
}

bool ShopifySandbox::admit(const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    const auto too_many = [](httplib::Response& r) {
        r.set_header("Retry-After", "2.0");
        r.set_header("X-Shopify-Shop-Api-Call-Limit", "40/40");
        reply(r, 429, {{"errors", "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}});
    };
    if (faults_.intercept(res, too_many)) {
        if (res.status != 429) res.set_header("X-Shopify-Shop-Api-Call-Limit", "1/40");
        return false;
    }
    std::lock_guard lock(mutex_);
    if (!options_.tokens.count(req.get_header_value("X-Shopify-Access-Token"))) {
        res.set_header("X-Shopify-Shop-Api-Call-Limit", call_limit_header());
        reply(res, 401, {{"errors", "[API] Invalid API key or access token (unrecognized login or wrong password)"}});
        return false;
    }
    if (rate_limit_) {
        using namespace std::chrono;
        const int64_t now = duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
        if (bucket_ms_) bucket_level_ = std::max(0.0, bucket_level_ - (now - bucket_ms_) * kLeakPerSecond / 1000.0);
        bucket_ms_ = now;
        if (bucket_level_ + 1 > kBucketSize) {
            too_many(res);
            return false;
        }
        bucket_level_ += 1;
    }
    res.set_header("X-Shopify-Shop-Api-Call-Limit", call_limit_header());
    return true;
}

void ShopifySandbox::touch(Stored& s, int64_t now) {
    s.updated = std::max(now, s.updated);
    s.data["updated_at"] = format_time(s.updated);
}

// The resource-specific filters: orders by name, custom collections by handle, title and
// product_id (the collections the product is in), collects by product_id and collection_id.
// Called with mutex_ held.
bool ShopifySandbox::matches_filters(const std::string& plural, int64_t id, const json& o, const json& filters) const {
    const auto text = [&](const char* f) { return filters.contains(f) ? filters[f].get<std::string>() : std::string(); };
    if (plural == "orders" && filters.contains("name") && o.value("name", "") != text("name")) return false;
    if (plural == "custom_collections") {
        if (filters.contains("handle") && o.value("handle", "") != text("handle")) return false;
        if (filters.contains("title") && o.value("title", "") != text("title")) return false;
        if (filters.contains("product_id")) {
            const int64_t pid = std::atoll(text("product_id").c_str());
            bool in = false;
            for (const auto& [cid, c] : collects_) in = in || (c.data["product_id"] == pid && c.data["collection_id"] == id);
            if (!in) return false;
        }
    }
    if (plural == "collects") {
        if (filters.contains("product_id") && o["product_id"] != std::atoll(text("product_id").c_str())) return false;
        if (filters.contains("collection_id") && o["collection_id"] != std::atoll(text("collection_id").c_str())) return false;
    }
    return true;
}

void ShopifySandbox::list(const std::string& plural, const httplib::Request& req, httplib::Response& res) {
    // Filters: from the query on the first page, from page_info afterwards.
    json filters = json::object();
    int64_t after_id = 0, before_id = 0;
    if (req.has_param("page_info")) {
        for (const auto& [k, v] : req.params)
            if (k != "page_info" && k != "limit" && k != "fields") {
                reply(res, 400, {{"errors", k + " cannot be passed when page_info is present"}});
                return;
            }
        auto raw = hex_decode(req.get_param_value("page_info"));
        json p = raw ? json::parse(*raw, nullptr, false) : json();
        if (!p.is_object() || p.value("resource", "") != plural) {
            reply(res, 400, {{"errors", {{"page_info", "Invalid value."}}}});
            return;
        }
        filters = p["filters"];
        after_id = p.value("after", int64_t{0});
        before_id = p.value("before", int64_t{0});
    } else {
        for (const auto& f : kFilters)
            if (req.has_param(f)) filters[f] = req.get_param_value(f);
        if (req.has_param("ids[]")) {
            std::string ids;
            for (size_t i = 0; i < req.get_param_value_count("ids[]"); ++i)
                ids += (ids.empty() ? "" : ",") + req.get_param_value("ids[]", i);
            filters["ids"] = ids;
        }
    }
    int limit = 50;
    if (req.has_param("limit")) {
        try {
            limit = std::stoi(req.get_param_value("limit"));
        } catch (...) {
            limit = -1;
        }
        if (limit < 1 || limit > 250) {
            reply(res, 400, {{"errors", {{"limit", "must be between 1 and 250"}}}});
            return;
        }
    }
    std::optional<int64_t> umin, umax, cmin, cmax;
    int64_t since_id = 0;
    std::set<int64_t> ids;
    const auto time_filter = [&](const char* name, std::optional<int64_t>& out) {
        if (!filters.contains(name)) return true;
        out = parse_time(filters[name].get<std::string>());
        return out.has_value();
    };
    for (const char* n : {"updated_at_min", "updated_at_max", "created_at_min", "created_at_max"}) {
        std::optional<int64_t>& slot = std::string(n) == "updated_at_min" ? umin : std::string(n) == "updated_at_max" ? umax
                                     : std::string(n) == "created_at_min" ? cmin : cmax;
        if (!time_filter(n, slot)) {
            reply(res, 400, {{"errors", {{n, "is not a valid date"}}}});
            return;
        }
    }
    if (filters.contains("since_id")) since_id = std::atoll(filters["since_id"].get<std::string>().c_str());
    if (filters.contains("ids")) {
        std::string s = filters["ids"].get<std::string>();
        size_t p = 0;
        while (p <= s.size()) {
            size_t c = s.find(',', p);
            if (c == std::string::npos) c = s.size();
            if (c > p) ids.insert(std::atoll(s.substr(p, c - p).c_str()));
            p = c + 1;
        }
    }
    const std::string status = filters.value("status", plural == "orders" ? "open" : "");
    std::vector<std::string> fields;
    if (req.has_param("fields")) {
        std::string s = req.get_param_value("fields");
        size_t p = 0;
        while (p <= s.size()) {
            size_t c = s.find(',', p);
            if (c == std::string::npos) c = s.size();
            if (c > p) fields.push_back(s.substr(p, c - p));
            p = c + 1;
        }
    }

    std::lock_guard lock(mutex_);
    std::vector<const Stored*> matching;
    for (const auto& [id, s] : table(plural)) {
        if (umin && s.updated < *umin) continue;
        if (umax && s.updated > *umax) continue;
        if (cmin && s.created < *cmin) continue;
        if (cmax && s.created > *cmax) continue;
        if (since_id && id <= since_id) continue;
        if (!ids.empty() && !ids.count(id)) continue;
        if (plural == "orders" && status != "any") {
            const bool closed = !s.data["closed_at"].is_null(), cancelled = !s.data["cancelled_at"].is_null();
            if (status == "open" && (closed || cancelled)) continue;
            if (status == "closed" && !closed) continue;
            if (status == "cancelled" && !cancelled) continue;
        }
        if (plural == "products" && !status.empty() && s.data.value("status", "") != status) continue;
        if (!matches_filters(plural, id, s.data, filters)) continue;
        matching.push_back(&s);
    }
    // The window: ids ascending; after_id → the next `limit`; before_id → the `limit` before.
    size_t begin = 0, end = 0;
    if (before_id) {
        end = std::lower_bound(matching.begin(), matching.end(), before_id,
                               [](const Stored* s, int64_t v) { return s->data["id"].get<int64_t>() < v; }) - matching.begin();
        begin = end > static_cast<size_t>(limit) ? end - limit : 0;
    } else {
        begin = std::upper_bound(matching.begin(), matching.end(), after_id,
                                 [](int64_t v, const Stored* s) { return v < s->data["id"].get<int64_t>(); }) - matching.begin();
        end = std::min(matching.size(), begin + limit);
    }
    json items = json::array();
    for (size_t i = begin; i < end; ++i) {
        if (fields.empty()) {
            items.push_back(matching[i]->data);
        } else {
            json o = json::object();
            for (const auto& f : fields)
                if (matching[i]->data.contains(f)) o[f] = matching[i]->data[f];
            items.push_back(std::move(o));
        }
    }
    // Link: URLs built on the Host the client sent; page_info is hex (no ',' or ';').
    const std::string host = req.get_header_value("Host");
    std::string base = "http://" + host + req.path + "?limit=" + std::to_string(limit);
    if (!fields.empty()) base += "&fields=" + httplib::detail::encode_query_param(req.get_param_value("fields"));
    std::vector<std::string> links;
    const auto cursor = [&](const char* dir, int64_t id) {
        return hex_encode(json{{"resource", plural}, {"filters", filters}, {dir, id}}.dump());
    };
    if (end > begin && begin > 0)
        links.push_back("<" + base + "&page_info=" + cursor("before", matching[begin]->data["id"].get<int64_t>()) + ">; rel=\"previous\"");
    if (end > begin && end < matching.size())
        links.push_back("<" + base + "&page_info=" + cursor("after", matching[end - 1]->data["id"].get<int64_t>()) + ">; rel=\"next\"");
    if (!links.empty()) {
        std::string link;
        for (const auto& l : links) link += (link.empty() ? "" : ", ") + l;
        res.set_header("Link", link);
    }
    reply(res, 200, {{plural, std::move(items)}});
}

void ShopifySandbox::search(const httplib::Request& req, httplib::Response& res) {
    // query: space-separated terms; field:value or field:"value" (email, phone, first_name,
    // last_name, tag), bare words match name or e-mail. All terms must match.
    const std::string q = req.get_param_value("query");
    std::vector<std::pair<std::string, std::string>> terms;
    size_t i = 0;
    while (i < q.size()) {
        while (i < q.size() && q[i] == ' ') ++i;
        if (i >= q.size()) break;
        std::string field, value;
        size_t colon = std::string::npos;
        size_t j = i;
        while (j < q.size() && q[j] != ' ' && q[j] != '"' && q[j] != ':') ++j;
        if (j < q.size() && q[j] == ':') {
            colon = j;
            field = q.substr(i, colon - i);
            j = colon + 1;
        } else {
            j = i;
        }
        if (j < q.size() && q[j] == '"') {
            ++j;
            while (j < q.size() && q[j] != '"') {
                if (q[j] == '\\' && j + 1 < q.size()) ++j;
                value += q[j++];
            }
            ++j;
        } else {
            while (j < q.size() && q[j] != ' ') value += q[j++];
        }
        terms.emplace_back(lower(field), lower(value));
        i = j;
    }
    int limit = req.has_param("limit") ? std::atoi(req.get_param_value("limit").c_str()) : 50;
    if (limit < 1 || limit > 250) limit = 50;
    std::lock_guard lock(mutex_);
    json items = json::array();
    for (const auto& [id, s] : customers_) {
        const json& c = s.data;
        const auto str = [&](const char* f) { return c.contains(f) && c[f].is_string() ? lower(c[f].get<std::string>()) : std::string(); };
        bool all = true;
        for (const auto& [field, value] : terms) {
            bool ok = false;
            if (field == "tag") {
                const std::string tags = str("tags");
                size_t p = 0;
                while (p <= tags.size() && !ok) {
                    size_t comma = tags.find(',', p);
                    if (comma == std::string::npos) comma = tags.size();
                    std::string t = tags.substr(p, comma - p);
                    while (!t.empty() && t.front() == ' ') t.erase(0, 1);
                    while (!t.empty() && t.back() == ' ') t.pop_back();
                    ok = t == value;
                    p = comma + 1;
                }
            } else if (field == "email" || field == "phone" || field == "first_name" || field == "last_name") {
                ok = str(field.c_str()) == value;
            } else if (field.empty()) {
                ok = str("email").find(value) != std::string::npos || str("first_name").find(value) != std::string::npos ||
                     str("last_name").find(value) != std::string::npos;
            }
            all = all && ok;
        }
        if (all && !terms.empty()) items.push_back(c);
        if (static_cast<int>(items.size()) >= limit) break;
    }
    reply(res, 200, {{"customers", std::move(items)}});
}

void ShopifySandbox::get_one(const std::string& plural, int64_t id, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    const auto& t = table(plural);
    auto it = t.find(id);
    if (it == t.end()) return reply(res, 404, {{"errors", "Not Found"}});
    reply(res, 200, {{plural.substr(0, plural.size() - 1), it->second.data}});
}

std::optional<json> ShopifySandbox::validate_customer(const json& c, int64_t self_id) const {
    const auto text = [&](const char* f) { return c.contains(f) && c[f].is_string() ? c[f].get<std::string>() : std::string(); };
    json errors = json::object();
    if (text("email").empty() && text("phone").empty() && text("first_name").empty() && text("last_name").empty())
        errors["base"] = {"Customer must have a name, phone number or email address"};
    const std::string email = lower(text("email"));
    if (!email.empty()) {
        if (email.find('@') == std::string::npos || email.front() == '@' || email.back() == '@') {
            errors["email"] = {"is invalid"};
        } else {
            for (const auto& [id, s] : customers_)
                if (id != self_id && s.data["email"].is_string() && lower(s.data["email"].get<std::string>()) == email) {
                    errors["email"] = {"has already been taken"};
                    break;
                }
        }
    }
    if (errors.empty()) return std::nullopt;
    return json{{"errors", errors}};
}

void ShopifySandbox::create(const std::string& plural, const httplib::Request& req, httplib::Response& res) {
    const std::string singular = plural.substr(0, plural.size() - 1);
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains(singular) || !body[singular].is_object())
        return reply(res, 400, {{"errors", {{singular, "Required parameter missing or invalid"}}}});
    json o = body[singular];
    std::lock_guard lock(mutex_);
    const int64_t now = now_seconds();
    if (plural == "customers") {
        if (auto e = validate_customer(o, 0)) return reply(res, 422, *e);
        for (const char* f : {"email", "phone", "first_name", "last_name", "note"})
            if (!o.contains(f)) o[f] = nullptr;
        if (!o.contains("tags")) o["tags"] = "";
        o["state"] = "disabled";
        o["orders_count"] = 0;
        o["total_spent"] = "0.00";
        o["currency"] = "CHF";
        o["verified_email"] = true;
        if (!o.contains("addresses")) o["addresses"] = json::array();
    } else if (plural == "products") {
        if (!o.contains("title") || !o["title"].is_string() || o["title"].get<std::string>().empty())
            return reply(res, 422, {{"errors", {{"title", {"can't be blank"}}}}});
        if (!o.contains("variants") || !o["variants"].is_array() || o["variants"].empty())
            o["variants"] = json::array({json{{"title", "Default Title"}, {"price", "0.00"}, {"sku", ""}}});
        if (!o.contains("status")) o["status"] = "active";
        if (!o.contains("tags")) o["tags"] = "";
    }
    const int64_t id = take_id();
    o["id"] = id;
    o["admin_graphql_api_id"] = "gid://shopify/" + std::string(plural == "customers" ? "Customer" : "Product") + "/" + std::to_string(id);
    o["created_at"] = format_time(now);
    o["updated_at"] = format_time(now);
    if (plural == "products") {
        int pos = 1;
        for (auto& v : o["variants"]) {
            v["id"] = take_id();
            v["product_id"] = id;
            v["inventory_item_id"] = take_id();
            v["position"] = pos++;
            if (!v.contains("inventory_quantity")) v["inventory_quantity"] = 0;
            // Tracked unless the request says otherwise (whether Shopify tracks a REST-created
            // variant by default is unconfirmed; mapping inventory_management "shopify" is safe).
            if (!v.contains("inventory_management")) v["inventory_management"] = "shopify";
            if (!v.contains("sku")) v["sku"] = "";
            v["updated_at"] = format_time(now);
        }
    }
    table(plural)[id] = Stored{o, now, now};
    reply(res, 201, {{singular, o}});
}

void ShopifySandbox::update(const std::string& plural, int64_t id, const httplib::Request& req, httplib::Response& res) {
    const std::string singular = plural.substr(0, plural.size() - 1);
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains(singular) || !body[singular].is_object())
        return reply(res, 400, {{"errors", {{singular, "Required parameter missing or invalid"}}}});
    std::lock_guard lock(mutex_);
    auto& t = table(plural);
    auto it = t.find(id);
    if (it == t.end()) return reply(res, 404, {{"errors", "Not Found"}});
    json merged = it->second.data;
    for (auto& [k, v] : body[singular].items())
        if (k != "id" && k != "created_at" && k != "updated_at" && k != "admin_graphql_api_id") merged[k] = v;
    if (plural == "customers")
        if (auto e = validate_customer(merged, id)) return reply(res, 422, *e);
    if (plural == "products" && (!merged["title"].is_string() || merged["title"].get<std::string>().empty()))
        return reply(res, 422, {{"errors", {{"title", {"can't be blank"}}}}});
    if (plural == "products")
        for (auto& v : merged["variants"]) {
            if (!v.contains("id")) v["id"] = take_id(), v["inventory_item_id"] = take_id();
            if (!v.contains("inventory_management")) v["inventory_management"] = "shopify";
            v["product_id"] = id;
        }
    it->second.data = std::move(merged);
    touch(it->second, now_seconds());
    reply(res, 200, {{singular, it->second.data}});
}

httplib::Server::Handler ShopifySandbox::guarded(httplib::Server::Handler fn) {
    return [this, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        fn(req, res);
    };
}

void ShopifySandbox::mount(httplib::Server& server) {
    const std::string v = R"(/admin/api/(\d{4}-\d{2})/)";
    server.Post("/_sandbox/shopify", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        if (j.is_object() && j.contains("rate_limit") && j["rate_limit"].is_boolean()) set_rate_limit(j["rate_limit"].get<bool>());
        reply(res, 200, {{"rate_limit", rate_limit_.load()}, {"requests", request_count()}});
    });
    server.Get(v + "shop.json", guarded([](const httplib::Request& req, httplib::Response& res) {
        reply(res, 200, {{"shop", {{"id", 54'000'000'001}, {"name", "Plexus Sandbox Shop"}, {"email", "owner@sandbox.example"},
                                   {"domain", req.get_header_value("Host")}, {"myshopify_domain", "plexus-sandbox.myshopify.com"},
                                   {"currency", "CHF"}, {"iana_timezone", "Europe/Zurich"}, {"timezone", "(GMT+01:00) Europe/Zurich"},
                                   {"plan_name", "basic"}}}});
    }));
    server.Get(v + "customers/search.json", guarded([this](const httplib::Request& req, httplib::Response& res) { search(req, res); }));
    const std::string readable = "(customers|products|orders|custom_collections|collects|locations)";
    server.Get(v + readable + "/count.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mutex_);
        reply(res, 200, {{"count", table(req.matches[2]).size()}});
    }));
    server.Get(v + readable + "/(\\d+).json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        get_one(req.matches[2], std::atoll(req.matches[3].str().c_str()), res);
    }));
    server.Get(v + readable + ".json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        list(req.matches[2], req, res);
    }));
    server.Post(v + "(customers|products).json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        create(req.matches[2], req, res);
    }));
    server.Put(v + "(customers|products)/(\\d+).json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        update(req.matches[2], std::atoll(req.matches[3].str().c_str()), req, res);
    }));
    mount_catalog(server, v);
    mount_inventory(server, v);
    mount_order_payments(server, v);
    // Anything else under /admin: counted, authenticated, then 404 as Shopify answers.
    const auto not_found = guarded([](const httplib::Request&, httplib::Response& res) { reply(res, 404, {{"errors", "Not Found"}}); });
    server.Get("/admin/.*", not_found);
    server.Post("/admin/.*", not_found);
    server.Put("/admin/.*", not_found);
    server.Delete("/admin/.*", not_found);
}

std::unique_ptr<Sandbox> make_shopify_sandbox(uint32_t seed) {
    ShopifySandbox::Options o;
    o.seed = seed;
    o.rate_limit = true;
    // The Intacct sandbox's items I-1001 … I-1150: orders then reference items that Products
    // Intacct→Shopify put in the store and that Orders Shopify→Intacct can post.
    for (int i = 1001; i <= 1150; ++i) o.order_skus.push_back("I-" + std::to_string(i));
    return std::make_unique<ShopifySandbox>(o);
}

}  // namespace plexus::sandbox
