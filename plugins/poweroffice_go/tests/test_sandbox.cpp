// The sandbox on the wire, from the vendor's documents: the token endpoint, the
// subscription key, the request budget, paging and ProblemDetails — without the connector.
#include "fixture.hpp"

#include <httplib.h>

using namespace pogo_test;

namespace {

struct Wire {
    Rig rig;
    httplib::Client cli{"127.0.0.1", rig.server.port()};
    std::string token;

    explicit Wire(plexus::sandbox::PowerOfficeGoSandbox::Options o = small_options()) : rig(o) {}
    httplib::Result token_request(const std::string& basic, const std::string& key, const std::string& path = "/OAuth/Token") {
        httplib::Headers h = {{"Authorization", "Basic " + basic}};
        if (!key.empty()) h.emplace("Ocp-Apim-Subscription-Key", key);
        return cli.Post(path, h, "grant_type=client_credentials", "application/x-www-form-urlencoded; charset=utf-8");
    }
    void login() {
        // base64("sandbox-application-key:sandbox-client-key")
        auto r = token_request("c2FuZGJveC1hcHBsaWNhdGlvbi1rZXk6c2FuZGJveC1jbGllbnQta2V5", "sandbox-subscription-key");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        token = json::parse(r->body)["access_token"];
    }
    httplib::Result get(const std::string& path) {
        return cli.Get(path, {{"Authorization", "Bearer " + token}, {"Ocp-Apim-Subscription-Key", "sandbox-subscription-key"}});
    }
};

}  // namespace

TEST_CASE("sandbox: the token endpoint grants client credentials and refuses wrong keys in the documented shapes") {
    Wire w;
    w.rig.server.record_exchanges("");  // refused on purpose: not for the contract check
    w.login();
    auto good = w.token_request("c2FuZGJveC1hcHBsaWNhdGlvbi1rZXk6c2FuZGJveC1jbGllbnQta2V5", "sandbox-subscription-key",
                                "/demo/oauth/token");
    REQUIRE(good);
    CHECK(good->status == 200);
    json t = json::parse(good->body);
    CHECK(t["token_type"] == "bearer");
    CHECK(t["expires_in"] == 600);

    auto bad = w.token_request("d3Jvbmc6a2V5", "sandbox-subscription-key");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["error"] == "invalid_client");

    auto no_key = w.token_request("c2FuZGJveC1hcHBsaWNhdGlvbi1rZXk6c2FuZGJveC1jbGllbnQta2V5", "");
    REQUIRE(no_key);
    CHECK(no_key->status == 401);
}

TEST_CASE("sandbox: API calls need the bearer token and the subscription key, in the header or the query") {
    Wire w;
    auto anonymous = w.get("/v2/Customers?PageSize=1");
    REQUIRE(anonymous);
    CHECK(anonymous->status == 401);
    w.login();
    auto ok = w.get("/v2/Customers?PageSize=1");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    auto by_query = w.cli.Get("/Demo/v2/Customers?PageSize=1&subscription-key=sandbox-subscription-key",
                              {{"Authorization", "Bearer " + w.token}});
    REQUIRE(by_query);
    CHECK(by_query->status == 200);
    auto no_key = w.cli.Get("/v2/Customers?PageSize=1", {{"Authorization", "Bearer " + w.token}});
    REQUIRE(no_key);
    CHECK(no_key->status == 401);
    w.rig.go().expire_tokens();
    auto expired = w.get("/v2/Customers?PageSize=1");
    REQUIRE(expired);
    CHECK(expired->status == 401);
}

TEST_CASE("sandbox: lists page by PageNumber and PageSize as bare arrays and answer 204 past the end") {
    Wire w;
    w.login();
    size_t total = 0;
    int pages = 0;
    for (int page = 1; page < 10; ++page) {
        auto r = w.get("/v2/Customers?PageSize=500&PageNumber=" + std::to_string(page));
        REQUIRE(r);
        if (r->status == 204) {
            CHECK(r->body.empty());
            break;
        }
        REQUIRE(r->status == 200);
        json rows = json::parse(r->body);
        REQUIRE(rows.is_array());
        total += rows.size();
        ++pages;
    }
    CHECK(total == 1200);
    CHECK(pages == 3);
    auto too_big = w.get("/v2/Customers?PageSize=20001");
    REQUIRE(too_big);
    CHECK(too_big->status == 400);
    auto missing = w.get("/v2/Customers/1");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    json problem = json::parse(missing->body);
    CHECK(problem["title"] == "Object(s) not found");
    CHECK(problem["detail"] == "Customer with id = 1 not found.");
}

TEST_CASE("sandbox: more than 10 requests in a second get 429 with Retry-After") {
    auto o = small_options();
    o.rate_limit = true;
    Wire w(o);
    w.login();  // one of the ten
    int ok = 0, limited = 0;
    std::string retry_after, body;
    for (int i = 0; i < 15; ++i) {
        auto r = w.get("/v2/VatCodes");
        REQUIRE(r);
        if (r->status == 429) {
            ++limited;
            retry_after = r->get_header_value("Retry-After");
            body = r->body;
        } else if (r->status == 200) {
            ++ok;
        }
    }
    // Nine answered besides the token request, the rest refused — unless the machine took
    // over a second for the fifteen calls and the window moved on.
    CHECK(ok >= 9);
    CHECK(limited >= 1);
    CHECK(ok + limited == 15);
    CHECK(retry_after == "1");
    CHECK(json::parse(body)["message"] == "Rate limit is exceeded. Try again in 1 seconds.");
}

TEST_CASE("sandbox: unknown request properties are refused with a ProblemDetails naming them") {
    Wire w;
    w.login();
    w.rig.server.record_exchanges("");  // out of spec on purpose: not for the contract check
    auto r = w.cli.Post("/v2/Customers", {{"Authorization", "Bearer " + w.token}, {"Ocp-Apim-Subscription-Key", "sandbox-subscription-key"}},
                        R"({"Name":"Fjordkaffe AS","Nmae":"typo"})", "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body)["detail"].get<std::string>().find("Nmae") != std::string::npos);
}
