#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "http/rate_governor.hpp"

using plexus::ManualClock;
using plexus::RateGovernor;
using plexus::SystemClock;

namespace {
const std::function<bool()> kNever = [] { return false; };

// Takes n tokens; returns the virtual milliseconds that took.
int64_t take(RateGovernor& g, ManualClock& clock, int n) {
    const int64_t start = clock.steady_ms();
    for (int i = 0; i < n; ++i) REQUIRE(g.acquire(kNever));
    return clock.steady_ms() - start;
}
}  // namespace

TEST_CASE("governor paces acquires at the declared rate", "[governor]") {
    ManualClock clock;
    SECTION("burst 1: every token after the first costs 1/rps") {
        RateGovernor g(10, 1, clock);
        CHECK(take(g, clock, 11) == 1000);
        CHECK(g.stats().acquired == 11);
        CHECK(g.stats().waited == 10);
        CHECK(g.total_wait_ms() == 1000);
    }
    SECTION("the bucket starts full, then refills") {
        RateGovernor g(5, 5, clock);
        CHECK(take(g, clock, 5) == 0);
        CHECK(take(g, clock, 10) == 2000);
    }
    SECTION("rates that do not divide a second stay accurate") {
        RateGovernor g(3, 1, clock);
        const int64_t t = take(g, clock, 31);
        CHECK(t >= 10000);
        CHECK(t <= 10030);
    }
    SECTION("idle time refills up to the burst, not beyond") {
        RateGovernor g(10, 3, clock);
        CHECK(take(g, clock, 3) == 0);
        clock.advance(10'000);
        CHECK(g.available_tokens() == Approx(3.0));
        CHECK(take(g, clock, 3) == 0);
        CHECK(take(g, clock, 1) == 100);
    }
    SECTION("burst <= 0 defaults to the rate") {
        RateGovernor g(4, 0, clock);
        CHECK(g.burst() == Approx(4.0));
    }
}

TEST_CASE("governor with no rate is unlimited", "[governor]") {
    ManualClock clock;
    RateGovernor g(0, 0, clock);
    CHECK(g.unlimited());
    CHECK(take(g, clock, 1000) == 0);
    g.observe(40, 40);  // ignored: nothing to pace by
    CHECK(take(g, clock, 10) == 0);
    g.pause_for(300);  // but a 429 still pauses it
    CHECK(take(g, clock, 1) == 300);
    CHECK(take(g, clock, 5) == 0);
}

TEST_CASE("governor slows down when the API reports its budget nearly used", "[governor]") {
    ManualClock clock;
    SECTION("without observations the full burst goes at once") {
        RateGovernor g(2, 40, clock);
        CHECK(take(g, clock, 40) == 0);
    }
    SECTION("38/40 used leaves two tokens, then the refill rate") {
        RateGovernor g(2, 40, clock);
        g.observe(38, 40);
        CHECK(g.available_tokens() == Approx(2.0));
        CHECK(take(g, clock, 2) == 0);
        CHECK(take(g, clock, 1) == 500);
        CHECK(g.stats().observations == 1);
    }
    SECTION("a full budget makes the next request wait") {
        RateGovernor g(2, 40, clock);
        g.observe(40, 40);
        CHECK(take(g, clock, 1) == 500);
        g.observe(45, 40);  // over capacity: still just nothing available
        CHECK(take(g, clock, 1) == 500);
    }
    SECTION("observations never add tokens") {
        RateGovernor g(2, 40, clock);
        CHECK(take(g, clock, 40) == 0);
        g.observe(0, 40);
        CHECK(take(g, clock, 1) == 500);
    }
    SECTION("the burst adapts to the API's capacity") {
        RateGovernor g(2, 40, clock);
        g.observe(0, 10);
        CHECK(g.burst() == Approx(10.0));
        clock.advance(60'000);
        CHECK(take(g, clock, 10) == 0);
        CHECK(take(g, clock, 1) == 500);
        g.observe(0, 80);  // never above the declared budget
        CHECK(g.burst() == Approx(40.0));
    }
    SECTION("nonsense observations are ignored") {
        RateGovernor g(2, 40, clock);
        g.observe(10, 0);
        g.observe(10, -5);
        CHECK(g.stats().observations == 0);
        CHECK(take(g, clock, 40) == 0);
    }
}

TEST_CASE("governor pause_for stops the whole connection", "[governor]") {
    ManualClock clock;
    RateGovernor g(10, 10, clock);
    g.pause_for(2000);
    CHECK(take(g, clock, 1) == 2000);  // the retry goes when the pause ends
    CHECK(take(g, clock, 1) == 100);   // the rest follow at the rate: no burst after a pause
    CHECK(g.stats().pauses == 1);

    g.pause_for(1000);
    g.pause_for(200);  // a shorter pause does not cut the running one short
    CHECK(take(g, clock, 1) == 1000);
    g.pause_for(0);
    g.pause_for(-5);
    CHECK(take(g, clock, 1) == 100);
}

TEST_CASE("governor acquire gives up when cancelled", "[governor]") {
    ManualClock clock;
    RateGovernor g(1, 1, clock);
    REQUIRE(g.acquire(kNever));
    SECTION("already cancelled: no wait") {
        CHECK_FALSE(g.acquire([] { return true; }));
        CHECK(clock.steady_ms() == 0);
    }
    SECTION("cancelled while waiting: noticed within a slice") {
        const int64_t start = clock.steady_ms();
        CHECK_FALSE(g.acquire([&] { return clock.steady_ms() - start >= 120; }));
        CHECK(clock.steady_ms() - start <= 120 + RateGovernor::kSleepSliceMs);
        CHECK(g.stats().acquired == 1);  // no token taken
    }
    SECTION("an empty cancellation function never cancels") {
        CHECK(g.acquire(nullptr));
        CHECK(clock.steady_ms() == 1000);
    }
}

TEST_CASE("governor is shared safely between threads", "[governor]") {
    RateGovernor g(200, 1, SystemClock::instance());
    const int64_t start = SystemClock::instance().steady_ms();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&g] {
            for (int i = 0; i < 10; ++i) g.acquire(kNever);
        });
    }
    for (auto& th : threads) th.join();
    const int64_t elapsed = SystemClock::instance().steady_ms() - start;
    CHECK(g.stats().acquired == 40);
    CHECK(elapsed >= 39 * 5 - 5);  // 39 refills at 5 ms each, never faster
}
