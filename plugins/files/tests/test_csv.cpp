// CSV: quoting both ways, the header, the idempotency column, declared types.
#include "plugin_fixture.hpp"

using namespace files_test;

namespace {
json page_request(const std::string& entity, size_t limit = 100) {
    return {{"entity", entity},
            {"cursor", nullptr},
            {"since", nullptr},
            {"limit", limit},
            {"filter", json::object()}};
}
}  // namespace

TEST_CASE("CSV values survive a write and a read, quoting and all") {
    TempDir dir;
    const std::string file = dir / "contacts.csv";
    const json s =
        settings(dir, {{"contacts", {{"path", "contacts.csv"}, {"cursor", "updated_at"}}}});
    const json tricky = {{"id", "1"},
                         {"name", "Müller, Anna"},
                         {"note", "say \"hi\"\nthen leave"},
                         {"empty", ""},
                         {"updated_at", "2024-05-01T10:00:00Z"}};
    {
        Connection c(s);
        json r = c.write_ok(
            "contacts", {create(tricky, "idem-1"), create({{"id", "2"},
                                                           {"name", "Bob"},
                                                           {"note", "crlf\r\nline"},
                                                           {"empty", nullptr},
                                                           {"updated_at", "2024-05-02T10:00:00Z"}},
                                                          "idem-2")});
        CHECK(r[0]["status"] == 0);
        CHECK(r[1]["status"] == 0);
        // An unknown column cannot be added to an existing header.
        r = c.write_ok("contacts", {create({{"id", "3"}, {"phone", "123"}}, "idem-3")});
        CHECK(r[0]["status"] == PLEXUS_ERR_VALIDATION);
        CHECK(r[0]["message"].get<std::string>().find("\"phone\" is not a column") !=
              std::string::npos);
    }
    const std::string text = read_text(file);
    // The header comes from the first record: the key first, the idempotency column last.
    CHECK(text.rfind("id,empty,name,note,updated_at,_plexus_idempotency_key\n", 0) == 0);
    CHECK(text.find(
              "1,,\"Müller, Anna\",\"say \"\"hi\"\"\nthen leave\",2024-05-01T10:00:00Z,idem-1\n") !=
          std::string::npos);

    Connection c(s);
    json page = c.read_ok(page_request("contacts"));
    REQUIRE(page["records"].size() == 2);
    CHECK(page["records"][0]["data"] == tricky);
    CHECK(page["records"][0]["cursor"] == "2024-05-01T10:00:00Z");
    CHECK(page["records"][1]["data"]["note"] == "crlf\r\nline");
    CHECK(page["records"][1]["data"]["empty"] == "");  // null is written as an empty field

    // Update and lookup work on CSV like on JSON Lines.
    json r = c.write_ok(
        "contacts",
        {update("2", {{"name", "Robert"}, {"updated_at", "2024-05-03T00:00:00Z"}}, "idem-4")});
    CHECK(r[0]["status"] == 0);
    json found = c.lookup_ok(
        {{"entity", "contacts"}, {"idempotency_key", "idem-2"}, {"data", json::object()}});
    CHECK(found["record"]["data"]["name"] == "Robert");
    CHECK(found["record"]["data"]["note"] == "");  // an update replaces the whole record
}

TEST_CASE("hand-written CSV: CRLF, quoted delimiters and line breaks, a BOM, a delimiter") {
    TempDir dir;
    write_text(dir / "a.csv",
               "\xEF\xBB\xBFid,name,comment\r\n"
               "1,\"Smith, John\",\"line one\r\nline two\"\r\n"
               "2,Jane,\"she said \"\"no\"\"\"\r\n"
               "\r\n"
               "3,5\" screen,plain\r\n");
    write_text(dir / "b.tsv", "id\tcity\nx\tZürich\ny\t\"a\tb\"\n");
    write_text(dir / "c.csv", "id;amount\n1;\"2,50\"\n");
    Connection c(settings(dir, {{"a", {{"path", "a.csv"}}},
                                {"b", {{"path", "b.tsv"}}},
                                {"c", {{"path", "c.csv"}, {"delimiter", ";"}}}}));
    json page = c.read_ok(page_request("a"));
    REQUIRE(page["records"].size() == 3);
    CHECK(page["records"][0]["data"] ==
          json({{"id", "1"}, {"name", "Smith, John"}, {"comment", "line one\r\nline two"}}));
    CHECK(page["records"][1]["data"]["comment"] == "she said \"no\"");
    CHECK(page["records"][2]["data"]["name"] == "5\" screen");  // a quote inside a field is text

    page = c.read_ok(page_request("b"));
    REQUIRE(page["records"].size() == 2);
    CHECK(page["records"][0]["data"]["city"] == "Zürich");
    CHECK(page["records"][1]["data"]["city"] == "a\tb");

    page = c.read_ok(page_request("c"));
    CHECK(page["records"][0]["data"] == json({{"id", "1"}, {"amount", "2,50"}}));
}

TEST_CASE("bad CSV fails the read, naming the line") {
    TempDir dir;
    const std::string file = dir / "a.csv";
    Connection c(settings(dir, {{"a", {{"path", "a.csv"}}}}));

    SECTION("a row with the wrong number of fields") {
        write_text(file, "id,name\n1,a\n2,b,extra\n");
        Reply r = c.read(page_request("a"));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":3: 3 fields, but the header has 2 columns") !=
              std::string::npos);
    }
    SECTION("text after a closing quote") {
        write_text(file, "id,name\n1,\"multi\nline\"\n2,\"a\"b\n");
        Reply r = c.read(page_request("a"));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":4: a quoted field is followed by 'b'") != std::string::npos);
    }
    SECTION("an empty key") {
        write_text(file, "id,name\n,a\n");
        Reply r = c.read(page_request("a"));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":2: \"id\" is empty") != std::string::npos);
    }
    SECTION("no key column") {
        write_text(file, "name\na\n");
        Reply r = c.read(page_request("a"));
        CHECK(r.status == PLEXUS_ERR_VALIDATION);
        CHECK(r.text.find(file + ":1: the header has no column \"id\"") != std::string::npos);
    }
}

TEST_CASE("declared CSV columns are read as their types") {
    TempDir dir;
    write_text(dir / "p.csv",
               "id,qty,price,active,tags\n1,3,9.5,true,\"[\"\"a\"\"]\"\n2,,,FALSE,\n3,x,1,true,\n");
    Connection c(settings(dir, {{"p",
                                 {{"path", "p.csv"},
                                  {"fields",
                                   {{{"name", "qty"}, {"type", "integer"}},
                                    {{"name", "price"}, {"type", "number"}},
                                    {{"name", "active"}, {"type", "boolean"}},
                                    {{"name", "tags"}, {"type", "array"}}}}}}}));
    json request = page_request("p", 2);
    json page = c.read_ok(request);
    CHECK(page["records"][0]["data"] ==
          json({{"id", "1"}, {"qty", 3}, {"price", 9.5}, {"active", true}, {"tags", {"a"}}}));
    CHECK(page["records"][1]["data"] == json({{"id", "2"},
                                              {"qty", nullptr},
                                              {"price", nullptr},
                                              {"active", false},
                                              {"tags", nullptr}}));
    request["cursor"] = page["next_cursor"];
    Reply r = c.read(request);
    CHECK(r.status == PLEXUS_ERR_VALIDATION);
    CHECK(r.text.find("p.csv:4: column \"qty\": \"x\" is not an integer") != std::string::npos);
}

TEST_CASE("CSV files Plexus did not write are not appended to without the idempotency column") {
    TempDir dir;
    write_text(dir / "a.csv", "id,name\n1,a\n");
    Connection c(settings(dir, {{"a", {{"path", "a.csv"}}}}));
    Reply r = c.write(
        {{"entity", "a"}, {"records", json::array({create({{"id", "2"}, {"name", "b"}}, "k")})}});
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find("_plexus_idempotency_key") != std::string::npos);

    // A header alone (no records yet) is extended with the column instead.
    write_text(dir / "a.csv", "id,name\n");
    Connection d(settings(dir, {{"a", {{"path", "a.csv"}}}}));
    json results = d.write_ok("a", {create({{"id", "2"}, {"name", "b"}}, "k")});
    CHECK(results[0]["status"] == 0);
    CHECK(read_text(dir / "a.csv") == "id,name,_plexus_idempotency_key\n2,b,k\n");
}

TEST_CASE("an unfinished CSV row at the end of a Plexus-written file is cut off") {
    TempDir dir;
    const std::string file = dir / "a.csv";
    write_text(file, "id,name,_plexus_idempotency_key\n1,a,k1\n2,\"b");
    Connection c(settings(dir, {{"a", {{"path", "a.csv"}}}}));
    json page = c.read_ok(page_request("a"));
    CHECK(keys_of(page["records"]) == std::vector<std::string>{"1"});
    c.write_ok("a", {create({{"id", "3"}, {"name", "c"}}, "k3")});
    CHECK(read_text(file) == "id,name,_plexus_idempotency_key\n1,a,k1\n3,c,k3\n");
}
