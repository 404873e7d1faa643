// Unit tests of migration 12 (core/store): what each failed attempt sent and got back, kept
// with its outcome, and the failed queue's reversible dismissal (docs/operations.md, "Failed
// records").
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/migrations.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

struct Dir {
    fs::path path;
    Dir() {
        std::random_device rd;
        path = fs::temp_directory_path() /
               ("plexus-failed-store-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-" +
                std::to_string(rd()));
        fs::create_directories(path);
    }
    ~Dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

RecordOutcome outcome_of(const std::string& key, const std::string& act,
                         const std::string& message = {}) {
    RecordOutcome o;
    o.source_key = key;
    o.action = act;
    o.error_class = act == action::failed ? error_class::validation : "";
    o.message = message;
    o.started_ms = 1000;
    o.finished_ms = 1001;
    return o;
}

FailedRecord failed_of(const std::string& key, const std::string& message = "refused") {
    FailedRecord f;
    f.source_key = key;
    f.record_json = R"({"key":")" + key + R"(","cursor":"","data":{}})";
    f.error_class = error_class::validation;
    f.message = message;
    f.attempts = 1;
    return f;
}

// A page where `failed_keys` fail (each with an attempt) between successes.
PageCommit failing_page(int64_t run, int64_t now_ms, const std::vector<std::string>& failed_keys) {
    PageCommit p;
    p.process_id = "orders";
    p.run_id = run;
    p.now_ms = now_ms;
    for (const auto& k : failed_keys) {
        p.outcomes.push_back(outcome_of("ok-" + k, action::created));
        FailedAttempt a;
        a.outcome_index = p.outcomes.size();
        a.operation = "create";
        a.payload = R"({"reference":"SO-)" + k + R"("})";
        a.payload_bytes = static_cast<int64_t>(a.payload->size());
        a.answer = "HTTP 422: reference " + k + " refused";
        p.failed_attempts.push_back(a);
        p.outcomes.push_back(outcome_of(k, action::failed, "refused " + k));
        p.failed.push_back(failed_of(k));
    }
    return p;
}

AuditEntry audit_of(const std::string& action, int64_t at_ms) {
    return AuditEntry{0, at_ms, "otto", action, "orders", "{}"};
}

}  // namespace

TEST_CASE("a failed attempt's payload and answer are kept with its own outcome",
          "[store][failed]") {
    Dir dir;
    auto store = open_sqlite_store((dir.path / "p.db").string());
    const int64_t run = store->begin_run("orders", "manual", 1000);
    // Ids before this page: another run's outcomes, so the page's ids do not start at 1.
    PageCommit before;
    before.process_id = "other";
    before.run_id = store->begin_run("other", "manual", 900);
    before.now_ms = 900;
    before.outcomes = {outcome_of("x1", action::created), outcome_of("x2", action::created)};
    store->commit_page(before);

    PageCommit p = failing_page(run, 2000, {"A", "B"});
    // A mapping failure: nothing sent.
    FailedAttempt none;
    none.outcome_index = p.outcomes.size();
    none.note = "nothing was sent: the mapping could not map this record";
    p.failed_attempts.push_back(none);
    p.outcomes.push_back(outcome_of("C", action::failed, "field total: not a number"));
    p.outcomes.push_back(outcome_of("D", action::created));
    store->commit_page(p);

    OutcomeQuery q;
    q.run_id = run;
    auto os = store->outcomes(q);
    REQUIRE(os.size() == 6);
    for (const auto& o : os) {
        auto a = store->failed_attempt(o.id);
        if (o.action != action::failed) {
            CHECK_FALSE(a);
            continue;
        }
        REQUIRE(a);
        CHECK(a->outcome_id == o.id);
        if (o.source_key == "C") {
            CHECK_FALSE(a->payload);
            CHECK(a->operation.empty());
            CHECK(a->note.find("mapping") != std::string::npos);
        } else {
            REQUIRE(a->payload);
            CHECK(*a->payload == R"({"reference":"SO-)" + o.source_key + R"("})");
            CHECK(a->operation == "create");
            CHECK(a->answer == "HTTP 422: reference " + o.source_key + " refused");
        }
    }
    auto one = store->outcome(os[1].id);
    REQUIRE(one);
    CHECK(one->source_key == "A");
    CHECK_FALSE(store->outcome(999999));
    CHECK_FALSE(store->failed_attempt(999999));

    SECTION("an attempt naming an outcome the page does not have rolls the page back") {
        PageCommit bad = failing_page(run, 3000, {"E"});
        bad.failed_attempts[0].outcome_index = 7;
        CHECK_THROWS_AS(store->commit_page(bad), std::runtime_error);
        CHECK(store->outcomes(q).size() == 6);
    }
}

TEST_CASE("dismissed records are kept apart, not counted, and can be restored",
          "[store][failed]") {
    Dir dir;
    auto store = open_sqlite_store((dir.path / "d.db").string());
    const int64_t run = store->begin_run("orders", "manual", 1000);
    store->commit_page(failing_page(run, 2000, {"A", "B", "C"}));
    REQUIRE(store->failed_count("orders") == 3);

    CHECK(store->dismiss_failed("orders", {"A", "C", "nope"}, "customer cancelled",
                                audit_of("failed.dismiss", 5000)) == 2);
    CHECK(store->failed_count("orders") == 1);
    CHECK(store->failed_count("orders", FailedState::dismissed) == 2);
    CHECK(store->failed_count("orders", FailedState::any) == 3);
    auto waiting = store->failed_records("orders");
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].source_key == "B");
    CHECK(waiting[0].dismissed_ms == 0);
    auto dismissed = store->failed_records("orders", 100, 0, FailedState::dismissed);
    REQUIRE(dismissed.size() == 2);
    CHECK(dismissed[0].dismissed_ms == 5000);
    CHECK(dismissed[0].dismissed_by == "otto");
    CHECK(dismissed[0].dismiss_reason == "customer cancelled");
    auto reasons = store->failed_queue_reasons("orders", 10);
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0].count == 1);
    // The row stays readable (for restore, and for a replay's refusal to name it).
    auto a = store->failed_record("orders", "A");
    REQUIRE(a);
    CHECK(a->dismissed_ms == 5000);
    // Dismissing it again changes nothing.
    CHECK(store->dismiss_failed("orders", {"A"}, "again", audit_of("failed.dismiss", 6000)) == 0);
    CHECK(store->failed_record("orders", "A")->dismiss_reason == "customer cancelled");

    SECTION("restore puts them back in the queue, audited") {
        CHECK(store->restore_failed("orders", {"A", "B"}, audit_of("failed.restore", 7000)) == 1);
        CHECK(store->failed_count("orders") == 2);
        CHECK(store->failed_record("orders", "A")->dismissed_ms == 0);
        CHECK(store->failed_record("orders", "A")->dismiss_reason.empty());
        bool audited = false;
        for (const auto& e : store->audit_log(10)) audited |= e.action == "failed.restore";
        CHECK(audited);
    }

    SECTION("a dismissed record that fails again is back in the queue") {
        PageCommit p;
        p.process_id = "orders";
        p.run_id = run;
        p.now_ms = 8000;
        p.outcomes = {outcome_of("A", action::failed, "refused again")};
        p.failed = {failed_of("A", "refused again")};
        store->commit_page(p);
        auto f = store->failed_record("orders", "A");
        REQUIRE(f);
        CHECK(f->dismissed_ms == 0);
        CHECK(f->dismissed_by.empty());
        CHECK(f->attempts == 2);
        CHECK(f->message == "refused again");
        CHECK(store->failed_count("orders") == 2);
    }

    SECTION("a dismissed record that succeeds leaves the queue") {
        PageCommit p;
        p.process_id = "orders";
        p.run_id = run;
        p.now_ms = 8000;
        p.outcomes = {outcome_of("C", action::created)};
        p.failed_resolved = {"C"};
        store->commit_page(p);
        CHECK_FALSE(store->failed_record("orders", "C"));
        CHECK(store->failed_count("orders", FailedState::dismissed) == 1);
    }
}

TEST_CASE("migration 12 keeps the failed queue of a version 11 database waiting",
          "[store][failed][migration]") {
    Dir dir;
    const std::string path = (dir.path / "v11.db").string();
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        store_migrations::current_version(db);
        for (const auto& m : store_migrations::all()) {
            if (m.version > 11) break;
            db.exec(m.sql);
            db.exec("INSERT INTO schema_migrations (version, applied_ms) VALUES (" +
                    std::to_string(m.version) + ", 0)");
        }
        db.exec("INSERT INTO failed_queue (process_id, source_key, record_json, error_class, "
                "message, attempts, first_failed_ms, last_failed_ms) VALUES "
                "('orders', 'K1', '{}', 'validation', 'old failure', 2, 100, 200)");
        db.exec("INSERT INTO runs (process_id, trigger, status, started_ms) VALUES "
                "('orders', 'manual', 'succeeded_with_failures', 100)");
        db.exec("INSERT INTO record_outcomes (run_id, process_id, source_key, action, "
                "error_class, message) VALUES (1, 'orders', 'K1', 'failed', 'validation', "
                "'old failure')");
    }
    auto store = open_sqlite_store(path);
    CHECK(store->schema_version() >= 12);
    CHECK(store->schema_version() == store_migrations::latest_version());
    CHECK(store->failed_count("orders") == 1);
    auto f = store->failed_record("orders", "K1");
    REQUIRE(f);
    CHECK(f->dismissed_ms == 0);
    CHECK(f->attempts == 2);
    // An outcome from before the migration has no kept attempt.
    CHECK_FALSE(store->failed_attempt(1));
    CHECK(store->outcome(1));
}
