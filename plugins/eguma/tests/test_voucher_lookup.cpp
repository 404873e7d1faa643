// voucher_balance looked up by key, as the portal's connection "Look up" (POST
// /api/connections/{id}/lookup {entity, key}) and `plexus connector lookup` ask it for the
// support staff's check-balance page (seed 001): the code however it was typed (dashes, lower
// case, a voucher2mobile short code), answered with what a support person needs — the code
// as e-guma knows it, balance, total, currency, a status in words, validity, name.
#include "eguma_fixture.hpp"
#include "eguma_wire.hpp"

using namespace eguma_test;
namespace sb = plexus::sandbox;

TEST_CASE("voucher status words for the check-balance page", "[eguma][wire]") {
    using plexus::eguma::voucher_status;
    CHECK(voucher_status(true, true, 5000, "2027-12-31T00:00:00", "2026-12-06") == "redeemable");
    CHECK(voucher_status(false, false, 0, "", "2026-12-06") == "unknown");
    CHECK(voucher_status(true, false, 5000, "2024-12-31T00:00:00", "2026-12-06") == "expired");
    CHECK(voucher_status(true, false, 0, "2027-12-31T00:00:00", "2026-12-06") == "used_up");
    CHECK(voucher_status(true, false, 10000, "2027-12-31T00:00:00", "2026-12-06") == "not_redeemable");
    CHECK(voucher_status(true, false, 10000, "", "2026-12-06") == "not_redeemable");  // no validity known
    CHECK(voucher_status(true, false, 100, "2026-12-06T00:00:00", "2026-12-06") == "not_redeemable");  // valid today
}

TEST_CASE("voucher balance lookup by key: what a support person reads", "[eguma][connector]") {
    EgumaWorld w;
    auto inst = w.instance();
    auto look = [&](const std::string& key) {
        return ok_json(inst->lookup({{"entity", "voucher_balance"}, {"key", key}}));
    };
    // Printed form, lower case: normalised; validity and name from info.json.
    json partly = look("l4fu-5lqt-kjr3");
    REQUIRE(partly["found"] == true);
    CHECK(partly["record"]["key"] == sb::kEgumaVoucher400of500);
    const json& d = partly["record"]["data"];
    CHECK(d["code"] == sb::kEgumaVoucher400of500);
    CHECK(d["entered"] == "l4fu-5lqt-kjr3");
    CHECK(d["status"] == "redeemable");
    CHECK(d["balance"] == "400.00");
    CHECK(d["total_amount"] == "500.00");
    CHECK(d["currency"] == "CHF");
    CHECK(d["valid_until"] == "2027-12-31T00:00:00");
    CHECK(d["expired"] == false);
    CHECK(d["name"] == "Wertgutschein CHF 500");

    // A short code: answered with the voucher's real code (the one to use afterwards).
    json shortc = look(sb::kEgumaShortCode);
    REQUIRE(shortc["found"] == true);
    CHECK(shortc["record"]["data"]["code"] == sb::kEgumaVoucher50);
    CHECK(shortc["record"]["data"]["balance_in_cents"] == 5000);

    // Not redeemable, each with its reason.
    json used = look(sb::kEgumaVoucherRedeemed);
    REQUIRE(used["found"] == true);
    CHECK(used["record"]["data"]["status"] == "used_up");
    CHECK_FALSE(used["record"]["data"]["message"].get<std::string>().empty());
    json unpaid = look(sb::kEgumaVoucherUnpaid);
    CHECK(unpaid["record"]["data"]["status"] == "not_redeemable");
    CHECK_THAT(unpaid["record"]["data"]["message"].get<std::string>(), Catch::Contains("bezahlt"));
    json expired = look(sb::kEgumaVoucherExpired);
    REQUIRE(expired["found"] == true);
    CHECK(expired["record"]["data"]["status"] == "expired");
    CHECK(expired["record"]["data"]["expired"] == true);
    CHECK(expired["record"]["data"]["balance"] == "50.00");

    // Unknown: not found. A code with characters e-guma never prints: a validation error
    // that names it.
    CHECK(look("NOSUCHCODE00")["found"] == false);
    auto bad = inst->lookup({{"entity", "voucher_balance"}, {"key", "L4FU/5LQT"}});
    CHECK(bad.status == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(bad.text, Catch::Contains("L4FU/5LQT"));
}
