// Golden cases: testcases/<case>/{response.json, expected.json}. response.json holds the
// request that was made (method, path, kind "list" or "write") and the recorded answer
// (status, headers, body — a JSON value, or a string sent verbatim). The answer goes through
// the connector's pure parsing functions (src/wire.cpp); expected.json says what must come out.
#include "src/wire.hpp"
#include "plugin_host/connector_instance.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace plexus::shopify;
namespace fs = std::filesystem;

namespace {
json load(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
}
std::string status_text(plexus_status s) { return std::string("PLEXUS_ERR_") + [&] {
    std::string n = plexus::status_name(s);
    for (auto& c : n) c = static_cast<char>(std::toupper(c));
    return n;
}(); }
}  // namespace

TEST_CASE("golden request/response cases", "[golden]") {
    size_t cases = 0;
    for (const auto& dir : fs::directory_iterator(SHOPIFY_TESTCASES_DIR)) {
        if (!dir.is_directory()) continue;
        ++cases;
        DYNAMIC_SECTION(dir.path().filename().string()) {
            const json response = load(dir.path() / "response.json");
            const json expected = load(dir.path() / "expected.json");
            const json& req = response["request"];
            const std::string exchange = exchange_name(req["method"], req["path"]);
            const int status = response["status"];
            const std::string body = response["body"].is_string() ? response["body"].get<std::string>() : response["body"].dump();
            const json headers = response.value("headers", json::object());
            const std::string link = headers.value("Link", "");
            if (expected.contains("call_limit")) {
                auto limit = parse_call_limit(headers.value("X-Shopify-Shop-Api-Call-Limit", ""));
                REQUIRE(limit);
                CHECK(limit->used == expected["call_limit"][0].get<double>());
                CHECK(limit->max == expected["call_limit"][1].get<double>());
            }
            plexus_status got = PLEXUS_OK;
            std::string message;
            if (req["kind"] == "list") {
                try {
                    ListPage page = parse_list_page(status, link, body, req["plural"], exchange);
                    std::vector<std::string> ids;
                    for (const auto& i : page.items) ids.push_back(i["id"].dump());
                    CHECK(json(ids) == expected["ids"]);
                    CHECK((page.next_page_info ? json(*page.next_page_info) : json()) == expected["next_page_info"]);
                    if (expected.contains("updated_at_utc"))
                        for (size_t i = 0; i < page.items.size(); ++i)
                            CHECK(format_utc(*parse_timestamp(page.items[i]["updated_at"])) == expected["updated_at_utc"][i]);
                } catch (const plexus::sdk::Error& e) {
                    got = e.status();
                    message = e.what();
                }
            } else {
                try {
                    auto r = interpret_write(status, body, req["singular"], req.value("create", false), exchange);
                    got = r.status;
                    message = r.message;
                } catch (const plexus::sdk::Error& e) {
                    got = e.status();
                    message = e.what();
                }
            }
            INFO(message);
            if (expected.contains("status")) CHECK(status_text(got) == expected["status"]);
            else CHECK(got == PLEXUS_OK);
            for (const auto& m : expected.value("message_contains", json::array())) CHECK_THAT(message, Catch::Contains(m.get<std::string>()));
            for (const auto& m : expected.value("message_lacks", json::array())) CHECK(message.find(m.get<std::string>()) == std::string::npos);
        }
    }
    CHECK(cases >= 6);
}

TEST_CASE("the read cursor round-trips and handles ties on the boundary second", "[golden][cursor]") {
    ReadCursor c;
    c.see("1", 100);
    c.see("2", 200);
    c.see("3", 200);
    ReadCursor next = c.finished();
    CHECK(next.updated_at_min == format_utc(200));
    CHECK(next.skip_ids == std::vector<std::string>{"2", "3"});
    CHECK(next.skips("2", 200));
    CHECK(!next.skips("2", 201));
    CHECK(!next.skips("4", 200));
    ReadCursor back = ReadCursor::decode(next.encode());
    CHECK(back.updated_at_min == next.updated_at_min);
    CHECK(back.skip_ids == next.skip_ids);
    // A set wholly on the boundary second keeps the earlier skips.
    back.see("4", 200);
    CHECK(back.finished().skip_ids.size() == 3);
    CHECK_THROWS_AS(ReadCursor::decode("garbage"), plexus::sdk::Error);
    CHECK(link_page_info("<https://x/a.json?page_info=p1&limit=3>; rel=\"next\"", "next") == std::optional<std::string>("p1"));
    CHECK(errors_message(json::parse(R"({"errors":{"base":["Customer must have a name"]}})")) == "Customer must have a name");
}
