#include "engine/sync_engine.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "engine/ledger_decision.hpp"
#include "engine/payload_hash.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <map>
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
// "host:pid:random"; a lease of another host is left to expire.
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

// Takes the process's lease for this host process: free, expired, or left by a dead process.
bool take_lease(Store& store, const std::string& process_id, int64_t now_ms) {
    return store.acquire_lease(process_id, lease_owner_name(), now_ms, kLeaseTtlMs) ||
           (take_over_dead_lease(store, process_id, now_ms) &&
            store.acquire_lease(process_id, lease_owner_name(), now_ms, kLeaseTtlMs));
}

// Gives the lease back when the scope ends, whatever ended it.
struct LeaseRelease {
    Store& store;
    const std::string& process_id;
    ~LeaseRelease() {
        try {
            store.release_lease(process_id, lease_owner_name());
        } catch (...) {
        }
    }
};


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

// A value at a dotted path ("customer.id", "lines[0].sku") of a record, as a key string.
std::string key_at(const json& data, const std::string& path) {
    const json* cur = &data;
    size_t pos = 0;
    while (pos < path.size() && cur) {
        size_t end = path.find_first_of(".[", pos);
        std::string name = path.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (!name.empty()) {
            if (!cur->is_object() || !cur->contains(name)) return {};
            cur = &(*cur)[name];
        }
        if (end == std::string::npos) break;
        if (path[end] == '[') {
            size_t close = path.find(']', end);
            if (close == std::string::npos) return {};
            size_t idx = std::stoul(path.substr(end + 1, close - end - 1));
            if (!cur->is_array() || idx >= cur->size()) return {};
            cur = &(*cur)[idx];
            pos = close + 1;
            if (pos < path.size() && path[pos] == '.') ++pos;
        } else {
            pos = end + 1;
        }
    }
    if (!cur || cur->is_null()) return {};
    if (cur->is_string()) return cur->get<std::string>();
    return cur->dump();
}

// A source record as it travels through the engine and the failed queue.
struct SourceRecord {
    std::string key;
    std::string cursor;
    json data;

    // Takes the record apart (moving, not copying: pages hold thousands of records).
    static SourceRecord from_json(json&& j) {
        SourceRecord r;
        if (!j.is_object()) return r;
        if (auto k = j.find("key"); k != j.end())
            r.key = k->is_string() ? std::move(k->get_ref<std::string&>()) : k->dump();
        if (auto c = j.find("cursor"); c != j.end() && c->is_string())
            r.cursor = std::move(c->get_ref<std::string&>());
        if (auto d = j.find("data"); d != j.end() && d->is_object()) r.data = std::move(*d);
        else r.data = json::object();
        return r;
    }
    std::string to_text() const {
        return json{{"key", key}, {"cursor", cursor}, {"data", data}}.dump(
            -1, ' ', false, json::error_handler_t::replace);
    }
};

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
};

// The live parts of one process within a run (the process itself or a dependency).
struct ProcessRuntime {
    const CompiledProcess* compiled = nullptr;
    std::unique_ptr<ConnectorInstance> source;
    std::unique_ptr<ConnectorInstance> target;
};

class Run {
public:
    Run(Hub& hub, const std::string& process_id, const RunOptions& options, int64_t run_id)
        : hub_(hub), store_(hub.store()), clock_(hub.clock()), options_(options), run_id_(run_id) {
        main_ = &runtime(process_id);
        const ProcessConfig& me = *main_->compiled->config;
        for (const auto& other : hub.config().processes) {
            if (other.id != me.id && other.target.connection == me.source.connection &&
                other.target.entity == me.source.entity &&
                other.source.connection == me.target.connection &&
                other.source.entity == me.target.entity)
                reverse_processes_.push_back(other.id);
        }
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
    // The intents of the batch's creates (step 5); `index` gets the batch position of each.
    std::vector<Intent> intents_for(const ProcessConfig& cfg, const std::vector<Pending>& batch,
                                    std::vector<size_t>& index);

    // Makes sure the dependency's record for `key` exists in its target (through its ledger).
    void ensure_dependency(const Dependency& dep, const std::string& key);

    void add_failure(PageCommit& commit, const std::string& process_id, const SourceRecord& rec,
                     const std::string& cls, const std::string& message, int64_t started);
    // A pending write failed: one failure per source record it carries.
    void fail_pending(PageCommit& commit, const std::string& process_id, const Pending& p,
                      const std::string& cls, const std::string& message) {
        if (p.members.empty()) {
            add_failure(commit, process_id, p.source, cls, message, p.started_ms);
            return;
        }
        for (size_t i = 0; i < p.members.size(); ++i) {
            SourceRecord s = i < p.member_records.size() ? p.member_records[i] : SourceRecord{p.members[i], {}, {}};
            add_failure(commit, process_id, s, cls, message, p.started_ms);
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
    ProcessRuntime* main_ = nullptr;
    std::map<std::string, ProcessRuntime> runtimes_;
    std::map<std::string, bool> has_failed_queue_;
    // Processes that write into this process's source from its target: the other half of a
    // two-way sync, whose writes this process must not sync back (echoes).
    std::vector<std::string> reverse_processes_;
    RunCounts counts_;
    int64_t pages_ = 0;
};

ProcessRuntime& Run::runtime(const std::string& process_id) {
    auto it = runtimes_.find(process_id);
    if (it != runtimes_.end()) return it->second;
    ProcessRuntime& p = runtimes_[process_id];
    p.compiled = &hub_.process(process_id);
    has_failed_queue_[process_id] = store_.failed_count(process_id) > 0;
    return p;
}

ConnectorInstance& Run::source_of(ProcessRuntime& p) {
    if (!p.source)
        p.source = hub_.open(p.compiled->config->source.connection, tags(p.compiled->config->id),
                             options_.cancel);
    return *p.source;
}

ConnectorInstance& Run::target_of(ProcessRuntime& p) {
    if (!p.target)
        p.target = hub_.open(p.compiled->config->target.connection, tags(p.compiled->config->id),
                             options_.cancel);
    return *p.target;
}

void Run::add_failure(PageCommit& commit, const std::string& process_id, const SourceRecord& rec,
                      const std::string& cls, const std::string& message, int64_t started) {
    std::string msg = global_redactor().redact(message);
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
    f.record_json = rec.to_text();
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
            if (act == action::created) commit.counts.created++;
            else if (act == action::updated) commit.counts.updated++;
            else commit.counts.unchanged++;
        }
    }
}

std::vector<int64_t> Run::commit(PageCommit& c) {
    c.run_id = run_id_;
    c.now_ms = clock_.now_ms();
    if (c.process_id.empty()) c.process_id = main_->compiled->config->id;
    std::vector<int64_t> opened = store_.commit_page(c);
    counts_.read += c.counts.read;
    counts_.created += c.counts.created;
    counts_.updated += c.counts.updated;
    counts_.unchanged += c.counts.unchanged;
    counts_.failed += c.counts.failed;
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
    std::vector<std::string> processes{main_->compiled->config->id};
    for (const auto& d : main_->compiled->config->dependencies) processes.push_back(d.process);
    for (const auto& pid : processes) {
        auto intents = store_.pending_intents(pid);
        if (intents.empty()) continue;
        ProcessRuntime& p = runtime(pid);
        ConnectorInstance& target = target_of(p);
        log_line(LogLevel::info, tags(pid),
                 "resolving " + std::to_string(intents.size()) + " open intent(s) from an interrupted run");
        for (const auto& intent : intents) {
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
            }
            commit(c);
        }
    }
}

void Run::ensure_dependency(const Dependency& dep, const std::string& key) {
    if (key.empty() || store_.ledger_find(dep.process, key)) return;
    // The dependency's own run may be creating this very record: hold its lease meanwhile.
    if (!take_lease(store_, dep.process, clock_.now_ms()))
        throw std::runtime_error("process " + dep.process +
                                 " is running right now; the record is kept for replay");
    LeaseRelease release{store_, dep.process};
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
    std::vector<Pending> batch{std::move(pend)};
    PageCommit c;
    c.process_id = dep.process;
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
        if (batch[i].op != "create") continue;
        Intent in;
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
        if (!intents.empty()) {
            auto ids = store_.open_intents(intents);
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
            fail_pending(c, pid, b, class_of(result.status), "write failed: " + result.text);
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
        fail_pending(c, pid, b, class_of(status), message);
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
            add_failure(c, pid, b.source, error_class::conflict, b.conflict_message, b.started_ms);
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
                } catch (const std::exception& e) {
                    throw std::runtime_error("dependency " + dep.process + " for " + dep.key_path + " " +
                                             dep_key + ": " + e.what());
                }
            }
            p.mapped = main_->compiled->mapping->apply(rec.data, resolver);
        } catch (const RunAbort&) {
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
        bool echo = false;
        for (const auto& rp : reverse_processes_) {
            auto e = store_.ledger_find_by_target(rp, rec.key);
            if (!e) continue;
            // Its cursor still what our write left: nobody changed it since — an echo.
            echo = !rec.cursor.empty() && e->target_cursor == rec.cursor;
            if (echo) {
                p.source = std::move(rec);
                add_success(c, pid, p, action::unchanged, e->source_key,
                            "written by process " + rp + "; not synced back");
                // Link the pair in this process's ledger too, with what it would write now.
                c.ledger.push_back(
                    {p.source.key, e->source_key, p.hash, known ? known->target_cursor : ""});
                break;
            }
            // Changed since the reverse process wrote it: update the record it came from,
            // never create a second one.
            if (!known) {
                linked = LedgerEntry{rec.key, e->source_key, {}, 0, {}};
                known = &linked;
            }
            break;
        }
        if (echo) continue;
        Decision d = decide(known, p.hash);
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
        const std::vector<int64_t> ids = commit(c);
        for (size_t j = 0; j < ids.size() && j < index.size(); ++j)
            batches[k + 1][index[j]].intent_id = ids[j];
        c.process_id = pid;
        report_progress();
    }
    c.cursor = std::move(cursor);
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
    while (true) {
        if (cancelled()) throw RunAbort(run_status::partial, "cancelled; the next run resumes at the cursor");
        if (const int64_t now = clock_.now_ms();
            !lease_renewed_ms || now - *lease_renewed_ms >= kLeaseRenewAfterMs) {
            store_.renew_lease(cfg.id, lease_owner_name(), now, kLeaseTtlMs);
            lease_renewed_ms = now;
        }
        json request{{"entity", cfg.source.entity},
                     {"cursor", state.cursor ? json(*state.cursor) : json(nullptr)},
                     {"since", state.since ? json(*state.since) : json(nullptr)},
                     {"limit", cfg.page_size},
                     {"filter", cfg.source.filter}};
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
        ++pages_;
        if (cfg.mode == "aggregate") process_aggregate(std::move(records), next);
        else process_records(std::move(records), next);
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
    // Step 1: the lease — one run of a process at a time, across threads and hosts.
    if (!take_lease(store, process_id, clock.now_ms())) {
        summary.status = "skipped";
        summary.message = "process " + process_id + " is already running";
        log_line(LogLevel::warn, LogTags{process_id, 0, {}, {}}, summary.message);
        return summary;
    }
    LeaseRelease release{store, process_id};

    // A run still marked running while we hold the lease belongs to a host that died.
    store.abandon_running(process_id, clock.now_ms());
    summary.run_id = store.begin_run(process_id, replay ? "replay" : options.trigger, clock.now_ms());
    LogTags tags{process_id, summary.run_id, {}, {}};
    log_line(LogLevel::info, tags, replay ? "replay started" : "run started");
    if (options.on_progress) options.on_progress(RunProgress{summary.run_id, process_id, 0, {}});

    std::string status = run_status::succeeded;
    std::string message;
    try {
        Run run(hub_, process_id, options, summary.run_id);
        run.resolve_intents();
        if (replay) run.run_replay();
        else run.run_incremental();
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
                 std::to_string(summary.counts.failed) + (message.empty() ? "" : ": " + message));
    return summary;
}

}  // namespace plexus
