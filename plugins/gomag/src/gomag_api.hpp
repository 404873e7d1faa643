// One Gomag shop's Public API as the connector uses it: every request through the host's HTTP
// client with the Apikey and ApiShop headers and the configured User-Agent, GET parameters in
// the query and writes as a multipart form with one JSON field, each answer's Api-RateLimit-*
// headers fed to the host's rate governor (reads and writes are separate buckets at Gomag; the
// host has one governor per connection, so it is told about whichever bucket just answered),
// and throttled answers retried once the governor lets the next request go. Messages name
// method and path only: never the query string, never the key.
#pragma once

#include "gomag_wire.hpp"

#include <plexus/connector.hpp>

#include <string>
#include <utility>
#include <vector>

namespace plexus::gomag {

using Params = std::vector<std::pair<std::string, std::string>>;

class GomagApi {
public:
    GomagApi(plexus::sdk::Host& host, std::string base_url, std::string api_key, std::string shop,
             std::string user_agent);

    // GET /api/v1/{path}: the parsed body, or throws Error for any failure (business ones too).
    json get(const std::string& path, const Params& params);
    // POST /api/v1/{path} with form field `field` = JSON text of `value`. Whole-call failures
    // (auth, spent budget, config, transient) throw; a business error (HTTP 200 with an error
    // code) comes back as a Verdict with status VALIDATION, for the caller to pin on records.
    Verdict post(const std::string& path, const std::string& field, const json& value);

    plexus::sdk::Host& host() { return host_; }
    int64_t requests() const { return requests_; }

private:
    Verdict exchange(const std::string& method, const std::string& path, const Params& params,
                     const std::string& field, const json* value);

    plexus::sdk::Host& host_;
    std::string base_, key_, shop_, agent_;
    uint64_t boundaries_ = 0;
    int64_t requests_ = 0;
};

// Whole-run failures propagate from a per-record operation; others become the record's result.
using plexus::sdk::rest::stops_run;

}  // namespace plexus::gomag
