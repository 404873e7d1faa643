// A simulator of Shopify's Admin REST API (paths /admin/api/{version}/….json) for tests and
// `plexus sandbox`: token auth, X-Shopify-Shop-Api-Call-Limit, X-Request-Id and
// X-Shopify-API-Version on every answer (unsupported and missing versions fall forward to the
// oldest supported one), a leaky bucket (40, leaking 2/s) answering 429 with Retry-After and
// a burst at once (a thread per connection), Link-header cursor pagination whose opaque
// page_info carries the filters, counts with the listing's filters, stateful
// customers/products/orders seeded deterministically in configurable sizes, 422 validation
// bodies, and the framework's fault knobs. Also custom
// collections and collects (catalog.cpp), locations and inventory levels (inventory.cpp), and
// order transactions and metafields (order_payments.cpp).
#pragma once

#include "sandbox/sandbox.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace plexus::sandbox {

class ShopifySandbox final : public Sandbox {
public:
    struct Options {
        uint32_t seed = 1;
        std::set<std::string> tokens = {"shpat_sandbox"};
        bool rate_limit = true;  // the leaky bucket; also POST /_sandbox/shopify {"rate_limit": false}
        // Seed sizes (also POST /_sandbox/shopify {"seed": {"customers": 1000, …}}, which
        // reseeds the store). Any size works; pages hold at most 250, so 600 products, 1000
        // customers and 1000 orders cross several pages.
        int customers = 300, products = 200, orders = 300;
        // The stable API versions the simulated store supports, oldest first. A request for
        // another version (or none: /admin/customers.json) is served as the oldest of these,
        // as Shopify falls forward; "unstable" is served as itself. X-Shopify-API-Version says
        // which version was served.
        std::vector<std::string> api_versions = {"2024-01", "2024-04", "2024-07", "2024-10", "2025-01"};
        // The most connections served at the same time (one thread each); more wait.
        int max_connections = 256;
        // When not empty, the seeded orders' line items name these SKUs (chosen by the
        // variant the seed picked) instead of the store's own PX-… SKUs: the store then sells
        // what a back office numbers its items by (`plexus sandbox` uses Intacct's I-1001 …).
        std::vector<std::string> order_skus;
    };
    explicit ShopifySandbox(Options options);

    std::string id() const override { return "shopify"; }
    void mount(httplib::Server& server) override;

    void set_rate_limit(bool on);
    // Empties the store and seeds it again with these sizes (-1: keep the current one; the
    // random seed stays Options::seed, so the same sizes give the same store).
    void reseed(int customers, int products, int orders);
    // The version a request for `requested` is served as ("" = an unversioned path).
    std::string served_version(const std::string& requested) const;
    // The most API requests that were being handled at the same time since the start.
    int peak_in_flight() const { return peak_in_flight_.load(); }
    // API requests received (every path but /_sandbox/…), faulted and refused ones included.
    uint64_t request_count() const { return requests_.load(); }
    size_t count(const std::string& plural) const;
    // A copy of one stored object (null when absent), for tests. Plurals: customers,
    // products, orders, custom_collections, collects, locations.
    nlohmann::json object(const std::string& plural, int64_t id) const;
    // For tests: the collects of a product, an inventory level (null when absent), an order's
    // transactions and metafields.
    nlohmann::json collects_of(int64_t product_id) const;
    nlohmann::json inventory_level(int64_t inventory_item_id, int64_t location_id) const;
    nlohmann::json order_transactions(int64_t order_id) const;
    nlohmann::json order_metafields(int64_t order_id) const;
    // An order paid partly by a voucher (order_payments.cpp; POST /_sandbox/shopify/orders):
    // {"total", "currency", "paid" (by the first gateway), "gateways": [...], "note_attributes":
    // [{name, value}], "discount_codes": [{code, amount, type}]}. Returns its id.
    int64_t add_voucher_order(const nlohmann::json& spec);
    // The seeded locations: two active ones, then an inactive one.
    static constexpr int64_t kMainLocation = 655'441'491;
    static constexpr int64_t kShopLocation = 655'441'492;
    static constexpr int64_t kClosedLocation = 655'441'493;

    // Seeding (seed.cpp): fills customers_, products_, orders_, then (seed_catalog) the
    // collections and collects, locations and inventory levels, and the orders' transactions.
    void seed();
    void seed_catalog();

    struct Stored {
        nlohmann::json data;
        int64_t updated = 0;  // Unix seconds (mirrors data.updated_at)
        int64_t created = 0;
    };

private:
    using Table = std::map<int64_t, Stored>;
    Table& table(const std::string& plural);
    const Table& table(const std::string& plural) const;

    bool admit(const httplib::Request& req, httplib::Response& res);  // auth, bucket, faults
    void list(const std::string& plural, const httplib::Request& req, httplib::Response& res);
    void count_of(const std::string& plural, const httplib::Request& req, httplib::Response& res);
    std::optional<std::vector<const Stored*>> select(const std::string& plural, const nlohmann::json& filters,
                                                     httplib::Response& res) const;
    static nlohmann::json query_filters(const httplib::Request& req);
    std::string next_request_id();
    bool matches_filters(const std::string& plural, int64_t id, const nlohmann::json& o, const nlohmann::json& filters) const;
    void search(const httplib::Request& req, httplib::Response& res);
    void get_one(const std::string& plural, int64_t id, httplib::Response& res);
    void create(const std::string& plural, const httplib::Request& req, httplib::Response& res);
    void update(const std::string& plural, int64_t id, const httplib::Request& req, httplib::Response& res);
    httplib::Server::Handler guarded(httplib::Server::Handler fn);
    // catalog.cpp: custom collections and collects.
    void mount_catalog(httplib::Server& server, const std::string& v);
    void create_collection(const httplib::Request& req, httplib::Response& res);
    void update_collection(int64_t id, const httplib::Request& req, httplib::Response& res);
    std::string unique_handle(const std::string& wanted, int64_t self_id) const;
    void create_collect(const httplib::Request& req, httplib::Response& res);
    // inventory.cpp: locations and inventory levels.
    void mount_inventory(httplib::Server& server, const std::string& v);
    void list_levels(const httplib::Request& req, httplib::Response& res);
    void set_level(const httplib::Request& req, httplib::Response& res);
    const nlohmann::json* variant_of_item(int64_t inventory_item_id) const;
    void sum_variant_stock(int64_t inventory_item_id);
    // order_payments.cpp: order transactions and metafields.
    void mount_order_payments(httplib::Server& server, const std::string& v);
    void create_transaction(int64_t order_id, const httplib::Request& req, httplib::Response& res);
    void write_metafield(int64_t order_id, int64_t metafield_id, const httplib::Request& req, httplib::Response& res);
    void settle(Stored& order);
    void cancel_order(int64_t id, const httplib::Request& req, httplib::Response& res);  // financial_status and total_outstanding from the transactions
    std::optional<nlohmann::json> validate_customer(const nlohmann::json& c, int64_t self_id) const;
    void touch(Stored& s, int64_t now);
    std::string call_limit_header();

    Options options_;
    std::atomic<uint64_t> requests_{0};
    std::atomic<bool> rate_limit_;
    std::atomic<uint64_t> request_ids_{0};
    uint64_t request_id_salt_ = 0;
    std::atomic<int> in_flight_{0}, peak_in_flight_{0};
    mutable std::mutex mutex_;  // guards everything below
    Table customers_, products_, orders_, custom_collections_, collects_, locations_;
    std::map<std::pair<int64_t, int64_t>, Stored> levels_;  // (inventory_item_id, location_id)
    std::map<int64_t, std::vector<nlohmann::json>> transactions_, metafields_;  // by order id
    int64_t next_id_ = 7'100'000'000'000;
    double bucket_level_ = 0;
    int64_t bucket_ms_ = 0;

public:
    int64_t take_id() { return next_id_ += 17; }
    static std::string format_time(int64_t seconds);  // shop time, "+02:00"
    static int64_t now_seconds();
    static std::string money(int64_t cents);
    static std::optional<int64_t> cents_of(const nlohmann::json& value);  // "12.50" → 1250
    Table& customers_table() { return customers_; }
    Table& products_table() { return products_; }
    Table& orders_table() { return orders_; }
    Table& custom_collections_table() { return custom_collections_; }
};

// `plexus sandbox` serves this: rate limit on, token "shpat_sandbox", orders whose SKUs are
// the Intacct sandbox's items (I-1001 … I-1150), so that the two sandboxes form one world.
std::unique_ptr<Sandbox> make_shopify_sandbox(uint32_t seed, SeedSize size = SeedSize::demo);

}  // namespace plexus::sandbox
