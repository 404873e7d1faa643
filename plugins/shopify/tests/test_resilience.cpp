// Faults: 5xx, 429 bursts, malformed bodies, the leaky bucket.
#include "fixture.hpp"

#include <httplib.h>

using namespace shopify_test;

TEST_CASE("with 30% 5xx the read still completes through the host's retries", "[faults]") {
    Rig rig(false, 10);
    plexus::sandbox::Faults f;
    f.error_rate = 0.3;
    rig.shop().faults().set(f);
    auto c = rig.instance();
    auto [records, cursor] = read_all(*c, "customers", 20);
    CHECK(records.size() == rig.shop().count("customers"));
    CHECK(rig.shop().request_count() > 300 / 20);  // some requests were answered 503 and retried
}

TEST_CASE("a 429 burst is honoured and the read completes", "[faults]") {
    Rig rig;
    plexus::sandbox::Faults f;
    f.burst_429_every = 3;
    f.burst_429_length = 2;
    rig.shop().faults().set(f);
    auto c = rig.instance();
    auto [records, cursor] = read_all(*c, "orders", 100);
    CHECK(records.size() == rig.shop().count("orders"));
    CHECK(rig.governor.stats().pauses > 0);
}

TEST_CASE("429s beyond the host's retries end the read as rate limited", "[faults]") {
    Rig rig(false, 2);
    plexus::sandbox::Faults f;
    f.burst_429_every = 1;
    f.burst_429_length = 5;
    rig.shop().faults().set(f);
    auto c = rig.instance();
    auto r = c->read_page(read_request("customers", nullptr));
    CHECK(r.status == PLEXUS_ERR_RATE_LIMIT);
}

TEST_CASE("a malformed 200 body is a transient error naming the request", "[faults]") {
    Rig rig;
    plexus::sandbox::Faults f;
    f.malformed_rate = 1.0;
    rig.shop().faults().set(f);
    auto c = rig.instance();
    auto r = c->read_page(read_request("customers", nullptr));
    CHECK(r.status == PLEXUS_ERR_TRANSIENT);
    CHECK_THAT(r.text, Catch::Contains("malformed response from Shopify (HTTP 200 on GET /admin/api/2024-04/customers.json)"));
}

TEST_CASE("the sandbox's leaky bucket answers 429 with Retry-After past 40 requests", "[sandbox]") {
    Rig rig(true);
    httplib::Client client("127.0.0.1", rig.server.port());
    httplib::Headers h{{"X-Shopify-Access-Token", "shpat_sandbox"}};
    int ok = 0;
    for (int i = 0; i < 40; ++i) {
        auto r = client.Get("/admin/api/2024-04/shop.json", h);
        REQUIRE(r);
        if (r->status == 200) ++ok;
    }
    auto last = client.Get("/admin/api/2024-04/shop.json", h);
    REQUIRE(last);
    CHECK(ok == 40);
    CHECK(last->status == 429);
    CHECK(last->get_header_value("Retry-After") == "2.0");
    CHECK(last->get_header_value("X-Shopify-Shop-Api-Call-Limit") == "40/40");
}

TEST_CASE("the sandbox's pagination: Link, page_info carrying filters, refusals", "[sandbox]") {
    Rig rig;
    httplib::Client client("127.0.0.1", rig.server.port());
    httplib::Headers h{{"X-Shopify-Access-Token", "shpat_sandbox"}};
    auto first = client.Get("/admin/api/2024-04/orders.json?status=any&limit=100", h);
    REQUIRE(first);
    CHECK(first->status == 200);
    const std::string link = first->get_header_value("Link");
    CHECK_THAT(link, Catch::Contains("rel=\"next\""));
    CHECK(link.find("status") == std::string::npos);
    auto page_info = link.substr(link.find("page_info=") + 10);
    page_info = page_info.substr(0, page_info.find('>'));
    auto mixed = client.Get("/admin/api/2024-04/orders.json?status=any&page_info=" + page_info, h);
    REQUIRE(mixed);
    CHECK(mixed->status == 400);
    auto too_big = client.Get("/admin/api/2024-04/orders.json?limit=251", h);
    REQUIRE(too_big);
    CHECK(too_big->status == 400);
    auto no_token = client.Get("/admin/api/2024-04/customers.json");
    REQUIRE(no_token);
    CHECK(no_token->status == 401);
    CHECK_THAT(no_token->body, Catch::Contains("[API] Invalid API key or access token"));
    CHECK(!no_token->get_header_value("X-Shopify-Shop-Api-Call-Limit").empty());
}
