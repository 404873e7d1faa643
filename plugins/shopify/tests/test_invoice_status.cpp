// Order invoice status: invoice metafields on the order, the payment recorded exactly once.
#include "fixture.hpp"
#include "src/wire.hpp"

using namespace shopify_test;

namespace {

// A seeded order with this financial_status (and not cancelled, unless voided: those are).
json order_with(plexus::sandbox::ShopifySandbox& shop, const std::string& status) {
    for (const auto& [id, s] : shop.orders_table())
        if (s.data["financial_status"] == status && (s.data["cancelled_at"].is_null() || status == "voided")) return s.data;
    FAIL("no seeded order with financial_status " << status);
    return {};
}

json plexus_metafields(plexus::sandbox::ShopifySandbox& shop, int64_t order_id) {
    json out = json::object();
    for (const auto& m : shop.order_metafields(order_id))
        if (m["namespace"] == "plexus") out[m["key"].get<std::string>()] = m;
    return out;
}

size_t count_kind(const json& txs, const std::string& kind) {
    size_t n = 0;
    for (const auto& t : txs) n += t["kind"] == kind;
    return n;
}

}  // namespace

TEST_CASE("invoice status: metafields, re-run writes nothing, paid → one sale, lookup", "[invoice]") {
    Rig rig;
    auto c = rig.instance();
    const json order = order_with(rig.shop(), "pending");
    const int64_t id = order["id"];
    const std::string name = order["name"];
    const json posted{{"order_name", name}, {"invoice_number", "INV-1001"}, {"invoice_date", "2024-05-02"},
                      {"invoice_state", "Posted"}, {"amount_due", order["total_price"]}};
    json created = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "inv:1001"}, {"data", posted}});
    REQUIRE(created["status"] == PLEXUS_OK);
    CHECK(created["target_key"] == std::to_string(id));
    json mf = plexus_metafields(rig.shop(), id);
    CHECK(mf.size() == 4);
    CHECK(mf["invoice_number"]["value"] == "INV-1001");
    CHECK(mf["invoice_date"]["type"] == "date");
    CHECK(mf["amount_due"]["type"] == "number_decimal");
    CHECK(mf["amount_due"]["value"] == order["total_price"]);
    CHECK(rig.shop().order_transactions(id).empty());  // not paid yet
    CHECK(rig.shop().object("orders", id)["financial_status"] == "pending");

    // The same write again: reads only (order by name, metafields), writes nothing.
    const uint64_t before = rig.shop().request_count();
    json again = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "inv:1001"}, {"data", posted}});
    REQUIRE(again["status"] == PLEXUS_OK);
    CHECK(rig.shop().request_count() - before == 2);
    CHECK(plexus_metafields(rig.shop(), id) == mf);

    // Paid in Intacct: the metafields change in place, the order gets one sale and is paid.
    json paid = posted;
    paid["invoice_state"] = "Paid";
    paid["amount_due"] = 0;
    json updated = write_one(*c, "order_invoice_status", {{"op", "update"}, {"idempotency_key", "inv:1001"},
                                                          {"target_key", std::to_string(id)}, {"data", paid}});
    REQUIRE(updated["status"] == PLEXUS_OK);
    json after = plexus_metafields(rig.shop(), id);
    CHECK(after["invoice_state"]["value"] == "Paid");
    CHECK(after["invoice_state"]["id"] == mf["invoice_state"]["id"]);
    CHECK(after["amount_due"]["value"] == "0.00");
    json txs = rig.shop().order_transactions(id);
    REQUIRE(txs.size() == 1);
    CHECK(txs[0]["kind"] == "sale");
    CHECK(txs[0]["amount"] == order["total_price"]);
    CHECK(txs[0]["source_name"] == "external");
    const json now = rig.shop().object("orders", id);
    CHECK(now["financial_status"] == "paid");
    CHECK(now["total_outstanding"] == "0.00");
    CHECK(updated["cursor"] == plexus::shopify::format_utc(*plexus::shopify::parse_timestamp(now["updated_at"])));

    // Exactly once: the same paid write, by a new instance too, adds no transaction.
    for (int i = 0; i < 2; ++i) {
        auto next = rig.instance();
        json r = write_one(*next, "order_invoice_status", {{"op", "update"}, {"idempotency_key", "inv:1001"},
                                                           {"target_key", std::to_string(id)}, {"data", paid}});
        REQUIRE(r["status"] == PLEXUS_OK);
    }
    CHECK(rig.shop().order_transactions(id).size() == 1);

    // Lookup: by key, and after an interrupted create only when nothing is left to do.
    auto fresh = rig.instance();
    auto by_key = fresh->lookup({{"entity", "order_invoice_status"}, {"key", std::to_string(id)}});
    REQUIRE(by_key.ok());
    CHECK(json::parse(by_key.text)["record"]["data"]["invoice_number"] == "INV-1001");
    CHECK(json::parse(by_key.text)["record"]["data"]["financial_status"] == "paid");
    auto done = fresh->lookup({{"entity", "order_invoice_status"}, {"idempotency_key", "inv:1001"}, {"data", paid}});
    REQUIRE(done.ok());
    CHECK(json::parse(done.text)["found"] == true);
    CHECK(json::parse(done.text)["record"]["key"] == std::to_string(id));
    json differs = paid;
    differs["invoice_date"] = "2024-05-03";
    auto undone = fresh->lookup({{"entity", "order_invoice_status"}, {"idempotency_key", "inv:1001"}, {"data", differs}});
    REQUIRE(undone.ok());
    CHECK(json::parse(undone.text)["found"] == false);
    // An order without our invoice metafields has no invoice status.
    auto other = fresh->lookup({{"entity", "order_invoice_status"}, {"key", std::to_string(order_with(rig.shop(), "paid")["id"].get<int64_t>())}});
    REQUIRE(other.ok());
    CHECK(json::parse(other.text)["found"] == false);
}

TEST_CASE("invoice status: an authorized order is captured once, by order id", "[invoice]") {
    Rig rig;
    auto c = rig.instance();
    const json order = order_with(rig.shop(), "authorized");
    const int64_t id = order["id"];
    const json auth = rig.shop().order_transactions(id)[0];
    REQUIRE(auth["kind"] == "authorization");
    const json data{{"order_id", id}, {"invoice_number", "INV-9"}, {"invoice_state", "Paid"}};
    for (int i = 0; i < 2; ++i) {
        json r = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "inv:9"}, {"data", data}});
        REQUIRE(r["status"] == PLEXUS_OK);
    }
    json txs = rig.shop().order_transactions(id);
    CHECK(count_kind(txs, "capture") == 1);
    CHECK(count_kind(txs, "sale") == 0);
    CHECK(txs.back()["parent_id"] == auth["id"]);
    CHECK(txs.back()["amount"] == auth["amount"]);
    CHECK(rig.shop().object("orders", id)["financial_status"] == "paid");
    // Partially paid before: the rest is sold, once.
    const json partial = order_with(rig.shop(), "partially_paid");
    const int64_t pid = partial["id"];
    for (int i = 0; i < 2; ++i) {
        json r = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "inv:p"},
                                                        {"data", {{"order_name", partial["name"].get<std::string>().substr(1)},
                                                                  {"invoice_number", "INV-P"}, {"amount_due", "0.00"}}}});
        REQUIRE(r["status"] == PLEXUS_OK);
    }
    json ptxs = rig.shop().order_transactions(pid);
    CHECK(count_kind(ptxs, "sale") == 2);  // the seeded half and ours
    CHECK(ptxs.back()["amount"] == partial["total_outstanding"]);
    CHECK(rig.shop().object("orders", pid)["financial_status"] == "paid");
}

TEST_CASE("invoice status: refusals name the order, the field and the HTTP status", "[invoice]") {
    Rig rig;
    auto c = rig.instance();
    const json voided = order_with(rig.shop(), "voided");
    json r = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "v"},
                                                    {"data", {{"order_name", voided["name"]}, {"invoice_number", "INV-V"}, {"invoice_state", "Paid"}}}});
    CHECK(r["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(r["message"].get<std::string>(), Catch::Contains(voided["name"].get<std::string>()) && Catch::Contains("voided"));
    CHECK(count_kind(rig.shop().order_transactions(voided["id"]), "sale") == 0);

    const json pending = order_with(rig.shop(), "pending");
    json bad_date = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "d"},
                                                           {"data", {{"order_id", pending["id"]}, {"invoice_number", "INV-D"},
                                                                     {"invoice_date", "05/02/2024"}}}});
    CHECK(bad_date["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(bad_date["message"].get<std::string>(),
               Catch::Contains("order " + std::to_string(pending["id"].get<int64_t>())) && Catch::Contains("invoice_date") &&
                   Catch::Contains("YYYY-MM-DD") && Catch::Contains("HTTP 422 on POST /admin/api/2024-04/orders/"));

    json missing = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "m"},
                                                          {"data", {{"order_name", "#99999"}, {"invoice_number", "INV-M"}}}});
    CHECK(missing["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(missing["message"].get<std::string>(), Catch::Contains("order #99999") && Catch::Contains("no such order"));

    // Refused before any request is written: a (paid) order without our metafields.
    const json untouched = order_with(rig.shop(), "paid");
    json no_number = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "n"},
                                                            {"data", {{"order_id", untouched["id"]}, {"amount_due", "abc"}}}});
    CHECK(no_number["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(no_number["message"].get<std::string>(), Catch::Contains("invoice_number"));
    json bad_amount = write_one(*c, "order_invoice_status", {{"op", "create"}, {"idempotency_key", "n"},
                                                             {"data", {{"order_id", untouched["id"]}, {"invoice_number", "I"}, {"amount_due", "abc"}}}});
    CHECK(bad_amount["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(bad_amount["message"].get<std::string>(), Catch::Contains("amount_due"));
    CHECK(rig.shop().order_metafields(untouched["id"]).empty());
}
