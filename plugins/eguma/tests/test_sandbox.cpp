// The e-guma sandbox, checked with a plain HTTP client against e-guma's documented wire
// facts (shared/api/e-guma.md): key in the query string, integer cents, plain-text errors,
// 200-with-false refusals, short codes resolved only by balance, stateful vouchers and depot
// vouchers, fault knobs, and sales events pushed signed to a hook, retried until accepted.
#include "eguma_fixture.hpp"

#include <chrono>
#include <thread>

using namespace eguma_test;
namespace sb = plexus::sandbox;

namespace {

std::string key_q(const char* key = sb::kEgumaKeyOutlet1) { return std::string("?apikey=") + key; }

}  // namespace

TEST_CASE("sandbox: the API key in the query string, errors in plain text", "[eguma][sandbox]") {
    sb::SandboxServer server{sb::make_eguma_sandbox(1)};
    httplib::Client c(server.base_url());
    auto none = c.Get("/v1/vouchers/L4FU5LQTKJR3/balance.json");
    REQUIRE(none);
    CHECK(none->status == 401);
    CHECK(none->body == "Unauthorized");
    CHECK_THAT(none->get_header_value("Content-Type"), Catch::StartsWith("text/plain"));
    auto header_only = c.Get("/v1/vouchers/L4FU5LQTKJR3/balance.json", {{"Authorization", std::string("Bearer ") + sb::kEgumaKeyOutlet1}});
    CHECK(header_only->status == 401);
    for (const char* key : {sb::kEgumaKeyOutlet1, sb::kEgumaKeyOutlet2}) {
        auto ok = c.Get(("/v1/vouchers/L4FU-5LQT-KJR3/balance.json" + key_q(key)).c_str());
        REQUIRE(ok);
        CHECK(ok->status == 200);
    }
    auto bad = c.Post(("/v1/vouchers/L4FU5LQTKJR3/redeem.json" + key_q()).c_str(), "{}", "application/json");
    CHECK(bad->status == 400);
    CHECK_THAT(bad->get_header_value("Content-Type"), Catch::StartsWith("text/plain"));
    CHECK_THAT(bad->body, Catch::Contains("amount_in_cents"));
}

TEST_CASE("sandbox: balance answers 200 with is_redeemable false for refusals, cents as integers", "[eguma][sandbox]") {
    sb::SandboxServer server{sb::make_eguma_sandbox(1)};
    httplib::Client c(server.base_url());
    auto get = [&](const std::string& code) {
        auto r = c.Get(("/v1/vouchers/" + code + "/balance.json" + key_q()).c_str());
        REQUIRE(r);
        REQUIRE(r->status == 200);
        return json::parse(r->body);
    };
    json b = get("l4fu-5lqt-kjr3");
    CHECK(b["code"] == "L4FU5LQTKJR3");
    CHECK(b["is_redeemable"] == true);
    CHECK(b["balance_in_cents"].is_number_integer());
    CHECK(b["balance_in_cents"] == 40000);
    CHECK(b["total_amount_in_cents"] == 50000);
    CHECK(b["currency"] == "CHF");
    CHECK(b.contains("extra"));
    for (const char* code : {"NOSUCHCODE00", sb::kEgumaVoucherRedeemed, sb::kEgumaVoucherUnpaid}) {
        json r = get(code);
        CHECK(r["is_redeemable"] == false);
        CHECK_FALSE(r["message"].get<std::string>().empty());
    }
    // A short code resolves to the voucher's code, but only balance knows it.
    CHECK(get(sb::kEgumaShortCode)["code"] == sb::kEgumaVoucher50);
    auto by_short = c.Post(("/v1/vouchers/" + std::string(sb::kEgumaShortCode) + "/redeem.json" + key_q()).c_str(),
                           R"({"amount_in_cents": 100})", "application/json");
    CHECK(by_short->status == 400);
}

TEST_CASE("sandbox: redeem, cancel with the token, refusals", "[eguma][sandbox]") {
    sb::SandboxServer server{sb::make_eguma_sandbox(1)};
    httplib::Client c(server.base_url());
    const std::string v = "/v1/vouchers/L4FU5LQTKJR3/";
    auto over = c.Post((v + "redeem.json" + key_q()).c_str(), R"({"amount_in_cents": 40001})", "application/json");
    CHECK(over->status == 400);
    auto red = c.Post((v + "redeem.json" + key_q()).c_str(), R"({"amount_in_cents": 12550, "reference_number": "POS1-0042"})",
                      "application/json");
    REQUIRE(red->status == 200);
    json r = json::parse(red->body);
    CHECK(r["balance_in_cents"] == 27450);
    const std::string token = r["redeem_token"];
    CHECK(token.size() == 36);
    auto no_token = c.Post((v + "cancel_redemption.json" + key_q()).c_str(), R"({"amount_in_cents": 12550})", "application/json");
    CHECK(no_token->status == 400);
    CHECK_THAT(no_token->body, Catch::Contains("redeem_token"));
    auto part = c.Post((v + "cancel_redemption.json" + key_q()).c_str(),
                       json{{"redeem_token", token}, {"amount_in_cents", 2550}}.dump(), "application/json");
    CHECK(json::parse(part->body)["balance_in_cents"] == 30000);
    auto rest = c.Post((v + "cancel_redemption.json" + key_q()).c_str(),
                       json{{"redeem_token", token}, {"amount_in_cents", 10000}}.dump(), "application/json");
    CHECK(json::parse(rest->body)["balance_in_cents"] == 40000);
    auto again = c.Post((v + "cancel_redemption.json" + key_q()).c_str(),
                        json{{"redeem_token", token}, {"amount_in_cents", 1}}.dump(), "application/json");
    CHECK(again->status == 400);
    auto info = c.Get((v + "info.json" + key_q()).c_str());
    CHECK(json::parse(info->body)["valid_until"] == "2027-12-31T00:00:00");
    auto products = c.Get(("/v1/products" + key_q()).c_str());
    CHECK(json::parse(products->body).is_array());
}

TEST_CASE("sandbox: depot vouchers activate (empty body accepted) and deactivate", "[eguma][sandbox]") {
    sb::SandboxServer server{sb::make_eguma_sandbox(1)};
    httplib::Client c(server.base_url());
    const std::string d = std::string("/v1/depot_vouchers/") + sb::kEgumaDepotFixed + "/";
    json st = json::parse(c.Get((d + "activate_status.json" + key_q()).c_str())->body);
    CHECK(st["can_be_activated"] == true);
    CHECK(st["free_amount"] == false);
    CHECK(st["amount_in_cents"] == 10000);
    auto act = c.Post((d + "activate.json" + key_q()).c_str(), "", "");
    REQUIRE(act->status == 200);
    CHECK(json::parse(act->body)["amount_in_cents"] == 10000);
    CHECK(c.Post((d + "activate.json" + key_q()).c_str(), "", "")->status == 400);
    CHECK(json::parse(c.Get((d + "activate_status.json" + key_q()).c_str())->body)["can_be_activated"] == false);
    CHECK(json::parse(c.Get((d + "deactivate_status.json" + key_q()).c_str())->body)["can_be_deactivated"] == true);
    CHECK(c.Post((d + "deactivate.json" + key_q()).c_str(), R"({"deactivate_reason": "storno"})", "application/json")->status == 200);
    CHECK(json::parse(c.Get((d + "deactivate_status.json" + key_q()).c_str())->body)["can_be_deactivated"] == false);
    const std::string f = std::string("/v1/depot_vouchers/") + sb::kEgumaDepotFree + "/";
    CHECK(json::parse(c.Get((f + "activate_status.json" + key_q()).c_str())->body)["free_amount"] == true);
    CHECK(c.Post((f + "activate.json" + key_q()).c_str(), "{}", "application/json")->status == 400);
    CHECK(json::parse(c.Post((f + "activate.json" + key_q()).c_str(), R"({"amount_in_cents": 7500})", "application/json")->body)
              ["amount_in_cents"] == 7500);
    // Unknown code: 200 and false, not 404.
    auto unknown = c.Get(("/v1/depot_vouchers/NOPE00000000/activate_status.json" + key_q()).c_str());
    CHECK(unknown->status == 200);
    CHECK(json::parse(unknown->body)["can_be_activated"] == false);
}

TEST_CASE("sandbox: fault knobs, and a redeem whose answer comes after it took effect", "[eguma][sandbox]") {
    sb::SandboxServer server{sb::make_eguma_sandbox(1)};
    auto& eg = dynamic_cast<sb::EgumaSandbox&>(server.sandbox());
    httplib::Client c(server.base_url());
    sb::Faults f;
    f.error_rate = 1.0;
    eg.faults().set(f);
    CHECK(c.Get(("/v1/vouchers/L4FU5LQTKJR3/balance.json" + key_q()).c_str())->status == 503);
    eg.faults().set({});
    eg.hang_redeems_after_effect(1, 800);
    c.set_read_timeout(0, 200000);  // 200 ms
    auto lost = c.Post(("/v1/vouchers/L4FU5LQTKJR3/redeem.json" + key_q()).c_str(), R"({"amount_in_cents": 100})",
                       "application/json");
    CHECK_FALSE(lost);  // timed out …
    CHECK(eg.voucher(sb::kEgumaVoucher400of500)->balance == 39900);  // … after it took effect
}

TEST_CASE("sandbox: sales events are pushed signed, in order, and retried until accepted", "[eguma][sandbox][sales]") {
    sb::SandboxServer server{sb::make_eguma_sandbox(1)};
    auto& eg = dynamic_cast<sb::EgumaSandbox&>(server.sandbox());
    // A stand-in for the hub's inbox: checks the signature as the contract says, refuses the
    // first delivery.
    httplib::Server hook;
    std::mutex m;
    std::vector<json> received;
    std::vector<std::string> ids;
    int answered = 0;
    hook.Post("/webhooks/eguma", [&](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(m);
        const std::string ts = req.get_header_value("X-Eguma-Timestamp");
        const std::string sig = req.get_header_value("X-Eguma-Signature");
        const bool valid = sig == "sha256=" + sb::eguma_hmac_hex("whsec-test", ts + "." + req.body) &&
                           std::abs(std::stoll(ts) - static_cast<long long>(std::time(nullptr))) <= 300;
        if (!valid) {
            res.status = 401;
            return;
        }
        if (answered++ == 0) {
            res.status = 503;
            return;
        }
        received.push_back(json::parse(req.body));
        ids.push_back(req.get_header_value("X-Eguma-Event-Id") + " " + req.get_header_value("X-Eguma-Event-Type"));
        res.status = 202;
    });
    const int port = hook.bind_to_any_port("127.0.0.1");
    std::thread t([&] { hook.listen_after_bind(); });
    httplib::Client c(server.base_url());
    REQUIRE(c.Post("/_sandbox/hook", json{{"url", "http://127.0.0.1:" + std::to_string(port) + "/webhooks/eguma"},
                                          {"secret", "whsec-test"}}.dump(), "application/json")->status == 200);
    auto sale = c.Post("/_sandbox/sales", R"({"action": "sale", "lines": [
        {"kind": "voucher", "item_id": "P1", "name": "Wertgutschein CHF 50", "unit_price_in_cents": 5000, "quantity": 10},
        {"kind": "shipping", "item_id": "S", "name": "Post", "unit_price_in_cents": 900, "quantity": 1}]})", "application/json");
    REQUIRE(sale->status == 200);
    const std::string id = json::parse(sale->body)["id"];
    CHECK(c.Post("/_sandbox/sales", json{{"action", "pay"}, {"sale_id", id}}.dump(), "application/json")->status == 200);
    CHECK(c.Post("/_sandbox/sales", json{{"action", "cancel"}, {"sale_id", id}}.dump(), "application/json")->status == 200);
    CHECK(c.Post("/_sandbox/sales", R"({"action": "maison", "voucher_code": "L4FU5LQTKJR3", "amount_in_cents": 12000})",
                 "application/json")->status == 200);
    CHECK(c.Post("/_sandbox/sales", R"({"action": "refund"})", "application/json")->status == 400);
    REQUIRE(eg.wait_delivered(10000));
    hook.stop();
    t.join();
    std::lock_guard lock(m);
    REQUIRE(received.size() == 4);
    CHECK(answered == 5);  // the refused first delivery was sent again
    CHECK_THAT(ids[0], Catch::EndsWith("sale.created"));
    CHECK_THAT(ids[1], Catch::EndsWith("invoice.paid"));
    CHECK_THAT(ids[2], Catch::EndsWith("sale.cancelled"));
    CHECK_THAT(ids[3], Catch::EndsWith("redemption.maison"));
    CHECK(received[2]["sale"]["status"] == "cancelled");
    CHECK(received[2]["sale"]["version"] == 3);
    CHECK(received[0]["sale"]["lines"][0]["unit_price_in_cents"] == 5000);
    CHECK(received[3]["sale"]["redemptions"][0]["booking"] == "maison");
}
