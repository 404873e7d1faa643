// The scheduler (scheduler/next_run.hpp, scheduler/scheduler.hpp): next fire times in IANA
// zones across DST, intervals, and the runner (overlap skip, catch-up, enable/disable
// persistence, run now, graceful stop) on a ManualClock, without sleeping.
#include <catch2/catch.hpp>

#include "core/common/clock.hpp"
#include "scheduler/next_run.hpp"
#include "scheduler/scheduler.hpp"

#include <date/tz.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace plexus;
using namespace std::chrono;
using namespace date::literals;

namespace {

// A UTC instant.
date::sys_seconds utc(date::year_month_day d, int h, int m = 0) {
    return date::sys_days{d} + hours{h} + minutes{m};
}

int64_t ms(date::sys_seconds t) { return static_cast<int64_t>(t.time_since_epoch().count()) * 1000; }

date::sys_seconds from_ms(int64_t v) { return date::sys_seconds{seconds{v / 1000}}; }

CronSpec cron(const std::string& text) {
    std::string error;
    auto spec = CronSpec::parse(text, error);
    INFO(error);
    REQUIRE(spec);
    return *spec;
}

Schedule schedule(const std::string& cron_text, const std::string& interval,
                  const std::string& tz) {
    std::string error;
    auto s = Schedule::parse(cron_text, interval, tz, error);
    INFO(error);
    REQUIRE(s);
    return *s;
}

// Every fire of `spec` in `tz` in [begin, end).
std::vector<date::sys_seconds> fires(const std::string& spec_text, const std::string& tz,
                                     date::sys_seconds begin, date::sys_seconds end) {
    CronSpec spec = cron(spec_text);
    const date::time_zone* zone = tz.empty() ? nullptr : date::locate_zone(tz);
    std::vector<date::sys_seconds> out;
    date::sys_seconds t = begin - seconds{1};
    for (int guard = 0; guard < 100000; ++guard) {
        auto next = next_cron_fire(spec, zone, t);
        if (!next || *next >= end) break;
        REQUIRE(*next > t);
        out.push_back(*next);
        t = *next;
    }
    return out;
}

// The instants where the local day `day` in `tz` begins and ends.
std::pair<date::sys_seconds, date::sys_seconds> local_day(const std::string& tz,
                                                          date::year_month_day day) {
    const date::time_zone* zone = date::locate_zone(tz);
    auto begin = zone->to_sys(date::local_days{day}, date::choose::earliest);
    auto end = zone->to_sys(date::local_days{day} + date::days{1}, date::choose::earliest);
    return {date::floor<seconds>(begin), date::floor<seconds>(end)};
}

// Local wall-clock text of an instant, for messages and checks.
std::string local_text(const std::string& tz, date::sys_seconds t) {
    return date::format("%F %T %Z", date::zoned_time<seconds>{tz, t});
}

// A Clock other threads may read while the test moves it (run_loop test).
class AtomicClock final : public Clock {
public:
    explicit AtomicClock(int64_t start) : now_(start) {}
    int64_t now_ms() const override { return now_.load(); }
    int64_t steady_ms() const override { return now_.load(); }
    void sleep_ms(int64_t v) override { advance(v); }
    void advance(int64_t v) { now_ += v; }

private:
    std::atomic<int64_t> now_;
};

// Records runs; can hold them until released (a latch).
struct Runner {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::pair<std::string, std::string>> runs;  // process, trigger (at start)
    int finished = 0;
    bool block = false;
    bool released = false;
    std::string status = "succeeded";

    RunFn fn() {
        return [this](const std::string& id, const std::string& trigger,
                      const std::atomic<bool>*) {
            std::unique_lock lock(m);
            runs.emplace_back(id, trigger);
            cv.notify_all();
            cv.wait(lock, [&] { return !block || released; });
            ++finished;
            cv.notify_all();
            return RunResult{status, "", static_cast<int64_t>(runs.size())};
        };
    }
    void wait_started(size_t n) {
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, seconds{10}, [&] { return runs.size() >= n; }));
    }
    void release() {
        std::lock_guard lock(m);
        released = true;
        cv.notify_all();
    }
    size_t count(const std::string& id) {
        std::lock_guard lock(m);
        size_t n = 0;
        for (const auto& r : runs) n += r.first == id;
        return n;
    }
    size_t total() {
        std::lock_guard lock(m);
        return runs.size();
    }
};

// Polls `done` until it holds or `bound` has passed: a bounded wait for a state another
// thread reaches (not a sleep standing in for synchronisation).
template <class F>
bool eventually(F done, milliseconds bound = seconds{10}) {
    const auto deadline = steady_clock::now() + bound;
    while (!done()) {
        if (steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(milliseconds{1});
    }
    return true;
}

struct Logs {
    std::mutex m;
    std::vector<std::string> lines;  // "level process: message"
    SchedulerLogFn fn() {
        return [this](const std::string& level, const std::string& id, const std::string& msg) {
            std::lock_guard lock(m);
            lines.push_back(level + " " + id + ": " + msg);
        };
    }
    size_t containing(const std::string& text) {
        std::lock_guard lock(m);
        size_t n = 0;
        for (const auto& l : lines) n += l.find(text) != std::string::npos;
        return n;
    }
};

ScheduledProcess process(const std::string& id, const std::string& cron_text,
                         const std::string& interval = "", const std::string& tz = "") {
    ScheduledProcess p;
    p.id = id;
    p.cron = cron_text;
    p.interval = interval;
    p.timezone = tz;
    return p;
}

void add(Scheduler& s, const ScheduledProcess& p) {
    std::string error;
    INFO(error);
    REQUIRE(s.add(p, error));
}

// Moves the clock minute by minute from its time to `end`, ticking and letting runs finish.
void drive(ManualClock& clock, Scheduler& s, date::sys_seconds end, int64_t step_ms = 60000) {
    while (clock.now_ms() < ms(end)) {
        clock.advance(step_ms);
        if (s.tick() > 0) s.wait_idle();
    }
}

}  // namespace

// --- next fire times -----------------------------------------------------------------------

TEST_CASE("daily 02:30 runs exactly once on DST change days and around them", "[scheduler]") {
    struct Case {
        std::string tz;
        date::year_month_day day;
        date::sys_seconds expected;  // the fire on the change day
    };
    const std::vector<Case> cases = {
        // Zurich spring: 02:00 CET -> 03:00 CEST; 02:30 does not exist: at 03:00 CEST (01:00Z).
        {"Europe/Zurich", 2024_y / 3 / 31, utc(2024_y / 3 / 31, 1, 0)},
        // Zurich fall: 03:00 CEST -> 02:00 CET; 02:30 twice: the first (CEST, 00:30Z).
        {"Europe/Zurich", 2024_y / 10 / 27, utc(2024_y / 10 / 27, 0, 30)},
        // New York spring: 02:00 EST -> 03:00 EDT; 02:30 does not exist: at 03:00 EDT (07:00Z).
        {"America/New_York", 2024_y / 3 / 10, utc(2024_y / 3 / 10, 7, 0)},
        // New York fall: 02:00 EDT -> 01:00 EST; 02:30 EST is unique (07:30Z).
        {"America/New_York", 2024_y / 11 / 3, utc(2024_y / 11 / 3, 7, 30)},
    };
    for (const auto& c : cases) {
        SECTION(c.tz + " " + date::format("%F", date::sys_days{c.day})) {
            for (int offset = -3; offset <= 3; ++offset) {
                date::year_month_day day{date::sys_days{c.day} + date::days{offset}};
                auto [begin, end] = local_day(c.tz, day);
                auto f = fires("30 2 * * *", c.tz, begin, end);
                INFO(date::format("%F", date::sys_days{day}));
                REQUIRE(f.size() == 1);
                if (offset == 0) {
                    INFO(local_text(c.tz, f[0]));
                    CHECK(f[0] == c.expected);
                } else {
                    CHECK(local_text(c.tz, f[0]).substr(11, 5) == "02:30");
                }
            }
        }
    }
}

TEST_CASE("daily 02:30 through the runner on a ManualClock: once per day across DST",
          "[scheduler]") {
    for (std::string tz : {"Europe/Zurich", "America/New_York"}) {
        SECTION(tz) {
            const bool zurich = tz == "Europe/Zurich";
            std::vector<date::year_month_day> change_days =
                zurich ? std::vector<date::year_month_day>{2024_y / 3 / 31, 2024_y / 10 / 27}
                       : std::vector<date::year_month_day>{2024_y / 3 / 10, 2024_y / 11 / 3};
            for (auto day : change_days) {
                ManualClock clock(ms(date::sys_days{day} - date::days{2}));
                MemorySchedulerState state;
                Runner runner;
                Scheduler s(clock, state, runner.fn());
                add(s, process("daily", "30 2 * * *", "", tz));
                std::map<std::string, int> per_local_day;
                std::vector<int64_t> fire_times;
                // Record the tick time of each run via the number of runs growing.
                date::sys_seconds end = date::sys_days{day} + date::days{3};
                while (clock.now_ms() < ms(end)) {
                    clock.advance(60000);
                    if (s.tick() > 0) {
                        s.wait_idle();
                        auto t = from_ms(clock.now_ms());
                        per_local_day[local_text(tz, t).substr(0, 10)]++;
                        fire_times.push_back(clock.now_ms());
                    }
                }
                INFO(date::format("%F", date::sys_days{day}));
                CHECK(runner.total() == 5);  // days -2 .. +2 (local days ending before `end`)
                for (const auto& [d, n] : per_local_day) {
                    INFO(d);
                    CHECK(n == 1);
                }
                CHECK(per_local_day.count(date::format("%F", date::sys_days{day})) == 1);
            }
        }
    }
}

TEST_CASE("hourly job: 23 runs on spring-forward days, 25 on fall-back days", "[scheduler]") {
    struct Case {
        std::string tz;
        date::year_month_day day;
        size_t hourly;
        size_t quarter;  // "*/15 * * * *"
    };
    const std::vector<Case> cases = {
        {"Europe/Zurich", 2024_y / 3 / 31, 23, 92},   {"Europe/Zurich", 2024_y / 10 / 27, 25, 100},
        {"America/New_York", 2024_y / 3 / 10, 23, 92}, {"America/New_York", 2024_y / 11 / 3, 25, 100},
        {"Europe/Zurich", 2024_y / 3 / 30, 24, 96},   {"America/New_York", 2024_y / 11 / 4, 24, 96},
    };
    for (const auto& c : cases) {
        auto [begin, end] = local_day(c.tz, c.day);
        INFO(c.tz << " " << date::format("%F", date::sys_days{c.day}));
        auto hourly = fires("0 * * * *", c.tz, begin, end);
        CHECK(hourly.size() == c.hourly);
        // Hourly fires are exactly one real hour apart, through the change.
        for (size_t i = 1; i < hourly.size(); ++i) CHECK(hourly[i] - hourly[i - 1] == hours{1});
        CHECK(fires("*/15 * * * *", c.tz, begin, end).size() == c.quarter);
        CHECK(fires("@hourly", c.tz, begin, end).size() == c.hourly);
    }
}

TEST_CASE("fixed-hour jobs in the repeated hour run at the first occurrence only", "[scheduler]") {
    // New York 2024-11-03: 01:00-01:59 happens twice (EDT, then EST).
    auto [begin, end] = local_day("America/New_York", 2024_y / 11 / 3);
    auto f = fires("30 1 * * *", "America/New_York", begin, end);
    REQUIRE(f.size() == 1);
    CHECK(f[0] == utc(2024_y / 11 / 3, 5, 30));  // 01:30 EDT
    // Every 10 minutes within hour 1 only: six runs, all in the first occurrence.
    auto g = fires("*/10 1 * * *", "America/New_York", begin, end);
    REQUIRE(g.size() == 6);
    CHECK(g.front() == utc(2024_y / 11 / 3, 5, 0));
    CHECK(g.back() == utc(2024_y / 11 / 3, 5, 50));
    // Several slots inside a spring-forward gap collapse into one run at the gap's end.
    auto [b2, e2] = local_day("Europe/Zurich", 2024_y / 3 / 31);
    auto h = fires("0,20,40 2 * * *", "Europe/Zurich", b2, e2);
    REQUIRE(h.size() == 1);
    CHECK(h[0] == utc(2024_y / 3 / 31, 1, 0));
}

TEST_CASE("next fire times: UTC default, weekly, never, seconds", "[scheduler]") {
    // Empty time zone = UTC.
    auto s = schedule("0 12 * * *", "", "");
    CHECK(next_fire_ms(s, ms(utc(2024_y / 5 / 1, 11, 59)), 0) == ms(utc(2024_y / 5 / 1, 12)));
    CHECK(next_fire_ms(s, ms(utc(2024_y / 5 / 1, 12)), 0) == ms(utc(2024_y / 5 / 2, 12)));
    // Strictly after: 12:00:00.5 still means the next day.
    CHECK(next_fire_ms(s, ms(utc(2024_y / 5 / 1, 12)) + 500, 0) == ms(utc(2024_y / 5 / 2, 12)));
    // A zone: 09:00 in Tokyo is 00:00Z.
    auto tokyo = schedule("0 9 * * *", "", "Asia/Tokyo");
    CHECK(next_fire_ms(tokyo, ms(utc(2024_y / 5 / 1, 1)), 0) == ms(utc(2024_y / 5 / 2, 0)));
    // Weekly in Zurich across the spring change (Mondays 08:00 local).
    auto weekly = schedule("0 8 * * MON", "", "Europe/Zurich");
    CHECK(next_fire_ms(weekly, ms(utc(2024_y / 3 / 25, 12)), 0) == ms(utc(2024_y / 4 / 1, 6)));
    CHECK(next_fire_ms(weekly, ms(utc(2024_y / 3 / 20, 12)), 0) == ms(utc(2024_y / 3 / 25, 7)));
    // Never.
    auto never = schedule("0 0 30 2 *", "", "Europe/Zurich");
    CHECK_FALSE(next_fire_ms(never, ms(utc(2024_y / 1 / 1, 0)), 0));
    // Manual only.
    CHECK_FALSE(next_fire_ms(schedule("", "", "Europe/Zurich"), 0, 0));
}

TEST_CASE("schedule validation", "[scheduler]") {
    std::string error;
    CHECK_FALSE(Schedule::parse("0 * * * *", "15m", "", error));
    CHECK(error.find("not both") != std::string::npos);
    CHECK_FALSE(Schedule::parse("0 25 * * *", "", "", error));
    CHECK(error.find("cron: field 2 (hour)") != std::string::npos);
    CHECK_FALSE(Schedule::parse("", "15x", "", error));
    CHECK(error.find("interval:") != std::string::npos);
    CHECK_FALSE(Schedule::parse("0 * * * *", "", "Europe/Zürich", error));
    CHECK(error.find("Europe/Zurich") != std::string::npos);
    CHECK(schedule("", "", "").manual_only());
}

TEST_CASE("interval schedules follow real time and ignore DST", "[scheduler]") {
    auto s = schedule("", "15m", "America/New_York");
    const int64_t anchor = ms(utc(2024_y / 11 / 3, 4, 7));  // 00:07 EDT, before the change
    CHECK(next_fire_ms(s, anchor, anchor) == anchor + 900000);
    CHECK(next_fire_ms(s, anchor + 899999, anchor) == anchor + 900000);
    CHECK(next_fire_ms(s, anchor + 900000, anchor) == anchor + 1800000);
    // A day across the fall-back change: 25 real hours of local day = 100 fires.
    auto [begin, end] = local_day("America/New_York", 2024_y / 11 / 3);
    int n = 0;
    int64_t t = ms(begin) - 1;
    int64_t a = ms(begin) - 900000;
    for (;;) {
        auto next = next_fire_ms(s, t, a);
        REQUIRE(next);
        if (*next >= ms(end)) break;
        if (n > 0) CHECK(*next - t == 900000);
        t = *next;
        ++n;
    }
    CHECK(n == 100);
    CHECK(next_interval_fire(seconds{90}, utc(2024_y / 1 / 1, 0), utc(2024_y / 1 / 1, 0, 3)) ==
          utc(2024_y / 1 / 1, 0, 4) + seconds{30});
}

// --- the runner ----------------------------------------------------------------------------

TEST_CASE("runner: interval process runs every N from its creation", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    Scheduler s(clock, state, runner.fn());
    auto p = process("every15", "", "15m");
    p.created_ms = clock.now_ms() - 5 * 60000;  // created 5 minutes ago
    add(s, p);
    CHECK(s.next_run("every15") == clock.now_ms() + 10 * 60000);
    drive(clock, s, utc(2024_y / 6 / 1, 11));
    CHECK(runner.count("every15") == 4);  // 10:10, 10:25, 10:40, 10:55
    CHECK(s.next_run("every15") == ms(utc(2024_y / 6 / 1, 11, 10)));
    CHECK(runner.runs.front().second == "schedule");
    CHECK(state.anchor_ms("every15") == ms(utc(2024_y / 6 / 1, 10, 55)));
}

TEST_CASE("runner: next_run values", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 3 / 30, 22)));  // 23:00 CET
    MemorySchedulerState state;
    Runner runner;
    Scheduler s(clock, state, runner.fn());
    add(s, process("daily", "30 2 * * *", "", "Europe/Zurich"));
    add(s, process("manual", "", "", "Europe/Zurich"));
    CHECK(s.next_run("daily") == ms(utc(2024_y / 3 / 31, 1, 0)));  // gap end, 03:00 CEST
    CHECK_FALSE(s.next_run("manual"));
    CHECK_FALSE(s.next_run("nope"));
    REQUIRE(s.set_enabled("daily", false));
    CHECK_FALSE(s.next_run("daily"));
    clock.advance(3600000 * 5);  // 04:00 CEST, past the due time while disabled
    CHECK(s.tick() == 0);
    REQUIRE(s.set_enabled("daily", true));
    CHECK(s.next_run("daily") == ms(utc(2024_y / 4 / 1, 0, 30)));  // 02:30 CEST next day
    CHECK(s.tick() == 0);  // no catch-up for the disabled period
    auto st = s.status("daily");
    REQUIRE(st);
    CHECK(st->enabled);
    CHECK(st->schedule == "every day at 02:30 (Europe/Zurich)");
    CHECK(s.statuses().size() == 2);
}

TEST_CASE("runner: a due time during a running run is skipped and logged", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    runner.block = true;
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn());
    add(s, process("p", "*/5 * * * *"));
    clock.advance(5 * 60000);
    CHECK(s.tick() == 1);
    runner.wait_started(1);
    CHECK(s.running("p"));
    clock.advance(5 * 60000);  // the next due time passes while the first run blocks
    CHECK(s.tick() == 0);
    CHECK(s.skipped_count() == 1);
    CHECK(s.skipped_count("p") == 1);
    CHECK(logs.containing("warn p: skipped the run due at 2024-06-01T10:10:00Z") == 1);
    CHECK(s.next_run("p") == ms(utc(2024_y / 6 / 1, 10, 15)));
    runner.release();
    s.wait_idle();
    CHECK(runner.total() == 1);
    clock.advance(5 * 60000);
    CHECK(s.tick() == 1);
    s.wait_idle();
    CHECK(runner.total() == 2);
    CHECK(s.skipped_count() == 1);
}

TEST_CASE("runner: a run the engine reports as skipped is counted and logged", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    runner.status = "skipped";
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn());
    add(s, process("p", "", "1m"));
    clock.advance(60000);
    CHECK(s.tick() == 1);
    s.wait_idle();
    CHECK(s.skipped_count("p") == 1);
    CHECK(logs.containing("warn p: skipped (schedule)") == 1);
}

TEST_CASE("runner: after downtime at most one catch-up run", "[scheduler]") {
    MemorySchedulerState state;
    Runner runner;
    Logs logs;
    const auto last = utc(2024_y / 6 / 1, 10);
    {
        ManualClock clock(ms(last) - 10 * 60000);
        Scheduler s(clock, state, runner.fn(), logs.fn());
        add(s, process("hourly", "0 * * * *"));
        add(s, process("interval", "", "10m"));
        drive(clock, s, last);  // both run at `last`
        CHECK(runner.count("hourly") == 1);
        CHECK(runner.count("interval") == 1);
        CHECK(state.anchor_ms("hourly") == ms(last));
        CHECK(state.anchor_ms("interval") == ms(last));
    }
    // Down for 5h10m: five hourly slots and 31 interval slots missed.
    ManualClock clock(ms(last) + (5 * 60 + 10) * 60000);
    Scheduler s(clock, state, runner.fn(), logs.fn());
    add(s, process("hourly", "0 * * * *"));
    add(s, process("interval", "", "10m"));
    CHECK(s.next_run("hourly") == ms(last) + 3600000);  // overdue
    CHECK(s.tick() == 2);
    s.wait_idle();
    CHECK(runner.count("hourly") == 2);
    CHECK(runner.count("interval") == 2);
    CHECK(logs.containing("catch-up:") == 2);
    CHECK(logs.containing("while the scheduler was down") == 2);
    CHECK(s.tick() == 0);
    CHECK(s.next_run("hourly") == ms(utc(2024_y / 6 / 1, 16)));
    CHECK(s.next_run("interval") == ms(utc(2024_y / 6 / 1, 15, 20)));
    drive(clock, s, utc(2024_y / 6 / 1, 16));
    CHECK(runner.count("hourly") == 3);
    CHECK(runner.count("interval") == 2 + 5);  // 15:20 .. 16:00
    CHECK(logs.containing("catch-up:") == 2);
}

TEST_CASE("runner: a process that never ran does not catch up", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10, 30)));
    MemorySchedulerState state;
    Runner runner;
    Scheduler s(clock, state, runner.fn());
    add(s, process("hourly", "0 * * * *"));
    CHECK(s.tick() == 0);
    CHECK(s.next_run("hourly") == ms(utc(2024_y / 6 / 1, 11)));
}

TEST_CASE("runner: enable/disable persists across a new Scheduler", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    {
        Scheduler s(clock, state, runner.fn());
        add(s, process("p", "*/5 * * * *"));
        CHECK(s.enabled("p") == true);
        CHECK_FALSE(state.enabled("p"));  // config default, nothing persisted yet
        REQUIRE(s.set_enabled("p", false, "alice"));
        CHECK(state.enabled("p") == false);
        CHECK_FALSE(s.set_enabled("nope", false));
    }
    {
        Scheduler s(clock, state, runner.fn());
        add(s, process("p", "*/5 * * * *"));  // the configuration says enabled
        CHECK(s.enabled("p") == false);
        CHECK_FALSE(s.next_run("p"));
        clock.advance(60 * 60000);
        CHECK(s.tick() == 0);
        CHECK(runner.total() == 0);
        REQUIRE(s.set_enabled("p", true, "bob"));
    }
    {
        ScheduledProcess p = process("p", "*/5 * * * *");
        p.enabled = false;  // the configuration says disabled; the operator's choice wins
        Scheduler s(clock, state, runner.fn());
        add(s, p);
        CHECK(s.enabled("p") == true);
        CHECK(s.tick() == 0);  // enabled at this instant: nothing to catch up
        clock.advance(5 * 60000);
        CHECK(s.tick() == 1);
        s.wait_idle();
        CHECK(runner.total() == 1);
    }
}

TEST_CASE("runner: run_now", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    runner.block = true;
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn());
    add(s, process("p", "0 3 * * *"));
    add(s, process("off", "", "", ""));
    s.set_enabled("off", false);
    const auto next = s.next_run("p");
    CHECK(s.run_now("p") == RunNowResult::started);
    runner.wait_started(1);
    CHECK(runner.runs[0] == std::make_pair(std::string("p"), std::string("manual")));
    CHECK(s.run_now("p") == RunNowResult::already_running);
    CHECK(s.run_now("nope") == RunNowResult::unknown_process);
    CHECK(s.run_now("off", "event") == RunNowResult::started);  // disabled: manual runs allowed
    runner.wait_started(2);
    runner.release();
    s.wait_idle();
    CHECK(runner.total() == 2);
    CHECK(runner.runs[1].second == "event");
    CHECK(s.next_run("p") == next);  // the schedule did not move
    CHECK(s.skipped_count() == 0);
    CHECK(s.status("p")->started == 1);
    s.stop();
    CHECK(s.run_now("p") == RunNowResult::stopping);
    CHECK(std::string(to_string(RunNowResult::already_running)) == "already_running");
}

TEST_CASE("runner: stop() cancels, waits for running runs and starts no new ones",
          "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Logs logs;
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> events;
    bool saw_cancel = false;
    bool finish = false;
    RunFn fn = [&](const std::string& id, const std::string&, const std::atomic<bool>* cancel) {
        std::unique_lock lock(m);
        events.push_back("start " + id);
        cv.notify_all();
        // Work "page by page" until asked to stop (tiny waits), then commit once allowed.
        while (!cancel->load()) cv.wait_for(lock, milliseconds{1});
        saw_cancel = true;
        cv.notify_all();
        cv.wait(lock, [&] { return finish; });
        events.push_back("end " + id);
        return RunResult{"partial", "cancelled", 1};
    };
    SchedulerOptions options;
    options.workers = 1;  // "b" queues behind "a"
    Scheduler s(clock, state, fn, logs.fn(), options);
    add(s, process("a", "*/5 * * * *"));
    add(s, process("b", "*/5 * * * *"));
    clock.advance(5 * 60000);
    CHECK(s.tick() == 2);
    {
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, seconds{10}, [&] { return !events.empty(); }));
    }
    std::atomic<bool> stop_returned{false};
    std::thread stopper([&] {
        s.stop();
        std::lock_guard lock(m);
        events.push_back("stop returned");
        stop_returned = true;
    });
    {
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, seconds{10}, [&] { return saw_cancel; }));
        CHECK_FALSE(stop_returned.load());  // stop() waits for the run
        finish = true;
        cv.notify_all();
    }
    stopper.join();
    REQUIRE(events.size() == 3);
    CHECK(events[0].substr(0, 6) == "start ");
    CHECK(events[1].substr(0, 4) == "end ");
    CHECK(events[2] == "stop returned");
    CHECK(logs.containing("not started: the scheduler is stopping") == 1);
    CHECK(s.stopping());
    CHECK_FALSE(s.next_run("a"));
    clock.advance(5 * 60000);
    CHECK(s.tick() == 0);
    CHECK(s.running_count() == 0);
    s.stop();  // idempotent
}

TEST_CASE("runner: run_loop sleeps until the earliest due time", "[scheduler]") {
    AtomicClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    Scheduler s(clock, state, runner.fn());
    std::string error;
    ScheduledProcess p = process("loop", "", "1m");
    REQUIRE(s.add(p, error));
    std::thread loop([&] { s.run_loop(); });
    CHECK(runner.total() == 0);
    clock.advance(60000);
    s.wake();  // the loop waits on a condition variable; tell it the clock moved
    runner.wait_started(1);
    s.stop();
    loop.join();
    CHECK(runner.total() == 1);
}

TEST_CASE("runner: 10,000 processes; a tick with nothing due touches nothing", "[scheduler]") {
    ManualClock clock(ms(utc(2024_y / 6 / 1, 10)));
    MemorySchedulerState state;
    Runner runner;
    Scheduler s(clock, state, runner.fn());
    for (int i = 0; i < 10000; ++i) {
        std::string id = "p" + std::to_string(i);
        if (i % 2)
            add(s, process(id, std::to_string(i % 60) + " * * * *", "", "Europe/Zurich"));
        else
            add(s, process(id, "", std::to_string(1 + i % 50) + "h"));
    }
    size_t minute_one = 0;
    for (int i = 1; i < 10000; i += 2) minute_one += i % 60 == 1;
    CHECK(s.tick() == 0);
    clock.advance(60000);  // 10:01: the cron processes of minute 1
    CHECK(s.tick() == minute_one);
    s.wait_idle();
    CHECK(runner.total() == minute_one);
    CHECK(s.tick() == 0);
}

// A state whose run history the test controls (the store's, in production).
class HistoryState final : public SchedulerState {
public:
    std::optional<bool> enabled(const std::string&) override { return std::nullopt; }
    void set_enabled(const std::string&, bool, const std::string&, int64_t) override {}
    std::optional<int64_t> anchor_ms(const std::string&) override { return std::nullopt; }
    void set_anchor_ms(const std::string&, int64_t) override {}
    bool ever_succeeded(const std::string& id) override {
        std::lock_guard lock(m);
        return succeeded.count(id) > 0;
    }
    std::mutex m;
    std::set<std::string> succeeded;
};

TEST_CASE("a dependent waits for its prerequisites' first successful run, then starts at once",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    HistoryState state;
    Runner runner;
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn());
    // Inventory every minute; products every 5 minutes; inventory needs products.
    ScheduledProcess inventory = process("inventory", "", "1m");
    inventory.prerequisites = {"products"};
    add(s, inventory);
    add(s, process("products", "", "5m"));

    drive(clock, s, utc(2026_y / 12 / 6, 8, 3));
    CHECK(runner.count("inventory") == 0);  // held: products never succeeded
    CHECK(logs.containing("held: waits for the first successful run of products") == 1);
    CHECK(s.status("inventory")->waiting_for == std::vector<std::string>{"products"});

    SECTION("a failed prerequisite keeps it held") {
        runner.status = "failed";
        drive(clock, s, utc(2026_y / 12 / 6, 8, 6));
        CHECK(runner.count("products") == 1);
        CHECK(runner.count("inventory") == 0);
    }
    SECTION("the first success releases it, and its schedule goes on") {
        drive(clock, s, utc(2026_y / 12 / 6, 8, 5));
        s.wait_idle();
        CHECK(runner.count("products") == 1);
        CHECK(runner.count("inventory") == 1);  // released at once, not at its next slot
        CHECK(logs.containing("released: products has completed its first successful run") == 1);
        CHECK(s.status("inventory")->waiting_for.empty());
        drive(clock, s, utc(2026_y / 12 / 6, 8, 8));
        CHECK(runner.count("inventory") == 4);
    }
    SECTION("a success in the run history counts (another host, plexus run)") {
        {
            std::lock_guard lock(state.m);
            state.succeeded.insert("products");
        }
        drive(clock, s, utc(2026_y / 12 / 6, 8, 4));
        CHECK(runner.count("inventory") == 1);
    }
    SECTION("a manual run is not held") {
        CHECK(s.run_now("inventory") == RunNowResult::started);
        s.wait_idle();
        CHECK(runner.count("inventory") == 1);
    }
}

// --- run all in dependency order -------------------------------------------------------------

namespace {
// Records "start X" / "end X"; runs of ids in `gate` block until released; statuses per id.
struct OrderRunner {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> events;
    std::map<std::string, std::string> status;  // default "succeeded"
    std::set<std::string> gate;
    RunFn fn() {
        return [this](const std::string& id, const std::string& trigger, const std::atomic<bool>*) {
            std::unique_lock lock(m);
            events.push_back("start " + id + " " + trigger);
            cv.notify_all();
            cv.wait(lock, [&] { return !gate.count(id); });
            events.push_back("end " + id);
            cv.notify_all();
            auto it = status.find(id);
            return RunResult{it == status.end() ? "succeeded" : it->second, "", 1};
        };
    }
    long index(const std::string& event) {
        std::lock_guard lock(m);
        for (size_t i = 0; i < events.size(); ++i)
            if (events[i].rfind(event, 0) == 0) return static_cast<long>(i);
        return -1;
    }
    size_t count(const std::string& prefix) {
        std::lock_guard lock(m);
        size_t n = 0;
        for (const auto& e : events) n += e.rfind(prefix, 0) == 0;
        return n;
    }
    void open(const std::string& id) {
        std::lock_guard lock(m);
        gate.erase(id);
        cv.notify_all();
    }
    void wait_for(const std::string& event) {
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, seconds{10}, [&] {
            for (const auto& e : events)
                if (e.rfind(event, 0) == 0) return true;
            return false;
        }));
    }
};

void add_shop(Scheduler& s) {
    // categories → products → inventory; customers → orders (manual-only schedules).
    add(s, process("categories", ""));
    ScheduledProcess products = process("products", "");
    products.prerequisites = {"categories"};
    add(s, products);
    ScheduledProcess inventory = process("inventory", "");
    inventory.prerequisites = {"products"};
    add(s, inventory);
    add(s, process("customers", ""));
    ScheduledProcess orders = process("orders", "");
    orders.prerequisites = {"customers", "products"};
    add(s, orders);
}
const std::vector<std::string> kShopOrder{"categories", "customers", "products", "inventory",
                                          "orders"};
}  // namespace

TEST_CASE("run all: every process once, each after its prerequisites ended", "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    OrderRunner runner;
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn(), SchedulerOptions{4, 60000});
    add_shop(s);
    {
        std::lock_guard lock(runner.m);
        runner.gate = {"categories"};
    }
    std::string error;
    REQUIRE(s.run_all(kShopOrder, "run-all", error));
    runner.wait_for("start categories");
    runner.wait_for("start customers");  // no prerequisite: runs beside categories
    // Orders waits for customers too until the scheduler has seen that run end.
    const auto until = std::chrono::steady_clock::now() + seconds{10};
    while (s.status("orders")->run_all != "waiting for products" &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(s.status("products")->run_all == "waiting for categories");
    CHECK(s.status("orders")->run_all == "waiting for products");
    CHECK(s.status("categories")->run_all == "running");
    std::string again;
    CHECK_FALSE(s.run_all(kShopOrder, "run-all", again));
    CHECK(again.find("still going") != std::string::npos);
    runner.open("categories");
    s.wait_idle();
    for (const auto& id : kShopOrder) CHECK(runner.count("start " + id + " run-all") == 1);
    CHECK(runner.index("start products") > runner.index("end categories"));
    CHECK(runner.index("start inventory") > runner.index("end products"));
    CHECK(runner.index("start orders") > runner.index("end products"));
    CHECK(runner.index("start orders") > runner.index("end customers"));
    auto st = s.run_all_status();
    REQUIRE(st);
    CHECK_FALSE(st->active);
    CHECK(st->succeeded.size() == 5);
    CHECK(st->not_succeeded.empty());
    CHECK(logs.containing("run all (run-all) finished: 5 of 5 process(es) completed") == 1);
    CHECK(s.status("orders")->run_all.empty());
    CHECK(s.run_all(kShopOrder, "run-all", error));  // a finished one does not block the next
    s.wait_idle();
    CHECK(runner.count("start orders") == 2);
}

TEST_CASE("run all: a failed prerequisite stops its dependents, not the others", "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    OrderRunner runner;
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn());
    add_shop(s);
    runner.status["products"] = "failed";
    std::string error;
    REQUIRE(s.run_all(kShopOrder, "start", error));
    s.wait_idle();
    CHECK(runner.count("start categories") == 1);
    CHECK(runner.count("start customers") == 1);
    CHECK(runner.count("start products") == 1);
    CHECK(runner.count("start inventory") == 0);
    CHECK(runner.count("start orders") == 0);
    auto st = s.run_all_status();
    REQUIRE(st);
    CHECK(st->not_succeeded.at("products") == "failed");
    CHECK(st->not_succeeded.at("inventory") == "not run: products did not complete");
    CHECK(st->not_succeeded.at("orders") == "not run: products did not complete");
    CHECK(logs.containing("inventory: run all: not run, because products did not complete") == 1);
    CHECK(logs.containing("finished: 2 of 5 process(es) completed; 3 did not") == 1);
}

TEST_CASE("run all: a member already running is run again after that run ends", "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    OrderRunner runner;
    Scheduler s(clock, state, runner.fn());
    add_shop(s);
    {
        std::lock_guard lock(runner.m);
        runner.gate = {"categories"};
    }
    REQUIRE(s.run_now("categories") == RunNowResult::started);
    runner.wait_for("start categories manual");
    std::string error;
    REQUIRE(s.run_all({"categories", "products"}, "run-all", error));
    CHECK(s.status("categories")->run_all == "queued");
    CHECK(s.status("products")->run_all == "waiting for categories");
    runner.open("categories");
    s.wait_idle();
    CHECK(runner.count("start categories") == 2);
    CHECK(runner.index("start products") > runner.index("start categories run-all"));
    CHECK_FALSE(s.run_all({"nope"}, "run-all", error));
    CHECK(error == "unknown process \"nope\"");
    CHECK_FALSE(s.run_all({}, "run-all", error));
}

TEST_CASE("run all: a member skipped for a conflicting run runs once that run has ended",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    Logs logs;
    // Two directions of one two-way sync share a lease: while one runs, the other is skipped.
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> events;
    bool a_running = false, release_a = false, b_tried = false;
    RunFn fn = [&](const std::string& id, const std::string&, const std::atomic<bool>*) {
        std::unique_lock lock(m);
        if (id == "b" && !b_tried) {
            // Both start at once on four workers; b's first try must find a's lease held,
            // whichever thread got going first.
            b_tried = true;
            cv.wait(lock, [&] { return a_running; });
        }
        if (id == "b" && a_running) {
            // No notify: the test lets a end only after the scheduler has taken in this skip
            // (the opposite order is the next test's).
            events.push_back("skip b");
            return RunResult{"skipped", "a holds the lease", 0};
        }
        events.push_back("start " + id);
        if (id == "a") {
            a_running = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release_a; });
            a_running = false;
        }
        events.push_back("end " + id);
        return RunResult{"succeeded", "", 1};
    };
    Scheduler s(clock, state, fn, logs.fn(), SchedulerOptions{4, 60000});
    add(s, process("a", ""));
    add(s, process("b", ""));
    ScheduledProcess c = process("c", "");
    c.prerequisites = {"b"};
    add(s, c);
    std::string error;
    REQUIRE(s.run_all({"a", "b", "c"}, "start", error));
    {
        std::unique_lock lock(m);
        const bool skipped = cv.wait_for(lock, seconds{10}, [&] {
            return std::find(events.begin(), events.end(), "skip b") != events.end();
        });
        // Let the scheduler take the skip in while a still holds the lease (its worker only
        // takes a lock after the run function returned): b waits in the retry list.
        lock.unlock();
        const bool taken_in = eventually([&] { return s.skipped_count("b") == 1; });
        const std::string b_state = s.status("b")->run_all;
        lock.lock();
        release_a = true;  // before any REQUIRE: a failed one must not leave a blocked forever
        cv.notify_all();
        REQUIRE(skipped);
        REQUIRE(taken_in);
        CHECK(b_state == "waiting for another run to end");
    }
    s.wait_idle();
    auto st = s.run_all_status();
    REQUIRE(st);
    CHECK_FALSE(st->active);
    CHECK(st->not_succeeded.empty());
    CHECK(st->succeeded.size() == 3);
    // Said once, as a note: a retried member is not a warning.
    CHECK(logs.containing("info b: run all: waiting, another run of the process is going") == 1);
    CHECK(logs.containing("skipped (") == 0);
    std::lock_guard lock(m);
    auto pos = [&](const std::string& e) { return std::find(events.begin(), events.end(), e) - events.begin(); };
    CHECK(pos("start b") > pos("end a"));
    CHECK(pos("start c") > pos("end b"));
}

TEST_CASE("run all: a member whose skip is taken in just after its conflicting run ended is "
          "tried again, not given up",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    Logs logs;
    // a and b share a lease (two directions of one two-way sync). b's first try finds a's
    // lease held and reports "skipped"; the scheduler hears of that skip only after a has
    // ended and a's end has been taken in, with nothing else going: the race of a skip's
    // worker losing the scheduler's lock to the conflicting run's worker, forced here by
    // holding b's worker in the log call it makes before it takes the lock.
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> events;
    bool a_running = false, release_a = false, b_tried = false;
    RunFn fn = [&](const std::string& id, const std::string&, const std::atomic<bool>*) {
        std::unique_lock lock(m);
        if (id == "b" && !b_tried) {
            b_tried = true;
            if (!cv.wait_for(lock, seconds{10}, [&] { return a_running; }))
                return RunResult{"failed", "a never started", 0};
        }
        if (id == "b" && a_running) {
            events.push_back("skip b");
            return RunResult{"skipped", "process a is held by run of a", 0};
        }
        events.push_back("start " + id);
        if (id == "a") {
            a_running = true;
            cv.notify_all();
            // Bounded: a test that goes wrong must not hang.
            cv.wait_for(lock, seconds{10}, [&] { return release_a; });
            a_running = false;
        }
        events.push_back("end " + id);
        return RunResult{"succeeded", "", 1};
    };
    Scheduler* sched = nullptr;
    std::atomic<bool> a_ended_first{false};
    auto log = [&, inner = logs.fn()](const std::string& level, const std::string& id,
                                      const std::string& msg) {
        inner(level, id, msg);
        if (id == "b" && msg.rfind("run all: waiting", 0) == 0) {
            // b's worker, between its run returning "skipped" and taking the scheduler's
            // lock: let a end, and wait until a's worker has taken a's end in.
            {
                std::lock_guard lock(m);
                release_a = true;
            }
            cv.notify_all();
            a_ended_first = eventually([&] { return !sched->running("a"); });
        }
    };
    Scheduler s(clock, state, fn, log, SchedulerOptions{4, 60000});
    sched = &s;
    add(s, process("a", ""));
    add(s, process("b", ""));
    ScheduledProcess c = process("c", "");
    c.prerequisites = {"b"};
    add(s, c);
    std::string error;
    REQUIRE(s.run_all({"a", "b", "c"}, "start", error));
    REQUIRE(eventually([&] {
        auto st = s.run_all_status();
        return st && !st->active;
    }));
    s.wait_idle();
    REQUIRE(a_ended_first);  // the race was forced, not missed
    auto st = s.run_all_status();
    REQUIRE(st);
    CHECK(st->not_succeeded.empty());
    CHECK(st->succeeded == std::vector<std::string>{"a", "b", "c"});
    CHECK(logs.containing("run all: not run") == 0);
    std::lock_guard lock(m);
    auto pos = [&](const std::string& e) {
        return std::find(events.begin(), events.end(), e) - events.begin();
    };
    CHECK(pos("skip b") < pos("end a"));
    CHECK(pos("start b") > pos("end a"));
    CHECK(pos("start c") > pos("end b"));
}

TEST_CASE("run all: a due time of a member not yet done there is left to the run all",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;  // says every process succeeded once: no holds
    Logs logs;
    OrderRunner runner;
    Scheduler s(clock, state, runner.fn(), logs.fn(), SchedulerOptions{4, 60000});
    add(s, process("a", "", "1m"));
    ScheduledProcess b = process("b", "", "1m");
    b.prerequisites = {"a"};
    add(s, b);
    {
        std::lock_guard lock(runner.m);
        runner.gate = {"a"};
    }
    std::string error;
    REQUIRE(s.run_all({"a", "b"}, "run-all", error));
    runner.wait_for("start a run-all");
    // Both fall due while a runs in the run-all and b waits there for a.
    clock.advance(61'000);
    const size_t started = s.tick();
    runner.open("a");
    s.wait_idle();
    CHECK(started == 0);
    CHECK(runner.count("start a") == 1);
    CHECK(runner.count("start b") == 1);
    CHECK(runner.index("start b") > runner.index("end a"));
    CHECK(logs.containing("is left to run all in order") == 2);
    CHECK(logs.containing("skipped the run") == 0);
    CHECK(s.skipped_count() == 0);
    // Afterwards the schedule is the schedule again.
    clock.advance(60'000);
    CHECK(s.tick() == 2);
    s.wait_idle();
}

TEST_CASE("run all: a member skipped on every try is given up after run_all_max_tries",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    Logs logs;
    std::mutex m;
    std::vector<std::string> events;
    RunFn fn = [&](const std::string& id, const std::string&, const std::atomic<bool>*) {
        std::lock_guard lock(m);
        events.push_back(id);
        // "b" is always held; every other run ends, and each end may be the one b waited for.
        return RunResult{id == "b" ? "skipped" : "succeeded", "", 1};
    };
    // One worker: the runs go one after another in the order they were queued.
    SchedulerOptions options{1, 60000};
    options.run_all_max_tries = 2;
    Scheduler s(clock, state, fn, logs.fn(), options);
    for (const char* id : {"b", "x1", "x2", "x3", "x4"}) add(s, process(id, ""));
    ScheduledProcess c = process("c", "");
    c.prerequisites = {"b"};
    add(s, c);
    std::string error;
    REQUIRE(s.run_all({"b", "x1", "x2", "x3", "x4", "c"}, "start", error));
    REQUIRE(eventually([&] {
        auto st = s.run_all_status();
        return st && !st->active;
    }));
    s.wait_idle();
    auto st = s.run_all_status();
    REQUIRE(st);
    CHECK(st->succeeded.size() == 4);
    CHECK(st->not_succeeded.at("b") ==
          "skipped 2 times: another run of it, or of a process it shares records with, was "
          "going each time");
    CHECK(st->not_succeeded.at("c") == "not run: b did not complete");
    std::lock_guard lock(m);
    CHECK(std::count(events.begin(), events.end(), "b") == 2);
}

TEST_CASE("run all: a member skipped with nothing going here is given up, with its dependents",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    MemorySchedulerState state;
    Logs logs;
    RunFn fn = [](const std::string& id, const std::string&, const std::atomic<bool>*) {
        // "b" is always held by another host.
        return RunResult{id == "b" ? "skipped" : "succeeded", "", 1};
    };
    Scheduler s(clock, state, fn, logs.fn(), SchedulerOptions{1, 60000});
    add(s, process("b", ""));
    ScheduledProcess c = process("c", "");
    c.prerequisites = {"b"};
    add(s, c);
    std::string error;
    REQUIRE(s.run_all({"b", "c"}, "start", error));
    s.wait_idle();
    auto st = s.run_all_status();
    REQUIRE(st);
    CHECK_FALSE(st->active);
    CHECK(st->not_succeeded.at("b").rfind("skipped", 0) == 0);
    CHECK(st->not_succeeded.at("c") == "not run: b did not complete");
    CHECK(logs.containing("finished: 0 of 2") == 1);
}

// --- the scheduler's state waiting for a locked store ---------------------------------------

namespace {

// A state whose store calls can be made to wait (the database locked by another process,
// up to the store's busy timeout), or to fail as a locked store does.
class SlowState final : public SchedulerState {
public:
    std::optional<bool> enabled(const std::string&) override { return std::nullopt; }
    void set_enabled(const std::string&, bool, const std::string&, int64_t) override {}
    std::optional<int64_t> anchor_ms(const std::string&) override { return std::nullopt; }
    void set_anchor_ms(const std::string& id, int64_t at) override {
        std::unique_lock lock(m);
        ++anchor_calls;
        if (fail_anchors) throw std::runtime_error("plexus.db: the database is locked");
        wait_locked(lock);
        anchors[id] = at;
    }
    bool ever_succeeded(const std::string&) override {
        std::unique_lock lock(m);
        wait_locked(lock);
        return false;
    }
    // Store calls wait from now until open().
    void close() {
        std::lock_guard lock(m);
        closed = true;
    }
    void open() {
        std::lock_guard lock(m);
        closed = false;
        cv.notify_all();
    }
    // Until a store call waits (or 10 s).
    bool wait_for_waiter() {
        std::unique_lock lock(m);
        return cv.wait_for(lock, seconds{10}, [&] { return waiting > 0; });
    }

    std::mutex m;
    std::condition_variable cv;
    bool closed = false;
    int waiting = 0;
    bool fail_anchors = false;
    int anchor_calls = 0;
    std::map<std::string, int64_t> anchors;

private:
    void wait_locked(std::unique_lock<std::mutex>& lock) {
        ++waiting;
        cv.notify_all();
        cv.wait(lock, [&] { return !closed; });
        --waiting;
    }
};

// Whether every view of the scheduler answers (within 10 s) from another thread.
bool views_answer(Scheduler& s, const std::string& id) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread viewer([&s, id, done] {
        (void)s.status(id);
        (void)s.statuses();
        (void)s.enabled(id);
        (void)s.running(id);
        (void)s.next_run(id);
        (void)s.run_now("nobody");
        *done = true;
    });
    const bool answered = eventually([&] { return done->load(); });
    viewer.detach();  // when it did not answer, it finishes once the store opens
    return answered;
}

}  // namespace

TEST_CASE("the scheduler's views answer while a store call of a tick waits for the database",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    SlowState state;
    Runner runner;
    Logs logs;
    Scheduler s(clock, state, runner.fn(), logs.fn());
    ScheduledProcess orders = process("orders", "", "1m");
    orders.prerequisites = {"customers"};
    add(s, orders);
    add(s, process("customers", "", "1m"));
    clock.advance(60000);
    state.close();

    // First the question whether "customers" ever succeeded waits, then the anchors' write.
    std::thread ticking([&] { s.tick(); });
    REQUIRE(state.wait_for_waiter());
    CHECK(views_answer(s, "orders"));
    {
        std::lock_guard lock(state.m);
        CHECK(state.anchors.empty());
    }
    state.open();
    ticking.join();
    s.wait_idle();
    CHECK(runner.count("customers") == 1);
    // Held (customers had never succeeded when it was due), then released by that success.
    CHECK(logs.containing("held: waits for the first successful run of customers") == 1);
    CHECK(runner.count("orders") == 1);

    clock.advance(60000);
    state.close();
    std::thread ticking_again([&] { s.tick(); });
    REQUIRE(state.wait_for_waiter());
    CHECK(views_answer(s, "customers"));
    state.open();
    ticking_again.join();
    s.wait_idle();
    std::lock_guard lock(state.m);
    CHECK(state.anchors.count("customers") == 1);
}

TEST_CASE("anchors that could not be stored are kept and tried again after the back-off",
          "[scheduler]") {
    ManualClock clock(ms(utc(2026_y / 12 / 6, 8)));
    SlowState state;
    Runner runner;
    Logs logs;
    SchedulerOptions options;
    options.anchor_retry_ms = 30000;
    Scheduler s(clock, state, runner.fn(), logs.fn(), options);
    add(s, process("customers", "", "10s"));
    state.fail_anchors = true;

    clock.advance(10000);
    CHECK(s.tick() == 1);
    s.wait_idle();
    CHECK(logs.containing("could not store the schedule's anchor of 1 process(es), tried again "
                          "in 30 s: plexus.db: the database is locked") == 1);
    // Within the back-off the schedule goes on, and the store is not asked again.
    clock.advance(10000);
    CHECK(s.tick() == 1);
    s.wait_idle();
    clock.advance(10000);
    CHECK(s.tick() == 1);
    s.wait_idle();
    {
        std::lock_guard lock(state.m);
        CHECK(state.anchor_calls == 1);
        state.fail_anchors = false;
    }
    // After it: the newest anchor is stored.
    clock.advance(10000);
    CHECK(s.tick() == 1);
    s.wait_idle();
    std::lock_guard lock(state.m);
    CHECK(state.anchor_calls == 2);
    CHECK(state.anchors.at("customers") == clock.now_ms());
}
