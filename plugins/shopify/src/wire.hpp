// Shopify Admin REST API wire facts as pure functions: the call-limit header, the Link
// header, error bodies, timestamps and the connector's read cursor. No I/O here, so the
// golden cases (plugins/shopify/testcases/) drive these directly.
#pragma once

#include <plexus/connector.hpp>
#include <plexus/rest.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace plexus::shopify {

using json = nlohmann::json;

// "X-Shopify-Shop-Api-Call-Limit: 32/40" → {32, 40}.
struct CallLimit {
    double used = 0;
    double max = 0;
};
std::optional<CallLimit> parse_call_limit(const std::string& header);

// The Link header (RFC 8288) and query parameters: the SDK's REST helpers. Entries are split
// at the '>' that ends each URL, never at a bare comma (an HTTP client may hand the header
// over percent-decoded: cpp-httplib 0.11 turns fields=id%2Ctitle into fields=id,title).
using plexus::sdk::rest::Link;
using plexus::sdk::rest::parse_link_header;
using plexus::sdk::rest::query_param;
using plexus::sdk::rest::url_encode;
// The page_info of the rel="next" (or rel="previous") URL in a Link header, percent-decoded
// once (Shopify's page_info tokens hold no '%', so a header the client already decoded gives
// the same value); none when the header has no such link (the last page). The caller
// re-encodes it (url_encode) when it builds the next request.
inline std::optional<std::string> link_page_info(const std::string& link_header, const std::string& rel) {
    return plexus::sdk::rest::link_param(link_header, rel, "page_info");
}

// {"errors": "text"} / {"errors": {"email": ["has already been taken"]}} / {"errors": [..]}
// → "email: has already been taken; phone: is invalid" (fields in the body's order).
std::string errors_message(const json& body);
// True when a 422 body says the e-mail is taken (a create that should become a lookup).
bool email_taken(const json& body);

// ISO 8601 with an offset ("2024-05-01T12:00:00-04:00", "…Z", fractions ignored) → Unix
// seconds; none when unparsable or without a zone.
inline std::optional<int64_t> parse_timestamp(const std::string& text) { return plexus::sdk::rest::parse_time(text); }
// Unix seconds → "2024-05-01T16:00:00Z".
inline std::string format_utc(int64_t seconds) { return plexus::sdk::rest::format_time(seconds); }

// How one HTTP exchange is named in messages: "GET /admin/api/2024-04/customers.json"
// (never the query string: it may carry e-mail addresses).
inline std::string exchange_name(const std::string& method, const std::string& path) {
    return plexus::sdk::rest::describe(method, path);
}

// The status a whole-request failure maps to, with the operator's message; PLEXUS_OK for
// 2xx. 401/403 → AUTH, 429 → RATE_LIMIT (the host already honoured Retry-After), 5xx and
// other unexpected codes → TRANSIENT, 404 → NOT_FOUND, 400/422 → VALIDATION.
struct Failure {
    plexus_status status = PLEXUS_OK;
    std::string message;
};
Failure classify(int status, const std::string& body, const std::string& exchange);

// A 2xx body parsed as a JSON object, or Error(TRANSIENT, "malformed response from Shopify
// (HTTP 200 on GET …)").
json parse_body(int status, const std::string& body, const std::string& exchange);

// One list page: the body's `plural` array and the next page_info from the Link header.
// Throws Error per classify() / parse_body().
struct ListPage {
    std::vector<json> items;
    std::optional<std::string> next_page_info;
};
// Elements must carry an id unless require_id is false (inventory levels have none).
ListPage parse_list_page(int status, const std::string& link_header, const std::string& body,
                         const std::string& plural, const std::string& exchange, bool require_id = true);

// The outcome of one create/update: ok with the object's id, or a per-record failure (422 →
// VALIDATION naming the fields; a taken e-mail on a customer create → CONFLICT). Whole-batch
// failures (401/403, 429, 5xx, malformed 2xx) throw Error.
plexus::sdk::WriteResult interpret_write(int status, const std::string& body,
                                         const std::string& singular, bool create,
                                         const std::string& exchange);

// ---- Categories (custom collections) ----------------------------------------------------

// The handle a category's custom collection gets, derived from the category id alone so that
// a lookup after a crash finds what a create made: "category-" + the id lower-cased with every
// run of characters other than a-z and 0-9 turned into one '-'. When that loses more than case
// (spaces, punctuation, non-ASCII: "Kaffee & Tee" and "Kaffee/Tee" would meet), an 8-digit hex
// FNV-1a hash of the id is appended, so distinct ids keep distinct handles.
// "COFFEE" → "category-coffee"; "Kaffee & Tee" → "category-kaffee-tee-1c7f0e2a".
// Persisted format: changing it orphans every collection made before.
std::string category_handle(const std::string& category_id);
// Handles the connector derives start with this; only their collects are removed when a
// product moves to another category.
inline constexpr const char* kCategoryHandlePrefix = "category-";

// ---- Money ---------------------------------------------------------------------------------

// "19.99", "19.9", "20", 19.99 → cents; none when not a number with at most 2 decimals.
std::optional<int64_t> parse_cents(const json& value);
// 1999 → "19.99", -5 → "-0.05".
std::string format_cents(int64_t cents);

// ---- Inventory levels ------------------------------------------------------------------------

// The target key of an inventory level: "<inventory_item_id>:<location_id>" (persisted in
// the host's ledger).
std::string inventory_level_key(int64_t inventory_item_id, int64_t location_id);
std::optional<std::pair<int64_t, int64_t>> parse_inventory_level_key(const std::string& key);
// The answer to POST inventory_levels/set.json ({"inventory_level": {...}}, not wrapped in an
// id-carrying object): ok with inventory_level_key() and the level's updated_at in UTC; 422 →
// VALIDATION with Shopify's message ({"errors": ["…"]}); whole-batch failures throw.
plexus::sdk::WriteResult interpret_inventory_set(int status, const std::string& body,
                                                 const std::string& exchange);

// ---- Order invoice status --------------------------------------------------------------------

// The order metafields the invoice status is kept in (namespace "plexus").
inline constexpr const char* kMetafieldNamespace = "plexus";
struct MetafieldValue {
    std::string key;    // invoice_number, invoice_date, invoice_state, amount_due
    std::string type;   // single_line_text_field, date, number_decimal
    std::string value;  // as Shopify stores it (a string)
};
// What to write: the wanted values that are missing or differ in `existing` (the
// {"metafields": [...]} list of the order, any namespace); existing_id is the metafield to PUT,
// 0 for a POST.
struct MetafieldWrite {
    MetafieldValue value;
    int64_t existing_id = 0;
};
std::vector<MetafieldWrite> plan_metafields(const std::vector<MetafieldValue>& wanted,
                                            const json& existing);

// An invoice counts as paid when its state is "paid" (any case) or its amount due is 0.
bool invoice_paid(const std::string& state, std::optional<int64_t> amount_due_cents);

// How to record an Intacct payment on a Shopify order so that its financial_status becomes
// paid, from the order (financial_status, total_price, total_outstanding, currency) and its
// transactions ({"transactions": [...]}):
// - already paid / partially_refunded / refunded, or nothing outstanding: no step (the
//   exactly-once guarantee: a re-run, or a run after a crash that happened after the POST,
//   sees the payment and adds none);
// - voided: refused (the operator must look at the order);
// - authorizations not yet captured: one capture per authorization (parent_id, at most what
//   is outstanding);
// - what is still outstanding after that (pending, partially paid): one sale, source external.
// Captures and sales with status success or pending count as paid.
struct PaymentStep {
    std::string kind;  // "capture" or "sale"
    int64_t parent_id = 0;
    int64_t amount_cents = 0;
    std::string currency;
};
struct PaymentPlan {
    std::vector<PaymentStep> steps;
    std::string refusal;  // non-empty: do not pay, tell the operator this
};
PaymentPlan plan_payment(const json& order, const json& transactions);

// The read cursor (persisted by the host as next_cursor; format version 1):
//   {"v":1, "updated_at_min":"2024-05-01T10:00:00Z", "skip_ids":["7","9"],
//    "page_info":"…", "max_updated_at":"…", "max_ids":["…"]}
// - updated_at_min: the result set being read asks for records updated at or after this
//   (UTC); empty = from the beginning.
// - skip_ids: records at exactly updated_at_min that an earlier result set already
//   delivered (ties on the boundary second are not read twice).
// - page_info: present while inside a result set (Shopify's cursor carries the filters).
// - max_updated_at / max_ids: the greatest updated_at seen so far in this result set and
//   the ids at it; at the end of the set they become the next updated_at_min / skip_ids.
struct ReadCursor {
    std::string updated_at_min;
    std::vector<std::string> skip_ids;
    std::string page_info;
    std::string max_updated_at;
    std::vector<std::string> max_ids;

    std::string encode() const;
    static ReadCursor decode(const std::string& text);  // throws Error(CONFIG) when unusable
    // Takes a record into max_updated_at/max_ids.
    void see(const std::string& id, int64_t updated_seconds);
    // The result set ended: the cursor for the next one.
    ReadCursor finished() const;
    bool skips(const std::string& id, int64_t updated_seconds) const;
};

}  // namespace plexus::shopify
