// The host's HTTP client (ARCHITECTURE.md, "Host services"): cpp-httplib with TLS verified,
// timeouts, retries with exponential backoff and jitter, and the connection's rate governor.
// Behind plexus_host_api::http (sdk/include/plexus/sdk.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "http/rate_governor.hpp"
#include "http/wait_reason.hpp"

namespace httplib {
class ClientImpl;
}

namespace plexus {

struct HttpRequestSpec {
    std::string method;  // "GET", "POST", …
    std::string url;     // absolute: http[s]://host[:port]/path?query (already percent-encoded)
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int64_t timeout_ms = 0;  // 0 = RetryPolicy::default_timeout_ms
    bool no_retry = false;   // exactly one attempt (PLEXUS_HTTP_NO_RETRY)
};

struct HttpResult {
    bool got_response = false;  // the last attempt produced a response (any status)
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int attempts = 0;        // requests actually sent (0 when the request was invalid or cancelled)
    std::string error;       // when !got_response; never contains headers, body or query string
    bool cancelled = false;  // `cancelled` returned true: stopped before a final outcome
    bool invalid_request = false;  // malformed URL, method or header: nothing was sent
                                   // (plexus_host_api::http maps this to PLEXUS_ERR_CONFIG)
};

struct RetryPolicy {
    int max_attempts = 5;                   // including the first
    int64_t base_backoff_ms = 250;          // backoff before retry n: random in
    int64_t max_backoff_ms = 30000;         //   [0, min(max_backoff_ms, base_backoff_ms * 2^n)]
    int64_t default_timeout_ms = 30000;     // connect, read and write timeout when 0 is asked
    int64_t max_retry_after_ms = 120000;    // cap on an API's Retry-After
    int64_t default_retry_after_ms = 1000;  // a 429 without (a usable) Retry-After
    std::size_t max_idle_per_host = 8;      // keep-alive connections kept per scheme+host+port
};

// Performs requests with retries. Thread-safe: send() may be called from many threads at once;
// each call checks a connection out of a per scheme+host+port keep-alive pool and returns it
// afterwards (connections that failed are dropped, not pooled).
//
// Retried (unless no_retry): connection failures, timeouts, dropped connections, 5xx and 429.
//  - errors and 5xx: exponential backoff with full jitter (see RetryPolicy); a 503 carrying
//    Retry-After waits that instead (RFC 9110 §10.2.3);
//  - 429: waits Retry-After (delta-seconds, possibly fractional, or an HTTP-date), capped at
//    max_retry_after_ms, default_retry_after_ms when absent, and pauses the governor so every
//    user of the connection waits too.
// Not retried: any other status (returned as is), TLS certificate failures, invalid requests.
// When attempts run out, the last attempt's outcome is returned: its response, or its error.
//
// Retrying a request that timed out may repeat its effect on the server: a connector sending a
// non-idempotent request sets no_retry.
//
// TLS: certificates and host names are verified against the system CA store, or `ca_bundle`
// (a PEM file) when given. Timeouts apply to connecting, and to each read and write (not to
// the whole exchange). Redirects are not followed (the connector sees the 3xx). A response
// body that arrived compressed is delivered decompressed, without its Content-Encoding header.
//
// Waits (backoff, Retry-After, governor) go through `clock` in slices, checking `cancelled`
// between them; a request already on the wire is bounded by its timeout, not interrupted.
class HttpClient {
public:
    static constexpr int64_t kSleepSliceMs = 50;

    explicit HttpClient(Clock& clock, RetryPolicy policy = {}, std::string ca_bundle = {});
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // `governor` may be null (no rate limit); `cancelled` may be empty. `note`, when given,
    // hears why the request waits: each retry with its reason and delay, and any wait for
    // the connection's rate budget (the host logs them at debug). Notes are redacted.
    // `on_wait`, when given, hears the same as data while it happens: a WaitReason when a
    // wait begins (rate_limit or retry), and one of kind none when it is over.
    HttpResult send(const HttpRequestSpec& request, RateGovernor* governor,
                    const std::function<bool()>& cancelled,
                    const std::function<void(const std::string&)>& note = {},
                    const WaitObserver& on_wait = {});

    const RetryPolicy& policy() const { return policy_; }

private:
    struct Target;
    struct Attempt;

    static std::optional<Target> parse_target(std::string_view url, std::string& why);

    Attempt attempt_once(const Target& target, const HttpRequestSpec& request,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         int64_t timeout_ms);
    std::unique_ptr<httplib::ClientImpl> checkout(const Target& target);
    void checkin(const std::string& key, std::unique_ptr<httplib::ClientImpl> client);
    bool wait(int64_t ms, const std::function<bool()>& cancelled);
    int64_t backoff_ms(int retry_index);

    Clock& clock_;
    const RetryPolicy policy_;
    const std::string ca_bundle_;
    std::mutex pool_mutex_;  // guards idle_
    std::unordered_map<std::string, std::vector<std::unique_ptr<httplib::ClientImpl>>> idle_;
};

// Milliseconds to wait for a Retry-After header value: delta-seconds ("120", "2.5") or an
// HTTP-date (IMF-fixdate, RFC 850 or asctime form) measured against `now_ms` (Unix epoch ms;
// a date in the past gives 0). nullopt when the value is neither.
std::optional<int64_t> parse_retry_after_ms(std::string_view value, int64_t now_ms);

}  // namespace plexus
