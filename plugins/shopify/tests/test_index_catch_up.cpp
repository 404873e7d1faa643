// Issue 8, item 4: a connector instance's product index must not answer "not found" for a
// product another instance of the same connection created after the index was read (the
// products run creating it while the inventory run, or a crash recovery, looks it up).
#include "fixture.hpp"

using namespace shopify_test;
using plexus::sandbox::ShopifySandbox;

namespace {

ShopifySandbox::Options small_store() {
    ShopifySandbox::Options o;
    o.seed = 11;
    o.rate_limit = false;
    o.customers = 5;
    o.products = 30;
    o.orders = 5;
    return o;
}

}  // namespace

TEST_CASE("index catch-up: a product created by another instance is found by SKU and by tag", "[index]") {
    Rig rig(small_store());
    json settings = rig.settings();
    settings["location_id"] = ShopifySandbox::kMainLocation;
    auto inventory = rig.instance(settings);  // reads the index first
    json warm = write_one(*inventory, "inventory_levels",
                          {{"op", "create"}, {"idempotency_key", "stock:warm"},
                           {"data", {{"sku", rig.shop().products_table().begin()->second.data["variants"][0]["sku"]},
                                     {"available", 3}}}});
    REQUIRE(warm["status"] == PLEXUS_OK);

    // The products run (another instance) creates a product the index has never seen.
    json created = write_one(*rig.instance(settings), "products",
                             {{"op", "create"}, {"idempotency_key", "items:fresh-1"},
                              {"data", {{"title", "Fresh"}, {"variants", json::array({{{"sku", "FRESH-1"}, {"price", "5.00"},
                                                                                       {"inventory_management", "shopify"}}})}}}});
    REQUIRE(created["status"] == PLEXUS_OK);

    // The first instance finds it by SKU (inventory) and by its idempotency tag (adoption).
    json r = write_one(*inventory, "inventory_levels",
                       {{"op", "create"}, {"idempotency_key", "stock:fresh"}, {"data", {{"sku", "FRESH-1"}, {"available", 9}}}});
    INFO(r.dump());
    CHECK(r["status"] == PLEXUS_OK);
    auto hit = inventory->lookup({{"entity", "products"}, {"idempotency_key", "items:fresh-1"}, {"data", json::object()}});
    REQUIRE(hit.ok());
    const json answer = json::parse(hit.text);
    REQUIRE(answer["found"] == true);
    CHECK(answer["record"]["key"] == created["target_key"]);
    CHECK(answer["matches"] == 1);

    // A SKU nobody created is still "not found", after one catch-up request.
    json missing = write_one(*inventory, "inventory_levels",
                             {{"op", "create"}, {"idempotency_key", "stock:none"}, {"data", {{"sku", "NO-SUCH-SKU"}, {"available", 1}}}});
    CHECK(missing["status"] != PLEXUS_OK);
}
