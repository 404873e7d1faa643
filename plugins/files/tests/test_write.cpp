// write_batch and lookup: creates, updates, idempotency, conflicts, durability edge cases.
#include <algorithm>

#include "plugin_fixture.hpp"

using namespace files_test;

namespace {

json customers_entity() {
    return {{"customers", {{"path", "customers.jsonl"}, {"cursor", "updated_at"}}}};
}

size_t line_count(const std::string& text) {
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("create, update and unchanged update") {
    TempDir dir;
    const std::string file = dir / "customers.jsonl";
    Connection c(settings(dir, customers_entity()));

    json results = c.write_ok(
        "customers",
        {create({{"id", "c1"}, {"email", "a@example.com"}, {"updated_at", "2024-05-01"}}, "idem-1"),
         create({{"email", "b@example.com"}}, "idem-2")});
    // The written record's cursor comes back, for the host's echo check in two-way syncs.
    CHECK(results[0] == json({{"status", 0}, {"target_key", "c1"}, {"cursor", "2024-05-01"}}));
    // No key in the data: the idempotency key becomes the key, stored in the key field.
    CHECK(results[1] == json({{"status", 0}, {"target_key", "idem-2"}}));

    std::string text = read_text(file);
    CHECK(line_count(text) == 2);
    CHECK(text.find("\"_plexus_idempotency_key\":\"idem-1\"") != std::string::npos);
    CHECK(text.find("\"id\":\"idem-2\"") != std::string::npos);

    results = c.write_ok(
        "customers",
        {update("c1", {{"email", "a2@example.com"}, {"updated_at", "2024-05-02"}}, "idem-3")});
    CHECK(results[0] == json({{"status", 0}, {"target_key", "c1"}, {"cursor", "2024-05-02"}}));
    CHECK(line_count(read_text(file)) == 3);  // log-structured: the new version is appended

    // The same data again changes nothing in the file.
    results = c.write_ok(
        "customers",
        {update("c1", {{"id", "c1"}, {"email", "a2@example.com"}, {"updated_at", "2024-05-02"}},
                "idem-4")});
    CHECK(results[0]["status"] == 0);
    CHECK(line_count(read_text(file)) == 3);

    // Readers (here a new instance) see only the last version, without the bookkeeping field.
    Connection reader(settings(dir, customers_entity()));
    auto [records, cursor] = read_all(reader, "customers", 10);
    REQUIRE(records.size() == 2);
    CHECK(records[0]["key"] == "idem-2");
    CHECK(records[1]["key"] == "c1");
    CHECK(records[1]["cursor"] == "2024-05-02");
    CHECK(records[1]["data"] ==
          json({{"id", "c1"}, {"email", "a2@example.com"}, {"updated_at", "2024-05-02"}}));

    SECTION("an update of a record that vanished from the file is a conflict") {
        Reply r = c.write({{"entity", "customers"},
                           {"records", json::array({update("zz", {{"email", "x"}}, "idem-5")})}});
        REQUIRE(r.status == PLEXUS_OK);
        CHECK(r.body()["results"][0]["status"] == PLEXUS_ERR_CONFLICT);
        CHECK(r.body()["results"][0]["message"].get<std::string>().find("\"zz\"") !=
              std::string::npos);
    }
    SECTION("an update cannot change the key") {
        json r = c.write_ok("customers", {update("c1", {{"id", "c9"}}, "idem-6")});
        CHECK(r[0]["status"] == PLEXUS_ERR_VALIDATION);
    }
    SECTION("data that is not an object fails that record only") {
        json r = c.write_ok("customers",
                            {create(json::array({1}), "idem-7"), create({{"id", "c2"}}, "idem-8")});
        CHECK(r[0]["status"] == PLEXUS_ERR_VALIDATION);
        CHECK(r[1]["status"] == 0);
    }
}

TEST_CASE("creating an existing key is a conflict, unless it is a retry of the same create") {
    TempDir dir;
    const std::string file = dir / "customers.jsonl";
    Connection c(settings(dir, customers_entity()));
    c.write_ok("customers", {create({{"id", "c1"}, {"email", "a@example.com"}}, "idem-1")});

    json r =
        c.write_ok("customers", {create({{"id", "c1"}, {"email", "other@example.com"}}, "idem-9")});
    CHECK(r[0]["status"] == PLEXUS_ERR_CONFLICT);
    const std::string message = r[0]["message"];
    CHECK(message.find(file) != std::string::npos);
    CHECK(message.find("\"c1\"") != std::string::npos);

    // The host retried a create that had reached the file: same idempotency key, done already.
    r = c.write_ok("customers", {create({{"id", "c1"}, {"email", "a@example.com"}}, "idem-1")});
    CHECK(r[0] == json({{"status", 0}, {"target_key", "c1"}}));
    CHECK(line_count(read_text(file)) == 1);

    // Within one batch, too.
    r = c.write_ok("customers", {create({{"id", "d1"}}, "idem-a"), create({{"id", "d1"}}, "idem-b"),
                                 create({{"id", "d1"}}, "idem-a")});
    CHECK(r[0]["status"] == 0);
    CHECK(r[1]["status"] == PLEXUS_ERR_CONFLICT);
    CHECK(r[2]["status"] == 0);
    CHECK(line_count(read_text(file)) == 2);

    // And across instances writing the same file (each checks the file under its lock).
    Connection other(settings(dir, customers_entity()));
    r = other.write_ok("customers", {create({{"id", "e1"}}, "idem-e")});
    CHECK(r[0]["status"] == 0);
    r = c.write_ok("customers", {create({{"id", "e1"}}, "idem-f")});
    CHECK(r[0]["status"] == PLEXUS_ERR_CONFLICT);
}

TEST_CASE("lookup by key, by idempotency key and by the key in the data") {
    TempDir dir;
    Connection c(settings(dir, customers_entity()));

    // Before the file exists, nothing is found (an intent resolved before any write).
    CHECK(c.lookup_ok({{"entity", "customers"}, {"key", "c1"}}) == json({{"found", false}}));

    c.write_ok("customers",
               {create({{"id", "c1"}, {"email", "a@example.com"}, {"updated_at", "t1"}}, "idem-1"),
                create({{"id", "c2"}, {"email", "b@example.com"}}, "idem-2")});
    c.write_ok("customers",
               {update("c1", {{"email", "a2@example.com"}, {"updated_at", "t2"}}, "idem-3")});

    Connection fresh(settings(dir, customers_entity()));
    for (Connection* conn : {&c, &fresh}) {
        json r = conn->lookup_ok({{"entity", "customers"}, {"key", "c1"}});
        CHECK(r["found"] == true);
        CHECK(r["record"]["key"] == "c1");
        CHECK(r["record"]["cursor"] == "t2");
        CHECK(r["record"]["data"] ==
              json({{"id", "c1"}, {"email", "a2@example.com"}, {"updated_at", "t2"}}));

        // idem-1 is carried by c1's first version: the lookup answers with its current one.
        r = conn->lookup_ok(
            {{"entity", "customers"}, {"idempotency_key", "idem-1"}, {"data", json::object()}});
        CHECK(r["found"] == true);
        CHECK(r["record"]["data"]["email"] == "a2@example.com");

        r = conn->lookup_ok(
            {{"entity", "customers"}, {"idempotency_key", "idem-2"}, {"data", json::object()}});
        CHECK(r["record"]["key"] == "c2");

        // Unknown idempotency key, but the data names an existing key.
        r = conn->lookup_ok(
            {{"entity", "customers"}, {"idempotency_key", "idem-x"}, {"data", {{"id", "c2"}}}});
        CHECK(r["found"] == true);
        CHECK(r["record"]["key"] == "c2");

        CHECK(conn->lookup_ok({{"entity", "customers"},
                               {"idempotency_key", "idem-x"},
                               {"data", {{"id", "c3"}}}}) == json({{"found", false}}));
        CHECK(conn->lookup_ok({{"entity", "customers"}, {"key", "nope"}}) ==
              json({{"found", false}}));
    }
}

TEST_CASE("a missing directory is a configuration error naming the path") {
    TempDir dir;
    const std::string missing = dir / "nope";
    Connection c(
        {{"directory", missing}, {"entities", {{"customers", {{"path", "customers.jsonl"}}}}}});
    Reply r = c.check();
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find(missing) != std::string::npos);

    r = c.write({{"entity", "customers"}, {"records", json::array({create({{"id", "1"}}, "k")})}});
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find(missing) != std::string::npos);

    Connection sub(settings(dir, {{"customers", {{"path", "out/customers.jsonl"}}}}));
    r = sub.check();
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find(dir / "out") != std::string::npos);
    r = sub.write(
        {{"entity", "customers"}, {"records", json::array({create({{"id", "1"}}, "k")})}});
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find("the directory " + dir / "out" + " does not exist") != std::string::npos);

    Connection ok(settings(dir, customers_entity()));
    CHECK(ok.check().status == PLEXUS_OK);
}

TEST_CASE("a write cuts off the unfinished record a crash left, then appends") {
    TempDir dir;
    const std::string file = dir / "customers.jsonl";
    write_text(file, "{\"id\":\"1\"}\n{\"id\":\"2\",\"ema");
    Connection c(settings(dir, customers_entity()));
    json r = c.write_ok("customers", {create({{"id", "3"}}, "k3")});
    CHECK(r[0]["status"] == 0);
    CHECK(c.host().logged(PLEXUS_LOG_WARN, "removing"));
    const std::string text = read_text(file);
    CHECK(text.rfind("{\"id\":\"1\"}\n{\"_plexus_idempotency_key\":\"k3\",\"id\":\"3\"}\n", 0) ==
          0);

    // A last record typed without a line break gets one before the next record.
    write_text(file, "{\"id\":\"1\"}");
    Connection d(settings(dir, customers_entity()));
    d.write_ok("customers", {create({{"id", "2"}}, "k2")});
    CHECK(read_text(file) == "{\"id\":\"1\"}\n{\"_plexus_idempotency_key\":\"k2\",\"id\":\"2\"}\n");
    Connection e(settings(dir, customers_entity()));
    CHECK(keys_of(read_all(e, "customers", 10).first) == std::vector<std::string>{"1", "2"});
}

TEST_CASE("declared fields are checked before writing") {
    TempDir dir;
    Connection c(settings(dir, {{"orders",
                                 {{"path", "orders.jsonl"},
                                  {"key", "number"},
                                  {"fields", {{{"name", "total"}, {"type", "number"}}}}}}}));
    json r = c.write_ok("orders", {create({{"number", 1}, {"total", 9.5}}, "a"),
                                   create({{"number", 2}, {"total", "lots"}}, "b"),
                                   create({{"number", 3}, {"colour", "red"}}, "c")});
    CHECK(r[0] == json({{"status", 0}, {"target_key", "1"}}));
    CHECK(r[1]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(r[1]["message"].get<std::string>().find("\"total\" is a string, expected number") !=
          std::string::npos);
    CHECK(r[2]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(r[2]["message"].get<std::string>().find("\"colour\" is not declared") !=
          std::string::npos);
}

TEST_CASE("100k records written in batches read back complete") {
    TempDir dir;
    const json s = settings(dir, customers_entity());
    {
        Connection writer(s);
        for (int batch = 0; batch < 10; ++batch) {
            json records = json::array();
            for (int i = 0; i < 10000; ++i) {
                const int id = batch * 10000 + i;
                char key[16];
                std::snprintf(key, sizeof key, "k%06d", id);
                records.push_back(create({{"id", key}, {"n", id}, {"updated_at", "2024-05-01"}},
                                         "idem-" + std::to_string(id)));
            }
            json results = writer.write_ok("customers", records);
            REQUIRE(results[9999]["status"] == 0);
        }
        json r = writer.lookup_ok(
            {{"entity", "customers"}, {"idempotency_key", "idem-77777"}, {"data", json::object()}});
        CHECK(r["record"]["key"] == "k077777");
    }
    Connection reader(s);
    auto [records, cursor] = read_all(reader, "customers", 5000);
    REQUIRE(records.size() == 100000);
    CHECK(records[54321]["data"]["n"] == 54321);
    CHECK(json::parse(cursor) == json({{"c", "2024-05-01"}, {"k", "k099999"}}));
}

TEST_CASE("records written from the request's text read back as the data sent") {
    // The connector appends most JSON Lines records as the host sent them; the rest (blank
    // or pretty-printed text, escaped names, the bookkeeping field, no key, integer keys)
    // must come out the same either way.
    TempDir dir;
    Connection c(settings(dir, customers_entity()));
    const std::string request = R"({"entity":"customers","records":[)"
        R"({"op":"create","idempotency_key":"i1","data":{"id":"c1","n":1.50,"updated_at":"2024-05-01"}},)"
        R"({"op":"create","idempotency_key":"i2","data":{ "id" : "c2" , "a" : [ 1 , {} ] }},)"
        R"({"op":"create","idempotency_key":"i3","data":{}},)"
        R"({"op":"create","idempotency_key":"i4","data":{"id":7,"updated_at":20240501}},)"
        R"({"op":"create","idempotency_key":"i5","data":{"\u0069d":"c5"}},)"
        R"({"op":"create","idempotency_key":"i6","data":{"id":"c6","_plexus_idempotency_key":"x"}},)"
        "{\"op\":\"create\",\"idempotency_key\":\"i7\",\"data\":{\n  \"id\": \"c7\",\n  \"s\": \"Z\\u00fcrich\"\n}},"
        R"({"op":"create","idempotency_key":"i8","data":{"id":"c1"}},)"
        R"({"op":"create","idempotency_key":"i9","data":{"id":{"nested":true}}},)"
        R"({"op":"create","idempotency_key":"","data":{"id":"c10"}})"
        "]}";
    Reply r = c.write_text(request);
    REQUIRE(r.status == PLEXUS_OK);
    const json results = r.body()["results"];
    REQUIRE(results.size() == 10);
    CHECK(results[0] == json({{"status", 0}, {"target_key", "c1"}, {"cursor", "2024-05-01"}}));
    CHECK(results[1] == json({{"status", 0}, {"target_key", "c2"}}));
    CHECK(results[2] == json({{"status", 0}, {"target_key", "i3"}}));  // no key: the idempotency key
    CHECK(results[3] == json({{"status", 0}, {"target_key", "7"}, {"cursor", "20240501"}}));
    CHECK(results[4] == json({{"status", 0}, {"target_key", "c5"}}));
    CHECK(results[5] == json({{"status", 0}, {"target_key", "c6"}}));
    CHECK(results[6] == json({{"status", 0}, {"target_key", "c7"}}));
    CHECK(results[7]["status"] == PLEXUS_ERR_CONFLICT);  // c1 earlier in this batch
    CHECK(results[8]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(results[9] == json({{"status", 0}, {"target_key", "c10"}}));

    // Every line is one JSON object carrying its idempotency key (when there is one).
    const std::string text = read_text(dir / "customers.jsonl");
    CHECK(line_count(text) == 8);
    // The first went in as sent ("1.50" stays as written: nothing was parsed and printed).
    CHECK(text.substr(0, text.find('\n')) ==
          R"({"_plexus_idempotency_key":"i1","id":"c1","n":1.50,"updated_at":"2024-05-01"})");
    size_t pos = 0;
    for (int i = 0; i < 8; ++i) {
        const size_t nl = text.find('\n', pos);
        const json line = json::parse(text.substr(pos, nl - pos));
        CHECK(line.is_object());
        if (i < 7) CHECK(line["_plexus_idempotency_key"] == "i" + std::to_string(i + 1));
        pos = nl + 1;
    }
    Connection reader(settings(dir, customers_entity()));
    auto [records, cursor] = read_all(reader, "customers", 20);
    std::map<std::string, json> by_key;
    for (const auto& rec : records) by_key[rec["key"].get<std::string>()] = rec["data"];
    CHECK(by_key["c1"] == json::parse(R"({"id":"c1","n":1.5,"updated_at":"2024-05-01"})"));
    CHECK(by_key["c2"] == json::parse(R"({"id":"c2","a":[1,{}]})"));
    CHECK(by_key["i3"] == json({{"id", "i3"}}));
    CHECK(by_key["7"] == json::parse(R"({"id":7,"updated_at":20240501})"));
    CHECK(by_key["c5"] == json({{"id", "c5"}}));
    CHECK(by_key["c6"] == json({{"id", "c6"}}));
    CHECK(by_key["c7"] == json({{"id", "c7"}, {"s", "Zürich"}}));
    CHECK(by_key["c10"] == json({{"id", "c10"}}));

    // A retry of the same creates is recognised by the idempotency key stored in each line.
    Reply again = c.write_text(request);
    REQUIRE(again.status == PLEXUS_OK);
    for (int i : {0, 1, 2, 3, 4, 5, 6}) CHECK(again.body()["results"][i]["status"] == 0);
    CHECK(line_count(read_text(dir / "customers.jsonl")) == 8);
}
