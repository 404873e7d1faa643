// Maison and organisation redemptions as records of their own (README "redemption_events"):
// one record per redemption, from the same inbox events as sales_events, folded to each
// sale's newest state; a redemption is cancelled when e-guma marks it or its sale cancelled.
#include "eguma_wire.hpp"

#include <catch2/catch.hpp>

using namespace plexus::eguma;
using json = nlohmann::json;

namespace {
json redemption(const std::string& id, const std::string& booking, int64_t cents, bool cancelled = false) {
    return {{"redemption_id", id}, {"booking", booking}, {"voucher_code", "L4FU5LQTKJR3"},
            {"amount_in_cents", cents}, {"payment_method", booking == "maison" ? "Maison Bar" : "Organisation"},
            {"redeemed_at", "2026-12-06T10:00:00Z"}, {"cancelled", cancelled}};
}
json event(const std::string& sale, int version, const std::string& status, const json& redemptions,
           const std::string& kind = "redemption") {
    return {{"id", "evt"}, {"type", "redemption.maison"},
            {"sale", {{"id", sale}, {"version", version}, {"kind", kind}, {"currency", "CHF"}, {"status", status},
                      {"lines", json::array()}, {"redemptions", redemptions}}}};
}
}  // namespace

TEST_CASE("redemption events: one record per redemption, at its sale's newest state", "[eguma][wire][sales]") {
    std::vector<SalesEvent> events{
        {21, "e21", "redemption.maison", event("RED-1", 1, "paid", json::array({redemption("RED-1-R1", "maison", 12000)}))},
        {22, "e22", "sale.created", event("ORD-2", 1, "open", json::array(), "order")},
        {23, "e23", "redemption.organisation",
         event("ORD-2", 2, "open", json::array({redemption("ORD-2-R1", "organisation", 8050)}), "order")},
        {24, "e24", "redemption.cancelled",
         event("RED-1", 2, "paid", json::array({redemption("RED-1-R1", "maison", 12000, true)}))},
        {25, "e25", "sale.created", json{{"sale", "nonsense"}}}};
    auto f = fold_redemption_events(events);
    CHECK(f.last_seq == 25);
    REQUIRE(f.problems.size() == 1);
    CHECK(f.problems[0].seq == 25);
    // ORD-2 (last event 23) before RED-1 (last event 24); the order without redemptions at 22
    // yields nothing.
    REQUIRE(f.records.size() == 2);
    CHECK(f.records[0].key == "ORD-2-R1");
    CHECK(f.records[0].cursor == "23");
    CHECK(f.records[0].data["booking"] == "organisation");
    CHECK(f.records[0].data["redeemed_amount"] == "80.50");
    CHECK(f.records[0].data["amount"] == "80.50");
    CHECK(f.records[0].data["cancelled"] == false);
    CHECK(f.records[0].data["sale_id"] == "ORD-2");
    CHECK(f.records[0].data["sale_kind"] == "order");
    CHECK(f.records[1].key == "RED-1-R1");
    CHECK(f.records[1].cursor == "24");
    CHECK(f.records[1].data["cancelled"] == true);
    CHECK(f.records[1].data["amount_in_cents"] == 0);  // as in sales_events: nothing booked any more
    CHECK(f.records[1].data["redeemed_amount_in_cents"] == 12000);  // what the reversal undoes
    CHECK(f.records[1].data["event_id"] == "e24");
    CHECK(f.records[1].data["version"] == 2);
    CHECK(f.records[1].data["currency"] == "CHF");
}

TEST_CASE("redemption events: a cancelled sale cancels its redemptions", "[eguma][wire][sales]") {
    std::vector<SalesEvent> events{
        {5, "e5", "sale.cancelled",
         event("ORD-9", 3, "cancelled", json::array({redemption("ORD-9-R1", "maison", 5000),
                                                     redemption("ORD-9-R2", "organisation", 2500)}), "order")}};
    auto f = fold_redemption_events(events);
    REQUIRE(f.records.size() == 2);
    for (const auto& r : f.records) {
        CHECK(r.data["cancelled"] == true);
        CHECK(r.data["amount_in_cents"] == 0);
        CHECK(r.data["sale_status"] == "cancelled");
    }
    CHECK(f.records[1].data["redeemed_amount"] == "25.00");
    // sales_events says the same about the sale's redemptions.
    auto s = normalise_sale(events[0].body, "sale.cancelled");
    CHECK(s["redemptions"][0]["cancelled"] == true);
    CHECK(s["redemptions"][0]["amount"] == "0.00");
    CHECK(s["redemptions"][0]["redeemed_amount"] == "50.00");
}
