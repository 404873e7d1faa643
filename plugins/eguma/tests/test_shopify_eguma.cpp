// Voucher redemptions Shopify→e-guma (config/shopify-eguma.json) end to end: the real engine,
// store and plugin host, the Shopify sandbox and the e-guma sandbox. Money is counted in the
// e-guma sandbox itself: its balances, its redemptions and their redeem tokens.
#include "eguma_fixture.hpp"

#include <chrono>
#include <thread>

using namespace eguma_test;
namespace sb = plexus::sandbox;


TEST_CASE("an order paid partly by voucher redeems min(due, balance) once, and a second run writes nothing",
          "[eguma][e2e]") {
    ShopifyEgumaWorld w;
    // CHF 150, 50 paid by card: 100 due from the voucher (400 left on it) → 100 redeemed.
    const int64_t a = w.voucher_order("150.00", "50.00", "l4fu-5lqt-kjr3");
    // CHF 120, nothing paid: the voucher, entered as its voucher2mobile short code, holds 50 →
    // 50 redeemed from the code balance returned, 70 stay outstanding in Shopify.
    const int64_t b = w.voucher_order("120.00", "0.00", sb::kEgumaShortCode);
    // Paid by discount code (the second process): CHF 30 of the 400 voucher; WELCOME10 is a
    // promotion, not a voucher.
    const int64_t c = w.shop().add_voucher_order(
        {{"total", "80.00"}, {"paid", "50.00"}, {"gateways", {"shopify_payments"}},
         {"discount_codes", {{{"code", "WELCOME10"}, {"amount", "0.00"}, {"type", "percentage"}},
                             {{"code", "L4FU-5LQT-KJR3"}, {"amount", "30.00"}, {"type", "fixed_amount"}}}}});

    auto first = w.run(kGateway);
    INFO(first.message);
    REQUIRE(first.status == "succeeded");
    CHECK(first.counts.read == 15);  // 12 seeded orders (no voucher gateway) and the three above
    CHECK(first.counts.created == 15);
    CHECK(first.counts.failed == 0);
    CHECK(w.eguma().redeems() == 2);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 30000);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher50)->balance == 0);
    // The redeem tokens are in the ledger's target keys, with the code balance returned.
    const auto va = *w.eguma().voucher(sb::kEgumaVoucher400of500);
    REQUIRE(va.redemptions.size() == 1);
    CHECK(va.redemptions[0].cents == 10000);
    CHECK(va.redemptions[0].reference == w.shop().object("orders", a)["name"]);
    CHECK(w.target_of(kGateway, a) == "r1:L4FU5LQTKJR3/10000/" + va.redemptions[0].token);
    const auto vb = *w.eguma().voucher(sb::kEgumaVoucher50);
    REQUIRE(vb.redemptions.size() == 1);
    CHECK(w.target_of(kGateway, b) == "r1:K7PM2XQ9WB4D/5000/" + vb.redemptions[0].token);
    CHECK(w.target_of(kGateway, c) == "r1:none");

    auto discounts = w.run(kDiscount);
    REQUIRE(discounts.status == "succeeded");
    CHECK(w.eguma().redeems() == 3);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 27000);
    CHECK_THAT(w.target_of(kDiscount, c), Catch::StartsWith("r1:L4FU5LQTKJR3/3000/"));
    CHECK(w.target_of(kDiscount, a) == "r1:none");

    // Again: nothing new in Shopify, nothing sent to e-guma.
    const uint64_t requests = w.eguma().requests();
    for (const char* p : {kGateway, kDiscount}) {
        auto again = w.run(p);
        REQUIRE(again.status == "succeeded");
        CHECK(again.counts.created + again.counts.updated == 0);
    }
    CHECK(w.eguma().requests() == requests);
    CHECK(w.eguma().redeems() == 3);
}

TEST_CASE("a cancelled order cancels its redemption with the redeem token, once", "[eguma][e2e]") {
    ShopifyEgumaWorld w;
    const int64_t a = w.voucher_order("150.00", "50.00", "L4FU5LQTKJR3");
    REQUIRE(w.run(kGateway).status == "succeeded");
    REQUIRE(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 30000);

    // Cancelled in Shopify (the card part refunded): the next run updates the record, which
    // cancels the redemption; the target key now says so. (A second later: Shopify's
    // updated_at has one-second resolution, and the read skips what it saw at that second.)
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    httplib::Client shop(w.shop_server.base_url());
    auto r = shop.Post(("/admin/api/2024-04/orders/" + std::to_string(a) + "/cancel.json").c_str(),
                       {{"X-Shopify-Access-Token", "shpat_sandbox"}}, R"({"reason": "customer", "refund": true})",
                       "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto run = w.run(kGateway);
    INFO(run.message);
    REQUIRE(run.status == "succeeded");
    CHECK(run.counts.updated == 1);
    CHECK(w.eguma().cancels() == 1);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 40000);
    const auto v = *w.eguma().voucher(sb::kEgumaVoucher400of500);
    REQUIRE(v.redemptions.size() == 1);
    CHECK(v.redemptions[0].cancelled_cents == 10000);
    CHECK(w.target_of(kGateway, a) == "r1:L4FU5LQTKJR3/10000/" + v.redemptions[0].token + "/cancelled");

    // Runs after that cancel nothing more…
    REQUIRE(w.run(kGateway).status == "succeeded");
    CHECK(w.eguma().cancels() == 1);
    // …nor does an update that arrives again for the cancelled record (a changed order whose
    // ledger entry already says cancelled): no request reaches e-guma.
    const uint64_t before = w.eguma().requests();
    json reply = ok_json(w.instance()->write_batch(
        {{"entity", "redemptions"},
         {"records", {{{"op", "update"}, {"idempotency_key", "k"}, {"target_key", w.target_of(kGateway, a)},
                       {"data", {{"reference_number", "#x"}, {"cancelled", "2024-05-01T10:00:00Z"}}}}}}}));
    CHECK(reply["results"][0]["status"] == PLEXUS_OK);
    CHECK(w.eguma().requests() == before);
    CHECK(w.eguma().cancels() == 1);

    // An order cancelled before its first run is never redeemed.
    const int64_t late = w.voucher_order("60.00", "0.00", sb::kEgumaVoucher50);
    REQUIRE(shop.Post(("/admin/api/2024-04/orders/" + std::to_string(late) + "/cancel.json").c_str(),
                      {{"X-Shopify-Access-Token", "shpat_sandbox"}}, "{}", "application/json"));
    REQUIRE(w.run(kGateway).status == "succeeded");
    CHECK(w.target_of(kGateway, late) == "r1:none");
    CHECK(w.eguma().voucher(sb::kEgumaVoucher50)->balance == 5000);
}

TEST_CASE("a redeem that times out after it took effect is resolved by the balance, never redeemed twice",
          "[eguma][e2e][timeout]") {
    ShopifyEgumaWorld w;
    w.config["connections"]["eguma"]["settings"]["timeout_ms"] = 300;
    const int64_t a = w.voucher_order("150.00", "50.00", "L4FU5LQTKJR3");
    // e-guma makes the redemption, then its answer comes after the connector gave up.
    w.eguma().hang_redeems_after_effect(1, 1200);
    LogCapture logs;
    auto run = w.run(kGateway);
    INFO(run.message);
    REQUIRE(run.status == "succeeded");
    CHECK(run.counts.created == 13);
    CHECK(w.eguma().redeems() == 1);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 30000);
    // Kept as redeemed, token unknown (the answer was lost), and said so in the log.
    CHECK(w.target_of(kGateway, a) == "r1:L4FU5LQTKJR3/10000/?");
    CHECK_THAT(logs.text(), Catch::Contains("the balance shows it was made"));

    // Nothing is redeemed again by later runs…
    REQUIRE(w.run(kGateway).status == "succeeded");
    CHECK(w.eguma().redeems() == 1);
    // …and its cancellation, which needs the token, is left to the back office, loudly.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    httplib::Client shop(w.shop_server.base_url());
    REQUIRE(shop.Post(("/admin/api/2024-04/orders/" + std::to_string(a) + "/cancel.json").c_str(),
                      {{"X-Shopify-Access-Token", "shpat_sandbox"}}, R"({"refund": true})", "application/json"));
    auto cancel = w.run(kGateway);
    CHECK(cancel.counts.failed == 1);
    CHECK(w.eguma().cancels() == 0);
    bool said = false;
    for (const auto& o : w.outcomes(cancel.run_id))
        if (o.action == "failed") said = o.message.find("cancel it in the e-guma back office") != std::string::npos;
    CHECK(said);
}

TEST_CASE("a redeem that never took effect is not counted, and a replay redeems it once", "[eguma][e2e][timeout]") {
    ShopifyEgumaWorld w;
    const int64_t a = w.voucher_order("150.00", "50.00", "L4FU5LQTKJR3");
    // The redeem's connection is dropped before e-guma acts on it: no answer, balance unchanged.
    w.eguma().drop_redeems_before_effect(1);
    auto run = w.run(kGateway);
    CHECK(run.counts.failed == 1);
    CHECK(w.eguma().redeems() == 0);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 40000);
    std::string message;
    for (const auto& o : w.outcomes(run.run_id))
        if (o.action == "failed") message = o.message;
    CHECK_THAT(message, Catch::Contains("the balance is unchanged: not redeemed"));
    // The replay redeems it, once.
    auto replay = w.replay(kGateway);
    INFO(replay.message);
    CHECK(replay.counts.created == 1);
    CHECK(w.eguma().redeems() == 1);
    CHECK(w.eguma().voucher(sb::kEgumaVoucher400of500)->balance == 30000);
    CHECK_THAT(w.target_of(kGateway, a), Catch::StartsWith("r1:L4FU5LQTKJR3/10000/"));
    REQUIRE(w.run(kGateway).status == "succeeded");
    CHECK(w.eguma().redeems() == 1);
}

TEST_CASE("the API key never appears in logs, outcomes, run messages or errors", "[eguma][e2e][secrets]") {
    ShopifyEgumaWorld w;
    w.voucher_order("150.00", "50.00", "L4FU5LQTKJR3");
    w.voucher_order("90.00", "0.00", sb::kEgumaVoucherRedeemed);  // not redeemable: a failure
    LogCapture logs;
    plexus::configure_logging("debug");
    auto ok_run = w.run(kGateway);
    CHECK(ok_run.counts.failed == 1);
    // A wrong key: the run fails at once with one clear error.
    w.config["connections"]["eguma"]["settings"]["api_key"] = "WRONG-KEY-4711-secret";
    w.voucher_order("70.00", "0.00", sb::kEgumaVoucher50);
    auto bad = w.run(kGateway);
    plexus::configure_logging("info");
    CHECK(bad.status == "failed");
    CHECK_THAT(bad.message, Catch::Contains("e-guma refused the API key (HTTP 401"));
    std::string everything = logs.text() + "\n" + ok_run.message + "\n" + bad.message;
    for (auto run_id : {ok_run.run_id, bad.run_id})
        for (const auto& o : w.outcomes(run_id)) everything += "\n" + o.target_key + " " + o.message;
    for (const auto& lines : w.eguma().request_lines()) CHECK(lines.find("apikey=") != std::string::npos);
    CHECK(everything.find(sb::kEgumaKeyOutlet1) == std::string::npos);
    CHECK(everything.find("WRONG-KEY-4711-secret") == std::string::npos);
    CHECK(everything.find("apikey=") == std::string::npos);
    CHECK_THAT(everything, Catch::Contains("is not redeemable"));
}
