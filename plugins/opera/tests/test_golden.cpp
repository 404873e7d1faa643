// Golden wire tests: the connector's request bodies, queries and parsing of OHIP answers
// (src/ohip_wire.cpp), against the shapes of ../shared/api/opera-ohip.md and the specs.
#include "ohip_wire.hpp"

#include <catch2/catch.hpp>

using namespace plexus::opera;

TEST_CASE("golden: a summarised sale as one charges[] call", "[opera][golden]") {
    ChargeLine l{"7010", 150.0, "CHF", 1, "eguma-order-98765", "Vouchers 2024-05-01"};
    json body = charges_body("HOTEL1", "123456", 4, 1, {l});
    json expect = json::parse(R"({"criteria":{"hotelId":"HOTEL1",
      "reservationId":{"id":"123456","type":"Reservation","idContext":"OPERA"},
      "cashierId":4,"postIt":false,
      "charges":[{"transactionCode":"7010","price":{"amount":150.0,"currencyCode":"CHF"},"postingQuantity":1,
                  "postingReference":"eguma-order-98765","postingRemark":"Vouchers 2024-05-01",
                  "applyRoutingInstructions":false,"usePackageAllowance":false,"folioWindowNo":1,"cashierId":4}]}})");
    CHECK(body == expect);
    // Always an array, codes and ids as strings (Oracle's older examples send an object and numbers).
    CHECK(body["criteria"]["charges"].is_array());
    CHECK(body["criteria"]["charges"][0]["transactionCode"].is_string());
    CHECK(body["criteria"]["reservationId"]["id"].is_string());
}

TEST_CASE("golden: payment and payment reversal bodies", "[opera][golden]") {
    json p = payment_body("HOTEL1", "123456", 4, 1, {"CA", 525.0, "CHF", "px1-P1", "e-guma order 1"});
    CHECK(p == json::parse(R"({"criteria":{"hotelId":"HOTEL1",
      "reservationId":{"id":"123456","type":"Reservation","idContext":"OPERA"},"cashierId":4,"folioWindowNo":1,
      "paymentMethod":{"paymentMethod":"CA"},"postingAmount":{"amount":525.0,"currencyCode":"CHF"},
      "postingReference":"px1-P1","postingRemark":"e-guma order 1","action":"Billing"}})"));
    CHECK(reverse_payment_body("HOTEL1", 99887766, 4, "") ==
          json::parse(R"({"payment":{"hotelId":"HOTEL1","transactionNo":99887766,"cashierId":4}})"));
    CHECK(reverse_payment_body("HOTEL1", 1, 4, "ERR")["payment"]["reasonCode"] == "ERR");
}

TEST_CASE("golden: the transactions search and its answer", "[opera][golden]") {
    CHECK(transactions_query("123456", "eguma-order 98765", "2024-05-01", "2024-05-30") ==
          "reservationList=123456&referenceNumberWildCard=eguma-order%2098765&startDate=2024-05-01&endDate=2024-05-30");
    json answer = json::parse(R"({"reservationFolioInformation":[{"folioWindows":[{"folioWindowNo":1,"folios":[{"postings":[
        {"transactionNo":99887766,"transactionCode":"7010","transactionAmount":150.00,"quantity":1,
         "price":{"amount":150.00,"currencyCode":"CHF"},"reference":"eguma-order-98765","remark":"Vouchers",
         "folioWindowNo":1,"postingDate":"2024-05-01","transactionType":"Revenue"},
        {"transactionNo":99887767,"transactionCode":"CA","creditAmount":{"amount":-20,"currencyCode":"CHF"},
         "reference":"x-P1","postingDate":"2024-05-02","reversePaymentTransactionNo":99887760}]}]}]}]})");
    auto p = parse_transactions(answer);
    REQUIRE(p.size() == 2);
    CHECK(p[0].transaction_no == 99887766);
    CHECK(p[0].code == "7010");
    CHECK(p[0].reference == "eguma-order-98765");
    CHECK(p[0].amount == 150.0);
    CHECK(p[0].currency == "CHF");
    CHECK(p[0].date == "2024-05-01");
    CHECK(p[1].currency == "CHF");
    CHECK(p[1].reverse_payment_no == 99887760);
    CHECK(parse_transactions(json::object()).empty());
    CHECK(parse_posted(json::parse(R"({"postings":[{"transactionNo":5,"reference":"r"}],"links":[],"warnings":[]})")).size() == 1);
}

TEST_CASE("golden: errors and warnings become clear text", "[opera][golden]") {
    CHECK(error_text(400, R"({"type":"https://tools.ietf.org/html/rfc7231#section-6.5.1","title":"Bad Request","status":400,
        "detail":"Transaction code 9999 does not exist","o:errorCode":"INVALID_TRX_CODE"})") ==
          "HTTP 400 Bad Request: Transaction code 9999 does not exist (o:errorCode INVALID_TRX_CODE)");
    CHECK(error_text(404, R"({"type":"t","title":"Not Found"})") == "HTTP 404 Not Found: Not Found");
    CHECK_THAT(error_text(401, ""), Catch::StartsWith("HTTP 401 Unauthorized (the token was refused"));
    CHECK(error_text(502, "") == "HTTP 502 Bad Gateway");
    CHECK(error_text(503, "<html>busy</html>") == "HTTP 503 Service Unavailable");
    auto w = warnings_of(json::parse(R"({"warnings":[{"shortText":"Routed to window 2","code":"W1"},{"value":"x"}]})"));
    REQUIRE(w.size() == 2);
    CHECK(w[0] == "W1: Routed to window 2");
    CHECK(w[1] == "x");
}

TEST_CASE("golden: app key rule, Basic credentials, dates, references", "[opera][golden]") {
    CHECK(valid_app_key("41ecd082-8997-4c69-af34-2f72b83645ff"));
    CHECK_FALSE(valid_app_key("41ECD082-8997-4C69-AF34-2F72B83645FF"));  // upper case
    CHECK_FALSE(valid_app_key("41ecd082-8997-3c69-af34-2f72b83645ff"));  // not v4
    CHECK_FALSE(valid_app_key(""));
    CHECK(base64("CLIENT:SECRET") == "Q0xJRU5UOlNFQ1JFVA==");
    CHECK(base64("a") == "YQ==");
    CHECK(base64("ab") == "YWI=");
    CHECK(date_of_ms(0) == "1970-01-01");
    CHECK(date_of_ms(1714521600000) == "2024-05-01");
    CHECK(add_days("2024-02-28", 1) == "2024-02-29");
    CHECK(add_days("2024-03-01", -1) == "2024-02-29");
    auto w = search_windows("2024-05-01", "2024-07-01");
    REQUIRE(w.size() == 3);
    CHECK(w[0] == std::make_pair(std::string("2024-05-01"), std::string("2024-05-30")));
    CHECK(w[1].first == "2024-05-31");
    CHECK(w[2].second == "2024-07-29");
    CHECK(charge_ref("px1", 1, 2) == "px1-C1-2");
    CHECK(reversal_ref("px1-C1-2") == "px1-C1-2-R");
    CHECK(payment_ref("px1", 3) == "px1-P3");
    TargetKey k{"px1@odd", "2024-05-01", 2};
    auto d = decode_target_key(encode_target_key(k));
    REQUIRE(d);
    CHECK(d->key == "px1@odd");
    CHECK(d->date == "2024-05-01");
    CHECK(d->generations == 2);
    CHECK_FALSE(decode_target_key("px1"));
    CHECK_FALSE(decode_target_key("px1@2024-13-01#1"));
    CHECK_FALSE(decode_target_key("px1@2024-05-01#x"));
    CHECK(cents(0.1 + 0.2) == 30);
    CHECK(cents(-12.5) == -1250);
}
