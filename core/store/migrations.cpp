// Schema migrations of the SQLite store (see migrations.hpp for the rules).
//
// Conventions of the schema:
// - times are INTEGER milliseconds since the Unix epoch (`*_ms`); 0 or NULL means "not yet";
// - text columns that the interface treats as "possibly empty" are NOT NULL DEFAULT '';
// - ids the portal shows or pages by (runs, outcomes, intents, audit) are AUTOINCREMENT, so
//   an id is never reused even after rows are deleted (keyset paging and exports rely on
//   ids only growing).
#include "store/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace plexus::store_migrations {

namespace {

// Migration 1: the whole first schema.
constexpr const char* k_migration_1 = R"SQL(
-- Runs of a process. Counters are the sums of the pages committed so far.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id      TEXT    NOT NULL,
    trigger         TEXT    NOT NULL,
    status          TEXT    NOT NULL,          -- running, succeeded, partial, failed, abandoned
    message         TEXT    NOT NULL DEFAULT '',
    read_count      INTEGER NOT NULL DEFAULT 0,
    created_count   INTEGER NOT NULL DEFAULT 0,
    updated_count   INTEGER NOT NULL DEFAULT 0,
    unchanged_count INTEGER NOT NULL DEFAULT 0,
    failed_count    INTEGER NOT NULL DEFAULT 0,
    started_ms      INTEGER NOT NULL,
    finished_ms     INTEGER NOT NULL DEFAULT 0  -- 0 while running
);
CREATE INDEX runs_by_process_started ON runs (process_id, started_ms);
CREATE INDEX runs_by_started ON runs (started_ms);
CREATE INDEX runs_running ON runs (process_id) WHERE status = 'running';

-- One row per record handled by a run (the run detail page, exports).
CREATE TABLE record_outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    process_id  TEXT    NOT NULL,
    source_key  TEXT    NOT NULL,
    target_key  TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,              -- created, updated, unchanged, failed
    error_class TEXT    NOT NULL DEFAULT '',   -- empty unless failed
    message     TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 1,
    started_ms  INTEGER NOT NULL DEFAULT 0,
    finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX record_outcomes_by_run ON record_outcomes (run_id, id);
CREATE INDEX record_outcomes_by_process ON record_outcomes (process_id, id);
-- No index on action or error_class alone: with a handful of values they do not narrow a
-- search, and each would cost a B-tree write per record on the hot path. Filters run within
-- a run or a process, through the two indexes above.

-- Cross-reference ledger: which target record a source record became, and the hash of the
-- payload last written there.
CREATE TABLE ledger (
    process_id   TEXT    NOT NULL,
    source_key   TEXT    NOT NULL,
    target_key   TEXT    NOT NULL,
    payload_hash TEXT    NOT NULL,
    updated_ms   INTEGER NOT NULL,
    -- The target record's cursor value right after our write, when the connector told us:
    -- the reverse process of a two-way sync reads it back unchanged and knows it as an echo.
    target_cursor TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (process_id, source_key)
) WITHOUT ROWID;
CREATE INDEX ledger_by_target ON ledger (process_id, target_key);

-- Where incremental reading resumes. `cursor` is the connector's opaque text; `since` is an
-- ISO 8601 time set by a rewind, used only while `cursor` is NULL.
CREATE TABLE cursors (
    process_id TEXT    PRIMARY KEY,
    cursor     TEXT,
    since      TEXT,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Open intents: committed before a create is sent; deleted when the page that carried the
-- create commits (its ledger row then records the outcome). A row still here after a crash
-- is what the next run must resolve.
CREATE TABLE intents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id      TEXT    NOT NULL,
    run_id          INTEGER NOT NULL,
    source_key      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    payload_json    TEXT    NOT NULL,
    payload_hash    TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL
);
CREATE INDEX intents_by_process ON intents (process_id, id);

-- Records that failed, kept for replay until they succeed. One row per source record:
-- `attempts` accumulates and `first_failed_ms` keeps the first failure.
CREATE TABLE failed_queue (
    process_id      TEXT    NOT NULL,
    source_key      TEXT    NOT NULL,
    record_json     TEXT    NOT NULL,
    error_class     TEXT    NOT NULL DEFAULT '',
    message         TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    first_failed_ms INTEGER NOT NULL,
    last_failed_ms  INTEGER NOT NULL,
    PRIMARY KEY (process_id, source_key)
) WITHOUT ROWID;
CREATE INDEX failed_queue_by_first_failed ON failed_queue (process_id, first_failed_ms);

-- Operator-set state of a process (the configuration decides while no row exists).
CREATE TABLE process_state (
    process_id TEXT    PRIMARY KEY,
    enabled    INTEGER,                        -- NULL: never set; 0 / 1
    updated_ms INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT '',
    -- The scheduler's anchor: due times up to here have been dealt with (fired, skipped, or
    -- the process was enabled then). NULL: never scheduled.
    schedule_anchor_ms INTEGER
) WITHOUT ROWID;

-- One run of a process at a time: the lease is held by `owner` until `expires_ms`.
CREATE TABLE leases (
    process_id  TEXT    PRIMARY KEY,
    owner       TEXT    NOT NULL,
    acquired_ms INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- Who did what (operator actions). `detail` is JSON text.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_at ON audit (at_ms);

-- Connections managed from the portal (empty until the portal writes them).
CREATE TABLE connections (
    id            TEXT    PRIMARY KEY,
    connector     TEXT    NOT NULL,
    display_name  TEXT    NOT NULL DEFAULT '',
    settings_json TEXT    NOT NULL DEFAULT '{}',  -- secret values encrypted, never plain
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
) WITHOUT ROWID;

-- Inbox of received webhook events, processed later by event-triggered runs.
CREATE TABLE webhook_inbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT    NOT NULL,
    event_type    TEXT    NOT NULL DEFAULT '',
    external_id   TEXT,                          -- the sender's event id, for de-duplication
    headers_json  TEXT    NOT NULL DEFAULT '{}',
    body          TEXT    NOT NULL,
    received_ms   INTEGER NOT NULL,
    processed_ms  INTEGER                        -- NULL until processed
);
CREATE UNIQUE INDEX webhook_inbox_by_external_id ON webhook_inbox (connection_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX webhook_inbox_pending ON webhook_inbox (received_ms) WHERE processed_ms IS NULL;

-- Portal users and their sessions.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'support', 'admin')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,            -- hash of the session token, never the token
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);
)SQL";

// Migration 2: outcomes by start time, for the time filters of OutcomeQuery (exports, the
// portal's from/to). Paging stays by id; this index only bounds the ids a time range can
// hold (sqlite_store.cpp, outcome_id_bounds), so it is read once per query, never per page.
// One index for every process: a per-process time index would cost a second B-tree write per
// record on the engine's hot path for no gain the id bounds do not already give.
constexpr const char* k_migration_2 = R"SQL(
CREATE INDEX record_outcomes_by_started ON record_outcomes (started_ms);
)SQL";

// Migration 3: schedules edited in the portal (they win over the configuration file).
constexpr const char* k_migration_3 = R"SQL(
ALTER TABLE process_state ADD COLUMN schedule_json TEXT;  -- NULL: the configuration decides
)SQL";

// Migration 4: intents are stored a write batch to a row instead of a record to a row.
//
// Every create used to cost an intent row inserted (and indexed) before the write and
// deleted (and unindexed) after it: four B-tree writes per record, as many as the ledger
// row and the outcome row together. Now a batch's intents are one row, inserted once and
// deleted once. Each intent stays resolvable on its own after a crash: the row keeps every
// member's idempotency key and payload, and a bitmap says which members are still open.
//
// Persisted format of a row of intent_batches:
// - `members`: for each member, in order, five netstrings ("<byte count>:<bytes>,"):
//   source key, idempotency key, payload hash, payload JSON, created_ms in decimal;
// - `open_members`: bit i (byte i / 8, mask 1 << (i % 8)) set while member i is open; the
//   row is deleted when no bit is left;
// - the intent id the store hands out for member i is (row id << 20) | i, so a row holds at
//   most 2^20 members, and ids only grow (AUTOINCREMENT).
// Open intents of migration 1's table move over as one-member rows.
constexpr const char* k_migration_4 = R"SQL(
CREATE TABLE intent_batches (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id   TEXT    NOT NULL,
    run_id       INTEGER NOT NULL,
    open_members BLOB    NOT NULL,  -- bitmap of the members still open (before `members`:
                                    -- closing reads it without the members' overflow pages)
    members      BLOB    NOT NULL
);
CREATE INDEX intent_batches_by_process ON intent_batches (process_id, id);

INSERT INTO intent_batches (process_id, run_id, open_members, members)
SELECT process_id, run_id, X'01', CAST(
           length(CAST(source_key AS BLOB)) || ':' || source_key || ',' ||
           length(CAST(idempotency_key AS BLOB)) || ':' || idempotency_key || ',' ||
           length(CAST(payload_hash AS BLOB)) || ':' || payload_hash || ',' ||
           length(CAST(payload_json AS BLOB)) || ':' || payload_json || ',' ||
           length(CAST(created_ms AS TEXT)) || ':' || created_ms || ','
       AS BLOB)
FROM intents ORDER BY id;

DROP TABLE intents;
)SQL";

// Migration 5: records handled per process and action, whichever run handled them (a
// dependency pull writes outcomes of another process than its run's). /metrics counts from
// here, so its failed count agrees with the outcomes and the failed queue. commit_page adds
// each page's outcomes: one upsert per process and action of the page.
constexpr const char* k_migration_5 = R"SQL(
CREATE TABLE process_record_counts (
    process_id TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (process_id, action)
) WITHOUT ROWID;
INSERT INTO process_record_counts (process_id, action, n)
SELECT process_id, action, count(*) FROM record_outcomes GROUP BY process_id, action;
)SQL";

// Migration 6: the webhook inbox (docs/design/007-webhook-inbox.md). Migration 1's
// webhook_inbox table was never written by any release; it is replaced by inbox_events,
// whose rowid is the event's `seq`: the order processes read a connection's events in, and
// (in decimal) the cursor of an inbox-fed entity. AUTOINCREMENT: a seq is never reused, even
// after the newest events were pruned, so a stored cursor can never point past a new event.
//
// inbox_reads: which run consumed which events, one row per committed page of an inbox-fed
// process, written in commit_page's transaction together with the cursor it moved: events
// (after_seq, through_seq] of `connection_id`.
constexpr const char* k_migration_6 = R"SQL(
DROP TABLE webhook_inbox;
CREATE TABLE inbox_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,              -- the sender's id: de-duplication
    topic         TEXT    NOT NULL DEFAULT '',
    body          TEXT    NOT NULL,              -- the raw JSON body as received
    received_ms   INTEGER NOT NULL
);
CREATE UNIQUE INDEX inbox_events_by_event_id ON inbox_events (connection_id, event_id);
CREATE INDEX inbox_events_by_connection ON inbox_events (connection_id, received_ms);

CREATE TABLE inbox_reads (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT    NOT NULL,
    process_id    TEXT    NOT NULL,
    run_id        INTEGER NOT NULL,
    after_seq     INTEGER NOT NULL,
    through_seq   INTEGER NOT NULL,
    at_ms         INTEGER NOT NULL
);
CREATE INDEX inbox_reads_by_connection ON inbox_reads (connection_id, through_seq);
)SQL";

int64_t wall_clock_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Records a run adopted from an interrupted run's open intents (found in the target by
// idempotency key): counted apart from the records it created itself, so a run's counters
// add up to what it read.
constexpr const char* k_migration_7 = R"sql(
ALTER TABLE runs ADD COLUMN recovered_count INTEGER NOT NULL DEFAULT 0;
)sql";

// Connections created in the portal: their secret settings, sealed with the hub's secret
// key (core/secrets/secret_box.hpp: "sb1:" text), one row per setting, apart from the other
// settings (connections.settings_json, migration 1) so that a key rotation rewrites exactly
// these rows. key_id names the key that sealed the value, so a wrong key is named at start.
constexpr const char* k_migration_8 = R"sql(
CREATE TABLE connection_secrets (
    connection_id TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    sealed        TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (connection_id, name)
) WITHOUT ROWID;
)sql";

// Migration 9: intents for updates too (docs/design/010-update-intents.md). A row of
// intent_batches now says how many netstrings each of its members has: 5 (rows written
// before, creates only, in migration 4's format) or 7 (the same five, then the operation,
// "create" or "update", and the target key of an update, empty for a create).
constexpr const char* k_migration_9 = R"sql(
ALTER TABLE intent_batches ADD COLUMN member_fields INTEGER NOT NULL DEFAULT 5;
)sql";

// Mappings edited in the portal: every version kept (revertible), the highest in force.
// mapping_json NULL: the configuration file's mapping again (a revert to "version 0").
constexpr const char* k_migration_10 = R"sql(
CREATE TABLE mapping_versions (
    process_id   TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    mapping_json TEXT,
    actor        TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    note         TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (process_id, version)
) WITHOUT ROWID;
)sql";

// Attention and notifications (docs/design/008-attention-and-notifications.md).
// - runs_by_process_status: "failed since the last success" per process is two index
//   lookups instead of a scan of the process's runs (the landing page polls it).
// - notify_state: one row. scan_from_run is the lowest run id not yet judged for a
//   notification (every run below it has finished and was judged); a fresh database and an
//   upgraded one start after the runs already there, so history is not sent. settings_json
//   holds the non-secret settings (docs/api.md, "Notifications"); the SMTP password and the
//   webhook URL are sealed secrets in connection_secrets under the connection id
//   "#notifications" ('#' is never in a connection id), so that `plexus secrets rotate`
//   re-seals them with the connections' secrets.
// - notify_events: one row per finished run that needs telling (failed, partial, or with
//   failed records), judged from the runs table itself, so a run that finished just before a
//   crash is still found after it. UNIQUE (run_id): judging a run twice adds nothing.
// - notify_channels: per channel ("email", "webhook"), the events sent (id <= sent_through);
//   sending_through > sent_through means a message was being sent when the hub stopped (it
//   is sent again, marked as possibly repeated).
constexpr const char* k_migration_11 = R"sql(
CREATE INDEX runs_by_process_status ON runs (process_id, status, id);
CREATE TABLE notify_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    scan_from_run INTEGER NOT NULL,
    settings_json TEXT    NOT NULL DEFAULT '{}',
    updated_ms    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO notify_state (id, scan_from_run) SELECT 1, coalesce(max(id), 0) + 1 FROM runs;
CREATE TABLE notify_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         INTEGER NOT NULL UNIQUE,
    process_id     TEXT    NOT NULL,
    created_ms     INTEGER NOT NULL
);
CREATE TABLE notify_channels (
    channel         TEXT    PRIMARY KEY,
    sent_through    INTEGER NOT NULL DEFAULT 0,
    sending_through INTEGER NOT NULL DEFAULT 0,
    last_sent_ms    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_error_ms   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";

// Failed records (docs/operations.md, "Failed records"):
// - failed_queue gains the dismissal: dismissed_ms NULL means the record waits in the queue
//   (counted, replayed); set, an operator took it out with a reason (restorable). The index of
//   migration 1 becomes two partial ones, so the waiting rows (every count, the attention
//   panel, replay) are found without reading the dismissed ones, and the other way round.
// - failed_attempts: for each failed outcome written since, what was sent to the target (the
//   mapped record, secret values masked, at most 64 KiB: payload_bytes is the size before the
//   cut; NULL when nothing was sent, `note` says why) and the target's answer. Only failures
//   write a row, so the engine's hot path (successes) costs nothing more. The row's id is its
//   outcome's.
constexpr const char* k_migration_12 = R"sql(
ALTER TABLE failed_queue ADD COLUMN dismissed_ms INTEGER;
ALTER TABLE failed_queue ADD COLUMN dismissed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE failed_queue ADD COLUMN dismiss_reason TEXT NOT NULL DEFAULT '';
DROP INDEX failed_queue_by_first_failed;
CREATE INDEX failed_queue_waiting ON failed_queue (process_id, first_failed_ms)
    WHERE dismissed_ms IS NULL;
CREATE INDEX failed_queue_dismissed ON failed_queue (process_id, dismissed_ms)
    WHERE dismissed_ms IS NOT NULL;
CREATE TABLE failed_attempts (
    outcome_id    INTEGER PRIMARY KEY REFERENCES record_outcomes (id) ON DELETE CASCADE,
    operation     TEXT    NOT NULL DEFAULT '',  -- create, update; '' when nothing was sent
    payload       TEXT,                         -- NULL when nothing was sent
    payload_bytes INTEGER NOT NULL DEFAULT 0,
    note          TEXT    NOT NULL DEFAULT '',
    answer        TEXT    NOT NULL DEFAULT ''
);
)sql";

// Migration 13 (issue 13): the last test of each connection, so that "the connection failed
// its last test" (GET /api/attention) survives a restart. One row per connection id (file or
// portal connection), replaced by every test; a successful test keeps its row with ok = 1,
// which is what clears the attention item. message is already redacted (never a secret).
constexpr const char* k_migration_13 = R"sql(
CREATE TABLE connection_tests (
    connection_id TEXT    PRIMARY KEY,
    ok            INTEGER NOT NULL,
    error_class   TEXT    NOT NULL DEFAULT '',
    message       TEXT    NOT NULL DEFAULT '',
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    tested_ms     INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

int read_version(SQLite::Database& db) {
    SQLite::Statement q(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    q.executeStep();
    return q.getColumn(0).getInt();
}

}  // namespace

const std::vector<Migration>& all() {
    // Append only. A released migration is never edited: databases in the field already
    // carry its effect and its row in schema_migrations.
    static const std::vector<Migration> migrations = {
        {1, "initial schema", k_migration_1},
        {2, "record outcomes by start time", k_migration_2},
        {3, "schedule edits", k_migration_3},
        {4, "intents stored a batch to a row", k_migration_4},
        {5, "record counts per process", k_migration_5},
        {6, "webhook inbox", k_migration_6},
        {7, "records recovered from an interrupted run", k_migration_7},
        {8, "sealed secrets of portal connections", k_migration_8},
        {9, "intents for updates", k_migration_9},
        {10, "mapping versions edited in the portal", k_migration_10},
        {11, "attention and notifications", k_migration_11},
        {12, "failed attempts kept, dismissal reversible", k_migration_12},
        {13, "last connection tests", k_migration_13},
    };
    return migrations;
}

int latest_version() { return all().empty() ? 0 : all().back().version; }

int current_version(SQLite::Database& db) {
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY,"
        " applied_ms INTEGER NOT NULL)");
    return read_version(db);
}

int migrate(SQLite::Database& db, const std::string& path) {
    int version = 0;
    try {
        version = current_version(db);
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": cannot read the schema version: " + e.what());
    }
    const int latest = latest_version();
    if (version > latest) {
        throw std::runtime_error(path + ": database schema version " + std::to_string(version) +
                                 " is newer than this build of plexus knows (" +
                                 std::to_string(latest) +
                                 "); use a newer plexus binary, or restore a backup made by this "
                                 "version");
    }

    for (const Migration& m : all()) {
        if (m.version <= version) continue;
        try {
            // IMMEDIATE: take the write lock first, then re-check, so two processes opening
            // the same file at once cannot both apply a migration.
            SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
            const int now_version = read_version(db);
            if (now_version >= m.version) {
                tx.commit();
                version = now_version;
                continue;
            }
            db.exec(m.sql);
            SQLite::Statement record(db,
                                     "INSERT INTO schema_migrations (version, applied_ms) "
                                     "VALUES (?, ?)");
            record.bind(1, m.version);
            record.bind(2, static_cast<int64_t>(wall_clock_ms()));
            record.exec();
            tx.commit();
            version = m.version;
        } catch (const std::exception& e) {
            throw std::runtime_error(path + ": migration " + std::to_string(m.version) + " (" +
                                     m.name + ") failed: " + e.what());
        }
    }
    return version;
}

}  // namespace plexus::store_migrations
