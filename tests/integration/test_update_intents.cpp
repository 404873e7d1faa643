// Intents for updates (docs/design/010-update-intents.md): a write whose host dies after
// sending it and before the page commits is sent again by the next run marked interrupted
// (WriteItem::interrupted), so that the connector allows for the earlier attempt still in
// flight. Through the real `plexus run` and a target connector (tests/intent_plugin) that
// journals every write it receives and SIGKILLs its own host, in-process, on demand.
#include "support.hpp"

#include "store/store.hpp"

#include <catch2/catch.hpp>

using namespace plexus;
using namespace plexus::test;

namespace {

struct IntentWorld {
    TempDir dir;
    IntentWorld() {
        fs::create_directories(dir.path() / "src");
        json config{
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"items", jsonl_entity("items.jsonl")}})},
              {"tgt", {{"connector", "intent_test"},
                       {"isolation", "none"},  // the connector's SIGKILL kills the host itself
                       {"settings", {{"journal", dir.str("journal.jsonl")}, {"crash_marker", dir.str("crash")}}}}}}},
            {"processes",
             json::array({{{"id", "items"},
                           {"source", {{"connection", "src"}, {"entity", "items"}}},
                           {"target", {{"connection", "tgt"}, {"entity", "items"}}},
                           {"mapping", {{"id", "id"}, {"name", "name"}}},
                           {"batch_size", 1}}})}};
        write_file(dir.path() / "plexus.json", config.dump(2));
    }
    void source(const std::vector<std::pair<std::string, std::string>>& items, const std::string& stamp) {
        std::vector<json> records;
        for (const auto& [id, name] : items) records.push_back({{"id", id}, {"name", name}, {"updated_at", stamp}});
        write_jsonl(dir.path() / "src" / "items.jsonl", records);
    }
    CommandResult run() {
        return run_plexus({"run", "items", "--config", dir.str("plexus.json"), "--data", dir.str("var"),
                           "--plugin-dir", PLEXUS_PLUGIN_DIR, "--plugin-dir", PLEXUS_INTENT_PLUGIN_DIR});
    }
    std::vector<json> journal() { return read_jsonl(dir.path() / "journal.jsonl"); }
    std::vector<Intent> open_intents() {
        auto store = open_sqlite_store(dir.str("var/plexus.db"));
        return store->pending_intents("items");
    }
};

}  // namespace

TEST_CASE("update intents: an update sent by a host killed before its page committed is sent again "
          "marked interrupted, exactly that one, and its intent is closed after",
          "[engine][intents]") {
    IntentWorld w;
    w.source({{"A", "a1"}, {"B", "b1"}, {"C", "c1"}}, "2026-01-01T00:00:00Z");
    auto first = w.run();
    INFO(first.out);
    REQUIRE(first.exit_code == 0);
    REQUIRE(w.journal().size() == 3);
    for (const auto& l : w.journal()) CHECK(l["interrupted"] == false);

    // B and C change; the host dies right after B's update reached the target.
    w.source({{"A", "a1"}, {"B", "b2"}, {"C", "c2"}}, "2026-01-02T00:00:00Z");
    write_file(w.dir.path() / "crash", "update:B");
    auto killed = w.run();
    INFO(killed.out);
    CHECK(killed.exit_code != 0);
    CHECK_FALSE(fs::exists(w.dir.path() / "crash"));
    auto journal = w.journal();
    REQUIRE(journal.size() == 4);
    CHECK(journal[3]["op"] == "update");
    CHECK(journal[3]["id"] == "B");
    CHECK(journal[3]["interrupted"] == false);
    // The update's intent was committed before it was sent, and nothing closed it.
    auto open = w.open_intents();
    REQUIRE(open.size() == 1);
    CHECK(open[0].op == "update");
    CHECK(open[0].source_key == "B");
    CHECK(open[0].target_key == "B");
    CHECK_FALSE(open[0].payload_hash.empty());

    // The next run sends B again marked interrupted, C as an ordinary update, A not at all.
    auto next = w.run();
    INFO(next.out);
    REQUIRE(next.exit_code == 0);
    journal = w.journal();
    REQUIRE(journal.size() == 6);
    std::map<std::string, json> sent;
    for (size_t i = 4; i < journal.size(); ++i) sent[journal[i]["id"]] = journal[i];
    REQUIRE(sent.count("B") == 1);
    REQUIRE(sent.count("C") == 1);
    CHECK(sent["B"]["op"] == "update");
    CHECK(sent["B"]["interrupted"] == true);
    CHECK(sent["B"]["name"] == "b2");
    CHECK(sent["C"]["op"] == "update");
    CHECK(sent["C"]["interrupted"] == false);
    CHECK(w.open_intents().empty());

    // A third run: nothing written, nothing open.
    auto quiet = w.run();
    REQUIRE(quiet.exit_code == 0);
    CHECK(w.journal().size() == 6);
    CHECK(w.open_intents().empty());
}

TEST_CASE("update intents: a record changed back to what the ledger holds is still written again "
          "after an interrupted update (which may land late), marked interrupted",
          "[engine][intents]") {
    IntentWorld w;
    w.source({{"A", "a1"}}, "2026-01-01T00:00:00Z");
    REQUIRE(w.run().exit_code == 0);
    w.source({{"A", "a2"}}, "2026-01-02T00:00:00Z");
    write_file(w.dir.path() / "crash", "update:A");
    CHECK(w.run().exit_code != 0);
    REQUIRE(w.journal().size() == 2);
    // The source goes back to a1: the ledger's hash matches, but the target may hold a2.
    w.source({{"A", "a1"}}, "2026-01-03T00:00:00Z");
    auto next = w.run();
    INFO(next.out);
    REQUIRE(next.exit_code == 0);
    auto journal = w.journal();
    REQUIRE(journal.size() == 3);
    CHECK(journal[2]["name"] == "a1");
    CHECK(journal[2]["interrupted"] == true);
    CHECK(w.open_intents().empty());
}

TEST_CASE("update intents: a create whose host died before it arrived is created once, marked "
          "interrupted (the lookup found nothing)",
          "[engine][intents]") {
    IntentWorld w;
    w.source({{"A", "a1"}, {"D", "d1"}}, "2026-01-01T00:00:00Z");
    write_file(w.dir.path() / "crash", "create:D");
    CHECK(w.run().exit_code != 0);
    REQUIRE(w.journal().size() == 1);  // A; D never arrived
    auto next = w.run();
    INFO(next.out);
    REQUIRE(next.exit_code == 0);
    auto journal = w.journal();
    REQUIRE(journal.size() == 2);
    CHECK(journal[1]["id"] == "D");
    CHECK(journal[1]["op"] == "create");
    CHECK(journal[1]["interrupted"] == true);
    CHECK(w.open_intents().empty());
}
