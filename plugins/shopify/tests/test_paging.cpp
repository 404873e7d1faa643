// Paging past the first page of 250 through the real plugin host and the hub's HTTP client
// (cpp-httplib 0.11, which hands the Link header over with %2C decoded to ','). Before issue
// 9's fix the product index (products.json?fields=…) stopped after page 1: inventory for any
// product past #250 failed with "no variant with this SKU", and the adoption of an interrupted
// product create by its idempotency tag failed past #250 too.
#include "fixture.hpp"
#include "src/wire.hpp"

#include "common/logging.hpp"

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <set>

using namespace shopify_test;
using plexus::sandbox::ShopifySandbox;

namespace {

ShopifySandbox::Options big_store() {
    ShopifySandbox::Options o;
    o.seed = 9;
    o.rate_limit = false;
    o.customers = 560;
    o.products = 600;
    o.orders = 520;
    return o;
}

// The first variant of the n-th seeded product (0-based; n % 15 == 14 is untracked).
json variant_of(ShopifySandbox& shop, int n) {
    auto it = shop.products_table().begin();
    std::advance(it, n);
    return it->second.data["variants"][0];
}

}  // namespace

TEST_CASE("paging: every customer, order and product is read across pages of 250", "[paging]") {
    Rig rig(big_store());
    auto c = rig.instance();
    for (const char* entity : {"customers", "orders", "products"}) {
        INFO(entity);
        auto [records, cursor] = read_all(*c, entity, 250);
        CHECK(records.size() == rig.shop().count(entity));
        std::set<std::string> keys;
        for (const auto& r : records) keys.insert(r["key"].get<std::string>());
        CHECK(keys.size() == records.size());  // none twice
    }
}

TEST_CASE("paging: the SKU index (fields=) reaches products past #250", "[paging][inventory]") {
    Rig rig(big_store());
    json settings = rig.settings();
    settings["location_id"] = ShopifySandbox::kMainLocation;
    auto c = rig.instance(settings);
    // Products #251, #500 and #599 (0-based 250, 499, 598; all tracked), then the last one.
    for (int n : {250, 499, 598}) {
        const json variant = variant_of(rig.shop(), n);
        const std::string sku = variant["sku"];
        INFO(sku);
        json r = write_one(*c, "inventory_levels", {{"op", "create"}, {"idempotency_key", "stock:" + sku},
                                                    {"data", {{"sku", sku}, {"available", 17 + n}}}});
        INFO(r.dump());
        REQUIRE(r["status"] == PLEXUS_OK);
        CHECK(rig.shop().inventory_level(variant["inventory_item_id"], ShopifySandbox::kMainLocation)["available"] == 17 + n);
    }
    // Lookup by SKU of the 600th product.
    const std::string last_sku = variant_of(rig.shop(), 599)["sku"];
    auto found = c->lookup({{"entity", "products"}, {"idempotency_key", "none"}, {"data", {{"sku", last_sku}}}});
    REQUIRE(found.ok());
    CHECK(json::parse(found.text)["found"] == true);
}

TEST_CASE("paging: an interrupted product create is adopted by its tag past #250", "[paging][products]") {
    Rig rig(big_store());
    // A create whose outcome the host never recorded: the product is the 601st of the store.
    json created = write_one(*rig.instance(), "products",
                             {{"op", "create"}, {"idempotency_key", "items:late-601"},
                              {"data", {{"title", "Spätlese 601"}, {"variants", json::array({{{"sku", "LATE-601"}, {"price", "9.90"}}})}}}});
    REQUIRE(created["status"] == PLEXUS_OK);
    // A new instance (after a crash) looks it up by the idempotency key alone.
    auto hit = rig.instance()->lookup({{"entity", "products"}, {"idempotency_key", "items:late-601"}, {"data", json::object()}});
    REQUIRE(hit.ok());
    const json answer = json::parse(hit.text);
    REQUIRE(answer["found"] == true);
    CHECK(answer["record"]["key"] == created["target_key"]);
}

TEST_CASE("paging: an unsupported api_version is served as the oldest supported one", "[paging][version]") {
    Rig rig(big_store());
    json settings = rig.settings();
    settings["api_version"] = "2023-07";
    // The host's log, captured: the connector says once which version Shopify served.
    plexus::log_debug("");  // creates the process-wide logger
    auto logger = spdlog::get("plexus");
    REQUIRE(logger);
    auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    logger->sinks().push_back(ring);
    auto c = rig.instance(settings);
    for (int i = 0; i < 2; ++i) {
        auto page = c->read_page(read_request("customers", nullptr, 250));
        REQUIRE(page.ok());
        CHECK(json::parse(page.text)["records"].size() == 250);
    }
    logger->sinks().pop_back();
    int warnings = 0;
    for (const auto& line : ring->last_formatted())
        if (line.find("Shopify served API version 2024-01 instead of the configured 2023-07") != std::string::npos) ++warnings;
    CHECK(warnings == 1);
}
