// The inventory entity: ITEMWAREHOUSEINFO rows (on hand per item and warehouse), read in pages,
// incrementally on WHENMODIFIED, with a periodic full read.
#include <map>
#include <set>

#include "intacct_fixture.hpp"

using namespace intacct_test;

namespace {

std::map<std::string, json> by_key(const std::vector<json>& records) {
    std::map<std::string, json> out;
    for (const auto& r : records) out[r["key"].get<std::string>()] = r;
    return out;
}

// The inventory record of an item in a warehouse among `records`, or null.
json stock_of(const std::vector<json>& records, const std::string& item, const std::string& wh) {
    for (const auto& r : records)
        if (r["data"]["ITEMID"] == item && r["data"]["WAREHOUSEID"] == wh) return r;
    return nullptr;
}

}  // namespace

TEST_CASE("inventory: on hand per item and warehouse, paged, then only what changed",
          "[intacct][inventory]") {
    World w;
    const size_t rows = w.control().count("ITEMWAREHOUSEINFO");
    REQUIRE(rows > 150);  // every Inventory item in the default warehouse, some in others
    std::string cursor;
    int pages = 0;
    auto all = read_all(*w.instance(), "inventory", cursor, 60, &pages);
    CHECK(all.size() == rows);
    CHECK(pages >= 3);
    auto keyed = by_key(all);
    CHECK(keyed.size() == rows);
    std::set<std::string> warehouses;
    std::string last;
    for (const auto& r : all) {
        const auto& d = r["data"];
        REQUIRE(d["ITEMID"].is_string());
        REQUIRE(d["WAREHOUSEID"].is_string());
        CHECK(d["ONHAND"].is_number());
        CHECK(d["ONHOLD"].is_number());
        CHECK(r["key"] == d["RECORDNO"]);
        CHECK(r["cursor"].get<std::string>() >= last);
        last = r["cursor"].get<std::string>();
        warehouses.insert(d["WAREHOUSEID"].get<std::string>());
    }
    CHECK(warehouses == std::set<std::string>{"WH-BER", "WH-LYS", "WH-ZRH"});
    // What the connector reports is what the sandbox holds.
    json i1002 = stock_of(all, "I-1002", "WH-ZRH");
    REQUIRE(i1002.is_object());
    auto held = w.control().stock("I-1002", "WH-ZRH");
    REQUIRE(held);
    CHECK(i1002["data"]["ONHAND"].dump() == (*held)["ONHAND"].get<std::string>());

    // Nothing changed: nothing read.
    std::string c2 = cursor;
    CHECK(read_all(*w.instance(), "inventory", c2, 60).empty());

    // Stock moves: an adjustment of I-1002 and a Sales Order putting 4 × I-1003 on hold.
    const long long before = i1002["data"]["ONHAND"].get<long long>();
    REQUIRE(w.control().adjust_on_hand("I-1002", "WH-ZRH", -5));
    json order{
        {"entity", "sales_orders"},
        {"records",
         {{{"op", "create"},
           {"idempotency_key", "inv-1"},
           {"data",
            {{"customerid", "C-00004"},
             {"referenceno", "#5001"},
             {"datecreated", "2024-06-01"},
             {"lines", {{{"itemid", "I-1003"}, {"quantity", 4}, {"warehouseid", "WH-ZRH"}}}}}}}}}};
    REQUIRE(ok_json(w.instance()->write_batch(order))["results"][0]["status"] == PLEXUS_OK);
    auto changed = read_all(*w.instance(), "inventory", cursor, 60);
    REQUIRE(changed.size() == 2);
    json a = stock_of(changed, "I-1002", "WH-ZRH"), b = stock_of(changed, "I-1003", "WH-ZRH");
    REQUIRE(a.is_object());
    REQUIRE(b.is_object());
    CHECK(a["data"]["ONHAND"].get<long long>() == before - 5);
    json b_before = stock_of(all, "I-1003", "WH-ZRH");
    CHECK(b["data"]["ONHOLD"].get<long long>() == b_before["data"]["ONHOLD"].get<long long>() + 4);
    CHECK(b["data"]["ONHAND"] == b_before["data"]["ONHAND"]);
    CHECK(read_all(*w.instance(), "inventory", cursor, 60).empty());
}

TEST_CASE("inventory: a full read again once inventory_full_scan_hours have passed",
          "[intacct][inventory]") {
    World w;
    std::string cursor;
    const size_t rows = read_all(*w.instance(), "inventory", cursor, 500).size();
    REQUIRE(rows == w.control().count("ITEMWAREHOUSEINFO"));
    json c = json::parse(cursor);
    REQUIRE(c.value("fs", int64_t{0}) > 0);  // when the full read started

    // The last full read long ago: everything again (the host then skips the unchanged rows).
    c["fs"] = 1;
    std::string old = c.dump();
    CHECK(read_all(*w.instance(), "inventory", old, 500).size() == rows);
    CHECK(json::parse(old)["fs"].get<int64_t>() > 1);
    CHECK(read_all(*w.instance(), "inventory", old, 500).empty());

    // With inventory_full_scan_hours = 0 only the incremental read, whatever fs says.
    json s = w.settings();
    s["inventory_full_scan_hours"] = 0;
    std::string never = c.dump();
    CHECK(read_all(*w.instance(s), "inventory", never, 500).empty());
}

TEST_CASE("inventory: lookup by key and by item and warehouse", "[intacct][inventory]") {
    World w;
    auto inst = w.instance();
    json by_pair =
        ok_json(inst->lookup({{"entity", "inventory"},
                              {"idempotency_key", "x"},
                              {"data", {{"ITEMID", "I-1002"}, {"WAREHOUSEID", "WH-ZRH"}}}}));
    REQUIRE(by_pair["found"].get<bool>());
    CHECK(by_pair["record"]["data"]["ONHAND"].is_number());
    json by_rec =
        ok_json(inst->lookup({{"entity", "inventory"}, {"key", by_pair["record"]["key"]}}));
    REQUIRE(by_rec["found"].get<bool>());
    CHECK(by_rec["record"]["data"]["ITEMID"] == "I-1002");
    json none =
        ok_json(inst->lookup({{"entity", "inventory"},
                              {"idempotency_key", "x"},
                              {"data", {{"ITEMID", "I-1002"}, {"WAREHOUSEID", "NOWHERE"}}}}));
    CHECK_FALSE(none["found"].get<bool>());
}

TEST_CASE("a sales order line in an unknown warehouse fails with Intacct's error",
          "[intacct][inventory]") {
    World w;
    json order{
        {"entity", "sales_orders"},
        {"records",
         {{{"op", "create"},
           {"idempotency_key", "inv-2"},
           {"data",
            {{"customerid", "C-00004"},
             {"referenceno", "#5002"},
             {"datecreated", "2024-06-01"},
             {"lines", {{{"itemid", "I-1003"}, {"quantity", 1}, {"warehouseid", "WH-XXX"}}}}}}}}}};
    json r = ok_json(w.instance()->write_batch(order));
    CHECK(r["results"][0]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(r["results"][0]["message"].get<std::string>(),
               Catch::Contains("sales order #5002") && Catch::Contains("BL03000018") &&
                   Catch::Contains("WH-XXX"));
}
