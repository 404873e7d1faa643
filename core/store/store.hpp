// The store: everything Plexus remembers. All SQL lives behind this interface (one
// implementation today, SQLite in sqlite_store.cpp); the engine, the CLI, the scheduler
// and the portal see only these types, so a PostgreSQL store can follow.
//
// Durability contract: every mutating call is one transaction, committed durably
// (SQLite: WAL, synchronous=FULL) before it returns. commit_page() is the heart of crash
// safety: ledger rows, outcomes, closed intents, the failed queue and the cursor move
// together or not at all.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus {

// A store operation that could not take the database's write lock within the busy timeout
// (another process held it): the operation changed nothing and may be tried again later.
// Callers that serve others (the portal, the scheduler) fail that one operation and carry on.
class StoreBusyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Where incremental reading resumes. `cursor` is opaque (the connector's); `since` is an
// ISO 8601 time set by a rewind, used only while `cursor` is empty.
struct CursorState {
    std::optional<std::string> cursor;
    std::optional<std::string> since;
};

// Cross-reference ledger: for a process, which target record a source record became, and
// the hash of the payload last written (to tell "unchanged" from "update").
struct LedgerEntry {
    std::string source_key;
    std::string target_key;
    std::string payload_hash;
    int64_t updated_ms = 0;
    std::string target_cursor;  // the target record's cursor after our write; may be empty
};

// Action values of a RecordOutcome.
namespace action {
inline constexpr const char* created = "created";
inline constexpr const char* updated = "updated";
inline constexpr const char* unchanged = "unchanged";
inline constexpr const char* failed = "failed";
}  // namespace action

// Error classes of a failed RecordOutcome (empty when not failed).
namespace error_class {
inline constexpr const char* auth = "auth";
inline constexpr const char* rate_limit = "rate_limit";
inline constexpr const char* validation = "validation";
inline constexpr const char* conflict = "conflict";
inline constexpr const char* transient = "transient";
inline constexpr const char* plugin = "plugin";
inline constexpr const char* mapping = "mapping";
inline constexpr const char* dependency = "dependency";
}  // namespace error_class

struct RecordOutcome {
    int64_t id = 0;  // assigned by the store
    int64_t run_id = 0;
    std::string process_id;
    std::string source_key;
    std::string target_key;
    std::string action;       // action::*
    std::string error_class;  // error_class::* or empty
    std::string message;
    int attempts = 1;
    int64_t started_ms = 0;
    int64_t finished_ms = 0;
};

// An intent is written (and committed) before a create or an update is sent to the target.
// If the host dies before the page commits, the open intent tells the next run that the
// write may have reached the target: a create's is resolved by asking the target whether the
// record exists (by idempotency key) before creating it again; an update's makes the next
// write of that record go out marked interrupted (the connector waits for a late request
// before reading the target's state again). See docs/design/010-update-intents.md.
struct Intent {
    int64_t id = 0;  // assigned by the store
    std::string process_id;
    int64_t run_id = 0;
    std::string source_key;
    std::string idempotency_key;
    std::string payload_json;  // the mapped record that was about to be written
    std::string payload_hash;
    int64_t created_ms = 0;
    std::string op = "create";  // "create" or "update" (migration 9; older rows: create)
    std::string target_key;     // update: the target record being written
};

// A record that failed, kept for replay until it succeeds. Dismissed (migration 12): an
// operator took it out of the queue with a reason; it is kept, no longer waits (not counted,
// not replayed) and can be restored. A new failure puts it back in the queue; a success
// removes it.
struct FailedRecord {
    std::string process_id;
    std::string source_key;
    std::string record_json;  // the source record as read ({"key","cursor","data"})
    std::string error_class;
    std::string message;
    int attempts = 0;
    int64_t first_failed_ms = 0;
    int64_t last_failed_ms = 0;
    int64_t dismissed_ms = 0;  // 0: waiting in the queue
    std::string dismissed_by;
    std::string dismiss_reason;
};

// Which rows of the failed queue a query means.
enum class FailedState {
    waiting,    // in the queue: counted, replayed, shown as failed
    dismissed,  // taken out by an operator (restorable)
    any,
};

// What a failed write attempt sent and what the target answered (migration 12), kept for
// failed outcomes only. The payload is the mapped record as sent, secret values masked and
// cut at kMaxAttemptPayloadBytes; none when nothing was sent (the mapping or a dependency
// failed first: `note` says why).
inline constexpr size_t kMaxAttemptPayloadBytes = 64 * 1024;
struct FailedAttempt {
    int64_t outcome_id = 0;     // read back: the failed outcome it belongs to
    size_t outcome_index = 0;   // in a PageCommit: the index of its outcome in page.outcomes
    std::string operation;      // "create" or "update"; empty when nothing was sent
    std::optional<std::string> payload;
    int64_t payload_bytes = 0;  // the payload's size before the cap (> payload->size(): cut)
    std::string note;
    std::string answer;         // the target's answer (the connector's message); may be empty
};

// Counters of a run (also the deltas a page adds).
struct RunCounts {
    int64_t read = 0;
    int64_t created = 0;
    int64_t updated = 0;
    int64_t unchanged = 0;
    int64_t failed = 0;
    // Adopted from an interrupted run's open intents: the target already had them (written
    // before the crash). Not in `created`, and not part of `read`.
    int64_t recovered = 0;
};

// Run status values.
namespace run_status {
inline constexpr const char* running = "running";
inline constexpr const char* succeeded = "succeeded";
// Ran to the end, but some records failed (they wait in the failed queue for replay).
inline constexpr const char* succeeded_with_failures = "succeeded_with_failures";
inline constexpr const char* partial = "partial";  // ended early (budget, cancel); resumes at cursor
inline constexpr const char* failed = "failed";
inline constexpr const char* abandoned = "abandoned";  // the host died while it ran
}  // namespace run_status

struct RunRecord {
    int64_t id = 0;
    std::string process_id;
    std::string trigger;  // "manual", "schedule", "replay", "cli"
    std::string status;   // run_status::*
    std::string message;
    RunCounts counts;
    int64_t started_ms = 0;
    int64_t finished_ms = 0;  // 0 while running
};

struct LedgerUpsert {
    std::string source_key;
    std::string target_key;
    std::string payload_hash;
    std::string target_cursor;
};

// One event of the webhook inbox (docs/design/007-webhook-inbox.md). `seq` orders a
// connection's events and is never reused; the cursor of an inbox-fed entity is the decimal
// seq of the last event its process consumed.
struct InboxEventRow {
    int64_t seq = 0;  // assigned by the store
    std::string connection_id;
    std::string event_id;  // the sender's id, unique per connection
    std::string topic;
    std::string body;  // may be left empty by listings that do not need it
    int64_t received_ms = 0;
};

// What storing an event did.
enum class InboxInsert {
    stored,     // new: committed durably
    duplicate,  // an event with this id is stored already (nothing written)
    full,       // the connection has max_pending events waiting (nothing written)
};

// Events (after_seq, through_seq] of a connection, consumed by a run of a process.
struct InboxRead {
    std::string connection_id;
    std::string process_id;
    int64_t run_id = 0;
    int64_t after_seq = 0;
    int64_t through_seq = 0;
    int64_t at_ms = 0;
};

struct InboxCounts {
    int64_t stored = 0;   // events kept
    int64_t pending = 0;  // of them, with seq > the consumed_through given
    int64_t last_seq = 0;
    int64_t last_received_ms = 0;
};

// A lease a commit must still hold (fencing): commit_page renews each one in its own
// transaction and, when one is no longer held by `owner` (expired and taken by another run,
// or released), rolls everything back and throws LeaseLost. A run that lost its lease
// therefore cannot commit (docs/design/003-leases.md).
struct LeaseFence {
    std::string process_id;
    std::string owner;
    int64_t ttl_ms = 0;
};

// Thrown by commit_page when a fence fails: nothing of the page was written.
struct LeaseLost : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Everything one page of a run changes, committed atomically.
struct PageCommit {
    std::string process_id;
    int64_t run_id = 0;
    int64_t now_ms = 0;
    std::vector<LedgerUpsert> ledger;
    std::vector<RecordOutcome> outcomes;
    std::vector<int64_t> intents_closed;
    std::vector<Intent> intents_opened;             // for the next write; ids: commit_page's result
    std::vector<FailedRecord> failed;               // upserted into the failed queue
    std::vector<std::string> failed_resolved;       // source keys that now succeeded
    std::vector<FailedAttempt> failed_attempts;     // of failed outcomes (by outcome_index)
    std::optional<CursorState> cursor;              // new cursor; none: leave as is (replay)
    RunCounts counts;                               // added to the run's counters
    std::vector<LeaseFence> fences;                 // leases that must still be held
    // An inbox-fed page: the events it consumed (process and run default to the page's).
    std::optional<InboxRead> inbox_read;
};

// One stored version of a process's mapping (migration 10; docs/operations.md, "Mappings in
// the portal"). Version 0 is the configuration file's mapping and is never stored; stored
// versions count from 1. The highest version is the one in force.
struct MappingVersion {
    std::string process_id;
    int64_t version = 0;
    // The mapping as JSON text; empty: "use the file's mapping again" (a revert to version 0).
    std::string mapping_json;
    std::string actor;
    int64_t created_ms = 0;
    std::string note;  // "edit", "revert to version 3"
};

struct AuditEntry {
    int64_t id = 0;
    int64_t at_ms = 0;
    std::string actor;    // user name, or "cli:<unix user>"
    std::string action;   // e.g. "cursor.rewind", "process.enable"
    std::string subject;  // e.g. the process id
    std::string detail;   // JSON text
};

struct RunQuery {
    std::optional<std::string> process_id;
    std::optional<std::string> status;
    std::optional<int64_t> started_from_ms;
    std::optional<int64_t> started_to_ms;
    int64_t limit = 50;
    int64_t offset = 0;
};

struct OutcomeQuery {
    std::optional<int64_t> run_id;
    std::optional<std::string> process_id;
    std::optional<std::string> action;
    std::optional<std::string> error_class;
    std::optional<std::string> text;  // substring of source key or message
    // Bounds on the outcome's started_ms (like RunQuery): from inclusive, to exclusive.
    std::optional<int64_t> started_from_ms;
    std::optional<int64_t> started_to_ms;
    int64_t limit = 100;
    int64_t offset = 0;  // or use after_id for keyset paging
    int64_t after_id = 0;
    // Only outcomes with id <= max_id: bounds how far one page may search (the portal's
    // filtered pages, docs/api.md); none: no bound.
    std::optional<int64_t> max_id;
};

// A portal user. `password_hash` is an argon2id string (libsodium's crypto_pwhash_str);
// the store never sees a password.
struct User {
    int64_t id = 0;
    std::string name;
    std::string role;  // "support", "operator" or "admin"
    std::string password_hash;
    bool disabled = false;
    int64_t created_ms = 0;
    int64_t updated_ms = 0;
};

// A portal session. Only a hash of the session token is stored, so a copy of the database
// does not let anyone in.
struct Session {
    std::string token_hash;
    int64_t user_id = 0;
    std::string user_name;  // joined from users
    std::string role;       // joined from users
    std::string csrf_token;
    int64_t created_ms = 0;
    int64_t last_seen_ms = 0;
    int64_t expires_ms = 0;
};

// A secret setting of a stored connection, sealed (core/secrets: "sb1:…"); the store never
// sees it in clear. `key_id` names the key that sealed it (SecretKey::id()).
struct SealedSecret {
    std::string name;
    std::string sealed;
    std::string key_id;
};

// A connection created in the portal (docs/api.md, "Connections"). `settings_json` holds the
// settings that are not secret, as a JSON object; every secret setting is in `secrets`.
struct StoredConnection {
    std::string id;
    std::string connector;
    std::string display_name;
    std::string settings_json = "{}";
    std::vector<SealedSecret> secrets;
    int64_t created_ms = 0;
    int64_t updated_ms = 0;
};

// One sealed secret of any stored connection (rotation walks them all).
struct SealedSecretRow {
    std::string connection_id;
    SealedSecret secret;
};

// --- attention and notifications (migration 11) ---------------------------------------

// Runs of a process that did not succeed (failed, partial, abandoned) since its last
// successful one (succeeded or succeeded_with_failures).
struct FailureStreak {
    int64_t runs = 0;            // how many
    RunRecord latest;            // the newest of them
    int64_t last_success_ms = 0; // when the last successful run started; 0: never
};

// Failures grouped by their message: the failed queue of a process, or one run's outcomes.
struct FailureReason {
    std::string error_class;
    std::string message;
    int64_t count = 0;
};

// A finished run that needs telling (failed, partial, or with failed records).
struct NotifyEvent {
    int64_t id = 0;
    int64_t run_id = 0;
    std::string process_id;
    int64_t created_ms = 0;
};

// What one channel ("email", "webhook") has sent.
struct NotifyChannelState {
    std::string channel;
    int64_t sent_through = 0;     // events with id <= this are told (or were skipped)
    int64_t sending_through = 0;  // > sent_through: a send was under way when the hub stopped
    int64_t last_sent_ms = 0;
    std::string last_error;
    int64_t last_error_ms = 0;
};

// The notification settings: non-secret settings as JSON text, and the sealed secrets
// ("smtp_password", "webhook_url").
struct NotifySettingsRow {
    std::string settings_json = "{}";
    std::vector<SealedSecret> secrets;
    int64_t updated_ms = 0;
};

// The connection id under which the notification secrets are kept with the connections'
// (never a real connection id: '#' is not allowed in one), so a key rotation re-seals them.
inline constexpr const char* kNotifySecretsOwner = "#notifications";

// The last test of a connection (migration 13): kept across restarts for the attention view.
// `message` is redacted before it is stored.
struct ConnectionTestRow {
    std::string connection_id;
    bool ok = false;
    std::string error_class;
    std::string message;
    int64_t duration_ms = 0;
    int64_t tested_ms = 0;
};

// Totals over finished runs of one process (Prometheus /metrics).
struct RunStats {
    std::string process_id;
    std::vector<std::pair<std::string, int64_t>> runs_by_status;  // status -> runs
    RunCounts records;                                            // summed counters
    int64_t finished = 0;                                         // runs with a duration
    double duration_sum_s = 0;
    std::vector<int64_t> duration_buckets;  // cumulative, per run_duration_buckets_s()
};

// Upper bounds (seconds) of the run-duration histogram buckets; +Inf is `finished`.
const std::vector<double>& run_duration_buckets_s();

class Store {
public:
    virtual ~Store() = default;

    // Schema version after migrations (the highest applied migration number).
    virtual int schema_version() = 0;

    // --- leases: one run of a process at a time ----------------------------------------
    // Take the lease when free or expired; true when `owner` holds it afterwards.
    virtual bool acquire_lease(const std::string& process_id, const std::string& owner,
                               int64_t now_ms, int64_t ttl_ms) = 0;
    virtual void renew_lease(const std::string& process_id, const std::string& owner,
                             int64_t now_ms, int64_t ttl_ms) = 0;
    virtual void release_lease(const std::string& process_id, const std::string& owner) = 0;
    // The owner of an unexpired lease, if any (to recognise a lease left by a dead process).
    virtual std::optional<std::string> lease_holder(const std::string& process_id,
                                                    int64_t now_ms) = 0;

    // --- runs -----------------------------------------------------------------------------
    virtual int64_t begin_run(const std::string& process_id, const std::string& trigger,
                              int64_t now_ms) = 0;
    virtual void finish_run(int64_t run_id, const std::string& status, const std::string& message,
                            int64_t now_ms) = 0;
    // Runs of this process still "running" (their host died): mark them abandoned.
    virtual int abandon_running(const std::string& process_id, int64_t now_ms) = 0;
    virtual std::optional<RunRecord> run(int64_t run_id) = 0;
    virtual std::vector<RunRecord> runs(const RunQuery& q) = 0;
    virtual std::optional<RunRecord> last_run(const std::string& process_id) = 0;
    // How many runs match `q` (its limit and offset ignored): the total of a paged list.
    virtual int64_t run_count(const RunQuery& q) = 0;
    // Per process: runs by status, summed counters and a duration histogram.
    virtual std::vector<RunStats> run_stats() = 0;
    // Record outcomes per process (the process the record belongs to, whichever run wrote
    // it), by action: {process, action, count}.
    struct RecordCount {
        std::string process_id;
        std::string action;
        int64_t n = 0;
    };
    virtual std::vector<RecordCount> record_counts() = 0;

    // --- cursor ---------------------------------------------------------------------------
    virtual CursorState cursor(const std::string& process_id) = 0;
    // Rewind: cursor cleared, `since` set; an audit entry written in the same transaction.
    virtual void rewind_cursor(const std::string& process_id, const std::string& since_iso,
                               const std::string& actor, int64_t now_ms) = 0;

    // --- ledger ---------------------------------------------------------------------------
    virtual std::optional<LedgerEntry> ledger_find(const std::string& process_id,
                                                   const std::string& source_key) = 0;
    // Entries found among `source_keys` (missing keys are simply absent from the result).
    virtual std::vector<LedgerEntry> ledger_find_many(const std::string& process_id,
                                                      const std::vector<std::string>& source_keys) = 0;
    virtual int64_t ledger_count(const std::string& process_id) = 0;
    // The entry whose target is `target_key` (the reverse direction of a two-way sync).
    virtual std::optional<LedgerEntry> ledger_find_by_target(const std::string& process_id,
                                                             const std::string& target_key) = 0;
    // Entries in source-key order after `after_source_key` (reconciliation pages through them).
    virtual std::vector<LedgerEntry> ledger_page(const std::string& process_id,
                                                 const std::string& after_source_key,
                                                 int64_t limit) = 0;
    // Adopts a target record found by reconciliation: the ledger entry, an audit entry
    // "process.reconcile.adopt" and the source key's failed-queue row removed, in one
    // transaction.
    virtual void adopt_into_ledger(const std::string& process_id, const LedgerUpsert& entry,
                                   const std::vector<int64_t>& intents_closed,
                                   const std::string& actor, int64_t now_ms) = 0;

    // --- intents --------------------------------------------------------------------------
    // Commit intents (durably) before the writes they announce; returns their ids in order
    // (increasing). One call's intents are stored together — a write batch costs one row,
    // not one per record — yet each is listed, resolved and closed on its own.
    virtual std::vector<int64_t> open_intents(const std::vector<Intent>& intents) = 0;
    virtual std::vector<Intent> pending_intents(const std::string& process_id) = 0;

    // --- the page commit (ledger, outcomes, intents, failed queue, cursor, counters) -------
    // Returns the ids of page.intents_opened, in order (as open_intents() would).
    virtual std::vector<int64_t> commit_page(const PageCommit& page) = 0;

    // --- failed queue ---------------------------------------------------------------------
    // Waiting records oldest first failure first; dismissed ones newest dismissal first.
    virtual std::vector<FailedRecord> failed_records(const std::string& process_id,
                                                     int64_t limit = 1000, int64_t offset = 0,
                                                     FailedState state = FailedState::waiting) = 0;
    virtual int64_t failed_count(const std::string& process_id,
                                 FailedState state = FailedState::waiting) = 0;
    // The row of `source_key`, waiting or dismissed (see FailedRecord::dismissed_ms).
    virtual std::optional<FailedRecord> failed_record(const std::string& process_id,
                                                      const std::string& source_key) = 0;
    // Takes the given waiting records out of the queue without running them again (support
    // staff decided they need no sync): kept as dismissed with who (audit.actor), when
    // (audit.at_ms) and `reason`, and `audit` written, in one transaction. Returns how many
    // were waiting.
    virtual int64_t dismiss_failed(const std::string& process_id,
                                   const std::vector<std::string>& source_keys,
                                   const std::string& reason, const AuditEntry& audit) = 0;
    // Puts the given dismissed records back in the queue, with `audit`, in one transaction.
    // Returns how many were dismissed.
    virtual int64_t restore_failed(const std::string& process_id,
                                   const std::vector<std::string>& source_keys,
                                   const AuditEntry& audit) = 0;

    // --- outcomes -------------------------------------------------------------------------
    virtual std::vector<RecordOutcome> outcomes(const OutcomeQuery& q) = 0;
    virtual std::optional<RecordOutcome> outcome(int64_t id) = 0;
    // What the failed outcome `outcome_id` sent and got back; none when not kept (not a
    // failure, or written before migration 12).
    virtual std::optional<FailedAttempt> failed_attempt(int64_t outcome_id) = 0;
    // The highest outcome id of the query's run (or else process, or else of all); 0 when
    // there is none. Only run_id and process_id of `q` count.
    virtual int64_t last_outcome_id(const OutcomeQuery& q) = 0;
    // Streams matching outcomes in id order without materialising them all (exports).
    virtual void for_each_outcome(const OutcomeQuery& q,
                                  const std::function<void(const RecordOutcome&)>& f) = 0;

    // --- process state --------------------------------------------------------------------
    // Enabled flag as set by an operator; none when never set (the configuration decides).
    virtual std::optional<bool> process_enabled(const std::string& process_id) = 0;
    virtual void set_process_enabled(const std::string& process_id, bool enabled,
                                     const std::string& actor, int64_t now_ms) = 0;
    // The scheduler's anchor of the process (docs/scheduling.md); none when never scheduled.
    virtual std::optional<int64_t> schedule_anchor(const std::string& process_id) = 0;
    virtual void set_schedule_anchor(const std::string& process_id, int64_t anchor_ms) = 0;
    // An operator's schedule (JSON {"cron", "interval", "timezone"}) that wins over the
    // configuration file; none when never edited.
    virtual std::optional<std::string> schedule_override(const std::string& process_id) = 0;
    // Stores it with an audit entry "process.schedule" in the same transaction.
    virtual void set_schedule_override(const std::string& process_id,
                                       const std::string& schedule_json, const std::string& actor,
                                       int64_t now_ms) = 0;

    // --- users and sessions (the portal) --------------------------------------------------
    virtual std::optional<User> user(const std::string& name) = 0;
    virtual std::vector<User> users() = 0;
    // False (and nothing written) when the name is taken. Audited "user.add" (no hash).
    virtual bool add_user(const User& user, const std::string& actor, int64_t now_ms) = 0;
    // Changes the role and/or the password hash; false for an unknown user. A new password
    // ends the user's sessions. Audited "user.update" (no hash).
    virtual bool update_user(const std::string& name, const std::optional<std::string>& role,
                             const std::optional<std::string>& password_hash,
                             const std::string& actor, int64_t now_ms) = 0;
    // Deletes the user and their sessions; false for an unknown user. Audited "user.delete".
    virtual bool delete_user(const std::string& name, const std::string& actor,
                             int64_t now_ms) = 0;

    virtual void create_session(const Session& session) = 0;
    // The live session (not expired at now_ms, its user not disabled), joined with its user.
    virtual std::optional<Session> session(const std::string& token_hash, int64_t now_ms) = 0;
    // Moves last_seen_ms (and with it the idle expiry) to now_ms.
    virtual void touch_session(const std::string& token_hash, int64_t now_ms,
                               int64_t expires_ms) = 0;
    virtual void delete_session(const std::string& token_hash) = 0;
    // Removes expired sessions; returns how many.
    virtual int64_t purge_sessions(int64_t now_ms) = 0;

    // --- webhook inbox (docs/design/007-webhook-inbox.md) ------------------------------------
    // Stores the event durably, in one transaction: duplicate when (connection, event id) is
    // stored already; full when `max_pending` of the connection's events have a seq above
    // `consumed_through` (the lowest cursor of the processes reading them); else stored, with
    // `seq` set. A duplicate wins over full (a sender's retry of an accepted event is told so).
    virtual InboxInsert insert_inbox_event(InboxEventRow& event, int64_t consumed_through,
                                           int64_t max_pending) = 0;
    // The connection's events with seq > after_seq (and received at or after since_ms),
    // oldest first, at most `limit`, with their bodies.
    virtual std::vector<InboxEventRow> inbox_events_after(const std::string& connection_id,
                                                          int64_t after_seq, int64_t since_ms,
                                                          int64_t limit) = 0;
    // The newest events first (seq < before_seq when before_seq > 0), without bodies.
    virtual std::vector<InboxEventRow> inbox_latest(const std::string& connection_id,
                                                    int64_t before_seq, int64_t limit) = 0;
    // One event with its body.
    virtual std::optional<InboxEventRow> inbox_event(const std::string& connection_id,
                                                     int64_t seq) = 0;
    virtual InboxCounts inbox_counts(const std::string& connection_id,
                                     int64_t consumed_through) = 0;
    // The reads of the connection that consumed any event in (from_seq, to_seq].
    virtual std::vector<InboxRead> inbox_reads(const std::string& connection_id, int64_t from_seq,
                                               int64_t to_seq) = 0;
    // Deletes the events with seq <= consumed_through received before `before_ms`, and the
    // reads that covered only deleted events. Returns how many events.
    virtual int64_t prune_inbox(const std::string& connection_id, int64_t consumed_through,
                                int64_t before_ms) = 0;

    // --- connections created in the portal (migration 8) ------------------------------------
    virtual std::vector<StoredConnection> stored_connections() = 0;
    virtual std::optional<StoredConnection> stored_connection(const std::string& id) = 0;
    // Each writes the connection with its secrets (the full set: secrets not listed are
    // removed) and an audit entry (`audit_detail`, JSON text without secret values) in one
    // transaction. create: false (nothing written) when the id is taken; update and delete:
    // false for an unknown id.
    virtual bool create_connection(const StoredConnection& c, const std::string& actor,
                                   int64_t now_ms, const std::string& audit_detail) = 0;
    virtual bool update_connection(const StoredConnection& c, const std::string& actor,
                                   int64_t now_ms, const std::string& audit_detail) = 0;
    virtual bool delete_connection(const std::string& id, const std::string& actor,
                                   int64_t now_ms) = 0;
    // Key rotation: every sealed secret is passed to `reseal`, which returns it sealed with
    // the new key (and that key's id); all are written back, with an audit entry
    // "secrets.rotate", in one transaction. When `reseal` throws nothing is written and the
    // exception propagates. Returns how many secrets were re-sealed.
    virtual int64_t reseal_secrets(const std::function<SealedSecret(const SealedSecretRow&)>& reseal,
                                   const std::string& actor, int64_t now_ms,
                                   const std::string& audit_detail) = 0;

    // --- mapping versions (migration 10) -------------------------------------------------------
    // The version in force (the highest), or nullopt when the file's mapping was never edited.
    virtual std::optional<MappingVersion> mapping_current(const std::string& process_id) = 0;
    virtual std::optional<MappingVersion> mapping_version(const std::string& process_id,
                                                          int64_t version) = 0;
    // Newest first.
    virtual std::vector<MappingVersion> mapping_versions(const std::string& process_id,
                                                         int64_t limit = 100) = 0;
    // Stores `v` as the next version (v.version is ignored) with an audit entry
    // (`audit_action`, subject the process, `audit_detail` JSON text) in one transaction.
    // Returns the version number given.
    virtual int64_t add_mapping_version(const MappingVersion& v, const std::string& audit_action,
                                        const std::string& audit_detail) = 0;
    // --- attention (docs/api.md, "Attention") ---------------------------------------------
    // The runs of `process_id` that did not succeed since its last successful run; none
    // when its last run succeeded (or it never ran).
    virtual std::optional<FailureStreak> failure_streak(const std::string& process_id) = 0;
    // The failed queue of the process (waiting records) grouped by (error class, message),
    // commonest first, at most `limit` groups.
    virtual std::vector<FailureReason> failed_queue_reasons(const std::string& process_id,
                                                            int64_t limit) = 0;
    // The failed outcomes of one run grouped the same way.
    virtual std::vector<FailureReason> run_failure_reasons(int64_t run_id, int64_t limit) = 0;

    // --- notifications (docs/design/008-attention-and-notifications.md) -------------------
    // Judges the runs finished since the last scan: each failed or partial run, or run with
    // failed records, becomes an event (once: a run is never judged twice into two events).
    // Returns how many events were added. One transaction.
    virtual int64_t scan_runs_for_notification(int64_t now_ms) = 0;
    // Events with id > after_id, oldest first, at most `limit`.
    virtual std::vector<NotifyEvent> notify_events_after(int64_t after_id, int64_t limit) = 0;
    // How many events have id > after_id; and the highest event id (0: none).
    virtual int64_t notify_events_count_after(int64_t after_id) = 0;
    virtual int64_t notify_last_event_id() = 0;
    // A channel's state (a fresh one when it never sent).
    virtual NotifyChannelState notify_channel(const std::string& channel) = 0;
    // Before sending a message covering events up to `through_id`.
    virtual void notify_mark_sending(const std::string& channel, int64_t through_id) = 0;
    // After it was sent: sent_through = through_id, the error cleared.
    virtual void notify_mark_sent(const std::string& channel, int64_t through_id,
                                  int64_t now_ms) = 0;
    // After it failed: the error kept (already redacted), nothing marked sent.
    virtual void notify_mark_failed(const std::string& channel, const std::string& error,
                                    int64_t now_ms) = 0;
    // Deletes events older than `before_ms` that every channel in `channels` has sent.
    virtual int64_t prune_notify_events(int64_t before_ms,
                                        const std::vector<std::string>& channels) = 0;
    virtual NotifySettingsRow notify_settings() = 0;
    // Writes the settings and the full set of sealed secrets (those not listed are removed),
    // channels in `skip_to_latest` marked as having sent every event so far (a channel
    // switched on tells what happens from now on, not the past), and an audit entry
    // "notifications.update" with `audit_detail` (no secret values): one transaction.
    virtual void save_notify_settings(const NotifySettingsRow& row,
                                      const std::vector<std::string>& skip_to_latest,
                                      const std::string& actor, int64_t now_ms,
                                      const std::string& audit_detail) = 0;

    // --- connection tests (migration 13) ---------------------------------------------------
    // Replaces the connection's last test with `row` (a success clears a failure).
    virtual void record_connection_test(const ConnectionTestRow& row) = 0;
    // The last test of every connection ever tested, by connection id.
    virtual std::vector<ConnectionTestRow> connection_tests() = 0;

    // --- audit ----------------------------------------------------------------------------
    virtual void audit(const AuditEntry& entry) = 0;
    virtual std::vector<AuditEntry> audit_log(int64_t limit = 100, int64_t offset = 0) = 0;
};

// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
// Throws std::runtime_error naming the file and the failing migration.
std::unique_ptr<Store> open_sqlite_store(const std::string& path);

// Opens the database at `path` for reading only: no migration, no write (every writing call
// fails), and it works where the file or its directory cannot be written. Throws naming the
// file when it is missing, not a database, or not at this build's schema version.
std::unique_ptr<Store> open_sqlite_store_read_only(const std::string& path);

// SQLite's own check of the database file at `path`, on a connection of its own, read only:
// PRAGMA quick_check when `quick` (reads every page, seconds per GB), integrity_check
// otherwise (also compares every index with its table). Returns {"ok"} when the file is
// sound, otherwise what SQLite reports (at most `max_lines` lines), "file is not a
// database" included.
std::vector<std::string> check_sqlite_integrity(const std::string& path, bool quick,
                                                int max_lines = 100);

}  // namespace plexus
