// Mapping versions in the hub (core/engine/hub.hpp, Hub::use_mapping; docs/operations.md,
// "Mappings in the portal and the dry run"): a mapping put in force while a run goes on is
// used from the next run, never halfway through the one going on; a stored version is in
// force when a hub starts; one that no longer compiles is not used (the file's runs) and the
// hub says why.
#include "engine_world.hpp"

#include "engine/sync_engine.hpp"

#include <catch2/catch.hpp>

using namespace plexus;
using namespace plexus::test;

namespace {

struct World : EngineWorld {
    World() {
        config = json{
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"customers", jsonl_entity("customers.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
            {"lookup_tables", {{"tier", {{"a", "GOLD"}}}}},
            {"processes",
             json::array({{{"id", "customers"},
                           {"source", {{"connection", "src"}, {"entity", "customers"}}},
                           {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                           {"mapping", {{"id", "id"}, {"name", "name"}}},
                           {"page_size", 2},
                           {"batch_size", 2}}})}};
        std::vector<json> records;
        for (int i = 1; i <= 6; ++i)
            records.push_back({{"id", "C" + std::to_string(i)}, {"name", "n" + std::to_string(i)},
                               {"updated_at", "2024-05-01T10:00:0" + std::to_string(i) + "Z"}});
        write_jsonl(dir.path() / "src" / "customers.jsonl", records);
    }
    std::map<std::string, json> target() {
        std::map<std::string, json> out;
        for (auto& r : read_jsonl(dir.path() / "dst" / "customers.jsonl")) out[r["id"].get<std::string>()] = r;
        return out;
    }
};

}  // namespace

TEST_CASE("mapping versions: a run going on keeps its mapping, the next run and a new hub use the new one",
          "[mapping][versions]") {
    World w;
    {
        Hub hub(w.parsed(w.config), w.registry, *w.store, SystemClock::instance());
        SyncEngine engine(hub);
        const json edited = {{"id", "id"}, {"name", "upper(name)"}};
        RunOptions o;
        bool swapped = false;
        o.on_progress = [&](const RunProgress& p) {
            if (swapped || p.pages < 1) return;
            swapped = true;  // after the first page: as the portal would, mid-run
            REQUIRE(hub.check_mapping("customers", edited).empty());
            hub.use_mapping("customers", edited, 1);
        };
        RunSummary s = engine.run("customers", o);
        REQUIRE(swapped);
        CHECK(s.counts.created == 6);
        auto t = w.target();
        for (int i = 1; i <= 6; ++i)
            CHECK(t["C" + std::to_string(i)]["name"] == "n" + std::to_string(i));  // the old mapping throughout
        CHECK(hub.process("customers").mapping_version == 1);

        // The next run (the source unchanged: a rewind re-reads it) uses the new mapping.
        w.store->rewind_cursor("customers", "2024-01-01T00:00:00Z", "test", 0);
        s = engine.run("customers");
        CHECK(s.counts.updated == 6);
        CHECK(w.target()["C3"]["name"] == "N3");
    }
    // Stored as version 1 (what the portal does): a new hub starts with it in force.
    MappingVersion v;
    v.process_id = "customers";
    v.mapping_json = json{{"id", "id"}, {"name", "lookup(\"a\", \"tier\")"}}.dump();
    v.actor = "otto";
    v.note = "edit";
    CHECK(w.store->add_mapping_version(v, "mapping.edit", "{}") == 1);
    {
        Hub hub(w.parsed(w.config), w.registry, *w.store, SystemClock::instance());
        CHECK(hub.process("customers").mapping_version == 1);
        CHECK(hub.process("customers").config->mapping["name"] == "lookup(\"a\", \"tier\")");
        CHECK(hub.process("customers").mapping_problem.empty());
        // A problem with the mapping is found as check-config finds it, by path.
        auto errors = hub.check_mapping("customers", json{{"id", "id"}, {"name", "lookup(name, \"nope\")"}});
        REQUIRE(!errors.empty());
        CHECK(errors.front().json_path.rfind("/processes/0/mapping/name", 0) == 0);
    }
    // The configuration changed: the lookup table the stored version uses is gone. The file's
    // mapping runs, and the hub says why.
    json changed = w.config;
    changed.erase("lookup_tables");
    {
        Hub hub(w.parsed(changed), w.registry, *w.store, SystemClock::instance());
        CHECK(hub.process("customers").mapping_version == 0);
        CHECK(hub.process("customers").config->mapping["name"] == "name");
        CHECK(hub.process("customers").mapping_problem.find("version 1") != std::string::npos);
    }
    // A revert to the file's mapping is a version without a mapping.
    MappingVersion back;
    back.process_id = "customers";
    back.actor = "otto";
    back.note = "revert to version 0";
    CHECK(w.store->add_mapping_version(back, "mapping.revert", "{}") == 2);
    CHECK(w.store->mapping_current("customers")->mapping_json.empty());
    CHECK(w.store->mapping_versions("customers").size() == 2);
    {
        Hub hub(w.parsed(w.config), w.registry, *w.store, SystemClock::instance());
        CHECK(hub.process("customers").mapping_version == 2);
        CHECK(hub.process("customers").config->mapping["name"] == "name");
    }
    int audited = 0;
    for (const auto& a : w.store->audit_log(50))
        if (a.action == "mapping.edit" || a.action == "mapping.revert") ++audited;
    CHECK(audited == 2);
}
