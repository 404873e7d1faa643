// Operations: what operators, support staff and admins can ask of a running hub — the one
// service interface the portal (web/) and `plexus serve` use (ARCHITECTURE.md: "web/ and
// scheduler/ talk to core/ through a small service interface").
//
// It owns the scheduler of `plexus serve` and the engine's runs: a scheduled run, a manual
// "run now" and a replay all go through the scheduler, so one run of a process at a time
// holds for all of them (and the engine's lease holds across hosts). While a run goes, its
// live counters are kept here (the portal polls them); its durable counters are in the
// store, committed page by page.
//
// Every operator action is audited with the actor's name. Thread-safe.
#pragma once

#include "engine/hub.hpp"
#include "engine/store_scheduler_state.hpp"
#include "engine/sync_engine.hpp"
#include "inbox/webhook_inbox.hpp"
#include "scheduler/scheduler.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace plexus {

// A run going on right now.
struct LiveRun {
    int64_t run_id = 0;
    std::string trigger;
    int64_t started_ms = 0;
    int64_t pages = 0;
    RunCounts counts;
    // Why it waits right now (nothing when it does not), since when by the hub's clock.
    std::optional<WaitReason> waiting;
    int64_t waiting_since_ms = 0;
};

// A wait in the operator's words: "waiting 1.5 s for Shopify's rate limit", "retrying after
// HTTP 503 in 0.4 s (attempt 2 of 5)", "waiting for the other run: …". `connector_name` is
// the connector's display name (its manifest's "name"), or empty.
std::string describe_wait(const WaitReason& w, const std::string& connector_name);

// The outcome of an operator's request, as the API reports it.
enum class OpStatus { ok, not_found, conflict, invalid };

struct OpResult {
    OpStatus status = OpStatus::ok;
    std::string message;  // what went wrong, phrased for the operator
    static OpResult ok() { return {}; }
};

struct ConnectionTest {
    bool ok = false;
    std::string error_class;  // when not ok: auth, transient, plugin, ...
    std::string message;
    int64_t duration_ms = 0;
};

// An edited schedule: cron or interval (or neither: manual only), in a time zone.
struct ScheduleEdit {
    std::string cron;
    std::string interval;
    std::string timezone;
};

// Shapes shared by every API view (docs/api.md): counters as {"read", "created", …}; a time
// as ISO 8601 UTC text, or null when 0 ("not yet").
nlohmann::json counts_json(const RunCounts& c);
nlohmann::json time_or_null(int64_t ms);
// A reconciliation report as the CLI's --format json and the portal show it.
nlohmann::json reconcile_json(const ReconcileReport& r);

class Operations {
public:
    // Adds every configured process to a new scheduler (schedules edited in the portal and
    // stored win over the file's). Throws std::runtime_error naming the process when a
    // schedule does not parse.
    Operations(Hub& hub, SchedulerOptions options = {});
    ~Operations();  // stop()
    Operations(const Operations&) = delete;
    Operations& operator=(const Operations&) = delete;

    Hub& hub() { return hub_; }
    Store& store() { return hub_.store(); }
    Scheduler& scheduler() { return scheduler_; }
    // The webhook inbox (docs/design/007-webhook-inbox.md); its accepted events call
    // request_event_runs().
    WebhookInbox& inbox() { return inbox_; }

    // Event-triggered runs (trigger "event"): each enabled process among `process_ids` gets
    // one run soon. Coalesced: a process has at most one event run waiting, however many
    // events arrive; while a run of it goes, the request waits and starts one run after it
    // (that run reads what arrived meanwhile). Disabled processes are left to the operator.
    void request_event_runs(const std::vector<std::string>& process_ids);

    // Runs the scheduler loop on its own thread until stop().
    void start();
    // Graceful: no new runs, running ones finish their page; returns when they have.
    void stop();

    bool has_process(const std::string& process_id) const;

    // The portal's view of one process (docs/api.md, "Processes").
    nlohmann::json process_view(const std::string& process_id);
    nlohmann::json processes_view();

    std::optional<LiveRun> live_run(const std::string& process_id) const;
    // A live run as the API shows it (docs/api.md, "Processes"): {"run_id", "trigger",
    // "pages", "counts", "started", "elapsed_ms", "records_per_second", "waiting": {"kind",
    // "reason", "since", "expected_ms", "connection"} or null}.
    nlohmann::json live_json(const LiveRun& live) const;
    size_t running_count() const;

    OpResult set_enabled(const std::string& process_id, bool enabled, const std::string& actor);
    OpResult set_schedule(const std::string& process_id, const ScheduleEdit& edit,
                          const std::string& actor);
    // Starts a run now (trigger "manual"); conflict while one is going.
    OpResult run_now(const std::string& process_id, const std::string& actor);
    // Runs every enabled process once in dependency order (Scheduler::run_all), or with
    // `only_new` those that have never completed a run. trigger: "run-all" (portal, audited
    // with actor) or "start" (serve). Conflict while a run-all is going; ok with nothing to
    // run (`message` says so). `order` receives what it runs.
    // With `subset`: exactly those processes (enabled or not), in dependency order.
    OpResult run_all(const std::string& trigger, bool only_new, const std::string& actor,
                     std::vector<std::string>* order = nullptr,
                     const std::vector<std::string>* subset = nullptr);

    // Groups (docs/configuration.md, "groups"): {"items": [{"id", "name", "description",
    // "processes", "active" (every process enabled), "enabled_count", "running": [id…],
    // "actions": [{"id", "label", "run" or "run_all", "from", "from_default"}]}]}.
    nlohmann::json groups_view();
    // The group's "active sync" switch: enables or disables each of its processes (audited
    // group.enable / group.disable, and each process's switch with the actor).
    OpResult set_group_enabled(const std::string& group_id, bool enabled, const std::string& actor);
    // Runs a group's action. `from`: the operator's time for an action with "from": "ask"
    // (ignored otherwise). `started`: the processes it started (one for "run"). Audited
    // group.action with the action id and time.
    OpResult run_group_action(const std::string& group_id, const std::string& action_id,
                              const std::string& from, const std::string& actor,
                              std::vector<std::string>* started = nullptr);
    // The current or last run-all: {"active", "trigger", "started", "finished", "order",
    // "succeeded", "not_succeeded": {id: why}} or null.
    nlohmann::json run_all_view() const;
    // Replays the failed queue (or only `keys`, each of which must be in it).
    OpResult replay(const std::string& process_id,
                    const std::optional<std::vector<std::string>>& keys,
                    const std::string& actor, int64_t* records = nullptr);
    OpResult rewind(const std::string& process_id, const std::string& to_text,
                    const std::string& actor);
    // Takes records out of the failed queue without syncing them (support decided they need
    // none), with the reason, audited failed.dismiss. They are kept as dismissed (not counted,
    // not replayed) and can be restored. Each key must be waiting in the queue; refused
    // (conflict) while a run of the process is going. A dismissed record that fails again
    // (its source changed) is back in the queue; one that succeeds leaves it.
    OpResult dismiss_failed(const std::string& process_id, const std::vector<std::string>& keys,
                            const std::string& reason, const std::string& actor,
                            int64_t* dismissed = nullptr);
    // Puts dismissed records back in the queue, audited failed.restore. Each key must be
    // dismissed; refused (conflict) while a run of the process is going.
    OpResult restore_failed(const std::string& process_id, const std::vector<std::string>& keys,
                            const std::string& actor, int64_t* restored = nullptr);

    // Reconciliation (docs/operations.md): started in the background, one at a time per
    // process; conflict while one is going. reconcile_view: {"running", "checked",
    // "started", "report" (the last finished one, or null)}.
    OpResult start_reconcile(const std::string& process_id, bool adopt, const std::string& actor);
    nlohmann::json reconcile_view(const std::string& process_id) const;

    // Connections with secret settings masked ("••••••") and every other value redacted.
    nlohmann::json connections_view() const;
    bool has_connection(const std::string& connection_id) const;
    ConnectionTest test_connection(const std::string& connection_id, const std::string& actor);
    // Runs check() on the instance `open` returns (it may throw: a plugin error), redacts,
    // times and audits it as connection.test — for file and stored connections alike.
    ConnectionTest test_connection(const std::string& connection_id,
                                   const std::function<std::unique_ptr<ConnectorInstance>()>& open,
                                   const std::string& actor);

    // The last test of each connection, kept in the store (attention view, Connections page):
    // {connection id: {"ok", "message", "error_class", "duration_ms", "at"}}.
    nlohmann::json connection_tests() const;

    // Loaded connectors and refused files.
    nlohmann::json plugins_view() const;

    // The RunFn the scheduler calls (exposed for tests).
    RunResult execute(const std::string& process_id, const std::string& trigger,
                      const std::atomic<bool>* cancel);

private:
    ScheduledProcess scheduled(const ProcessConfig& p) const;

    Hub& hub_;
    SyncEngine engine_;
    StoreSchedulerState state_;
    Scheduler scheduler_;

    mutable std::mutex mutex_;
    std::map<std::string, LiveRun> live_;                              // by process
    std::map<std::string, std::vector<std::string>> pending_replays_;  // keys, by process
    std::map<std::string, ScheduleEdit> schedules_;                    // in force, by process

    struct ReconcileState {
        bool running = false;
        int64_t checked = 0;
        int64_t started_ms = 0;
        std::optional<ReconcileReport> report;
    };
    std::map<std::string, ReconcileState> reconciles_;  // by process; guarded by mutex_
    std::vector<std::thread> reconcile_threads_;         // joined by stop(); guarded by mutex_
    std::atomic<bool> stopping_{false};

    std::mutex loop_mutex_;
    std::thread loop_;

    WebhookInbox inbox_;
    void event_loop();
    std::mutex events_mutex_;
    std::condition_variable events_cv_;
    std::set<std::string> event_requests_;  // processes waiting for an event run
    bool events_stop_ = false;
    std::thread events_;
};

}  // namespace plexus
