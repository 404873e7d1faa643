// The e-guma connector's pure functions: voucher codes, money in cents, the target keys that
// carry redeem tokens, what a mapped redemption record asks for, and the folding of the
// web-shop sales events pushed to the hub into one record per sale. No I/O here: these are
// unit-tested on their own (tests/test_wire.cpp) and used by eguma_connector.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <plexus/rest.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::eguma {

using json = nlohmann::json;

// ---- voucher codes ----------------------------------------------------------------------
// A code as entered or scanned: "L4FU-5LQT-KJR3", "l4fu5lqtkjr3 ", a voucher2mobile short
// code. Trims white space and drops spaces inside; a 12-character code written with dashes
// (or in lower case) becomes its barcode form, upper case ("L4FU5LQTKJR3"). Other forms
// (short codes) are kept as typed. nullopt when empty or when it holds characters other than
// letters, digits, '.' and '-' (what a POS keyboard offers, per e-guma's guide); `why` says.
std::optional<std::string> normalise_code(std::string_view input, std::string* why = nullptr);
// Upper case without dashes: two spellings of one code compare equal.
std::string comparable_code(std::string_view code);
// Percent-encodes a code for a path segment (the newest Balance page asks for it).
inline std::string path_encode(std::string_view code) { return sdk::rest::url_encode(code); }

// ---- money ------------------------------------------------------------------------------
// An amount in currency units — a decimal string ("12.50", "12.5", "12") or a number
// (12.5) — as integer cents. nullopt (with `why`) for text that is not a number, more than
// two decimals, a negative amount or one past 10^13 cents.
std::optional<int64_t> cents_of(const json& amount, std::string* why = nullptr);
std::string format_cents(int64_t cents);  // 12550 → "125.50"

// ---- redemptions: the target key ---------------------------------------------------------
// One redemption made for a source record. `token` is e-guma's redeem_token, or "?" when the
// answer to the redeem was lost and the balance showed that it took effect (then it cannot be
// cancelled through the API: the back office has to).
struct Redemption {
    std::string code;  // as balance returned it
    int64_t cents = 0;
    std::string token;
    bool cancelled = false;
};
// The ledger's target key of a redemptions record: "r1:none" (nothing redeemed: no voucher
// selected, or the order was cancelled before it was ever redeemed) or "r1:" followed by the
// redemptions, comma-separated, each CODE/CENTS/TOKEN, with "/cancelled" once cancelled:
//   r1:L4FU5LQTKJR3/12550/b83d60f5-dbe6-4ada-92f2-0ed2b3ccdc66/cancelled
// Codes (letters, digits, '.', '-') and tokens (UUIDs) hold none of ':', ',' or '/'. The key
// changes when a redemption is cancelled; the host stores the key an update returns.
std::string encode_redemptions(const std::vector<Redemption>& items);
std::optional<std::vector<Redemption>> decode_redemptions(std::string_view key);

// ---- redemptions: the mapped record -------------------------------------------------------
struct VoucherPayment {
    std::string code;                // normalised
    std::optional<int64_t> cap;      // at most this from this voucher (its `amount`)
    std::string label;               // e.g. the note attribute's name
};
struct RedemptionRequest {
    std::string reference;                 // reference_number sent to e-guma
    std::string currency;                  // upper case, or empty
    std::vector<VoucherPayment> vouchers;  // the selected ones, in order
    std::optional<int64_t> total_due;      // at most this over all vouchers (`amount_due`)
    bool cancelled = false;                // the source is cancelled or refunded
};
// Reads a mapped record (README "redemptions"). Throws std::invalid_argument naming the field
// for anything unusable (a bad code, an amount that is not money, no amount at all).
RedemptionRequest parse_redemption_request(const json& data);
// How much to redeem from a voucher holding `balance`: min(what is still due, its cap,
// balance), never negative.
int64_t amount_to_redeem(std::optional<int64_t> still_due, std::optional<int64_t> cap, int64_t balance);

// ---- depot activations ------------------------------------------------------------------
// "d1:CODE/CENTS" once activated, "d1:CODE/CENTS/deactivated" once deactivated, "d1:none"
// when a cancelled sale's card was never activated.
struct DepotState {
    std::string code;
    int64_t cents = 0;
    bool deactivated = false;
    bool none = false;
};
std::string encode_depot(const DepotState& s);
std::optional<DepotState> decode_depot(std::string_view key);

// A source status meaning "this sale is void": cancelled, canceled, refunded, voided (any
// case), or a `cancelled` value that is true / a non-empty text (e.g. Shopify's cancelled_at).
bool is_cancelled(const json& data);

// ---- voucher balance (the check-balance page) ----------------------------------------------
// What a support person reads first about a voucher: "redeemable"; "expired" (`valid_until`,
// ISO 8601 from info.json, before `today`, YYYY-MM-DD); "used_up" (known, nothing left);
// "not_redeemable" (known, another reason: e-guma's message says which — unpaid, proforma …);
// "unknown" (e-guma does not know the code).
std::string voucher_status(bool known, bool redeemable, int64_t balance_cents, const std::string& valid_until,
                           const std::string& today);

// ---- sales events (pushed by e-guma to the hub's webhook inbox) ----------------------------
struct SaleRecord {
    std::string key;     // the sale's order/invoice id
    std::string cursor;  // inbox_cursor(seq) of the event it was folded from last
    json data;
};
struct FoldProblem {
    int64_t seq = 0;
    std::string event_id;
    std::string message;
};
struct FoldResult {
    std::vector<SaleRecord> records;  // one per sale, in the order of each sale's last event
    std::vector<FoldProblem> problems;  // events that could not be used (skipped)
    int64_t last_seq = 0;               // the greatest seq seen (consumed), 0 when none
};
struct SalesEvent {
    int64_t seq = 0;
    std::string id;
    std::string topic;
    json body;
};
// The record data of one event's sale (README "sales_events"), or throws
// std::invalid_argument naming the JSON path of what is wrong.
json normalise_sale(const json& body, std::string_view topic);
// Folds a page of events: each event carries its sale's whole current state, so a sale's
// record is the state of its newest event (the greatest `sale.version`; on equal versions the
// later seq). Events of a sale older than one already folded in the page are dropped.
FoldResult fold_sales_events(const std::vector<SalesEvent>& events);
// The same page as one record per Maison / organisation redemption (README
// "redemption_events"): key = redemption_id, cursor = its sale's, data = the redemption of
// the sale's newest state with the sale's id, kind, status and event fields. A redemption is
// cancelled when e-guma marks it so or its sale is cancelled.
FoldResult fold_redemption_events(const std::vector<SalesEvent>& events);

}  // namespace plexus::eguma
