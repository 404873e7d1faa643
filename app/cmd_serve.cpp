#include "app/cli.hpp"

#include "common/logging.hpp"
#include "engine/hub.hpp"
#include "engine/store_scheduler_state.hpp"
#include "engine/sync_engine.hpp"
#include "scheduler/scheduler.hpp"

#include <date/date.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

namespace plexus::cli {
namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop(int) { g_stop.store(true); }
}  // namespace

// plexus serve — the long-running host: loads connectors and configuration, opens (and
// migrates) the store and runs every process on its schedule (docs/scheduling.md) until
// SIGINT/SIGTERM, then stops gracefully: no new runs, running ones finish their page. The
// portal attaches here in its own issue.
int cmd_serve(const std::vector<std::string>& args) {
    Common c;
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    po::variables_map vm;
    if (!parse("serve", "[--config FILE] [--data DIR]", opts, {}, args, vm)) return ok;
    if (!vm.count("log-level") || vm["log-level"].defaulted()) configure_logging("info");

    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    if (!load_valid_config(c, registry, config)) return run_failed;
    auto store = open_store(c);
    Hub hub(std::move(config), registry, *store, SystemClock::instance());
    SyncEngine engine(hub);
    StoreSchedulerState state(*store);

    auto run = [&engine](const std::string& process_id, const std::string& trigger,
                         const std::atomic<bool>* cancel) {
        RunOptions options;
        options.trigger = trigger;
        options.cancel = cancel;
        RunSummary s = engine.run(process_id, options);
        return RunResult{s.status, s.message, s.run_id};
    };
    auto log = [](const std::string& level, const std::string& process_id, const std::string& m) {
        LogLevel l = level == "error" ? LogLevel::error
                     : level == "warn" ? LogLevel::warn
                     : level == "debug" ? LogLevel::debug
                                        : LogLevel::info;
        log_line(l, LogTags{process_id, 0, {}, {}}, m);
    };
    Scheduler scheduler(SystemClock::instance(), state, run, log);
    size_t scheduled = 0;
    for (const auto& p : hub.config().processes) {
        ScheduledProcess sp{p.id, p.schedule.cron, p.schedule.interval, p.schedule.timezone,
                            p.enabled, std::nullopt};
        std::string error;
        if (!scheduler.add(sp, error)) {
            // check-config validated the schedule; this would be a disagreement of the two.
            log_error(c.config_file + ": " + p.json_path + "/schedule: " + error);
            return run_failed;
        }
        if (!sp.cron.empty() || !sp.interval.empty()) ++scheduled;
    }
    log_info("serving " + std::to_string(hub.config().processes.size()) + " process(es) from " +
             c.config_file + " (" + std::to_string(scheduled) + " scheduled) with " +
             std::to_string(registry.connectors().size()) + " connector(s); database schema " +
             std::to_string(store->schema_version()));
    for (const auto& s : scheduler.statuses()) {
        if (auto next = scheduler.next_run(s.id))
            log_info("process " + s.id + " (" + s.schedule + "): next run at " +
                     date::format("%FT%TZ", std::chrono::time_point_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::time_point(
                                                    std::chrono::milliseconds(*next)))));
    }

    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    std::thread loop([&scheduler] { scheduler.run_loop(); });
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log_info("stopping: no new runs; waiting for running ones to finish their page");
    scheduler.stop();
    loop.join();
    log_info("stopped");
    return ok;
}

}  // namespace plexus::cli
