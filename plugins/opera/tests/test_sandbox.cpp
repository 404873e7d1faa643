// The OHIP sandbox on its own, spoken to with a plain HTTP client as OHIP's documentation
// describes: token, required headers, postings, search, reversal, throttling, error shapes.
#include "sandbox/opera_sandbox.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <regex>

using json = nlohmann::json;
using namespace plexus::sandbox;

namespace {

struct Rig {
    SandboxServer server{make_opera_sandbox(3)};
    httplib::Client cli{"127.0.0.1", server.port()};
    OperaSandboxControl& control() { return dynamic_cast<OperaSandboxControl&>(server.sandbox()); }

    httplib::Result token(const std::string& basic, const std::string& app_key = kOperaAppKey,
                          const std::string& form = "grant_type=client_credentials") {
        httplib::Headers h{{"Authorization", "Basic " + basic}, {"x-app-key", app_key}};
        return cli.Post("/oauth/v1/tokens", h, form, "application/x-www-form-urlencoded");
    }
    std::string bearer() {
        // base64("plexus_sandbox_client:sandbox-client-secret")
        auto r = token("cGxleHVzX3NhbmRib3hfY2xpZW50OnNhbmRib3gtY2xpZW50LXNlY3JldA==");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        return json::parse(r->body)["access_token"];
    }
    httplib::Headers headers(const std::string& t) {
        return {{"authorization", "Bearer " + t}, {"x-app-key", kOperaAppKey}, {"x-hotelid", kOperaHotel}};
    }
};

json charge(const std::string& ref, const std::string& code = "7010", double amount = 50, int qty = 10) {
    return {{"criteria",
             {{"hotelId", kOperaHotel},
              {"reservationId", {{"id", kOperaPmReservation}, {"type", "Reservation"}}},
              {"cashierId", kOperaCashier},
              {"charges", {{{"transactionCode", code}, {"price", {{"amount", amount}, {"currencyCode", "CHF"}}},
                            {"postingQuantity", qty}, {"postingReference", ref}}}}}}};
}

const std::string kCharges = std::string("/csh/v1/hotels/") + kOperaHotel + "/reservations/" + kOperaPmReservation + "/charges";

}  // namespace

TEST_CASE("sandbox: the token endpoint", "[opera][sandbox]") {
    Rig rig;
    auto ok = rig.token("cGxleHVzX3NhbmRib3hfY2xpZW50OnNhbmRib3gtY2xpZW50LXNlY3JldA==");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    json j = json::parse(ok->body);
    CHECK(j["expires_in"] == 3600);
    CHECK(j["token_type"] == "Bearer");
    CHECK(ok->get_header_value("Content-Type") == "application/json;charset=UTF-8");
    auto wrong = rig.token("d3Jvbmc6d3Jvbmc=");
    CHECK(wrong->status == 401);
    CHECK(wrong->body.empty());
    auto bad_key = rig.token("cGxleHVzX3NhbmRib3hfY2xpZW50OnNhbmRib3gtY2xpZW50LXNlY3JldA==", "not-a-uuid");
    CHECK(bad_key->status == 400);
    auto no_grant = rig.token("cGxleHVzX3NhbmRib3hfY2xpZW50OnNhbmRib3gtY2xpZW50LXNlY3JldA==", kOperaAppKey, "scope=x");
    CHECK(no_grant->status == 400);
    rig.control().set_token_ttl_s(7);
    CHECK(json::parse(rig.token("cGxleHVzX3NhbmRib3hfY2xpZW50OnNhbmRib3gtY2xpZW50LXNlY3JldA==")->body)["expires_in"] == 7);
}

TEST_CASE("sandbox: required headers and problem errors", "[opera][sandbox]") {
    Rig rig;
    const std::string t = rig.bearer();
    const std::string codes = std::string("/csh/v1/hotels/") + kOperaHotel + "/transactionCodes";
    CHECK(rig.cli.Get(codes, rig.headers(t))->status == 200);
    auto no_bearer = rig.cli.Get(codes, httplib::Headers{{"x-app-key", kOperaAppKey}, {"x-hotelid", kOperaHotel}});
    CHECK(no_bearer->status == 401);
    CHECK(no_bearer->body.empty());
    auto h = rig.headers(t);
    h.erase("x-hotelid");
    auto no_hotel = rig.cli.Get(codes, h);
    CHECK(no_hotel->status == 400);
    json p = json::parse(no_hotel->body);
    CHECK(p["title"] == "Bad Request");
    CHECK(p.contains("type"));
    auto bad_key = rig.headers(t);
    bad_key.erase("x-app-key");
    bad_key.emplace("x-app-key", "41ECD082-8997-4C69-AF34-2F72B83645FF");
    CHECK(rig.cli.Get(codes, bad_key)->status == 400);
    rig.control().expire_tokens();
    CHECK(rig.cli.Get(codes, rig.headers(t))->status == 401);
}

TEST_CASE("sandbox: charges, the search by reference, payments and their reversal", "[opera][sandbox]") {
    Rig rig;
    const std::string t = rig.bearer();
    auto posted = rig.cli.Post(kCharges, rig.headers(t), charge("REF-1").dump(), "application/json");
    REQUIRE(posted);
    CHECK(posted->status == 201);
    CHECK_THAT(posted->get_header_value("Location"), Catch::EndsWith(kCharges));
    json body = json::parse(posted->body);
    CHECK(body["postings"][0]["transactionAmount"] == 500.0);
    CHECK(body["postings"][0]["reference"] == "REF-1");
    CHECK(rig.control().postings_with_reference("REF-1") == 1);
    // Refused: an unknown code, a reservation not checked in; nothing posted.
    auto bad = rig.cli.Post(kCharges, rig.headers(t), charge("REF-2", "9999").dump(), "application/json");
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["o:errorCode"] == "INVALID_TRX_CODE");
    std::string reserved = std::string("/csh/v1/hotels/") + kOperaHotel + "/reservations/" + kOperaReservedReservation + "/charges";
    json rc = charge("REF-3");
    rc["criteria"]["reservationId"]["id"] = kOperaReservedReservation;
    CHECK(rig.cli.Post(reserved, rig.headers(t), rc.dump(), "application/json")->status == 400);
    CHECK(rig.control().postings().size() == 1);
    // The search: reservationList required, 30-day span, 204 when nothing matches.
    const std::string trx = std::string("/csh/v1/hotels/") + kOperaHotel + "/transactions";
    CHECK(rig.cli.Get(trx + "?referenceNumberWildCard=REF-1", rig.headers(t))->status == 400);
    CHECK(rig.cli.Get(trx + "?reservationList=900001&startDate=2024-01-01&endDate=2024-03-01", rig.headers(t))->status == 400);
    auto found = rig.cli.Get(trx + "?reservationList=900001&referenceNumberWildCard=REF-1", rig.headers(t));
    REQUIRE(found->status == 200);
    json f = json::parse(found->body);
    CHECK(f["reservationFolioInformation"][0]["folioWindows"][0]["folios"][0]["postings"][0]["reference"] == "REF-1");
    CHECK(rig.cli.Get(trx + "?reservationList=900001&referenceNumberWildCard=NOPE", rig.headers(t))->status == 204);
    // A payment and its reversal (once).
    json pay{{"criteria", {{"hotelId", kOperaHotel}, {"cashierId", kOperaCashier}, {"paymentMethod", {{"paymentMethod", "CA"}}},
                           {"postingAmount", {{"amount", 500}, {"currencyCode", "CHF"}}}, {"postingReference", "PAY-1"}}}};
    std::string payments = std::string("/csh/v1/hotels/") + kOperaHotel + "/reservations/" + kOperaPmReservation + "/payments";
    auto pr = rig.cli.Post(payments, rig.headers(t), pay.dump(), "application/json");
    REQUIRE(pr->status == 201);
    long long no = json::parse(pr->body)["postings"][0]["transactionNo"];
    std::string rev = std::string("/csh/v1/hotels/") + kOperaHotel + "/transactions/" + std::to_string(no) + "/reversePayments";
    json rb{{"payment", {{"hotelId", kOperaHotel}, {"transactionNo", no}, {"cashierId", kOperaCashier}}}};
    CHECK(rig.cli.Post(rev, rig.headers(t), rb.dump(), "application/json")->status == 201);
    CHECK(rig.cli.Post(rev, rig.headers(t), rb.dump(), "application/json")->status == 400);  // already reversed
    CHECK(rig.control().balance(kOperaPmReservation) == Approx(500.0));
    // The control API counts per reference.
    auto count = rig.cli.Get("/_sandbox/opera/postings?reference=REF-1");
    CHECK(json::parse(count->body)["count"] == 1);
}

TEST_CASE("sandbox: above the per-second limit requests are delayed, not refused", "[opera][sandbox]") {
    Rig rig;
    const std::string t = rig.bearer();
    rig.control().set_throttle_limit(5);
    const std::string codes = std::string("/csh/v1/hotels/") + kOperaHotel + "/transactionCodes";
    for (int i = 0; i < 8; ++i) CHECK(rig.cli.Get(codes, rig.headers(t))->status == 200);
    CHECK(rig.control().throttled() >= 1);
}
