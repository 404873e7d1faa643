// The Gomag connector loaded through the real plugin host (PluginRegistry, ConnectorInstance,
// HttpClient, RateGovernor) talking to the in-process sandbox, whose exchanges are recorded by
// the shared recorder (SandboxServer::record_exchanges, JSON Lines in the build tree:
// exchanges/<test>.jsonl) and, when a test ends without failing, checked against Gomag's
// Postman collection (tests/contract/postman_check.py).
#pragma once

#include "common/clock.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "sandbox/gomag_sandbox.hpp"
#include "tests/support/connector_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace gomag_test {

using json = nlohmann::json;

inline const char* const kKey = "gk-7c1e9f30a2b84d55-secret";
inline const char* const kShop = "https://www.magazin-test.ro";

inline std::shared_ptr<const plexus::LoadedConnector> connector() { return plexus::test::load_connector("gomag"); }

// Where a test's exchanges go: one file per test name (emptied when the rig starts), kept in
// the build tree for a look after a failure.
inline std::string exchanges_file(const std::string& name) {
    std::filesystem::create_directories("exchanges");
    std::string file;
    for (char c : name) file += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return "exchanges/" + file + ".jsonl";
}

// Runs the contract checker over a file of exchanges; returns its exit code and report.
inline std::pair<int, std::string> contract_check(const std::string& file) {
    const std::string dir = std::string(GOMAG_SOURCE_DIR) + "/tests/contract";
    const std::string cmd = "/usr/bin/python3 " + dir + "/postman_check.py --collection " + dir +
                            "/gomag-public-api.postman_collection.json --exchanges " + file + " 2>&1";
    std::string report;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) report.append(buf, n);
    const int rc = pclose(p);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, report};
}

// The exchanges a server has recorded to `file` so far: waits until each request the sandbox
// counted has its line (the recorder writes just after the answer is sent).
inline std::vector<json> recorded_exchanges(plexus::sandbox::SandboxServer& server, const std::string& file, uint64_t requests) {
    server.wait_recorded(requests, 2000);
    std::vector<json> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

inline plexus::sandbox::GomagSandbox::Options options(int products = 250, int orders = 260, int customers = 140) {
    plexus::sandbox::GomagSandbox::Options o;
    o.seed = 7;
    o.api_key = kKey;
    o.shop = kShop;
    o.products = products;
    o.orders = orders;
    o.customers = customers;
    o.rate_limit = false;  // the budget tests turn it on
    return o;
}

struct Rig {
    explicit Rig(plexus::sandbox::GomagSandbox::Options o = options(), double rps = 0, double burst = 0)
        : server(std::make_unique<plexus::sandbox::GomagSandbox>(o)), governor(rps, burst, clock) {
        recording = exchanges_file(Catch::getResultCapture().getCurrentTestName());
        std::filesystem::remove(recording);
        server.record_exchanges(recording);
    }
    ~Rig() {
        if (std::uncaught_exceptions() > 0 || !check_contract) return;
        // Every exchange written (stopping the server instead would wait for the connector's
        // keep-alive connection to time out).
        server.wait_recorded(shop().requests(), 2000);
        auto [rc, report] = contract_check(recording);
        INFO(report);
        CHECK(rc == 0);
    }
    bool check_contract = true;
    std::string recording;

    plexus::sandbox::SandboxServer server;
    plexus::SystemClock& clock = plexus::SystemClock::instance();
    plexus::HttpClient http{clock, plexus::test::fast_retry_policy(30)};
    plexus::RateGovernor governor;
    std::atomic<bool> cancel{false};

    plexus::sandbox::GomagSandbox& shop() { return static_cast<plexus::sandbox::GomagSandbox&>(server.sandbox()); }
    std::vector<json> exchanges() { return recorded_exchanges(server, recording, shop().requests()); }
    json settings() const {
        return {{"api_key", kKey}, {"shop_url", kShop}, {"base_url", server.base_url()}, {"user_agent", "Plexus-Gomag/0.1 (tests)"}};
    }
    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s) {
        plexus::HostServices services{{"test", 1, "gomag", "shop"}, &http, &governor, &clock, &cancel};
        return std::make_unique<plexus::ConnectorInstance>(connector(), s, services);
    }
    std::unique_ptr<plexus::ConnectorInstance> instance() { return instance(settings()); }
};

inline json ok_json(const plexus::CallResult& r) {
    INFO(r.text);
    REQUIRE(r.ok());
    return json::parse(r.text);
}

// Reads an entity to its end from `cursor` (updated in place).
inline std::vector<json> read_all(plexus::ConnectorInstance& c, const std::string& entity, std::string& cursor,
                                  size_t limit = 100, int* pages = nullptr, const json& since = nullptr) {
    std::vector<json> out;
    for (int guard = 0; guard < 200; ++guard) {
        json req{{"entity", entity}, {"limit", limit}, {"since", cursor.empty() ? since : json(nullptr)}, {"filter", json::object()}};
        req["cursor"] = cursor.empty() ? json(nullptr) : json(cursor);
        json page = ok_json(c.read_page(req));
        REQUIRE(page["records"].size() <= limit);
        for (auto& r : page["records"]) out.push_back(r);
        cursor = page["next_cursor"].get<std::string>();
        if (pages) ++*pages;
        if (!page["has_more"].get<bool>()) return out;
    }
    FAIL("the read did not end");
    return out;
}

inline json write(plexus::ConnectorInstance& c, const std::string& entity, const json& records) {
    // {create(…)} with one record is that record, not an array of it
    const json list = records.is_object() ? json::array({records}) : records;
    return ok_json(c.write_batch({{"entity", entity}, {"records", list}}))["results"];
}

inline json create(const std::string& key, const json& data) {
    return {{"op", "create"}, {"idempotency_key", key}, {"data", data}};
}
inline json update(const std::string& target, const json& data) {
    return {{"op", "update"}, {"idempotency_key", "u-" + target}, {"target_key", target}, {"data", data}};
}

// The recorded POSTs to `path` that were served (their form field "data", parsed).
inline std::vector<json> posted(const std::vector<json>& exchanges, const std::string& path) {
    std::vector<json> out;
    for (const auto& x : exchanges) {
        if (x["method"] != "POST" || x["path"] != "/api/v1/" + path || x["status"] != 200) continue;
        const std::string body = x["body"];
        const auto start = body.find("\r\n\r\n");
        const auto end = body.rfind("\r\n--");
        REQUIRE(start != std::string::npos);
        out.push_back(json::parse(body.substr(start + 4, end - start - 4)));
    }
    return out;
}

}  // namespace gomag_test
