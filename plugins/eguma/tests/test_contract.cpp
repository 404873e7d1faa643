// Contract test: every exchange between the connector and the sandbox, through every flow the
// connector has (check, balances with dashes and short codes, redeem, cancel, a redeem whose
// answer is lost, depot activation with fixed and free amounts, deactivation, lookups, a
// refused key), recorded by the sandbox and validated against tests/contract/eguma-v1.openapi.yaml
// — our transcription of e-guma's prose docs (e-guma publishes no machine-readable spec).
// Plus proof that the checker refuses what the docs forbid.
#include "contract_check.hpp"
#include "eguma_fixture.hpp"

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

using namespace eguma_test;
namespace sb = plexus::sandbox;

namespace {

std::string spec() { return std::string(PLEXUS_SOURCE_DIR) + "/plugins/eguma/tests/contract/eguma-v1.openapi.yaml"; }

json write_one(plexus::ConnectorInstance& inst, const std::string& entity, const json& record) {
    return ok_json(inst.write_batch({{"entity", entity}, {"records", {record}}}))["results"][0];
}

struct TempFile {
    fs::path path = fs::temp_directory_path() / ("plexus-eguma-contract-" + std::to_string(getpid()) + "-" +
                                                 std::to_string(std::random_device{}()) + ".jsonl");
    ~TempFile() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

}  // namespace

TEST_CASE("contract: every exchange of every flow matches e-guma's documented API", "[eguma][contract]") {
    EgumaWorld w;
    TempFile rec;
    w.eguma_server.record_exchanges(rec.path.string());
    json s = w.settings();
    s["timeout_ms"] = 300;
    auto inst = w.instance(s);
    REQUIRE(inst->check().ok());
    ok_json(inst->read_page({{"entity", "voucher_balance"}, {"limit", 5}, {"cursor", nullptr},
                             {"filter", {{"codes", {"l4fu-5lqt-kjr3", sb::kEgumaShortCode, "NOSUCHCODE00"}}}}}));
    json red = write_one(*inst, "redemptions",
                         {{"op", "create"}, {"idempotency_key", "k1"},
                          {"data", {{"reference_number", "#1001"}, {"amount_due", "100.00"},
                                    {"vouchers", {{{"code", "L4FU-5LQT-KJR3"}}}}}}});
    REQUIRE(red["status"] == PLEXUS_OK);
    REQUIRE(write_one(*inst, "redemptions",
                      {{"op", "update"}, {"idempotency_key", "k1"}, {"target_key", red["target_key"]},
                       {"data", {{"reference_number", "#1001"}, {"status", "refunded"}}}})["status"] == PLEXUS_OK);
    w.eguma().hang_redeems_after_effect(1, 800);
    REQUIRE(write_one(*inst, "redemptions",
                      {{"op", "create"}, {"idempotency_key", "k2"},
                       {"data", {{"reference_number", "#1002"}, {"vouchers", {{{"code", sb::kEgumaVoucher50}, {"amount", "20"}}}}}}})
                ["target_key"] == "r1:K7PM2XQ9WB4D/2000/?");
    ok_json(inst->lookup({{"entity", "redemptions"}, {"key", "r1:K7PM2XQ9WB4D/2000/?"}}));
    json fixed = write_one(*inst, "depot_activations",
                           {{"op", "create"}, {"idempotency_key", "d1"}, {"data", {{"code", sb::kEgumaDepotFixed}}}});
    REQUIRE(fixed["status"] == PLEXUS_OK);
    REQUIRE(write_one(*inst, "depot_activations",
                      {{"op", "create"}, {"idempotency_key", "d2"}, {"data", {{"code", sb::kEgumaDepotFree}, {"amount", "75.00"}}}})
                ["status"] == PLEXUS_OK);
    REQUIRE(write_one(*inst, "depot_activations",
                      {{"op", "update"}, {"idempotency_key", "d1"}, {"target_key", fixed["target_key"]},
                       {"data", {{"code", sb::kEgumaDepotFixed}, {"cancelled", true}}}})["status"] == PLEXUS_OK);
    ok_json(inst->lookup({{"entity", "depot_activations"}, {"idempotency_key", "d2"}, {"data", {{"code", sb::kEgumaDepotFree}}}}));
    json wrong = w.settings();
    wrong["api_key"] = "not-the-key";
    CHECK(w.instance(wrong)->check().status == PLEXUS_ERR_AUTH);
    std::this_thread::sleep_for(std::chrono::milliseconds(900));  // the held answer is recorded when sent
    w.eguma_server.record_exchanges("");

    auto r = plexus::contract::check({spec()}, rec.path.string(), {"--relax", "charset"});
    INFO(r.report);
    CHECK(r.exit_code == 0);
    // Every documented operation the connector uses was exercised.
    std::ifstream in(rec.path);
    std::set<std::string> seen;
    for (std::string line; std::getline(in, line);) {
        json e = json::parse(line);
        std::string p = e["path"];
        p = p.substr(p.rfind('/') + 1);
        seen.insert(e["method"].get<std::string>() + " " + p + " " + std::to_string(e["status"].get<int>()));
        CHECK(e["query"].contains("apikey"));
    }
    for (const char* must : {"GET balance.json 200", "POST redeem.json 200", "POST cancel_redemption.json 200",
                             "GET activate_status.json 200", "POST activate.json 200", "GET deactivate_status.json 200",
                             "POST deactivate.json 200", "GET balance.json 401"}) {
        INFO(must);
        CHECK(seen.count(must));
    }
}

TEST_CASE("contract: the checker refuses what e-guma's docs forbid", "[eguma][contract]") {
    TempFile rec;
    {
        std::ofstream out(rec.path);
        // A redeem without amount_in_cents; a balance with money as a decimal string; no apikey.
        out << json{{"method", "POST"}, {"path", "/v1/vouchers/L4FU5LQTKJR3/redeem.json"}, {"query", {{"apikey", {"k"}}}},
                    {"headers", {{"content-type", "application/json"}}}, {"body", R"({"reference_number": "x"})"},
                    {"status", 400}, {"response_headers", {{"Content-Type", "text/plain"}}}, {"response_body", "Bad Request"}}
                   .dump()
            << "\n";
        out << json{{"method", "GET"}, {"path", "/v1/vouchers/L4FU5LQTKJR3/balance.json"}, {"query", {{"apikey", {"k"}}}},
                    {"headers", json::object()}, {"body", ""}, {"status", 200},
                    {"response_headers", {{"Content-Type", "application/json"}}},
                    {"response_body", R"({"code": "L4FU5LQTKJR3", "is_redeemable": true, "balance_in_cents": "400.00"})"}}
                   .dump()
            << "\n";
        out << json{{"method", "GET"}, {"path", "/v1/vouchers/L4FU5LQTKJR3/balance.json"}, {"query", json::object()},
                    {"headers", json::object()}, {"body", ""}, {"status", 401},
                    {"response_headers", {{"Content-Type", "text/plain"}}}, {"response_body", "Unauthorized"}}
                   .dump()
            << "\n";
    }
    auto r = plexus::contract::check({spec()}, rec.path.string(), {"--relax", "charset"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.report, Catch::Contains("exchange 1") && Catch::Contains("amount_in_cents"));
    CHECK_THAT(r.report, Catch::Contains("exchange 2") && Catch::Contains("balance_in_cents"));
    CHECK_THAT(r.report, Catch::Contains("exchange 3") && Catch::Contains("apikey"));
}
