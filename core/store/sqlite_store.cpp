// The SQLite implementation of plexus::Store (store.hpp). All of Plexus's SQL lives here and
// in migrations.cpp.
//
// Connection settings (applied on open, before migrations):
// - journal_mode=WAL: readers (portal, exports) never block the engine's commits;
// - synchronous=FULL: every COMMIT is on disk before the call returns (store.hpp's
//   durability contract; the crash-safety of commit_page depends on it);
// - foreign_keys=ON, busy timeout 5 s (another process, e.g. the CLI, may hold the write
//   lock for a moment);
// - wal_autocheckpoint=10000 pages (see configure()).
//
// Transactions: every mutating call is exactly one BEGIN IMMEDIATE ... COMMIT, so it either
// lands whole or not at all, and takes the write lock up front (no deadlock upgrading a read
// lock when two processes share the file). Reads that need a consistent view of several
// statements run in one deferred transaction.
//
// Threads: one mutex per SqliteStore serialises all use of its connection and its cached
// statements. for_each_outcome() releases it between chunks and calls the callback with it
// released, so a long export does not stall the engine and the callback may use the store.
//
// Errors: every failure is a std::runtime_error "<db file>: <operation>: <what failed>".
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "store/migrations.hpp"
#include "store/store.hpp"

namespace plexus {
namespace {

constexpr int k_busy_timeout_ms = 5000;

// Keys per statement in ledger_find_many: one prepared "IN (?, ?, ...)" statement of this
// width is reused for every chunk (a short last chunk is padded by repeating its last key,
// which IN ignores).
constexpr size_t k_ledger_chunk = 200;

// Rows per chunk in for_each_outcome (the mutex is released between chunks).
constexpr int64_t k_stream_chunk = 1000;

// A failure already phrased for the operator (names the database file); passed through
// unchanged by SqliteStore::guarded().
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A cached statement in use: reset with bindings cleared on entry, reset again on exit so
// it holds no read snapshot open (an un-reset SELECT would pin the WAL and block
// checkpoints).
class StatementUse {
public:
    explicit StatementUse(SQLite::Statement& s) : s_(s) {
        s_.tryReset();
        s_.clearBindings();
    }
    ~StatementUse() { s_.tryReset(); }
    StatementUse(const StatementUse&) = delete;
    StatementUse& operator=(const StatementUse&) = delete;

    SQLite::Statement* operator->() { return &s_; }
    SQLite::Statement& get() { return s_; }

private:
    SQLite::Statement& s_;
};

void bind_optional(SQLite::Statement& s, int index, const std::optional<std::string>& v) {
    if (v)
        s.bind(index, *v);
    else
        s.bind(index);  // NULL
}

std::optional<std::string> optional_text(const SQLite::Column& c) {
    if (c.isNull()) return std::nullopt;
    return c.getString();
}

// LIKE pattern matching `text` literally anywhere (use with ESCAPE '\').
std::string contains_pattern(const std::string& text) {
    std::string p = "%";
    for (char c : text) {
        if (c == '\\' || c == '%' || c == '_') p += '\\';
        p += c;
    }
    p += '%';
    return p;
}

// A value bound to a dynamically built query.
using Param = std::variant<int64_t, std::string>;

void bind_params(SQLite::Statement& s, const std::vector<Param>& params) {
    int i = 1;
    for (const Param& p : params) {
        if (const auto* n = std::get_if<int64_t>(&p))
            s.bind(i++, *n);
        else
            s.bind(i++, std::get<std::string>(p));
    }
}

// Describes an operation for an error message, lazily (the hot paths build no string
// unless something fails): about("read run", 7)() == "read run 7".
auto about(const char* what, const std::string& subject) {
    return [what, &subject] { return std::string(what) + " " + subject; };
}
auto about(const char* what, int64_t id) {
    return [what, id] { return std::string(what) + " " + std::to_string(id); };
}

// --- SQL --------------------------------------------------------------------------------

constexpr const char* k_run_columns =
    "id, process_id, trigger, status, message, read_count, created_count, updated_count, "
    "unchanged_count, failed_count, started_ms, finished_ms, recovered_count";

constexpr const char* k_outcome_columns =
    "id, run_id, process_id, source_key, target_key, action, error_class, message, attempts, "
    "started_ms, finished_ms";


constexpr const char* k_failed_columns =
    "process_id, source_key, record_json, error_class, message, attempts, first_failed_ms, "
    "last_failed_ms, coalesce(dismissed_ms, 0), dismissed_by, dismiss_reason";

// The page commit's inserts take many rows per statement ("INSERT … VALUES (…), (…), …":
// rows_statement()): a statement costs its cursors opened, positioned and closed again,
// which for a one-row insert into a table with two indexes is as much as the row itself.
constexpr size_t k_rows_wide = 64;   // rows per statement, then …
constexpr size_t k_rows_narrow = 8;  // … for the rest, then one at a time

constexpr const char* k_ledger_upsert_head =
    "INSERT INTO ledger (process_id, source_key, target_key, payload_hash, updated_ms, "
    "target_cursor)";
constexpr int k_ledger_upsert_columns = 6;
constexpr const char* k_ledger_upsert_tail =
    " ON CONFLICT (process_id, source_key) DO UPDATE SET "
    "target_key = excluded.target_key, payload_hash = excluded.payload_hash, "
    "updated_ms = excluded.updated_ms, target_cursor = excluded.target_cursor";

constexpr const char* k_outcome_insert_head =
    "INSERT INTO record_outcomes (run_id, process_id, source_key, target_key, action, "
    "error_class, message, attempts, started_ms, finished_ms)";
constexpr int k_outcome_insert_columns = 10;

// Intents, a batch to a row (migration 2 describes the row's format). Closing an intent
// clears its bit; the row goes when its last open member closes: the page's ledger rows and
// outcomes now carry what happened.
constexpr const char* k_intent_batch_insert =
    "INSERT INTO intent_batches (process_id, run_id, open_members, members, member_fields) "
    "VALUES (?1, ?2, ?3, ?4, 7)";
constexpr const char* k_intent_batch_open_members =
    "SELECT open_members FROM intent_batches WHERE id = ?1 AND process_id = ?2";
constexpr const char* k_intent_batch_update =
    "UPDATE intent_batches SET open_members = ?2 WHERE id = ?1";
constexpr const char* k_intent_batch_delete = "DELETE FROM intent_batches WHERE id = ?1";

// Failed-queue upsert: one row per source record. A repeated failure replaces the record and
// the error, adds its attempts to those already counted and keeps the first failure time; a
// dismissed record that fails again is back in the queue (migration 12).
constexpr const char* k_failed_upsert =
    "INSERT INTO failed_queue (process_id, source_key, record_json, error_class, message, "
    "attempts, first_failed_ms, last_failed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (process_id, source_key) DO UPDATE SET "
    "record_json = excluded.record_json, error_class = excluded.error_class, "
    "message = excluded.message, attempts = failed_queue.attempts + excluded.attempts, "
    "first_failed_ms = min(failed_queue.first_failed_ms, excluded.first_failed_ms), "
    "last_failed_ms = max(failed_queue.last_failed_ms, excluded.last_failed_ms), "
    "dismissed_ms = NULL, dismissed_by = '', dismiss_reason = ''";

// A failed attempt's payload and answer (migration 12), one row per failed outcome.
constexpr const char* k_failed_attempt_insert =
    "INSERT INTO failed_attempts (outcome_id, operation, payload, payload_bytes, note, answer) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

constexpr const char* k_failed_delete =
    "DELETE FROM failed_queue WHERE process_id = ?1 AND source_key = ?2";

constexpr const char* k_cursor_upsert =
    "INSERT INTO cursors (process_id, cursor, since, updated_ms) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (process_id) DO UPDATE SET cursor = excluded.cursor, since = excluded.since, "
    "updated_ms = excluded.updated_ms";

constexpr const char* k_run_add_counts =
    "UPDATE runs SET read_count = read_count + ?2, created_count = created_count + ?3, "
    "updated_count = updated_count + ?4, unchanged_count = unchanged_count + ?5, "
    "failed_count = failed_count + ?6, recovered_count = recovered_count + ?7 WHERE id = ?1";

constexpr const char* k_audit_insert =
    "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)";

constexpr const char* k_user_columns =
    "id, name, role, password_hash, disabled, created_ms, updated_ms";

User read_user(SQLite::Statement& s) {
    return User{s.getColumn(0).getInt64(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                s.getColumn(3).getString(), s.getColumn(4).getInt() != 0,
                s.getColumn(5).getInt64(), s.getColumn(6).getInt64()};
}

// A row of "SELECT source_key, target_key, payload_hash, updated_ms, target_cursor".
LedgerEntry read_ledger(SQLite::Statement& s) {
    return LedgerEntry{s.getColumn(0).getString(), s.getColumn(1).getString(),
                       s.getColumn(2).getString(), s.getColumn(3).getInt64(),
                       s.getColumn(4).getString()};
}

RunRecord read_run(SQLite::Statement& s) {
    RunRecord r;
    r.id = s.getColumn(0).getInt64();
    r.process_id = s.getColumn(1).getString();
    r.trigger = s.getColumn(2).getString();
    r.status = s.getColumn(3).getString();
    r.message = s.getColumn(4).getString();
    r.counts.read = s.getColumn(5).getInt64();
    r.counts.created = s.getColumn(6).getInt64();
    r.counts.updated = s.getColumn(7).getInt64();
    r.counts.unchanged = s.getColumn(8).getInt64();
    r.counts.failed = s.getColumn(9).getInt64();
    r.started_ms = s.getColumn(10).getInt64();
    r.finished_ms = s.getColumn(11).getInt64();
    r.counts.recovered = s.getColumn(12).getInt64();
    return r;
}

RecordOutcome read_outcome(SQLite::Statement& s) {
    RecordOutcome o;
    o.id = s.getColumn(0).getInt64();
    o.run_id = s.getColumn(1).getInt64();
    o.process_id = s.getColumn(2).getString();
    o.source_key = s.getColumn(3).getString();
    o.target_key = s.getColumn(4).getString();
    o.action = s.getColumn(5).getString();
    o.error_class = s.getColumn(6).getString();
    o.message = s.getColumn(7).getString();
    o.attempts = s.getColumn(8).getInt();
    o.started_ms = s.getColumn(9).getInt64();
    o.finished_ms = s.getColumn(10).getInt64();
    return o;
}

// --- intent batches (format: migrations.cpp, migration 2) -------------------------------

constexpr int k_intent_index_bits = 20;
constexpr size_t k_intent_batch_max = size_t{1} << k_intent_index_bits;

int64_t intent_id(int64_t row_id, size_t member) {
    return (row_id << k_intent_index_bits) | static_cast<int64_t>(member);
}
int64_t intent_row(int64_t id) { return id >> k_intent_index_bits; }
size_t intent_member(int64_t id) {
    return static_cast<size_t>(id & ((int64_t{1} << k_intent_index_bits) - 1));
}

void put_netstring(std::string& out, std::string_view field) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, field.size());
    out.append(digits, r.ptr);
    out.push_back(':');
    out.append(field);
    out.push_back(',');
}

// Takes the netstring at the front of `in`; false when `in` does not start with one.
bool take_netstring(std::string_view& in, std::string_view& field) {
    size_t size = 0;
    const auto r = std::from_chars(in.data(), in.data() + in.size(), size);
    if (r.ec != std::errc() || r.ptr == in.data()) return false;
    const size_t head = static_cast<size_t>(r.ptr - in.data());
    if (head >= in.size() || in[head] != ':' || size >= in.size() - head - 1 ||
        in[head + 1 + size] != ',')
        return false;
    field = in.substr(head + 1, size);
    in.remove_prefix(head + 2 + size);
    return true;
}

bool member_open(std::string_view bitmap, size_t i) {
    return i / 8 < bitmap.size() && (static_cast<unsigned char>(bitmap[i / 8]) >> (i % 8)) & 1u;
}

std::string_view blob_of(const SQLite::Column& c) {
    return std::string_view(static_cast<const char*>(c.getBlob()),
                            static_cast<size_t>(c.getBytes()));
}

FailedRecord read_failed(SQLite::Statement& s) {
    FailedRecord f;
    f.process_id = s.getColumn(0).getString();
    f.source_key = s.getColumn(1).getString();
    f.record_json = s.getColumn(2).getString();
    f.error_class = s.getColumn(3).getString();
    f.message = s.getColumn(4).getString();
    f.attempts = s.getColumn(5).getInt();
    f.first_failed_ms = s.getColumn(6).getInt64();
    f.last_failed_ms = s.getColumn(7).getInt64();
    f.dismissed_ms = s.getColumn(8).getInt64();
    f.dismissed_by = s.getColumn(9).getString();
    f.dismiss_reason = s.getColumn(10).getString();
    return f;
}

// SQLite reads a negative LIMIT as "no limit".
// " WHERE ..." of a RunQuery (limit and offset not included).
std::string run_where(const RunQuery& q, std::vector<Param>& params) {
    std::string sql = " WHERE 1";
    if (q.process_id) {
        sql += " AND process_id = ?";
        params.emplace_back(*q.process_id);
    }
    if (q.status) {
        sql += " AND status = ?";
        params.emplace_back(*q.status);
    }
    if (q.started_from_ms) {
        sql += " AND started_ms >= ?";
        params.emplace_back(*q.started_from_ms);
    }
    if (q.started_to_ms) {
        sql += " AND started_ms < ?";
        params.emplace_back(*q.started_to_ms);
    }
    return sql;
}

int64_t sql_limit(int64_t limit) { return limit > 0 ? limit : -1; }

// The ids an outcome query can match at most, inclusive (see outcome_id_bounds).
struct IdBounds {
    int64_t first = 0;
    int64_t last = 0;
};

// The WHERE clause and parameters of an outcome query (limit, offset and order excluded).
// `ids` (from outcome_id_bounds) narrows the id range when the query has a time filter.
std::string outcome_where(const OutcomeQuery& q, const std::optional<IdBounds>& ids,
                          std::vector<Param>& params) {
    std::string where = " WHERE 1";
    if (q.run_id) {
        where += " AND run_id = ?";
        params.emplace_back(*q.run_id);
    }
    if (q.process_id) {
        where += " AND process_id = ?";
        params.emplace_back(*q.process_id);
    }
    if (q.action) {
        where += " AND action = ?";
        params.emplace_back(*q.action);
    }
    if (q.error_class) {
        where += " AND error_class = ?";
        params.emplace_back(*q.error_class);
    }
    if (q.text && !q.text->empty()) {
        // Substring, taken literally (%, _ and \ escaped); ASCII case-insensitive (LIKE).
        where += " AND (source_key LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\')";
        const std::string pattern = contains_pattern(*q.text);
        params.emplace_back(pattern);
        params.emplace_back(pattern);
    }
    // The time bounds are checked row by row ("+" keeps SQLite from driving the query by
    // record_outcomes_by_started: paging by id through a time index would re-read the whole
    // range for every page). The id bounds make that check cheap.
    if (q.started_from_ms) {
        where += " AND +started_ms >= ?";
        params.emplace_back(*q.started_from_ms);
    }
    if (q.started_to_ms) {
        where += " AND +started_ms < ?";
        params.emplace_back(*q.started_to_ms);
    }
    // One lower bound on id, never two: SQLite seeks by only one of them and filters by the
    // other, so "id >= first AND id > after_id" would rescan from `first` on every page.
    if (ids) {
        where += " AND id BETWEEN ? AND ?";
        params.emplace_back(std::max(ids->first, q.after_id + 1));
        params.emplace_back(q.max_id ? std::min(ids->last, *q.max_id) : ids->last);
    } else if (q.max_id) {
        where += " AND id BETWEEN ? AND ?";
        params.emplace_back(q.after_id + 1);
        params.emplace_back(*q.max_id);
    } else if (q.after_id > 0) {
        where += " AND id > ?";
        params.emplace_back(q.after_id);
    }
    return where;
}

// --- the store --------------------------------------------------------------------------

// A SQLite failure as a StoreError, or as a StoreBusyError when the lock was not to be had
// within the busy timeout.
[[noreturn]] void throw_store_error(const std::string& path, const std::string& description,
                                    const SQLite::Exception& e) {
    const int code = e.getErrorCode() & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        throw StoreBusyError(path + ": " + description +
                             ": the database is locked by another process (waited " +
                             std::to_string(k_busy_timeout_ms / 1000) +
                             " s); nothing was changed, try again");
    throw StoreError(path + ": " + description + ": " + e.what());
}

// Opens `path` read only. A database in WAL mode needs its -shm file to be writable, or
// creatable, even for reading; in a read-only directory without one SQLite cannot open it
// so, and the file is then opened as immutable (no locking, no WAL: correct as long as no
// one writes it, which a read-only directory ensures; a WAL left by a crash is not read).
std::unique_ptr<SQLite::Database> open_read_only_connection(const std::string& path,
                                                            bool& immutable) {
    immutable = false;
    try {
        auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READONLY,
                                                     k_busy_timeout_ms);
        db->exec("SELECT count(*) FROM sqlite_master");  // the first read opens the WAL index
        return db;
    } catch (const SQLite::Exception& e) {
        const int code = e.getErrorCode() & 0xff;
        if (code != SQLITE_CANTOPEN && code != SQLITE_READONLY) throw;
    }
    std::string uri = "file:";
    for (char ch : path) {
        if (ch == '%' || ch == '?' || ch == '#') {
            static const char* hex = "0123456789ABCDEF";
            uri += '%';
            uri += hex[(static_cast<unsigned char>(ch) >> 4) & 0xf];
            uri += hex[static_cast<unsigned char>(ch) & 0xf];
        } else {
            uri += ch;
        }
    }
    uri += "?immutable=1";
    immutable = true;
    return std::make_unique<SQLite::Database>(uri, SQLite::OPEN_READONLY | SQLite::OPEN_URI,
                                              k_busy_timeout_ms);
}

class SqliteStore final : public Store {
    // A connection with its cache of prepared statements. mu guards all of it.
    struct RowsStatement {
        const char* head;  // one of the k_*_head constants: compared by address
        size_t rows;
        SQLite::Statement* statement;  // owned by statements
    };
    struct Conn {
        std::mutex mu;
        std::unique_ptr<SQLite::Database> db;  // declared before statements: closed last
        std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements;
        std::string ledger_in_sql;
        std::vector<RowsStatement> rows_statements;
    };
    // The connection the calling thread holds (set by Use): what db() and stmt() work on.
    inline static thread_local Conn* current_ = nullptr;
    class Use {
    public:
        explicit Use(Conn& c) : lock_(c.mu), previous_(current_) { current_ = &c; }
        ~Use() { current_ = previous_; }
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;

    private:
        std::lock_guard<std::mutex> lock_;
        Conn* previous_;
    };
    SQLite::Database& db() { return *current_->db; }

public:
    struct ReadOnly {};

    // Read-only: see open_sqlite_store_read_only(). PRAGMA query_only makes any write fail
    // inside SQLite, whatever the file's permissions.
    SqliteStore(std::string path, ReadOnly) : path_(std::move(path)) {
        try {
            bool immutable = false;
            writer_.db = open_read_only_connection(path_, immutable);
            writer_.db->exec("PRAGMA query_only = ON");
            SQLite::Statement v(*writer_.db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
            const int version = v.executeStep() ? v.getColumn(0).getInt() : 0;
            if (version != store_migrations::latest_version())
                throw StoreError(path_ + ": the database has schema version " +
                                 std::to_string(version) + ", this build reads version " +
                                 std::to_string(store_migrations::latest_version()) +
                                 "; open it once with plexus serve or run where it is writable");
        } catch (const StoreError&) {
            throw;
        } catch (const std::exception& e) {
            throw StoreError(path_ + ": cannot open the database for reading: " + e.what());
        }
    }

    explicit SqliteStore(std::string path) : path_(std::move(path)) {
        try {
            writer_.db = std::make_unique<SQLite::Database>(
                path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, k_busy_timeout_ms);
        } catch (const std::exception& e) {
            throw StoreError(path_ + ": cannot open the database: " + e.what());
        }
        configure();
        store_migrations::migrate(*writer_.db, path_);  // throws naming the file and migration
        open_reader();
    }

    int schema_version() override {
        return guarded_read("read the schema version", [&] {
            StatementUse s(stmt("SELECT coalesce(max(version), 0) FROM schema_migrations"));
            s->executeStep();
            return s->getColumn(0).getInt();
        });
    }

    // --- leases ---------------------------------------------------------------------------

    bool acquire_lease(const std::string& process_id, const std::string& owner, int64_t now_ms,
                       int64_t ttl_ms) override {
        return guarded(about("acquire the lease of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            // Taken when free, expired (expires_ms <= now) or already ours (then renewed).
            StatementUse s(stmt(
                "INSERT INTO leases (process_id, owner, acquired_ms, expires_ms) "
                "VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT (process_id) DO UPDATE SET owner = excluded.owner, "
                "acquired_ms = CASE WHEN leases.owner = excluded.owner THEN leases.acquired_ms "
                "ELSE excluded.acquired_ms END, expires_ms = excluded.expires_ms "
                "WHERE leases.owner = excluded.owner OR leases.expires_ms <= "
                "excluded.acquired_ms"));
            s->bind(1, process_id);
            s->bind(2, owner);
            s->bind(3, now_ms);
            s->bind(4, now_ms + ttl_ms);
            s->exec();
            const bool taken = db().getChanges() > 0;
            tx.commit();
            return taken;
        });
    }

    void renew_lease(const std::string& process_id, const std::string& owner, int64_t now_ms,
                     int64_t ttl_ms) override {
        guarded(about("renew the lease of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(
                stmt("UPDATE leases SET expires_ms = ?3 WHERE process_id = ?1 AND owner = ?2"));
            s->bind(1, process_id);
            s->bind(2, owner);
            s->bind(3, now_ms + ttl_ms);
            s->exec();
            if (db().getChanges() == 0) {
                // Lost (expired and taken by another owner, or released): the caller must
                // stop rather than run alongside the new holder.
                throw StoreError(path_ + ": renew the lease of " + process_id + ": not held by " +
                                 owner + " any more");
            }
            tx.commit();
        });
    }

    void release_lease(const std::string& process_id, const std::string& owner) override {
        guarded(about("release the lease of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt("DELETE FROM leases WHERE process_id = ?1 AND owner = ?2"));
            s->bind(1, process_id);
            s->bind(2, owner);
            s->exec();
            tx.commit();
        });
    }

    std::optional<std::string> lease_holder(const std::string& process_id, int64_t now_ms) override {
        return guarded_read(about("read the lease of", process_id), [&]() -> std::optional<std::string> {
            StatementUse s(
                stmt("SELECT owner FROM leases WHERE process_id = ?1 AND expires_ms > ?2"));
            s->bind(1, process_id);
            s->bind(2, now_ms);
            if (!s->executeStep()) return std::nullopt;
            return s->getColumn(0).getString();
        });
    }

    // --- runs -----------------------------------------------------------------------------

    int64_t begin_run(const std::string& process_id, const std::string& trigger,
                      int64_t now_ms) override {
        return guarded(about("begin a run of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(
                stmt("INSERT INTO runs (process_id, trigger, status, started_ms) "
                     "VALUES (?1, ?2, ?3, ?4)"));
            s->bind(1, process_id);
            s->bind(2, trigger);
            s->bind(3, run_status::running);
            s->bind(4, now_ms);
            s->exec();
            const int64_t id = db().getLastInsertRowid();
            tx.commit();
            return id;
        });
    }

    void finish_run(int64_t run_id, const std::string& status, const std::string& message,
                    int64_t now_ms) override {
        guarded(about("finish run", run_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(
                stmt("UPDATE runs SET status = ?2, message = ?3, finished_ms = ?4 WHERE id = ?1"));
            s->bind(1, run_id);
            s->bind(2, status);
            s->bind(3, message);
            s->bind(4, now_ms);
            s->exec();
            if (db().getChanges() == 0)
                throw StoreError(path_ + ": finish run " + std::to_string(run_id) +
                                 ": no such run");
            tx.commit();
        });
    }

    int abandon_running(const std::string& process_id, int64_t now_ms) override {
        return guarded(about("abandon the running runs of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(
                stmt("UPDATE runs SET status = ?2, finished_ms = ?3, message = CASE WHEN "
                     "message = '' "
                     "THEN 'the host stopped while this run was in progress' ELSE message END "
                     "WHERE process_id = ?1 AND status = ?4"));
            s->bind(1, process_id);
            s->bind(2, run_status::abandoned);
            s->bind(3, now_ms);
            s->bind(4, run_status::running);
            s->exec();
            const int n = db().getChanges();
            tx.commit();
            return n;
        });
    }

    std::optional<RunRecord> run(int64_t run_id) override {
        return guarded_read(about("read run", run_id), [&]() -> std::optional<RunRecord> {
            StatementUse s(
                stmt(std::string("SELECT ") + k_run_columns + " FROM runs WHERE id = ?1"));
            s->bind(1, run_id);
            if (!s->executeStep()) return std::nullopt;
            return read_run(s.get());
        });
    }

    // Newest first (started_ms, then id, descending). started_from_ms is inclusive,
    // started_to_ms exclusive. limit <= 0: no limit.
    std::vector<RunRecord> runs(const RunQuery& q) override {
        return guarded_read("list runs", [&] {
            std::vector<Param> params;
            std::string sql =
                std::string("SELECT ") + k_run_columns + " FROM runs" + run_where(q, params);
            sql += " ORDER BY started_ms DESC, id DESC LIMIT ? OFFSET ?";
            params.emplace_back(sql_limit(q.limit));
            params.emplace_back(std::max<int64_t>(q.offset, 0));

            StatementUse s(stmt(sql));
            bind_params(s.get(), params);
            std::vector<RunRecord> out;
            while (s->executeStep()) out.push_back(read_run(s.get()));
            return out;
        });
    }

    std::optional<RunRecord> last_run(const std::string& process_id) override {
        return guarded_read(about("read the last run of", process_id),
                       [&]() -> std::optional<RunRecord> {
                           StatementUse s(stmt(std::string("SELECT ") + k_run_columns +
                                               " FROM runs WHERE process_id = ?1"
                                               " ORDER BY started_ms DESC, id DESC LIMIT 1"));
                           s->bind(1, process_id);
                           if (!s->executeStep()) return std::nullopt;
                           return read_run(s.get());
                       });
    }

    int64_t run_count(const RunQuery& q) override {
        return guarded_read("count runs", [&] {
            std::vector<Param> params;
            std::string sql = "SELECT count(*) FROM runs" + run_where(q, params);
            StatementUse s(stmt(sql));
            bind_params(s.get(), params);
            s->executeStep();
            return s->getColumn(0).getInt64();
        });
    }

    std::vector<RunStats> run_stats() override {
        return guarded_read("summarise runs", [&] {
            std::map<std::string, RunStats> by_process;
            {
                StatementUse s(stmt(
                    "SELECT process_id, status, count(*), sum(read_count), sum(created_count), "
                    "sum(updated_count), sum(unchanged_count), sum(failed_count) FROM runs "
                    "GROUP BY process_id, status ORDER BY process_id, status"));
                while (s->executeStep()) {
                    RunStats& r = by_process[s->getColumn(0).getString()];
                    r.process_id = s->getColumn(0).getString();
                    r.runs_by_status.emplace_back(s->getColumn(1).getString(),
                                                  s->getColumn(2).getInt64());
                    r.records.read += s->getColumn(3).getInt64();
                    r.records.created += s->getColumn(4).getInt64();
                    r.records.updated += s->getColumn(5).getInt64();
                    r.records.unchanged += s->getColumn(6).getInt64();
                    r.records.failed += s->getColumn(7).getInt64();
                }
            }
            const auto& bounds = run_duration_buckets_s();
            std::string sql = "SELECT process_id, count(*), total(d)";
            for (double b : bounds)
                sql += ", total(d <= " + std::to_string(static_cast<int64_t>(b * 1000)) + ")";
            sql += " FROM (SELECT process_id, finished_ms - started_ms AS d FROM runs "
                   "WHERE finished_ms > 0) GROUP BY process_id";
            StatementUse s(stmt(sql));
            while (s->executeStep()) {
                RunStats& r = by_process[s->getColumn(0).getString()];
                r.process_id = s->getColumn(0).getString();
                r.finished = s->getColumn(1).getInt64();
                r.duration_sum_s = s->getColumn(2).getDouble() / 1000.0;
                r.duration_buckets.clear();
                for (size_t i = 0; i < bounds.size(); ++i)
                    r.duration_buckets.push_back(
                        static_cast<int64_t>(s->getColumn(static_cast<int>(3 + i)).getDouble()));
            }
            std::vector<RunStats> out;
            for (auto& [id, r] : by_process) {
                if (r.duration_buckets.empty()) r.duration_buckets.assign(bounds.size(), 0);
                out.push_back(std::move(r));
            }
            return out;
        });
    }

    std::vector<RecordCount> record_counts() override {
        return guarded_read("count record outcomes per process", [&] {
            StatementUse s(stmt("SELECT process_id, action, n FROM process_record_counts "
                                "ORDER BY process_id, action"));
            std::vector<RecordCount> out;
            while (s->executeStep())
                out.push_back(RecordCount{s->getColumn(0).getString(), s->getColumn(1).getString(),
                                          s->getColumn(2).getInt64()});
            return out;
        });
    }

    // --- cursor ---------------------------------------------------------------------------

    CursorState cursor(const std::string& process_id) override {
        return guarded_read(about("read the cursor of", process_id), [&] {
            StatementUse s(stmt("SELECT cursor, since FROM cursors WHERE process_id = ?1"));
            s->bind(1, process_id);
            CursorState c;
            if (s->executeStep()) {
                c.cursor = optional_text(s->getColumn(0));
                c.since = optional_text(s->getColumn(1));
            }
            return c;
        });
    }

    // An empty `since_iso` clears `since` too: the next run reads from the beginning.
    // Audit: action "cursor.rewind", subject the process, detail
    // {"since": ..., "previous_cursor": ..., "previous_since": ...}.
    void rewind_cursor(const std::string& process_id, const std::string& since_iso,
                       const std::string& actor, int64_t now_ms) override {
        guarded(about("rewind the cursor of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            nlohmann::json detail;
            detail["since"] = since_iso.empty() ? nlohmann::json() : nlohmann::json(since_iso);
            detail["previous_cursor"] = nullptr;
            detail["previous_since"] = nullptr;
            {
                StatementUse s(stmt("SELECT cursor, since FROM cursors WHERE process_id = ?1"));
                s->bind(1, process_id);
                if (s->executeStep()) {
                    if (auto c = optional_text(s->getColumn(0))) detail["previous_cursor"] = *c;
                    if (auto c = optional_text(s->getColumn(1))) detail["previous_since"] = *c;
                }
            }
            {
                StatementUse s(stmt(k_cursor_upsert));
                s->bind(1, process_id);
                s->bind(2);  // cursor cleared
                bind_optional(s.get(), 3,
                              since_iso.empty() ? std::nullopt : std::optional(since_iso));
                s->bind(4, now_ms);
                s->exec();
            }
            insert_audit(AuditEntry{0, now_ms, actor, "cursor.rewind", process_id, detail.dump()});
            tx.commit();
        });
    }

    // --- ledger ---------------------------------------------------------------------------

    std::optional<LedgerEntry> ledger_find(const std::string& process_id,
                                           const std::string& source_key) override {
        return guarded_read(
            about("look up the ledger of", process_id), [&]() -> std::optional<LedgerEntry> {
                StatementUse s(
                    stmt("SELECT source_key, target_key, payload_hash, updated_ms, target_cursor "
                         "FROM ledger WHERE process_id = ?1 AND source_key = ?2"));
                s->bind(1, process_id);
                s->bind(2, source_key);
                if (!s->executeStep()) return std::nullopt;
                return read_ledger(s.get());
            });
    }

    // Result order: by source key within each chunk of k_ledger_chunk keys; each key found
    // appears once even when asked for several times.
    std::vector<LedgerEntry> ledger_find_many(
        const std::string& process_id, const std::vector<std::string>& source_keys) override {
        return guarded_read(about("look up the ledger of", process_id), [&] {
            std::vector<LedgerEntry> out;
            if (source_keys.empty()) return out;
            // Drop repeated keys so one key cannot come back twice from two chunks.
            std::vector<const std::string*> keys;
            keys.reserve(source_keys.size());
            {
                std::unordered_set<std::string_view> seen;
                seen.reserve(source_keys.size());
                for (const std::string& k : source_keys)
                    if (seen.insert(k).second) keys.push_back(&k);
            }
            out.reserve(keys.size());
            SQLite::Transaction tx(db());  // one read snapshot for all chunks
            SQLite::Statement& chunk_stmt = ledger_in_statement();
            for (size_t begin = 0; begin < keys.size(); begin += k_ledger_chunk) {
                const size_t end = std::min(keys.size(), begin + k_ledger_chunk);
                StatementUse s(chunk_stmt);
                s->bindNoCopy(1, process_id);
                for (size_t i = 0; i < k_ledger_chunk; ++i) {
                    // Pad a short last chunk with its last key (IN ignores repeats).
                    const std::string& key = *keys[std::min(begin + i, end - 1)];
                    s->bindNoCopy(static_cast<int>(i + 2), key);
                }
                while (s->executeStep())
                    out.push_back(read_ledger(s.get()));
            }
            tx.commit();
            return out;
        });
    }

    std::optional<LedgerEntry> ledger_find_by_target(const std::string& process_id,
                                                     const std::string& target_key) override {
        return guarded_read(
            about("look up the ledger of", process_id), [&]() -> std::optional<LedgerEntry> {
                StatementUse s(
                    stmt("SELECT source_key, target_key, payload_hash, updated_ms, target_cursor "
                         "FROM ledger WHERE process_id = ?1 AND target_key = ?2 LIMIT 1"));
                s->bind(1, process_id);
                s->bind(2, target_key);
                if (!s->executeStep()) return std::nullopt;
                return read_ledger(s.get());
            });
    }

    int64_t ledger_count(const std::string& process_id) override {
        return guarded_read(about("count the ledger of", process_id), [&] {
            StatementUse s(stmt("SELECT count(*) FROM ledger WHERE process_id = ?1"));
            s->bind(1, process_id);
            s->executeStep();
            return s->getColumn(0).getInt64();
        });
    }

    std::vector<LedgerEntry> ledger_page(const std::string& process_id,
                                         const std::string& after_source_key,
                                         int64_t limit) override {
        return guarded_read(about("page through the ledger of", process_id), [&] {
            StatementUse s(stmt(
                "SELECT source_key, target_key, payload_hash, updated_ms, target_cursor "
                "FROM ledger WHERE process_id = ?1 AND source_key > ?2 ORDER BY source_key "
                "LIMIT ?3"));
            s->bind(1, process_id);
            s->bind(2, after_source_key);
            s->bind(3, sql_limit(limit));
            std::vector<LedgerEntry> out;
            while (s->executeStep()) out.push_back(read_ledger(s.get()));
            return out;
        });
    }

    void adopt_into_ledger(const std::string& process_id, const LedgerUpsert& entry,
                           const std::vector<int64_t>& intents_closed, const std::string& actor,
                           int64_t now_ms) override {
        guarded(about("adopt a record into the ledger of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            PageCommit page;
            page.process_id = process_id;
            page.now_ms = now_ms;
            page.ledger.push_back(entry);
            page.intents_closed = intents_closed;
            upsert_ledger(page);
            if (!page.intents_closed.empty()) close_intents(page);
            {
                StatementUse u(stmt(k_failed_delete));
                u->bindNoCopy(1, process_id);
                u->bindNoCopy(2, entry.source_key);
                u->exec();
            }
            nlohmann::json detail = {{"source_key", entry.source_key},
                                     {"target_key", entry.target_key}};
            insert_audit(AuditEntry{0, now_ms, actor, "process.reconcile.adopt", process_id,
                                    detail.dump()});
            tx.commit();
        });
    }

    // --- intents --------------------------------------------------------------------------

    std::vector<int64_t> open_intents(const std::vector<Intent>& intents) override {
        return guarded("open intents", [&] {
            if (intents.empty()) return std::vector<int64_t>();
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            std::vector<int64_t> ids = insert_intents(intents);
            tx.commit();
            return ids;
        });
    }

    std::vector<Intent> pending_intents(const std::string& process_id) override {
        return guarded_read(about("read the open intents of", process_id), [&] {
            StatementUse s(
                stmt("SELECT id, run_id, open_members, members, member_fields FROM intent_batches "
                     "WHERE process_id = ?1 ORDER BY id"));
            s->bind(1, process_id);
            std::vector<Intent> out;
            while (s->executeStep()) {
                const int64_t row = s->getColumn(0).getInt64();
                const int64_t run_id = s->getColumn(1).getInt64();
                const std::string_view open = blob_of(s->getColumn(2));
                std::string_view members = blob_of(s->getColumn(3));
                const int fields = s->getColumn(4).getInt();
                if (fields != 5 && fields != 7)
                    throw StoreError(path_ + ": read the open intents of " + process_id +
                                     ": intent batch " + std::to_string(row) + " has members of " +
                                     std::to_string(fields) + " fields (5 or 7 expected)");
                for (size_t i = 0; !members.empty(); ++i) {
                    std::string_view f[7];
                    for (int k = 0; k < fields; ++k)
                        if (!take_netstring(members, f[k]))
                            throw StoreError(path_ + ": read the open intents of " + process_id +
                                             ": intent batch " + std::to_string(row) +
                                             " is corrupt at member " + std::to_string(i));
                    if (!member_open(open, i)) continue;
                    Intent in;
                    in.id = intent_id(row, i);
                    in.process_id = process_id;
                    in.run_id = run_id;
                    in.source_key = f[0];
                    in.idempotency_key = f[1];
                    in.payload_hash = f[2];
                    in.payload_json = f[3];
                    std::from_chars(f[4].data(), f[4].data() + f[4].size(), in.created_ms);
                    if (fields == 7 && f[5] == "update") {
                        in.op = "update";
                        in.target_key = f[6];
                    }
                    out.push_back(std::move(in));
                }
            }
            return out;
        });
    }

    // --- the page commit ------------------------------------------------------------------

    // One IMMEDIATE transaction: ledger upserts, outcome inserts, intents closed (deleted),
    // failed-queue upserts then deletions of resolved keys, the cursor (when given), the
    // run's counters and the intents opened for the next write. Any failure (including an
    // unknown run) rolls all of it back.
    //
    // Defaults taken from the page: an outcome's empty process_id / zero run_id, a failed
    // record's empty process_id and zero first/last failure times. A key should not be both
    // in `failed` and `failed_resolved`; if it is, resolved wins (deletions run last).
    std::vector<int64_t> commit_page(const PageCommit& page) override {
        return guarded(
            [&] {
                return std::string("commit a page of run ") + std::to_string(page.run_id) + " of " +
                       page.process_id;
            },
            [&] {
                SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
                check_fences(page);
                write_page(page);
                std::vector<int64_t> ids = insert_intents(page.intents_opened);
                tx.commit();
                return ids;
            });
    }

    // --- failed queue ---------------------------------------------------------------------

    // Waiting: oldest first failure first; dismissed: newest dismissal first; any: by key.
    // Each reads its own partial index (migration 12).
    std::vector<FailedRecord> failed_records(const std::string& process_id, int64_t limit,
                                             int64_t offset, FailedState state) override {
        return guarded_read(about("read the failed records of", process_id), [&] {
            const char* where_order =
                state == FailedState::waiting
                    ? " AND dismissed_ms IS NULL ORDER BY first_failed_ms, source_key"
                : state == FailedState::dismissed
                    ? " AND dismissed_ms IS NOT NULL ORDER BY dismissed_ms DESC, source_key"
                    : " ORDER BY source_key";
            StatementUse s(stmt(std::string("SELECT ") + k_failed_columns +
                                " FROM failed_queue WHERE process_id = ?1" + where_order +
                                " LIMIT ?2 OFFSET ?3"));
            s->bind(1, process_id);
            s->bind(2, sql_limit(limit));
            s->bind(3, std::max<int64_t>(offset, 0));
            std::vector<FailedRecord> out;
            while (s->executeStep()) out.push_back(read_failed(s.get()));
            return out;
        });
    }

    int64_t failed_count(const std::string& process_id, FailedState state) override {
        return guarded_read(about("count the failed records of", process_id), [&] {
            StatementUse s(stmt(
                state == FailedState::waiting
                    ? "SELECT count(*) FROM failed_queue WHERE process_id = ?1 AND dismissed_ms IS NULL"
                : state == FailedState::dismissed
                    ? "SELECT count(*) FROM failed_queue WHERE process_id = ?1 AND dismissed_ms IS NOT NULL"
                    : "SELECT count(*) FROM failed_queue WHERE process_id = ?1"));
            s->bind(1, process_id);
            s->executeStep();
            return s->getColumn(0).getInt64();
        });
    }

    std::optional<FailedRecord> failed_record(const std::string& process_id,
                                              const std::string& source_key) override {
        return guarded_read(about("read a failed record of", process_id),
                       [&]() -> std::optional<FailedRecord> {
                           StatementUse s(stmt(std::string("SELECT ") + k_failed_columns +
                                               " FROM failed_queue WHERE process_id = ?1 AND "
                                               "source_key = ?2"));
                           s->bind(1, process_id);
                           s->bind(2, source_key);
                           if (!s->executeStep()) return std::nullopt;
                           return read_failed(s.get());
                       });
    }

    int64_t dismiss_failed(const std::string& process_id,
                           const std::vector<std::string>& source_keys, const std::string& reason,
                           const AuditEntry& entry) override {
        return update_each_key(
            "dismiss failed records of", process_id, source_keys, entry,
            "UPDATE failed_queue SET dismissed_ms = ?3, dismissed_by = ?4, dismiss_reason = ?5 "
            "WHERE process_id = ?1 AND source_key = ?2 AND dismissed_ms IS NULL",
            [&](SQLite::Statement& s) {
                s.bind(3, std::max<int64_t>(entry.at_ms, 1));
                s.bind(4, entry.actor);
                s.bind(5, reason);
            });
    }

    int64_t restore_failed(const std::string& process_id,
                           const std::vector<std::string>& source_keys,
                           const AuditEntry& entry) override {
        return update_each_key(
            "restore dismissed records of", process_id, source_keys, entry,
            "UPDATE failed_queue SET dismissed_ms = NULL, dismissed_by = '', dismiss_reason = '' "
            "WHERE process_id = ?1 AND source_key = ?2 AND dismissed_ms IS NOT NULL",
            [](SQLite::Statement&) {});
    }

    // Runs `sql` (?1 the process, ?2 a key, the rest bound by bind_more) for each key, and
    // writes the audit entry, in one transaction; how many rows changed.
    template <class BindMore>
    int64_t update_each_key(const char* what, const std::string& process_id,
                            const std::vector<std::string>& keys, const AuditEntry& entry,
                            const char* sql, BindMore bind_more) {
        return guarded(about(what, process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            int64_t n = 0;
            for (const auto& key : keys) {
                StatementUse s(stmt(sql));
                s->bind(1, process_id);
                s->bind(2, key);
                bind_more(s.get());
                n += s->exec();
            }
            insert_audit(entry);
            tx.commit();
            return n;
        });
    }

    std::optional<RecordOutcome> outcome(int64_t id) override {
        return guarded_read(about("read record outcome", id), [&]() -> std::optional<RecordOutcome> {
            StatementUse s(stmt(std::string("SELECT ") + k_outcome_columns +
                                " FROM record_outcomes WHERE id = ?1"));
            s->bind(1, id);
            if (!s->executeStep()) return std::nullopt;
            return read_outcome(s.get());
        });
    }

    std::optional<FailedAttempt> failed_attempt(int64_t outcome_id) override {
        return guarded_read(about("read the failed attempt of outcome", outcome_id),
                       [&]() -> std::optional<FailedAttempt> {
                           StatementUse s(stmt(
                               "SELECT operation, payload, payload_bytes, note, answer "
                               "FROM failed_attempts WHERE outcome_id = ?1"));
                           s->bind(1, outcome_id);
                           if (!s->executeStep()) return std::nullopt;
                           FailedAttempt a;
                           a.outcome_id = outcome_id;
                           a.operation = s->getColumn(0).getString();
                           a.payload = optional_text(s->getColumn(1));
                           a.payload_bytes = s->getColumn(2).getInt64();
                           a.note = s->getColumn(3).getString();
                           a.answer = s->getColumn(4).getString();
                           return a;
                       });
    }

    // --- outcomes -------------------------------------------------------------------------

    // In id order. limit <= 0: no limit.
    int64_t last_outcome_id(const OutcomeQuery& q) override {
        return guarded_read("find the last record outcome", [&] {
            std::string sql = "SELECT coalesce(max(id), 0) FROM record_outcomes";
            std::vector<Param> params;
            if (q.run_id) {
                sql += " WHERE run_id = ?";
                params.emplace_back(*q.run_id);
            } else if (q.process_id) {
                sql += " WHERE process_id = ?";
                params.emplace_back(*q.process_id);
            }
            StatementUse s(stmt(sql));
            bind_params(s.get(), params);
            s->executeStep();
            return s->getColumn(0).getInt64();
        });
    }

    std::vector<RecordOutcome> outcomes(const OutcomeQuery& q) override {
        return guarded_read("list record outcomes", [&] {
            const std::optional<IdBounds> ids = outcome_id_bounds(q);
            if (has_time_filter(q) && !ids) return std::vector<RecordOutcome>{};
            return outcome_page(q, ids, q.limit, q.offset);
        });
    }

    // Every matching outcome in id order, read in chunks of k_stream_chunk by keyset (id >
    // the last one seen), so nothing is materialised beyond one chunk. limit and offset
    // are ignored (an export wants everything); after_id is honoured. `f` runs without the
    // store's lock held; rows committed while streaming with a higher id may be included
    // (with a time filter, only those within the id bounds taken at the start).
    void for_each_outcome(const OutcomeQuery& q,
                          const std::function<void(const RecordOutcome&)>& f) override {
        const std::optional<IdBounds> ids =
            guarded_read("stream record outcomes", [&] { return outcome_id_bounds(q); });
        if (has_time_filter(q) && !ids) return;
        OutcomeQuery chunk_query = q;
        for (;;) {
            std::vector<RecordOutcome> chunk = guarded_read("stream record outcomes", [&] {
                return outcome_page(chunk_query, ids, k_stream_chunk, 0);
            });
            for (const RecordOutcome& o : chunk) f(o);
            if (static_cast<int64_t>(chunk.size()) < k_stream_chunk) break;
            chunk_query.after_id = chunk.back().id;
        }
    }

    // --- process state --------------------------------------------------------------------

    std::optional<bool> process_enabled(const std::string& process_id) override {
        return guarded_read(about("read the state of", process_id), [&]() -> std::optional<bool> {
            StatementUse s(stmt("SELECT enabled FROM process_state WHERE process_id = ?1"));
            s->bind(1, process_id);
            if (!s->executeStep() || s->getColumn(0).isNull()) return std::nullopt;
            return s->getColumn(0).getInt() != 0;
        });
    }

    // Audit: action "process.enable" or "process.disable", detail {"enabled": bool}, in the
    // same transaction.
    std::optional<int64_t> schedule_anchor(const std::string& process_id) override {
        return guarded_read(about("read the schedule of", process_id), [&]() -> std::optional<int64_t> {
            StatementUse s(stmt(
                "SELECT schedule_anchor_ms FROM process_state WHERE process_id = ?1"));
            s->bind(1, process_id);
            if (!s->executeStep() || s->getColumn(0).isNull()) return std::nullopt;
            return s->getColumn(0).getInt64();
        });
    }

    void set_schedule_anchor(const std::string& process_id, int64_t anchor_ms) override {
        guarded(about("store the schedule of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt(
                "INSERT INTO process_state (process_id, enabled, updated_ms, schedule_anchor_ms) "
                "VALUES (?1, NULL, ?2, ?2) ON CONFLICT (process_id) DO UPDATE SET "
                "schedule_anchor_ms = excluded.schedule_anchor_ms"));
            s->bind(1, process_id);
            s->bind(2, anchor_ms);
            s->exec();
            tx.commit();
        });
    }

    void set_process_enabled(const std::string& process_id, bool enabled, const std::string& actor,
                             int64_t now_ms) override {
        guarded(about("set the state of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(
                    stmt("INSERT INTO process_state (process_id, enabled, updated_ms, updated_by) "
                         "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (process_id) DO UPDATE SET "
                         "enabled = excluded.enabled, updated_ms = excluded.updated_ms, "
                         "updated_by = excluded.updated_by"));
                s->bind(1, process_id);
                s->bind(2, static_cast<int32_t>(enabled ? 1 : 0));
                s->bind(3, now_ms);
                s->bind(4, actor);
                s->exec();
            }
            const nlohmann::json detail = {{"enabled", enabled}};
            insert_audit(AuditEntry{0, now_ms, actor,
                                    enabled ? "process.enable" : "process.disable", process_id,
                                    detail.dump()});
            tx.commit();
        });
    }

    std::optional<std::string> schedule_override(const std::string& process_id) override {
        return guarded_read(about("read the schedule of", process_id),
                       [&]() -> std::optional<std::string> {
                           StatementUse s(stmt(
                               "SELECT schedule_json FROM process_state WHERE process_id = ?1"));
                           s->bind(1, process_id);
                           if (!s->executeStep()) return std::nullopt;
                           return optional_text(s->getColumn(0));
                       });
    }

    void set_schedule_override(const std::string& process_id, const std::string& schedule_json,
                               const std::string& actor, int64_t now_ms) override {
        guarded(about("store the schedule of", process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt(
                    "INSERT INTO process_state (process_id, enabled, updated_ms, updated_by, "
                    "schedule_json) VALUES (?1, NULL, ?2, ?3, ?4) ON CONFLICT (process_id) DO "
                    "UPDATE SET schedule_json = excluded.schedule_json, updated_ms = "
                    "excluded.updated_ms, updated_by = excluded.updated_by"));
                s->bind(1, process_id);
                s->bind(2, now_ms);
                s->bind(3, actor);
                s->bind(4, schedule_json);
                s->exec();
            }
            insert_audit(AuditEntry{0, now_ms, actor, "process.schedule", process_id, schedule_json});
            tx.commit();
        });
    }

    // --- mapping versions -------------------------------------------------------------------

    static MappingVersion read_mapping_version(SQLite::Statement& s) {
        MappingVersion v;
        v.process_id = s.getColumn(0).getString();
        v.version = s.getColumn(1).getInt64();
        v.mapping_json = s.getColumn(2).isNull() ? std::string() : s.getColumn(2).getString();
        v.actor = s.getColumn(3).getString();
        v.created_ms = s.getColumn(4).getInt64();
        v.note = s.getColumn(5).getString();
        return v;
    }

    std::optional<MappingVersion> mapping_current(const std::string& process_id) override {
        return guarded_read(about("read the mapping of", process_id), [&]() -> std::optional<MappingVersion> {
            StatementUse s(stmt("SELECT process_id, version, mapping_json, actor, created_ms, note "
                                "FROM mapping_versions WHERE process_id = ?1 "
                                "ORDER BY version DESC LIMIT 1"));
            s->bind(1, process_id);
            if (!s->executeStep()) return std::nullopt;
            return read_mapping_version(s.get());
        });
    }

    std::optional<MappingVersion> mapping_version(const std::string& process_id,
                                                  int64_t version) override {
        return guarded_read(about("read the mapping of", process_id), [&]() -> std::optional<MappingVersion> {
            StatementUse s(stmt("SELECT process_id, version, mapping_json, actor, created_ms, note "
                                "FROM mapping_versions WHERE process_id = ?1 AND version = ?2"));
            s->bind(1, process_id);
            s->bind(2, version);
            if (!s->executeStep()) return std::nullopt;
            return read_mapping_version(s.get());
        });
    }

    std::vector<MappingVersion> mapping_versions(const std::string& process_id,
                                                 int64_t limit) override {
        return guarded_read(about("read the mapping versions of", process_id), [&] {
            std::vector<MappingVersion> out;
            StatementUse s(stmt("SELECT process_id, version, mapping_json, actor, created_ms, note "
                                "FROM mapping_versions WHERE process_id = ?1 "
                                "ORDER BY version DESC LIMIT ?2"));
            s->bind(1, process_id);
            s->bind(2, limit);
            while (s->executeStep()) out.push_back(read_mapping_version(s.get()));
            return out;
        });
    }

    int64_t add_mapping_version(const MappingVersion& v, const std::string& audit_action,
                                const std::string& audit_detail) override {
        return guarded(about("store the mapping of", v.process_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            int64_t next = 1;
            {
                StatementUse s(stmt("SELECT coalesce(max(version), 0) + 1 FROM mapping_versions "
                                    "WHERE process_id = ?1"));
                s->bind(1, v.process_id);
                if (s->executeStep()) next = s->getColumn(0).getInt64();
            }
            {
                StatementUse s(stmt("INSERT INTO mapping_versions (process_id, version, "
                                    "mapping_json, actor, created_ms, note) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
                s->bind(1, v.process_id);
                s->bind(2, next);
                if (v.mapping_json.empty()) s->bind(3);
                else s->bind(3, v.mapping_json);
                s->bind(4, v.actor);
                s->bind(5, v.created_ms);
                s->bind(6, v.note);
                s->exec();
            }
            insert_audit(AuditEntry{0, v.created_ms, v.actor, audit_action, v.process_id, audit_detail});
            tx.commit();
            return next;
        });
    }

    // --- users and sessions ---------------------------------------------------------------

    std::optional<User> user(const std::string& name) override {
        return guarded_read(about("read the user", name), [&]() -> std::optional<User> {
            StatementUse s(stmt(std::string("SELECT ") + k_user_columns +
                                " FROM users WHERE name = ?1"));
            s->bind(1, name);
            if (!s->executeStep()) return std::nullopt;
            return read_user(s.get());
        });
    }

    std::vector<User> users() override {
        return guarded_read("list users", [&] {
            StatementUse s(stmt(std::string("SELECT ") + k_user_columns +
                                " FROM users ORDER BY name"));
            std::vector<User> out;
            while (s->executeStep()) out.push_back(read_user(s.get()));
            return out;
        });
    }

    bool add_user(const User& u, const std::string& actor, int64_t now_ms) override {
        return guarded(about("add the user", u.name), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt(
                    "INSERT INTO users (name, password_hash, role, disabled, created_ms, "
                    "updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (name) DO NOTHING"));
                s->bind(1, u.name);
                s->bind(2, u.password_hash);
                s->bind(3, u.role);
                s->bind(4, static_cast<int32_t>(u.disabled ? 1 : 0));
                s->bind(5, now_ms);
                s->exec();
            }
            if (db().getChanges() == 0) return false;
            const nlohmann::json detail = {{"role", u.role}};
            insert_audit(AuditEntry{0, now_ms, actor, "user.add", u.name, detail.dump()});
            tx.commit();
            return true;
        });
    }

    bool update_user(const std::string& name, const std::optional<std::string>& role,
                     const std::optional<std::string>& password_hash, const std::string& actor,
                     int64_t now_ms) override {
        return guarded(about("update the user", name), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt(
                    "UPDATE users SET role = coalesce(?2, role), password_hash = "
                    "coalesce(?3, password_hash), updated_ms = ?4 WHERE name = ?1"));
                s->bind(1, name);
                bind_optional(s.get(), 2, role);
                bind_optional(s.get(), 3, password_hash);
                s->bind(4, now_ms);
                s->exec();
            }
            if (db().getChanges() == 0) return false;
            if (password_hash) {
                StatementUse s(stmt("DELETE FROM sessions WHERE user_id = "
                                    "(SELECT id FROM users WHERE name = ?1)"));
                s->bind(1, name);
                s->exec();
            }
            nlohmann::json detail = nlohmann::json::object();
            if (role) detail["role"] = *role;
            if (password_hash) detail["password"] = "changed";
            insert_audit(AuditEntry{0, now_ms, actor, "user.update", name, detail.dump()});
            tx.commit();
            return true;
        });
    }

    bool delete_user(const std::string& name, const std::string& actor, int64_t now_ms) override {
        return guarded(about("delete the user", name), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                // Sessions go with the user (ON DELETE CASCADE).
                StatementUse s(stmt("DELETE FROM users WHERE name = ?1"));
                s->bind(1, name);
                s->exec();
            }
            if (db().getChanges() == 0) return false;
            insert_audit(AuditEntry{0, now_ms, actor, "user.delete", name, "{}"});
            tx.commit();
            return true;
        });
    }

    void create_session(const Session& x) override {
        guarded("create a session", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_ms, last_seen_ms, "
                "expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
            s->bind(1, x.token_hash);
            s->bind(2, x.user_id);
            s->bind(3, x.csrf_token);
            s->bind(4, x.created_ms);
            s->bind(5, x.last_seen_ms);
            s->bind(6, x.expires_ms);
            s->exec();
            tx.commit();
        });
    }

    std::optional<Session> session(const std::string& token_hash, int64_t now_ms) override {
        return guarded_read("read a session", [&]() -> std::optional<Session> {
            StatementUse s(stmt(
                "SELECT s.token_hash, s.user_id, u.name, u.role, s.csrf_token, s.created_ms, "
                "s.last_seen_ms, s.expires_ms FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.token_hash = ?1 AND s.expires_ms > ?2 AND u.disabled = 0"));
            s->bind(1, token_hash);
            s->bind(2, now_ms);
            if (!s->executeStep()) return std::nullopt;
            return Session{s->getColumn(0).getString(), s->getColumn(1).getInt64(),
                           s->getColumn(2).getString(), s->getColumn(3).getString(),
                           s->getColumn(4).getString(), s->getColumn(5).getInt64(),
                           s->getColumn(6).getInt64(), s->getColumn(7).getInt64()};
        });
    }

    void touch_session(const std::string& token_hash, int64_t now_ms, int64_t expires_ms) override {
        guarded("renew a session", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt(
                "UPDATE sessions SET last_seen_ms = ?2, expires_ms = ?3 WHERE token_hash = ?1"));
            s->bind(1, token_hash);
            s->bind(2, now_ms);
            s->bind(3, expires_ms);
            s->exec();
            tx.commit();
        });
    }

    void delete_session(const std::string& token_hash) override {
        guarded("end a session", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt("DELETE FROM sessions WHERE token_hash = ?1"));
            s->bind(1, token_hash);
            s->exec();
            tx.commit();
        });
    }

    int64_t purge_sessions(int64_t now_ms) override {
        return guarded("remove expired sessions", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt("DELETE FROM sessions WHERE expires_ms <= ?1"));
            s->bind(1, now_ms);
            s->exec();
            const int64_t n = db().getChanges();
            tx.commit();
            return n;
        });
    }

    // --- audit ----------------------------------------------------------------------------

    // --- webhook inbox ----------------------------------------------------------------------

    InboxInsert insert_inbox_event(InboxEventRow& e, int64_t consumed_through,
                                   int64_t max_pending) override {
        return guarded(about("store a webhook event of", e.connection_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt(
                    "SELECT seq FROM inbox_events WHERE connection_id = ?1 AND event_id = ?2"));
                s->bind(1, e.connection_id);
                s->bind(2, e.event_id);
                if (s->executeStep()) {
                    e.seq = s->getColumn(0).getInt64();
                    return InboxInsert::duplicate;
                }
            }
            {
                // Counting stops at the bound: the check costs at most max_pending index steps.
                StatementUse s(stmt(
                    "SELECT count(*) FROM (SELECT 1 FROM inbox_events WHERE connection_id = ?1 "
                    "AND seq > ?2 LIMIT ?3)"));
                s->bind(1, e.connection_id);
                s->bind(2, consumed_through);
                s->bind(3, max_pending);
                s->executeStep();
                if (s->getColumn(0).getInt64() >= max_pending) return InboxInsert::full;
            }
            StatementUse s(stmt(
                "INSERT INTO inbox_events (connection_id, event_id, topic, body, received_ms) "
                "VALUES (?1, ?2, ?3, ?4, ?5)"));
            s->bind(1, e.connection_id);
            s->bind(2, e.event_id);
            s->bind(3, e.topic);
            s->bind(4, e.body);
            s->bind(5, e.received_ms);
            s->exec();
            e.seq = db().getLastInsertRowid();
            tx.commit();
            return InboxInsert::stored;
        });
    }

    std::vector<InboxEventRow> inbox_events_after(const std::string& connection_id,
                                                  int64_t after_seq, int64_t since_ms,
                                                  int64_t limit) override {
        return guarded_read(about("read the webhook events of", connection_id), [&] {
            StatementUse s(stmt(
                "SELECT seq, event_id, topic, body, received_ms FROM inbox_events "
                "WHERE connection_id = ?1 AND seq > ?2 AND received_ms >= ?3 "
                "ORDER BY seq LIMIT ?4"));
            s->bind(1, connection_id);
            s->bind(2, after_seq);
            s->bind(3, since_ms);
            s->bind(4, sql_limit(limit));
            std::vector<InboxEventRow> out;
            while (s->executeStep())
                out.push_back(InboxEventRow{s->getColumn(0).getInt64(), connection_id,
                                            s->getColumn(1).getString(), s->getColumn(2).getString(),
                                            s->getColumn(3).getString(), s->getColumn(4).getInt64()});
            return out;
        });
    }

    std::vector<InboxEventRow> inbox_latest(const std::string& connection_id, int64_t before_seq,
                                            int64_t limit) override {
        return guarded_read(about("list the webhook events of", connection_id), [&] {
            StatementUse s(stmt(
                "SELECT seq, event_id, topic, received_ms FROM inbox_events "
                "WHERE connection_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"));
            s->bind(1, connection_id);
            s->bind(2, before_seq > 0 ? before_seq : INT64_MAX);
            s->bind(3, sql_limit(limit));
            std::vector<InboxEventRow> out;
            while (s->executeStep())
                out.push_back(InboxEventRow{s->getColumn(0).getInt64(), connection_id,
                                            s->getColumn(1).getString(), s->getColumn(2).getString(),
                                            "", s->getColumn(3).getInt64()});
            return out;
        });
    }

    std::optional<InboxEventRow> inbox_event(const std::string& connection_id,
                                             int64_t seq) override {
        return guarded_read(about("read a webhook event of", connection_id),
                       [&]() -> std::optional<InboxEventRow> {
                           StatementUse s(stmt(
                               "SELECT seq, event_id, topic, body, received_ms FROM inbox_events "
                               "WHERE connection_id = ?1 AND seq = ?2"));
                           s->bind(1, connection_id);
                           s->bind(2, seq);
                           if (!s->executeStep()) return std::nullopt;
                           return InboxEventRow{s->getColumn(0).getInt64(), connection_id,
                                                s->getColumn(1).getString(),
                                                s->getColumn(2).getString(),
                                                s->getColumn(3).getString(),
                                                s->getColumn(4).getInt64()};
                       });
    }

    InboxCounts inbox_counts(const std::string& connection_id, int64_t consumed_through) override {
        return guarded_read(about("count the webhook events of", connection_id), [&] {
            InboxCounts c;
            StatementUse s(stmt(
                "SELECT count(*), coalesce(sum(seq > ?2), 0), coalesce(max(seq), 0), "
                "coalesce(max(received_ms), 0) FROM inbox_events WHERE connection_id = ?1"));
            s->bind(1, connection_id);
            s->bind(2, consumed_through);
            if (s->executeStep()) {
                c.stored = s->getColumn(0).getInt64();
                c.pending = s->getColumn(1).getInt64();
                c.last_seq = s->getColumn(2).getInt64();
                c.last_received_ms = s->getColumn(3).getInt64();
            }
            return c;
        });
    }

    std::vector<InboxRead> inbox_reads(const std::string& connection_id, int64_t from_seq,
                                       int64_t to_seq) override {
        return guarded_read(about("read the inbox reads of", connection_id), [&] {
            StatementUse s(stmt(
                "SELECT process_id, run_id, after_seq, through_seq, at_ms FROM inbox_reads "
                "WHERE connection_id = ?1 AND through_seq > ?2 AND after_seq < ?3 ORDER BY id"));
            s->bind(1, connection_id);
            s->bind(2, from_seq);
            s->bind(3, to_seq);
            std::vector<InboxRead> out;
            while (s->executeStep())
                out.push_back(InboxRead{connection_id, s->getColumn(0).getString(),
                                        s->getColumn(1).getInt64(), s->getColumn(2).getInt64(),
                                        s->getColumn(3).getInt64(), s->getColumn(4).getInt64()});
            return out;
        });
    }

    int64_t prune_inbox(const std::string& connection_id, int64_t consumed_through,
                        int64_t before_ms) override {
        return guarded(about("prune the webhook events of", connection_id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            int64_t n = 0;
            {
                StatementUse s(stmt(
                    "DELETE FROM inbox_events WHERE connection_id = ?1 AND seq <= ?2 AND "
                    "received_ms < ?3"));
                s->bind(1, connection_id);
                s->bind(2, consumed_through);
                s->bind(3, before_ms);
                s->exec();
                n = db().getChanges();
            }
            {
                // A read whose events are all gone tells nothing any more.
                StatementUse s(stmt(
                    "DELETE FROM inbox_reads WHERE connection_id = ?1 AND through_seq < "
                    "coalesce((SELECT min(seq) FROM inbox_events WHERE connection_id = ?1), "
                    "9223372036854775807)"));
                s->bind(1, connection_id);
                s->exec();
            }
            tx.commit();
            return n;
        });
    }

    // --- connections created in the portal ---------------------------------------------------

    std::vector<SealedSecret> read_secrets(const std::string& connection_id) {
        StatementUse s(stmt("SELECT name, sealed, key_id FROM connection_secrets "
                            "WHERE connection_id = ?1 ORDER BY name"));
        s->bind(1, connection_id);
        std::vector<SealedSecret> out;
        while (s->executeStep())
            out.push_back(SealedSecret{s->getColumn(0).getString(), s->getColumn(1).getString(),
                                       s->getColumn(2).getString()});
        return out;
    }

    void write_secrets(const StoredConnection& c, int64_t now_ms) {
        {
            StatementUse d(stmt("DELETE FROM connection_secrets WHERE connection_id = ?1"));
            d->bind(1, c.id);
            d->exec();
        }
        for (const auto& x : c.secrets) {
            StatementUse s(stmt("INSERT INTO connection_secrets (connection_id, name, sealed, "
                                "key_id, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)"));
            s->bind(1, c.id);
            s->bind(2, x.name);
            s->bind(3, x.sealed);
            s->bind(4, x.key_id);
            s->bind(5, now_ms);
            s->exec();
        }
    }

    static constexpr const char* k_connection_columns =
        "id, connector, display_name, settings_json, created_ms, updated_ms";

    StoredConnection read_connection(SQLite::Statement& st) {
        SQLite::Statement* s = &st;
        StoredConnection c;
        c.id = s->getColumn(0).getString();
        c.connector = s->getColumn(1).getString();
        c.display_name = s->getColumn(2).getString();
        c.settings_json = s->getColumn(3).getString();
        c.created_ms = s->getColumn(4).getInt64();
        c.updated_ms = s->getColumn(5).getInt64();
        return c;
    }

    std::vector<StoredConnection> stored_connections() override {
        return guarded_read("list connections", [&] {
            SQLite::Transaction tx(db());  // one snapshot for connections and secrets
            std::vector<StoredConnection> out;
            {
                StatementUse s(stmt(std::string("SELECT ") + k_connection_columns +
                                    " FROM connections ORDER BY id"));
                while (s->executeStep()) out.push_back(read_connection(s.get()));
            }
            for (auto& c : out) c.secrets = read_secrets(c.id);
            tx.commit();
            return out;
        });
    }

    std::optional<StoredConnection> stored_connection(const std::string& id) override {
        return guarded_read(about("read the connection", id), [&]() -> std::optional<StoredConnection> {
            SQLite::Transaction tx(db());
            std::optional<StoredConnection> c;
            {
                StatementUse s(stmt(std::string("SELECT ") + k_connection_columns +
                                    " FROM connections WHERE id = ?1"));
                s->bind(1, id);
                if (s->executeStep()) c = read_connection(s.get());
            }
            if (c) c->secrets = read_secrets(id);
            tx.commit();
            return c;
        });
    }

    bool create_connection(const StoredConnection& c, const std::string& actor, int64_t now_ms,
                           const std::string& audit_detail) override {
        return guarded(about("create the connection", c.id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt(
                    "INSERT INTO connections (id, connector, display_name, settings_json, "
                    "created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
                    "ON CONFLICT (id) DO NOTHING"));
                s->bind(1, c.id);
                s->bind(2, c.connector);
                s->bind(3, c.display_name);
                s->bind(4, c.settings_json);
                s->bind(5, now_ms);
                s->exec();
            }
            if (db().getChanges() == 0) return false;
            write_secrets(c, now_ms);
            insert_audit(AuditEntry{0, now_ms, actor, "connection.create", c.id, audit_detail});
            tx.commit();
            return true;
        });
    }

    bool update_connection(const StoredConnection& c, const std::string& actor, int64_t now_ms,
                           const std::string& audit_detail) override {
        return guarded(about("update the connection", c.id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt("UPDATE connections SET display_name = ?2, settings_json = ?3, "
                                    "updated_ms = ?4 WHERE id = ?1"));
                s->bind(1, c.id);
                s->bind(2, c.display_name);
                s->bind(3, c.settings_json);
                s->bind(4, now_ms);
                s->exec();
            }
            if (db().getChanges() == 0) return false;
            write_secrets(c, now_ms);
            insert_audit(AuditEntry{0, now_ms, actor, "connection.update", c.id, audit_detail});
            tx.commit();
            return true;
        });
    }

    bool delete_connection(const std::string& id, const std::string& actor,
                           int64_t now_ms) override {
        return guarded(about("delete the connection", id), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt("DELETE FROM connections WHERE id = ?1"));
                s->bind(1, id);
                s->exec();
            }
            if (db().getChanges() == 0) return false;
            {
                StatementUse s(stmt("DELETE FROM connection_secrets WHERE connection_id = ?1"));
                s->bind(1, id);
                s->exec();
            }
            {
                StatementUse s(stmt("DELETE FROM connection_tests WHERE connection_id = ?1"));
                s->bind(1, id);
                s->exec();
            }
            insert_audit(AuditEntry{0, now_ms, actor, "connection.delete", id, "{}"});
            tx.commit();
            return true;
        });
    }

    int64_t reseal_secrets(const std::function<SealedSecret(const SealedSecretRow&)>& reseal,
                           const std::string& actor, int64_t now_ms,
                           const std::string& audit_detail) override {
        // Not guarded(): an exception of `reseal` (a secret that does not open) must reach
        // the caller as it is, after the rollback.
        Use use(writer_);
        SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
        std::vector<SealedSecretRow> rows;
        {
            StatementUse s(stmt("SELECT connection_id, name, sealed, key_id FROM "
                                "connection_secrets ORDER BY connection_id, name"));
            while (s->executeStep())
                rows.push_back(SealedSecretRow{
                    s->getColumn(0).getString(),
                    SealedSecret{s->getColumn(1).getString(), s->getColumn(2).getString(),
                                 s->getColumn(3).getString()}});
        }
        for (const auto& row : rows) {
            SealedSecret next = reseal(row);
            StatementUse s(stmt("UPDATE connection_secrets SET sealed = ?3, key_id = ?4, "
                                "updated_ms = ?5 WHERE connection_id = ?1 AND name = ?2"));
            s->bind(1, row.connection_id);
            s->bind(2, row.secret.name);
            s->bind(3, next.sealed);
            s->bind(4, next.key_id);
            s->bind(5, now_ms);
            s->exec();
        }
        insert_audit(AuditEntry{0, now_ms, actor, "secrets.rotate", "", audit_detail});
        tx.commit();
        return static_cast<int64_t>(rows.size());
    }

    // --- attention and notifications (migration 11) -----------------------------------------

    std::optional<FailureStreak> failure_streak(const std::string& process_id) override {
        return guarded_read(about("read the failures of", process_id),
                       [&]() -> std::optional<FailureStreak> {
            SQLite::Transaction tx(db());  // one snapshot for the three reads
            int64_t last_ok_id = 0, last_ok_ms = 0;
            {
                StatementUse s(stmt(
                    "SELECT id, started_ms FROM runs WHERE process_id = ?1 AND status IN "
                    "('succeeded', 'succeeded_with_failures') ORDER BY id DESC LIMIT 1"));
                s->bind(1, process_id);
                if (s->executeStep()) {
                    last_ok_id = s->getColumn(0).getInt64();
                    last_ok_ms = s->getColumn(1).getInt64();
                }
            }
            FailureStreak f;
            f.last_success_ms = last_ok_ms;
            {
                StatementUse s(stmt(
                    "SELECT count(*), max(id) FROM runs WHERE process_id = ?1 AND status IN "
                    "('failed', 'partial', 'abandoned') AND id > ?2"));
                s->bind(1, process_id);
                s->bind(2, last_ok_id);
                s->executeStep();
                f.runs = s->getColumn(0).getInt64();
                if (f.runs == 0) {
                    tx.commit();
                    return std::nullopt;
                }
                const int64_t latest = s->getColumn(1).getInt64();
                StatementUse r(stmt(std::string("SELECT ") + k_run_columns + " FROM runs WHERE id = ?1"));
                r->bind(1, latest);
                if (r->executeStep()) f.latest = read_run(r.get());
            }
            tx.commit();
            return f;
        });
    }

    std::vector<FailureReason> failed_queue_reasons(const std::string& process_id,
                                                    int64_t limit) override {
        return guarded_read(about("group the failed records of", process_id), [&] {
            StatementUse s(stmt(
                "SELECT error_class, message, count(*) AS n FROM failed_queue "
                "WHERE process_id = ?1 AND dismissed_ms IS NULL "
                "GROUP BY error_class, message ORDER BY n DESC, message "
                "LIMIT ?2"));
            s->bind(1, process_id);
            s->bind(2, sql_limit(limit));
            std::vector<FailureReason> out;
            while (s->executeStep())
                out.push_back(FailureReason{s->getColumn(0).getString(), s->getColumn(1).getString(),
                                            s->getColumn(2).getInt64()});
            return out;
        });
    }

    std::vector<FailureReason> run_failure_reasons(int64_t run_id, int64_t limit) override {
        return guarded_read(about("group the failures of run", run_id), [&] {
            StatementUse s(stmt(
                "SELECT error_class, message, count(*) AS n FROM record_outcomes "
                "WHERE run_id = ?1 AND action = 'failed' GROUP BY error_class, message "
                "ORDER BY n DESC, message LIMIT ?2"));
            s->bind(1, run_id);
            s->bind(2, sql_limit(limit));
            std::vector<FailureReason> out;
            while (s->executeStep())
                out.push_back(FailureReason{s->getColumn(0).getString(), s->getColumn(1).getString(),
                                            s->getColumn(2).getInt64()});
            return out;
        });
    }

    int64_t scan_runs_for_notification(int64_t now_ms) override {
        return guarded("look for runs to notify", [&]() -> int64_t {
            {
                // Most ticks find nothing new: they answer from a read, without taking the
                // write lock (which another process may hold for a while).
                StatementUse s(stmt(
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE id >= coalesce((SELECT "
                    "scan_from_run FROM notify_state WHERE id = 1), 1) AND status != ?1)"));
                s->bind(1, std::string(run_status::running));
                if (s->executeStep() && s->getColumn(0).getInt() == 0) return 0;
            }
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            int64_t from = 1;
            {
                StatementUse s(stmt("SELECT scan_from_run FROM notify_state WHERE id = 1"));
                if (s->executeStep()) from = s->getColumn(0).getInt64();
            }
            int64_t next_from = from, first_running = 0, added = 0;
            {
                StatementUse s(stmt("SELECT id, process_id, status, failed_count FROM runs "
                                    "WHERE id >= ?1 ORDER BY id"));
                s->bind(1, from);
                while (s->executeStep()) {
                    const int64_t id = s->getColumn(0).getInt64();
                    const std::string status = s->getColumn(2).getString();
                    next_from = id + 1;
                    if (status == run_status::running) {
                        if (!first_running) first_running = id;
                        continue;
                    }
                    const bool tell = status == run_status::failed ||
                                      status == run_status::partial ||
                                      s->getColumn(3).getInt64() > 0;
                    if (!tell) continue;
                    StatementUse i(stmt("INSERT INTO notify_events (run_id, process_id, created_ms) "
                                        "VALUES (?1, ?2, ?3) ON CONFLICT (run_id) DO NOTHING"));
                    i->bind(1, id);
                    i->bind(2, s->getColumn(1).getString());
                    i->bind(3, now_ms);
                    added += i->exec();
                }
            }
            if (first_running) next_from = first_running;
            if (next_from != from) {
                StatementUse u(stmt("UPDATE notify_state SET scan_from_run = ?1 WHERE id = 1"));
                u->bind(1, next_from);
                u->exec();
            }
            tx.commit();
            return added;
        });
    }

    std::vector<NotifyEvent> notify_events_after(int64_t after_id, int64_t limit) override {
        return guarded_read("read the events to notify", [&] {
            StatementUse s(stmt("SELECT id, run_id, process_id, created_ms FROM notify_events "
                                "WHERE id > ?1 ORDER BY id LIMIT ?2"));
            s->bind(1, after_id);
            s->bind(2, sql_limit(limit));
            std::vector<NotifyEvent> out;
            while (s->executeStep())
                out.push_back(NotifyEvent{s->getColumn(0).getInt64(), s->getColumn(1).getInt64(),
                                          s->getColumn(2).getString(), s->getColumn(3).getInt64()});
            return out;
        });
    }

    int64_t notify_events_count_after(int64_t after_id) override {
        return guarded_read("count the events to notify", [&] {
            StatementUse s(stmt("SELECT count(*) FROM notify_events WHERE id > ?1"));
            s->bind(1, after_id);
            s->executeStep();
            return s->getColumn(0).getInt64();
        });
    }

    int64_t notify_last_event_id() override {
        return guarded_read("read the last event to notify", [&] {
            StatementUse s(stmt("SELECT coalesce(max(id), 0) FROM notify_events"));
            s->executeStep();
            return s->getColumn(0).getInt64();
        });
    }

    void record_connection_test(const ConnectionTestRow& row) override {
        guarded(about("record the test of the connection", row.connection_id), [&] {
            StatementUse s(stmt("INSERT INTO connection_tests (connection_id, ok, error_class, "
                                "message, duration_ms, tested_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                                "ON CONFLICT (connection_id) DO UPDATE SET ok = excluded.ok, "
                                "error_class = excluded.error_class, message = excluded.message, "
                                "duration_ms = excluded.duration_ms, tested_ms = excluded.tested_ms"));
            s->bind(1, row.connection_id);
            s->bind(2, row.ok ? 1 : 0);
            s->bind(3, row.error_class);
            s->bind(4, row.message);
            s->bind(5, row.duration_ms);
            s->bind(6, row.tested_ms);
            s->exec();
        });
    }

    std::vector<ConnectionTestRow> connection_tests() override {
        return guarded_read("read the last connection tests", [&] {
            std::vector<ConnectionTestRow> out;
            StatementUse s(stmt("SELECT connection_id, ok, error_class, message, duration_ms, "
                                "tested_ms FROM connection_tests ORDER BY connection_id"));
            while (s->executeStep())
                out.push_back(ConnectionTestRow{s->getColumn(0).getString(),
                                                s->getColumn(1).getInt() != 0,
                                                s->getColumn(2).getString(),
                                                s->getColumn(3).getString(),
                                                s->getColumn(4).getInt64(),
                                                s->getColumn(5).getInt64()});
            return out;
        });
    }

    NotifyChannelState notify_channel(const std::string& channel) override {
        return guarded_read(about("read the notification state of", channel), [&] {
            NotifyChannelState c;
            c.channel = channel;
            StatementUse s(stmt("SELECT sent_through, sending_through, last_sent_ms, last_error, "
                                "last_error_ms FROM notify_channels WHERE channel = ?1"));
            s->bind(1, channel);
            if (s->executeStep()) {
                c.sent_through = s->getColumn(0).getInt64();
                c.sending_through = s->getColumn(1).getInt64();
                c.last_sent_ms = s->getColumn(2).getInt64();
                c.last_error = s->getColumn(3).getString();
                c.last_error_ms = s->getColumn(4).getInt64();
            }
            return c;
        });
    }

    void notify_mark_sending(const std::string& channel, int64_t through_id) override {
        guarded(about("mark a notification being sent on", channel), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt("INSERT INTO notify_channels (channel, sending_through) VALUES "
                                "(?1, ?2) ON CONFLICT (channel) DO UPDATE SET sending_through = "
                                "excluded.sending_through"));
            s->bind(1, channel);
            s->bind(2, through_id);
            s->exec();
            tx.commit();
        });
    }

    void notify_mark_sent(const std::string& channel, int64_t through_id, int64_t now_ms) override {
        guarded(about("mark a notification sent on", channel), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt(
                "INSERT INTO notify_channels (channel, sent_through, sending_through, "
                "last_sent_ms) VALUES (?1, ?2, ?2, ?3) ON CONFLICT (channel) DO UPDATE SET "
                "sent_through = max(sent_through, excluded.sent_through), sending_through = "
                "max(sending_through, excluded.sent_through), last_sent_ms = excluded.last_sent_ms, "
                "last_error = '', last_error_ms = 0"));
            s->bind(1, channel);
            s->bind(2, through_id);
            s->bind(3, now_ms);
            s->exec();
            tx.commit();
        });
    }

    void notify_mark_failed(const std::string& channel, const std::string& error,
                            int64_t now_ms) override {
        guarded(about("mark a notification failed on", channel), [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            StatementUse s(stmt("INSERT INTO notify_channels (channel, last_error, last_error_ms) "
                                "VALUES (?1, ?2, ?3) ON CONFLICT (channel) DO UPDATE SET "
                                "last_error = excluded.last_error, last_error_ms = "
                                "excluded.last_error_ms, sending_through = sent_through"));
            s->bind(1, channel);
            s->bind(2, error);
            s->bind(3, now_ms);
            s->exec();
            tx.commit();
        });
    }

    int64_t prune_notify_events(int64_t before_ms, const std::vector<std::string>& channels) override {
        return guarded("prune notified events", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            int64_t through = INT64_MAX;
            for (const auto& ch : channels) {
                StatementUse s(stmt("SELECT sent_through FROM notify_channels WHERE channel = ?1"));
                s->bind(1, ch);
                through = std::min<int64_t>(through, s->executeStep() ? s->getColumn(0).getInt64() : 0);
            }
            StatementUse d(stmt("DELETE FROM notify_events WHERE created_ms < ?1 AND id <= ?2"));
            d->bind(1, before_ms);
            d->bind(2, through);
            const int64_t n = d->exec();
            tx.commit();
            return n;
        });
    }

    NotifySettingsRow notify_settings() override {
        return guarded_read("read the notification settings", [&] {
            SQLite::Transaction tx(db());
            NotifySettingsRow row;
            {
                StatementUse s(stmt("SELECT settings_json, updated_ms FROM notify_state WHERE id = 1"));
                if (s->executeStep()) {
                    row.settings_json = s->getColumn(0).getString();
                    row.updated_ms = s->getColumn(1).getInt64();
                }
            }
            row.secrets = read_secrets(kNotifySecretsOwner);
            tx.commit();
            return row;
        });
    }

    void save_notify_settings(const NotifySettingsRow& row,
                              const std::vector<std::string>& skip_to_latest,
                              const std::string& actor, int64_t now_ms,
                              const std::string& audit_detail) override {
        guarded("save the notification settings", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            {
                StatementUse s(stmt("UPDATE notify_state SET settings_json = ?1, updated_ms = ?2 "
                                    "WHERE id = 1"));
                s->bind(1, row.settings_json);
                s->bind(2, now_ms);
                s->exec();
            }
            StoredConnection owner;
            owner.id = kNotifySecretsOwner;
            owner.secrets = row.secrets;
            write_secrets(owner, now_ms);
            for (const auto& ch : skip_to_latest) {
                StatementUse s(stmt(
                    "INSERT INTO notify_channels (channel, sent_through, sending_through) "
                    "SELECT ?1, coalesce(max(id), 0), coalesce(max(id), 0) FROM notify_events "
                    "WHERE true ON CONFLICT (channel) DO UPDATE SET sent_through = "
                    "excluded.sent_through, sending_through = excluded.sending_through"));
                s->bind(1, ch);
                s->exec();
            }
            insert_audit(AuditEntry{0, now_ms, actor, "notifications.update", "", audit_detail});
            tx.commit();
        });
    }

    void audit(const AuditEntry& entry) override {
        guarded("write an audit entry", [&] {
            SQLite::Transaction tx(db(), SQLite::TransactionBehavior::IMMEDIATE);
            insert_audit(entry);
            tx.commit();
        });
    }

    // Newest first. limit <= 0: no limit.
    std::vector<AuditEntry> audit_log(int64_t limit, int64_t offset) override {
        return guarded_read("read the audit log", [&] {
            StatementUse s(
                stmt("SELECT id, at_ms, actor, action, subject, detail FROM audit "
                     "ORDER BY id DESC LIMIT ?1 OFFSET ?2"));
            s->bind(1, sql_limit(limit));
            s->bind(2, std::max<int64_t>(offset, 0));
            std::vector<AuditEntry> out;
            while (s->executeStep())
                out.push_back(AuditEntry{s->getColumn(0).getInt64(), s->getColumn(1).getInt64(),
                                         s->getColumn(2).getString(), s->getColumn(3).getString(),
                                         s->getColumn(4).getString(), s->getColumn(5).getString()});
            return out;
        });
    }

private:
    // Runs `f` holding the lock; turns any failure into "<file>: <what>: <reason>".
    // `what` is a string literal or a callable returning the description, so the hot paths
    // build no message unless something fails.
    template <class What, class F>
    auto guarded(const What& what, F&& f) -> decltype(f()) {
        return on(writer_, what, std::forward<F>(f));
    }

    // As guarded(), on the reading connection: for methods that only read. A write of this
    // process waiting for another process's lock (up to the busy timeout) holds the writing
    // connection, and the portal's views, the scheduler and the notifier would wait behind
    // it; in WAL mode a reader needs no lock, so reads go on meanwhile, each seeing what was
    // last committed. PRAGMA query_only on that connection refuses any write that slips in.
    template <class What, class F>
    auto guarded_read(const What& what, F&& f) -> decltype(f()) {
        return on(*reader_, what, std::forward<F>(f));
    }

    // Runs f with `c` locked and current (db(), stmt() use it); SQLite failures become
    // StoreErrors naming the file and `what`.
    template <class What, class F>
    auto on(Conn& c, const What& what, F&& f) -> decltype(f()) {
        Use use(c);
        try {
            return f();
        } catch (const StoreError&) {
            throw;
        } catch (const LeaseLost&) {
            throw;
        } catch (const SQLite::Exception& e) {
            std::string description;
            if constexpr (std::is_invocable_v<const What&>)
                description = what();
            else
                description = what;
            throw_store_error(path_, description, e);
        } catch (const std::exception& e) {
            std::string description;
            if constexpr (std::is_invocable_v<const What&>)
                description = what();
            else
                description = what;
            throw StoreError(path_ + ": " + description + ": " + e.what());
        }
    }

    void configure() {
        try {
            // journal_mode answers with the mode in effect; anything but WAL (e.g. a file
            // system without shared memory) breaks the concurrency the rest assumes.
            SQLite::Statement wal(*writer_.db, "PRAGMA journal_mode = WAL");
            std::string mode = wal.executeStep() ? wal.getColumn(0).getString() : "";
            std::transform(mode.begin(), mode.end(), mode.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (mode != "wal")
                throw std::runtime_error("journal_mode is '" + mode + "', WAL is required");
            writer_.db->exec("PRAGMA synchronous = FULL");
            writer_.db->exec("PRAGMA foreign_keys = ON");
            writer_.db->exec("PRAGMA temp_store = MEMORY");
            // Checkpoint every 10,000 WAL pages (about 40 MB) rather than SQLite's 1,000: a
            // page commit of a large ledger dirties a page per record (keys arrive in
            // cursor order, not key order), so with the default nearly every commit was
            // followed by a checkpoint copying the same leaf pages again. Durability is the
            // WAL's (synchronous=FULL); a checkpoint only moves pages into the main file.
            writer_.db->exec("PRAGMA wal_autocheckpoint = 10000");
        } catch (const std::exception& e) {
            throw StoreError(path_ + ": cannot configure the database: " + e.what());
        }
    }

    // The second connection, for guarded_read(). Opened after the migrations, on the same
    // file; query_only makes SQLite refuse any write on it.
    void open_reader() {
        try {
            auto c = std::make_unique<Conn>();
            c->db = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE,
                                                       k_busy_timeout_ms);
            c->db->exec("PRAGMA query_only = ON");
            c->db->exec("PRAGMA temp_store = MEMORY");
            reader_owned_ = std::move(c);
            reader_ = reader_owned_.get();
        } catch (const std::exception& e) {
            throw StoreError(path_ + ": cannot open the database for reading: " + e.what());
        }
    }

    // The cached prepared statement for `sql` (prepared on first use, kept for the life of
    // the connection). Call with the lock held.
    SQLite::Statement& stmt(const std::string& sql) {
        Conn& c = *current_;
        auto it = c.statements.find(sql);
        if (it == c.statements.end())
            it = c.statements.emplace(sql, std::make_unique<SQLite::Statement>(*c.db, sql)).first;
        return *it->second;
    }

    SQLite::Statement& ledger_in_statement() {
        std::string& ledger_in_sql = current_->ledger_in_sql;
        if (!ledger_in_sql.empty()) return stmt(ledger_in_sql);
        std::string sql =
            "SELECT source_key, target_key, payload_hash, updated_ms, target_cursor FROM ledger "
            "WHERE process_id = ?1 AND source_key IN (";
        for (size_t i = 0; i < k_ledger_chunk; ++i) {
            if (i) sql += ", ";
            sql += "?" + std::to_string(i + 2);
        }
        sql += ")";
        ledger_in_sql = std::move(sql);
        return stmt(ledger_in_sql);
    }

    static bool has_time_filter(const OutcomeQuery& q) {
        return q.started_from_ms.has_value() || q.started_to_ms.has_value();
    }

    // For a query with a time filter: the smallest and largest id of any outcome (of any
    // process) started in that range, read from record_outcomes_by_started alone (the index
    // holds the rowid, so no table row is touched). Outcome ids grow with commit order and
    // start times nearly do, so [first, last] is close to the ids that match; rows inside it
    // that started outside the range are dropped by the row check in outcome_where. None
    // when nothing started in the range (or the query has no time filter). Lock held.
    std::optional<IdBounds> outcome_id_bounds(const OutcomeQuery& q) {
        if (!has_time_filter(q)) return std::nullopt;
        std::string sql = "SELECT min(id), max(id) FROM record_outcomes WHERE 1";
        std::vector<Param> params;
        if (q.started_from_ms) {
            sql += " AND started_ms >= ?";
            params.emplace_back(*q.started_from_ms);
        }
        if (q.started_to_ms) {
            sql += " AND started_ms < ?";
            params.emplace_back(*q.started_to_ms);
        }
        StatementUse s(stmt(sql));
        bind_params(s.get(), params);
        if (!s->executeStep() || s->getColumn(0).isNull()) return std::nullopt;
        return IdBounds{s->getColumn(0).getInt64(), s->getColumn(1).getInt64()};
    }

    std::vector<RecordOutcome> outcome_page(const OutcomeQuery& q,
                                            const std::optional<IdBounds>& ids, int64_t limit,
                                            int64_t offset) {
        std::vector<Param> params;
        std::string sql = std::string("SELECT ") + k_outcome_columns + " FROM record_outcomes" +
                          outcome_where(q, ids, params) + " ORDER BY id LIMIT ? OFFSET ?";
        params.emplace_back(sql_limit(limit));
        params.emplace_back(std::max<int64_t>(offset, 0));
        StatementUse s(stmt(sql));
        bind_params(s.get(), params);
        std::vector<RecordOutcome> out;
        while (s->executeStep()) out.push_back(read_outcome(s.get()));
        return out;
    }

    void insert_audit(const AuditEntry& e) {
        StatementUse s(stmt(k_audit_insert));
        s->bind(1, e.at_ms);
        s->bind(2, e.actor);
        s->bind(3, e.action);
        s->bind(4, e.subject);
        s->bind(5, e.detail.empty() ? std::string("{}") : e.detail);
        s->exec();
    }

    // Inserts intents, inside the caller's transaction: one row per run of consecutive
    // intents of the same process and run (at most 2^20). Returns their ids.
    std::vector<int64_t> insert_intents(const std::vector<Intent>& intents) {
        std::vector<int64_t> ids;
        if (intents.empty()) return ids;
        ids.reserve(intents.size());
        SQLite::Statement& s = stmt(k_intent_batch_insert);
        std::string members, open, created;
        for (size_t begin = 0; begin < intents.size();) {
            size_t end = begin + 1;
            while (end < intents.size() && end - begin < k_intent_batch_max &&
                   intents[end].process_id == intents[begin].process_id &&
                   intents[end].run_id == intents[begin].run_id)
                ++end;
            members.clear();
            for (size_t i = begin; i < end; ++i) {
                const Intent& in = intents[i];
                put_netstring(members, in.source_key);
                put_netstring(members, in.idempotency_key);
                put_netstring(members, in.payload_hash);
                put_netstring(members, in.payload_json);
                created = std::to_string(in.created_ms);
                put_netstring(members, created);
                put_netstring(members, in.op == "update" ? "update" : "create");
                put_netstring(members, in.target_key);
            }
            const size_t n = end - begin;
            open.assign((n + 7) / 8, static_cast<char>(0xFF));
            if (n % 8) open.back() = static_cast<char>((1u << (n % 8)) - 1);
            StatementUse u(s);
            u->bindNoCopy(1, intents[begin].process_id);
            u->bind(2, intents[begin].run_id);
            u->bindNoCopy(3, open.data(), static_cast<int>(open.size()));
            u->bindNoCopy(4, members.data(), static_cast<int>(members.size()));
            u->exec();
            const int64_t row = db().getLastInsertRowid();
            for (size_t i = 0; i < n; ++i) ids.push_back(intent_id(row, i));
            begin = end;
        }
        return ids;
    }

    // Clears the closed intents' bits, a batch row at a time; deletes a row left with none.
    // Ids of another process, or already closed, change nothing.
    void close_intents(const PageCommit& page) {
        std::vector<int64_t> ids = page.intents_closed;
        std::sort(ids.begin(), ids.end());
        std::string open;
        for (size_t begin = 0; begin < ids.size();) {
            const int64_t row = intent_row(ids[begin]);
            size_t end = begin;
            while (end < ids.size() && intent_row(ids[end]) == row) ++end;
            {
                StatementUse q(stmt(k_intent_batch_open_members));
                q->bind(1, row);
                q->bindNoCopy(2, page.process_id);
                if (!q->executeStep()) {
                    begin = end;
                    continue;
                }
                open.assign(blob_of(q->getColumn(0)));
            }
            for (size_t i = begin; i < end; ++i) {
                const size_t m = intent_member(ids[i]);
                if (m / 8 < open.size()) open[m / 8] &= static_cast<char>(~(1u << (m % 8)));
            }
            const bool any_open =
                std::any_of(open.begin(), open.end(), [](char c) { return c != 0; });
            if (any_open) {
                StatementUse u(stmt(k_intent_batch_update));
                u->bind(1, row);
                u->bindNoCopy(2, open.data(), static_cast<int>(open.size()));
                u->exec();
            } else {
                StatementUse u(stmt(k_intent_batch_delete));
                u->bind(1, row);
                u->exec();
            }
            begin = end;
        }
    }

    // "<head> VALUES (?, …), … <tail>" for `rows` rows of `columns` values, prepared once.
    SQLite::Statement& rows_statement(const char* head, int columns, const char* tail,
                                      size_t rows) {
        for (const RowsStatement& r : current_->rows_statements)
            if (r.head == head && r.rows == rows) return *r.statement;
        std::string row = "(?";
        for (int c = 1; c < columns; ++c) row += ", ?";
        row += ')';
        std::string sql = std::string(head) + " VALUES " + row;
        for (size_t r = 1; r < rows; ++r) sql += ", " + row;
        sql += tail;
        SQLite::Statement& statement = stmt(sql);
        current_->rows_statements.push_back({head, rows, &statement});
        return statement;
    }

    // Runs the insert of `head` for every item, many rows per statement, in order (so rows
    // get increasing ids in the items' order). bind_row(statement, next index, item).
    template <class T, class BindRow>
    void insert_rows(const char* head, int columns, const char* tail, const std::vector<T>& items,
                     BindRow bind_row) {
        size_t i = 0;
        for (const size_t width : {k_rows_wide, k_rows_narrow, size_t{1}}) {
            if (items.size() - i < width) continue;
            SQLite::Statement& s = rows_statement(head, columns, tail, width);
            for (; items.size() - i >= width; i += width) {
                StatementUse u(s);
                int index = 1;
                for (size_t r = 0; r < width; ++r) bind_row(u.get(), index, items[i + r]);
                u->exec();
            }
        }
    }

    // Fencing, inside commit_page's transaction: each lease renewed by its owner, or the
    // page refused (and rolled back) when a lease is not held by that owner any more.
    void check_fences(const PageCommit& page) {
        for (const LeaseFence& f : page.fences) {
            StatementUse u(
                stmt("UPDATE leases SET expires_ms = ?3 WHERE process_id = ?1 AND owner = ?2"));
            u->bindNoCopy(1, f.process_id);
            u->bindNoCopy(2, f.owner);
            u->bind(3, page.now_ms + f.ttl_ms);
            u->exec();
            if (db().getChanges() == 0)
                throw LeaseLost("the lease of process " + f.process_id +
                                " was lost (it expired and another run took it): nothing of this "
                                "page was committed");
        }
    }

    // process_record_counts += the page's outcomes, per process and action.
    void count_outcomes(const PageCommit& page) {
        std::map<std::pair<std::string_view, std::string_view>, int64_t> counts;
        for (const RecordOutcome& o : page.outcomes)
            ++counts[{o.process_id.empty() ? std::string_view(page.process_id)
                                           : std::string_view(o.process_id),
                      std::string_view(o.action)}];
        SQLite::Statement& s =
            stmt("INSERT INTO process_record_counts (process_id, action, n) VALUES (?1, ?2, ?3) "
                 "ON CONFLICT (process_id, action) DO UPDATE SET n = n + excluded.n");
        for (const auto& [key, n] : counts) {
            StatementUse u(s);
            u->bind(1, std::string(key.first));
            u->bind(2, std::string(key.second));
            u->bind(3, n);
            u->exec();
        }
    }

    // The failed attempts of the page's outcomes, right after the outcomes' insert. The
    // outcomes took consecutive ids ending at last_insert_rowid: the transaction holds the
    // write lock, and an AUTOINCREMENT rowid is always the largest yet plus one.
    void insert_failed_attempts(const PageCommit& page) {
        const int64_t last = db().getLastInsertRowid();
        const int64_t first = last - static_cast<int64_t>(page.outcomes.size()) + 1;
        SQLite::Statement& s = stmt(k_failed_attempt_insert);
        for (const FailedAttempt& a : page.failed_attempts) {
            if (a.outcome_index >= page.outcomes.size())
                throw StoreError(path_ + ": commit a page of " + page.process_id +
                                 ": a failed attempt names outcome " +
                                 std::to_string(a.outcome_index) + " of " +
                                 std::to_string(page.outcomes.size()));
            StatementUse u(s);
            u->bind(1, first + static_cast<int64_t>(a.outcome_index));
            u->bindNoCopy(2, a.operation);
            if (a.payload) u->bindNoCopy(3, *a.payload);
            else u->bind(3);
            u->bind(4, a.payload_bytes);
            u->bindNoCopy(5, a.note);
            u->bindNoCopy(6, a.answer);
            u->exec();
        }
    }

    // The parts of commit_page, inside its transaction.
    // The page's ledger rows, upserted many to a statement.
    void upsert_ledger(const PageCommit& page) {
        insert_rows(k_ledger_upsert_head, k_ledger_upsert_columns, k_ledger_upsert_tail,
                    page.ledger, [&](SQLite::Statement& s, int& i, const LedgerUpsert& l) {
                        s.bindNoCopy(i++, page.process_id);
                        s.bindNoCopy(i++, l.source_key);
                        s.bindNoCopy(i++, l.target_key);
                        s.bindNoCopy(i++, l.payload_hash);
                        s.bind(i++, page.now_ms);
                        s.bindNoCopy(i++, l.target_cursor);
                    });
    }

    void write_page(const PageCommit& page) {
        upsert_ledger(page);
        insert_rows(k_outcome_insert_head, k_outcome_insert_columns, "", page.outcomes,
                    [&](SQLite::Statement& s, int& i, const RecordOutcome& o) {
                        s.bind(i++, o.run_id != 0 ? o.run_id : page.run_id);
                        s.bindNoCopy(i++, o.process_id.empty() ? page.process_id : o.process_id);
                        s.bindNoCopy(i++, o.source_key);
                        s.bindNoCopy(i++, o.target_key);
                        s.bindNoCopy(i++, o.action);
                        s.bindNoCopy(i++, o.error_class);
                        s.bindNoCopy(i++, o.message);
                        s.bind(i++, static_cast<int32_t>(o.attempts));
                        s.bind(i++, o.started_ms);
                        s.bind(i++, o.finished_ms);
                    });
        if (!page.failed_attempts.empty()) insert_failed_attempts(page);  // first: reads rowid
        if (!page.outcomes.empty()) count_outcomes(page);
        if (!page.intents_closed.empty()) close_intents(page);
        if (!page.failed.empty()) {
            SQLite::Statement& s = stmt(k_failed_upsert);
            for (const FailedRecord& f : page.failed) {
                StatementUse u(s);
                u->bindNoCopy(1, f.process_id.empty() ? page.process_id : f.process_id);
                u->bindNoCopy(2, f.source_key);
                u->bindNoCopy(3, f.record_json);
                u->bindNoCopy(4, f.error_class);
                u->bindNoCopy(5, f.message);
                u->bind(6, static_cast<int32_t>(f.attempts));
                u->bind(7, f.first_failed_ms != 0 ? f.first_failed_ms : page.now_ms);
                u->bind(8, f.last_failed_ms != 0 ? f.last_failed_ms : page.now_ms);
                u->exec();
            }
        }
        if (!page.failed_resolved.empty()) {
            SQLite::Statement& s = stmt(k_failed_delete);
            for (const std::string& key : page.failed_resolved) {
                StatementUse u(s);
                u->bindNoCopy(1, page.process_id);
                u->bindNoCopy(2, key);
                u->exec();
            }
        }
        if (page.inbox_read && page.inbox_read->through_seq > page.inbox_read->after_seq) {
            const InboxRead& r = *page.inbox_read;
            StatementUse u(stmt(
                "INSERT INTO inbox_reads (connection_id, process_id, run_id, after_seq, "
                "through_seq, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
            u->bindNoCopy(1, r.connection_id);
            u->bindNoCopy(2, r.process_id.empty() ? page.process_id : r.process_id);
            u->bind(3, r.run_id != 0 ? r.run_id : page.run_id);
            u->bind(4, r.after_seq);
            u->bind(5, r.through_seq);
            u->bind(6, r.at_ms != 0 ? r.at_ms : page.now_ms);
            u->exec();
        }
        if (page.cursor) {
            StatementUse u(stmt(k_cursor_upsert));
            u->bindNoCopy(1, page.process_id);
            bind_optional(u.get(), 2, page.cursor->cursor);
            bind_optional(u.get(), 3, page.cursor->since);
            u->bind(4, page.now_ms);
            u->exec();
        }
        {
            StatementUse u(stmt(k_run_add_counts));
            u->bind(1, page.run_id);
            u->bind(2, page.counts.read);
            u->bind(3, page.counts.created);
            u->bind(4, page.counts.updated);
            u->bind(5, page.counts.unchanged);
            u->bind(6, page.counts.failed);
            u->bind(7, page.counts.recovered);
            u->exec();
            if (db().getChanges() == 0)
                throw StoreError(path_ + ": commit a page of " + page.process_id + ": run " +
                                 std::to_string(page.run_id) + " does not exist");
        }
    }

    const std::string path_;
    // The writing connection, and (read-write store) a second one for reads only.
    Conn writer_;
    std::unique_ptr<Conn> reader_owned_;
    Conn* reader_ = &writer_;  // the read-only store reads on its one connection
};

}  // namespace

const std::vector<double>& run_duration_buckets_s() {
    static const std::vector<double> bounds = {1, 5, 15, 60, 300, 900, 3600};
    return bounds;
}

std::unique_ptr<Store> open_sqlite_store(const std::string& path) {
    return std::make_unique<SqliteStore>(path);
}

std::unique_ptr<Store> open_sqlite_store_read_only(const std::string& path) {
    return std::make_unique<SqliteStore>(path, SqliteStore::ReadOnly{});
}

std::vector<std::string> check_sqlite_integrity(const std::string& path, bool quick,
                                                int max_lines) {
    std::vector<std::string> problems;
    try {
        bool immutable = false;
        auto db = open_read_only_connection(path, immutable);
        SQLite::Statement check(*db, std::string(quick ? "PRAGMA quick_check(" : "PRAGMA integrity_check(") +
                                         std::to_string(std::max(1, max_lines)) + ")");
        while (check.executeStep()) problems.push_back(check.getColumn(0).getString());
    } catch (const std::exception& e) {
        problems.push_back(e.what());
    }
    if (problems.empty()) problems.push_back("no answer from SQLite");
    return problems;
}

}  // namespace plexus
