// Time as the core sees it. Everything that waits or stamps takes a Clock, so tests can
// drive time (backoff, rate governor, leases) without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace plexus {

class Clock {
public:
    virtual ~Clock() = default;
    // Milliseconds since the Unix epoch (wall clock: stored timestamps).
    virtual int64_t now_ms() const = 0;
    // Monotonic milliseconds (durations, backoff, token buckets).
    virtual int64_t steady_ms() const = 0;
    virtual void sleep_ms(int64_t ms) = 0;
};

class SystemClock final : public Clock {
public:
    int64_t now_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
    int64_t steady_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
    }
    void sleep_ms(int64_t ms) override {
        if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    static SystemClock& instance() {
        static SystemClock clock;
        return clock;
    }
};

// A clock tests move by hand: sleep_ms advances time instead of waiting.
class ManualClock final : public Clock {
public:
    explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms), steady_(0) {}
    int64_t now_ms() const override { return now_; }
    int64_t steady_ms() const override { return steady_; }
    void sleep_ms(int64_t ms) override { advance(ms); }
    void advance(int64_t ms) {
        if (ms > 0) {
            now_ += ms;
            steady_ += ms;
            slept_ += ms;
        }
    }
    int64_t total_slept_ms() const { return slept_; }

private:
    int64_t now_;
    int64_t steady_;
    int64_t slept_ = 0;
};

}  // namespace plexus
