// Unit tests of the store's update intents (migration 9, docs/design/010-update-intents.md):
// an intent names its operation and target key, a batch may mix creates and updates, and an
// intent row written before migration 9 (five fields a member) still reads as a create.
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>

#include "store/migrations.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

struct Dir {
    fs::path path = fs::temp_directory_path() /
                    ("plexus-update-intents-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-" +
                     std::to_string(std::random_device{}()));
    Dir() { fs::create_directories(path); }
    ~Dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

Intent intent(const std::string& op, const std::string& key, const std::string& target = {}) {
    Intent in;
    in.process_id = "sales";
    in.run_id = 3;
    in.source_key = key;
    in.idempotency_key = "px-" + key;
    in.payload_json = R"({"k":")" + key + R"("})";
    in.payload_hash = "h-" + key;
    in.created_ms = 1000;
    in.op = op;
    in.target_key = target;
    return in;
}

}  // namespace

TEST_CASE("update intents keep their operation and target key, beside creates in one batch", "[store][intents]") {
    Dir dir;
    auto store = open_sqlite_store((dir.path / "u.db").string());
    auto ids = store->open_intents({intent("create", "A"), intent("update", "B", "T-B@2026-12-01#1"),
                                    intent("update", "C", "")});
    REQUIRE(ids.size() == 3);
    auto pending = store->pending_intents("sales");
    REQUIRE(pending.size() == 3);
    CHECK(pending[0].op == "create");
    CHECK(pending[0].target_key.empty());
    CHECK(pending[1].op == "update");
    CHECK(pending[1].target_key == "T-B@2026-12-01#1");
    CHECK(pending[1].payload_hash == "h-B");
    CHECK(pending[1].source_key == "B");
    CHECK(pending[2].op == "update");
    CHECK(pending[2].target_key.empty());

    PageCommit p;
    p.process_id = "sales";
    p.run_id = store->begin_run("sales", "manual", 2000);
    p.now_ms = 2000;
    p.intents_closed = {ids[1]};
    store->commit_page(p);
    pending = store->pending_intents("sales");
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].source_key == "A");
    CHECK(pending[1].source_key == "C");
    CHECK(pending[1].op == "update");
}

TEST_CASE("an intent row written before migration 9 reads as a create", "[store][intents]") {
    Dir dir;
    const std::string path = (dir.path / "v8.db").string();
    {
        // Version 8: migrations 1..8 applied, one open intent in migration 4's format.
        SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        store_migrations::current_version(db);
        for (const auto& m : store_migrations::all()) {
            if (m.version > 8) break;
            db.exec(m.sql);
            db.exec("INSERT INTO schema_migrations (version, applied_ms) VALUES (" + std::to_string(m.version) + ", 0)");
        }
        db.exec("INSERT INTO intent_batches (process_id, run_id, open_members, members) VALUES "
                "('sales', 5, X'01', CAST('2:S1,5:px-S1,2:h1,7:{\"n\":1},4:1001,' AS BLOB))");
    }
    auto store = open_sqlite_store(path);
    CHECK(store->schema_version() == store_migrations::latest_version());
    auto pending = store->pending_intents("sales");
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].op == "create");
    CHECK(pending[0].source_key == "S1");
    CHECK(pending[0].idempotency_key == "px-S1");
    CHECK(pending[0].payload_json == R"({"n":1})");
    CHECK(pending[0].created_ms == 1001);
    // A new batch beside it has seven fields a member; both read.
    store->open_intents({intent("update", "S2", "T2")});
    pending = store->pending_intents("sales");
    REQUIRE(pending.size() == 2);
    CHECK(pending[1].op == "update");
    CHECK(pending[1].target_key == "T2");
}
