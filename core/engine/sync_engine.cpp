#include "engine/sync_engine.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "engine/ledger_decision.hpp"
#include "engine/payload_hash.hpp"
#include "engine/source_record.hpp"
#include "common/time_text.hpp"
#include "inbox/webhook_inbox.hpp"
#include "worker/connector_worker.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace plexus {
namespace {

using json = nlohmann::json;

constexpr int64_t kLeaseTtlMs = 10 * 60 * 1000;
// A run renews its lease between pages once this much has passed since it took or last
// renewed it: far enough from the TTL that the lease never lapses, and not a durable commit
// per page for nothing (pages of a fast source take milliseconds).
constexpr int64_t kLeaseRenewAfterMs = 60 * 1000;

// A lease whose owner ran on this host in a process that no longer exists (killed, crashed)
// is released at once instead of blocking the process until the lease expires. Owners are
// "host:pid:random:seq/label" (new_lease_owner); a lease of another host is left to expire.
// A lease of a live thread of this very process is never taken over.
bool take_over_dead_lease(Store& store, const std::string& process_id, int64_t now_ms) {
    auto holder = store.lease_holder(process_id, now_ms);
    if (!holder) return false;
    const std::string& mine = lease_owner_name();
    std::string my_host = mine.substr(0, mine.find(':'));
    size_t first = holder->find(':');
    size_t second = first == std::string::npos ? std::string::npos : holder->find(':', first + 1);
    if (second == std::string::npos || holder->substr(0, first) != my_host) return false;
    pid_t pid = 0;
    try {
        pid = static_cast<pid_t>(std::stol(holder->substr(first + 1, second - first - 1)));
    } catch (...) {
        return false;
    }
    if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) return false;
    log_line(LogLevel::warn, LogTags{process_id, 0, {}, {}},
             "the previous run's process (pid " + std::to_string(pid) +
                 ") is gone; taking over its lease");
    store.release_lease(process_id, *holder);
    return true;
}

// A new owner name for one acquisition: unique per run and per dependency pull, so that two
// threads of one host exclude each other exactly as two hosts do, and nobody can renew or
// release a lease they did not take.
std::string new_lease_owner(const std::string& label) {
    static std::atomic<uint64_t> seq{0};
    return lease_owner_name() + ":" + std::to_string(++seq) + "/" + label;
}

// Who holds a lease, for a message: "a run of orders (pid 12 on host h)".
std::string describe_holder(const std::optional<std::string>& holder) {
    if (!holder) return "nobody any more";
    const size_t slash = holder->find('/');
    std::string label = slash == std::string::npos ? "a run" : holder->substr(slash + 1);
    const size_t first = holder->find(':');
    const size_t second = first == std::string::npos ? std::string::npos : holder->find(':', first + 1);
    if (second == std::string::npos) return label;
    return label + " (pid " + holder->substr(first + 1, second - first - 1) + " on host " +
           holder->substr(0, first) + ")";
}

// Processes that write into `me`'s source from its target: the other half of a two-way
// sync, whose writes `me` must not sync back (echoes).
std::vector<std::string> reverse_processes_of(const Config& config, const ProcessConfig& me) {
    std::vector<std::string> out;
    for (const auto& other : config.processes) {
        if (other.id != me.id && other.target.connection == me.source.connection &&
            other.target.entity == me.source.entity &&
            other.source.connection == me.target.connection &&
            other.source.entity == me.target.entity)
            out.push_back(other.id);
    }
    return out;
}

// The leases a writer on behalf of `process_id` holds: its own and those of its reverse
// processes, so that the two directions of a two-way sync never run at once (each one's
// echo check reads the other's ledger, which is then complete).
std::vector<std::string> lease_set(const Config& config, const std::string& process_id) {
    std::vector<std::string> ids{process_id};
    if (const ProcessConfig* p = config.process(process_id))
        for (auto& r : reverse_processes_of(config, *p)) ids.push_back(std::move(r));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

// The leases one run holds (its own, its reverse processes', a dependency pull's), each
// under its own owner name. Not thread-safe: one run, one thread. Released when destroyed.
class Leases {
public:
    Leases(Store& store, Clock& clock) : store_(store), clock_(clock) {}
    ~Leases() {
        for (const auto& [pid, owner] : held_) {
            try {
                store_.release_lease(pid, owner);
            } catch (...) {
            }
        }
    }
    Leases(const Leases&) = delete;
    Leases& operator=(const Leases&) = delete;

    // Takes every lease of `ids` not held yet, in sorted order, all or none. On failure
    // `busy` says which process is held, and by whom.
    bool take_all(const std::vector<std::string>& ids, const std::string& label, std::string& busy,
                  std::vector<std::string>* taken_out = nullptr) {
        std::vector<std::string> taken;
        for (const auto& pid : ids) {
            if (held_.count(pid)) continue;
            const std::string owner = new_lease_owner(label);
            const int64_t now = clock_.now_ms();
            if (store_.acquire_lease(pid, owner, now, kLeaseTtlMs) ||
                (take_over_dead_lease(store_, pid, now) &&
                 store_.acquire_lease(pid, owner, now, kLeaseTtlMs))) {
                held_[pid] = owner;
                taken.push_back(pid);
                continue;
            }
            busy = "process " + pid + " is held by " +
                   describe_holder(store_.lease_holder(pid, clock_.now_ms()));
            release(taken);
            return false;
        }
        if (taken_out) *taken_out = std::move(taken);
        return true;
    }

    void release(const std::vector<std::string>& ids) {
        for (const auto& pid : ids) {
            auto it = held_.find(pid);
            if (it == held_.end()) continue;
            try {
                store_.release_lease(pid, it->second);
            } catch (...) {
            }
            held_.erase(it);
        }
    }

    bool holds(const std::string& pid) const { return held_.count(pid) > 0; }

    // What every commit must still hold (fencing; renewed by the commit).
    std::vector<LeaseFence> fences() const {
        std::vector<LeaseFence> out;
        out.reserve(held_.size());
        for (const auto& [pid, owner] : held_) out.push_back(LeaseFence{pid, owner, kLeaseTtlMs});
        return out;
    }

    // Renews every lease held; throws when one was lost.
    void renew_all() {
        const int64_t now = clock_.now_ms();
        for (const auto& [pid, owner] : held_) store_.renew_lease(pid, owner, now, kLeaseTtlMs);
    }

private:
    Store& store_;
    Clock& clock_;
    std::map<std::string, std::string> held_;  // process -> owner name
};

// Whether a lease is held by a dependency pull (which lasts seconds, so worth waiting for).
bool held_by_pull(const std::string& busy) { return busy.find("pull for") != std::string::npos; }

// Ends the run early with a status (auth failure → failed, budget spent → partial).
struct RunAbort : std::runtime_error {
    RunAbort(std::string status_, const std::string& message)
        : std::runtime_error(message), status(std::move(status_)) {}
    std::string status;
};

const char* class_of(plexus_status s) {
    switch (s) {
        case PLEXUS_ERR_AUTH: return error_class::auth;
        case PLEXUS_ERR_RATE_LIMIT: return error_class::rate_limit;
        case PLEXUS_ERR_VALIDATION: return error_class::validation;
        case PLEXUS_ERR_CONFLICT: return error_class::conflict;
        case PLEXUS_ERR_TRANSIENT:
        case PLEXUS_ERR_CANCELLED: return error_class::transient;
        default: return error_class::plugin;
    }
}

// A record on its way to the target.
struct Pending {
    SourceRecord source;
    json mapped;
    std::string text;  // mapped's canonical JSON text: hashed, kept in the intent, sent
    std::string hash;
    std::string op;  // "create" or "update"
    std::string target_key;
    std::string idempotency_key;
    int64_t intent_id = 0;
    std::vector<std::string> members;  // aggregate mode: the source keys this record sums
    std::vector<SourceRecord> member_records;  // aggregate mode: those records (for replay)
    int64_t started_ms = 0;
    std::string conflict_message;  // why the target refused a create as a conflict
    bool recovered = false;  // adopted from an interrupted run's open intent: counted apart
    // An earlier attempt of this write may still reach the target (its intent was left open
    // by an interrupted run): sent as WriteItem::interrupted.
    bool interrupted = false;
};

// The live parts of one process within a run (the process itself or a dependency).
struct ProcessRuntime {
    const CompiledProcess* compiled = nullptr;
    std::vector<std::string> reverse;  // its reverse processes (two-way sync)
    std::unique_ptr<ConnectorInstance> source;
    std::unique_ptr<ConnectorInstance> target;
};

class Run {
public:
    Run(Hub& hub, const std::string& process_id, const RunOptions& options, int64_t run_id,
        Leases& leases)
        : hub_(hub), store_(hub.store()), clock_(hub.clock()), options_(options), run_id_(run_id),
          leases_(leases) {
        main_ = &runtime(process_id);
    }

    void resolve_intents();
    void run_incremental();
    void run_replay();
    const RunCounts& counts() const { return counts_; }
    int64_t pages() const { return pages_; }

private:
    ProcessRuntime& runtime(const std::string& process_id);
    ConnectorInstance& source_of(ProcessRuntime& p);
    ConnectorInstance& target_of(ProcessRuntime& p);
    LogTags tags(const std::string& process_id) const { return LogTags{process_id, run_id_, {}, {}}; }
    bool cancelled() const { return options_.cancel && options_.cancel->load(); }

    // Processes one page (or one batch of replayed records) of the main process and commits
    // it; `cursor` is stored with the last commit of the page (none for replay).
    void process_records(std::vector<SourceRecord> records, std::optional<CursorState> cursor);
    void process_aggregate(std::vector<SourceRecord> records, std::optional<CursorState> cursor);

    // Writes `batch` to the target of `p`, fills `commit` with the outcomes. The creates'
    // intents are opened first, unless `intents_open` (an earlier commit opened them).
    void write_batch(ProcessRuntime& p, std::vector<Pending>& batch, PageCommit& commit,
                     bool intents_open = false);
    // The intents of the batch's creates and updates (step 5); `index` gets the batch
    // position of each.
    std::vector<Intent> intents_for(const ProcessConfig& cfg, const std::vector<Pending>& batch,
                                    std::vector<size_t>& index);
    // Marks the batch's writes whose earlier attempt an interrupted run left in doubt
    // (Pending::interrupted), and hands over the ids of those earlier update intents: they
    // are closed in the commit that opens this attempt's own intents, so that one open intent
    // covers the record for as long as an attempt of it may be outstanding.
    void take_interrupted(const std::string& pid, std::vector<Pending>& batch,
                          std::vector<int64_t>& close);
    bool interrupted_update(const std::string& pid, const std::string& idempotency_key) const {
        auto p = interrupted_updates_.find(pid);
        return p != interrupted_updates_.end() && p->second.count(idempotency_key) > 0;
    }

public:
    // After a run that read its source to the end: the interrupted updates of the main
    // process that no write of this run took over and whose record is not in the failed
    // queue are closed (their record was read again and found needing no write).
    void close_untaken_interrupted_updates();

private:

    // Makes sure the dependency's record for `key` exists in its target (through its ledger).
    void ensure_dependency(const Dependency& dep, const std::string& key);
    // Resolves the open intents of `pid`, whose lease this run holds (so the runs that opened
    // them are gone); once per process per run.
    void resolve_intents_of(const std::string& pid);
    // Two-way sync: whether a reverse process of `p` wrote `rec` (its ledger, complete since
    // this run holds its lease): unchanged since (an echo, not to be synced back), or changed
    // since (update the record it came from, never create a second one).
    struct ReverseWrite {
        enum Kind { none, echo, changed } kind = none;
        std::string process;  // the reverse process
        LedgerEntry entry;    // its ledger entry: entry.source_key is our target key
    };
    ReverseWrite reverse_written(const ProcessRuntime& p, const SourceRecord& rec);

    // A record failed: its outcome, its failed-queue row and what its attempt sent (`sent`,
    // none when nothing was) with the target's `answer` (docs/operations.md, "Failed records").
    void add_failure(PageCommit& commit, const std::string& process_id, const SourceRecord& rec,
                     const std::string& cls, const std::string& message, int64_t started,
                     const Pending* sent = nullptr, const std::string& answer = {});
    // A pending write failed: one failure per source record it carries.
    void fail_pending(PageCommit& commit, const std::string& process_id, const Pending& p,
                      const std::string& cls, const std::string& message,
                      const std::string& answer) {
        if (p.members.empty()) {
            add_failure(commit, process_id, p.source, cls, message, p.started_ms, &p, answer);
            return;
        }
        for (size_t i = 0; i < p.members.size(); ++i) {
            SourceRecord s = i < p.member_records.size() ? p.member_records[i] : SourceRecord{p.members[i], {}, {}};
            add_failure(commit, process_id, s, cls, message, p.started_ms, &p, answer);
        }
    }
    void add_success(PageCommit& commit, const std::string& process_id, const Pending& p,
                     const std::string& action, const std::string& target_key,
                     const std::string& message = {}, const std::string& target_cursor = {});
    // Commits the page's changes; returns the ids of the intents it opened (intents_opened).
    std::vector<int64_t> commit(PageCommit& commit);
    void report_progress();

    // The ledger entries of a page's records, by source key (one query for the page).
    std::unordered_map<std::string, LedgerEntry> ledger_of(const std::string& process_id,
                                                           const std::vector<SourceRecord>& records);
    // ref("process", key) in mappings: the target key that process's ledger holds.
    RefResolver ref_resolver() {
        return [this](const std::string& proc, const std::string& k) -> std::optional<std::string> {
            auto e = store_.ledger_find(proc, k);
            return e ? std::optional<std::string>(e->target_key) : std::nullopt;
        };
    }

    Hub& hub_;
    Store& store_;
    Clock& clock_;
    const RunOptions& options_;
    int64_t run_id_;
    Leases& leases_;
    ProcessRuntime* main_ = nullptr;
    std::map<std::string, ProcessRuntime> runtimes_;
    std::map<std::string, bool> has_failed_queue_;
    std::set<std::string> intents_resolved_;  // processes whose open intents this run resolved
    // Open update intents of interrupted runs, per process and idempotency key, until a write
    // of this run takes them over (take_interrupted). They stay open in the store meanwhile.
    struct InterruptedUpdate {
        std::vector<int64_t> intent_ids;
        std::string source_key;
    };
    std::map<std::string, std::map<std::string, InterruptedUpdate>> interrupted_updates_;
    // Creates whose open intent the target's lookup did not find (per process, idempotency
    // keys): their next attempt in this run goes out marked interrupted.
    std::map<std::string, std::set<std::string>> interrupted_creates_;
    // Dependencies found busy (their own run holding the lease) and the message given; later
    // records needing them try once more but do not wait again.
    std::map<std::string, std::string> busy_dependencies_;
    RunCounts counts_;
    int64_t pages_ = 0;
    // The events the current page of an inbox-fed source consumed: committed with the
    // page's cursor (inbox_reads), then cleared.
    std::optional<InboxRead> page_inbox_read_;
};

ProcessRuntime& Run::runtime(const std::string& process_id) {
    auto it = runtimes_.find(process_id);
    if (it != runtimes_.end()) return it->second;
    ProcessRuntime& p = runtimes_[process_id];
    p.compiled = &hub_.process(process_id);
    p.reverse = reverse_processes_of(hub_.config(), *p.compiled->config);
    // Dismissed records count: a success must take them out too.
    has_failed_queue_[process_id] = store_.failed_count(process_id, FailedState::any) > 0;
    return p;
}

ConnectorInstance& Run::source_of(ProcessRuntime& p) {
    if (!p.source)
        p.source = hub_.open(p.compiled->config->source.connection, tags(p.compiled->config->id),
                             options_.cancel, options_.on_wait);
    return *p.source;
}

ConnectorInstance& Run::target_of(ProcessRuntime& p) {
    if (!p.target)
        p.target = hub_.open(p.compiled->config->target.connection, tags(p.compiled->config->id),
                             options_.cancel, options_.on_wait);
    return *p.target;
}

// What a failed attempt sent (the mapped record, secrets masked, cut at
// kMaxAttemptPayloadBytes on a UTF-8 boundary) and what the target answered; when nothing was
// sent, why. Made only for failures: successes cost nothing.
FailedAttempt failed_attempt_of(const Pending* sent, const std::string& cls,
                                const std::string& answer) {
    FailedAttempt a;
    a.answer = global_redactor().redact(answer);
    if (!sent || sent->op.empty()) {
        a.note = cls == error_class::mapping
                     ? "nothing was sent: the mapping could not map this record"
                 : cls == error_class::dependency
                     ? "nothing was sent: a record it refers to could not be synced first"
                     : "nothing was sent";
        return a;
    }
    a.operation = sent->op;
    std::string payload = global_redactor().redact(sent->text);
    a.payload_bytes = static_cast<int64_t>(payload.size());
    if (payload.size() > kMaxAttemptPayloadBytes) {
        size_t cut = kMaxAttemptPayloadBytes;
        while (cut > 0 && (static_cast<unsigned char>(payload[cut]) & 0xC0) == 0x80) --cut;
        payload.resize(cut);
        a.note = "the payload was " + std::to_string(a.payload_bytes) + " bytes; the first " +
                 std::to_string(cut) + " are kept";
    }
    if (sent->op == "update" && !sent->target_key.empty())
        a.note += std::string(a.note.empty() ? "" : "; ") + "sent as an update of " +
                  global_redactor().redact(sent->target_key);
    a.payload = std::move(payload);
    return a;
}

void Run::add_failure(PageCommit& commit, const std::string& process_id, const SourceRecord& rec,
                      const std::string& cls, const std::string& message, int64_t started,
                      const Pending* sent, const std::string& answer) {
    std::string msg = global_redactor().redact(message);
    FailedAttempt attempt = failed_attempt_of(sent, cls, answer);
    attempt.outcome_index = commit.outcomes.size();
    commit.failed_attempts.push_back(std::move(attempt));
    RecordOutcome o;
    o.run_id = run_id_;
    o.process_id = process_id;
    o.source_key = rec.key;
    o.action = action::failed;
    o.error_class = cls;
    o.message = msg;
    o.started_ms = started;
    o.finished_ms = clock_.now_ms();
    commit.outcomes.push_back(std::move(o));
    FailedRecord f;
    f.process_id = process_id;
    f.source_key = rec.key;
    // Redacted like the message: a connector may echo a secret setting inside record data.
    f.record_json = global_redactor().redact(rec.to_text());
    f.error_class = cls;
    f.message = msg;
    f.attempts = 1;
    f.first_failed_ms = f.last_failed_ms = clock_.now_ms();
    commit.failed.push_back(std::move(f));
    if (process_id == main_->compiled->config->id) commit.counts.failed++;
}

void Run::add_success(PageCommit& commit, const std::string& process_id, const Pending& p,
                      const std::string& act, const std::string& target_key,
                      const std::string& message, const std::string& target_cursor) {
    const size_t n = p.members.empty() ? 1 : p.members.size();
    for (size_t i = 0; i < n; ++i) {
        const std::string& key = p.members.empty() ? p.source.key : p.members[i];
        RecordOutcome o;
        o.run_id = run_id_;
        o.process_id = process_id;
        o.source_key = key;
        o.target_key = target_key;
        o.action = act;
        o.message = message;
        o.started_ms = p.started_ms;
        o.finished_ms = clock_.now_ms();
        commit.outcomes.push_back(std::move(o));
        if (act != action::unchanged) commit.ledger.push_back({key, target_key, p.hash, target_cursor});
        if (has_failed_queue_[process_id]) commit.failed_resolved.push_back(key);
        if (process_id == main_->compiled->config->id) {
            if (act == action::created && p.recovered) commit.counts.recovered++;
            else if (act == action::created) commit.counts.created++;
            else if (act == action::updated) commit.counts.updated++;
            else commit.counts.unchanged++;
        }
    }
}

std::vector<int64_t> Run::commit(PageCommit& c) {
    c.run_id = run_id_;
    c.now_ms = clock_.now_ms();
    if (c.process_id.empty()) c.process_id = main_->compiled->config->id;
    c.fences = leases_.fences();
    std::vector<int64_t> opened = store_.commit_page(c);
    counts_.read += c.counts.read;
    counts_.created += c.counts.created;
    counts_.updated += c.counts.updated;
    counts_.unchanged += c.counts.unchanged;
    counts_.failed += c.counts.failed;
    counts_.recovered += c.counts.recovered;
    c = PageCommit{};
    return opened;
}

std::unordered_map<std::string, LedgerEntry> Run::ledger_of(const std::string& process_id,
                                                            const std::vector<SourceRecord>& records) {
    std::vector<std::string> keys;
    keys.reserve(records.size());
    for (const auto& r : records) keys.push_back(r.key);
    std::unordered_map<std::string, LedgerEntry> ledger;
    for (auto& e : store_.ledger_find_many(process_id, keys)) ledger.emplace(e.source_key, std::move(e));
    return ledger;
}

void Run::report_progress() {
    if (options_.on_progress)
        options_.on_progress(RunProgress{run_id_, main_->compiled->config->id, pages_, counts_});
}

// Step 2: an intent still open was written before a create whose outcome never reached the
// store. Ask the target: adopt what it finds; otherwise close the intent — the record has not
// been committed past (cursor) or is still in the failed queue, so it will be created anew.
void Run::resolve_intents() {
    // The run's own process and its reverse processes, whose leases it holds. A dependency's
    // intents are resolved when a pull takes that dependency's lease (ensure_dependency).
    resolve_intents_of(main_->compiled->config->id);
    for (const auto& rp : main_->reverse)
        if (leases_.holds(rp)) resolve_intents_of(rp);
}

void Run::resolve_intents_of(const std::string& pid) {
    if (!leases_.holds(pid) || !intents_resolved_.insert(pid).second) return;
    {
        auto intents = store_.pending_intents(pid);
        if (intents.empty()) return;
        ProcessRuntime& p = runtime(pid);
        // An update's intent is not resolved by lookup (the record exists either way): the
        // record's next write goes out marked interrupted, and its intent stays open until
        // that write's own intent replaces it (take_interrupted).
        size_t updates = 0;
        for (const auto& intent : intents) {
            if (intent.op != "update") continue;
            InterruptedUpdate& u = interrupted_updates_[pid][intent.idempotency_key];
            u.intent_ids.push_back(intent.id);
            u.source_key = intent.source_key;
            ++updates;
        }
        if (updates > 0)
            log_line(LogLevel::info, tags(pid),
                     std::to_string(updates) + " update(s) of an interrupted run may still reach the target; "
                     "their records are written again marked interrupted");
        if (updates == intents.size()) return;
        ConnectorInstance& target = target_of(p);
        log_line(LogLevel::info, tags(pid),
                 "resolving " + std::to_string(intents.size() - updates) + " open intent(s) from an interrupted run");
        for (const auto& intent : intents) {
            if (intent.op == "update") continue;
            json data = json::parse(intent.payload_json, nullptr, false);
            if (data.is_discarded()) data = json::object();
            json request{{"entity", p.compiled->config->target.entity},
                         {"idempotency_key", intent.idempotency_key},
                         {"data", data}};
            CallResult r = target.lookup(request);
            if (!r.ok()) {
                if (r.status == PLEXUS_ERR_AUTH)
                    throw RunAbort(run_status::failed, "authentication failed at the target: " + r.text);
                throw RunAbort(run_status::failed,
                               "cannot resolve the open intent for source record " +
                                   intent.source_key + " (" + status_name(r.status) + "): " + r.text +
                                   "; nothing was written, the next run tries again");
            }
            json reply = json::parse(r.text, nullptr, false);
            PageCommit c;
            c.process_id = pid;
            c.intents_closed.push_back(intent.id);
            if (reply.is_object() && reply.value("found", false)) {
                // The record found carries its cursor: kept as the ledger's target cursor, so
                // that a two-way sync recognises it as our write (echo suppression) exactly as
                // after an uninterrupted create.
                const SourceRecord found = SourceRecord::from_json(reply.value("record", json::object()));
                const std::string& target_key = found.key;
                Pending pend;
                pend.hash = intent.payload_hash;
                pend.started_ms = clock_.now_ms();
                pend.recovered = true;
                // Aggregate intents carry every member key, one per line.
                std::string keys = intent.source_key;
                size_t pos = 0;
                while (pos <= keys.size()) {
                    size_t end = keys.find('\n', pos);
                    if (end == std::string::npos) end = keys.size();
                    pend.members.push_back(keys.substr(pos, end - pos));
                    pos = end + 1;
                }
                if (pend.members.size() == 1) {
                    pend.source.key = pend.members.front();
                    pend.members.clear();
                }
                add_success(c, pid, pend, action::created, target_key,
                            "adopted after an interrupted run (found by idempotency key)",
                            found.cursor);
            } else {
                interrupted_creates_[pid].insert(intent.idempotency_key);
            }
            commit(c);
        }
    }
}

Run::ReverseWrite Run::reverse_written(const ProcessRuntime& p, const SourceRecord& rec) {
    ReverseWrite w;
    for (const auto& rp : p.reverse) {
        auto e = store_.ledger_find_by_target(rp, rec.key);
        if (!e) continue;
        w.process = rp;
        // Its cursor still what our write left: nobody changed it since — an echo.
        w.kind = !rec.cursor.empty() && e->target_cursor == rec.cursor ? ReverseWrite::echo
                                                                        : ReverseWrite::changed;
        w.entry = std::move(*e);
        break;
    }
    return w;
}

void Run::ensure_dependency(const Dependency& dep, const std::string& key) {
    if (key.empty() || store_.ledger_find(dep.process, key)) return;
    // Every writer for a process holds its lease. While the dependency's own run holds it,
    // wait (bounded) for that run to sync the record; never write it alongside that run.
    const std::vector<std::string> wanted = lease_set(hub_.config(), dep.process);
    const std::string label = "pull for run " + std::to_string(run_id_) + " of " +
                              main_->compiled->config->id;
    const bool waited_before = busy_dependencies_.count(dep.process) > 0;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(waited_before ? 0 : options_.dependency_wait_ms);
    std::vector<std::string> taken;
    std::string busy;
    bool told = false;  // options_.on_wait heard of this wait
    struct Told {
        const WaitObserver& on_wait;
        bool& told;
        ~Told() {
            if (told) on_wait(WaitReason{});
        }
    } told_guard{options_.on_wait, told};
    while (!leases_.take_all(wanted, label, busy, &taken)) {
        if (!told && options_.on_wait) {
            WaitReason w;
            w.kind = WaitReason::Kind::other_run;
            w.ms = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            deadline - std::chrono::steady_clock::now()).count());
            w.holder = busy;
            options_.on_wait(w);
            told = true;
        }
        if (store_.ledger_find(dep.process, key)) return;  // its own run synced it meanwhile
        if (cancelled()) throw RunAbort(run_status::partial, "cancelled; the next run resumes at the cursor");
        if (std::chrono::steady_clock::now() >= deadline) {
            const std::string why =
                busy + ", and " + dep.process + " has not synced " + key +
                " yet; this record waits in the failed queue: replay it once that run has ended";
            busy_dependencies_[dep.process] = why;
            throw std::runtime_error(why);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    struct Give {
        Leases& leases;
        const std::vector<std::string>& ids;
        ~Give() { leases.release(ids); }
    } give{leases_, taken};
    busy_dependencies_.erase(dep.process);
    for (const auto& pid : wanted) resolve_intents_of(pid);
    if (store_.ledger_find(dep.process, key)) return;  // synced while we waited for the lease
    ProcessRuntime& p = runtime(dep.process);
    const ProcessConfig& cfg = *p.compiled->config;
    CallResult r = source_of(p).lookup(json{{"entity", cfg.source.entity}, {"key", key}});
    if (!r.ok())
        throw std::runtime_error("could not read " + cfg.source.entity + " " + key + " for process " +
                                 dep.process + ": " + r.text);
    json reply = json::parse(r.text, nullptr, false);
    if (!reply.is_object() || !reply.value("found", false))
        throw std::runtime_error(cfg.source.entity + " " + key + " was not found in the source of process " +
                                 dep.process);
    Pending pend;
    pend.source = SourceRecord::from_json(reply.value("record", json::object()));
    if (pend.source.key.empty()) pend.source.key = key;
    pend.started_ms = clock_.now_ms();
    pend.mapped = p.compiled->mapping->apply(pend.source.data, ref_resolver());
    pend.text = canonical_text(pend.mapped);
    pend.hash = payload_hash_of_text(pend.text);
    pend.op = "create";
    pend.idempotency_key = idempotency_key(dep.process, pend.source.key);
    PageCommit c;
    c.process_id = dep.process;
    // Two-way: a record the dependency's reverse process wrote is linked, never created again.
    const ReverseWrite reverse = reverse_written(p, pend.source);
    if (reverse.kind == ReverseWrite::echo) {
        add_success(c, dep.process, pend, action::unchanged, reverse.entry.source_key,
                    "written by process " + reverse.process + "; not synced back");
        c.ledger.push_back({pend.source.key, reverse.entry.source_key, pend.hash, ""});
        commit(c);
        return;
    }
    if (reverse.kind == ReverseWrite::changed) {
        pend.op = "update";
        pend.target_key = reverse.entry.source_key;
    }
    std::vector<Pending> batch{std::move(pend)};
    write_batch(p, batch, c);
    bool failed = !c.failed.empty();
    std::string why = failed ? c.failed.front().message : std::string();
    commit(c);
    if (failed) throw std::runtime_error("syncing it failed: " + why);
}

std::vector<Intent> Run::intents_for(const ProcessConfig& cfg, const std::vector<Pending>& batch,
                                     std::vector<size_t>& index) {
    std::vector<Intent> intents;
    index.clear();
    const int64_t intents_ms = clock_.now_ms();
    for (size_t i = 0; i < batch.size(); ++i) {
        if (batch[i].op != "create" && batch[i].op != "update") continue;
        Intent in;
        in.op = batch[i].op;
        in.target_key = batch[i].op == "update" ? batch[i].target_key : std::string();
        in.process_id = cfg.id;
        in.run_id = run_id_;
        if (batch[i].members.empty()) {
            in.source_key = batch[i].source.key;
        } else {
            for (const auto& m : batch[i].members) in.source_key += (in.source_key.empty() ? "" : "\n") + m;
        }
        in.idempotency_key = batch[i].idempotency_key;
        in.payload_json = batch[i].text;
        in.payload_hash = batch[i].hash;
        in.created_ms = intents_ms;
        intents.push_back(std::move(in));
        index.push_back(i);
    }
    return intents;
}

void Run::take_interrupted(const std::string& pid, std::vector<Pending>& batch,
                           std::vector<int64_t>& close) {
    auto updates = interrupted_updates_.find(pid);
    auto creates = interrupted_creates_.find(pid);
    if (updates == interrupted_updates_.end() && creates == interrupted_creates_.end()) return;
    for (auto& b : batch) {
        if (b.idempotency_key.empty()) continue;
        if (updates != interrupted_updates_.end()) {
            if (auto u = updates->second.find(b.idempotency_key); u != updates->second.end()) {
                b.interrupted = true;
                close.insert(close.end(), u->second.intent_ids.begin(), u->second.intent_ids.end());
                updates->second.erase(u);
            }
        }
        if (creates != interrupted_creates_.end() && creates->second.erase(b.idempotency_key) > 0)
            b.interrupted = true;
    }
}

void Run::close_untaken_interrupted_updates() {
    const std::string& pid = main_->compiled->config->id;
    auto updates = interrupted_updates_.find(pid);
    if (updates == interrupted_updates_.end() || updates->second.empty()) return;
    PageCommit c;
    c.process_id = pid;
    for (auto u = updates->second.begin(); u != updates->second.end();) {
        // A record waiting for replay keeps its intent: the replay sends it marked interrupted.
        if (store_.failed_record(pid, u->second.source_key)) {
            ++u;
            continue;
        }
        c.intents_closed.insert(c.intents_closed.end(), u->second.intent_ids.begin(),
                                u->second.intent_ids.end());
        u = updates->second.erase(u);
    }
    if (c.intents_closed.empty()) return;
    log_line(LogLevel::info, tags(pid),
             std::to_string(c.intents_closed.size()) +
                 " open update intent(s) of an interrupted run closed: their records were read "
                 "again and needed no write");
    commit(c);
}

void Run::write_batch(ProcessRuntime& p, std::vector<Pending>& batch, PageCommit& c,
                      bool intents_open) {
    if (batch.empty()) return;
    const ProcessConfig& cfg = *p.compiled->config;
    const std::string& pid = cfg.id;
    ConnectorInstance& target = target_of(p);

    // Step 5: intents for the creates, committed before anything is sent.
    if (!intents_open) {
        std::vector<size_t> intent_index;
        std::vector<Intent> intents = intents_for(cfg, batch, intent_index);
        std::vector<int64_t> taken_over;
        take_interrupted(pid, batch, taken_over);
        if (!intents.empty() || !taken_over.empty()) {
            // Committed like a page (fenced): a run that lost its lease opens nothing.
            PageCommit ic;
            ic.process_id = pid;
            ic.run_id = run_id_;
            ic.now_ms = clock_.now_ms();
            ic.intents_opened = std::move(intents);
            ic.intents_closed = std::move(taken_over);
            ic.fences = leases_.fences();
            auto ids = store_.commit_page(ic);
            for (size_t j = 0; j < ids.size(); ++j) batch[intent_index[j]].intent_id = ids[j];
        }
    }

    // Step 6: the write.
    // The request is assembled from each record's canonical text, already made for the hash.
    std::string request = "{\"entity\":" + json(cfg.target.entity).dump() + ",\"records\":[";
    for (size_t i = 0; i < batch.size(); ++i) {
        const Pending& b = batch[i];
        if (i) request += ',';
        request += "{\"op\":\"" + b.op + "\",\"idempotency_key\":" + json(b.idempotency_key).dump();
        if (b.op == "update") request += ",\"target_key\":" + json(b.target_key).dump();
        if (b.interrupted) request += ",\"interrupted\":true";
        request += ",\"data\":";
        request += b.text;
        request += '}';
    }
    request += "]}";
    CallResult result = target.write_batch_text(request);
    json reply;
    if (result.ok()) {
        reply = json::parse(result.text, nullptr, false);
        if (!reply.is_object() || !reply.contains("results") || !reply["results"].is_array() ||
            reply["results"].size() != batch.size()) {
            result.status = PLEXUS_ERR_PLUGIN;
            result.text = "the connector's write reply is malformed or has the wrong number of results";
        }
    }
    if (!result.ok()) {
        if (result.status == PLEXUS_ERR_AUTH)
            throw RunAbort(run_status::failed, "authentication failed at the target: " + result.text);
        if (result.status == PLEXUS_ERR_RATE_LIMIT || result.status == PLEXUS_ERR_CANCELLED)
            throw RunAbort(run_status::partial,
                           std::string(result.status == PLEXUS_ERR_CANCELLED ? "cancelled" : "API budget spent") +
                               " while writing; the next run resumes here: " + result.text);
        // The whole batch failed. A transient failure may still have created records: those
        // intents stay open and are resolved by lookup on the next run.
        for (auto& b : batch) {
            fail_pending(c, pid, b, class_of(result.status), "write failed: " + result.text,
                         result.text);
            if (b.intent_id && result.status != PLEXUS_ERR_TRANSIENT) c.intents_closed.push_back(b.intent_id);
        }
        return;
    }

    std::vector<Pending> conflicts;
    for (size_t i = 0; i < batch.size(); ++i) {
        Pending& b = batch[i];
        const json& r = reply["results"][i];
        auto status = static_cast<plexus_status>(r.value("status", static_cast<int>(PLEXUS_ERR_PLUGIN)));
        if (status == PLEXUS_OK) {
            std::string key = r.value("target_key", b.target_key);
            add_success(c, pid, b, b.op == "create" ? action::created : action::updated, key, {},
                        r.value("cursor", std::string()));
            if (b.intent_id) c.intents_closed.push_back(b.intent_id);
            continue;
        }
        std::string message = r.value("message", std::string("no message"));
        if (status == PLEXUS_ERR_AUTH)
            throw RunAbort(run_status::failed, "authentication failed at the target: " + message);
        if (status == PLEXUS_ERR_CONFLICT && b.op == "create") {
            conflicts.push_back(b);
            conflicts.back().conflict_message = message;
            continue;
        }
        fail_pending(c, pid, b, class_of(status), message, message);
        if (b.intent_id && status != PLEXUS_ERR_TRANSIENT) c.intents_closed.push_back(b.intent_id);
    }

    // A create refused because the record exists: find it and bring it up to date, so the
    // ledger links the two (the customer already in the shop, matched by e-mail).
    std::vector<Pending> updates;
    for (auto& b : conflicts) {
        CallResult lr = target.lookup(json{{"entity", cfg.target.entity},
                                           {"idempotency_key", b.idempotency_key},
                                           {"data", b.mapped}});
        json found = lr.ok() ? json::parse(lr.text, nullptr, false) : json();
        if (b.intent_id) c.intents_closed.push_back(b.intent_id);
        if (lr.ok() && found.is_object() && found.value("found", false)) {
            b.op = "update";
            b.target_key = SourceRecord::from_json(found.value("record", json::object())).key;
            b.intent_id = 0;
            updates.push_back(std::move(b));
        } else {
            add_failure(c, pid, b.source, error_class::conflict, b.conflict_message, b.started_ms,
                        &b, b.conflict_message + " (and a look-up found no record to update)");
        }
    }
    if (!updates.empty()) write_batch(p, updates, c);
}

void Run::process_records(std::vector<SourceRecord> records, std::optional<CursorState> cursor) {
    const ProcessConfig& cfg = *main_->compiled->config;
    const std::string& pid = cfg.id;
    PageCommit c;
    c.process_id = pid;
    c.counts.read = static_cast<int64_t>(records.size());

    auto ledger = ledger_of(pid, records);
    RefResolver resolver = ref_resolver();

    std::vector<Pending> to_write;
    int64_t page_start = clock_.now_ms();
    for (auto& rec : records) {
        Pending p;
        p.started_ms = page_start;
        try {
            for (const auto& dep : cfg.dependencies) {
                std::string dep_key = key_at(rec.data, dep.key_path);
                try {
                    ensure_dependency(dep, dep_key);
                } catch (const RunAbort&) {
                    throw;
                } catch (const ConnectorWorkerLost&) {
                    throw;  // the connector's worker died: the run fails, not the record
                } catch (const std::exception& e) {
                    throw std::runtime_error("dependency " + dep.process + " for " + dep.key_path + " " +
                                             dep_key + ": " + e.what());
                }
            }
            p.mapped = main_->compiled->mapping->apply(rec.data, resolver);
        } catch (const RunAbort&) {
            throw;
        } catch (const ConnectorWorkerLost&) {
            throw;
        } catch (const MappingError& e) {
            add_failure(c, pid, rec, error_class::mapping,
                        "record " + rec.key + ": field " + e.field + ": " + e.problem, page_start);
            continue;
        } catch (const std::exception& e) {
            add_failure(c, pid, rec, error_class::dependency, "record " + rec.key + ": " + e.what(),
                        page_start);
            continue;
        }
        p.text = canonical_text(p.mapped);
        p.hash = payload_hash_of_text(p.text);
        auto it = ledger.find(rec.key);
        const LedgerEntry* known = it == ledger.end() ? nullptr : &it->second;
        // Two-way sync: was this record last written by the reverse process?
        LedgerEntry linked;
        const ReverseWrite reverse = reverse_written(*main_, rec);
        if (reverse.kind == ReverseWrite::echo) {
            p.source = std::move(rec);
            add_success(c, pid, p, action::unchanged, reverse.entry.source_key,
                        "written by process " + reverse.process + "; not synced back");
            // Link the pair in this process's ledger too, with what it would write now.
            c.ledger.push_back(
                {p.source.key, reverse.entry.source_key, p.hash, known ? known->target_cursor : ""});
            continue;
        }
        // Changed since the reverse process wrote it: update the record it came from, never
        // create a second one.
        if (reverse.kind == ReverseWrite::changed && !known) {
            linked = LedgerEntry{rec.key, reverse.entry.source_key, {}, 0, {}};
            known = &linked;
        }
        Decision d = decide(known, p.hash);
        // An update of an interrupted run may still land with what it sent: the ledger's hash
        // no longer says what the target holds, so the record is written again.
        if (d.what == WriteDecision::unchanged && known && !interrupted_updates_.empty() &&
            interrupted_update(pid, idempotency_key(pid, rec.key)))
            d.what = WriteDecision::update;
        if (d.what == WriteDecision::unchanged) {
            p.source = std::move(rec);
            add_success(c, pid, p, action::unchanged, d.target_key);
            continue;
        }
        p.op = d.what == WriteDecision::create ? "create" : "update";
        p.target_key = std::move(d.target_key);
        p.idempotency_key = idempotency_key(pid, rec.key);
        p.source = std::move(rec);
        to_write.push_back(std::move(p));
    }

    // Steps 6 and 7: write in batches; each batch's outcomes commit on their own, and the
    // cursor moves with the last one, when every record of the page has a durable outcome.
    // A batch's commit also opens the next batch's intents (step 5): they are durable
    // before that batch is sent, as they must be, for one commit (and fsync) less.
    const size_t batch_size = static_cast<size_t>(std::max(1, cfg.batch_size));
    std::vector<std::vector<Pending>> batches;
    for (size_t start = 0; start < to_write.size(); start += batch_size)
        batches.emplace_back(std::make_move_iterator(to_write.begin() + start),
                             std::make_move_iterator(to_write.begin() +
                                                     std::min(to_write.size(), start + batch_size)));
    const auto cancel = [] {
        return RunAbort(run_status::partial, "cancelled; the next run resumes at the cursor");
    };
    if (!batches.empty() && cancelled()) throw cancel();
    for (size_t k = 0; k < batches.size(); ++k) {
        write_batch(*main_, batches[k], c, /*intents_open=*/k > 0);
        batches[k].clear();
        if (k + 1 == batches.size()) break;
        if (cancelled()) {
            commit(c);
            throw cancel();
        }
        std::vector<size_t> index;
        c.intents_opened = intents_for(cfg, batches[k + 1], index);
        take_interrupted(pid, batches[k + 1], c.intents_closed);
        const std::vector<int64_t> ids = commit(c);
        for (size_t j = 0; j < ids.size() && j < index.size(); ++j)
            batches[k + 1][index[j]].intent_id = ids[j];
        c.process_id = pid;
        report_progress();
    }
    c.cursor = std::move(cursor);
    c.inbox_read = std::move(page_inbox_read_);
    page_inbox_read_.reset();
    commit(c);
    report_progress();
}

void Run::process_aggregate(std::vector<SourceRecord> records, std::optional<CursorState> cursor) {
    const ProcessConfig& cfg = *main_->compiled->config;
    const std::string& pid = cfg.id;
    PageCommit c;
    c.process_id = pid;
    c.counts.read = static_cast<int64_t>(records.size());

    auto ledger = ledger_of(pid, records);
    RefResolver resolver = ref_resolver();

    // A member already summed into an earlier posting is never posted again: postings are
    // append-only, so a re-read (crash, rewind) cannot double-count.
    int64_t page_start = clock_.now_ms();
    std::vector<json> mapped;
    std::vector<SourceRecord> members;
    for (auto& rec : records) {
        auto it = ledger.find(rec.key);
        if (it != ledger.end()) {
            Pending p;
            p.source = rec;
            p.hash = it->second.payload_hash;
            p.started_ms = page_start;
            add_success(c, pid, p, action::unchanged, it->second.target_key,
                        "already part of an earlier posting");
            continue;
        }
        try {
            mapped.push_back(main_->compiled->mapping->apply(rec.data, resolver));
            members.push_back(std::move(rec));
        } catch (const MappingError& e) {
            add_failure(c, pid, rec, error_class::mapping,
                        "record " + rec.key + ": field " + e.field + ": " + e.problem, page_start);
        }
    }
    std::vector<AggregateGroup> groups;
    try {
        groups = aggregate(main_->compiled->aggregate, mapped);
    } catch (const MappingError& e) {
        // A value that cannot be summed: nothing of this page is posted, every member is
        // kept for replay with the reason.
        for (const auto& m : members)
            add_failure(c, pid, m, error_class::mapping, "aggregate: field " + e.field + ": " + e.problem,
                        page_start);
        members.clear();
    }
    std::vector<Pending> to_write;
    for (auto& g : groups) {
        Pending p;
        p.started_ms = page_start;
        p.mapped = std::move(g.record);
        p.text = canonical_text(p.mapped);
        p.hash = payload_hash_of_text(p.text);
        p.op = "create";
        std::string identity = g.group_key;
        for (size_t m : g.members) {
            p.members.push_back(members[m].key);
            p.member_records.push_back(members[m]);
            identity += '\n' + members[m].key;
        }
        p.source.key = g.group_key;
        p.idempotency_key = idempotency_key(pid, identity);
        to_write.push_back(std::move(p));
    }
    size_t batch_size = static_cast<size_t>(std::max(1, cfg.batch_size));
    for (size_t start = 0; start < to_write.size(); start += batch_size) {
        std::vector<Pending> batch(std::make_move_iterator(to_write.begin() + start),
                                   std::make_move_iterator(to_write.begin() +
                                                           std::min(to_write.size(), start + batch_size)));
        write_batch(*main_, batch, c);
    }
    c.cursor = std::move(cursor);
    c.inbox_read = std::move(page_inbox_read_);
    page_inbox_read_.reset();
    commit(c);
    report_progress();
}

void Run::run_incremental() {
    const ProcessConfig& cfg = *main_->compiled->config;
    ConnectorInstance& source = source_of(*main_);
    target_of(*main_);
    CursorState state = store_.cursor(cfg.id);
    std::optional<int64_t> lease_renewed_ms;  // renewed before the first page (resolving
                                              // intents may have taken long), then as due
    // An entity fed by webhooks: its page's records come from the stored events after the
    // cursor, handed to the connector in the request (docs/sdk.md, "Entities fed by
    // webhooks"); the cursor is the decimal seq of the last event consumed.
    bool inbox = false;
    if (const ConnectionConfig* conn = hub_.config().connection(cfg.source.connection)) {
        if (const json* m = hub_.registry().manifest(conn->connector))
            inbox = is_inbox_entity(*m, cfg.source.entity);
    }
    while (true) {
        if (cancelled()) throw RunAbort(run_status::partial, "cancelled; the next run resumes at the cursor");
        if (const int64_t now = clock_.now_ms();
            !lease_renewed_ms || now - *lease_renewed_ms >= kLeaseRenewAfterMs) {
            leases_.renew_all();
            lease_renewed_ms = now;
        }
        json request{{"entity", cfg.source.entity},
                     {"cursor", state.cursor ? json(*state.cursor) : json(nullptr)},
                     {"since", state.since ? json(*state.since) : json(nullptr)},
                     {"limit", cfg.page_size},
                     {"filter", cfg.source.filter}};
        int64_t inbox_after = 0, inbox_last = 0;
        if (inbox) {
            const auto after = parse_inbox_cursor(state.cursor);
            if (!after)
                throw RunAbort(run_status::failed,
                               "the stored cursor of " + cfg.source.entity +
                                   " is not an event seq; rewind the process to read its events "
                                   "again");
            inbox_after = *after;
            int64_t since_ms = 0;
            if (!state.cursor && state.since) since_ms = parse_time_ms(*state.since).value_or(0);
            const int64_t limit = std::max(1, cfg.page_size);
            auto rows = store_.inbox_events_after(cfg.source.connection, inbox_after, since_ms, limit + 1);
            const bool more = static_cast<int64_t>(rows.size()) > limit;
            if (more) rows.resize(static_cast<size_t>(limit));
            json events = json::array();
            for (auto& e : rows) {
                json body = json::parse(e.body, nullptr, false);
                events.push_back({{"seq", e.seq},
                                  {"id", std::move(e.event_id)},
                                  {"topic", std::move(e.topic)},
                                  {"received_at", iso_utc(e.received_ms)},
                                  {"body", body.is_discarded() ? json(std::move(e.body)) : std::move(body)}});
                inbox_last = e.seq;
            }
            request["events"] = std::move(events);
            request["events_more"] = more;
        }
        CallResult r = source.read_page(request);
        if (!r.ok()) {
            std::string what = std::string("reading ") + cfg.source.entity + " failed (" +
                               status_name(r.status) + "): " + r.text;
            if (r.status == PLEXUS_ERR_RATE_LIMIT || r.status == PLEXUS_ERR_CANCELLED)
                throw RunAbort(run_status::partial, what + "; the next run resumes at the cursor");
            throw RunAbort(run_status::failed, what);
        }
        json reply = json::parse(r.text, nullptr, false);
        if (!reply.is_object() || !reply.contains("records") || !reply["records"].is_array())
            throw RunAbort(run_status::failed, "the source connector's page reply is malformed");
        std::vector<SourceRecord> records;
        records.reserve(reply["records"].size());
        for (auto& j : reply["records"]) records.push_back(SourceRecord::from_json(std::move(j)));
        bool has_more = reply.value("has_more", false);
        CursorState next;
        next.cursor = reply.value("next_cursor", std::string());
        if (next.cursor->empty()) {
            next.cursor = state.cursor;
            next.since = state.since;
        }
        if (inbox) {
            // The cursor may only move over events the connector was given: anything else
            // would skip events it never saw (or re-read a seq it claims to have consumed).
            const auto through = parse_inbox_cursor(next.cursor);
            if (!through || *through < inbox_after || *through > std::max(inbox_after, inbox_last))
                throw RunAbort(run_status::failed,
                               "the source connector returned the cursor \"" +
                                   next.cursor.value_or("") + "\" for " + cfg.source.entity +
                                   ", an inbox entity: it must be the seq of an event of the page (" +
                                   std::to_string(inbox_after) + " to " + std::to_string(inbox_last) + ")");
            if (*through > inbox_after)
                page_inbox_read_ = InboxRead{cfg.source.connection, cfg.id, run_id_, inbox_after, *through, 0};
            // A page that consumed nothing cannot make progress: stop rather than ask again.
            if (*through == inbox_after) has_more = false;
        }
        ++pages_;
        if (cfg.mode == "aggregate") process_aggregate(std::move(records), next);
        else process_records(std::move(records), next);
        page_inbox_read_.reset();
        state = next;
        if (!has_more) break;
    }
}

void Run::run_replay() {
    const ProcessConfig& cfg = *main_->compiled->config;
    source_of(*main_);
    target_of(*main_);
    const int64_t page = std::max(1, cfg.page_size);
    if (options_.replay_keys) {
        // Selected records: in chunks of a page, in the order given.
        const auto& keys = *options_.replay_keys;
        for (size_t i = 0; i < keys.size(); i += static_cast<size_t>(page)) {
            if (cancelled()) throw RunAbort(run_status::partial, "cancelled");
            std::vector<SourceRecord> records;
            for (size_t j = i; j < std::min(keys.size(), i + static_cast<size_t>(page)); ++j) {
                auto f = store_.failed_record(cfg.id, keys[j]);
                if (!f) continue;
                SourceRecord r = SourceRecord::from_json(json::parse(f->record_json, nullptr, false));
                if (r.key.empty()) r.key = f->source_key;
                records.push_back(std::move(r));
            }
            if (records.empty()) continue;
            ++pages_;
            if (cfg.mode == "aggregate") process_aggregate(std::move(records), std::nullopt);
            else process_records(std::move(records), std::nullopt);
        }
        return;
    }
    // Page through the queue (oldest failure first). A record that succeeds leaves the
    // queue; one that fails again keeps its place — so the next page starts after the
    // records of this one that are still there.
    int64_t offset = 0;
    while (true) {
        if (cancelled()) throw RunAbort(run_status::partial, "cancelled");
        auto failed = store_.failed_records(cfg.id, page, offset);
        if (failed.empty()) break;
        std::vector<SourceRecord> records;
        for (auto& f : failed) {
            SourceRecord r = SourceRecord::from_json(json::parse(f.record_json, nullptr, false));
            if (r.key.empty()) r.key = f.source_key;
            records.push_back(std::move(r));
        }
        ++pages_;
        int64_t failed_before = counts_.failed;
        if (cfg.mode == "aggregate") process_aggregate(std::move(records), std::nullopt);
        else process_records(std::move(records), std::nullopt);
        offset += counts_.failed - failed_before;
        if (static_cast<int64_t>(failed.size()) < page) break;
    }
}

}  // namespace


std::string lease_owner_name() {
    static const std::string name = [] {
        char host[256] = {0};
        gethostname(host, sizeof(host) - 1);
        std::random_device rd;
        return std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(rd());
    }();
    return name;
}

namespace {

// One lookup through a connector: the reply, or nullopt with `error` set.
std::optional<json> lookup_reply(ConnectorInstance& c, const json& request, std::string& error) {
    CallResult r = c.lookup(request);
    if (!r.ok()) {
        error = std::string(status_name(r.status)) + ": " + r.text;
        return std::nullopt;
    }
    json reply = json::parse(r.text, nullptr, false);
    if (!reply.is_object()) {
        error = "the connector's lookup reply is malformed";
        return std::nullopt;
    }
    return reply;
}

std::string found_key(const json& reply) {
    if (!reply.value("found", false)) return {};
    const json rec = reply.value("record", json::object());
    auto k = rec.find("key");
    if (k == rec.end()) return {};
    return k->is_string() ? k->get<std::string>() : k->dump();
}

}  // namespace

ReconcileReport SyncEngine::reconcile(const std::string& process_id, const ReconcileOptions& options) {
    Store& store = hub_.store();
    Clock& clock = hub_.clock();
    const CompiledProcess& compiled = hub_.process(process_id);  // throws for an unknown process
    const ProcessConfig& cfg = *compiled.config;
    ReconcileReport report;
    report.process_id = process_id;
    Leases leases(store, clock);
    std::string busy;
    if (!leases.take_all(lease_set(hub_.config(), process_id), "reconcile of " + process_id, busy)) {
        report.status = "skipped";
        report.message = "process " + process_id + " is running (" + busy + "); try again when it has ended";
        return report;
    }
    const LogTags tags{process_id, 0, {}, {}};
    const bool aggregate = cfg.mode == "aggregate";
    try {
        auto target = hub_.open(cfg.target.connection, tags, options.cancel);
        const auto cancelled = [&] { return options.cancel && options.cancel->load(); };
        int64_t checked = 0;
        const auto progress = [&] {
            if (options.on_progress && ++checked % 50 == 0) options.on_progress(checked);
        };
        // 1. Ledger entries: is the target record still there; does a second one carry the tag?
        std::string after;
        while (!cancelled()) {
            auto page = store.ledger_page(process_id, after, 500);
            if (page.empty()) break;
            after = page.back().source_key;
            for (const auto& e : page) {
                if (cancelled()) break;
                ++report.ledger_entries;
                progress();
                std::string error;
                auto by_key = lookup_reply(*target, json{{"entity", cfg.target.entity}, {"key", e.target_key}}, error);
                if (!by_key) {
                    report.findings.push_back({"unverifiable", e.source_key, e.target_key, "lookup by target key failed: " + error});
                } else if (!by_key->value("found", false)) {
                    report.findings.push_back({"missing_in_target", e.source_key, e.target_key,
                                               "the ledger names " + e.target_key + ", which the target does not have"});
                }
                if (aggregate) continue;  // postings carry a group's key, not a record's
                auto by_tag = lookup_reply(
                    *target,
                    json{{"entity", cfg.target.entity}, {"idempotency_key", idempotency_key(process_id, e.source_key)}},
                    error);
                if (!by_tag) continue;  // reported above if the connector cannot look up at all
                const std::string tagged = found_key(*by_tag);
                const int64_t matches = by_tag->value("matches", int64_t{0});
                if ((!tagged.empty() && tagged != e.target_key) || matches > 1)
                    report.findings.push_back(
                        {"duplicate", e.source_key, tagged,
                         "the target holds " + (matches > 1 ? std::to_string(matches) : std::string("2")) +
                             " records carrying this record's idempotency key (the ledger names " + e.target_key + ")"});
            }
        }
        // 2. Open intents and failed records: in the target without a ledger entry?
        const auto check_unledgered = [&](const std::string& source_key, const std::string& idem,
                                          const json& data, const std::string& hash,
                                          std::vector<int64_t> intent_ids, const std::string& what) {
            if (store.ledger_find(process_id, source_key)) return;
            std::string error;
            auto reply = lookup_reply(
                *target, json{{"entity", cfg.target.entity}, {"idempotency_key", idem}, {"data", data}}, error);
            if (!reply) {
                report.findings.push_back({"unverifiable", source_key, "", what + ": lookup failed: " + error});
                return;
            }
            const std::string key = found_key(*reply);
            if (key.empty()) return;
            ReconcileFinding f{"not_in_ledger", source_key, key,
                               what + "; the target has " + key + " carrying its idempotency key"};
            const bool unambiguous = reply->value("matches", int64_t{1}) <= 1;
            if (options.adopt && unambiguous && source_key.find('\n') == std::string::npos) {
                const json rec = reply->value("record", json::object());
                const std::string cursor = rec.contains("cursor") && rec["cursor"].is_string()
                                               ? rec["cursor"].get<std::string>() : std::string();
                store.adopt_into_ledger(process_id, LedgerUpsert{source_key, key, hash, cursor}, intent_ids,
                                        options.actor.empty() ? "reconcile" : options.actor, clock.now_ms());
                f.adopted = true;
                ++report.adopted;
            } else if (options.adopt) {
                f.detail += unambiguous ? " (an aggregate's intent: left to the next run)"
                                        : " (several records carry it: not adopted, resolve by hand)";
            }
            report.findings.push_back(std::move(f));
        };
        for (const auto& in : store.pending_intents(process_id)) {
            if (cancelled()) break;
            ++report.open_intents;
            progress();
            json data = json::parse(in.payload_json, nullptr, false);
            if (data.is_discarded()) data = json::object();
            check_unledgered(in.source_key, in.idempotency_key, data, in.payload_hash, {in.id},
                             "an open intent of run " + std::to_string(in.run_id));
        }
        for (int64_t offset = 0; !cancelled();) {
            auto failed = store.failed_records(process_id, 500, offset, FailedState::any);
            for (const auto& f : failed) {
                ++report.failed_records;
                progress();
                if (aggregate) continue;
                check_unledgered(f.source_key, idempotency_key(process_id, f.source_key), json::object(), "", {},
                                 "a record in the failed queue");
            }
            if (failed.size() < 500) break;
            offset += 500;
        }
        if (cancelled()) {
            report.status = "failed";
            report.message = "cancelled";
        }
    } catch (const std::exception& e) {
        report.status = "failed";
        report.message = global_redactor().redact(e.what());
    }
    for (auto& f : report.findings) f.detail = global_redactor().redact(f.detail);
    if (report.status.empty()) report.status = report.findings.empty() ? "clean" : "findings";
    if (report.message.empty())
        report.message = std::to_string(report.ledger_entries) + " ledger entries, " +
                         std::to_string(report.open_intents) + " open intents and " +
                         std::to_string(report.failed_records) + " failed records checked; " +
                         std::to_string(report.findings.size()) + " finding(s), " +
                         std::to_string(report.adopted) + " adopted";
    log_line(report.status == "clean" ? LogLevel::info : LogLevel::warn, tags, "reconcile " + report.status + ": " + report.message);
    return report;
}

int SyncEngine::close_orphaned_runs() {
    Store& store = hub_.store();
    int closed = 0;
    for (const auto& p : hub_.config().processes) {
        const int64_t now = hub_.clock().now_ms();
        // A lease held by a live run (here or on another host) means its run row is live.
        if (store.lease_holder(p.id, now) && !take_over_dead_lease(store, p.id, now)) continue;
        const int n = store.abandon_running(p.id, now);
        if (n > 0)
            log_line(LogLevel::warn, LogTags{p.id, 0, {}, {}},
                     std::to_string(n) + " run(s) left running by a host that stopped are marked "
                                         "abandoned; their open intents are resolved by the next run");
        closed += n;
    }
    return closed;
}

RunSummary SyncEngine::run(const std::string& process_id, const RunOptions& options) {
    return execute(process_id, options, false);
}

RunSummary SyncEngine::replay(const std::string& process_id, const RunOptions& options) {
    return execute(process_id, options, true);
}

RunSummary SyncEngine::execute(const std::string& process_id, const RunOptions& options, bool replay) {
    Store& store = hub_.store();
    Clock& clock = hub_.clock();
    hub_.process(process_id);  // throws for an unknown process
    RunSummary summary;
    int64_t started = clock.steady_ms();
    // Step 1: the leases — one writer per process at a time, across threads and hosts; a
    // two-way sync's reverse process is held too (its ledger is then complete for the echo
    // check). A dependency pull holds a lease for seconds: worth a short wait, not a skip.
    Leases leases(store, clock);
    const std::vector<std::string> wanted = lease_set(hub_.config(), process_id);
    std::string busy;
    const auto pull_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    bool taken = leases.take_all(wanted, (replay ? "replay of " : "run of ") + process_id, busy);
    bool told = false;  // options.on_wait heard of the wait for the pull
    while (!taken && held_by_pull(busy) && std::chrono::steady_clock::now() < pull_deadline &&
           !(options.cancel && options.cancel->load())) {
        if (!told && options.on_wait) {
            WaitReason w;
            w.kind = WaitReason::Kind::other_run;
            w.ms = 15000;
            w.holder = busy;
            options.on_wait(w);
            told = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        taken = leases.take_all(wanted, (replay ? "replay of " : "run of ") + process_id, busy);
    }
    if (told) options.on_wait(WaitReason{});
    if (!taken) {
        summary.status = "skipped";
        summary.message = "process " + process_id + " is already running: " + busy;
        // Debug only: every caller says it in its own words, once (the scheduler warns of
        // a skipped run, or notes once that a run-all member waits for the other run and
        // retries it; `plexus run` prints the summary).
        log_line(LogLevel::debug, LogTags{process_id, 0, {}, {}}, summary.message);
        return summary;
    }

    // A run still marked running while we hold the lease belongs to a host that died.
    for (const auto& pid : wanted) store.abandon_running(pid, clock.now_ms());
    summary.run_id = store.begin_run(process_id, replay ? "replay" : options.trigger, clock.now_ms());
    LogTags tags{process_id, summary.run_id, {}, {}};
    log_line(LogLevel::info, tags, replay ? "replay started" : "run started");
    if (options.on_progress) options.on_progress(RunProgress{summary.run_id, process_id, 0, {}});

    std::string status = run_status::succeeded;
    std::string message;
    try {
        Run run(hub_, process_id, options, summary.run_id, leases);
        run.resolve_intents();
        if (replay) {
            run.run_replay();
        } else {
            run.run_incremental();
            run.close_untaken_interrupted_updates();
        }
        // Honest status: a run that reached the end with failed records did not succeed.
        if (run.counts().failed > 0) status = run_status::succeeded_with_failures;
    } catch (const RunAbort& e) {
        status = e.status;
        message = e.what();
    } catch (const std::exception& e) {
        status = run_status::failed;
        message = e.what();
    }
    message = global_redactor().redact(message);
    try {
        store.finish_run(summary.run_id, status, message, clock.now_ms());
    } catch (const std::exception& e) {
        log_line(LogLevel::error, tags, std::string("could not record the end of the run: ") + e.what());
    }
    if (auto rec = store.run(summary.run_id)) summary.counts = rec->counts;
    summary.status = status;
    summary.message = message;
    summary.duration_ms = clock.steady_ms() - started;
    log_line(status == run_status::succeeded ? LogLevel::info : LogLevel::warn, tags,
             "run " + status + ": read " + std::to_string(summary.counts.read) + ", created " +
                 std::to_string(summary.counts.created) + ", updated " +
                 std::to_string(summary.counts.updated) + ", unchanged " +
                 std::to_string(summary.counts.unchanged) + ", failed " +
                 std::to_string(summary.counts.failed) +
                 (summary.counts.recovered > 0
                      ? ", recovered " + std::to_string(summary.counts.recovered) +
                            " from the interrupted run"
                      : "") +
                 (message.empty() ? "" : ": " + message));
    return summary;
}

}  // namespace plexus
