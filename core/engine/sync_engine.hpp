// The sync engine: one run of a process, as ARCHITECTURE.md "A run, step by step" describes.
//
// Guarantees (proved by tests/integration/test_crash_safety.cpp):
// - no record is lost: the cursor moves only in the same transaction as the durable outcome
//   of every record before it (written, unchanged, or queued as failed for replay);
// - none is written twice: a create is announced by a committed intent first; after a crash
//   an open intent is resolved by asking the target for its idempotency key before anything
//   else happens, and the ledger turns a re-read record into "unchanged" or "update".
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
    // replay(): only these failed records (keys not in the failed queue are ignored);
    // none: the whole failed queue.
    std::optional<std::vector<std::string>> replay_keys;
};

struct RunSummary {
    int64_t run_id = 0;       // 0 when no run was started (skipped)
    std::string status;       // run_status::* or "skipped"
    std::string message;
    RunCounts counts;
    int64_t duration_ms = 0;
};

class SyncEngine {
public:
    explicit SyncEngine(Hub& hub) : hub_(hub) {}

    // One incremental run of the process: from the stored cursor to the end of the source.
    RunSummary run(const std::string& process_id, const RunOptions& options = {});

    // The failed records of the process, once more (the cursor does not move).
    RunSummary replay(const std::string& process_id, const RunOptions& options = {});

private:
    RunSummary execute(const std::string& process_id, const RunOptions& options, bool replay);
    Hub& hub_;
};

// An owner name for leases: host name, process id and a random part.
std::string lease_owner_name();

}  // namespace plexus
