// Contract test: every flow of the connector against the sandbox, every exchange recorded,
// and each request and response checked against the official OHIP spec operation it matches
// (tests/contract/*.json, Swagger 2.0) by the shared checker (tests/contract/openapi_check.py).
// A request the spec does not allow, or a response it does not declare, fails the test.
#include "opera_fixture.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "contract_check.hpp"

using namespace opera_test;

namespace {

// Runs every operation the connector has, including the error paths it handles.
void every_flow(World& w) {
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    const std::string key = "px00000000000000000000000000c001";
    json r = write_one(*inst, "charges", create(key, sale()));
    REQUIRE(r["status"] == PLEXUS_OK);
    w.control().lose_answers_after_executing(1);
    REQUIRE(write_one(*inst, "charges", create(key + "b", sale()))["status"] == PLEXUS_OK);
    json bad = sale();
    bad["lines"][0]["transaction_code"] = "9999";
    CHECK(write_one(*inst, "charges", create(key + "x", bad))["status"] == PLEXUS_ERR_VALIDATION);
    REQUIRE(write_one(*inst, "charges", update(key, r["target_key"], sale(true)))["status"] == PLEXUS_OK);
    json p = write_one(*inst, "payments", create(key, payment(true)));
    REQUIRE(p["status"] == PLEXUS_OK);
    json u = write_one(*inst, "payments", update(key, p["target_key"], payment(false)));
    REQUIRE(u["status"] == PLEXUS_OK);
    w.control().refuse_posts(1);
    REQUIRE(write_one(*inst, "payments", update(key, u["target_key"], payment(true)))["status"] == PLEXUS_OK);
    REQUIRE(write_one(*inst, "reversals", create("px-r", {{"reference", key + "b-C1-1"}}))["status"] == PLEXUS_OK);
    ok_json(inst->read_page({{"entity", "transaction_codes"}, {"limit", 100}}));
    ok_json(inst->read_page({{"entity", "payment_methods"}, {"limit", 100}}));
    ok_json(inst->read_page({{"entity", "postings"}, {"limit", 100}}));
    ok_json(inst->lookup({{"entity", "charges"}, {"idempotency_key", key}, {"data", sale()}}));
    ok_json(inst->lookup({{"entity", "postings"}, {"key", "no-such-reference"}}));
    w.control().expire_tokens();  // a 401, then a new token
    ok_json(inst->lookup({{"entity", "payments"}, {"key", p["target_key"]}}));
    json s = w.settings();
    s["pm_reservation_id"] = "123";  // a 404 problem answer
    CHECK(w.instance(s)->check().status == PLEXUS_ERR_CONFIG);
    s = w.settings();
    s["client_secret"] = "wrong";  // a bodiless 401 from the token endpoint
    CHECK(w.instance(s)->check().status == PLEXUS_ERR_AUTH);
}

std::set<std::string> operations(const std::string& file) {
    std::set<std::string> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        json j = json::parse(line, nullptr, false);
        if (!j.is_object()) continue;
        std::string path = j["path"];
        // Identify the operation by its last literal path segment.
        std::string last = path.substr(path.rfind('/') + 1);
        if (std::all_of(last.begin(), last.end(), ::isdigit)) last = "{id}";
        out.insert(j["method"].get<std::string>() + " " + last + " " + std::to_string(j["status"].get<int>()));
    }
    return out;
}

}  // namespace

TEST_CASE("contract: every exchange of every flow matches the official OHIP specs", "[opera][contract]") {
    const auto dir = std::filesystem::temp_directory_path() / ("opera-contract-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string file = (dir / "opera.jsonl").string();
    std::filesystem::remove(file);
    {
        World w;
        w.server.record_exchanges(file);
        every_flow(w);
        // httplib logs an exchange after its answer is sent: stop the server (which waits for
        // its handlers) before reading the file, or the last exchange may be missing.
        w.server.stop();
    }
    auto ops = operations(file);
    for (const auto& o : ops) INFO(o);
    for (const char* must : {"POST tokens 200", "POST tokens 401", "GET {id} 200", "GET {id} 404", "GET cashierHotels 200",
                             "GET transactionCodes 200", "GET paymentMethods 200", "GET transactions 200",
                             "GET transactions 204", "GET transactions 401", "POST charges 201", "POST charges 400",
                             "POST charges 502", "POST payments 201", "POST payments 503", "POST reversePayments 201"}) {
        INFO(must);
        CHECK(ops.count(must));
    }
    const std::string specs = std::string(OPERA_SOURCE_DIR) + "/tests/contract/";
    auto r = plexus::contract::check({specs + "oauth.json", specs + "csh.json", specs + "lov.json", specs + "rsv.json"},
                                     file, {"--relax", "date-maxlength", "--relax", "charset"});
    INFO(r.report);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.report, Catch::Contains("exchanges valid"));
    if (r.exit_code == 0) std::filesystem::remove_all(dir);
}

TEST_CASE("contract: the checker refuses what the spec forbids", "[opera][contract]") {
    // A test that can fail: a charge whose transactionCode is a number and whose quantity is
    // text (Oracle's older examples), answered with a transactionNo that is not a number.
    const auto dir = std::filesystem::temp_directory_path() / ("opera-contract-bad-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string file = (dir / "bad.jsonl").string();
    json bad{{"method", "POST"},
             {"path", "/csh/v1/hotels/HOTEL1/reservations/900001/charges"},
             {"query", json::object()},
             {"headers", {{"authorization", "Bearer x"}, {"x-app-key", "41ecd082-8997-4c69-af34-2f72b83645ff"},
                          {"x-hotelid", "HOTEL1"}, {"content-type", "application/json"}}},
             {"body", json{{"criteria", {{"charges", {{{"transactionCode", 7010}, {"postingQuantity", "1"}}}}}}}.dump()},
             {"status", 201},
             {"response_headers", {{"content-type", "application/json;charset=UTF-8"}}},
             {"response_body", json{{"postings", {{{"transactionNo", "not a number"}}}}}.dump()}};
    std::ofstream(file) << bad.dump() << "\n";
    const std::string specs = std::string(OPERA_SOURCE_DIR) + "/tests/contract/";
    auto r = plexus::contract::check({specs + "csh.json"}, file, {"--relax", "date-maxlength"});
    INFO(r.report);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.report, Catch::Contains("transactionCode"));
    CHECK_THAT(r.report, Catch::Contains("transactionNo"));
    std::filesystem::remove_all(dir);
}
