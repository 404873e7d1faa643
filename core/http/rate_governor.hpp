// The rate governor of one connection (ARCHITECTURE.md, "Host services"): a token bucket fed
// by the connector's declared budget and corrected by what the API reports about its own.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "common/clock.hpp"

namespace plexus {

// One per connection, shared by every process and thread that uses the connection, so their
// requests together stay within the connection's budget.
//
// The bucket holds at most `burst` tokens and refills at `requests_per_second`; each request
// takes one token. Two corrections come from the API itself:
//  - observe(used, capacity): the API's own bucket (Shopify's "32/40") is the truth. The
//    available tokens drop to capacity - used and the burst to capacity, so the governor never
//    sends more than the API says it has room for.
//  - pause_for(ms): a 429's Retry-After stops the whole connection, not just the request that
//    got it; after the pause one request may go at once, the rest follow at the refill rate.
//
// A governor with requests_per_second <= 0 is unlimited: acquire() only honours pauses, and
// observe() is ignored (with no declared refill rate there is nothing to pace by; the API's
// 429 and pause_for() take over).
//
// Thread-safe. Waiting happens outside the lock, through Clock::sleep_ms in slices of at most
// kSleepSliceMs, so cancellation is noticed promptly and tests can drive time with a
// ManualClock.
class RateGovernor {
public:
    static constexpr int64_t kSleepSliceMs = 50;

    struct Stats {
        int64_t acquired = 0;      // tokens handed out
        int64_t waited = 0;        // acquire() calls that had to wait
        int64_t wait_ms = 0;       // total time spent waiting in acquire(), by the clock
        int64_t pauses = 0;        // pause_for() calls
        int64_t observations = 0;  // observe() calls that were applied
    };

    // burst <= 0 means max(1, requests_per_second). The bucket starts full.
    RateGovernor(double requests_per_second, double burst, Clock& clock);

    RateGovernor(const RateGovernor&) = delete;
    RateGovernor& operator=(const RateGovernor&) = delete;

    // Blocks until a token is available and takes it. Returns false, without taking a token,
    // when `cancelled` (may be empty) returns true before that. `on_wait` (may be empty) is
    // told once when the call has to wait: the expected milliseconds, and whether it is a
    // pause the API asked for (pause_for) rather than the budget's refill.
    bool acquire(const std::function<bool()>& cancelled,
                 const std::function<void(int64_t ms, bool paused)>& on_wait = {});

    // The API reports `used` of `capacity` in its own budget. Ignored when capacity <= 0 or
    // the governor is unlimited.
    void observe(double used, double capacity);

    // Stops handing out tokens for `ms` milliseconds from now (extends, never shortens, a
    // pause already running).
    void pause_for(int64_t ms);

    bool unlimited() const { return rate_per_ms_ <= 0; }
    double requests_per_second() const { return rate_per_ms_ * 1000.0; }
    double burst() const;             // current burst (after observe())
    double available_tokens() const;  // refilled to now

    Stats stats() const;
    int64_t total_wait_ms() const { return stats().wait_ms; }

private:
    // Brings tokens_ up to date; caller holds mutex_.
    void refill_locked(int64_t now);

    Clock& clock_;
    const double rate_per_ms_;  // 0 when unlimited
    const double configured_burst_;
    mutable std::mutex mutex_;  // guards everything below
    double burst_;              // min(configured_burst_, last observed capacity)
    double tokens_;
    int64_t last_refill_ms_;       // steady clock; may lie in the future during a pause
    int64_t paused_until_ms_ = 0;  // steady clock
    Stats stats_;
};

}  // namespace plexus
