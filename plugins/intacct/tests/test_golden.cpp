// Golden cases: testcases/<case>/{request.xml, response.xml, expected.json}. Each case builds
// a request with the connector's wire functions (src/intacct_xml.cpp) and compares it with
// request.xml, then parses the recorded response.xml and compares what the connector sees
// with expected.json's "response" (only the keys given there).
#include "intacct_xml.hpp"
#include "sandbox/intacct_schema.hpp"

#include <catch2/catch.hpp>
#include <pugixml.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace plexus::intacct;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Canonical form: parsed and printed raw, so whitespace between elements does not count.
std::string canonical(const std::string& xml) {
    pugi::xml_document doc;
    auto ok = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default & ~pugi::parse_ws_pcdata);
    REQUIRE(ok);
    std::ostringstream out;
    doc.document_element().print(out, "", pugi::format_raw);
    return out.str();
}

std::string build(const json& spec) {
    Control c;
    c.sender_id = spec["control"]["senderid"];
    c.sender_password = spec["control"]["password"];
    c.controlid = spec["control"]["controlid"];
    c.unique_id = spec["control"]["uniqueid"];
    std::optional<std::string> session;
    Login login;
    if (spec.contains("session")) session = spec["session"].get<std::string>();
    if (spec.contains("login")) {
        login.user_id = spec["login"]["userid"];
        login.company_id = spec["login"]["companyid"];
        login.password = spec["login"]["password"];
        login.location_id = spec["login"].value("locationid", "");
    }
    std::vector<std::string> functions;
    for (const auto& f : spec["functions"]) {
        std::string fn = f["fn"], cid = f["controlid"];
        if (fn == "readByQuery")
            functions.push_back(fn_read_by_query(cid, f["object"], f["query"], f["pagesize"],
                                                 f.value("docparid", ""), f.value("fields", "*")));
        else if (fn == "readMore") functions.push_back(fn_read_more(cid, f["resultId"]));
        else if (fn == "getAPISession") functions.push_back(fn_get_api_session(cid));
        else if (fn == "create" || fn == "update")
            functions.push_back(fn_generic(cid, fn, f["object"], f["fields"]));
        else if (fn == "create_sotransaction") {
            std::string why;
            functions.push_back(fn_create_sotransaction(cid, f["order"], why));
            REQUIRE(why.empty());
        } else FAIL("unknown fn " << fn);
    }
    return build_request(c, session, login, functions);
}

json summary(const Response& r) {
    json s{{"control_ok", r.control_ok},
           {"auth_ok", r.auth_ok},
           {"throttled", is_throttled(r.control_errors)},
           {"results", json::array()}};
    if (!r.control_errors.empty()) s["control_message"] = join_errors(r.control_errors);
    if (!r.auth_errors.empty()) s["auth_message"] = join_errors(r.auth_errors);
    for (const auto& f : r.results) {
        json j{{"status", f.status}, {"function", f.function}, {"controlid", f.controlid},
               {"count", f.count}, {"totalcount", f.totalcount}, {"numremaining", f.numremaining},
               {"resultId", f.result_id}, {"key", f.key}, {"rows", f.rows},
               {"already_exists", is_already_exists(f.errors)},
               {"repeat_hint", is_repeat_hint(f.errors)}, {"api", f.api},
               {"cursors", json::array()}};
        // Each row's cursor as the connector reports it (reads and write results alike).
        for (const auto& row : f.rows)
            if (row.is_object() && row.contains("WHENMODIFIED"))
                j["cursors"].push_back(record_cursor(row["WHENMODIFIED"].get<std::string>()));
        if (!f.errors.empty()) j["message"] = join_errors(f.errors);
        s["results"].push_back(j);
    }
    return s;
}

void expect_subset(const json& expected, const json& actual, const std::string& path) {
    if (expected.is_object()) {
        REQUIRE(actual.is_object());
        for (auto it = expected.begin(); it != expected.end(); ++it) {
            if (it.key().rfind("_", 0) == 0) continue;
            INFO(path + "/" + it.key());
            REQUIRE(actual.contains(it.key()));
            expect_subset(it.value(), actual[it.key()], path + "/" + it.key());
        }
    } else if (expected.is_array() && !expected.empty() && expected[0].is_object() &&
               path.find("rows") == std::string::npos) {
        REQUIRE(actual.is_array());
        REQUIRE(actual.size() == expected.size());
        for (size_t i = 0; i < expected.size(); ++i)
            expect_subset(expected[i], actual[i], path + "/" + std::to_string(i));
    } else {
        INFO(path);
        CHECK(actual == expected);
    }
}

}  // namespace

TEST_CASE("golden request/response cases", "[intacct][golden]") {
    fs::path root = fs::path(INTACCT_SOURCE_DIR) / "testcases";
    int cases = 0;
    for (const auto& dir : fs::directory_iterator(root)) {
        if (!dir.is_directory()) continue;
        ++cases;
        std::string name = dir.path().filename().string();
        json expected = json::parse(slurp(dir.path() / "expected.json"));
        SECTION(name) {
            std::string built = build(expected["request"]);
            CHECK(canonical(built) == canonical(slurp(dir.path() / "request.xml")));
            // Every golden request is one the connector sends: it must pass the official XSD.
            auto schema = plexus::sandbox::IntacctSchema::bundled();
            REQUIRE(schema);
            CHECK(schema->validate(built) == "");
            Response r = parse_response(slurp(dir.path() / "response.xml"));
            REQUIRE(r.parsed);
            expect_subset(expected["response"], summary(r), name);
        }
    }
    CHECK(cases >= 5);
}

TEST_CASE("wire helpers", "[intacct]") {
    CHECK(iso_to_intacct("2024-05-01T07:08:09Z") == "05/01/2024 07:08:09");
    CHECK(iso_to_intacct("2024-05-01") == "05/01/2024 00:00:00");
    CHECK(intacct_to_iso("05/01/2024 07:08:09") == "2024-05-01T07:08:09Z");
    CHECK(sortable("12/31/2023 23:59:59") < sortable("01/01/2024 00:00:00"));
    CHECK(quote("O'Brien") == R"('O\'Brien')");
    CHECK(quote(R"(a\b)") == R"('a\\b')");
    CHECK(in_list("CUSTOMERID", {"C-1", "O'Neil"}) == R"(CUSTOMERID IN ('C-1','O\'Neil'))");
    CHECK(record_cursor("05/01/2024 07:08:09") == "2024-05-01T07:08:09Z");
    CHECK(record_cursor("not a date") == "not a date");
    std::string why;
    CHECK(endpoint_allowed("https://api.intacct.com/ia/xml/xmlgw.phtml",
                           "https://acme.intacct.com/ia/xml/xmlgw.phtml", why));
    CHECK(endpoint_allowed("http://127.0.0.1:8082/ia/xml/xmlgw.phtml",
                           "http://127.0.0.1:8082/ia/xml/xmlgw.phtml", why));
    CHECK_FALSE(endpoint_allowed("https://api.intacct.com/ia/xml/xmlgw.phtml",
                                 "http://acme.intacct.com/ia/xml/xmlgw.phtml", why));  // not TLS
    CHECK_FALSE(endpoint_allowed("https://api.intacct.com/ia/xml/xmlgw.phtml",
                                 "https://intacct.com.evil.example/ia/xml/xmlgw.phtml", why));
    CHECK_FALSE(endpoint_allowed("https://api.intacct.com/ia/xml/xmlgw.phtml",
                                 "https://user@evil.example/@acme.intacct.com", why));
    CHECK_FALSE(endpoint_allowed("http://127.0.0.1:8082/ia/xml/xmlgw.phtml",
                                 "http://127.0.0.1:9999/ia/xml/xmlgw.phtml", why));
    CHECK_FALSE(why.empty());
    CHECK(is_repeat_hint({{"XL03000004", "", "", ""}}));
    CHECK(is_repeat_hint({{"XY0001", "Duplicate control ID", "", ""}}));
    CHECK_FALSE(is_repeat_hint({{"BL03000018", "", "Invalid Customer NEW-CUST specified.", ""}}));
    ReadCursor c{"05/01/2024 08:00:00", {"12", "40"}, "rs9", "05/02/2024 00:00:00", {"7"}};
    auto d = decode_cursor(encode_cursor(c));
    REQUIRE(d);
    CHECK(d->t == c.t);
    CHECK(d->r == c.r);
    CHECK(d->rid == "rs9");
    CHECK(d->hwr == c.hwr);
    CHECK(d->fs == 0);
    c.fs = 1714550400000;
    CHECK(decode_cursor(encode_cursor(c))->fs == 1714550400000);
    CHECK_FALSE(decode_cursor("garbage"));
    CHECK(!parse_response("{\"truncated\": [1, 2").parsed);
    CHECK(join_errors({{"XL03000006", "Sign-in information is incorrect", "", ""}}) ==
          "XL03000006 Sign-in information is incorrect");
}
