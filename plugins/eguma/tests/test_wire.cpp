// The connector's pure functions (src/eguma_wire.cpp): codes, cents, target keys, what a
// mapped redemption asks for, and the folding of sales events into one record per sale.
#include "eguma_wire.hpp"

#include <catch2/catch.hpp>

using namespace plexus::eguma;

TEST_CASE("voucher codes: with or without dashes, any case, short codes kept", "[eguma][wire]") {
    CHECK(normalise_code("L4FU-5LQT-KJR3") == std::optional<std::string>("L4FU5LQTKJR3"));
    CHECK(normalise_code(" l4fu5lqtkjr3\n") == std::optional<std::string>("L4FU5LQTKJR3"));
    CHECK(normalise_code("L4FU 5LQT KJR3") == std::optional<std::string>("L4FU5LQTKJR3"));
    CHECK(normalise_code("48213957") == std::optional<std::string>("48213957"));    // a short code, as typed
    CHECK(normalise_code("ab.12-x") == std::optional<std::string>("ab.12-x"));
    std::string why;
    CHECK_FALSE(normalise_code("   ", &why));
    CHECK(why == "the voucher code is empty");
    CHECK_FALSE(normalise_code("L4FU/5LQT", &why));
    CHECK_THAT(why, Catch::Contains("letters, digits"));
    CHECK(comparable_code("l4fu-5lqt-kjr3") == comparable_code("L4FU5LQTKJR3"));
    CHECK(path_encode("A B/ü") == "A%20B%2F%C3%BC");
}

TEST_CASE("money: decimal text or numbers to integer cents, exactly", "[eguma][wire]") {
    using nlohmann::json;
    CHECK(cents_of(json("125.50")) == std::optional<int64_t>(12550));
    CHECK(cents_of(json("125.5")) == std::optional<int64_t>(12550));
    CHECK(cents_of(json("125")) == std::optional<int64_t>(12500));
    CHECK(cents_of(json(".5")) == std::optional<int64_t>(50));
    CHECK(cents_of(json("12.500")) == std::optional<int64_t>(1250));
    CHECK(cents_of(json(0.1 + 0.2)) == std::optional<int64_t>(30));
    CHECK(cents_of(json(19.99)) == std::optional<int64_t>(1999));
    CHECK(cents_of(json(7)) == std::optional<int64_t>(700));
    std::string why;
    CHECK_FALSE(cents_of(json("12.505"), &why));
    CHECK_THAT(why, Catch::Contains("more than two decimals"));
    CHECK_FALSE(cents_of(json("-1.00"), &why));
    CHECK_THAT(why, Catch::Contains("negative"));
    CHECK_FALSE(cents_of(json("12,50"), &why));
    CHECK_FALSE(cents_of(json(nullptr), &why));
    CHECK_THAT(why, Catch::Contains("missing"));
    CHECK_FALSE(cents_of(json(1.234)));
    CHECK(format_cents(12550) == "125.50");
    CHECK(format_cents(5) == "0.05");
    CHECK(format_cents(-250) == "-2.50");
}

TEST_CASE("redemption target keys carry code, cents, token and the cancellation", "[eguma][wire]") {
    std::vector<Redemption> r{{"L4FU5LQTKJR3", 12550, "b83d60f5-dbe6-4ada-92f2-0ed2b3ccdc66", false},
                              {"K7PM2XQ9WB4D", 500, "?", true}};
    const std::string key = encode_redemptions(r);
    CHECK(key == "r1:L4FU5LQTKJR3/12550/b83d60f5-dbe6-4ada-92f2-0ed2b3ccdc66,K7PM2XQ9WB4D/500/?/cancelled");
    auto back = decode_redemptions(key);
    REQUIRE(back);
    REQUIRE(back->size() == 2);
    CHECK((*back)[0].token == "b83d60f5-dbe6-4ada-92f2-0ed2b3ccdc66");
    CHECK((*back)[0].cents == 12550);
    CHECK_FALSE((*back)[0].cancelled);
    CHECK((*back)[1].cancelled);
    CHECK(encode_redemptions({}) == "r1:none");
    CHECK(decode_redemptions("r1:none")->empty());
    for (const char* bad : {"", "r2:none", "r1:", "r1:A/x/t", "r1:A/1", "r1:A/1/t/gone", "d1:A/1"}) {
        INFO(bad);
        CHECK_FALSE(decode_redemptions(bad));
    }
    DepotState d{"D3P0T4K8M2N6", 10000, false, false};
    CHECK(encode_depot(d) == "d1:D3P0T4K8M2N6/10000");
    d.deactivated = true;
    CHECK(decode_depot(encode_depot(d))->deactivated);
    CHECK(decode_depot("d1:none")->none);
    CHECK_FALSE(decode_depot("d1:X/1/sold"));
}

TEST_CASE("a mapped Shopify order: which payments are vouchers, and how much", "[eguma][wire]") {
    using nlohmann::json;
    json gateway_order{{"reference_number", "#1001"},
                       {"currency", "chf"},
                       {"gateways", {"shopify_payments", "e-guma"}},
                       {"voucher_gateway", "e-guma"},
                       {"voucher_label", "e-guma voucher"},
                       {"vouchers", {{{"code", "yes"}, {"label", "gift wrap"}}, {{"code", "l4fu-5lqt-kjr3"}, {"label", "e-guma voucher"}}}},
                       {"amount_due", "100.00"},
                       {"cancelled", nullptr},
                       {"status", "partially_paid"}};
    auto r = parse_redemption_request(gateway_order);
    CHECK(r.reference == "#1001");
    CHECK(r.currency == "CHF");
    REQUIRE(r.vouchers.size() == 1);
    CHECK(r.vouchers[0].code == "L4FU5LQTKJR3");
    CHECK(r.total_due == std::optional<int64_t>(10000));
    CHECK_FALSE(r.cancelled);

    json not_by_voucher = gateway_order;
    not_by_voucher["gateways"] = {"shopify_payments"};
    CHECK(parse_redemption_request(not_by_voucher).vouchers.empty());

    json cancelled = gateway_order;
    cancelled["cancelled"] = "2024-05-01T10:00:00+02:00";
    CHECK(parse_redemption_request(cancelled).cancelled);
    json refunded = gateway_order;
    refunded["status"] = "Refunded";
    CHECK(parse_redemption_request(refunded).cancelled);
    CHECK(is_cancelled({{"status", "voided"}}));
    CHECK_FALSE(is_cancelled({{"status", "paid"}, {"cancelled", ""}}));

    json discounts{{"voucher_code_pattern", "^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$"},
                   {"vouchers", {{{"code", "WELCOME10"}, {"amount", "5.00"}}, {{"code", "K7PM-2XQ9-WB4D"}, {"amount", "30.00"}}}}};
    auto d = parse_redemption_request(discounts);
    REQUIRE(d.vouchers.size() == 1);
    CHECK(d.vouchers[0].code == "K7PM2XQ9WB4D");
    CHECK(d.vouchers[0].cap == std::optional<int64_t>(3000));

    // Clear errors, naming the field.
    json no_amount{{"vouchers", {{{"code", "K7PM2XQ9WB4D"}}}}};
    CHECK_THROWS_WITH(parse_redemption_request(no_amount), Catch::Contains("vouchers[0]: no amount"));
    json bad_amount{{"vouchers", {{{"code", "K7PM2XQ9WB4D"}, {"amount", "ten"}}}}};
    CHECK_THROWS_WITH(parse_redemption_request(bad_amount), Catch::Contains("vouchers[0].amount"));
    json bad_code = gateway_order;
    bad_code["vouchers"][1]["code"] = "L4FU/5LQT";
    CHECK_THROWS_WITH(parse_redemption_request(bad_code), Catch::Contains("vouchers[1].code"));
    json bad_pattern = discounts;
    bad_pattern["voucher_code_pattern"] = "([";
    CHECK_THROWS_WITH(parse_redemption_request(bad_pattern), Catch::Contains("voucher_code_pattern"));

    // min(what is still due, the voucher's own amount, its balance).
    CHECK(amount_to_redeem(10000, std::nullopt, 40000) == 10000);
    CHECK(amount_to_redeem(12000, std::nullopt, 5000) == 5000);
    CHECK(amount_to_redeem(std::nullopt, 3000, 40000) == 3000);
    CHECK(amount_to_redeem(2000, 3000, 40000) == 2000);
    CHECK(amount_to_redeem(0, 3000, 40000) == 0);
}

namespace {
nlohmann::json sale_event(const std::string& id, int version, const std::string& status, int cancelled_qty = 0) {
    return {{"id", "evt"}, {"type", "sale.created"},
            {"sale", {{"id", id}, {"version", version}, {"kind", "order"}, {"invoice_number", "R-1"},
                      {"currency", "chf"}, {"status", status}, {"payment_method", "Kreditkarte"},
                      {"lines", {{{"line_id", "L1"}, {"kind", "voucher"}, {"item_id", "P1"}, {"name", "Wertgutschein CHF 50"},
                                  {"unit_price_in_cents", 5000}, {"quantity", 10}, {"cancelled_quantity", cancelled_qty}},
                                 {{"line_id", "L2"}, {"kind", "shipping"}, {"item_id", "S"}, {"name", "Post"},
                                  {"unit_price_in_cents", 900}, {"quantity", 1}},
                                 {{"line_id", "L3"}, {"kind", "ticket"}, {"item_id", "T"}, {"name", "Konzert"},
                                  {"unit_price_in_cents", 4500}, {"quantity", 2}}}},
                      {"redemptions", nlohmann::json::array()}}}};
}
}  // namespace

TEST_CASE("a sale event becomes the sale's current state, totals per item kind", "[eguma][wire][sales]") {
    auto d = normalise_sale(sale_event("ORD-1", 1, "open"), "sale.created");
    CHECK(d["sale_id"] == "ORD-1");
    CHECK(d["currency"] == "CHF");
    CHECK(d["status"] == "open");
    CHECK(d["event_type"] == "sale.created");
    CHECK(d["lines"].size() == 3);
    CHECK(d["lines"][0]["amount"] == "500.00");  // ten CHF 50 vouchers: one CHF 500 line
    CHECK(d["totals"]["voucher"] == "500.00");
    CHECK(d["totals"]["shipping"] == "9.00");
    CHECK(d["totals"]["ticket"] == "90.00");
    CHECK(d["totals"]["product"] == "0.00");
    CHECK(d["total_in_cents"] == 59900);
    // Two vouchers cancelled: 8 sold; the whole sale cancelled: nothing sold.
    auto part = normalise_sale(sale_event("ORD-1", 2, "paid", 2), "sale.cancelled");
    CHECK(part["lines"][0]["quantity"] == 8);
    CHECK(part["lines"][0]["ordered_quantity"] == 10);
    CHECK(part["totals_in_cents"]["voucher"] == 40000);
    auto all = normalise_sale(sale_event("ORD-1", 3, "cancelled"), "sale.cancelled");
    CHECK(all["total_in_cents"] == 0);

    // Bad input: the JSON path of what is wrong.
    auto bad = sale_event("ORD-1", 1, "open");
    bad["sale"]["lines"][1]["kind"] = "gift";
    CHECK_THROWS_WITH(normalise_sale(bad, ""), Catch::Contains("/sale/lines/1/kind"));
    bad = sale_event("ORD-1", 1, "open");
    bad["sale"]["lines"][0]["unit_price_in_cents"] = "50.00";
    CHECK_THROWS_WITH(normalise_sale(bad, ""), Catch::Contains("/sale/lines/0/unit_price_in_cents") && Catch::Contains("integer cents"));
    bad = sale_event("ORD-1", 1, "shipped");
    CHECK_THROWS_WITH(normalise_sale(bad, ""), Catch::Contains("/sale/status"));
    bad = sale_event("ORD-1", 1, "open");
    bad["sale"].erase("version");
    CHECK_THROWS_WITH(normalise_sale(bad, ""), Catch::Contains("/sale/version: missing"));
    CHECK_THROWS_WITH(normalise_sale(nlohmann::json::array(), ""), Catch::Contains("not a JSON object"));

    auto maison = sale_event("RED-7", 1, "paid");
    maison["sale"]["kind"] = "redemption";
    maison["sale"]["lines"] = nlohmann::json::array();
    maison["sale"]["redemptions"] = {{{"redemption_id", "RED-7-R1"}, {"booking", "maison"}, {"voucher_code", "L4FU5LQTKJR3"},
                                     {"amount_in_cents", 12000}, {"payment_method", "Maison"}}};
    auto m = normalise_sale(maison, "redemption.maison");
    CHECK(m["redemptions"][0]["amount"] == "120.00");
    CHECK(m["redemptions"][0]["booking"] == "maison");
    maison["sale"]["redemptions"][0]["booking"] = "house";
    CHECK_THROWS_WITH(normalise_sale(maison, ""), Catch::Contains("/sale/redemptions/0/booking"));
}

TEST_CASE("folding: one record per sale at its newest version, cursor at its last event", "[eguma][wire][sales]") {
    std::vector<SalesEvent> events{
        {11, "e11", "sale.created", sale_event("ORD-1", 1, "open")},
        {12, "e12", "sale.created", sale_event("ORD-2", 1, "open")},
        {13, "e13", "invoice.paid", sale_event("ORD-1", 2, "paid")},
        {14, "e14", "sale.created", nlohmann::json{{"sale", "nonsense"}}},
        {15, "e15", "sale.created", sale_event("ORD-2", 1, "open")},  // a late older state (same version): later seq wins
        {16, "e16", "sale.cancelled", sale_event("ORD-3", 4, "cancelled")},
        {17, "e17", "sale.created", sale_event("ORD-3", 2, "open")}};  // older than 4: dropped
    auto f = fold_sales_events(events);
    CHECK(f.last_seq == 17);
    REQUIRE(f.problems.size() == 1);
    CHECK(f.problems[0].seq == 14);
    CHECK_THAT(f.problems[0].message, Catch::Contains("/sale"));
    REQUIRE(f.records.size() == 3);
    CHECK(f.records[0].key == "ORD-1");
    CHECK(f.records[0].cursor == "13");
    CHECK(f.records[0].data["status"] == "paid");
    CHECK(f.records[0].data["version"] == 2);
    CHECK(f.records[0].data["event_id"] == "e13");
    CHECK(f.records[1].key == "ORD-2");
    CHECK(f.records[1].cursor == "15");
    CHECK(f.records[2].key == "ORD-3");
    CHECK(f.records[2].data["status"] == "cancelled");
    CHECK(f.records[2].data["version"] == 4);
    CHECK(f.records[2].cursor == "17");
    CHECK(fold_sales_events({}).records.empty());
    CHECK(fold_sales_events({}).last_seq == 0);
}
