// Unit tests of the SQLite store (core/store): migrations, the page commit and its
// atomicity, leases, runs, cursors, the ledger, the failed queue, outcomes and the audit log.
#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/migrations.hpp"
#include "store/store.hpp"

#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

using test::TempDir;

RecordOutcome outcome(const std::string& key, const std::string& act, const std::string& err = "",
                      const std::string& msg = "") {
    RecordOutcome o;
    o.source_key = key;
    o.target_key = act == action::failed ? "" : "T-" + key;
    o.action = act;
    o.error_class = err;
    o.message = msg;
    o.started_ms = 1000;
    o.finished_ms = 1001;
    return o;
}

PageCommit page_for(const std::string& process_id, int64_t run_id, int64_t now_ms) {
    PageCommit p;
    p.process_id = process_id;
    p.run_id = run_id;
    p.now_ms = now_ms;
    return p;
}

std::vector<std::string> keys_of(const std::vector<RecordOutcome>& os) {
    std::vector<std::string> out;
    for (const auto& o : os) out.push_back(o.source_key);
    return out;
}

}  // namespace

TEST_CASE("migrations apply on a fresh file and are idempotent on reopen", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("plexus.db");
    {
        auto store = open_sqlite_store(path);
        CHECK(store->schema_version() == store_migrations::latest_version());
        CHECK(store->schema_version() >= 1);
    }
    {
        auto store = open_sqlite_store(path);  // nothing pending: opens unchanged
        CHECK(store->schema_version() == store_migrations::latest_version());
    }
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement rows(db,
                           "SELECT count(*), min(version), max(version) FROM schema_migrations");
    REQUIRE(rows.executeStep());
    CHECK(rows.getColumn(0).getInt() == store_migrations::latest_version());  // one row each
    CHECK(rows.getColumn(1).getInt() == 1);
    for (const char* table : {"runs", "record_outcomes", "ledger", "cursors", "intent_batches",
                              "failed_queue", "process_state", "leases", "audit", "connections",
                              "inbox_events", "inbox_reads", "users", "sessions"}) {
        INFO(table);
        CHECK(db.tableExists(table));
    }
    // WAL is a property of the file: it stays after the connection closes.
    SQLite::Statement mode(db, "PRAGMA journal_mode");
    REQUIRE(mode.executeStep());
    CHECK(mode.getColumn(0).getString() == "wal");
}

TEST_CASE("migration 4 keeps the open intents of a version 1 database", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("v1.db");
    {
        // A database as version 1 left it, with two intents still open after a crash.
        SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        store_migrations::current_version(db);
        db.exec(store_migrations::all().at(0).sql);
        db.exec("INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 0)");
        db.exec(
            "INSERT INTO intents (process_id, run_id, source_key, idempotency_key, payload_json, "
            "payload_hash, created_ms) VALUES "
            "('orders', 7, 'S1', 'px-one', '{\"n\":1}', 'h1', 1001), "
            "('other', 8, 'S2', 'px-two', '{\"n\":2}', 'h2', 1002), "
            "('orders', 9, 'Zürich,:1', 'px-three', '{\"city\":\"Zürich\"}', 'h3', 1003)");
    }
    auto store = open_sqlite_store(path);
    CHECK(store->schema_version() == store_migrations::latest_version());
    auto pending = store->pending_intents("orders");
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].id < pending[1].id);
    CHECK(pending[0].process_id == "orders");
    CHECK(pending[0].run_id == 7);
    CHECK(pending[0].source_key == "S1");
    CHECK(pending[0].idempotency_key == "px-one");
    CHECK(pending[0].payload_json == R"({"n":1})");
    CHECK(pending[0].payload_hash == "h1");
    CHECK(pending[0].created_ms == 1001);
    CHECK(pending[1].run_id == 9);
    CHECK(pending[1].source_key == "Zürich,:1");  // bytes, separators and all
    CHECK(pending[1].payload_json == R"({"city":"Zürich"})");
    CHECK(pending[1].created_ms == 1003);
    REQUIRE(store->pending_intents("other").size() == 1);
    CHECK(store->pending_intents("other")[0].idempotency_key == "px-two");

    // They close like any other.
    const int64_t run = store->begin_run("orders", "manual", 2000);
    PageCommit p = page_for("orders", run, 2000);
    p.intents_closed = {pending[0].id};
    store->commit_page(p);
    REQUIRE(store->pending_intents("orders").size() == 1);
    CHECK(store->pending_intents("orders")[0].source_key == "Zürich,:1");
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    CHECK_FALSE(db.tableExists("intents"));
}

TEST_CASE("intents of one batch are listed and closed one by one", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("batch.db"));
    const int64_t run = store->begin_run("orders", "schedule", 1000);
    std::vector<Intent> intents(20);
    for (size_t i = 0; i < intents.size(); ++i) {
        intents[i].process_id = "orders";
        intents[i].run_id = run;
        intents[i].source_key = "S" + std::to_string(i);
        intents[i].idempotency_key = "idem-" + std::to_string(i);
        intents[i].payload_json = R"({"n":)" + std::to_string(i) + "}";
        intents[i].payload_hash = "h" + std::to_string(i);
        intents[i].created_ms = 1000 + static_cast<int64_t>(i);
    }
    intents[19].process_id = "other";  // a batch of another process in the same call
    const auto ids = store->open_intents(intents);
    REQUIRE(ids.size() == 20);
    for (size_t i = 1; i < ids.size(); ++i) CHECK(ids[i - 1] < ids[i]);
    auto pending = store->pending_intents("orders");
    REQUIRE(pending.size() == 19);
    for (size_t i = 0; i < pending.size(); ++i) {
        INFO(i);
        CHECK(pending[i].id == ids[i]);
        CHECK(pending[i].source_key == intents[i].source_key);
        CHECK(pending[i].idempotency_key == intents[i].idempotency_key);
        CHECK(pending[i].payload_json == intents[i].payload_json);
        CHECK(pending[i].payload_hash == intents[i].payload_hash);
        CHECK(pending[i].created_ms == intents[i].created_ms);
        CHECK(pending[i].run_id == run);
    }

    // Some close (a transient failure keeps the others open); closing twice, or an id of
    // another process, changes nothing.
    PageCommit p = page_for("orders", run, 2000);
    p.intents_closed = {ids[0], ids[3], ids[8], ids[9], ids[18], ids[3], ids[19]};
    store->commit_page(p);
    pending = store->pending_intents("orders");
    REQUIRE(pending.size() == 14);
    std::set<std::string> open;
    for (const auto& in : pending) open.insert(in.source_key);
    CHECK_FALSE(open.count("S0"));
    CHECK_FALSE(open.count("S3"));
    CHECK(open.count("S1"));
    CHECK(open.count("S17"));
    CHECK(store->pending_intents("other").size() == 1);

    // The rest close; the batch is gone.
    PageCommit rest = page_for("orders", run, 3000);
    for (const auto& in : pending) rest.intents_closed.push_back(in.id);
    store->commit_page(rest);
    CHECK(store->pending_intents("orders").empty());
    CHECK(store->pending_intents("other").size() == 1);
    PageCommit other = page_for("other", run, 4000);
    other.intents_closed = {ids[19]};
    store->commit_page(other);
    CHECK(store->pending_intents("other").empty());
}

TEST_CASE("a page commit opens the next write's intents with the rest, or not at all", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("opened.db"));
    const int64_t run = store->begin_run("orders", "schedule", 1000);
    const auto first = store->open_intents({Intent{0, "orders", run, "S1", "i1", "{}", "h", 1, "create", ""}});
    PageCommit p = page_for("orders", run, 2000);
    p.intents_closed = first;
    p.intents_opened = {Intent{0, "orders", run, "S2", "i2", "{}", "h", 2, "create", ""},
                        Intent{0, "orders", run, "S3", "i3", "{}", "h", 2, "create", ""}};
    const auto ids = store->commit_page(p);
    REQUIRE(ids.size() == 2);
    CHECK(first[0] < ids[0]);
    auto pending = store->pending_intents("orders");
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].id == ids[0]);
    CHECK(pending[1].source_key == "S3");

    PageCommit bad = page_for("orders", run + 99, 3000);  // no such run: rolled back
    bad.intents_closed = ids;
    bad.intents_opened = {Intent{0, "orders", run, "S4", "i4", "{}", "h", 3, "create", ""}};
    CHECK_THROWS_AS(store->commit_page(bad), std::runtime_error);
    pending = store->pending_intents("orders");
    REQUIRE(pending.size() == 2);
    CHECK(pending[1].source_key == "S3");
    CHECK(store->commit_page(page_for("orders", run, 4000)).empty());
}

TEST_CASE("a database with a newer schema version is refused, naming the file", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("future.db");
    open_sqlite_store(path);
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        SQLite::Statement ins(db,
                              "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, 0)");
        ins.bind(1, store_migrations::latest_version() + 1);
        ins.exec();
    }
    REQUIRE_THROWS_AS(open_sqlite_store(path), std::runtime_error);
    REQUIRE_THROWS_WITH(open_sqlite_store(path), Catch::Contains(path) && Catch::Contains("newer"));
}

TEST_CASE("opening an impossible path fails naming the file", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("no/such/dir/plexus.db");
    REQUIRE_THROWS_WITH(open_sqlite_store(path), Catch::Contains(path));
}

TEST_CASE("ledger upsert, find and find_many", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("ledger.db"));
    const int64_t run = store->begin_run("orders", "manual", 100);

    PageCommit p = page_for("orders", run, 200);
    for (int i = 0; i < 3000; ++i)
        p.ledger.push_back({"S" + std::to_string(i), "T" + std::to_string(i), "h1", ""});
    store->commit_page(p);
    CHECK(store->ledger_count("orders") == 3000);
    CHECK(store->ledger_count("other") == 0);

    auto e = store->ledger_find("orders", "S42");
    REQUIRE(e);
    CHECK(e->source_key == "S42");
    CHECK(e->target_key == "T42");
    CHECK(e->payload_hash == "h1");
    CHECK(e->updated_ms == 200);
    CHECK_FALSE(store->ledger_find("orders", "nope"));
    CHECK_FALSE(store->ledger_find("other", "S42"));  // ledgers are per process

    // Upsert: same key, new hash and time; no new row.
    PageCommit p2 = page_for("orders", run, 300);
    p2.ledger.push_back({"S42", "T42", "h2", ""});
    store->commit_page(p2);
    CHECK(store->ledger_count("orders") == 3000);
    e = store->ledger_find("orders", "S42");
    REQUIRE(e);
    CHECK(e->payload_hash == "h2");
    CHECK(e->updated_ms == 300);

    SECTION("find_many over thousands of keys, with missing and repeated keys") {
        std::vector<std::string> wanted;
        for (int i = 0; i < 2500; i += 2) wanted.push_back("S" + std::to_string(i));
        for (int i = 0; i < 700; ++i) wanted.push_back("missing" + std::to_string(i));
        wanted.push_back("S0");  // repeated
        wanted.push_back("S42");
        const auto found = store->ledger_find_many("orders", wanted);
        std::set<std::string> keys;
        for (const auto& f : found) {
            keys.insert(f.source_key);
            CHECK(f.target_key == "T" + f.source_key.substr(1));
        }
        CHECK(found.size() == 1250);  // each found key once
        CHECK(keys.size() == 1250);
        CHECK(keys.count("S0") == 1);
        CHECK(keys.count("S1") == 0);
        CHECK(keys.count("missing0") == 0);
    }
    SECTION("find_many with few or no keys") {
        CHECK(store->ledger_find_many("orders", {}).empty());
        auto one = store->ledger_find_many("orders", {"S7"});
        REQUIRE(one.size() == 1);
        CHECK(one[0].target_key == "T7");
        CHECK(store->ledger_find_many("other", {"S7"}).empty());
    }
}

TEST_CASE("commit_page lands all its parts together", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("page.db"));
    const int64_t run = store->begin_run("orders", "schedule", 1000);

    // Intents committed before the writes they announce.
    std::vector<Intent> intents(2);
    for (int i = 0; i < 2; ++i) {
        intents[i].process_id = "orders";
        intents[i].run_id = run;
        intents[i].source_key = "S" + std::to_string(i);
        intents[i].idempotency_key = "idem-" + std::to_string(i);
        intents[i].payload_json = R"({"n":1})";
        intents[i].payload_hash = "h";
        intents[i].created_ms = 1001;
    }
    const auto ids = store->open_intents(intents);
    REQUIRE(ids.size() == 2);
    CHECK(ids[0] < ids[1]);
    auto pending = store->pending_intents("orders");
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].id == ids[0]);
    CHECK(pending[0].idempotency_key == "idem-0");
    CHECK(pending[0].payload_json == R"({"n":1})");
    CHECK(pending[1].run_id == run);
    CHECK(store->pending_intents("other").empty());

    PageCommit p = page_for("orders", run, 2000);
    p.ledger = {{"S0", "T0", "h", ""}, {"S1", "T1", "h", ""}};
    p.outcomes = {outcome("S0", action::created), outcome("S1", action::created),
                  outcome("S2", action::failed, error_class::validation, "bad email")};
    p.intents_closed = ids;
    FailedRecord f;
    f.source_key = "S2";
    f.record_json = R"({"key":"S2"})";
    f.error_class = error_class::validation;
    f.message = "bad email";
    f.attempts = 1;
    p.failed = {f};
    p.cursor = CursorState{"c-1", std::nullopt};
    p.counts = {3, 2, 0, 0, 1};
    store->commit_page(p);

    CHECK(store->ledger_count("orders") == 2);
    CHECK(store->pending_intents("orders").empty());
    CHECK(store->cursor("orders").cursor == std::optional<std::string>("c-1"));
    CHECK_FALSE(store->cursor("orders").since);
    REQUIRE(store->failed_count("orders") == 1);
    auto failed = store->failed_records("orders");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].process_id == "orders");  // taken from the page
    CHECK(failed[0].record_json == R"({"key":"S2"})");
    CHECK(failed[0].first_failed_ms == 2000);
    CHECK(failed[0].last_failed_ms == 2000);
    auto r = store->run(run);
    REQUIRE(r);
    CHECK(r->counts.read == 3);
    CHECK(r->counts.created == 2);
    CHECK(r->counts.failed == 1);
    OutcomeQuery q;
    q.run_id = run;
    auto os = store->outcomes(q);
    REQUIRE(os.size() == 3);
    CHECK(os[0].process_id == "orders");
    CHECK(os[0].run_id == run);
    CHECK(os[0].id < os[1].id);
    CHECK(os[2].error_class == "validation");
    CHECK(os[2].message == "bad email");

    SECTION("counters add up over pages; a cursor left out stays") {
        PageCommit p2 = page_for("orders", run, 3000);
        p2.counts = {5, 1, 1, 3, 0};
        store->commit_page(p2);
        r = store->run(run);
        CHECK(r->counts.read == 8);
        CHECK(r->counts.created == 3);
        CHECK(r->counts.updated == 1);
        CHECK(r->counts.unchanged == 3);
        CHECK(store->cursor("orders").cursor == std::optional<std::string>("c-1"));
    }

    SECTION("a repeated failure accumulates attempts and keeps the first time") {
        PageCommit p2 = page_for("orders", run, 5000);
        f.attempts = 2;
        f.message = "still bad";
        p2.failed = {f};
        store->commit_page(p2);
        failed = store->failed_records("orders");
        REQUIRE(failed.size() == 1);
        CHECK(failed[0].attempts == 3);
        CHECK(failed[0].message == "still bad");
        CHECK(failed[0].first_failed_ms == 2000);
        CHECK(failed[0].last_failed_ms == 5000);
    }

    SECTION("failed_resolved removes entries from the failed queue") {
        PageCommit p2 = page_for("orders", run, 6000);
        p2.ledger = {{"S2", "T2", "h", ""}};
        p2.outcomes = {outcome("S2", action::created)};
        p2.failed_resolved = {"S2", "never-failed"};
        store->commit_page(p2);
        CHECK(store->failed_count("orders") == 0);
        CHECK(store->failed_records("orders").empty());
    }

    SECTION("a failing page changes nothing") {
        PageCommit bad = page_for("orders", run + 999, 7000);  // no such run
        bad.ledger = {{"S9", "T9", "h", ""}, {"S0", "changed", "h2", ""}};
        bad.outcomes = {outcome("S9", action::created)};
        bad.failed_resolved = {"S2"};
        bad.cursor = CursorState{"c-2", std::nullopt};
        bad.counts = {1, 1, 0, 0, 0};
        const auto more = store->open_intents({intents[0]});
        bad.intents_closed = more;
        REQUIRE_THROWS_AS(store->commit_page(bad), std::runtime_error);

        CHECK(store->ledger_count("orders") == 2);
        CHECK(store->ledger_find("orders", "S0")->target_key == "T0");
        CHECK_FALSE(store->ledger_find("orders", "S9"));
        CHECK(store->outcomes(q).size() == 3);
        OutcomeQuery all;
        CHECK(store->outcomes(all).size() == 3);
        CHECK(store->pending_intents("orders").size() == 1);
        CHECK(store->failed_count("orders") == 1);
        CHECK(store->cursor("orders").cursor == std::optional<std::string>("c-1"));
        CHECK(store->run(run)->counts.read == 3);

        // The store is still usable after the rollback.
        PageCommit good = page_for("orders", run, 8000);
        good.intents_closed = more;
        store->commit_page(good);
        CHECK(store->pending_intents("orders").empty());
    }
}

TEST_CASE("a large page commits every outcome in order and every ledger row", "[store]") {
    // Rows go in many to a statement (64, then 8, then one at a time): 203 outcomes and
    // 137 ledger rows take every width.
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("large.db"));
    const int64_t run = store->begin_run("orders", "schedule", 1000);
    PageCommit p = page_for("orders", run, 2000);
    for (int i = 0; i < 203; ++i) {
        p.outcomes.push_back(outcome("S" + std::to_string(i), action::created));
        p.outcomes.back().message = "m" + std::to_string(i);
        p.outcomes.back().attempts = i % 3 + 1;
    }
    for (int i = 0; i < 137; ++i) {
        // A key twice in one page: the later row wins, as one statement per row would do.
        const std::string key = "S" + std::to_string(i == 136 ? 5 : i);
        p.ledger.push_back({key, "T" + std::to_string(i), "h" + std::to_string(i), "c"});
    }
    p.counts = {203, 203, 0, 0, 0};
    store->commit_page(p);

    CHECK(store->ledger_count("orders") == 136);
    CHECK(store->ledger_find("orders", "S5")->target_key == "T136");
    CHECK(store->ledger_find("orders", "S135")->payload_hash == "h135");
    CHECK(store->ledger_find("orders", "S0")->updated_ms == 2000);
    OutcomeQuery q;
    q.run_id = run;
    q.limit = 0;
    const auto os = store->outcomes(q);
    REQUIRE(os.size() == 203);
    for (size_t i = 0; i < os.size(); ++i) {
        INFO(i);
        CHECK(os[i].source_key == "S" + std::to_string(i));
        CHECK(os[i].message == "m" + std::to_string(i));
        CHECK(os[i].attempts == static_cast<int>(i % 3 + 1));
        CHECK(os[i].process_id == "orders");
        if (i) CHECK(os[i - 1].id < os[i].id);
    }
}

TEST_CASE("leases: one holder at a time, taken after expiry, released", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("lease.db"));

    CHECK(store->acquire_lease("orders", "host-a", 1000, 500));
    CHECK(store->acquire_lease("orders", "host-a", 1100, 500));        // the holder again: renewed
    CHECK_FALSE(store->acquire_lease("orders", "host-b", 1200, 500));  // held until 1600
    CHECK(store->acquire_lease("invoices", "host-b", 1200, 500));      // per process

    store->renew_lease("orders", "host-a", 1500, 500);  // now until 2000
    CHECK_FALSE(store->acquire_lease("orders", "host-b", 1999, 500));
    CHECK(store->acquire_lease("orders", "host-b", 2000, 500));  // expired: taken over

    // host-a lost it: renewing must fail loudly, and releasing does not free host-b's lease.
    CHECK_THROWS_AS(store->renew_lease("orders", "host-a", 2100, 500), std::runtime_error);
    store->release_lease("orders", "host-a");
    CHECK_FALSE(store->acquire_lease("orders", "host-a", 2100, 500));

    store->release_lease("orders", "host-b");
    CHECK(store->acquire_lease("orders", "host-a", 2100, 500));
}

TEST_CASE("leases exclude a second store on the same file", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("shared.db");
    auto a = open_sqlite_store(path);
    auto b = open_sqlite_store(path);
    CHECK(a->acquire_lease("orders", "a", 1000, 60000));
    CHECK_FALSE(b->acquire_lease("orders", "b", 1000, 60000));
    a->release_lease("orders", "a");
    CHECK(b->acquire_lease("orders", "b", 1000, 60000));
}

TEST_CASE("runs: finish, last run, filters and paging", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("runs.db"));
    std::vector<int64_t> ids;
    for (int i = 0; i < 10; ++i) {
        const std::string process = i % 2 ? "invoices" : "orders";
        ids.push_back(store->begin_run(process, "schedule", 1000 + i * 100));
        if (i < 8)
            store->finish_run(ids.back(), i % 3 ? run_status::succeeded : run_status::failed,
                              i % 3 ? "" : "auth failed", 1050 + i * 100);
    }

    auto r = store->run(ids[0]);
    REQUIRE(r);
    CHECK(r->process_id == "orders");
    CHECK(r->trigger == "schedule");
    CHECK(r->status == "failed");
    CHECK(r->message == "auth failed");
    CHECK(r->started_ms == 1000);
    CHECK(r->finished_ms == 1050);
    CHECK(store->run(ids[9])->status == "running");
    CHECK(store->run(ids[9])->finished_ms == 0);
    CHECK_FALSE(store->run(123456));
    CHECK_THROWS_WITH(store->finish_run(123456, run_status::succeeded, "", 1),
                      Catch::Contains("123456"));

    REQUIRE(store->last_run("orders"));
    CHECK(store->last_run("orders")->id == ids[8]);
    CHECK_FALSE(store->last_run("nobody"));

    RunQuery q;
    auto all = store->runs(q);
    REQUIRE(all.size() == 10);
    CHECK(all.front().id == ids[9]);  // newest first
    CHECK(all.back().id == ids[0]);

    q.process_id = "orders";
    auto orders = store->runs(q);
    REQUIRE(orders.size() == 5);
    for (const auto& x : orders) CHECK(x.process_id == "orders");

    q.status = run_status::failed;  // orders with i = 0 and 6
    auto failed = store->runs(q);
    REQUIRE(failed.size() == 2);
    CHECK(failed[0].id == ids[6]);
    CHECK(failed[1].id == ids[0]);

    RunQuery window;
    window.started_from_ms = 1200;  // inclusive
    window.started_to_ms = 1500;    // exclusive
    auto w = store->runs(window);
    REQUIRE(w.size() == 3);
    CHECK(w[0].id == ids[4]);
    CHECK(w[2].id == ids[2]);

    RunQuery paged;
    paged.limit = 4;
    paged.offset = 0;
    auto page1 = store->runs(paged);
    paged.offset = 4;
    auto page2 = store->runs(paged);
    paged.offset = 8;
    auto page3 = store->runs(paged);
    REQUIRE(page1.size() == 4);
    REQUIRE(page2.size() == 4);
    REQUIRE(page3.size() == 2);
    CHECK(page1[0].id == ids[9]);
    CHECK(page2[0].id == ids[5]);
    CHECK(page3[1].id == ids[0]);
}

TEST_CASE("abandon_running marks only this process's running runs", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("abandon.db"));
    const int64_t a1 = store->begin_run("orders", "schedule", 1000);
    const int64_t a2 = store->begin_run("orders", "manual", 1100);
    const int64_t done = store->begin_run("orders", "manual", 1200);
    store->finish_run(done, run_status::succeeded, "", 1300);
    const int64_t other = store->begin_run("invoices", "schedule", 1000);

    CHECK(store->abandon_running("orders", 5000) == 2);
    for (int64_t id : {a1, a2}) {
        auto r = store->run(id);
        CHECK(r->status == run_status::abandoned);
        CHECK(r->finished_ms == 5000);
        CHECK_FALSE(r->message.empty());
    }
    CHECK(store->run(done)->status == run_status::succeeded);
    CHECK(store->run(done)->finished_ms == 1300);
    CHECK(store->run(other)->status == run_status::running);
    CHECK(store->abandon_running("orders", 6000) == 0);
}

TEST_CASE("rewind_cursor clears the cursor, sets since and writes an audit entry", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("rewind.db"));
    CHECK_FALSE(store->cursor("orders").cursor);
    CHECK_FALSE(store->cursor("orders").since);

    const int64_t run = store->begin_run("orders", "schedule", 1000);
    PageCommit p = page_for("orders", run, 1100);
    p.cursor = CursorState{"page-token-\"7\"", std::nullopt};
    store->commit_page(p);

    store->rewind_cursor("orders", "2024-03-01T00:00:00Z", "alice", 2000);
    const auto c = store->cursor("orders");
    CHECK_FALSE(c.cursor);
    CHECK(c.since == std::optional<std::string>("2024-03-01T00:00:00Z"));

    const auto log = store->audit_log();
    REQUIRE(log.size() == 1);
    CHECK(log[0].actor == "alice");
    CHECK(log[0].action == "cursor.rewind");
    CHECK(log[0].subject == "orders");
    CHECK(log[0].at_ms == 2000);
    CHECK_THAT(log[0].detail, Catch::Contains("2024-03-01T00:00:00Z"));
    CHECK_THAT(log[0].detail, Catch::Contains(R"(page-token-\"7\")"));  // valid JSON escaping

    // The next page's cursor replaces the rewind.
    PageCommit p2 = page_for("orders", run, 3000);
    p2.cursor = CursorState{"c-9", std::nullopt};
    store->commit_page(p2);
    CHECK(store->cursor("orders").cursor == std::optional<std::string>("c-9"));
    CHECK_FALSE(store->cursor("orders").since);
}

TEST_CASE("process_enabled set and get, audited", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("state.db");
    {
        auto store = open_sqlite_store(path);
        CHECK_FALSE(store->process_enabled("orders"));  // never set
        store->set_process_enabled("orders", false, "bob", 1000);
        CHECK(store->process_enabled("orders") == std::optional<bool>(false));
        store->set_process_enabled("orders", true, "bob", 2000);
        CHECK(store->process_enabled("orders") == std::optional<bool>(true));
        CHECK_FALSE(store->process_enabled("invoices"));
    }
    auto store = open_sqlite_store(path);  // persisted
    CHECK(store->process_enabled("orders") == std::optional<bool>(true));
    const auto log = store->audit_log();
    REQUIRE(log.size() == 2);
    CHECK(log[0].action == "process.enable");  // newest first
    CHECK(log[1].action == "process.disable");
    CHECK(log[1].actor == "bob");

    AuditEntry e;
    e.at_ms = 3000;
    e.actor = "cli:root";
    e.action = "replay";
    e.subject = "orders";
    e.detail = R"({"n":3})";
    store->audit(e);
    auto latest = store->audit_log(1, 0);
    REQUIRE(latest.size() == 1);
    CHECK(latest[0].actor == "cli:root");
    CHECK(latest[0].detail == R"({"n":3})");
    CHECK(store->audit_log(10, 1).size() == 2);
}

TEST_CASE("for_each_outcome streams in id order with filters", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("outcomes.db"));
    const int64_t run1 = store->begin_run("orders", "schedule", 1000);
    const int64_t run2 = store->begin_run("orders", "schedule", 2000);
    const int64_t run3 = store->begin_run("invoices", "schedule", 2000);

    // 2,600 outcomes in run1 (more than one streaming chunk), a few in run2 and run3.
    for (int pageno = 0; pageno < 5; ++pageno) {
        PageCommit p = page_for("orders", run1, 1100 + pageno);
        for (int i = 0; i < 520; ++i) {
            const int n = pageno * 520 + i;
            const std::string key = "ord-" + std::to_string(n);
            if (n % 10 == 0)
                p.outcomes.push_back(outcome(key, action::failed, error_class::validation,
                                             "Email missing on customer"));
            else if (n % 10 == 1)
                p.outcomes.push_back(
                    outcome(key, action::failed, error_class::transient, "HTTP 503"));
            else
                p.outcomes.push_back(outcome(key, action::created));
        }
        store->commit_page(p);
    }
    PageCommit p2 = page_for("orders", run2, 2100);
    p2.outcomes = {outcome("ord-special", action::updated), outcome("x", action::unchanged)};
    store->commit_page(p2);
    PageCommit p3 = page_for("invoices", run3, 2100);
    p3.outcomes = {outcome("inv-1", action::created)};
    store->commit_page(p3);

    auto stream = [&](const OutcomeQuery& q) {
        std::vector<RecordOutcome> out;
        store->for_each_outcome(q, [&](const RecordOutcome& o) { out.push_back(o); });
        return out;
    };
    auto strictly_increasing = [](const std::vector<RecordOutcome>& os) {
        for (size_t i = 1; i < os.size(); ++i)
            if (os[i].id <= os[i - 1].id) return false;
        return true;
    };

    OutcomeQuery all;  // limit is ignored when streaming
    auto everything = stream(all);
    CHECK(everything.size() == 2603);
    CHECK(strictly_increasing(everything));

    OutcomeQuery by_run;
    by_run.run_id = run1;
    auto r1 = stream(by_run);
    REQUIRE(r1.size() == 2600);
    CHECK(strictly_increasing(r1));
    CHECK(r1.front().source_key == "ord-0");
    CHECK(r1.back().source_key == "ord-2599");

    OutcomeQuery by_action;
    by_action.action = action::failed;
    CHECK(stream(by_action).size() == 520);

    OutcomeQuery by_class;
    by_class.error_class = error_class::validation;
    auto validation = stream(by_class);
    CHECK(validation.size() == 260);
    for (const auto& o : validation) CHECK(o.error_class == "validation");

    OutcomeQuery text_in_message;
    text_in_message.text = "email";  // case-insensitive substring of the message
    CHECK(stream(text_in_message).size() == 260);

    OutcomeQuery text_in_key;
    text_in_key.text = "special";
    auto special = stream(text_in_key);
    REQUIRE(special.size() == 1);
    CHECK(special[0].run_id == run2);
    CHECK(special[0].action == "updated");

    OutcomeQuery combined;
    combined.process_id = "orders";
    combined.run_id = run1;
    combined.action = action::failed;
    combined.error_class = error_class::transient;
    combined.text = "503";
    CHECK(stream(combined).size() == 260);

    OutcomeQuery by_process;
    by_process.process_id = "invoices";
    auto inv = stream(by_process);
    REQUIRE(inv.size() == 1);
    CHECK(inv[0].source_key == "inv-1");

    SECTION("outcomes() pages by limit/offset and by after_id") {
        OutcomeQuery q;
        q.run_id = run1;
        q.limit = 100;
        auto first = store->outcomes(q);
        REQUIRE(first.size() == 100);
        CHECK(first.front().source_key == "ord-0");
        q.offset = 100;
        auto second = store->outcomes(q);
        REQUIRE(second.size() == 100);
        CHECK(second.front().source_key == "ord-100");
        q.offset = 0;
        q.after_id = first.back().id;
        auto keyset = store->outcomes(q);
        REQUIRE(keyset.size() == 100);
        CHECK(keyset.front().id == second.front().id);
        OutcomeQuery after_stream;
        after_stream.run_id = run1;
        after_stream.after_id = r1[2499].id;
        CHECK(stream(after_stream).size() == 100);
    }

    SECTION("the callback may use the store") {
        OutcomeQuery q;
        q.run_id = run2;
        int seen = 0;
        store->for_each_outcome(q, [&](const RecordOutcome& o) {
            ++seen;
            CHECK(store->run(o.run_id));
        });
        CHECK(seen == 2);
    }
}

TEST_CASE("SQL metacharacters in the text filter are taken literally", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("meta.db"));
    const int64_t run = store->begin_run("orders", "manual", 1000);
    PageCommit p = page_for("orders", run, 1100);
    p.outcomes = {outcome("100%", action::created),
                  outcome("1000", action::created),
                  outcome("a_b", action::created),
                  outcome("axb", action::created),
                  outcome("back\\slash", action::created),
                  outcome("backslash", action::created),
                  outcome("O'Brien", action::created),
                  outcome("k", action::failed, error_class::plugin, "50% done [x]")};
    store->commit_page(p);

    auto match = [&](const std::string& text) {
        OutcomeQuery q;
        q.text = text;
        return keys_of(store->outcomes(q));
    };
    CHECK(match("%") == std::vector<std::string>{"100%", "k"});
    CHECK(match("0%") == std::vector<std::string>{"100%", "k"});
    CHECK(match("_") == std::vector<std::string>{"a_b"});
    CHECK(match("\\") == std::vector<std::string>{"back\\slash"});
    CHECK(match("'") == std::vector<std::string>{"O'Brien"});
    CHECK(match("[x]") == std::vector<std::string>{"k"});
    CHECK(match("'; DROP TABLE record_outcomes; --").empty());
    CHECK(match("' OR '1'='1").empty());
    CHECK(match("").size() == 8);  // empty text: no filter

    OutcomeQuery all;
    CHECK(store->outcomes(all).size() == 8);  // the table survived
}

TEST_CASE("one store used from several threads", "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("threads.db"));
    constexpr int k_threads = 4;
    constexpr int k_pages = 20;
    std::vector<int64_t> runs;
    for (int t = 0; t < k_threads; ++t)
        runs.push_back(store->begin_run("p" + std::to_string(t), "schedule", 1000));

    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            try {
                const std::string process = "p" + std::to_string(t);
                for (int pg = 0; pg < k_pages; ++pg) {
                    PageCommit p = page_for(process, runs[t], 2000 + pg);
                    for (int i = 0; i < 50; ++i) {
                        const std::string key = std::to_string(pg * 50 + i);
                        p.ledger.push_back({key, "T" + key, "h", ""});
                        p.outcomes.push_back(outcome(key, action::created));
                    }
                    p.cursor = CursorState{std::to_string(pg), std::nullopt};
                    p.counts.read = 50;
                    store->commit_page(p);
                    store->ledger_find_many(process, {"0", "1", "2"});
                    OutcomeQuery q;
                    q.run_id = runs[t];
                    store->outcomes(q);
                }
            } catch (...) {
                ++errors;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(errors == 0);
    for (int t = 0; t < k_threads; ++t) {
        const std::string process = "p" + std::to_string(t);
        CHECK(store->ledger_count(process) == k_pages * 50);
        CHECK(store->run(runs[t])->counts.read == k_pages * 50);
        CHECK(store->cursor(process).cursor ==
              std::optional<std::string>(std::to_string(k_pages - 1)));
    }
}

TEST_CASE("reads answer while a write waits for another process's lock, and see what it wrote",
          "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("held.db");
    auto store = open_sqlite_store(path);
    const int64_t run_id = store->begin_run("customers", "schedule", 1000);
    store->set_schedule_anchor("customers", 1000);

    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");  // another process holds the write lock
    std::atomic<bool> write_ended{false};
    std::string write_error;
    std::thread writer([&] {
        try {
            store->set_schedule_anchor("customers", 2000);  // waits the 5 s busy timeout
        } catch (const StoreBusyError& e) {
            write_error = e.what();
        }
        write_ended = true;
    });
    // Let the write start waiting. (Should it start late, the reads below would pass
    // without showing anything; they never fail for it.)
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Reads of this store go on meanwhile, on their own connection: before the write gave up.
    CHECK(store->schedule_anchor("customers") == std::optional<int64_t>(1000));
    CHECK(store->run(run_id).has_value());
    CHECK(store->runs(RunQuery{}).size() == 1);
    CHECK_FALSE(write_ended.load());
    writer.join();
    CHECK_THAT(write_error, Catch::Contains("locked by another process"));
    other.exec("ROLLBACK");

    // Once the lock is free, a write is seen by the next read at once.
    store->set_schedule_anchor("customers", 3000);
    CHECK(store->schedule_anchor("customers") == std::optional<int64_t>(3000));
}

TEST_CASE("the ledger finds an entry by its target and keeps the target's cursor", "[store]") {
    TempDir dir;
    auto store = open_sqlite_store(dir.str("p.db"));
    int64_t run = store->begin_run("p", "test", 1);
    PageCommit page;
    page.process_id = "p";
    page.run_id = run;
    page.now_ms = 2;
    page.ledger = {{"S1", "T1", "h", "2024-05-01T10:00:00Z"}, {"S2", "T2", "h", ""}};
    store->commit_page(page);
    auto e = store->ledger_find_by_target("p", "T1");
    REQUIRE(e);
    CHECK(e->source_key == "S1");
    CHECK(e->target_cursor == "2024-05-01T10:00:00Z");
    CHECK(store->ledger_find("p", "S1")->target_cursor == "2024-05-01T10:00:00Z");
    CHECK(!store->ledger_find_by_target("p", "S1"));
    CHECK(!store->ledger_find_by_target("other", "T1"));
}

TEST_CASE("time filters select by start time, exactly, also when times are out of id order",
          "[store]") {
    TempDir tmp;
    auto store = open_sqlite_store(tmp.str("times.db"));
    const int64_t run_a = store->begin_run("orders", "schedule", 1000);
    const int64_t run_b = store->begin_run("invoices", "schedule", 1000);

    // 3,000 outcomes over two processes (more than one streaming chunk each way). Start times
    // grow with the id, except every 7th, which started early, and every 11th, late: the id
    // bounds of a time range then hold rows outside it, which must still be left out.
    for (int pageno = 0; pageno < 6; ++pageno) {
        PageCommit pa = page_for("orders", run_a, 5000 + pageno);
        PageCommit pb = page_for("invoices", run_b, 5000 + pageno);
        for (int i = 0; i < 250; ++i) {
            const int n = pageno * 250 + i;
            int64_t start = 100'000 + n * 10;
            if (n % 7 == 0) start = 50;
            if (n % 11 == 0) start = 9'000'000;
            RecordOutcome a =
                outcome("a-" + std::to_string(n), n % 5 == 0 ? action::failed : action::created,
                        n % 5 == 0 ? error_class::validation : "");
            a.started_ms = start;
            a.finished_ms = start + 3;
            pa.outcomes.push_back(a);
            RecordOutcome b = outcome("b-" + std::to_string(n), action::updated);
            b.started_ms = start + 5;
            b.finished_ms = start + 6;
            pb.outcomes.push_back(b);
        }
        store->commit_page(pa);
        store->commit_page(pb);
    }

    auto stream = [&](const OutcomeQuery& q) {
        std::vector<RecordOutcome> out;
        store->for_each_outcome(q, [&](const RecordOutcome& o) { out.push_back(o); });
        return out;
    };
    const std::vector<RecordOutcome> everything = stream(OutcomeQuery{});
    REQUIRE(everything.size() == 3000);
    // What a query must return, worked out by hand from every outcome.
    auto expected = [&](const OutcomeQuery& q) {
        std::vector<std::string> keys;
        for (const auto& o : everything) {
            if (q.process_id && o.process_id != *q.process_id) continue;
            if (q.run_id && o.run_id != *q.run_id) continue;
            if (q.action && o.action != *q.action) continue;
            if (q.started_from_ms && o.started_ms < *q.started_from_ms) continue;
            if (q.started_to_ms && o.started_ms >= *q.started_to_ms) continue;
            keys.push_back(o.source_key);
        }
        return keys;
    };

    OutcomeQuery window;  // from inclusive, to exclusive
    window.started_from_ms = 100'000 + 300 * 10;
    window.started_to_ms = 100'000 + 1200 * 10;
    auto in_window = stream(window);
    CHECK(keys_of(in_window) == expected(window));
    CHECK(in_window.size() > 1000);
    for (const auto& o : in_window) {
        CHECK(o.started_ms >= *window.started_from_ms);
        CHECK(o.started_ms < *window.started_to_ms);
    }
    CHECK(keys_of(in_window).front() == "a-300");
    for (size_t i = 1; i < in_window.size(); ++i) CHECK(in_window[i].id > in_window[i - 1].id);

    OutcomeQuery edge;  // exactly one start time: from == start, to == start + 1
    edge.started_from_ms = 100'000 + 302 * 10;
    edge.started_to_ms = 100'000 + 302 * 10 + 1;
    CHECK(keys_of(stream(edge)) == std::vector<std::string>{"a-302"});

    OutcomeQuery combined = window;
    combined.process_id = "orders";
    combined.action = action::failed;
    CHECK(keys_of(stream(combined)) == expected(combined));
    CHECK(!expected(combined).empty());

    OutcomeQuery by_run = window;
    by_run.run_id = run_b;
    CHECK(keys_of(stream(by_run)) == expected(by_run));

    OutcomeQuery from_only;
    from_only.started_from_ms = 1'000'000;  // only the late ones
    CHECK(keys_of(stream(from_only)) == expected(from_only));
    CHECK(stream(from_only).size() == 2 * 137);  // multiples of 11 below 1,500

    OutcomeQuery to_only;
    to_only.started_to_ms = 100;  // only the early ones
    CHECK(keys_of(stream(to_only)) == expected(to_only));
    CHECK(stream(to_only).size() == 2 * (215 - 20));  // multiples of 7, minus those of 77

    OutcomeQuery nothing;
    nothing.started_from_ms = 20'000'000;
    CHECK(stream(nothing).empty());
    CHECK(store->outcomes(nothing).empty());

    OutcomeQuery inverted;
    inverted.started_from_ms = 200'000;
    inverted.started_to_ms = 100'000;
    CHECK(stream(inverted).empty());

    SECTION("outcomes() pages a time range by after_id") {
        OutcomeQuery q = window;
        q.limit = 400;
        std::vector<std::string> paged;
        for (;;) {
            auto page = store->outcomes(q);
            for (const auto& o : page) paged.push_back(o.source_key);
            if (static_cast<int64_t>(page.size()) < q.limit) break;
            q.after_id = page.back().id;
        }
        CHECK(paged == expected(window));
    }
}

TEST_CASE("migration 2 upgrades a version-1 database and keeps its outcomes", "[store]") {
    TempDir tmp;
    const std::string path = tmp.str("v1.db");
    {
        // A database as a build that knew only migration 1 left it.
        SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        REQUIRE(store_migrations::current_version(db) == 0);
        db.exec(store_migrations::all().at(0).sql);
        db.exec("INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 0)");
        db.exec(
            "INSERT INTO runs (process_id, trigger, status, started_ms) "
            "VALUES ('orders', 'cli', 'succeeded', 10)");
        db.exec(
            "INSERT INTO record_outcomes (run_id, process_id, source_key, action, "
            "started_ms, finished_ms) VALUES (1, 'orders', 'old-1', 'created', 500, 510)");
    }
    auto store = open_sqlite_store(path);
    CHECK(store->schema_version() == store_migrations::latest_version());
    CHECK(store->schema_version() >= 2);
    {
        SQLite::Database db(path, SQLite::OPEN_READONLY);
        SQLite::Statement index(db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                "name = 'record_outcomes_by_started'");
        REQUIRE(index.executeStep());
        CHECK(index.getColumn(0).getInt() == 1);
    }
    OutcomeQuery q;
    q.started_from_ms = 500;
    q.started_to_ms = 501;
    auto found = store->outcomes(q);
    REQUIRE(found.size() == 1);
    CHECK(found[0].source_key == "old-1");
    CHECK(found[0].finished_ms == 510);
}
