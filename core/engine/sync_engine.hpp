// The sync engine: one run of a process, as ARCHITECTURE.md "A run, step by step" describes.
//
// Guarantees (proved by tests/integration/test_crash_safety.cpp):
// - no record is lost: the cursor moves only in the same transaction as the durable outcome
//   of every record before it (written, unchanged, or queued as failed for replay);
// - none is written twice: a create is announced by a committed intent first; after a crash
//   an open intent is resolved by asking the target for its idempotency key before anything
//   else happens, and the ledger turns a re-read record into "unchanged" or "update".
// - an update is announced by a committed intent too; after a crash its record's next write
//   goes out marked interrupted (sdk::WriteItem::interrupted), so that the connector allows
//   for the earlier attempt still in flight (docs/design/010-update-intents.md; proved by
//   tests/integration/test_update_intents.cpp).
#pragma once

#include "engine/hub.hpp"
#include "store/store.hpp"

#include <atomic>
#include <functional>
#include <optional>
#include <vector>
#include <string>

namespace plexus {

struct RunProgress {
    int64_t run_id = 0;
    std::string process_id;
    int64_t pages = 0;
    RunCounts counts;
};

struct RunOptions {
    std::string trigger = "manual";  // "manual", "schedule", "cli", "replay"
    std::string actor;               // who asked (audit), empty for the scheduler
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(const RunProgress&)> on_progress;
    // Why the run waits, while it waits (http/wait_reason.hpp): the connectors' HTTP waits
    // and a dependency's lease held by another run. May be empty.
    WaitObserver on_wait;
    // replay(): only these failed records (keys not in the failed queue are ignored);
    // none: the whole failed queue.
    std::optional<std::vector<std::string>> replay_keys;
    // How long a record whose dependency's own run is live (holding its lease) waits for that
    // run to sync what it needs, before it fails (replayable) with a message saying so. Waited
    // once per dependency per run; later records of the run try once without waiting.
    int64_t dependency_wait_ms = 20'000;
};

struct RunSummary {
    int64_t run_id = 0;       // 0 when no run was started (skipped)
    std::string status;       // run_status::* or "skipped"
    std::string message;
    RunCounts counts;
    int64_t duration_ms = 0;
};

// What `plexus reconcile` found (docs/operations.md, "Reconciliation").
struct ReconcileFinding {
    // "missing_in_target": the ledger names a target record the target no longer has;
    // "duplicate": a second target record carries the same record's idempotency tag;
    // "not_in_ledger": the target has a record with our tag for a source record whose ledger
    //   entry is missing (an open intent, or a record in the failed queue);
    // "unverifiable": the connector could not answer the lookup.
    std::string kind;
    std::string source_key;
    std::string target_key;  // the ledger's target, or the one found
    std::string detail;
    bool adopted = false;
};

struct ReconcileOptions {
    bool adopt = false;  // adopt the unambiguous "not_in_ledger" records (audited)
    std::string actor;   // who asked, for the audit log
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(int64_t checked)> on_progress;
};

struct ReconcileReport {
    std::string process_id;
    std::string status;  // "clean", "findings", "skipped" (process busy), "failed"
    std::string message;
    int64_t ledger_entries = 0;  // checked against the target
    int64_t open_intents = 0;
    int64_t failed_records = 0;
    int64_t adopted = 0;
    std::vector<ReconcileFinding> findings;
};

class SyncEngine {
public:
    explicit SyncEngine(Hub& hub) : hub_(hub) {}

    // One incremental run of the process: from the stored cursor to the end of the source.
    RunSummary run(const std::string& process_id, const RunOptions& options = {});

    // The failed records of the process, once more (the cursor does not move).
    RunSummary replay(const std::string& process_id, const RunOptions& options = {});

    // Compares the process's ledger with its target through the target connector's lookup:
    // every ledger entry by its target key (gone?) and by its idempotency key (a second record
    // with our tag?); every open intent and failed record by its idempotency key (in the
    // target but not in the ledger?). Holds the process's lease meanwhile, like a run.
    ReconcileReport reconcile(const std::string& process_id, const ReconcileOptions& options);

    // Runs still marked "running" whose process holds no live lease (the host died, or a store
    // error ended it before it could say so) are marked abandoned. Called when a host starts.
    // Returns how many.
    int close_orphaned_runs();

private:
    RunSummary execute(const std::string& process_id, const RunOptions& options, bool replay);
    Hub& hub_;
};

// An owner name for leases: host name, process id and a random part.
std::string lease_owner_name();

}  // namespace plexus
