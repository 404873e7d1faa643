// The bounded-memory indexes: external sort of unordered files, the streaming path for
// ordered ones, resumption in a new instance, conflicts found in on-disk key runs.
//
// These tests make the connector's sort chunk small (PLEXUS_FILES_SORT_CHUNK, read once per
// process) so that a few thousand records take the on-disk paths. Smaller test files in the
// other test cases stay in memory.
#include <stdlib.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "plugin_fixture.hpp"

using namespace files_test;

namespace {

const int kChunk = [] {
    setenv("PLEXUS_FILES_SORT_CHUNK", "500", 0);  // unless the person running the tests set it
    return 500;
}();

json page_request(const std::string& entity, json cursor, size_t limit) {
    return {{"entity", entity},
            {"cursor", std::move(cursor)},
            {"since", nullptr},
            {"limit", limit},
            {"filter", json::object()}};
}

std::string record(int id, int second, const std::string& name) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2024-05-01T%02d:%02d:%02dZ", second / 3600 % 24,
                  second / 60 % 60, second % 60);
    char key[16];
    std::snprintf(key, sizeof key, "k%05d", id);
    return json({{"id", key}, {"name", name}, {"updated_at", ts}}).dump() + "\n";
}

json entity() { return {{"e", {{"path", "e.jsonl"}, {"cursor", "updated_at"}}}}; }

// Reads the first `pages` pages in one instance, the rest in a new one from the stored
// cursor; checks strict (cursor, key) order and returns the records.
std::vector<json> read_in_two_instances(const json& s, int pages, size_t limit) {
    std::vector<json> records;
    std::string cursor;
    {
        Connection c(s);
        json next = nullptr;
        for (int p = 0; p < pages; ++p) {
            json page = c.read_ok(page_request("e", next, limit));
            for (auto& r : page["records"]) records.push_back(r);
            next = page["next_cursor"];
        }
        cursor = next;
    }
    Connection c(s);
    auto rest = read_all(c, "e", limit, cursor);
    records.insert(records.end(), rest.first.begin(), rest.first.end());
    for (size_t i = 1; i < records.size(); ++i) {
        const auto a = std::make_pair(records[i - 1]["cursor"].get<std::string>(),
                                      records[i - 1]["key"].get<std::string>());
        const auto b = std::make_pair(records[i]["cursor"].get<std::string>(),
                                      records[i]["key"].get<std::string>());
        REQUIRE(a < b);
    }
    return records;
}

}  // namespace

TEST_CASE("an unordered file larger than a sort chunk reads in order, resuming in a new instance") {
    REQUIRE(kChunk == 500);
    TempDir dir;
    const int n = 4000;  // 8 chunks of the key sort and of the cursor sort
    std::vector<int> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
    std::string text;
    for (int id : ids) text += record(id, id / 3, "v1");  // cursor values repeat: ties by key

    SECTION("without updates") {
        write_text(dir / "e.jsonl", text);
        Connection probe(settings(dir, entity()));
        read_all(probe, "e", 1000);
        CHECK(probe.host().logged(PLEXUS_LOG_DEBUG, "not in (cursor, key) order"));
        const auto records = read_in_two_instances(settings(dir, entity()), 3, 700);
        REQUIRE(records.size() == static_cast<size_t>(n));
        CHECK(records.front()["key"] == "k00000");
        CHECK(records.back()["key"] == "k03999");
    }
    SECTION("with updated records: only the last version of each key is read") {
        // 300 records updated, some to a later cursor value, some to the same one.
        for (int i = 0; i < 300; ++i) {
            const int id = (i * 13) % n;
            text += record(id, i % 2 ? id / 3 + 5000 : id / 3, "v2");
        }
        write_text(dir / "e.jsonl", text);
        const auto records = read_in_two_instances(settings(dir, entity()), 2, 900);
        REQUIRE(records.size() == static_cast<size_t>(n));
        int updated = 0;
        std::vector<std::string> keys = keys_of(records);
        std::sort(keys.begin(), keys.end());
        CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
        for (const auto& r : records) updated += r["data"]["name"] == "v2";
        CHECK(updated == 300);
    }
}

TEST_CASE("a file in order for a long prefix, then not, reads in order") {
    REQUIRE(kChunk == 500);
    // The prefix's entries are kept as they come while the order holds (up to 64 chunks,
    // 32,000 entries here), so that the read order needs no second pass over it.
    TempDir dir;
    auto write = [&](int ordered, int tail, int updates) {
        std::string text;
        for (int i = 0; i < ordered; ++i) text += record(i, i / 2, "v1");
        std::vector<int> ids(tail);
        std::iota(ids.begin(), ids.end(), ordered);
        std::shuffle(ids.begin(), ids.end(), std::mt19937(11));
        for (int id : ids) text += record(id, id % 7000, "v1");  // back to early cursor values
        for (int i = 0; i < updates; ++i) text += record(i * 5, 3 * i, "v2");
        write_text(dir / "e.jsonl", text);
        return ordered + tail;
    };
    int n = 0, updates = 0;
    SECTION("a prefix shorter than the cap") { n = write(5000, 1200, 0); }
    SECTION("a prefix longer than the cap: the part past it is scanned again") {
        n = write(33000, 800, 0);
    }
    SECTION("with updated records") {
        updates = 40;
        n = write(5000, 1200, updates);
    }
    Connection probe(settings(dir, entity()));
    read_all(probe, "e", 1000);
    CHECK(probe.host().logged(PLEXUS_LOG_DEBUG, "not in (cursor, key) order"));
    const auto records = read_in_two_instances(settings(dir, entity()), 2, 1500);
    REQUIRE(records.size() == static_cast<size_t>(n));
    std::vector<std::string> keys = keys_of(records);
    std::sort(keys.begin(), keys.end());
    CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
    int updated = 0;
    for (const auto& r : records) updated += r["data"]["name"] == "v2";
    CHECK(updated == updates);
}

TEST_CASE("an ordered file is streamed, and a new instance resumes from a stored cursor") {
    TempDir dir;
    const int n = 3000;
    std::string text;
    for (int i = 0; i < n; ++i) text += record(i, i / 2, "v1");
    // Updates appended with later cursor values keep the file in order; their earlier
    // versions must not be read.
    for (int i = 0; i < 50; ++i) text += record(i * 7, 20000 + i, "v2");
    write_text(dir / "e.jsonl", text);
    const json s = settings(dir, entity());

    Connection probe(s);
    json first = probe.read_ok(page_request("e", nullptr, 10));
    CHECK(probe.host().logged(PLEXUS_LOG_DEBUG, "in (cursor, key) order: streaming"));
    CHECK(keys_of(first["records"])[0] == "k00001");  // k00000 was updated: it comes later

    const auto records = read_in_two_instances(s, 4, 400);
    REQUIRE(records.size() == static_cast<size_t>(n));
    int updated = 0;
    for (const auto& r : records) updated += r["data"]["name"] == "v2";
    CHECK(updated == 50);
    CHECK(records.back()["key"] == "k00343");

    // A rewind in the same instance (a position before the last page's end) starts over.
    Connection c(s);
    json page = c.read_ok(page_request("e", nullptr, 1000));
    page = c.read_ok(page_request("e", page["next_cursor"], 1000));
    json again = c.read_ok(page_request("e", nullptr, 10));
    CHECK(keys_of(again["records"]) == keys_of(first["records"]));
}

TEST_CASE("conflicts and lookups after a restart find keys in the on-disk index") {
    TempDir dir;
    const json s = settings(dir, {{"e", {{"path", "e.jsonl"}}}});
    const int n = 2000;  // four batches of the key index: on-disk runs, merged
    {
        Connection c(s);
        for (int b = 0; b < n; b += 250) {
            std::vector<json> batch;
            for (int i = b; i < b + 250; ++i)
                batch.push_back(create({{"id", "k" + std::to_string(i)}, {"v", i}},
                                       "idem-" + std::to_string(i)));
            for (const auto& r : c.write_ok("e", batch)) REQUIRE(r["status"] == 0);
        }
        // Within the same instance, a key written several batches ago conflicts.
        json r = c.write_ok("e", {create({{"id", "k3"}, {"v", 0}}, "other")})[0];
        CHECK(r["status"] == PLEXUS_ERR_CONFLICT);
    }
    const std::string before = read_text(dir / "e.jsonl");

    Connection c(s);  // a new instance: the keys come from the file
    json r = c.write_ok("e", {create({{"id", "k1234"}, {"v", 0}}, "idem-x")})[0];
    CHECK(r["status"] == PLEXUS_ERR_CONFLICT);
    CHECK(r["message"].get<std::string>().find("at line 1235") != std::string::npos);
    // A retry of the create that wrote it: OK, and nothing written.
    r = c.write_ok("e", {create({{"id", "k1234"}, {"v", 1234}}, "idem-1234")})[0];
    CHECK(r["status"] == 0);
    CHECK(read_text(dir / "e.jsonl") == before);

    // An update finds the current version; the next create of that key still conflicts.
    r = c.write_ok("e", {update("k17", {{"id", "k17"}, {"v", -17}}, "idem-u17")})[0];
    CHECK(r["status"] == 0);
    r = c.write_ok("e", {create({{"id", "k17"}}, "idem-y")})[0];
    CHECK(r["status"] == PLEXUS_ERR_CONFLICT);
    CHECK(r["message"].get<std::string>().find("at line 2001") != std::string::npos);
    r = c.write_ok("e", {create({{"id", "k-new"}}, "idem-new")})[0];
    CHECK(r["status"] == 0);

    json found = c.lookup_ok({{"entity", "e"}, {"key", "k17"}});
    CHECK(found["record"]["data"]["v"] == -17);
    found = c.lookup_ok({{"entity", "e"}, {"idempotency_key", "idem-17"}});  // an old version's
    CHECK(found["record"]["data"]["v"] == -17);
    found = c.lookup_ok({{"entity", "e"}, {"idempotency_key", "idem-1999"}});
    CHECK(found["record"]["key"] == "k1999");
    found = c.lookup_ok({{"entity", "e"}, {"idempotency_key", "idem-new"}});
    CHECK(found["record"]["key"] == "k-new");
    found = c.lookup_ok({{"entity", "e"}, {"idempotency_key", "never-written"}});
    CHECK(found["found"] == false);
}
