// One PowerOffice Go client as the connector's parts use it: every request through the host's
// HTTP client with the bearer token and the subscription key; the token fetched by the
// client-credentials grant and renewed before it expires (and once more on a 401); lists
// followed over PageNumber/PageSize; non-2xx answers turned into sdk::Error with a message
// naming the method, the path (never the query, a token or a key) and the API's explanation.
#pragma once

#include "wire.hpp"

#include <plexus/connector.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace plexus::pogo {

struct Answer {
    int status = 0;
    std::string body;
    std::string what;  // "GET /v2/Customers"
    json parsed() const;  // the body as JSON; throws TRANSIENT when malformed
};

class GoApi {
public:
    struct Keys {
        std::string application_key, client_key, subscription_key;
    };
    GoApi(plexus::sdk::Host& host, std::string base_url, std::string token_url, Keys keys);

    // path_and_query is relative to the base URL ("Customers?customerNos=10001"). `content_type`
    // for bodies: application/json (POST) or application/json-patch+json (PATCH). Any status is
    // returned; only a failure to get an answer (or an auth failure) throws.
    Answer call(const std::string& method, const std::string& path_and_query, const std::string& body = {},
                const std::string& content_type = {});
    // call() that must answer 2xx; throws sdk::Error(classify(status), describe_error(…)).
    json expect(const std::string& method, const std::string& path_and_query, const json* body = nullptr,
                const std::string& content_type = "application/json");
    // GET by id: none on 404.
    std::optional<json> find(const std::string& path);
    // One page of a list (1-based page number): the rows, empty on 204.
    std::vector<json> list_page(const std::string& path, const std::string& query, int64_t page, int64_t size);
    // Every row of a list, page after page, stopping on a short page (or `enough` saying so).
    std::vector<json> list_all(const std::string& path, const std::string& query, int64_t size,
                               const std::function<bool(const json&)>& enough = {});

    plexus::sdk::Host& host() { return host_; }

private:
    void fetch_token();

    plexus::sdk::Host& host_;
    std::string base_, token_url_;
    Keys keys_;
    std::string token_;
    int64_t token_renew_at_ms_ = 0;  // host clock; renew at or after this
};

}  // namespace plexus::pogo
