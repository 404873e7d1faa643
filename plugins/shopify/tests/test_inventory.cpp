// Inventory levels: stock per SKU at a location, set absolutely, written only when it differs.
#include "fixture.hpp"
#include "src/wire.hpp"

using namespace shopify_test;
using plexus::sandbox::ShopifySandbox;

namespace {

// The n-th seeded product's first variant (n % 15 == 14 is untracked).
json seeded_variant(ShopifySandbox& shop, int n) {
    auto it = shop.products_table().begin();
    std::advance(it, n);
    return it->second.data["variants"][0];
}

json located(Rig& rig, std::optional<int64_t> location = ShopifySandbox::kMainLocation) {
    json s = rig.settings();
    if (location) s["location_id"] = *location;
    return s;
}

}  // namespace

TEST_CASE("inventory levels: set by SKU, re-run writes nothing, update, lookup", "[inventory]") {
    Rig rig;
    auto c = rig.instance(located(rig));
    const json variant = seeded_variant(rig.shop(), 0);
    const std::string sku = variant["sku"];
    const int64_t item = variant["inventory_item_id"];
    const std::string key = std::to_string(item) + ":" + std::to_string(ShopifySandbox::kMainLocation);

    json created = write_one(*c, "inventory_levels", {{"op", "create"}, {"idempotency_key", "stock:" + sku},
                                                      {"data", {{"sku", sku}, {"available", 42}}}});
    REQUIRE(created["status"] == PLEXUS_OK);
    CHECK(created["target_key"] == key);
    json level = rig.shop().inventory_level(item, ShopifySandbox::kMainLocation);
    CHECK(level["available"] == 42);
    CHECK(created["cursor"] == plexus::shopify::format_utc(*plexus::shopify::parse_timestamp(level["updated_at"])));
    // The variant's quantity is the sum over its locations.
    json shop_level = rig.shop().inventory_level(item, ShopifySandbox::kShopLocation);
    const int64_t elsewhere = shop_level.is_null() ? 0 : shop_level["available"].get<int64_t>();
    CHECK(rig.shop().object("products", variant["product_id"])["variants"][0]["inventory_quantity"] == 42 + elsewhere);

    // Again (a re-run): one read of the levels, no set.
    const uint64_t before = rig.shop().request_count();
    json again = write_one(*c, "inventory_levels", {{"op", "create"}, {"idempotency_key", "stock:" + sku},
                                                    {"data", {{"sku", sku}, {"available", "42"}}}});
    REQUIRE(again["status"] == PLEXUS_OK);
    CHECK(again["target_key"] == key);
    CHECK(again["cursor"] == created["cursor"]);
    CHECK(rig.shop().request_count() - before == 1);
    CHECK(rig.shop().inventory_level(item, ShopifySandbox::kMainLocation)["updated_at"] == level["updated_at"]);

    json updated = write_one(*c, "inventory_levels", {{"op", "update"}, {"idempotency_key", "stock:" + sku}, {"target_key", key},
                                                      {"data", {{"sku", sku}, {"available", -3}}}});
    REQUIRE(updated["status"] == PLEXUS_OK);
    CHECK(rig.shop().inventory_level(item, ShopifySandbox::kMainLocation)["available"] == -3);

    // Another location by the mapped location_id; a level that did not exist is connected.
    const json other = seeded_variant(rig.shop(), 1);
    const int64_t other_item = other["inventory_item_id"];
    REQUIRE(rig.shop().inventory_level(other_item, ShopifySandbox::kShopLocation).is_null());
    json shop = write_one(*c, "inventory_levels", {{"op", "create"}, {"idempotency_key", "stock:o"},
                                                   {"data", {{"sku", other["sku"]}, {"available", 5}, {"location_id", ShopifySandbox::kShopLocation}}}});
    REQUIRE(shop["status"] == PLEXUS_OK);
    CHECK(rig.shop().inventory_level(other_item, ShopifySandbox::kShopLocation)["available"] == 5);

    // Lookup: by key; after an interrupted create only when the level holds the mapped quantity.
    auto fresh = rig.instance(located(rig));
    auto by_key = fresh->lookup({{"entity", "inventory_levels"}, {"key", key}});
    REQUIRE(by_key.ok());
    CHECK(json::parse(by_key.text)["record"]["data"]["available"] == -3);
    auto same = fresh->lookup({{"entity", "inventory_levels"}, {"idempotency_key", "stock:" + sku}, {"data", {{"sku", sku}, {"available", -3}}}});
    REQUIRE(same.ok());
    CHECK(json::parse(same.text)["found"] == true);
    CHECK(json::parse(same.text)["record"]["key"] == key);
    auto stale = fresh->lookup({{"entity", "inventory_levels"}, {"idempotency_key", "stock:" + sku}, {"data", {{"sku", sku}, {"available", 8}}}});
    REQUIRE(stale.ok());
    CHECK(json::parse(stale.text)["found"] == false);
    auto unknown = fresh->lookup({{"entity", "inventory_levels"}, {"idempotency_key", "k"}, {"data", {{"sku", "NOPE"}, {"available", 1}}}});
    REQUIRE(unknown.ok());
    CHECK(json::parse(unknown.text)["found"] == false);
}

TEST_CASE("inventory levels: refusals name the SKU, the location and Shopify's reason", "[inventory]") {
    Rig rig;
    auto c = rig.instance(located(rig));
    const std::string tracked = seeded_variant(rig.shop(), 0)["sku"];
    const std::string untracked = seeded_variant(rig.shop(), 14)["sku"];
    auto r = c->write_batch({{"entity", "inventory_levels"},
                             {"records", json::array({
                                 {{"op", "create"}, {"idempotency_key", "1"}, {"data", {{"sku", untracked}, {"available", 1}}}},
                                 {{"op", "create"}, {"idempotency_key", "2"}, {"data", {{"sku", tracked}, {"available", 1},
                                                                                        {"location_id", ShopifySandbox::kClosedLocation}}}},
                                 {{"op", "create"}, {"idempotency_key", "3"}, {"data", {{"sku", "NO-SUCH-SKU"}, {"available", 1}}}},
                                 {{"op", "create"}, {"idempotency_key", "4"}, {"data", {{"sku", tracked}, {"available", 2.5}}}},
                                 {{"op", "create"}, {"idempotency_key", "5"}, {"data", {{"sku", tracked}, {"available", 7}}}},
                             })}});
    REQUIRE(r.ok());
    json results = json::parse(r.text)["results"];
    REQUIRE(results.size() == 5);
    const auto message = [&](size_t i) { return results[i]["message"].get<std::string>(); };
    CHECK(results[0]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(message(0), Catch::Contains("SKU " + untracked) && Catch::Contains("does not have inventory tracking enabled") &&
                               Catch::Contains("HTTP 422 on POST /admin/api/2024-04/inventory_levels/set.json"));
    CHECK(results[1]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(message(1), Catch::Contains(std::to_string(ShopifySandbox::kClosedLocation)) && Catch::Contains("inactive location") &&
                               Catch::Contains("HTTP 422"));
    CHECK(results[2]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(message(2), Catch::Contains("SKU NO-SUCH-SKU") && Catch::Contains("no variant"));
    CHECK(results[3]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(message(3), Catch::Contains("not a whole quantity"));
    CHECK(results[4]["status"] == PLEXUS_OK);  // one bad record does not stop the others

    // No location anywhere: the record says which setting to set.
    auto unlocated = rig.instance(located(rig, std::nullopt));
    json none = write_one(*unlocated, "inventory_levels", {{"op", "create"}, {"idempotency_key", "6"}, {"data", {{"sku", tracked}, {"available", 1}}}});
    CHECK(none["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(none["message"].get<std::string>(), Catch::Contains("location_id setting"));

    // check() verifies the configured location.
    CHECK(c->check().ok());
    auto wrong = rig.instance(located(rig, 999));
    auto checked = wrong->check();
    CHECK(checked.status == PLEXUS_ERR_CONFIG);
    CHECK_THAT(checked.text, Catch::Contains("999"));
}

TEST_CASE("the sandbox serves the seeded locations and levels", "[inventory][sandbox]") {
    Rig rig;
    CHECK(rig.shop().count("locations") == 3);
    CHECK(rig.shop().object("locations", ShopifySandbox::kClosedLocation)["active"] == false);
    const json v = seeded_variant(rig.shop(), 3);  // every third product also has shop stock
    const json main = rig.shop().inventory_level(v["inventory_item_id"], ShopifySandbox::kMainLocation);
    const json shop = rig.shop().inventory_level(v["inventory_item_id"], ShopifySandbox::kShopLocation);
    REQUIRE(!main.is_null());
    REQUIRE(!shop.is_null());
    CHECK(v["inventory_quantity"] == main["available"].get<int64_t>() + shop["available"].get<int64_t>());
    CHECK(rig.shop().inventory_level(seeded_variant(rig.shop(), 14)["inventory_item_id"], ShopifySandbox::kMainLocation).is_null());
}
