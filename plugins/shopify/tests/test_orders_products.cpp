// Orders (read, status=any) and products with variants (read, create, update, lookup by SKU).
#include "fixture.hpp"

#include <set>

using namespace shopify_test;

TEST_CASE("reads every order of any status with lines, taxes, shipping and discounts", "[orders]") {
    Rig rig;
    auto c = rig.instance();
    auto [records, cursor] = read_all(*c, "orders", 250);
    CHECK(records.size() == rig.shop().count("orders"));
    std::set<std::string> currencies, financial;
    bool cancelled = false, discounted = false, refunded = false;
    for (const auto& r : records) {
        const json& o = r["data"];
        currencies.insert(o["currency"].get<std::string>());
        financial.insert(o["financial_status"].get<std::string>());
        cancelled = cancelled || !o["cancelled_at"].is_null();
        discounted = discounted || !o["discount_codes"].empty();
        refunded = refunded || !o["refunds"].empty();
        CHECK(!o["line_items"].empty());
        CHECK(o["line_items"][0].contains("tax_lines"));
    }
    CHECK(currencies == std::set<std::string>{"CHF", "EUR", "USD"});
    CHECK(financial.size() >= 5);
    CHECK(cancelled);
    CHECK(discounted);
    CHECK(refunded);
    // Records of a page come in cursor order.
    auto page = json::parse(c->read_page(read_request("orders", nullptr, 250)).text);
    for (size_t i = 1; i < page["records"].size(); ++i)
        CHECK(page["records"][i - 1]["cursor"].get<std::string>() <= page["records"][i]["cursor"].get<std::string>());
    auto one = c->lookup({{"entity", "orders"}, {"key", records[3]["key"]}});
    REQUIRE(one.ok());
    CHECK(json::parse(one.text)["record"]["data"]["name"] == records[3]["data"]["name"]);
}

TEST_CASE("products: read, create with variants, update, lookup by SKU and idempotency key", "[products]") {
    Rig rig;
    auto c = rig.instance();
    auto [records, cursor] = read_all(*c, "products", 250);
    CHECK(records.size() == rig.shop().count("products"));
    json created = write_one(*c, "products", {{"op", "create"}, {"idempotency_key", "items:SKU-Ä1"},
                                              {"data", {{"title", "Grüner Tee"}, {"vendor", "Teehaus"},
                                                        {"variants", json::array({{{"sku", "SKU-Ä1"}, {"price", "12.50"}}})}}}});
    REQUIRE(created["status"] == PLEXUS_OK);
    auto by_sku = c->lookup({{"entity", "products"}, {"idempotency_key", "other"}, {"data", {{"variants", json::array({{{"sku", "SKU-Ä1"}}})}}}});
    REQUIRE(by_sku.ok());
    CHECK(json::parse(by_sku.text)["record"]["key"] == created["target_key"]);
    auto seeded = c->lookup({{"entity", "products"}, {"idempotency_key", "x"}, {"data", {{"sku", "PX-1005-1"}}}});
    REQUIRE(seeded.ok());
    CHECK(json::parse(seeded.text)["found"] == true);
    auto by_idem = c->lookup({{"entity", "products"}, {"idempotency_key", "items:SKU-Ä1"}, {"data", json::object()}});
    REQUIRE(by_idem.ok());
    CHECK(json::parse(by_idem.text)["record"]["key"] == created["target_key"]);

    json updated = write_one(*c, "products", {{"op", "update"}, {"idempotency_key", "items:SKU-Ä1"},
                                              {"target_key", created["target_key"]}, {"data", {{"title", "Grüner Tee Bio"}}}});
    REQUIRE(updated["status"] == PLEXUS_OK);
    auto [delta, next] = read_all(*rig.instance(), "products", 250, cursor);
    REQUIRE(delta.size() == 1);
    CHECK(delta[0]["data"]["title"] == "Grüner Tee Bio");

    json blank = write_one(*c, "products", {{"op", "create"}, {"idempotency_key", "k"}, {"data", {{"vendor", "x"}}}});
    CHECK(blank["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(blank["message"].get<std::string>(), Catch::Contains("title: can't be blank"));
}
