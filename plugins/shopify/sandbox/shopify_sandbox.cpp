#include "shopify_sandbox.hpp"
#include "shopify_replies.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <random>
#include <regex>
#include <thread>

#include <sys/socket.h>

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
                                           "product_id", "collection_id", "vendor", "product_type",
                                           "financial_status"};

// One thread per connection (up to a cap; beyond it the listener waits), so that a burst of
// concurrent clients is answered at once — Shopify answers a burst immediately, 200s while the
// bucket has room and 429s after — instead of queueing behind cpp-httplib's default pool of 8
// workers, each of which an idle keep-alive connection holds for up to 5 s (60 concurrent
// calls used to wait up to 26 s).
class ConnectionThreads final : public httplib::TaskQueue {
public:
    explicit ConnectionThreads(size_t max) : max_(max < 1 ? 1 : max) {}
    void enqueue(std::function<void()> fn) override {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return running_ < max_; });
        ++running_;
        lock.unlock();
        std::thread([this, fn = std::move(fn)]() mutable {
            fn();
            fn = nullptr;
            std::lock_guard done(mutex_);
            --running_;
            changed_.notify_all();
        }).detach();
    }
    // Returns once every connection's thread has finished (the server has stopped accepting).
    void shutdown() override {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return running_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    size_t running_ = 0;
    const size_t max_;
};

}  // namespace

ShopifySandbox::ShopifySandbox(Options options) : options_(std::move(options)), rate_limit_(options_.rate_limit) {
    std::sort(options_.api_versions.begin(), options_.api_versions.end());
    request_id_salt_ = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    seed();
}

void ShopifySandbox::reseed(int customers, int products, int orders) {
    std::lock_guard lock(mutex_);  // requests wait until the new store is complete
    for (Table* t : {&customers_, &products_, &orders_, &custom_collections_, &collects_, &locations_}) t->clear();
    levels_.clear();
    transactions_.clear();
    metafields_.clear();
    next_id_ = 7'100'000'000'000;
    if (customers >= 0) options_.customers = customers;
    if (products >= 0) options_.products = products;
    if (orders >= 0) options_.orders = orders;
    seed();
}

std::string ShopifySandbox::served_version(const std::string& requested) const {
    if (requested == "unstable") return requested;
    if (std::binary_search(options_.api_versions.begin(), options_.api_versions.end(), requested)) return requested;
    return options_.api_versions.empty() ? requested : options_.api_versions.front();
}

std::string ShopifySandbox::next_request_id() {
    // A UUID (version 4 layout) from a counter and a per-instance salt: unique per response.
    uint64_t x = request_id_salt_ + 0x9E3779B97F4A7C15ull * (++request_ids_);
    const auto mix = [](uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };
    const uint64_t a = mix(x), b = mix(x ^ 0xD1B54A32D192ED03ull);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffull));
    return buf;
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
    // Every answer names itself (X-Request-Id; Shopify's clients quote it in errors) and the
    // version that served it; an unsupported or missing version falls forward to the oldest
    // supported stable one (shopify.dev/docs/api/usage/versioning).
    res.set_header("X-Request-Id", next_request_id());
    static const std::regex versioned(R"(^/admin/api/([^/]+)/)");
    std::smatch m;
    res.set_header("X-Shopify-API-Version", served_version(std::regex_search(req.path, m, versioned) ? m[1].str() : ""));
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
    if (plural == "orders" && filters.contains("financial_status") && text("financial_status") != "any" &&
        o.value("financial_status", "") != text("financial_status"))
        return false;
    if (plural == "products") {
        if (filters.contains("vendor") && o.value("vendor", "") != text("vendor")) return false;
        if (filters.contains("product_type") && o.value("product_type", "") != text("product_type")) return false;
    }
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

// The stored objects of `plural` that pass the filters (the query's or those page_info
// carries), in id order; shared by the listing and count.json so that a count matches the
// listing it counts. Answers 400 (and returns none) for an unreadable date. Called with
// mutex_ held.
std::optional<std::vector<const ShopifySandbox::Stored*>> ShopifySandbox::select(const std::string& plural,
                                                                                   const json& filters,
                                                                                   httplib::Response& res) const {
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
            return std::nullopt;
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
    return matching;
}

// The list filters of a first request (kFilters, and ids[] as Shopify's clients send arrays).
json ShopifySandbox::query_filters(const httplib::Request& req) {
    json filters = json::object();
    for (const auto& f : kFilters)
        if (req.has_param(f)) filters[f] = req.get_param_value(f);
    if (req.has_param("ids[]")) {
        std::string ids;
        for (size_t i = 0; i < req.get_param_value_count("ids[]"); ++i)
            ids += (ids.empty() ? "" : ",") + req.get_param_value("ids[]", i);
        filters["ids"] = ids;
    }
    return filters;
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
        filters = query_filters(req);
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
    const auto selected = select(plural, filters, res);
    if (!selected) return;
    const std::vector<const Stored*>& matching = *selected;
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
        const int now = ++in_flight_;
        for (int peak = peak_in_flight_.load(); now > peak && !peak_in_flight_.compare_exchange_weak(peak, now);) {
        }
        struct Leave {
            std::atomic<int>& n;
            ~Leave() { --n; }
        } leave{in_flight_};
        if (!admit(req, res)) return;
        fn(req, res);
    };
}

void ShopifySandbox::count_of(const std::string& plural, const httplib::Request& req, httplib::Response& res) {
    // The listing's filters (GET orders/count.json?status=any&updated_at_min=… counts what
    // GET orders.json?status=any&updated_at_min=… lists), orders by default the open ones.
    const json filters = query_filters(req);
    std::lock_guard lock(mutex_);
    const auto selected = select(plural, filters, res);
    if (!selected) return;
    reply(res, 200, {{"count", selected->size()}});
}

void ShopifySandbox::mount(httplib::Server& server) {
    // A burst is answered at once (see ConnectionThreads); a connection may carry many
    // requests, as Shopify's does.
    const size_t max_connections = static_cast<size_t>(std::max(1, options_.max_connections));
    // cpp-httplib 0.11 listens with a backlog of 5: a burst of connects overflows it, the
    // kernel drops the SYNs and the clients retry after 1, 2, 4, 8 s (60 concurrent calls then
    // took 16 s). The listening socket is remembered here and listened on again, with room for
    // the whole burst, when the server starts serving (Linux updates the backlog in place).
    auto listener = std::make_shared<std::atomic<int>>(-1);
    server.set_socket_options([listener](socket_t sock) {
        httplib::default_socket_options(sock);
        listener->store(static_cast<int>(sock));
    });
    server.new_task_queue = [listener, max_connections] {
        if (const int fd = listener->load(); fd >= 0) ::listen(fd, 1024);
        return new ConnectionThreads(max_connections);
    };
    server.set_keep_alive_max_count(1000);
    // Answers go out whole: with Nagle on, the body segment waited for the client's delayed
    // ACK of the header segment (about 40 ms per answer on loopback).
    server.set_tcp_nodelay(true);
    // /admin/api/{version}/… and the unversioned /admin/…; group 1 is the version (empty when
    // none), group 2 the resource.
    const std::string v = R"(/admin/(?:api/([^/]+)/)?)";
    server.Post("/_sandbox/shopify", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        if (!j.is_object()) return reply(res, 400, {{"error", "the body must be a JSON object: {\"rate_limit\": false} or {\"seed\": {\"customers\": 1000, \"products\": 600, \"orders\": 1000}}"}});
        if (j.contains("rate_limit") && j["rate_limit"].is_boolean()) set_rate_limit(j["rate_limit"].get<bool>());
        if (j.contains("seed")) {
            const json& sizes = j["seed"];
            const auto size = [&](const char* name, int current) -> std::optional<int> {
                if (!sizes.is_object() || !sizes.contains(name)) return current;
                if (!sizes[name].is_number_integer() || sizes[name].get<int64_t>() < 0 || sizes[name].get<int64_t>() > 100000)
                    return std::nullopt;
                return static_cast<int>(sizes[name].get<int64_t>());
            };
            auto c = size("customers", -1), p = size("products", -1), o = size("orders", -1);  // -1: keep
            if (!sizes.is_object() || !c || !p || !o)
                return reply(res, 400, {{"error", "seed: customers, products and orders are whole numbers from 0 to 100000"}});
            reseed(*c, *p, *o);
        }
        reply(res, 200, {{"rate_limit", rate_limit_.load()}, {"requests", request_count()},
                         {"seed", {{"customers", count("customers")}, {"products", count("products")}, {"orders", count("orders")}}}});
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
        count_of(req.matches[2], req, res);
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

std::unique_ptr<Sandbox> make_shopify_sandbox(uint32_t seed, SeedSize size) {
    ShopifySandbox::Options o;
    o.seed = seed;
    o.rate_limit = true;
    // The Intacct sandbox's items: orders then reference items that Products Intacct→Shopify
    // put in the store and that Orders Shopify→Intacct can post.
    o.order_skus = demo_item_codes(size);
    if (size == SeedSize::small) {
        // The orders #1001 … #1008 that the small Intacct's invoices bill.
        o.customers = 6;
        o.products = 3;
        o.orders = 8;
    }
    return std::make_unique<ShopifySandbox>(o);
}

}  // namespace plexus::sandbox
