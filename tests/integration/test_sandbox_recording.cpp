// SandboxServer::record_exchanges writes what contract tests check: every exchange the
// sandbox served, control routes excepted, in the shape tests/contract/openapi_check.py reads.
#include "contract_check.hpp"
#include "sandbox/sandbox.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace {

// A two-route imitation of the fixture spec (tests/contract/fixtures/swagger2.json).
class FixtureSandbox : public plexus::sandbox::Sandbox {
public:
    std::string id() const override { return "fixture"; }
    void mount(httplib::Server& server) override {
        server.Post(R"(/csh/v1/hotels/([^/]+)/reservations/([^/]+)/charges)",
                    [](const httplib::Request&, httplib::Response& res) {
                        res.status = 201;
                        res.set_content(R"({"postings":[{"transactionNo":)" +
                                            std::string(wrong_type ? "\"1001\"" : "1001") + "}]}",
                                        "application/json;charset=UTF-8");
                    });
        server.Get(R"(/csh/v1/hotels/([^/]+)/transactions)",
                   [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    }
    static inline bool wrong_type = false;
};

std::string temp_file(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            (name + "-" + std::to_string(::getpid()) + ".jsonl"))
        .string();
}

}  // namespace

TEST_CASE("a sandbox records every exchange for the contract checker", "[sandbox][contract]") {
    const std::string file = temp_file("plexus-exchanges");
    std::filesystem::remove(file);
    plexus::sandbox::SandboxServer server(std::make_unique<FixtureSandbox>());
    server.record_exchanges(file);
    httplib::Client client("127.0.0.1", server.port());
    const std::string body =
        R"({"criteria":{"charges":[{"transactionCode":"9100","price":{"amount":50,"currencyCode":"CHF"},"postingQuantity":10}]}})";
    httplib::Headers headers{{"x-app-key", "41ecd082-8997-4c69-af34-2f72b83645ff"}};
    REQUIRE(client.Post("/csh/v1/hotels/H1/reservations/42/charges", headers, body,
                        "application/json")->status == 201);
    REQUIRE(client.Get("/csh/v1/hotels/H1/transactions?reservationList=42&reservationList=43")
                ->status == 204);
    REQUIRE(client.Post("/_sandbox/faults", "{}", "application/json")->status == 200);

    std::ifstream in(file);
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    REQUIRE(lines.size() == 2);  // the control route is not recorded
    CHECK(lines[0]["method"] == "POST");
    CHECK(lines[0]["path"] == "/csh/v1/hotels/H1/reservations/42/charges");
    CHECK(lines[0]["headers"]["x-app-key"] == "41ecd082-8997-4c69-af34-2f72b83645ff");
    CHECK(nlohmann::json::parse(lines[0]["body"].get<std::string>())["criteria"]["charges"][0]
              ["postingQuantity"] == 10);
    CHECK(lines[0]["status"] == 201);
    CHECK(lines[0]["response_headers"]["content-type"] == "application/json;charset=UTF-8");
    CHECK(lines[1]["query"]["reservationList"] == nlohmann::json::array({"42", "43"}));
    CHECK(lines[1]["status"] == 204);

    const std::string spec = std::string(PLEXUS_SOURCE_DIR) + "/tests/contract/fixtures/swagger2.json";
    auto ok = plexus::contract::check({spec}, file);
    INFO(ok.report);
    CHECK(ok.exit_code == 0);

    // A response of the wrong shape is caught through the same path.
    FixtureSandbox::wrong_type = true;
    REQUIRE(client.Post("/csh/v1/hotels/H1/reservations/42/charges", headers, body,
                        "application/json")->status == 201);
    FixtureSandbox::wrong_type = false;
    auto bad = plexus::contract::check({spec}, file);
    CHECK(bad.exit_code == 1);
    CHECK(bad.report.find("exchange 3 POST") != std::string::npos);
    CHECK(bad.report.find("transactionNo: '1001' is not of type 'number'") != std::string::npos);
    std::filesystem::remove(file);
}
