// The e-guma connector through the real plugin host (loader, host HTTP client) against the
// sandbox: voucher balances, depot activations, redemption lookups and rollbacks, sales events
// from the inbox, and the API key kept out of every text.
#include "eguma_fixture.hpp"

using namespace eguma_test;
namespace sb = plexus::sandbox;

namespace {

json write_one(plexus::ConnectorInstance& inst, const std::string& entity, const json& record) {
    return ok_json(inst.write_batch({{"entity", entity}, {"records", {record}}}))["results"][0];
}

}  // namespace

TEST_CASE("voucher balance: one code, however it is written, for the check-balance page", "[eguma][connector]") {
    EgumaWorld w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    json page = ok_json(inst->read_page({{"entity", "voucher_balance"}, {"limit", 10}, {"cursor", nullptr},
                                         {"filter", {{"codes", {"l4fu-5lqt-kjr3", sb::kEgumaShortCode, sb::kEgumaVoucherRedeemed}}}}}));
    REQUIRE(page["records"].size() == 3);
    CHECK(page["records"][0]["key"] == "L4FU5LQTKJR3");
    CHECK(page["records"][0]["data"]["balance"] == "400.00");
    CHECK(page["records"][0]["data"]["total_amount"] == "500.00");
    CHECK(page["records"][0]["data"]["is_redeemable"] == true);
    CHECK(page["records"][1]["key"] == sb::kEgumaVoucher50);  // the short code resolved
    CHECK(page["records"][1]["data"]["entered"] == sb::kEgumaShortCode);
    CHECK(page["records"][2]["data"]["is_redeemable"] == false);
    CHECK_FALSE(page["records"][2]["data"]["message"].get<std::string>().empty());
    json one = ok_json(inst->lookup({{"entity", "voucher_balance"}, {"key", "K7PM-2XQ9-WB4D"}}));
    CHECK(one["found"] == true);
    CHECK(one["record"]["data"]["balance_in_cents"] == 5000);
    CHECK(ok_json(inst->lookup({{"entity", "voucher_balance"}, {"key", "NOSUCHCODE00"}}))["found"] == false);
    auto no_filter = inst->read_page({{"entity", "voucher_balance"}, {"limit", 10}, {"cursor", nullptr}});
    CHECK(no_filter.status == PLEXUS_ERR_CONFIG);
    CHECK_THAT(no_filter.text, Catch::Contains("{\"code\""));
}

TEST_CASE("depot activations: fixed and free amounts, deactivated when the sale is cancelled", "[eguma][connector]") {
    EgumaWorld w;
    auto inst = w.instance();
    json fixed = write_one(*inst, "depot_activations",
                           {{"op", "create"}, {"idempotency_key", "k1"},
                            {"data", {{"code", "d3p0-t4k8-m2n6"}, {"amount", "100.00"}, {"reference_number", "POS-1"}}}});
    REQUIRE(fixed["status"] == PLEXUS_OK);
    CHECK(fixed["target_key"] == std::string("d1:") + sb::kEgumaDepotFixed + "/10000");
    CHECK(w.eguma().depot(sb::kEgumaDepotFixed)->activated);
    // Free amount: the sold amount is sent; without one the record fails before anything.
    json none = write_one(*inst, "depot_activations",
                          {{"op", "create"}, {"idempotency_key", "k2"}, {"data", {{"code", sb::kEgumaDepotFree}}}});
    CHECK(none["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(none["message"].get<std::string>(), Catch::Contains("free amount"));
    json free = write_one(*inst, "depot_activations",
                          {{"op", "create"}, {"idempotency_key", "k2"}, {"data", {{"code", sb::kEgumaDepotFree}, {"amount", 75}}}});
    CHECK(free["target_key"] == std::string("d1:") + sb::kEgumaDepotFree + "/7500");
    // A card already sold, a wrong amount: refused with e-guma's reason, nothing activated.
    json sold = write_one(*inst, "depot_activations",
                          {{"op", "create"}, {"idempotency_key", "k3"}, {"data", {{"code", sb::kEgumaDepotSold}}}});
    CHECK(sold["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(sold["message"].get<std::string>(), Catch::Contains("cannot be activated") && Catch::Contains("verkauft"));
    // Lookup after an interrupted create: the card is sold → found, with its amount.
    json found = ok_json(inst->lookup({{"entity", "depot_activations"}, {"idempotency_key", "k1"},
                                       {"data", {{"code", sb::kEgumaDepotFixed}}}}));
    CHECK(found["found"] == true);
    CHECK(found["record"]["key"] == fixed["target_key"]);
    CHECK(ok_json(inst->lookup({{"entity", "depot_activations"}, {"idempotency_key", "k9"},
                                {"data", {{"code", "D3P0TXXXXXXX"}}}}))["found"] == false);
    // The sale is cancelled: deactivated, once.
    json cancel = write_one(*inst, "depot_activations",
                            {{"op", "update"}, {"idempotency_key", "k1"}, {"target_key", fixed["target_key"]},
                             {"data", {{"code", sb::kEgumaDepotFixed}, {"status", "cancelled"}}}});
    CHECK(cancel["status"] == PLEXUS_OK);
    CHECK(cancel["target_key"] == std::string("d1:") + sb::kEgumaDepotFixed + "/10000/deactivated");
    CHECK_FALSE(w.eguma().depot(sb::kEgumaDepotFixed)->activated);
    const uint64_t before = w.eguma().requests();
    json again = write_one(*inst, "depot_activations",
                           {{"op", "update"}, {"idempotency_key", "k1"}, {"target_key", cancel["target_key"]},
                            {"data", {{"code", sb::kEgumaDepotFixed}, {"status", "cancelled"}}}});
    CHECK(again["status"] == PLEXUS_OK);
    CHECK(w.eguma().requests() == before);
}

TEST_CASE("redemptions: lookup after an interrupted create answers only what it can prove", "[eguma][connector]") {
    EgumaWorld w;
    auto inst = w.instance();
    auto lookup = [&](plexus::ConnectorInstance& i, const json& data) {
        return i.lookup({{"entity", "redemptions"}, {"idempotency_key", "px1"}, {"data", data}});
    };
    // Untouched voucher (balance = total): the redeem did not happen → not found, create.
    json untouched{{"reference_number", "#1001"}, {"vouchers", {{{"code", sb::kEgumaVoucher50}, {"amount", "20.00"}}}}};
    CHECK(ok_json(lookup(*inst, untouched))["found"] == false);
    // No voucher selected, or cancelled: a create redeems nothing → found, r1:none.
    json found = ok_json(lookup(*inst, {{"reference_number", "#1002"}, {"vouchers", json::array()}}));
    CHECK(found["found"] == true);
    CHECK(found["record"]["key"] == "r1:none");
    // A used voucher: e-guma cannot say whether this order's redeem happened → the run stops,
    // naming order, voucher and what to do.
    json used{{"reference_number", "#1003"}, {"vouchers", {{{"code", sb::kEgumaVoucher400of500}, {"amount", "20.00"}}}}};
    auto stop = lookup(*inst, used);
    CHECK(stop.status == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(stop.text, Catch::Contains("#1003") && Catch::Contains("L4FU5LQTKJR3") && Catch::Contains("back office"));
    // …until an operator who checked says so.
    json s = w.settings();
    s["interrupted_redeem"] = "not_redeemed";
    CHECK(ok_json(lookup(*w.instance(s), used))["found"] == false);
    // Empty data (reconcile of a failed record): not said.
    CHECK(ok_json(lookup(*inst, json::object()))["found"] == false);
}

TEST_CASE("redemptions: a second voucher that cannot be redeemed cancels the first again", "[eguma][connector]") {
    EgumaWorld w;
    auto inst = w.instance();
    // Both checked first: the second is not redeemable → nothing redeemed at all.
    json refused = write_one(*inst, "redemptions",
                             {{"op", "create"}, {"idempotency_key", "k1"},
                              {"data", {{"reference_number", "#2001"}, {"amount_due", "120.00"},
                                        {"vouchers", {{{"code", sb::kEgumaVoucher50}}, {{"code", sb::kEgumaVoucherUnpaid}}}}}}});
    CHECK(refused["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(refused["message"].get<std::string>(), Catch::Contains("not redeemable") && Catch::Contains("nothing was redeemed"));
    CHECK(w.eguma().redeems() == 0);
    // The second redeem is lost before it takes effect (its connection dropped, the balance
    // unchanged): the first is cancelled again with its token, and the record fails.
    auto two = w.instance();
    json order{{"reference_number", "#2002"}, {"amount_due", "120.00"},
               {"vouchers", {{{"code", sb::kEgumaVoucher50}}, {{"code", sb::kEgumaVoucher400of500}}}}};
    w.eguma().drop_redeems_before_effect(1, /*after=*/1);
    json r = write_one(*two, "redemptions", {{"op", "create"}, {"idempotency_key", "k2"}, {"data", order}});
    CHECK(r["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(r["message"].get<std::string>(), Catch::Contains("not redeemed") && Catch::Contains("cancelled again"));
    CHECK(w.eguma().redeems() == 1);
    CHECK(w.eguma().cancels() == 1);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher50)->balance == 5000);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 40000);
}

TEST_CASE("redemptions: currency and amount problems fail the record before any redeem", "[eguma][connector]") {
    EgumaWorld w;
    auto inst = w.instance();
    json eur = write_one(*inst, "redemptions",
                         {{"op", "create"}, {"idempotency_key", "k1"},
                          {"data", {{"reference_number", "#3001"}, {"currency", "EUR"}, {"amount_due", "10.00"},
                                    {"vouchers", {{{"code", sb::kEgumaVoucher50}}}}}}});
    CHECK(eur["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(eur["message"].get<std::string>(), Catch::Contains("EUR") && Catch::Contains("CHF"));
    json cents = write_one(*inst, "redemptions",
                           {{"op", "create"}, {"idempotency_key", "k2"},
                            {"data", {{"reference_number", "#3002"}, {"amount_due", "10.005"},
                                      {"vouchers", {{{"code", sb::kEgumaVoucher50}}}}}}});
    CHECK(cents["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(cents["message"].get<std::string>(), Catch::Contains("amount_due") && Catch::Contains("two decimals"));
    CHECK(w.eguma().redeems() == 0);
    // The same voucher twice (scanned twice): its balance is used once.
    json twice = write_one(*inst, "redemptions",
                           {{"op", "create"}, {"idempotency_key", "k3"},
                            {"data", {{"reference_number", "#3003"}, {"amount_due", "500.00"},
                                      {"vouchers", {{{"code", sb::kEgumaVoucher50}}, {{"code", "k7pm-2xq9-wb4d"}}}}}}});
    CHECK(twice["status"] == PLEXUS_OK);
    CHECK(w.eguma().redeems() == 1);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher50)->balance == 0);
}

TEST_CASE("the API key stays out of every error the connector returns", "[eguma][connector][secrets]") {
    EgumaWorld w;
    json s = w.settings();
    s["api_key"] = "NOT-A-KEY-0815-geheim";
    auto inst = w.instance(s);
    auto check = inst->check();
    CHECK(check.status == PLEXUS_ERR_AUTH);
    CHECK_THAT(check.text, Catch::Contains("HTTP 401") && Catch::Contains("api_key"));
    auto write = inst->write_batch({{"entity", "redemptions"},
                                    {"records", {{{"op", "create"}, {"idempotency_key", "k"},
                                                  {"data", {{"amount_due", "1.00"}, {"vouchers", {{{"code", sb::kEgumaVoucher50}}}}}}}}}});
    CHECK(write.status == PLEXUS_ERR_AUTH);
    // Transient: the server is gone.
    json gone = w.settings();
    gone["base_url"] = "http://127.0.0.1:1";
    auto down = w.instance(gone)->read_page({{"entity", "voucher_balance"}, {"limit", 1}, {"cursor", nullptr},
                                             {"filter", {{"code", sb::kEgumaVoucher50}}}});
    CHECK(down.status == PLEXUS_ERR_TRANSIENT);
    for (const std::string& text : {check.text, write.text, down.text}) {
        INFO(text);
        CHECK(text.find("NOT-A-KEY-0815-geheim") == std::string::npos);
        CHECK(text.find(sb::kEgumaKeyOutlet1) == std::string::npos);
        CHECK(text.find("apikey") == std::string::npos);
    }
}

TEST_CASE("sales events: read from the inbox's events, one record per sale, no HTTP", "[eguma][connector][sales]") {
    EgumaWorld w;
    auto inst = w.instance();
    // The sandbox pushes its events to a stand-in for the hub's inbox (signature checked as
    // the contract says); the host then hands stored events to the read.
    httplib::Server hook;
    std::mutex m;
    json stored = json::array();
    hook.Post("/webhooks/eguma", [&](const httplib::Request& req, httplib::Response& res) {
        const std::string ts = req.get_header_value("X-Eguma-Timestamp");
        if (req.get_header_value("X-Eguma-Signature") != "sha256=" + sb::eguma_hmac_hex("whsec-sandbox", ts + "." + req.body)) {
            res.status = 401;
            return;
        }
        std::lock_guard lock(m);
        stored.push_back({{"seq", static_cast<int64_t>(stored.size()) + 100}, {"id", req.get_header_value("X-Eguma-Event-Id")},
                          {"topic", req.get_header_value("X-Eguma-Event-Type")}, {"received_at", "2026-12-06T10:00:00Z"},
                          {"body", json::parse(req.body)}});
        res.status = 200;
    });
    const int port = hook.bind_to_any_port("127.0.0.1");
    std::thread t([&] { hook.listen_after_bind(); });
    w.eguma().set_hook("http://127.0.0.1:" + std::to_string(port) + "/webhooks/eguma", "whsec-sandbox");
    std::string error;
    json sale = w.eguma().sales_action({{"action", "sale"}, {"lines", {{{"kind", "voucher"}, {"item_id", "P1"}, {"name", "Wertgutschein CHF 50"},
                                                                         {"unit_price_in_cents", 5000}, {"quantity", 10}},
                                                                        {{"kind", "ticket"}, {"item_id", "T1"}, {"name", "Konzert"},
                                                                         {"unit_price_in_cents", 4500}, {"quantity", 2}}}}},
                                       error);
    REQUIRE(error.empty());
    const std::string id = sale["id"];
    w.eguma().sales_action({{"action", "pay"}, {"sale_id", id}}, error);
    w.eguma().sales_action({{"action", "organisation"}, {"voucher_code", "ORG0VOUCHER1"}, {"amount_in_cents", 8000}}, error);
    REQUIRE(w.eguma().wait_delivered(10000));
    hook.stop();
    t.join();
    REQUIRE(stored.size() == 3);

    const uint64_t requests = w.eguma().requests();
    json page = ok_json(inst->read_page({{"entity", "sales_events"}, {"limit", 10}, {"cursor", nullptr},
                                         {"events", stored}, {"events_more", false}}));
    CHECK(w.eguma().requests() == requests);  // the inbox is read, not e-guma
    REQUIRE(page["records"].size() == 2);
    CHECK(page["records"][0]["key"] == id);
    CHECK(page["records"][0]["cursor"] == "101");
    CHECK(page["records"][0]["data"]["status"] == "paid");
    CHECK(page["records"][0]["data"]["totals"]["voucher"] == "500.00");
    CHECK(page["records"][0]["data"]["totals"]["ticket"] == "90.00");
    CHECK(page["records"][1]["data"]["kind"] == "redemption");
    CHECK(page["records"][1]["data"]["redemptions"][0]["booking"] == "organisation");
    CHECK(page["next_cursor"] == "102");
    CHECK(page["has_more"] == false);

    // A later event for the same sale: same key, changed data (the engine sends an update).
    w.eguma().sales_action({{"action", "cancel"}, {"sale_id", id}}, error);
    json later = ok_json(inst->read_page({{"entity", "sales_events"}, {"limit", 10}, {"cursor", "102"},
                                          {"events", {{{"seq", 103}, {"id", "evt_x"}, {"topic", "sale.cancelled"},
                                                       {"body", {{"type", "sale.cancelled"},
                                                                 {"sale", {{"id", id}, {"version", 3}, {"status", "cancelled"},
                                                                           {"currency", "CHF"}, {"lines", sale["lines"]}}}}}}}},
                                          {"events_more", true}}));
    REQUIRE(later["records"].size() == 1);
    CHECK(later["records"][0]["key"] == id);
    CHECK(later["records"][0]["data"]["total_in_cents"] == 0);
    CHECK(later["has_more"] == true);
    // No events: the cursor stays.
    json empty = ok_json(inst->read_page({{"entity", "sales_events"}, {"limit", 10}, {"cursor", "103"}, {"events", json::array()}}));
    CHECK(empty["records"].empty());
    CHECK(empty["next_cursor"] == "103");
    // A malformed event is skipped (logged), the cursor passes it.
    json bad = ok_json(inst->read_page({{"entity", "sales_events"}, {"limit", 10}, {"cursor", "103"},
                                        {"events", {{{"seq", 104}, {"id", "evt_bad"}, {"topic", "sale.created"}, {"body", {{"sale", 1}}}}}}}));
    CHECK(bad["records"].empty());
    CHECK(bad["next_cursor"] == "104");
}
