// The scheduler: starts processes when their cron expression or interval is due.
//
// Layering: scheduler/ does not depend on core/. Its collaborators come in as interfaces:
// - a Clock (core/common/clock.hpp, header-only): ManualClock in tests, SystemClock live;
// - RunFn: starts one run and returns when it ends (the hub wires it to SyncEngine::run);
// - SchedulerState: persisted enabled flags and schedule anchors (the hub adapts its Store);
// - SchedulerLogFn: where skips, catch-ups and failures are reported.
//
// Semantics (docs/scheduling.md):
// - tick() starts every process whose next due time has come; runs go to a small pool of
//   worker threads; one run per process at a time (scheduled or manual).
// - A due time that arrives while the previous run of that process is still going (or
//   still queued) is skipped: logged at "warn" and counted. One that arrives while the
//   process is a member of the run-all going (not yet done there) is left to the run-all
//   (logged at "info", not counted). The next due time is computed
//   from now. A RunFn result with status "skipped" (another host holds the process's lease)
//   is counted and logged the same way.
// - After downtime (or any late tick) with several due times missed, the process runs
//   ONCE (a catch-up, logged), then continues with the next due time after now.
// - A process with prerequisites does not start on its schedule until each prerequisite
//   has completed one successful run (ever: SchedulerState::ever_succeeded, or seen here).
//   A due time meanwhile is held (logged once); when the last prerequisite's first success
//   arrives, the held process starts at once.
// - run_now(): a manual run, now, even when the process is disabled; refused while a run
//   of the process is going. It does not move the schedule.
// - run_all(): one run of each given process, each started once its prerequisites among
//   them have reached their end (in parallel where the order allows, up to `workers`). A
//   process whose prerequisite failed or was not run is not run (logged, reported). A
//   member already running when its turn comes waits for that run to end, then runs; one
//   whose run was skipped (a conflicting run held its lease) runs again once a run here has
//   ended: at once when one ended while it was trying (the skip came in just after its
//   conflicting run ended), else after the next run ends. It is given up (with what depends
//   on it) when no run is going here any more (another host holds the lease), or after
//   SchedulerOptions::run_all_max_tries tries. One
//   run-all at a time; `plexus serve` starts one at start (docs/scheduling.md).
// - set_enabled(): persisted; a new Scheduler on the same SchedulerState honours it.
//   Enabling starts the schedule afresh from now (no catch-up for the disabled period).
// - stop(): no new runs start (queued ones are dropped), the cancel flag every RunFn got is
//   raised, and stop() waits for running runs to return.
// - Efficiency: due times sit in a priority queue; run_loop() sleeps until the earliest (or
//   at most max_sleep_ms), so idle processes cost nothing per second.
//
// Thread safety: every public member may be called from any thread. RunFn and the log
// function are called from worker threads and from the thread calling tick()/run_now();
// they must not call stop() (it waits for them). The Clock is only read by the threads that
// call tick(), run_loop(), add(), set_enabled() and next_run(), never by workers.
#pragma once

#include "core/common/clock.hpp"
#include "scheduler/next_run.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace plexus {

// What a run reported. status: the engine's run status ("succeeded", "partial", "failed",
// ...) or "skipped" when it did not start because another run of the process was going.
struct RunResult {
    std::string status;
    std::string message;
    int64_t run_id = 0;
};

// Starts a run of `process_id` and returns when it ends. `trigger`: "schedule" or what
// run_now() was given ("manual" by default). `cancel` becomes true when the scheduler stops:
// finish the current page, commit, and return.
using RunFn = std::function<RunResult(const std::string& process_id, const std::string& trigger,
                                      const std::atomic<bool>* cancel)>;

// level: "info", "warn" or "error". process_id may be empty.
using SchedulerLogFn = std::function<void(const std::string& level, const std::string& process_id,
                                          const std::string& message)>;

// What survives a restart. Implementations must be thread-safe.
class SchedulerState {
public:
    virtual ~SchedulerState() = default;
    // The operator's choice; nullopt when never set (the configuration decides).
    virtual std::optional<bool> enabled(const std::string& process_id) = 0;
    virtual void set_enabled(const std::string& process_id, bool enabled, const std::string& actor,
                             int64_t now_ms) = 0;
    // The schedule's anchor: the time (ms since the epoch) up to which due times have been
    // dealt with - the last scheduled fire (or skip), or the moment it was enabled. Used
    // after a restart for the catch-up decision and as the interval anchor.
    virtual std::optional<int64_t> anchor_ms(const std::string& process_id) = 0;
    virtual void set_anchor_ms(const std::string& process_id, int64_t ms) = 0;
    // Whether the process has ever completed a run that reached its end (succeeded, with or
    // without failed records), by any host or command. Scheduled runs of its dependents wait
    // for it. A state that cannot tell says true (no gating).
    virtual bool ever_succeeded(const std::string& /*process_id*/) { return true; }
};

// In memory (tests, `plexus run` without a store).
class MemorySchedulerState final : public SchedulerState {
public:
    std::optional<bool> enabled(const std::string& process_id) override;
    void set_enabled(const std::string& process_id, bool enabled, const std::string& actor,
                     int64_t now_ms) override;
    std::optional<int64_t> anchor_ms(const std::string& process_id) override;
    void set_anchor_ms(const std::string& process_id, int64_t ms) override;

private:
    std::mutex mutex_;
    std::map<std::string, bool> enabled_;
    std::map<std::string, int64_t> anchors_;
};

// One process as the configuration declares it.
struct ScheduledProcess {
    std::string id;
    std::string cron;      // five fields or a macro; or
    std::string interval;  // "15m"; neither: manual runs only
    std::string timezone;  // IANA; "" = UTC
    bool enabled = true;   // the configuration's default; a persisted operator choice wins
    // Interval schedules without a persisted anchor count from here (the process's creation
    // time); default: the moment it is added.
    std::optional<int64_t> created_ms;
    // Processes whose first successful run must come before this one's scheduled runs
    // (its dependencies and ref() targets). Manual runs are not held.
    std::vector<std::string> prerequisites;
};

struct ScheduleStatus {
    std::string id;
    std::string schedule;  // Schedule::describe()
    bool enabled = false;
    bool running = false;
    std::optional<int64_t> next_run_ms;  // none: disabled, manual only, never, or stopping
    std::optional<int64_t> anchor_ms;    // last scheduled fire / skip / enable
    int64_t started = 0;                 // runs started by this Scheduler (any trigger)
    int64_t skipped = 0;                 // due times skipped by this Scheduler
    // Not empty while scheduled runs wait for a prerequisite's first successful run: the
    // prerequisites still waited for.
    std::vector<std::string> waiting_for;
    // While a run-all holds this process: "queued", "waiting for X, Y" or "running".
    std::string run_all;
};

// A run-all in progress or the last one (RunAllStatus::active false once every member ended).
struct RunAllStatus {
    bool active = false;
    std::string trigger;
    int64_t started_ms = 0;
    std::optional<int64_t> finished_ms;
    std::vector<std::string> order;                    // as given
    std::vector<std::string> succeeded;                // reached their end
    std::map<std::string, std::string> not_succeeded;  // id → run status or why not run
};

enum class RunNowResult { started, already_running, unknown_process, stopping };
const char* to_string(RunNowResult r);

struct SchedulerOptions {
    size_t workers = 4;           // runs at the same time (different processes)
    int64_t max_sleep_ms = 60000;  // run_loop re-reads the clock at least this often
    // How often a run-all member skipped for a conflicting run is tried in one run-all
    // before it is given up (with what depends on it).
    int run_all_max_tries = 10;
    // After a failed write of the schedule's anchors, the next try waits this long (the
    // anchors are kept meanwhile; a write that waits for a locked database blocks nothing
    // but the next anchors).
    int64_t anchor_retry_ms = 30000;
};

class Scheduler {
public:
    Scheduler(Clock& clock, SchedulerState& state, RunFn run, SchedulerLogFn log = {},
              SchedulerOptions options = {});
    ~Scheduler();  // stop()
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Adds the process, or replaces its schedule (a running run is unaffected). False and
    // `error` set when the schedule is invalid. With a persisted anchor whose next due time
    // has passed, the next tick() runs a catch-up.
    bool add(const ScheduledProcess& process, std::string& error);
    bool remove(const std::string& process_id);
    // Replaces the process's prerequisites (its mapping in force gained or lost a ref()).
    // A process held for a prerequisite no longer among them starts at once, as when the
    // last one's first success arrives. False for an unknown process.
    bool set_prerequisites(const std::string& process_id, std::vector<std::string> prerequisites);

    // Starts every process due at clock.now_ms(); returns how many runs it started.
    size_t tick();
    // Sleeps until the earliest due time (condition variable, at most max_sleep_ms), ticks,
    // repeats; returns after stop(). With a real clock; tests call tick() instead.
    void run_loop();
    // Makes run_loop() re-read the clock and the queue now (e.g. the clock was moved).
    void wake();

    RunNowResult run_now(const std::string& process_id, const std::string& trigger = "manual");
    // Starts a run-all of `order` (ids in an order that puts prerequisites first, e.g.
    // config's dependency_order). False with `error` set when one is going, the scheduler
    // is stopping, an id is unknown or the list is empty.
    bool run_all(const std::vector<std::string>& order, const std::string& trigger,
                 std::string& error);
    std::optional<RunAllStatus> run_all_status() const;
    // Persists the flag (with actor) and (un)schedules. False for an unknown process.
    bool set_enabled(const std::string& process_id, bool enabled, const std::string& actor = "");
    std::optional<bool> enabled(const std::string& process_id) const;

    // The next scheduled fire (ms since the epoch) for the portal.
    std::optional<int64_t> next_run(const std::string& process_id) const;
    std::optional<ScheduleStatus> status(const std::string& process_id) const;
    std::vector<ScheduleStatus> statuses() const;  // sorted by id
    bool running(const std::string& process_id) const;
    size_t running_count() const;  // runs queued or going
    int64_t skipped_count() const;
    int64_t skipped_count(const std::string& process_id) const;

    // Blocks until no run is queued or going.
    void wait_idle();
    // Graceful shutdown; idempotent. Afterwards tick() and run_now() start nothing.
    void stop();
    bool stopping() const;

private:
    struct Entry {
        std::string id;
        Schedule schedule;
        bool enabled = false;
        std::optional<int64_t> next_due;
        std::optional<int64_t> anchor;
        uint64_t generation = 0;  // heap items of older generations are stale
        int64_t started = 0;
        int64_t skipped = 0;
        std::vector<std::string> prerequisites;
        bool held = false;  // a due time came while a prerequisite had never succeeded
    };
    struct HeapItem {
        int64_t due;
        uint64_t generation;
        std::string id;
        bool operator>(const HeapItem& o) const { return due > o.due; }
    };
    struct Job {
        std::string id;
        std::string trigger;
    };
    struct LogLine {
        std::string level, id, message;
    };

    void schedule_locked(Entry& e, std::optional<int64_t> due);
    // The prerequisites of `e` not yet seen to succeed (from succeeded_ only: no store).
    std::vector<std::string> waiting_for_locked(const Entry& e) const;
    // Asks the state, without the lock, whether prerequisites not yet seen to succeed have
    // succeeded since (by another host, or a command), and notes those that have.
    void refresh_succeeded();
    // Those of `ids` the state says have succeeded (all, when it cannot answer). Without
    // the lock.
    std::vector<std::string> ever_succeeded(const std::vector<std::string>& ids);
    // Stores the anchors noted in pending_anchors_, without the lock. After a failure (the
    // database locked by another process, a full disk) it tries again only after
    // anchor_retry_ms, unless `now`.
    void store_anchors(std::vector<LogLine>& logs, bool now = false);
    void start_locked(Entry& e, const std::string& trigger);
    void compact_heap_locked();
    void advance_run_all_locked(std::vector<LogLine>& logs);
    std::vector<std::string> batch_prerequisites_locked(const std::string& id) const;
    // In the active run-all and not yet done there (pending, started or waiting to retry).
    bool run_all_member_locked(const std::string& id) const;
    ScheduleStatus status_locked(const Entry& e) const;
    void emit(std::vector<LogLine>& lines);
    void worker();

    Clock& clock_;
    SchedulerState& state_;
    RunFn run_;
    SchedulerLogFn log_;
    SchedulerOptions options_;

    mutable std::mutex mutex_;
    std::condition_variable loop_cv_;  // run_loop: wake up
    std::condition_variable work_cv_;  // workers: a job or quit
    std::condition_variable idle_cv_;  // a run ended
    std::unordered_map<std::string, Entry> entries_;
    std::priority_queue<HeapItem, std::vector<HeapItem>, std::greater<HeapItem>> heap_;
    std::deque<Job> jobs_;
    std::unordered_set<std::string> running_;  // queued or going
    std::unordered_set<std::string> succeeded_;  // seen to succeed (or said by state_)
    // Scheduler state is never written with mutex_ held: a store write can wait seconds for
    // another process's lock, and the portal's views need mutex_. Anchors to store, newest
    // per process, and when the next try may be after a failed one.
    std::unordered_map<std::string, int64_t> pending_anchors_;
    int64_t anchor_retry_at_ms_ = 0;
    std::mutex anchor_store_mutex_;  // one store_anchors() at a time
    int64_t skipped_total_ = 0;
    // The run-all: members not yet started (in order), and those it started, still going.
    std::optional<RunAllStatus> run_all_;
    std::vector<std::string> run_all_pending_;
    std::unordered_set<std::string> run_all_started_;
    // Started, but the run was skipped (a run it conflicts with — e.g. the other direction of
    // a two-way sync — was going): tried again when another run ends.
    std::vector<std::string> run_all_retry_;
    // Per member of this run-all: tries started, and run_ends_ when the last one started. A
    // skip taken in after a run ended since its try started may have lost the race with
    // its conflicting run's end (that end found no one to wake): it is tried again at once.
    struct RunAllTry {
        int tries = 0;
        uint64_t ends_at_start = 0;
    };
    std::unordered_map<std::string, RunAllTry> run_all_tries_;
    uint64_t run_ends_ = 0;  // runs that ended here, not counting skips (they held no lease)
    std::unordered_set<std::string> run_all_retry_noted_;  // said "waiting" once (this run all)
    bool wake_ = false;
    bool stopping_ = false;
    bool quit_workers_ = false;
    std::atomic<bool> cancel_{false};
    std::vector<std::thread> workers_;
    std::mutex stop_mutex_;
    bool stopped_ = false;
};

}  // namespace plexus
