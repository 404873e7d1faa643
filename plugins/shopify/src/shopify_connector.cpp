// The Shopify connector: the Admin REST API through the host's HTTP client only.
// Entities: customers (read incrementally, create, update, lookup), orders (read
// incrementally, status=any), products with variants (read incrementally, create, update,
// lookup by SKU). Wire parsing lives in wire.cpp (pure, golden-tested).
#include "wire.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus::shopify {

using plexus::sdk::Error;
using plexus::sdk::HttpRequest;
using plexus::sdk::HttpResponse;
using plexus::sdk::LookupRequest;
using plexus::sdk::LookupResult;
using plexus::sdk::ReadPage;
using plexus::sdk::ReadRequest;
using plexus::sdk::Record;
using plexus::sdk::WriteItem;
using plexus::sdk::WriteOp;
using plexus::sdk::WriteResult;

namespace {

// The tag that carries a create's idempotency key, so lookup can find what a create made
// even when the record has no e-mail (and after a crash before the host recorded it).
std::string idempotency_tag(const std::string& key) { return "plexus:" + key; }

struct EntitySpec {
    const char* plural;
    const char* singular;
    const char* list_params;  // extra filters on the first page of a result set
    bool writable;
};

const std::map<std::string, EntitySpec>& entities() {
    static const std::map<std::string, EntitySpec> e = {
        {"customers", {"customers", "customer", "", true}},
        {"orders", {"orders", "order", "status=any&", false}},
        {"products", {"products", "product", "", true}},
    };
    return e;
}

std::string id_text(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

}  // namespace

class ShopifyConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "shopify";
    static constexpr const char* version = "0.1.0";
    static constexpr const char* manifest = R"json({
  "id": "shopify",
  "name": "Shopify (Admin REST API)",
  "version": "0.1.0",
  "description": "Customers, orders and products with variants of one Shopify store, through the Admin REST API: incremental reads by updated_at with Link-header pagination, creates and updates, lookups by e-mail, SKU and idempotency key.",
  "settings": [
    {"name": "store_domain", "type": "string", "required": true, "description": "The store's myshopify domain, e.g. acme.myshopify.com."},
    {"name": "api_version", "type": "string", "default": "2024-04", "description": "The Admin API version (YYYY-MM) in every path."},
    {"name": "access_token", "type": "string", "required": true, "secret": true, "description": "The Admin API access token (shpat_…), sent as X-Shopify-Access-Token. Write it as ${ENV_VAR}."},
    {"name": "base_url", "type": "string", "description": "Overrides https://{store_domain} (scheme, host and port, no path), e.g. the sandbox's http://127.0.0.1:8081."},
    {"name": "location_id", "type": "integer", "description": "The inventory location for inventory levels (not used by the entities of this version)."},
    {"name": "page_size", "type": "integer", "default": 250, "description": "Records asked per request (limit), 1 to 250."}
  ],
  "entities": [
    {"name": "customers", "description": "Customers; key id, changes ordered by updated_at.", "key": "id", "cursor": "updated_at",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "id", "type": "integer"}, {"name": "email", "type": "string"}, {"name": "first_name", "type": "string"},
                {"name": "last_name", "type": "string"}, {"name": "phone", "type": "string"}, {"name": "tags", "type": "string"},
                {"name": "note", "type": "string"}, {"name": "updated_at", "type": "datetime"}]},
    {"name": "orders", "description": "Orders of any status with line items, tax lines, shipping lines, discounts, customer and financial status (the order JSON as Shopify sends it).", "key": "id", "cursor": "updated_at",
     "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}, {"name": "currency", "type": "string"},
                {"name": "financial_status", "type": "string"}, {"name": "total_price", "type": "string"},
                {"name": "line_items", "type": "array", "fields": [{"name": "sku", "type": "string"}, {"name": "quantity", "type": "integer"}]},
                {"name": "updated_at", "type": "datetime"}]},
    {"name": "products", "description": "Products with their variants (SKU, price, inventory item).", "key": "id", "cursor": "updated_at",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "id", "type": "integer"}, {"name": "title", "type": "string"}, {"name": "vendor", "type": "string"},
                {"name": "product_type", "type": "string"}, {"name": "status", "type": "string"}, {"name": "tags", "type": "string"},
                {"name": "variants", "type": "array", "fields": [{"name": "sku", "type": "string"}, {"name": "price", "type": "string"}]},
                {"name": "updated_at", "type": "datetime"}]}
  ],
  "rate_limit": {"requests_per_second": 2, "burst": 40}
})json";

    ShopifyConnector(plexus::sdk::Host& host, const json& settings) : host_(host) {
        token_ = settings.value("access_token", "");
        version_ = settings.value("api_version", "2024-04");
        const std::string domain = settings.value("store_domain", "");
        base_ = settings.contains("base_url") && settings["base_url"].is_string()
                    ? settings["base_url"].get<std::string>()
                    : "https://" + domain;
        while (!base_.empty() && base_.back() == '/') base_.pop_back();
        page_size_ = settings.value("page_size", int64_t{250});
        if (token_.empty()) throw Error(PLEXUS_ERR_CONFIG, "access_token is empty");
        if (domain.empty() && base_ == "https://")
            throw Error(PLEXUS_ERR_CONFIG, "store_domain is empty (e.g. acme.myshopify.com)");
        if (page_size_ < 1 || page_size_ > 250)
            throw Error(PLEXUS_ERR_CONFIG, "page_size is " + std::to_string(page_size_) +
                                               "; Shopify pages hold 1 to 250 records");
        if (version_.size() != 7 || version_[4] != '-')
            throw Error(PLEXUS_ERR_CONFIG, "api_version \"" + version_ + "\" is not YYYY-MM (e.g. 2024-04)");
    }

    void check() override {
        Exchange x = call("GET", "shop.json", {});
        if (Failure f = classify(x.response.status, x.response.body, x.name); f.status != PLEXUS_OK)
            throw Error(f.status, f.message);
        json j = parse_body(x.response.status, x.response.body, x.name);
        if (!j.contains("shop")) throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP 200 on " + x.name + "): no shop");
    }

    ReadPage read(const ReadRequest& request) override {
        const EntitySpec& spec = entity(request.entity);
        ReadCursor cursor;
        if (request.cursor && !request.cursor->empty()) {
            cursor = ReadCursor::decode(*request.cursor);
        } else if (request.since && !request.since->empty()) {
            const auto t = parse_timestamp(*request.since);
            if (!t) throw Error(PLEXUS_ERR_CONFIG, "since \"" + *request.since + "\" is not an ISO 8601 time with a zone");
            cursor.updated_at_min = format_utc(*t);
        }
        const int64_t limit = std::clamp<int64_t>(static_cast<int64_t>(std::min<size_t>(request.limit, 250)), 1, page_size_);
        std::string path = std::string(spec.plural) + ".json?limit=" + std::to_string(limit);
        if (!cursor.page_info.empty()) {
            // Shopify refuses filters beside page_info: the cursor carries them.
            path += "&page_info=" + url_encode(cursor.page_info);
        } else {
            path += "&" + std::string(spec.list_params);
            if (!cursor.updated_at_min.empty()) path += "updated_at_min=" + url_encode(cursor.updated_at_min) + "&";
            path.pop_back();
        }
        Exchange x = call("GET", path, {});
        ListPage page = parse_list_page(x.response.status, x.response.header("Link"), x.response.body,
                                        spec.plural, x.name);
        ReadPage out;
        for (auto& item : page.items) {
            const std::string key = id_text(item["id"]);
            const std::string updated = item.value("updated_at", "");
            const auto t = parse_timestamp(updated);
            if (!t)
                throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP 200 on " + x.name + "): " +
                                                      spec.singular + " " + key + " has no valid updated_at");
            cursor.see(key, *t);
            if (cursor.skips(key, *t)) continue;
            Record r;
            r.key = key;
            r.cursor = format_utc(*t);
            r.data = std::move(item);
            out.records.push_back(std::move(r));
        }
        // Records in a result set come in id order, not updated_at order: the host's cursor
        // advances only at the end of the set (see ReadCursor in wire.hpp).
        std::stable_sort(out.records.begin(), out.records.end(),
                         [](const Record& a, const Record& b) { return a.cursor < b.cursor; });
        if (page.next_page_info) {
            cursor.page_info = *page.next_page_info;
            out.next_cursor = cursor.encode();
            out.has_more = true;
        } else {
            out.next_cursor = cursor.finished().encode();
            out.has_more = false;
        }
        return out;
    }

    std::vector<WriteResult> write(const std::string& entity_name, const std::vector<WriteItem>& items) override {
        const EntitySpec& spec = entity(entity_name);
        if (!spec.writable) throw Error(PLEXUS_ERR_CONFIG, "entity " + entity_name + " is read-only in this connector");
        std::vector<WriteResult> results;
        results.reserve(items.size());
        for (const auto& item : items) {
            if (!item.data.is_object()) {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, "the mapped record is not a JSON object"));
                continue;
            }
            json data = item.data;
            data.erase("id");
            data.erase("updated_at");
            data.erase("created_at");
            const bool create = item.op == WriteOp::Create;
            std::string path;
            if (create) {
                if (!item.idempotency_key.empty()) data["tags"] = with_tag(data.value("tags", json()), idempotency_tag(item.idempotency_key));
                path = std::string(spec.plural) + ".json";
            } else {
                if (item.target_key.empty()) {
                    results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, "update without a target key"));
                    continue;
                }
                path = std::string(spec.plural) + "/" + url_encode(item.target_key) + ".json";
            }
            Exchange x = call(create ? "POST" : "PUT", path, json{{spec.singular, data}}.dump(-1, ' ', false, json::error_handler_t::replace));
            results.push_back(interpret_write(x.response.status, x.response.body, spec.singular, create, x.name));
            if (spec.plural == std::string("products")) sku_index_.reset();
        }
        return results;
    }

    LookupResult lookup(const LookupRequest& request) override {
        const EntitySpec& spec = entity(request.entity);
        if (request.key) return by_key(spec, *request.key);
        if (request.idempotency_key && !request.idempotency_key->empty() && spec.writable) {
            if (auto r = search_tag(spec, idempotency_tag(*request.idempotency_key))) return *r;
        }
        if (spec.plural == std::string("customers")) {
            const std::string email = request.data.value("email", "");
            if (!email.empty()) {
                if (auto r = search_customers("email:" + quote(email), [&](const json& c) {
                        return lower(c.value("email", "")) == lower(email);
                    }))
                    return *r;
            }
        }
        if (spec.plural == std::string("products")) {
            if (auto sku = first_sku(request.data)) {
                if (auto r = by_sku(*sku)) return *r;
            }
        }
        return {};
    }

private:
    struct Exchange {
        HttpResponse response;
        std::string name;
    };

    const EntitySpec& entity(const std::string& name) const {
        auto it = entities().find(name);
        if (it == entities().end())
            throw Error(PLEXUS_ERR_CONFIG, "unknown entity \"" + name + "\" (customers, orders, products)");
        return it->second;
    }

    Exchange call(const std::string& method, const std::string& path_and_query, const std::string& body) {
        HttpRequest req;
        req.method = method;
        const std::string path = "/admin/api/" + version_ + "/" + path_and_query;
        req.url = base_ + path;
        req.headers = {{"X-Shopify-Access-Token", token_}, {"Accept", "application/json"}};
        if (!body.empty() || method == "POST" || method == "PUT") {
            req.headers.emplace_back("Content-Type", "application/json");
            req.body = body;
        }
        Exchange x{host_.http(req), exchange_name(method, path)};
        if (auto limit = parse_call_limit(x.response.header("X-Shopify-Shop-Api-Call-Limit")))
            host_.rate_observe(limit->used, limit->max);
        if (x.response.header("X-Shopify-API-Deprecated-Reason").size())
            host_.warn("Shopify says " + x.name + " is deprecated: " + x.response.header("X-Shopify-API-Deprecated-Reason"));
        return x;
    }

    static std::string lower(std::string s) {
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }
    static std::string quote(const std::string& s) {
        std::string out = "\"";
        for (char c : s) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        return out + "\"";
    }
    static json with_tag(const json& tags, const std::string& tag) {
        std::string t = tags.is_string() ? tags.get<std::string>() : "";
        if (tags.is_array())
            for (const auto& x : tags)
                if (x.is_string()) t += (t.empty() ? "" : ", ") + x.get<std::string>();
        if (t.find(tag) != std::string::npos) return t;
        return t.empty() ? tag : t + ", " + tag;
    }

    static LookupResult found(json object) {
        LookupResult r;
        r.found = true;
        r.record.key = id_text(object["id"]);
        if (auto t = parse_timestamp(object.value("updated_at", ""))) r.record.cursor = format_utc(*t);
        r.record.data = std::move(object);
        return r;
    }

    LookupResult by_key(const EntitySpec& spec, const std::string& key) {
        Exchange x = call("GET", std::string(spec.plural) + "/" + url_encode(key) + ".json", {});
        if (x.response.status == 404) return {};
        if (Failure f = classify(x.response.status, x.response.body, x.name); f.status != PLEXUS_OK)
            throw Error(f.status, f.message);
        json j = parse_body(x.response.status, x.response.body, x.name);
        if (!j.contains(spec.singular) || !j[spec.singular].is_object())
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP 200 on " + x.name + ")");
        return found(std::move(j[spec.singular]));
    }

    template <typename Pred>
    std::optional<LookupResult> search_customers(const std::string& query, Pred&& matches) {
        Exchange x = call("GET", "customers/search.json?limit=10&query=" + url_encode(query), {});
        ListPage page = parse_list_page(x.response.status, x.response.header("Link"), x.response.body, "customers", x.name);
        for (auto& c : page.items)
            if (matches(c)) return found(std::move(c));
        return std::nullopt;
    }

    static bool has_tag(const json& object, const std::string& tag) {
        const std::string tags = object.value("tags", "");
        size_t pos = 0;
        while (pos <= tags.size()) {
            size_t comma = tags.find(',', pos);
            if (comma == std::string::npos) comma = tags.size();
            std::string t = tags.substr(pos, comma - pos);
            while (!t.empty() && t.front() == ' ') t.erase(0, 1);
            while (!t.empty() && t.back() == ' ') t.pop_back();
            if (t == tag) return true;
            pos = comma + 1;
        }
        return false;
    }

    std::optional<LookupResult> search_tag(const EntitySpec& spec, const std::string& tag) {
        if (spec.plural == std::string("customers"))
            return search_customers("tag:" + quote(tag), [&](const json& c) { return has_tag(c, tag); });
        // Products: no tag search in REST; scan (cached for the instance).
        load_products();
        for (const auto& p : *products_)
            if (has_tag(p, tag)) return found(p);
        return std::nullopt;
    }

    static std::optional<std::string> first_sku(const json& data) {
        if (data.contains("sku") && data["sku"].is_string()) return data["sku"].get<std::string>();
        if (data.contains("variants") && data["variants"].is_array())
            for (const auto& v : data["variants"])
                if (v.is_object() && v.contains("sku") && v["sku"].is_string() && !v["sku"].get<std::string>().empty())
                    return v["sku"].get<std::string>();
        return std::nullopt;
    }

    // The REST Admin API has no variant search by SKU: products are read once per instance
    // (fields limited) and indexed; a write to products drops the index.
    void load_products() {
        if (products_ && sku_index_) return;
        products_.emplace();
        sku_index_.emplace();
        std::string page_info;
        for (;;) {
            std::string path = "products.json?limit=250&fields=id%2Ctitle%2Ctags%2Cvariants%2Cupdated_at";
            if (!page_info.empty()) path = "products.json?limit=250&fields=id%2Ctitle%2Ctags%2Cvariants%2Cupdated_at&page_info=" + url_encode(page_info);
            Exchange x = call("GET", path, {});
            ListPage page = parse_list_page(x.response.status, x.response.header("Link"), x.response.body, "products", x.name);
            for (auto& p : page.items) {
                if (p.contains("variants") && p["variants"].is_array())
                    for (const auto& v : p["variants"])
                        if (v.is_object() && v.contains("sku") && v["sku"].is_string())
                            sku_index_->emplace(v["sku"].get<std::string>(), products_->size());
                products_->push_back(std::move(p));
            }
            if (!page.next_page_info) break;
            page_info = *page.next_page_info;
        }
    }

    std::optional<LookupResult> by_sku(const std::string& sku) {
        load_products();
        auto it = sku_index_->find(sku);
        if (it == sku_index_->end()) return std::nullopt;
        return found((*products_)[it->second]);
    }

    plexus::sdk::Host& host_;
    std::string token_, version_, base_;
    int64_t page_size_ = 250;
    std::optional<std::vector<json>> products_;
    std::optional<std::map<std::string, size_t>> sku_index_;
};

}  // namespace plexus::shopify

PLEXUS_EXPORT_CONNECTOR(plexus::shopify::ShopifyConnector)
