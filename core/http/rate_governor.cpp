#include "http/rate_governor.hpp"

#include <algorithm>
#include <cmath>

namespace plexus {

namespace {
// Floating-point refills land a hair below a whole token after waiting exactly the computed
// time; treat that as a whole token instead of sleeping another millisecond.
constexpr double kTokenEpsilon = 1e-9;
}  // namespace

RateGovernor::RateGovernor(double requests_per_second, double burst, Clock& clock)
    : clock_(clock),
      rate_per_ms_(std::isfinite(requests_per_second) && requests_per_second > 0
                       ? requests_per_second / 1000.0
                       : 0.0),
      configured_burst_(std::isfinite(burst) && burst >= 1 ? burst
                                                           : std::max(1.0, rate_per_ms_ * 1000.0)),
      burst_(configured_burst_),
      tokens_(configured_burst_),
      last_refill_ms_(clock.steady_ms()) {}

void RateGovernor::refill_locked(int64_t now) {
    if (now <= last_refill_ms_) return;
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now - last_refill_ms_) * rate_per_ms_);
    last_refill_ms_ = now;
}

bool RateGovernor::acquire(const std::function<bool()>& cancelled,
                           const std::function<void(int64_t ms, bool paused)>& on_wait) {
    const int64_t started = clock_.steady_ms();
    bool waited = false;
    for (;;) {
        if (cancelled && cancelled()) {
            if (waited) {
                std::lock_guard lock(mutex_);
                stats_.wait_ms += clock_.steady_ms() - started;
            }
            return false;
        }
        int64_t wait_ms = 0;
        bool paused = false;
        {
            std::lock_guard lock(mutex_);
            const int64_t now = clock_.steady_ms();
            if (now < paused_until_ms_) {
                wait_ms = paused_until_ms_ - now;
                paused = true;
            } else if (unlimited()) {
                ++stats_.acquired;
            } else {
                refill_locked(now);
                if (tokens_ >= 1.0 - kTokenEpsilon) {
                    tokens_ = std::max(0.0, tokens_ - 1.0);
                    ++stats_.acquired;
                } else {
                    wait_ms = static_cast<int64_t>(std::ceil((1.0 - tokens_) / rate_per_ms_));
                    wait_ms = std::max<int64_t>(1, wait_ms);
                }
            }
            if (wait_ms == 0) {
                if (waited) {
                    ++stats_.waited;
                    stats_.wait_ms += now - started;
                }
                return true;
            }
        }
        if (!waited && on_wait) on_wait(wait_ms, paused);  // outside the lock
        waited = true;
        clock_.sleep_ms(std::min(wait_ms, kSleepSliceMs));
    }
}

void RateGovernor::observe(double used, double capacity) {
    if (unlimited() || !std::isfinite(used) || !std::isfinite(capacity) || capacity <= 0) return;
    std::lock_guard lock(mutex_);
    refill_locked(clock_.steady_ms());
    burst_ = std::max(1.0, std::min(configured_burst_, capacity));
    const double room = std::max(0.0, capacity - std::max(0.0, used));
    tokens_ = std::min({tokens_, room, burst_});
    ++stats_.observations;
}

void RateGovernor::pause_for(int64_t ms) {
    if (ms <= 0) return;
    std::lock_guard lock(mutex_);
    const int64_t until = clock_.steady_ms() + ms;
    ++stats_.pauses;
    if (until <= paused_until_ms_) return;
    paused_until_ms_ = until;
    // Nothing accrues while paused; when the pause ends exactly one request (the one that was
    // told to retry) may go, the others follow at the refill rate.
    tokens_ = std::min(1.0, burst_);
    last_refill_ms_ = until;
}

double RateGovernor::burst() const {
    std::lock_guard lock(mutex_);
    return burst_;
}

double RateGovernor::available_tokens() const {
    std::lock_guard lock(mutex_);
    if (unlimited()) return burst_;
    const int64_t now = clock_.steady_ms();
    if (now <= last_refill_ms_) return tokens_;
    return std::min(burst_, tokens_ + static_cast<double>(now - last_refill_ms_) * rate_per_ms_);
}

RateGovernor::Stats RateGovernor::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace plexus
