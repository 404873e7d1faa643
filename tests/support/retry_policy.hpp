// The host HttpClient's retry policy for tests that talk to a sandbox on loopback. Included as
// "tests/support/retry_policy.hpp" (the source root is on every target's include path).
#pragma once

#include "http/http_client.hpp"

#include <cstdint>

namespace plexus::test {

// Retries in milliseconds, not seconds: the tests' faults are the sandbox's, on loopback. A
// vendor's Retry-After (Shopify's 2.0, Gomag's and Go's 1) is cut to `max_retry_after_ms`.
inline plexus::RetryPolicy fast_retry_policy(int64_t max_retry_after_ms = 100,
                                             int max_attempts = plexus::RetryPolicy{}.max_attempts) {
    plexus::RetryPolicy p;
    p.max_attempts = max_attempts;
    p.base_backoff_ms = 5;
    p.max_backoff_ms = 40;
    p.default_retry_after_ms = 20;
    p.max_retry_after_ms = max_retry_after_ms;
    p.default_timeout_ms = 5000;
    return p;
}

}  // namespace plexus::test
