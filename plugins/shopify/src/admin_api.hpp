// One Shopify store's Admin REST API as the connector's parts use it: every request through
// the host's HTTP client with the access token, the call-limit header fed to the host's rate
// governor, and the few ways an answer is read (one object, a list followed over its Link
// pages). Messages name the method and path, never the query string nor the token.
#pragma once

#include "wire.hpp"

#include <plexus/connector.hpp>

#include <optional>
#include <string>
#include <vector>

namespace plexus::shopify {

struct Exchange {
    plexus::sdk::HttpResponse response;
    std::string name;  // "GET /admin/api/2024-04/customers.json"
};

class AdminApi {
public:
    AdminApi(plexus::sdk::Host& host, std::string base, std::string version, std::string token)
        : host_(host), base_(std::move(base)), version_(std::move(version)), token_(std::move(token)) {}

    // path_and_query is relative to /admin/api/{version}/ ("customers.json?limit=5").
    Exchange call(const std::string& method, const std::string& path_and_query, const std::string& body = {});
    // A JSON body for POST/PUT (UTF-8 errors replaced, never thrown).
    Exchange send(const std::string& method, const std::string& path, const json& body);

    // GET that must answer 2xx with {"<singular>": {...}}; throws Error per classify().
    json get_object(const std::string& path_and_query, const std::string& singular);
    // Like get_object, but a 404 is "none".
    std::optional<json> find_object(const std::string& path_and_query, const std::string& singular);
    // GET a list and every further page its Link header names (rel="next"), up to max_items.
    std::vector<json> get_all(const std::string& path_and_query, const std::string& plural,
                              size_t max_items = static_cast<size_t>(-1), bool require_id = true);

    plexus::sdk::Host& host() { return host_; }

private:
    plexus::sdk::Host& host_;
    std::string base_, version_, token_;
    bool version_warned_ = false;
};

// Per-record error handling for the multi-request writes: whole-run failures (auth, rate
// limit, cancelled, config) propagate; anything else becomes this record's failed result,
// its message prefixed with what the record is ("SKU PX-1000-1").
using plexus::sdk::rest::per_record;

// A record-level problem found before any request ("no sku").
inline plexus::sdk::Error invalid(const std::string& message) {
    return plexus::sdk::Error(PLEXUS_ERR_VALIDATION, message);
}

std::string id_text(const json& id);
// A lookup's answer for one object: key (its id unless given), cursor (updated_at in UTC),
// the object as data.
plexus::sdk::LookupResult found_record(json object, std::string key = {});
// An integer id from a JSON number or a string of digits; none otherwise.
std::optional<int64_t> id_number(const json& value);

}  // namespace plexus::shopify
