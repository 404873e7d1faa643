// A simulator of Shopify's Admin REST API (paths /admin/api/{version}/….json) for tests and
// `plexus sandbox`: token auth, X-Shopify-Shop-Api-Call-Limit on every answer, a leaky
// bucket (40, leaking 2/s) answering 429 with Retry-After, Link-header cursor pagination
// whose opaque page_info carries the filters, stateful customers/products/orders seeded
// deterministically, 422 validation bodies, and the framework's fault knobs.
#pragma once

#include "sandbox/sandbox.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace plexus::sandbox {

class ShopifySandbox final : public Sandbox {
public:
    struct Options {
        uint32_t seed = 1;
        std::set<std::string> tokens = {"shpat_sandbox"};
        bool rate_limit = true;  // the leaky bucket; also POST /_sandbox/shopify {"rate_limit": false}
        int customers = 300, products = 200, orders = 300;
    };
    explicit ShopifySandbox(Options options);

    std::string id() const override { return "shopify"; }
    void mount(httplib::Server& server) override;

    void set_rate_limit(bool on);
    // API requests received (every path but /_sandbox/…), faulted and refused ones included.
    uint64_t request_count() const { return requests_.load(); }
    size_t count(const std::string& plural) const;
    // A copy of one stored object (null when absent), for tests.
    nlohmann::json object(const std::string& plural, int64_t id) const;

    // Seeding (seed.cpp): fills customers_, products_, orders_.
    void seed();

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
    void search(const httplib::Request& req, httplib::Response& res);
    void get_one(const std::string& plural, int64_t id, httplib::Response& res);
    void create(const std::string& plural, const httplib::Request& req, httplib::Response& res);
    void update(const std::string& plural, int64_t id, const httplib::Request& req, httplib::Response& res);
    std::optional<nlohmann::json> validate_customer(const nlohmann::json& c, int64_t self_id) const;
    void touch(Stored& s, int64_t now);
    std::string call_limit_header();

    Options options_;
    std::atomic<uint64_t> requests_{0};
    std::atomic<bool> rate_limit_;
    mutable std::mutex mutex_;  // guards everything below
    Table customers_, products_, orders_;
    int64_t next_id_ = 7'100'000'000'000;
    double bucket_level_ = 0;
    int64_t bucket_ms_ = 0;

public:
    int64_t take_id() { return next_id_ += 17; }
    static std::string format_time(int64_t seconds);  // shop time, "+02:00"
    static int64_t now_seconds();
    static std::string money(int64_t cents);
    Table& customers_table() { return customers_; }
    Table& products_table() { return products_; }
    Table& orders_table() { return orders_; }
};

// `plexus sandbox` serves this: rate limit on, token "shpat_sandbox".
std::unique_ptr<Sandbox> make_shopify_sandbox(uint32_t seed);

}  // namespace plexus::sandbox
