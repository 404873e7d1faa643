// A source record as the engine and the dry run read it, and a dependency's key taken from it
// (core/engine/source_record.hpp): one definition for both, so a preview reads records as the
// run does.
#include "engine/source_record.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using plexus::key_at;
using plexus::SourceRecord;
using json = nlohmann::json;

TEST_CASE("source record: a connector's record taken apart, keys of any type as text") {
    auto r = SourceRecord::from_json(json{{"key", "C1"}, {"cursor", "2024-05-01T10:00:00Z"}, {"data", {{"id", "C1"}}}});
    CHECK(r.key == "C1");
    CHECK(r.cursor == "2024-05-01T10:00:00Z");
    CHECK(r.data == json{{"id", "C1"}});
    CHECK(SourceRecord::from_json(json{{"key", 42}}).key == "42");
    CHECK(SourceRecord::from_json(json{{"key", nullptr}}).key == "null");  // as the run names it
    const auto bare = SourceRecord::from_json(json{{"key", "K"}, {"cursor", 7}, {"data", "text"}});
    CHECK(bare.cursor.empty());
    CHECK(bare.data == json::object());
    CHECK(SourceRecord::from_json(json::array()).key.empty());
    const json kept = {{"key", "K"}, {"data", {{"a", 1}}}};
    CHECK(SourceRecord::from_json(kept).data == json{{"a", 1}});  // the const overload copies
    CHECK(kept["data"]["a"] == 1);
    // What the failed queue stores reads back the same.
    const auto again = SourceRecord::from_json(json::parse(r.to_text()));
    CHECK((again.key == r.key && again.cursor == r.cursor && again.data == r.data));
}

TEST_CASE("source record: a dependency's key at a dotted path") {
    const json data = {{"customer", {{"id", 7}, {"email", "a@x.ch"}}},
                       {"lines", json::array({{{"sku", "S1"}}, {{"sku", "S2"}}})},
                       {"none", nullptr}};
    CHECK(key_at(data, "customer.id") == "7");
    CHECK(key_at(data, "customer.email") == "a@x.ch");
    CHECK(key_at(data, "lines[1].sku") == "S2");
    CHECK(key_at(data, "lines[2].sku").empty());
    CHECK(key_at(data, "customer.name").empty());
    CHECK(key_at(data, "none").empty());
    CHECK(key_at(data, "customer[0]").empty());
    // Every path check-config accepts for a dependency's key is read as the mapping reads it.
    CHECK(key_at(data, "customer[\"id\"]") == "7");
    CHECK(key_at(data, "lines[-1].sku") == "S2");
    CHECK(key_at(data, "$.customer.id") == "7");
    CHECK(key_at(data, "lines[ 0 ].sku") == "S1");
    // A dependency without a key pulls nothing (not the whole record as a key).
    CHECK(key_at(data, "").empty());
    // What is no path says so, naming it (the run fails the record with this).
    try {
        key_at(data, "lines[x].sku");
        FAIL("no error");
    } catch (const std::invalid_argument& e) {
        CHECK_THAT(e.what(), Catch::Contains("lines[x].sku") && Catch::Contains("is not a source path"));
    }
}
