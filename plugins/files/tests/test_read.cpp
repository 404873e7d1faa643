// read_page: order, cursors, since, filters, bad data, torn tails, a large file.
#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "plugin_fixture.hpp"

using namespace files_test;

namespace {

json customers_entity() {
    return {{"customers", {{"path", "customers.jsonl"}, {"cursor", "updated_at"}}}};
}

json page_request(const std::string& entity, json cursor, size_t limit, json since = nullptr) {
    return {{"entity", entity},
            {"cursor", std::move(cursor)},
            {"since", std::move(since)},
            {"limit", limit},
            {"filter", json::object()}};
}

// Out of cursor order, with customer 1 updated (its newer version appended last).
const char* kCustomers = R"({"id":"3","name":"C","updated_at":"2024-01-03T00:00:00Z"})"
                         "\n"
                         R"({"id":"1","name":"A","updated_at":"2024-01-01T00:00:00Z"})"
                         "\n"
                         R"({"id":"2","name":"B","updated_at":"2024-01-02T00:00:00Z"})"
                         "\n"
                         "\n"
                         R"({"id":"5","name":"E","updated_at":"2024-01-02T00:00:00Z"})"
                         "\n"
                         R"({"id":"4","name":"D","updated_at":"2024-01-05T00:00:00Z"})"
                         "\n"
                         R"({"id":"1","name":"A2","updated_at":"2024-01-04T00:00:00Z"})"
                         "\n";

}  // namespace

TEST_CASE("pages come in (cursor, key) order and resume in a new instance") {
    TempDir dir;
    write_text(dir / "customers.jsonl", kCustomers);
    const json s = settings(dir, customers_entity());

    std::string cursor;
    {
        Connection first(s);
        json page = first.read_ok(page_request("customers", nullptr, 2));
        CHECK(keys_of(page["records"]) == std::vector<std::string>{"2", "5"});
        CHECK(page["has_more"] == true);
        CHECK(page["records"][0]["cursor"] == "2024-01-02T00:00:00Z");
        CHECK(page["records"][0]["data"] ==
              json({{"id", "2"}, {"name", "B"}, {"updated_at", "2024-01-02T00:00:00Z"}}));
        cursor = page["next_cursor"];
        // The position is the last record's (cursor value, key).
        CHECK(json::parse(cursor) == json({{"c", "2024-01-02T00:00:00Z"}, {"k", "5"}}));
        CHECK(first.host().logged(PLEXUS_LOG_DEBUG, "files: read customers"));
    }
    // The host restarted: a new instance continues from the stored cursor.
    Connection second(s);
    json page = second.read_ok(page_request("customers", cursor, 2));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"3", "1"});
    CHECK(page["records"][1]["data"]["name"] == "A2");  // the last version of key 1
    CHECK(page["has_more"] == true);
    page = second.read_ok(page_request("customers", page["next_cursor"], 2));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"4"});
    CHECK(page["has_more"] == false);
    cursor = page["next_cursor"];

    // Nothing new: an empty page that keeps the position.
    page = second.read_ok(page_request("customers", cursor, 2));
    CHECK(page["records"].empty());
    CHECK(page["has_more"] == false);
    CHECK(page["next_cursor"] == cursor);

    // The next run sees what changed since: a new record and an update.
    append_text(dir / "customers.jsonl",
                R"({"id":"6","name":"F","updated_at":"2024-01-06T00:00:00Z"})"
                "\n"
                R"({"id":"2","name":"B2","updated_at":"2024-01-07T00:00:00Z"})"
                "\n");
    Connection third(s);
    auto [records, last] = read_all(third, "customers", 10, cursor);
    CHECK(keys_of(records) == std::vector<std::string>{"6", "2"});
    CHECK(records[1]["data"]["name"] == "B2");
}

TEST_CASE("since starts at the first record whose cursor is at or after it") {
    TempDir dir;
    write_text(dir / "customers.jsonl", kCustomers);
    Connection c(settings(dir, customers_entity()));
    json page = c.read_ok(page_request("customers", nullptr, 10, "2024-01-03T00:00:00Z"));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"3", "1", "4"});
    CHECK(page["has_more"] == false);

    page = c.read_ok(page_request("customers", nullptr, 10, "2030-01-01T00:00:00Z"));
    CHECK(page["records"].empty());
    CHECK(json::parse(page["next_cursor"].get<std::string>()) ==
          json({{"c", "2030-01-01T00:00:00Z"}, {"k", ""}}));
    // Even an empty page returns a position to resume from: still "at or after since".
    append_text(dir / "customers.jsonl", R"({"id":"7","updated_at":"2030-01-01T00:00:00Z"})"
                                         "\n");
    Connection next_run(settings(dir, customers_entity()));
    page = next_run.read_ok(page_request("customers", page["next_cursor"], 10));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"7"});
}

TEST_CASE("without a cursor field records come by key and each run reads them all") {
    TempDir dir;
    write_text(dir / "items.jsonl",
               "{\"sku\":\"b\"}\n{\"sku\":\"c\"}\n{\"sku\":\"a\"}\n{\"sku\":10}\n");
    Connection c(settings(dir, {{"items", {{"path", "items.jsonl"}, {"key", "sku"}}}}));
    json page = c.read_ok(page_request("items", nullptr, 2));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"10", "a"});  // keys as text
    CHECK(json::parse(page["next_cursor"].get<std::string>()) == json({{"k", "a"}}));
    page = c.read_ok(page_request("items", page["next_cursor"], 2));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"b", "c"});
    CHECK(page["has_more"] == false);
    // The next run starts over: the start position, never "" (which the engine reads as
    // "keep the previous cursor").
    CHECK(json::parse(page["next_cursor"].get<std::string>()) == json({{"k", ""}}));
    page = c.read_ok(page_request("items", page["next_cursor"], 10));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"10", "a", "b", "c"});
    CHECK(page["records"][0]["cursor"] == "");
}

TEST_CASE("a filter keeps the records whose fields equal it") {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 50; ++i)
        text +=
            json({{"id", std::to_string(1000 + i)}, {"country", i % 5 == 0 ? "CH" : "DE"}}).dump() +
            "\n";
    write_text(dir / "c.jsonl", text);
    Connection c(settings(dir, {{"c", {{"path", "c.jsonl"}}}}));
    json request = page_request("c", nullptr, 4);
    request["filter"] = {{"country", "CH"}};
    json page = c.read_ok(request);
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"1000", "1005", "1010", "1015"});
    request["cursor"] = page["next_cursor"];
    page = c.read_ok(request);
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"1020", "1025", "1030", "1035"});
}

TEST_CASE("a malformed line fails the read, naming the file and the line") {
    TempDir dir;
    const std::string file = dir / "customers.jsonl";
    Connection c(settings(dir, customers_entity()));

    SECTION("bad JSON") {
        write_text(file, "{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\": \"3\", oops}\n{\"id\":\"4\"}\n");
        Reply r = c.read(page_request("customers", nullptr, 10));
        INFO(r.text);
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":3: malformed JSON") != std::string::npos);
    }
    SECTION("a record without its key") {
        write_text(file, "{\"id\":\"1\"}\n{\"name\":\"no key\"}\n");
        Reply r = c.read(page_request("customers", nullptr, 10));
        INFO(r.text);
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":2: no \"id\"") != std::string::npos);
    }
    SECTION("a line that is not an object") {
        write_text(file, "{\"id\":\"1\"}\n\n[1, 2]\n");
        Reply r = c.read(page_request("customers", nullptr, 10));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":3: not a JSON object") != std::string::npos);
    }
    SECTION("a key that is not a string or an integer") {
        write_text(file, "{\"id\":{\"a\":1}}\n");
        Reply r = c.read(page_request("customers", nullptr, 10));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":1: \"id\" is an object") != std::string::npos);
    }
    SECTION("a declared field of the wrong type") {
        Connection typed(settings(dir, {{"customers",
                                         {{"path", "customers.jsonl"},
                                          {"fields", {{{"name", "age"}, {"type", "integer"}}}}}}}));
        write_text(file, "{\"id\":\"1\",\"age\":3}\n{\"id\":\"2\",\"age\":\"old\"}\n");
        Reply r = typed.read(page_request("customers", nullptr, 10));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":2: \"age\" is a string, expected integer") != std::string::npos);
    }
}

TEST_CASE("a missing file or directory is a configuration error naming the path") {
    TempDir dir;
    Connection c(settings(dir, {{"customers", {{"path", "sub/customers.jsonl"}}}}));
    Reply r = c.read(page_request("customers", nullptr, 10));
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find(dir / "sub/customers.jsonl") != std::string::npos);
    CHECK(r.text.find("nor does the directory") != std::string::npos);

    r = c.read(page_request("suppliers", nullptr, 10));
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find("unknown entity \"suppliers\"") != std::string::npos);
}

TEST_CASE("an empty file reads as no records, from and back to the start") {
    TempDir dir;
    write_text(dir / "customers.jsonl", "\n");
    Connection c(settings(dir, customers_entity()));
    json page = c.read_ok(page_request("customers", "", 10));
    CHECK(page["records"].empty());
    CHECK(page["has_more"] == false);
    CHECK(json::parse(page["next_cursor"].get<std::string>()) == json({{"c", ""}, {"k", ""}}));
}

TEST_CASE("a cursor this connector did not make is refused") {
    TempDir dir;
    write_text(dir / "customers.jsonl", kCustomers);
    Connection c(settings(dir, customers_entity()));
    Reply r = c.read(page_request("customers", "page=3", 10));
    CHECK(r.status == PLEXUS_ERR_PLUGIN);
    CHECK(r.text.find("was not made by the files connector") != std::string::npos);
}

TEST_CASE("an unfinished last line, left by a crash, is ignored with a warning") {
    TempDir dir;
    const std::string file = dir / "customers.jsonl";
    write_text(file, "{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\":\"3\",\"na");
    Connection c(settings(dir, customers_entity()));
    auto [records, cursor] = read_all(c, "customers", 10);
    CHECK(keys_of(records) == std::vector<std::string>{"1", "2"});
    CHECK(c.host().logged(PLEXUS_LOG_WARN, "an unfinished record"));

    // A complete last line without a line break is a record, though.
    write_text(file, "{\"id\":\"1\"}\n{\"id\":\"2\"}");
    Connection d(settings(dir, customers_entity()));
    CHECK(keys_of(read_all(d, "customers", 10).first) == std::vector<std::string>{"1", "2"});
}

TEST_CASE("a 100k-record file reads completely, in order, page by page") {
    TempDir dir;
    const int n = 100000;
    std::vector<int> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(42));
    std::string text;
    text.reserve(n * 100);
    char line[200];
    for (int id : ids) {
        // Cursor values repeat (100 records per second), so ties are broken by key.
        std::snprintf(line, sizeof line,
                      "{\"id\":\"c%06d\",\"email\":\"user%d@example.com\",\"updated_at\":"
                      "\"2024-05-01T%02d:%02d:%02dZ\"}\n",
                      id, id, id / 100 / 3600, id / 100 / 60 % 60, id / 100 % 60);
        text += line;
    }
    write_text(dir / "customers.jsonl", text);
    const json s = settings(dir, customers_entity());

    std::vector<json> records;
    std::string cursor;
    {
        Connection c(s);
        json next = nullptr;
        for (int page = 0; page < 40; ++page) {  // the first 40 000, then "restart"
            json p = c.read_ok(page_request("customers", next, 1000));
            for (auto& r : p["records"]) records.push_back(std::move(r));
            next = p["next_cursor"];
        }
        cursor = next;
    }
    Connection c(s);
    auto rest = read_all(c, "customers", 1000, cursor);
    records.insert(records.end(), rest.first.begin(), rest.first.end());

    REQUIRE(records.size() == static_cast<size_t>(n));
    std::set<std::string> keys;
    for (size_t i = 0; i < records.size(); ++i) {
        keys.insert(records[i]["key"].get<std::string>());
        if (i) {
            const auto a = std::make_pair(records[i - 1]["cursor"].get<std::string>(),
                                          records[i - 1]["key"].get<std::string>());
            const auto b = std::make_pair(records[i]["cursor"].get<std::string>(),
                                          records[i]["key"].get<std::string>());
            REQUIRE(a < b);
        }
    }
    CHECK(keys.size() == static_cast<size_t>(n));
    CHECK(records.front()["key"] == "c000000");
    CHECK(records.back()["key"] == "c099999");
    CHECK(records[12345]["data"]["email"] == "user12345@example.com");
}

TEST_CASE("a stored line reaches the host as the same data whether passed on or decoded") {
    // Most lines go into the page as they are stored; these take decode() instead: a CRLF
    // line ending is only trimmed, but a byte-order mark, leading blanks, a \u escape or the
    // bookkeeping field each make the connector decode the line (and drop the field).
    TempDir dir;
    write_text(dir / "items.jsonl",
               "\xEF\xBB\xBF"
               R"({"id":"1","n":1.50,"updated_at":"2024-01-01"})"
               "\n"
               R"({"id":"2","n":[1,{"a":null}],"updated_at":"2024-01-02"})"
               "\r\n"
               R"(  {"id":"3","name":"Z\u00fcrich","updated_at":"2024-01-03"})"
               "\n"
               R"({"_plexus_idempotency_key":"px1","id":"4","updated_at":"2024-01-04"})"
               "\n"
               R"({"id":"5","\u005fplexus_idempotency_key":"px2","updated_at":"2024-01-05"})"
               "\n"
               R"({"id":"6","s":"a \"quoted\" \\ text, Zoë","updated_at":"2024-01-06"})");
    Connection c(settings(dir, {{"items", {{"path", "items.jsonl"}, {"cursor", "updated_at"}}}}));
    json page = c.read_ok(page_request("items", nullptr, 10));
    const json& r = page["records"];
    REQUIRE(keys_of(r) == std::vector<std::string>{"1", "2", "3", "4", "5", "6"});
    CHECK(r[0]["data"] == json::parse(R"({"id":"1","n":1.5,"updated_at":"2024-01-01"})"));
    CHECK(r[1]["data"]["n"] == json::parse(R"([1,{"a":null}])"));
    CHECK(r[2]["data"]["name"] == "Zürich");
    CHECK(r[3]["data"] == json({{"id", "4"}, {"updated_at", "2024-01-04"}}));
    CHECK(r[4]["data"] == json({{"id", "5"}, {"updated_at", "2024-01-05"}}));
    CHECK(r[5]["data"]["s"] == "a \"quoted\" \\ text, Zoë");
    CHECK(r[5]["cursor"] == "2024-01-06");
}
