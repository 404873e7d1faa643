// A simulator of Gomag's Public API (api.gomag.ro/api/v1/{entity}/{action}/json) for tests and
// `plexus sandbox`, built from Gomag's Postman collection and ../shared/api/gomag.md, not from
// the connector: Apikey + ApiShop on every request (a wrong or missing one answers HTTP 200
// {"error":100,"message":"Missing Api User"}), a User-Agent rule (PostmanRuntime/… refused),
// GET parameters and multipart (or url-encoded) `data=` form posts, collections keyed by id,
// page/pages, business errors in HTTP 200 bodies, two leaky buckets (reads: 1/s, burst 40;
// writes: 1/s, burst 10) reported in Api-RateLimit-* headers and answering 429 when empty,
// stateful products, stock and prices, categories, orders and their statuses, customers and
// invoices, seeded deterministically across several pages, the framework's fault knobs, and
// control routes under /_sandbox/gomag/. What it invents beyond the public record: README.md.
#pragma once

#include "sandbox/sandbox.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace plexus::sandbox {

class GomagSandbox final : public Sandbox {
public:
    struct Options {
        uint32_t seed = 1;
        std::string api_key = "gomag-sandbox-key";
        std::string shop = "https://sandbox.gomag.ro";
        // Seed sizes: 100 products, orders or customers fill one page, so these cross pages.
        int products = 250, orders = 260, customers = 140;
        // Seeded SKUs: printf format (one int) and the first number, GM-1001 …; `plexus sandbox`
        // uses GO-0151 … GO-0400, products the PowerOffice Go sandbox has, so that the demo's
        // Gomag orders name products Go knows (the shop's catalogue came from Go).
        std::string sku_format = "GM-%04d";
        int first_sku = 1001;
        // The leaky buckets (requests per second, capacity); also POST /_sandbox/gomag/rate.
        bool rate_limit = true;
        double read_rate = 1, read_burst = 40, write_rate = 1, write_burst = 10;
        // The Retry-After of a 429 (seconds). Empty: what the emptied bucket needs (1 s at the
        // observed rate). Tests that provoke many 429s through the real binary shorten it, as
        // they cannot shorten the hub's wait.
        std::string retry_after;
    };
    explicit GomagSandbox(Options options);

    std::string id() const override { return "gomag"; }
    void mount(httplib::Server& server) override;

    // For tests and the control routes.
    void set_rate(bool on, double read_rate, double read_burst, double write_rate, double write_burst);
    nlohmann::json add_order(const nlohmann::json& partial);  // the stored order
    int64_t add_customer(const nlohmann::json& partial);      // as if registered in the shop; its id
    bool set_order_status(int64_t order_id, int64_t status_id);  // as if changed in the admin
    bool touch_product(const std::string& sku, const nlohmann::json& changes);  // likewise
    nlohmann::json product(const std::string& sku) const;      // null when absent
    nlohmann::json order(int64_t id) const;                     // null when absent
    nlohmann::json category_named(const std::string& name) const;  // null when absent
    size_t count(const std::string& what) const;  // products, orders, customers, categories, invoices
    uint64_t requests() const { return requests_.load(); }  // /api/… requests, refused ones too
    uint64_t writes() const { return writes_.load(); }      // POST /api/… requests served (not refused)
    uint64_t throttled() const { return throttled_.load(); }  // 429s from the buckets
    // Exchanges are recorded by SandboxServer::record_exchanges (sandbox/sandbox.hpp), which
    // writes a multipart body again from its parts.

    static std::string shop_time(int64_t unix_seconds);  // "2024-05-01 10:12:00", UTC+2
    static int64_t now_seconds();

    struct Product {
        nlohmann::json data;  // as product/read answers it
        int64_t updated = 0;
    };
    struct Order {
        nlohmann::json data;  // as order/read answers it
        int64_t updated = 0;
    };

private:
    friend struct GomagSeeder;
    void seed();
    // auth, user agent, faults, bucket: false when the request was answered already
    bool admit(const httplib::Request& req, httplib::Response& res, bool write);
    httplib::Server::Handler route(bool write, std::function<void(const httplib::Request&, httplib::Response&)> fn);
    std::optional<nlohmann::json> form_json(const httplib::Request& req, httplib::Response& res, const std::string& field);

    void product_read(const httplib::Request& req, httplib::Response& res);
    void product_write(const httplib::Request& req, httplib::Response& res, bool patch);
    void product_inventory(const httplib::Request& req, httplib::Response& res);
    void category_read(const httplib::Request& req, httplib::Response& res);
    void category_write(const httplib::Request& req, httplib::Response& res, bool patch);
    void order_read(const httplib::Request& req, httplib::Response& res);
    void order_status_read(const httplib::Request& req, httplib::Response& res);
    void order_status(const httplib::Request& req, httplib::Response& res);
    void invoice_generate(const httplib::Request& req, httplib::Response& res);
    void customer_read(const httplib::Request& req, httplib::Response& res);

    // caller holds mutex_
    nlohmann::json category_json(int64_t id) const;
    int64_t category_path(const std::vector<std::string>& names);  // find or create; the leaf's id
    nlohmann::json product_categories(const std::vector<int64_t>& leaves) const;
    std::string status_name(int64_t status_id) const;

    Options options_;
    std::atomic<uint64_t> requests_{0}, writes_{0}, throttled_{0};
    mutable std::mutex mutex_;  // guards everything below
    std::map<int64_t, Product> products_;
    std::map<std::string, int64_t> sku_index_;
    struct Category {
        std::string name;
        int64_t parent = 0;
        int position = 0;
    };
    std::map<int64_t, Category> categories_;
    std::map<int64_t, Order> orders_;
    std::map<int64_t, nlohmann::json> customers_;
    int64_t next_product_ = 100, next_category_ = 1, next_order_ = 2000, next_number_ = 10001, next_invoice_ = 1003000,
            next_customer_ = 14000;
    uint64_t invoices_issued_ = 0;
    struct Bucket {
        double level = 0;
        int64_t at_ms = 0;
    } read_bucket_, write_bucket_;
};

// `plexus sandbox` serves this one: key "gomag-sandbox-key", shop https://sandbox.gomag.ro,
// the observed budgets.
std::unique_ptr<Sandbox> make_gomag_sandbox(uint32_t seed, SeedSize size = SeedSize::demo);

}  // namespace plexus::sandbox
