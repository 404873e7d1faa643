// Benchmark: 10,000 scheduled processes, none due, for S seconds: CPU used by the scheduler.
//   build/bin/bench_scheduler_idle [PROCESSES=10000] [SECONDS=60]
// Every process has a daily cron schedule in one of several time zones (due hours from now),
// the real run_loop() on the system clock. Target (issue 4): under 1% of a core.
// Run by hand; see docs/performance.md.
#include "scheduler/scheduler.hpp"

#include <sys/resource.h>

#include <date/tz.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace plexus;

namespace {
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::stoi(argv[1]) : 10000;
    const int seconds = argc > 2 ? std::stoi(argv[2]) : 60;
    MemorySchedulerState state;
    Scheduler s(SystemClock::instance(), state,
                [](const std::string&, const std::string&, const std::atomic<bool>*) {
                    return RunResult{"succeeded", "", 0};
                });
    const char* zones[] = {"UTC", "Europe/Zurich", "America/New_York", "Asia/Tokyo", "Europe/Oslo"};
    // Due at an hour of the day that is 12 hours from now in each zone: idle throughout.
    const auto now = std::chrono::system_clock::now();
    auto far_hour = [&](const char* zone) {
        auto local = date::make_zoned(zone, now).get_local_time();
        auto h = date::make_time(local - date::floor<date::days>(local)).hours().count();
        return static_cast<int>((h + 12) % 24);
    };
    const double t_add0 = cpu_seconds();
    for (int i = 0; i < n; ++i) {
        ScheduledProcess p;
        p.id = "p" + std::to_string(i);
        p.timezone = zones[i % 5];
        p.cron = std::to_string(i % 60) + " " + std::to_string(far_hour(zones[i % 5])) + " * * *";
        std::string error;
        if (!s.add(p, error)) {
            std::fprintf(stderr, "add %s: %s\n", p.id.c_str(), error.c_str());
            return 1;
        }
    }
    const double add_cpu = cpu_seconds() - t_add0;
    std::thread loop([&s] { s.run_loop(); });
    const double c0 = cpu_seconds();
    const auto w0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    const double cpu = cpu_seconds() - c0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    s.stop();
    loop.join();
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    std::printf("%d processes: added in %.2f s CPU; idle %.0f s: %.4f s CPU = %.3f%% of a core "
                "(target < 1%%); peak RSS %.1f MB; runs started %zu\n",
                n, add_cpu, wall, cpu, 100.0 * cpu / wall, u.ru_maxrss / 1024.0, s.running_count());
    return 0;
}
