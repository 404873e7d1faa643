// A simulator of e-guma's REST API v1 (https://api.e-guma.ch/v1/…) for tests and `plexus
// sandbox`, written from e-guma's developer hub (shared/api/e-guma.md), not from our
// connector: the API key in the `apikey` query parameter, money in integer cents, plain-text
// error bodies, business refusals as 200 with `is_redeemable` / `can_be_activated` /
// `can_be_deactivated` false and a message, voucher2mobile short codes that only balance
// resolves, stateful vouchers (balance, redeem, cancel redemption, info) and depot vouchers
// (activate status, activate, deactivate status, deactivate), products, seeded data, the
// framework's fault knobs, a redeem that times out after it took effect, and web-shop sales
// events pushed, signed, to a hook URL. What it invents beyond the public record:
// plugins/eguma/sandbox/README.md.
#pragma once

#include "sandbox/sandbox.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace plexus::sandbox {

// API keys the sandbox accepts: one per outlet, as e-guma hands them out.
inline constexpr const char* kEgumaKeyOutlet1 = "eguma-sandbox-outlet-1";
inline constexpr const char* kEgumaKeyOutlet2 = "eguma-sandbox-outlet-2";

// Seeded vouchers tests rely on (the rest are generated from the seed).
inline constexpr const char* kEgumaVoucher400of500 = "L4FU5LQTKJR3";   // CHF 400 of 500 left
inline constexpr const char* kEgumaVoucher50 = "K7PM2XQ9WB4D";         // CHF 50, untouched
inline constexpr const char* kEgumaVoucherRedeemed = "Z9RT4HNB2C6M";   // fully redeemed
inline constexpr const char* kEgumaVoucherUnpaid = "Q2WE8RTY5UIO";     // not paid yet
inline constexpr const char* kEgumaVoucherExpired = "XP1R3D0VCH3R";   // CHF 50 left, valid until 2024-12-31
inline constexpr const char* kEgumaShortCode = "48213957";             // short code of K7PM2XQ9WB4D
inline constexpr const char* kEgumaDepotFixed = "D3P0T4K8M2N6";        // depot, CHF 100, not sold
inline constexpr const char* kEgumaDepotFree = "D3P0TFR33AMT";         // depot, free amount, not sold
inline constexpr const char* kEgumaDepotSold = "D3P0TS0LD001";         // depot, CHF 50, sold

class EgumaSandbox final : public Sandbox {
public:
    explicit EgumaSandbox(uint32_t seed);
    ~EgumaSandbox() override;
    std::string id() const override { return "eguma"; }
    void mount(httplib::Server& server) override;

    struct RedemptionRow {
        std::string token;
        int64_t cents = 0;
        int64_t cancelled_cents = 0;
        std::string reference;
    };
    struct Voucher {
        std::string code;
        int64_t balance = 0, total = 0;
        bool paid = true, proforma = false;
        std::string product_id, name, valid_until;
        std::string short_code;
        std::vector<RedemptionRow> redemptions;
    };
    struct Depot {
        std::string code;
        bool free_amount = false, activated = false;
        int64_t amount = 0;  // fixed amount, or the amount chosen at activation
        std::string product_id;
    };

    // For tests (thread-safe copies).
    std::optional<Voucher> voucher(const std::string& code) const;
    std::optional<Depot> depot(const std::string& code) const;
    // API requests served (faulted ones included) and successful redeems / cancels.
    uint64_t requests() const { return requests_.load(); }
    uint64_t redeems() const { return redeems_.load(); }
    uint64_t cancels() const { return cancels_.load(); }
    // The next `n` redeems take effect, then their answer is held `hold_ms` before it is sent
    // (a client with a shorter timeout gives up: the answer is lost, the redemption is made).
    void hang_redeems_after_effect(int n, int hold_ms);
    // The next `n` redeems (after letting `after` more through) are dropped before they take
    // effect: the connection closes without an answer and the voucher is untouched.
    void drop_redeems_before_effect(int n, int after = 0);
    // Every request line (method, path and query, as received) — to prove what reached it.
    std::vector<std::string> request_lines() const;

    // Sales events (README "Sales events"): where they are pushed, and something happening in
    // the web shop. `action`: sale (needs lines), cancel, pay, unpaid, maison, organisation.
    // Returns the sale's new state or an error text.
    void set_hook(const std::string& url, const std::string& secret);
    nlohmann::json sales_action(const nlohmann::json& request, std::string& error);
    // Deliveries: events queued, delivered (2xx), attempts made.
    nlohmann::json delivery_status() const;
    // Waits until every queued event was delivered (or `ms` passed); true when none is left.
    bool wait_delivered(int ms) const;

private:
    bool admit(const httplib::Request& req, httplib::Response& res);
    Voucher* find_voucher(const std::string& raw_code);  // by code (either spelling)
    Depot* find_depot(const std::string& raw_code);
    void seed(uint32_t seed);
    void deliver_loop();

    mutable std::mutex mutex_;
    std::map<std::string, Voucher> vouchers_;  // by canonical code
    std::map<std::string, std::string> short_codes_;
    std::map<std::string, Depot> depots_;
    nlohmann::json products_ = nlohmann::json::array();
    std::atomic<uint64_t> requests_{0}, redeems_{0}, cancels_{0}, tokens_{0};
    int hang_left_ = 0, hang_ms_ = 0, drop_left_ = 0, drop_after_ = 0;
    std::vector<std::string> request_lines_;
    uint32_t seed_ = 1;

    // Sales and their push queue.
    std::map<std::string, nlohmann::json> sales_;
    int64_t next_sale_ = 100041, next_event_ = 1;
    std::string hook_url_, hook_secret_;
    struct Pending {
        std::string id, type, body;
        int attempts = 0;
    };
    std::deque<Pending> queue_;
    uint64_t delivered_ = 0, attempts_ = 0;
    std::string last_delivery_error_;
    mutable std::condition_variable queue_cv_;
    bool stopping_ = false;
    std::thread deliverer_;
};

std::unique_ptr<Sandbox> make_eguma_sandbox(uint32_t seed, SeedSize size = SeedSize::demo);

// HMAC-SHA256 of `data` with `key`, lower-case hex (the signature the sandbox sends).
std::string eguma_hmac_hex(const std::string& key, const std::string& data);

}  // namespace plexus::sandbox
