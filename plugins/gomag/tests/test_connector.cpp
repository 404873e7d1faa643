// The connector against the sandbox, through the real plugin host.
#include "fixture.hpp"

#include <set>
#include <thread>

using namespace gomag_test;

namespace {
json product(const std::string& sku, const std::string& name, double price) {
    return {{"sku", sku}, {"name", name}, {"price", price}, {"categories", "Echipament/Tenis"}};
}
std::set<std::string> keys(const std::vector<json>& records) {
    std::set<std::string> out;
    for (const auto& r : records) out.insert(r["key"].get<std::string>());
    return out;
}
}  // namespace

TEST_CASE("connector: products read across pages, then only what changed", "[connector][read]") {
    Rig rig;
    auto c = rig.instance();
    std::string cursor;
    int pages = 0;
    auto all = read_all(*c, "products", cursor, 100, &pages);
    CHECK(pages == 3);
    CHECK(all.size() == 250);
    CHECK(keys(all).size() == 250);  // every product once
    CHECK(all[0]["data"]["sku"] == all[0]["key"]);
    CHECK_THAT(all[0]["cursor"].get<std::string>(), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)"));
    // Nothing changed: nothing new (the set of the watermark's day is asked for again).
    CHECK(read_all(*c, "products", cursor).empty());
    REQUIRE(rig.shop().touch_product("GM-1017", {{"name", "Minge Wilson (nou)"}}));
    auto changed = read_all(*c, "products", cursor);
    REQUIRE(changed.size() == 1);
    CHECK(changed[0]["key"] == "GM-1017");
    CHECK(changed[0]["data"]["name"] == "Minge Wilson (nou)");
    CHECK(read_all(*c, "products", cursor).empty());
    // A small page limit is honoured (Gomag's limit parameter).
    std::string small;
    CHECK(read_all(*c, "products", small, 40, &pages).size() == 250);
}

TEST_CASE("connector: orders by date window, status and updated day, with the work point", "[connector][orders]") {
    Rig rig;
    json s = rig.settings();
    s["orders_start_date"] = plexus::sandbox::GomagSandbox::shop_time(plexus::sandbox::GomagSandbox::now_seconds() - 30 * 86400).substr(0, 10);
    s["order_work_point"] = "Depozit Cluj";
    auto c = rig.instance(s);
    std::string cursor;
    int pages = 0;
    auto orders = read_all(*c, "orders", cursor, 60, &pages);
    REQUIRE(!orders.empty());
    CHECK(pages >= 2);
    CHECK(keys(orders).size() == orders.size());
    for (const auto& o : orders) {
        CHECK(o["data"]["date"].get<std::string>().substr(0, 10) >= s["orders_start_date"].get<std::string>());
        CHECK(o["data"]["work_point"] == "Depozit Cluj");
    }
    // The next set asks for today's changes only: a new order and a status change come in.
    json added = rig.shop().add_order({{"items", {{{"sku", "GM-1003"}, {"quantity", "2.00"}}}}, {"billing", {{"email", "ion@example.ro"}}}});
    auto next = read_all(*c, "orders", cursor);
    std::set<std::string> got = keys(next);
    CHECK(got.count(added["id"].get<std::string>()) == 1);
    CHECK(next.size() < orders.size());
    // "Import all orders now from a start date": a rewind reads every order registered since.
    std::string rewound_cursor;
    auto rewound = read_all(*rig.instance(), "orders", rewound_cursor, 100, nullptr, s["orders_start_date"]);
    CHECK(rewound.size() == orders.size() + 1);  // and the order added since
    // Only the chosen statuses.
    json s2 = rig.settings();
    s2["order_status_ids"] = {7, 8};
    std::string c2;
    for (const auto& o : read_all(*rig.instance(s2), "orders", c2))
        CHECK((o["data"]["statusId"] == "7" || o["data"]["statusId"] == "8"));
}

TEST_CASE("connector: products created and updated by SKU in requests of at most 25", "[connector][write]") {
    Rig rig;
    auto c = rig.instance();
    json batch = json::array();
    for (int i = 0; i < 60; ++i) {
        const std::string sku = "GO-" + std::to_string(100 + i);
        json p = product(sku, "Produs " + std::to_string(i), 10 + i);
        if (i == 37) p.erase("name");  // Gomag refuses this one (MISSING_NAME)
        batch.push_back(create("k" + std::to_string(i), p));
    }
    json results = write(*c, "products", batch);
    REQUIRE(results.size() == 60);
    for (int i = 0; i < 60; ++i) {
        INFO(i << ": " << results[i].dump());
        if (i == 37) {
            CHECK(results[i]["status"] == PLEXUS_ERR_VALIDATION);
            CHECK_THAT(results[i]["message"].get<std::string>(), Catch::Contains("product GO-137") && Catch::Contains("MISSING_NAME"));
        } else {
            CHECK(results[i]["status"] == PLEXUS_OK);
            CHECK(results[i]["target_key"] == "GO-" + std::to_string(100 + i));
        }
    }
    CHECK(rig.shop().count("products") == 250 + 59);
    CHECK(rig.shop().product("GO-137").is_null());
    CHECK(rig.shop().product("GO-100")["stock_status"] == "notinstock");  // stock comes by stock_prices
    auto writes = posted(rig.exchanges(), "product/write/json");
    for (const auto& data : writes) CHECK(data.size() <= 25);
    // 25 + 25 + 10, the refused product's request of 25 halved down to it: 1 + 1 + 7 requests.
    CHECK(writes.size() == 11);
    CHECK(rig.shop().category_named("Tenis").is_object());

    // Update by SKU (product/patch): the ledger's SKU names the product.
    json upd = write(*c, "products", {update("GO-105", product("GO-105", "Produs 5 (nou)", 99.5))});
    CHECK(upd[0]["status"] == PLEXUS_OK);
    CHECK(rig.shop().product("GO-105")["name"] == "Produs 5 (nou)");
    CHECK(rig.shop().product("GO-105")["price"] == "99.5000");
    // An update of a SKU the shop does not have fails alone, with Gomag's code.
    json missing = write(*c, "products", {update("NOPE-1", product("NOPE-1", "x", 1)), update("GO-106", product("GO-106", "y", 2))});
    CHECK(missing[0]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(missing[0]["message"].get<std::string>(), Catch::Contains("MISSING_ITEMS"));
    CHECK(missing[1]["status"] == PLEXUS_OK);
}

TEST_CASE("connector: a repeated create is found by SKU and adopted, never duplicated", "[connector][idempotency]") {
    Rig rig;
    auto c = rig.instance();
    json p = product("GO-500", "Rucsac", 120);
    REQUIRE(write(*c, "products", {create("k500", p)})[0]["status"] == PLEXUS_OK);
    const size_t products = rig.shop().count("products");
    // After a crash the host asks first: the product is there, by its SKU.
    json found = ok_json(c->lookup({{"entity", "products"}, {"idempotency_key", "k500"}, {"data", p}}));
    REQUIRE(found["found"] == true);
    CHECK(found["record"]["key"] == "GO-500");
    CHECK(found["matches"] == 1);
    CHECK(ok_json(c->lookup({{"entity", "products"}, {"key", "GO-500"}}))["found"] == true);
    CHECK(ok_json(c->lookup({{"entity", "products"}, {"idempotency_key", "k9"}, {"data", product("GO-999", "x", 1)}}))["found"] == false);
    // A create sent again anyway is a conflict (the host then looks up and updates): no second product.
    json again = write(*c, "products", {create("k500", p)});
    CHECK(again[0]["status"] == PLEXUS_ERR_CONFLICT);
    CHECK(rig.shop().count("products") == products);
}

TEST_CASE("connector: stock and prices in bulk by SKU, an unknown SKU fails alone", "[connector][stock]") {
    Rig rig;
    json s = rig.settings();
    s["stock_work_point"] = "Depozit Cluj";
    auto c = rig.instance(s);
    json batch = json::array();
    for (int i = 0; i < 30; ++i) {
        char sku[16];
        std::snprintf(sku, sizeof sku, "GM-%04d", 1001 + i);
        batch.push_back(create(sku, {{"sku", sku}, {"stock", 5 + i}, {"price", 49.9}, {"stockStatus", "instock"}}));
    }
    batch.push_back(create("x", {{"sku", "NU-EXISTA"}, {"stock", 3}}));
    batch.push_back(create("y", {{"sku", "GM-1100"}, {"stock", 3}, {"work_point", "Depozit Iasi"}}));
    batch.push_back(create("z", {{"sku", "GM-1101"}, {"stock", 4}, {"work_point", "Depozit Cluj"}}));
    json r = write(*c, "stock_prices", batch);
    REQUIRE(r.size() == 33);
    for (int i = 0; i < 30; ++i) CHECK(r[i]["status"] == PLEXUS_OK);
    CHECK(r[30]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(r[30]["message"].get<std::string>(), Catch::Contains("NU-EXISTA") && Catch::Contains("MISSING_ITEMS"));
    CHECK(r[31]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(r[31]["message"].get<std::string>(), Catch::Contains("Depozit Iasi"));
    CHECK(r[32]["status"] == PLEXUS_OK);
    CHECK(rig.shop().product("GM-1030")["stock"] == "34.000");
    CHECK(rig.shop().product("GM-1101")["stock"] == "4.000");
    CHECK(rig.shop().product("GM-1100")["stock"] != "3.000");
    CHECK(posted(rig.exchanges(), "product/inventory/json").size() == 1);  // one request for the batch
}

TEST_CASE("connector: order status change, invoices once, categories by name", "[connector][orders]") {
    Rig rig;
    auto c = rig.instance();
    json st = write(*c, "order_status", {create("s1", {{"order", "2001"}, {"status", 8}}), create("s2", {{"order", "999999"}, {"status", 8}}),
                                         create("s3", {{"order", "2002"}, {"status", 99}})});
    CHECK(st[0]["status"] == PLEXUS_OK);
    CHECK(st[0]["target_key"] == "2001");
    CHECK(rig.shop().order(2001)["statusId"] == "8");
    CHECK(st[1]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(st[1]["message"].get<std::string>(), Catch::Contains("INVALID_ORDER_ID"));
    CHECK(st[2]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(posted(rig.exchanges(), "order/status/json").size() == 3);  // one order per request

    // Invoice: generated once; a repeat (after a crash) finds it and generates nothing.
    json o = rig.shop().add_order({{"items", {{{"sku", "GM-1004"}}}}});
    const std::string number = o["number"];
    const size_t invoices = rig.shop().count("invoices");
    CHECK(ok_json(c->lookup({{"entity", "invoices"}, {"key", number}}))["found"] == false);
    json inv = write(*c, "invoices", {create("i1", {{"orderNumber", number}})});
    CHECK(inv[0]["status"] == PLEXUS_OK);
    CHECK(inv[0]["target_key"] == number);
    json again = write(*c, "invoices", {create("i1", {{"orderNumber", number}}), create("i2", {{"orderNumber", "404404"}})});
    CHECK(again[0]["status"] == PLEXUS_OK);
    CHECK(again[1]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(rig.shop().count("invoices") == invoices + 1);
    json found = ok_json(c->lookup({{"entity", "invoices"}, {"key", number}}));
    REQUIRE(found["found"] == true);
    CHECK(found["record"]["data"]["invoiceSeries"] == "FACT");

    // Categories: read in full; a create answers the new id; the same name again is a conflict.
    std::string cursor;
    auto cats = read_all(*c, "categories", cursor);
    CHECK(cats.size() == 25);
    json made = write(*c, "categories", {create("c1", {{"name", "Padel"}}), create("c2", {{"name", "Imbracaminte"}})});
    CHECK(made[0]["status"] == PLEXUS_OK);
    CHECK(made[0]["target_key"] == rig.shop().category_named("Padel")["id"]);
    CHECK(made[1]["status"] == PLEXUS_ERR_CONFLICT);
    json hit = ok_json(c->lookup({{"entity", "categories"}, {"idempotency_key", "c2"}, {"data", {{"name", "Imbracaminte"}}}}));
    REQUIRE(hit["found"] == true);
    json patched = write(*c, "categories", {update(hit["record"]["key"], {{"name", "Imbracaminte"}, {"position", "4"}})});
    CHECK(patched[0]["status"] == PLEXUS_OK);
    // Customers: keyed by the collection's key, across pages.
    std::string cc;
    int pages = 0;
    auto customers = read_all(*c, "customers", cc, 100, &pages);
    CHECK(customers.size() == 140);
    CHECK(pages == 2);
    CHECK(customers[0]["data"]["id"] == customers[0]["key"]);
}
