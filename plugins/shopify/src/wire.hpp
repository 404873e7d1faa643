// Shopify Admin REST API wire facts as pure functions: the call-limit header, the Link
// header, error bodies, timestamps and the connector's read cursor. No I/O here, so the
// golden cases (plugins/shopify/testcases/) drive these directly.
#pragma once

#include <plexus/connector.hpp>

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

// The page_info of the rel="next" (or rel="previous") URL in a Link header, decoded; none
// when the header has no such link (the last page).
std::optional<std::string> link_page_info(const std::string& link_header, const std::string& rel);

// {"errors": "text"} / {"errors": {"email": ["has already been taken"]}} / {"errors": [..]}
// → "email: has already been taken; phone: is invalid" (fields in the body's order).
std::string errors_message(const json& body);
// True when a 422 body says the e-mail is taken (a create that should become a lookup).
bool email_taken(const json& body);

// ISO 8601 with an offset ("2024-05-01T12:00:00-04:00", "…Z", fractions ignored) → Unix
// seconds; none when unparsable.
std::optional<int64_t> parse_timestamp(const std::string& text);
// Unix seconds → "2024-05-01T16:00:00Z".
std::string format_utc(int64_t seconds);

std::string url_encode(const std::string& text);

// How one HTTP exchange is named in messages: "GET /admin/api/2024-04/customers.json"
// (never the query string: it may carry e-mail addresses).
std::string exchange_name(const std::string& method, const std::string& path);

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
ListPage parse_list_page(int status, const std::string& link_header, const std::string& body,
                         const std::string& plural, const std::string& exchange);

// The outcome of one create/update: ok with the object's id, or a per-record failure (422 →
// VALIDATION naming the fields; a taken e-mail on a customer create → CONFLICT). Whole-batch
// failures (401/403, 429, 5xx, malformed 2xx) throw Error.
plexus::sdk::WriteResult interpret_write(int status, const std::string& body,
                                         const std::string& singular, bool create,
                                         const std::string& exchange);

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
