// A simulator of the PowerOffice Go API v2 (../shared/api/poweroffice-go.md and the vendor's
// OpenAPI files in tests/contract/) for tests and `plexus sandbox`: the client-credentials
// token endpoint (Basic application:client key, expiring bearer tokens), the subscription key
// on every call (header Ocp-Apim-Subscription-Key or query subscription-key), 10 requests per
// second per subscription key answered with 429 beyond it, PageNumber/PageSize paging with a
// bare JSON array (204 when empty), ProblemDetails errors, unknown request properties refused,
// and stateful customers, products with stock, sales orders that are invoiced into outgoing
// invoices with balances, manual journal vouchers posting to the customer sub-ledger, general
// ledger accounts and VAT codes. Both /v2 and /Demo/v2 are served. What it invents beyond the
// public record is listed in README.md beside this file.
#pragma once

#include "sandbox/sandbox.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace plexus::sandbox {

class PowerOfficeGoSandbox final : public Sandbox {
public:
    struct Options {
        uint32_t seed = 1;
        std::string application_key = "sandbox-application-key";
        std::string client_key = "sandbox-client-key";
        std::string subscription_key = "sandbox-subscription-key";
        int token_lifetime_s = 600;  // expires_in (the token spec's example)
        bool rate_limit = true;      // 10 requests per second per subscription key
        int requests_per_second = 10;
        // The Retry-After of a 429 (seconds). "1" as Go's message says; tests that provoke many
        // 429s through the real binary shorten it, as they cannot shorten the hub's wait.
        std::string retry_after = "1";
        // Seed sizes. The connector's default page holds 500 rows, so 1200 customers and 700
        // products cross pages.
        int customers = 1200, products = 700, invoiced_orders = 150;
        // When not empty, the first seeded products carry these codes instead of GO-0001 …, so
        // that another sandbox's orders name products Go has (`plexus sandbox` uses the Intacct
        // sandbox's I-1001 … I-1150, which the Shopify sandbox's orders sell).
        std::vector<std::string> product_codes;
    };
    explicit PowerOfficeGoSandbox(Options options);

    std::string id() const override { return "poweroffice_go"; }
    void mount(httplib::Server& server) override;

    void set_rate_limit(bool on);
    uint64_t request_count() const { return requests_.load(); }
    uint64_t token_count() const { return tokens_issued_.load(); }
    // Requests answered 429 because the 10-per-second window was full (fault bursts not counted).
    uint64_t rate_limited_count() const { return rate_limited_.load(); }
    // Makes every token issued so far invalid (as if it had expired).
    void expire_tokens();

    // For tests: a copy of the stored objects of a collection ("customers", "products",
    // "sales_orders", "outgoing_invoices", "vouchers", "ledger"), and counts.
    nlohmann::json objects(const std::string& collection) const;
    size_t count(const std::string& collection) const;
    // Records a payment of `amount` (all that is due when negative) on invoice `invoice_no`,
    // as a bank reconciliation in Go would. False when no such invoice.
    bool pay_invoice(int64_t invoice_no, double amount = -1);
    // Sets a product's stock on hand as a stock count in Go would (by code). False when none.
    bool set_stock(const std::string& code, double on_hand);

private:
    struct Reply {
        int status = 200;
        nlohmann::json body;  // null: no body
        std::vector<std::pair<std::string, std::string>> headers;
    };
    struct Call {
        const httplib::Request& req;
        std::string method;
        std::vector<std::string> segments;  // the path after /v2, split at '/'
        std::string query(const std::string& name) const;
        bool has(const std::string& name) const;
    };

    void handle(const httplib::Request& req, httplib::Response& res, const std::string& method);
    void handle_token(const httplib::Request& req, httplib::Response& res);
    bool over_budget();
    Reply route(const Call& call);
    void seed();

    Reply customers(const Call& c);
    Reply products(const Call& c);
    Reply sales_orders(const Call& c);
    Reply outgoing_invoices(const Call& c);
    Reply vouchers(const Call& c);
    Reply customer_ledger(const Call& c);
    Reply reference_data(const Call& c);
    Reply control(const httplib::Request& req, const std::string& what);

    // Lists with the spec's resourceParameter (PageNumber, PageSize, OrderBy, Fields).
    Reply page(const Call& c, std::vector<nlohmann::json> rows);

    std::string now();  // strictly increasing, "YYYY-MM-DDTHH:MM:SS.fffffff+00:00"
    std::string new_uuid();
    nlohmann::json customer_by_no(int64_t no) const;
    std::optional<int64_t> customer_id_by_account(int64_t account_id) const;
    nlohmann::json* product_by(const nlohmann::json& id, const nlohmann::json& code);
    double reserved_quantity(int64_t product_id) const;
    nlohmann::json product_view(const nlohmann::json& p) const;
    void invoice_order(nlohmann::json& order, const nlohmann::json& request);
    std::string delivery_type(const nlohmann::json& order, const nlohmann::json& request) const;

    Options options_;
    mutable std::mutex mutex_;
    std::map<std::string, int64_t> tokens_;  // token → expiry, steady ms
    std::vector<int64_t> window_;            // times (steady ms) of the last second's calls
    std::map<int64_t, nlohmann::json> customers_, products_, accounts_, vat_codes_;
    std::map<std::string, nlohmann::json> orders_, invoices_, vouchers_;
    std::vector<nlohmann::json> ledger_;  // CustomerLedgerEntryDto
    int64_t next_contact_id_ = 4'100'001, next_customer_no_ = 10000, next_product_id_ = 7'700'001;
    int64_t next_order_no_ = 1001, next_invoice_no_ = 20001, next_voucher_no_ = 50001;
    int64_t next_ledger_id_ = 900'001, next_line_id_ = 1;
    int64_t last_us_ = 0;
    uint64_t uuid_state_;
    std::atomic<uint64_t> requests_{0}, tokens_issued_{0}, rate_limited_{0};
};

// The demo's Go (`plexus sandbox`): the Intacct sandbox's item codes first, so that orders
// from the demo's Shopify name products Go has.
std::unique_ptr<Sandbox> make_poweroffice_go_sandbox(uint32_t seed, SeedSize size = SeedSize::demo);

}  // namespace plexus::sandbox
