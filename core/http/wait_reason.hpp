// Why a run is waiting right now (issue 13, "progress that explains itself"): the HTTP client,
// the rate governor and the engine say when a wait begins and when it is over; the run's
// observer (Operations keeps one per run, core/service/operations.hpp) turns it into the
// words the portal shows ("waiting 1.5 s for Shopify's rate limit", "retrying after HTTP 503
// (attempt 2 of 5)"). Plain data: no text is built here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace plexus {

struct WaitReason {
    enum class Kind {
        none,        // the wait is over (the request went out, gave up or was cancelled)
        rate_limit,  // the connection's rate budget (the governor) holds the request back
        retry,       // a failed attempt is retried after a pause
        other_run,   // another run holds what this one needs (a dependency's lease)
    };
    Kind kind = Kind::none;
    int64_t ms = 0;         // how long this wait is expected to last (0: unknown)
    bool api_said = false;  // rate_limit: the API itself asked to pause (a 429's Retry-After)
    int status = 0;         // retry: the HTTP status retried; 0 for a connection error
    std::string error;      // retry without a response: what went wrong (redacted)
    int attempt = 0;        // retry: the attempt about to be made (2 = the first retry)
    int max_attempts = 0;
    std::string connection;  // filled by the host: the connection waited on
    std::string connector;
    std::string holder;  // other_run: what holds it, as the lease says ("run 12 of products")
};

using WaitObserver = std::function<void(const WaitReason&)>;

}  // namespace plexus
