// The Shopify connector: the Admin REST API through the host's HTTP client only.
// Entities: customers (read incrementally, create, update, lookup), orders (read
// incrementally, status=any), products with variants (read incrementally, create, update,
// lookup by SKU; a category puts the product into its custom collection), custom_collections
// (product categories), inventory_levels (stock per SKU and location) and
// order_invoice_status (an Intacct invoice's status and payment on the order). Wire parsing
// lives in wire.cpp (pure, golden-tested); each write-only entity has its own file.
#include "admin_api.hpp"
#include "custom_collections.hpp"
#include "inventory_levels.hpp"
#include "order_invoice_status.hpp"
#include "product_index.hpp"
#include "wire.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus::shopify {

using plexus::sdk::Error;
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

// The entities read and written as one Shopify resource each (GET list / POST / PUT).
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
        {"custom_collections", {"custom_collections", "custom_collection", "", true}},
    };
    return e;
}

const char* const kEntityNames = "customers, orders, products, custom_collections, inventory_levels, order_invoice_status";

}  // namespace

class ShopifyConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "shopify";
    static constexpr const char* version = "0.2.0";
    static constexpr const char* manifest = R"json({
  "id": "shopify",
  "name": "Shopify (Admin REST API)",
  "version": "0.2.0",
  "description": "Customers, orders, products with variants, product categories (custom collections), inventory levels and the invoice status of orders of one Shopify store, through the Admin REST API: incremental reads by updated_at with Link-header pagination, creates and updates, lookups by e-mail, SKU, handle and idempotency key.",
  "settings": [
    {"name": "store_domain", "type": "string", "required": true, "description": "The store's myshopify domain, e.g. acme.myshopify.com."},
    {"name": "api_version", "type": "string", "default": "2024-04", "description": "The Admin API version (YYYY-MM) in every path."},
    {"name": "access_token", "type": "string", "required": true, "secret": true, "description": "The Admin API access token (shpat_…), sent as X-Shopify-Access-Token. Write it as ${ENV_VAR}."},
    {"name": "base_url", "type": "string", "description": "Overrides https://{store_domain} (scheme, host and port, no path), e.g. the sandbox's http://127.0.0.1:8081."},
    {"name": "location_id", "type": "integer", "description": "The inventory location (GET locations.json lists them) whose stock inventory_levels writes set, unless a record maps its own location_id. check verifies it exists."},
    {"name": "page_size", "type": "integer", "default": 250, "description": "Records asked per request (limit), 1 to 250."},
    {"name": "webhook_secret", "type": "string", "secret": true, "description": "The app's client secret that signs its webhooks (X-Shopify-Hmac-Sha256). When set, order webhooks posted to the hub's /hooks/{connection} trigger runs of the processes reading orders. Write it as ${ENV_VAR}."}
  ],
  "webhooks": {
    "secret_setting": "webhook_secret",
    "signature": {"header": "X-Shopify-Hmac-Sha256", "algorithm": "hmac-sha256", "encoding": "base64", "signed": "body"},
    "event_id": {"header": "X-Shopify-Webhook-Id"},
    "topic": {"header": "X-Shopify-Topic"},
    "topics": {"orders/*": ["orders"]}
  },
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
                {"name": "total_outstanding", "type": "string"},
                {"name": "line_items", "type": "array", "fields": [{"name": "sku", "type": "string"}, {"name": "quantity", "type": "integer"}]},
                {"name": "updated_at", "type": "datetime"}]},
    {"name": "products", "description": "Products with their variants (SKU, price, inventory item). A write may name the product's category by one of collection_id, collection_handle or category_id: after the write the product is in that custom collection by exactly one collect (and out of other category-… collections).", "key": "id", "cursor": "updated_at",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "id", "type": "integer"}, {"name": "title", "type": "string"}, {"name": "body_html", "type": "string"},
                {"name": "vendor", "type": "string"}, {"name": "product_type", "type": "string"}, {"name": "status", "type": "string"},
                {"name": "tags", "type": "string"},
                {"name": "variants", "type": "array", "fields": [{"name": "sku", "type": "string"}, {"name": "price", "type": "string"},
                   {"name": "barcode", "type": "string"}, {"name": "inventory_management", "type": "string", "description": "\"shopify\" to track stock (inventory_levels needs it)"},
                   {"name": "inventory_item_id", "type": "integer"}]},
                {"name": "category_id", "type": "string", "description": "Write only: the source system's category id; the product goes into the custom collection with handle category-<id> (see custom_collections)."},
                {"name": "collection_handle", "type": "string", "description": "Write only: the handle of the custom collection to put the product in."},
                {"name": "collection_id", "type": "integer", "description": "Write only: the id of the custom collection to put the product in."},
                {"name": "updated_at", "type": "datetime"}]},
    {"name": "custom_collections", "description": "Product categories as custom collections. A create needs category_id (the handle becomes category-<id>, how lookup finds it again) or an explicit handle; a create whose handle exists answers conflict, and the host updates that collection instead.", "key": "id", "cursor": "updated_at",
     "capabilities": ["read", "incremental", "create", "update", "lookup"],
     "fields": [{"name": "id", "type": "integer", "description": "Shopify's id (read only)."},
                {"name": "category_id", "type": "string", "description": "The source system's category id; derives the handle category-<id>. Not stored in Shopify."},
                {"name": "handle", "type": "string", "description": "Overrides the derived handle."},
                {"name": "title", "type": "string", "required": true},
                {"name": "body_html", "type": "string"},
                {"name": "published", "type": "boolean"},
                {"name": "sort_order", "type": "string", "description": "alpha-asc, alpha-desc, best-selling, created, created-desc, manual, price-asc, price-desc"},
                {"name": "template_suffix", "type": "string"},
                {"name": "published_at", "type": "datetime", "description": "Read only."},
                {"name": "published_scope", "type": "string", "description": "Read only."},
                {"name": "image", "type": "object", "description": "Read only."},
                {"name": "updated_at", "type": "datetime", "description": "Read only."}]},
    {"name": "inventory_levels", "description": "Stock available per SKU at a location (POST inventory_levels/set.json, absolute). Key <inventory_item_id>:<location_id>. A level already at the quantity is not written.", "key": "id", "cursor": "updated_at",
     "capabilities": ["create", "update", "lookup"],
     "fields": [{"name": "sku", "type": "string", "required": true, "description": "The variant's SKU; its inventory_item_id is looked up."},
                {"name": "available", "type": "integer", "required": true, "description": "The absolute quantity available (whole; may be negative)."},
                {"name": "location_id", "type": "integer", "description": "Overrides the connection's location_id setting."},
                {"name": "id", "type": "string", "description": "Read only: <inventory_item_id>:<location_id>."},
                {"name": "inventory_item_id", "type": "integer", "description": "Read only."},
                {"name": "updated_at", "type": "datetime", "description": "Read only."}]},
    {"name": "order_invoice_status", "description": "The Intacct invoice of a Shopify order, kept in the order's metafields plexus.invoice_number, plexus.invoice_date, plexus.invoice_state, plexus.amount_due; when paid (state Paid or amount due 0) the payment is recorded once as an order transaction (capture of the authorization, else a sale with source external) so the order becomes paid. Key: the order id.", "key": "id", "cursor": "updated_at",
     "capabilities": ["create", "update", "lookup"],
     "fields": [{"name": "order_id", "type": "integer", "description": "The Shopify order id (this or order_name)."},
                {"name": "order_name", "type": "string", "description": "The order's name, e.g. #1001 (1001 also finds #1001)."},
                {"name": "invoice_number", "type": "string", "required": true},
                {"name": "invoice_date", "type": "string", "description": "YYYY-MM-DD (a date metafield)."},
                {"name": "invoice_state", "type": "string", "description": "E.g. Posted, Partially Paid, Paid."},
                {"name": "amount_due", "type": "number", "description": "What is still due; 0 means paid. Decimal, at most 2 places."},
                {"name": "id", "type": "integer", "description": "Read only: the order id."},
                {"name": "financial_status", "type": "string", "description": "Read only."},
                {"name": "updated_at", "type": "datetime", "description": "Read only: the order's."}]}
  ],
  "rate_limit": {"requests_per_second": 2, "burst": 40}
})json";

    ShopifyConnector(plexus::sdk::Host& host, const json& settings)
        : api_(host, base_of(settings), settings.value("api_version", "2024-04"), settings.value("access_token", "")),
          products_(api_),
          collections_(api_),
          inventory_(api_, products_, location_of(settings)),
          invoices_(api_) {
        const std::string token = settings.value("access_token", "");
        version_ = settings.value("api_version", "2024-04");
        page_size_ = settings.value("page_size", int64_t{250});
        if (token.empty()) throw Error(PLEXUS_ERR_CONFIG, "access_token is empty");
        if (base_of(settings) == "https://") throw Error(PLEXUS_ERR_CONFIG, "store_domain is empty (e.g. acme.myshopify.com)");
        if (page_size_ < 1 || page_size_ > 250)
            throw Error(PLEXUS_ERR_CONFIG, "page_size is " + std::to_string(page_size_) +
                                               "; Shopify pages hold 1 to 250 records");
        if (version_.size() != 7 || version_[4] != '-')
            throw Error(PLEXUS_ERR_CONFIG, "api_version \"" + version_ + "\" is not YYYY-MM (e.g. 2024-04)");
        if (settings.contains("location_id") && !settings["location_id"].is_null() && !location_of(settings))
            throw Error(PLEXUS_ERR_CONFIG, "location_id " + settings["location_id"].dump() + " is not a Shopify location id");
        location_id_ = location_of(settings);
    }

    void check() override {
        api_.get_object("shop.json", "shop");
        if (location_id_ && !api_.find_object("locations/" + std::to_string(*location_id_) + ".json", "location"))
            throw Error(PLEXUS_ERR_CONFIG, "the location_id setting names location " + std::to_string(*location_id_) +
                                               ", which the store does not have (GET locations.json lists them)");
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
        Exchange x = api_.call("GET", path);
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
        if (entity_name == "inventory_levels") return inventory_.write(items);
        if (entity_name == "order_invoice_status") return invoices_.write(items);
        if (entity_name == "custom_collections") return collections_.write(items);
        const EntitySpec& spec = entity(entity_name);
        if (!spec.writable) throw Error(PLEXUS_ERR_CONFIG, "entity " + entity_name + " is read-only in this connector");
        const bool products = spec.plural == std::string("products");
        std::vector<WriteResult> results;
        results.reserve(items.size());
        for (const auto& item : items) {
            if (products) {
                std::string who = "product";
                if (!item.target_key.empty()) who += " " + item.target_key;
                else if (auto sku = item.data.is_object() ? first_sku(item.data) : std::nullopt) who += " with SKU " + *sku;
                results.push_back(per_record(who, [&] { return write_product(item); }));
                products_.invalidate();
                continue;
            }
            if (!item.data.is_object()) {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, "the mapped record is not a JSON object"));
                continue;
            }
            json data = item.data;
            data.erase("id");
            data.erase("updated_at");
            data.erase("created_at");
            const bool create = item.op == WriteOp::Create;
            if (!create && item.target_key.empty()) {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, "update without a target key"));
                continue;
            }
            Exchange x = send_resource(spec, item, std::move(data));
            results.push_back(interpret_write(x.response.status, x.response.body, spec.singular, create, x.name));
        }
        return results;
    }

    LookupResult lookup(const LookupRequest& request) override {
        if (request.entity == "inventory_levels") return inventory_.lookup(request);
        if (request.entity == "order_invoice_status") return invoices_.lookup(request);
        if (request.entity == "custom_collections") return collections_.lookup(request);
        const EntitySpec& spec = entity(request.entity);
        if (request.key) {
            auto object = api_.find_object(std::string(spec.plural) + "/" + url_encode(*request.key) + ".json", spec.singular);
            if (!object) return {};
            return found_record(std::move(*object));
        }
        std::optional<LookupResult> hit;
        if (request.idempotency_key && !request.idempotency_key->empty() && spec.writable)
            hit = search_tag(spec, idempotency_tag(*request.idempotency_key));
        if (!hit && spec.plural == std::string("customers")) {
            const std::string email = request.data.value("email", "");
            if (!email.empty())
                hit = search_customers("email:" + quote(email),
                                       [&](const json& c) { return lower(c.value("email", "")) == lower(email); });
        }
        if (!hit && spec.plural == std::string("products"))
            if (auto sku = first_sku(request.data))
                if (auto m = products_.by_sku(*sku)) hit = found_record(*m->product);
        if (hit && spec.plural == std::string("products")) complete_category(*hit, request.data);
        return hit ? *hit : LookupResult{};
    }

private:
    static std::string base_of(const json& settings) {
        std::string base = settings.contains("base_url") && settings["base_url"].is_string()
                               ? settings["base_url"].get<std::string>()
                               : "https://" + settings.value("store_domain", "");
        while (!base.empty() && base.back() == '/') base.pop_back();
        return base;
    }
    static std::optional<int64_t> location_of(const json& settings) {
        if (!settings.contains("location_id") || settings["location_id"].is_null()) return std::nullopt;
        return id_number(settings["location_id"]);
    }

    const EntitySpec& entity(const std::string& name) const {
        auto it = entities().find(name);
        if (it == entities().end())
            throw Error(PLEXUS_ERR_CONFIG, "unknown entity \"" + name + "\" (" + kEntityNames + ")");
        return it->second;
    }

    // POST {plural}.json (create, with the idempotency tag) or PUT {plural}/{key}.json.
    Exchange send_resource(const EntitySpec& spec, const WriteItem& item, json data) {
        if (item.op == WriteOp::Create) {
            if (!item.idempotency_key.empty())
                data["tags"] = with_tag(data.value("tags", json()), idempotency_tag(item.idempotency_key));
            return api_.send("POST", std::string(spec.plural) + ".json", json{{spec.singular, data}});
        }
        return api_.send("PUT", std::string(spec.plural) + "/" + url_encode(item.target_key) + ".json",
                         json{{spec.singular, data}});
    }

    // A product create/update, then its category's collect. The collection is resolved first,
    // so a category that does not exist fails the record before anything is written.
    WriteResult write_product(const WriteItem& item) {
        if (!item.data.is_object()) throw invalid("the mapped record is not a JSON object");
        json data = item.data;
        for (const char* f : {"id", "updated_at", "created_at"}) data.erase(f);
        const bool create = item.op == WriteOp::Create;
        if (!create && item.target_key.empty()) throw invalid("update without a target key");
        const std::optional<CategoryRef> category = take_category(data);
        std::optional<CustomCollections::Collection> collection;
        if (category) collection = collections_.resolve(*category);
        const EntitySpec& spec = entities().at("products");
        Exchange x = send_resource(spec, item, std::move(data));
        WriteResult r = interpret_write(x.response.status, x.response.body, "product", create, x.name);
        if (r.status != PLEXUS_OK || !collection) return r;
        try {
            collections_.ensure_member(std::atoll(r.target_key.c_str()), *collection);
        } catch (const Error& e) {
            if (e.status() == PLEXUS_ERR_AUTH || e.status() == PLEXUS_ERR_RATE_LIMIT || e.status() == PLEXUS_ERR_CANCELLED) throw;
            // After a create, report it as transient: the host keeps the intent open, and the
            // next run's lookup adopts the product and completes its collect.
            return WriteResult::failed(create ? PLEXUS_ERR_TRANSIENT : e.status(),
                                       std::string(create ? "created" : "updated") + " product " + r.target_key +
                                           ", but not its category: " + e.what());
        }
        return r;
    }

    // A product found after an interrupted create may lack the collect the create was to
    // make: the host adopts it without writing, so complete it here (best effort).
    void complete_category(const LookupResult& hit, const json& data) {
        if (!data.is_object()) return;
        json copy = data;
        try {
            auto category = take_category(copy);
            if (!category) return;
            collections_.ensure_member(std::atoll(hit.record.key.c_str()), collections_.resolve(*category));
        } catch (const Error& e) {
            if (e.status() == PLEXUS_ERR_AUTH || e.status() == PLEXUS_ERR_RATE_LIMIT || e.status() == PLEXUS_ERR_CANCELLED) throw;
            api_.host().warn("product " + hit.record.key + " found, but its category could not be completed: " + e.what());
        }
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

    template <typename Pred>
    std::optional<LookupResult> search_customers(const std::string& query, Pred&& matches) {
        Exchange x = api_.call("GET", "customers/search.json?limit=10&query=" + url_encode(query));
        ListPage page = parse_list_page(x.response.status, x.response.header("Link"), x.response.body, "customers", x.name);
        // Every match is counted: two customers carrying one idempotency tag are a duplicate
        // that `plexus reconcile` reports (LookupResult::matches).
        std::optional<LookupResult> hit;
        int64_t n = 0;
        for (auto& c : page.items) {
            if (!matches(c)) continue;
            if (!hit) hit = found_record(std::move(c));
            ++n;
        }
        if (hit) hit->matches = n;
        return hit;
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
        // Products: no tag search in REST; scan (cached for the instance, caught up with what
        // other runs wrote since before answering "not found").
        for (int pass = 0; pass < 2; ++pass) {
            std::optional<LookupResult> hit;
            int64_t n = 0;
            for (const auto& p : products_.products()) {
                if (!has_tag(p, tag)) continue;
                if (!hit) hit = found_record(p);
                ++n;
            }
            if (hit) {
                hit->matches = n;
                return hit;
            }
            if (pass == 0 && !products_.catch_up()) break;
        }
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

    AdminApi api_;
    ProductIndex products_;
    CustomCollections collections_;
    InventoryLevels inventory_;
    OrderInvoiceStatus invoices_;
    std::string version_;
    int64_t page_size_ = 250;
    std::optional<int64_t> location_id_;
};

}  // namespace plexus::shopify

PLEXUS_EXPORT_CONNECTOR(plexus::shopify::ShopifyConnector)
