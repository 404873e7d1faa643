// PowerOffice Go v2 wire rules that need no host: DateTimeOffset text, error bodies
// (ProblemDetails and the token endpoint's OAuth errors), read cursors, the DTO property
// names the connector may send, base64 and URL encoding. Pure functions, tested directly.
#pragma once

#include <plexus/rest.hpp>
#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace plexus::pogo {

using json = nlohmann::json;

// A DateTimeOffset as 100 ns ticks since 1970 (the API's precision: seven fractional digits).
// Accepts RFC 3339 and the vendor examples' form ("2023-07-03 14:28:00.1234567Z",
// "+00:00" offsets); a bare date is midnight UTC, a time without a zone UTC. None when malformed.
inline std::optional<int64_t> parse_ticks(const std::string& text) {
    return plexus::sdk::rest::parse_time(text, 10'000'000, /*assume_utc=*/true);
}
// "2023-07-03T14:28:00.1234567Z": RFC 3339 in UTC, sortable as text.
inline std::string format_ticks(int64_t ticks) { return plexus::sdk::rest::format_time(ticks, 10'000'000); }

// "what went wrong" for a non-2xx answer of `what` ("POST /v2/Customers"): the status, the
// ProblemDetails' title and detail (either spelling) and any validation errors map, or the
// OAuth error and description; never the request, the token or the keys.
std::string describe_error(int status, const std::string& body, const std::string& what);
// The status a non-2xx answer means for a record or a run: the SDK's table (rest::status_of).
inline plexus_status classify(int status) { return plexus::sdk::rest::status_of(status); }

// An entity's read position: records whose cursor field is after `after` (exclusive), or at
// exactly `after` with a key not in `keys` (those were returned already). Persisted as JSON
// text {"after": "<ticks as RFC 3339>", "keys": ["…"]} — the host stores it between runs.
struct ReadCursor {
    std::optional<int64_t> after;
    std::vector<std::string> keys;

    std::string encode() const;
    // Throws plexus::sdk::Error(PLEXUS_ERR_CONFIG) when the text is not a cursor of ours.
    static ReadCursor decode(const std::string& text);
};

// The property names of the request DTOs the connector sends (from the vendor's OpenAPI
// files; every DTO is additionalProperties: false). "ProductPatchDto" is the vendor's patch
// model, which the merged file drops (the list in ../shared/api/poweroffice-go.md).
const std::set<std::string>& dto_properties(const std::string& dto);
// Names of `object`'s members that `dto` does not declare, comma-separated ("" when none).
std::string unknown_members(const json& object, const std::string& dto);

std::string base64(const std::string& bytes);
using plexus::sdk::rest::url_encode;

// An integer from a JSON number or a string of digits (a customer number mapped from text).
std::optional<int64_t> as_integer(const json& value);

}  // namespace plexus::pogo
