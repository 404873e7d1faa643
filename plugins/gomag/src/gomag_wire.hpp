// Gomag Public API wire format, as pure functions (no host, no I/O) so golden tests can drive
// them: the multipart `data=` form post every write is, the envelope rules (business errors
// arrive in HTTP 200 bodies), collections keyed by id, lenient numbers ("7.000"), the
// Api-RateLimit-* headers, and the connector's read cursors. Facts: ../shared/api/gomag.md and
// Gomag's Postman collection (tests/contract/).
#pragma once

#include <plexus/rest.hpp>
#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::gomag {

using json = nlohmann::json;

// One `multipart/form-data` body with a single text field (Gomag's writes: field "data", or
// "invoice" for invoice/generate). The boundary must not occur in `value`; make_boundary()
// draws one that a JSON text cannot contain (it has no quote and begins with dashes + letters).
std::string multipart_body(std::string_view boundary, std::string_view field, std::string_view value);
std::string make_boundary(uint64_t salt);

// What a Gomag answer means for the caller.
struct Verdict {
    plexus_status status = PLEXUS_OK;  // OK: `body` holds the parsed document
    std::string message;               // when not OK: what, where (no secret, no query string)
    json body;
    bool throttled = false;  // a 429, or a 200 body that says the bucket is empty
};

// Reads an answer: HTTP status first (401/403 auth, 404 wrong base URL, 429 throttled, 5xx
// transient, other 4xx validation), then the body (not JSON: transient), then the envelope
// rule of gomag.md: failure when `error` is present and not 200 (string or number), or when
// `status` is present and not 200. Error 100 ("Missing Api User") is an auth failure.
// `what` names the call ("POST /api/v1/product/write/json").
Verdict judge(int http_status, const std::string& body, const std::string& what);

// The business error of an envelope (codes and messages joined), or none when it succeeded.
std::optional<std::string> business_error(const json& body);

// A collection as Gomag sends it: an object keyed by id ({"12": {...}}) or, when empty or for
// some lists, an array. Returns (key, item) pairs in the order sent; an array's key is the
// item's "id" when it has one, else its index.
std::vector<std::pair<std::string, json>> collection_items(const json& collection);

// Lenient numbers: 7, 7.5, "7.000", "1000.0000", " 12 " → value; "", null, "abc" → none.
std::optional<double> number_of(const json& value);
// An integer from a number or a string of digits ("3", 3, "3.00"); none otherwise.
std::optional<int64_t> integer_of(const json& value);
// Text of a scalar: strings as they are, numbers without a trailing ".0", null → "".
std::string text_of(const json& value);

// The bucket a response reports: Api-RateLimit-{Read|Write}[-Burst|-Remaining], names matched
// case-insensitively. Present only when burst and remaining both are.
struct Budget {
    double rate = 0;  // leak rate, requests per second (0 when not sent)
    double burst = 0;
    double remaining = 0;
};
std::optional<Budget> budget_of(const std::vector<std::pair<std::string, std::string>>& headers, bool write);

// "2025-02-19 16:19:46" (shop time) → "2025-02-19T16:19:46": the record cursor, ordered as
// text. A value that is not such a time comes back as it was.
std::string cursor_time(const std::string& gomag_time);
// "2024-05-01", "2024-05-01T10:00:00Z", "2024-05-01 10:00:00" → "2024-05-01"; none when the
// text does not start with a valid YYYY-MM-DD.
std::optional<std::string> date_of(std::string_view text);
// The UTC date of a Unix time in milliseconds, YYYY-MM-DD.
inline std::string utc_date(int64_t unix_ms) { return plexus::sdk::rest::format_time(unix_ms, 1000).substr(0, 10); }

using plexus::sdk::rest::url_encode;

// The position of an incremental read by Gomag's `updated` day filter (products). Persisted
// as the host's cursor text, JSON: {"w": watermark, "k": [keys at w], "p": next page,
// "l": its page size, "d": day of the running set, "m": highest updated seen in the set,
// "mk": keys at m}.
// A set is every page of `updated=<d>`; the watermark moves only when a set is complete, so a
// crash mid-set re-reads at most that set. A record is new when its updated is after w, or
// at w with a key not in k.
struct UpdatedCursor {
    std::string w;
    std::vector<std::string> k;
    int64_t p = 0;  // 0: no set running
    int64_t l = 0;  // the page size (Gomag's limit) of the running set
    std::string d;
    std::string m;
    std::vector<std::string> mk;

    static UpdatedCursor decode(const std::string& text);  // throws plexus::sdk::Error (CONFIG)
    std::string encode() const;
    bool is_new(const std::string& key, const std::string& updated) const;
    void see(const std::string& key, const std::string& updated);
    void finish_set();  // w/k ← m/mk when later; p = 0
};

// The position of an order read: {"s": registered-on-or-after day (first set only),
// "u": the `updated` day of the running set, "p": next page, "n": the day the next set asks
// for, "o": records of page p already delivered}. Orders carry no change time of their own, so every set re-reads whole days; the
// host's ledger marks what did not change as unchanged.
// Also the position of a full pass (categories, customers: no change filter): only p and o.
struct OrderCursor {
    std::string s, u, n;
    int64_t p = 0, o = 0;
    static OrderCursor decode(const std::string& text);
    std::string encode() const;
};

}  // namespace plexus::gomag
