// The connector's pure wire rules (src/wire.cpp), without a host.
#include "wire.hpp"

#include <plexus/connector.hpp>

#include <catch2/catch.hpp>

using namespace plexus::pogo;

TEST_CASE("wire: DateTimeOffsets in both of the vendor's forms read to the same instant, written as UTC") {
    auto a = parse_ticks("2023-07-03 14:28:00.1234567Z");
    auto b = parse_ticks("2023-07-03T16:28:00.1234567+02:00");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == *b);
    CHECK(format_ticks(*a) == "2023-07-03T14:28:00.1234567Z");
    CHECK(format_ticks(*parse_ticks("2024-05-01")) == "2024-05-01T00:00:00.0000000Z");
    CHECK(*parse_ticks("2024-05-01T10:12:00.5Z") - *parse_ticks("2024-05-01T10:12:00Z") == 5'000'000);
    CHECK_FALSE(parse_ticks("2024-13-01T00:00:00Z"));
    CHECK_FALSE(parse_ticks("yesterday"));
    CHECK_FALSE(parse_ticks("2024-05-01T10:12:00+0200"));
}

TEST_CASE("wire: error bodies become one line with status, operation, title and detail") {
    CHECK(describe_error(400, R"j({"title":"Customer validation error(s)","detail":"Name is required."})j", "POST /v2/Customers") ==
          "PowerOffice Go answered HTTP 400 to POST /v2/Customers: Customer validation error(s) — Name is required.");
    CHECK(describe_error(404, R"j({"Title":"Object(s) not found","Detail":"Customer with id = 1 not found."})j", "GET /v2/Customers/1") ==
          "PowerOffice Go answered HTTP 404 to GET /v2/Customers/1: Object(s) not found — Customer with id = 1 not found.");
    CHECK(describe_error(400, R"j({"title":"One or more validation errors occurred.","errors":{"Name":["The Name field is required."]}})j", "POST /v2/Products") ==
          "PowerOffice Go answered HTTP 400 to POST /v2/Products: One or more validation errors occurred.; Name: The Name field is required.");
    CHECK(describe_error(400, R"j({"error":"invalid_client","error_description":"Client integration not found."})j", "POST /OAuth/Token") ==
          "PowerOffice Go answered HTTP 400 to POST /OAuth/Token: invalid_client — Client integration not found.");
    CHECK(describe_error(403, "", "GET /v2/SalesOrders").find("ClientIntegrationInformation") != std::string::npos);
    CHECK(describe_error(502, "<html>bad gateway</html>", "GET /v2/Products") == "PowerOffice Go answered HTTP 502 to GET /v2/Products");
    CHECK(classify(400) == PLEXUS_ERR_VALIDATION);
    CHECK(classify(401) == PLEXUS_ERR_AUTH);
    CHECK(classify(429) == PLEXUS_ERR_RATE_LIMIT);
    CHECK(classify(503) == PLEXUS_ERR_TRANSIENT);
    CHECK(classify(409) == PLEXUS_ERR_CONFLICT);
}

TEST_CASE("wire: a read cursor survives its text, and a foreign one is refused as configuration") {
    ReadCursor c;
    c.after = parse_ticks("2026-12-06T06:15:17.8719660Z");
    c.keys = {"4101201", "4101202"};
    ReadCursor back = ReadCursor::decode(c.encode());
    CHECK(back.after == c.after);
    CHECK(back.keys == c.keys);
    CHECK_FALSE(ReadCursor::decode("{}").after);
    try {
        ReadCursor::decode("page_info=abc");
        FAIL("accepted a foreign cursor");
    } catch (const plexus::sdk::Error& e) {
        CHECK(e.status() == PLEXUS_ERR_CONFIG);
    }
}

TEST_CASE("wire: only the DTOs' documented names pass") {
    CHECK(unknown_members({{"Name", "x"}, {"Number", 1}, {"Email", "y"}, {"Nmae", 1}}, "CustomerPostDto") == "Email, Nmae");
    CHECK(unknown_members({{"StockOnHand", 1}, {"Code", "x"}}, "ProductPatchDto").empty());
    CHECK(unknown_members({{"ProductGroupCode", "x"}}, "ProductPatchDto") == "ProductGroupCode");
    CHECK(base64("sandbox-application-key:sandbox-client-key") == "c2FuZGJveC1hcHBsaWNhdGlvbi1rZXk6c2FuZGJveC1jbGllbnQta2V5");
    CHECK(url_encode("#1001 a/b") == "%231001%20a%2Fb");
}
