// Acceptance of issue 9's Shopify half: with a store of 600 products, 1,000 customers and
// 1,000 orders (several pages of 250 each), the real `plexus` binary reads every page and
// syncs every record into JSON Lines files, and inventory then succeeds for the SKU of every
// tracked product — also past #250, which needs the connector's SKU index
// (products.json?fields=…) to follow its Link pages. The hub's HTTP client (cpp-httplib 0.11)
// hands the Link header over with %2C decoded to ',', which used to stop that index after
// the first page. The sandbox runs in this process (its hooks count rows), rate limit off.
#include "support.hpp"

#include "plugins/shopify/sandbox/shopify_sandbox.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

namespace {

using Summary = RunCounts;

sb::ShopifySandbox::Options big_store() {
    sb::ShopifySandbox::Options o;
    o.seed = 11;
    o.rate_limit = false;
    o.customers = 1000;
    o.products = 600;
    o.orders = 1000;
    return o;
}

std::set<std::string> ids_in(const fs::path& file) {
    std::set<std::string> ids;
    for (const auto& r : read_jsonl(file)) ids.insert(r["id"].is_string() ? r["id"].get<std::string>() : r["id"].dump());
    return ids;
}

}  // namespace

TEST_CASE("Shopify paging: 600 products, 1000 customers, 1000 orders synced, then inventory past #250",
          "[shopify][paging]") {
    sb::SandboxServer server(std::make_unique<sb::ShopifySandbox>(big_store()));
    auto& shop = static_cast<sb::ShopifySandbox&>(server.sandbox());
    TempDir dir;

    // The stock file: the first variant of every tracked product (every 15th is untracked).
    std::vector<json> stock;
    std::map<std::string, std::pair<int64_t, int>> wanted;  // sku → (inventory item, quantity)
    int n = 0;
    for (const auto& [id, p] : shop.products_table()) {
        const json& v = p.data["variants"][0];
        if (n++ % 15 == 14 || v["inventory_management"].is_null()) continue;
        const int quantity = 1000 + n;
        stock.push_back({{"sku", v["sku"]}, {"quantity", quantity}, {"updated_at", "2024-06-01T10:00:00Z"}});
        wanted[v["sku"].get<std::string>()] = {v["inventory_item_id"].get<int64_t>(), quantity};
    }
    REQUIRE(stock.size() > 550);
    write_jsonl(dir.path() / "erp" / "stock.jsonl", stock);
    fs::create_directories(dir.path() / "export");

    json config{
        {"connections",
         {{"shop",
           {{"connector", "shopify"},
            {"settings", {{"store_domain", "plexus-sandbox.myshopify.com"}, {"access_token", "shpat_sandbox"},
                          {"base_url", server.base_url()}, {"location_id", sb::ShopifySandbox::kMainLocation}}},
            {"rate_limit", {{"requests_per_second", 0}}}}},
          {"export", files_connection(dir.str("export"), {{"customers", jsonl_entity("customers.jsonl", "id", "")},
                                                          {"orders", jsonl_entity("orders.jsonl", "id", "")},
                                                          {"products", jsonl_entity("products.jsonl", "id", "")}})},
          {"erp", files_connection(dir.str("erp"), {{"stock", jsonl_entity("stock.jsonl", "sku")}})}}},
        {"processes",
         json::array({{{"id", "customers"}, {"name", "Customers Shopify→files"},
                       {"source", {{"connection", "shop"}, {"entity", "customers"}}},
                       {"target", {{"connection", "export"}, {"entity", "customers"}}},
                       {"mapping", {{"id", "id"}, {"email", "email"}, {"updated_at", "updated_at"}}}},
                      {{"id", "orders"}, {"name", "Orders Shopify→files"},
                       {"source", {{"connection", "shop"}, {"entity", "orders"}}},
                       {"target", {{"connection", "export"}, {"entity", "orders"}}},
                       {"mapping", {{"id", "id"}, {"name", "name"}, {"total_price", "total_price"}}}},
                      {{"id", "products"}, {"name", "Products Shopify→files"},
                       {"source", {{"connection", "shop"}, {"entity", "products"}}},
                       {"target", {{"connection", "export"}, {"entity", "products"}}},
                       {"mapping", {{"id", "id"}, {"title", "title"}}}},
                      {{"id", "stock"}, {"name", "Stock files→Shopify"},
                       {"source", {{"connection", "erp"}, {"entity", "stock"}}},
                       {"target", {{"connection", "shop"}, {"entity", "inventory_levels"}}},
                       {"mapping", {{"sku", "sku"}, {"available", "quantity"}}}}})}};
    write_file(dir.path() / "plexus.json", config.dump(2));
    const auto run = [&](const std::string& process) {
        auto r = run_plexus({"run", process, "--config", dir.str("plexus.json"), "--data", dir.str("var"),
                             "--plugin-dir", PLEXUS_PLUGIN_DIR});
        INFO(process << ":\n" << r.out.substr(0, 4000));
        REQUIRE(r.exit_code == 0);
        return summary_of(r.out);
    };

    // Every record of every page, once.
    const struct {
        const char* process;
        size_t expected;
    } reads[] = {{"customers", 1000}, {"orders", 1000}, {"products", 600}};
    for (const auto& r : reads) {
        INFO(r.process);
        const Summary s = run(r.process);
        CHECK(s.read == static_cast<int>(r.expected));
        CHECK(s.created == static_cast<int>(r.expected));
        CHECK(s.failed == 0);
        CHECK(ids_in(dir.path() / "export" / (std::string(r.process) + ".jsonl")).size() == r.expected);
    }
    CHECK(shop.count("orders") == 1000);  // orders of any status: status=any on the first page

    // Inventory for every tracked product's SKU: the SKU index holds all 600 products.
    const Summary s = run("stock");
    CHECK(s.failed == 0);
    CHECK(s.created == static_cast<int>(stock.size()));
    int wrong = 0;
    for (const auto& [sku, want] : wanted) {
        const json level = shop.inventory_level(want.first, sb::ShopifySandbox::kMainLocation);
        if (level.is_null() || level["available"] != want.second) ++wrong;
    }
    CHECK(wrong == 0);
}
