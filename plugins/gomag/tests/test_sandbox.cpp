// The sandbox on its own, spoken to as Gomag's collection does (raw HTTP).
#include "fixture.hpp"

#include <httplib.h>

using namespace gomag_test;

namespace {
httplib::Headers auth(const std::string& ua = "Mozilla/5.0") {
    return {{"Apikey", kKey}, {"ApiShop", kShop}, {"User-Agent", ua}};
}
json body_of(const httplib::Result& r) {
    REQUIRE(r);
    return json::parse(r->body);
}
}  // namespace

TEST_CASE("sandbox: auth headers on every request, errors in HTTP 200 bodies", "[sandbox]") {
    Rig rig;
    rig.check_contract = false;  // these requests break the rules on purpose
    httplib::Client c(rig.server.base_url());
    auto none = c.Get("/api/v1/product/read/json");
    REQUIRE(none);
    CHECK(none->status == 200);
    CHECK(json::parse(none->body) == json{{"error", 100}, {"message", "Missing Api User"}});
    httplib::Headers wrong_shop = {{"Apikey", kKey}, {"ApiShop", "https://other.ro"}};
    CHECK(body_of(c.Get("/api/v1/product/read/json", wrong_shop))["error"] == 100);
    auto postman = body_of(c.Get("/api/v1/product/read/json", auth("PostmanRuntime/7.36.0")));
    CHECK(postman["error"] == "403");
    // A write of something invalid: HTTP 200, error 600, nothing written.
    const size_t before = rig.shop().count("products");
    httplib::MultipartFormDataItems form = {{"data", R"([{"name":"","versions":[{"sku":"X-1"}]}])", "", ""}};
    auto bad = c.Post("/api/v1/product/write/json", auth(), form);
    REQUIRE(bad);
    CHECK(bad->status == 200);
    json b = json::parse(bad->body);
    CHECK(b["error"] == "600");
    CHECK(b["message"].dump().find("MISSING_NAME") != std::string::npos);
    CHECK(rig.shop().count("products") == before);
}

TEST_CASE("sandbox: keyed collections, page/pages, filters, form posts both ways", "[sandbox]") {
    Rig rig;
    httplib::Client c(rig.server.base_url());
    json p1 = body_of(c.Get("/api/v1/product/read/json?page=1&limit=100", auth()));
    CHECK(p1["total"] == 250);
    CHECK(p1["pages"] == 3);
    CHECK(p1["products"].is_object());
    CHECK(p1["products"].size() == 100);
    json p3 = body_of(c.Get("/api/v1/product/read/json?page=3&limit=100", auth()));
    CHECK(p3["products"].size() == 50);
    json none = body_of(c.Get("/api/v1/product/read/json?sku=NOPE", auth()));
    CHECK(none["products"] == json::array());  // an empty result is an array
    json orders = body_of(c.Get("/api/v1/order/read/json?statusIds=7&page=1", auth()));
    for (auto& [id, o] : orders["orders"].items()) CHECK(o["statusId"] == "7");
    CHECK(orders["total"].is_string());  // as Gomag sends it
    json statuses = body_of(c.Get("/api/v1/order/status/read/json", auth()));
    CHECK(statuses.is_array());
    json customers = body_of(c.Get("/api/v1/customer/read/json?page=2", auth()));
    CHECK(customers["customers"].size() == 40);
    // Inventory by multipart and by url-encoded form: both are accepted.
    httplib::MultipartFormDataItems form = {{"data", R"({"products":[{"sku":"GM-1001","stock":"80","stockStatus":"instock"},{"sku":"NOPE","stock":1}]})", "", ""}};
    json inv = body_of(c.Post("/api/v1/product/inventory/json", auth(), form));
    CHECK(inv["message"] == "REQUEST_SUCCESS");
    CHECK(inv["data"][""][0]["status"] == "200");
    CHECK(inv["data"][""][1] == json{{"sku", "NOPE"}, {"ean", ""}, {"status", "404"}, {"errorMessage", "MISSING_ITEMS"}});
    CHECK(rig.shop().product("GM-1001")["stock"] == "80.000");
    httplib::Params params = {{"data", R"({"products":[{"sku":"GM-1002","price":12.5}]})"}};
    json inv2 = body_of(c.Post("/api/v1/product/inventory/json", auth(), params));
    CHECK(inv2["data"][""][0]["status"] == "200");
    CHECK(rig.shop().product("GM-1002")["price"] == "12.5000");
}

TEST_CASE("sandbox: separate read and write buckets, reported and enforced", "[sandbox][budget]") {
    auto o = options(20, 5, 5);
    o.rate_limit = true;
    o.read_rate = 1;
    o.read_burst = 3;
    o.write_rate = 1;
    o.write_burst = 2;
    Rig rig(o);
    httplib::Client c(rig.server.base_url());
    auto first = c.Get("/api/v1/order/status/read/json", auth());
    REQUIRE(first);
    CHECK(first->get_header_value("Api-RateLimit-Read") == "1");
    CHECK(first->get_header_value("Api-RateLimit-Read-Burst") == "3");
    CHECK(first->get_header_value("Api-RateLimit-Read-Remaining") == "2");
    c.Get("/api/v1/order/status/read/json", auth());
    c.Get("/api/v1/order/status/read/json", auth());
    auto fourth = c.Get("/api/v1/order/status/read/json", auth());
    REQUIRE(fourth);
    CHECK(fourth->status == 429);
    CHECK(fourth->get_header_value("Retry-After") == "1");
    // The write bucket is another one: still full.
    httplib::MultipartFormDataItems form = {{"data", R"({"orders":[{"order":2000,"status":8}]})", "", ""}};
    auto w = c.Post("/api/v1/order/status/json", auth(), form);
    REQUIRE(w);
    CHECK(w->status == 200);
    CHECK(w->get_header_value("Api-RateLimit-Write-Remaining") == "1");
    CHECK(rig.shop().order(2000)["statusId"] == "8");
}
