// Test fixture: the PowerOffice Go connector loaded through the real plugin host
// (PluginRegistry, ConnectorInstance, HttpClient, RateGovernor) talking to the sandbox
// in-process. Every exchange the sandbox serves is recorded as JSON Lines in the build tree
// (exchanges/<test>.jsonl) for the OpenAPI contract check (test_contract.cpp).
#pragma once

#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "sandbox/poweroffice_go_sandbox.hpp"
#include "tests/support/retry_policy.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace pogo_test {

using json = nlohmann::json;

inline std::shared_ptr<const plexus::LoadedConnector> connector() {
    static plexus::PluginRegistry registry = [] {
        plexus::PluginRegistry r;
        r.load_file(std::string(PLEXUS_PLUGIN_DIR) + "/libplexus_poweroffice_go.so");
        return r;
    }();
    auto c = registry.find("poweroffice_go");
    REQUIRE(c);
    return c;
}

// Where a test's exchanges go: one file per test name, emptied when the rig starts.
inline std::string exchanges_file(const std::string& name) {
    std::filesystem::create_directories("exchanges");
    std::string file;
    for (char c : name) file += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return "exchanges/" + file + ".jsonl";
}

inline plexus::sandbox::PowerOfficeGoSandbox::Options small_options() {
    plexus::sandbox::PowerOfficeGoSandbox::Options o;
    o.seed = 7;
    o.rate_limit = false;
    o.customers = 1200;  // three pages of 500
    o.products = 700;
    o.invoiced_orders = 40;
    return o;
}

struct Rig {
    plexus::sandbox::SandboxServer server;
    plexus::SystemClock& clock = plexus::SystemClock::instance();
    plexus::HttpClient http;
    plexus::RateGovernor governor;
    std::atomic<bool> cancel{false};
    std::string recording;

    explicit Rig(plexus::sandbox::PowerOfficeGoSandbox::Options o = small_options(), double rps = 0, double burst = 0)
        : server(std::make_unique<plexus::sandbox::PowerOfficeGoSandbox>(o)), http(clock, plexus::test::fast_retry_policy(40, 8)), governor(rps, burst, clock) {
        recording = exchanges_file(Catch::getResultCapture().getCurrentTestName());
        std::filesystem::remove(recording);
        server.record_exchanges(recording);
    }
    plexus::sandbox::PowerOfficeGoSandbox& go() {
        return static_cast<plexus::sandbox::PowerOfficeGoSandbox&>(server.sandbox());
    }
    json settings() const {
        return {{"application_key", "sandbox-application-key"}, {"client_key", "sandbox-client-key"},
                {"subscription_key", "sandbox-subscription-key"}, {"base_url", server.base_url() + "/v2"},
                {"page_size", 500}, {"invoice_orders", true}, {"invoice_delivery_type", "Auto"}};
    }
    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s) {
        plexus::HostServices services{{"test", 1, "poweroffice_go", "go"}, &http, &governor, &clock, &cancel};
        return std::make_unique<plexus::ConnectorInstance>(connector(), s, services);
    }
    std::unique_ptr<plexus::ConnectorInstance> instance() { return instance(settings()); }
};

inline json ok_json(const plexus::CallResult& r) {
    INFO(r.text);
    REQUIRE(r.ok());
    return json::parse(r.text);
}

inline json read_request(const std::string& entity, const json& cursor, size_t limit = 500) {
    return {{"entity", entity}, {"cursor", cursor}, {"since", nullptr}, {"limit", limit}, {"filter", json::object()}};
}

// Reads to the end from `cursor`; returns the records, leaves the last next_cursor in it.
inline std::vector<json> read_all(plexus::ConnectorInstance& inst, const std::string& entity, json& cursor,
                                  size_t limit = 500, int* pages = nullptr) {
    std::vector<json> out;
    for (int guard = 0; guard < 1000; ++guard) {
        json page = ok_json(inst.read_page(read_request(entity, cursor, limit)));
        for (auto& r : page["records"]) out.push_back(r);
        cursor = page["next_cursor"];
        if (pages) ++*pages;
        if (!page["has_more"].get<bool>()) break;
    }
    return out;
}

inline json write_one(plexus::ConnectorInstance& inst, const std::string& entity, const json& data,
                      const std::string& idem, const std::string& op = "create", const std::string& target = "") {
    json rec = {{"op", op}, {"idempotency_key", idem}, {"data", data}};
    if (!target.empty()) rec["target_key"] = target;
    json reply = ok_json(inst.write_batch({{"entity", entity}, {"records", json::array({rec})}}));
    REQUIRE(reply["results"].size() == 1);
    return reply["results"][0];
}

inline json lookup(plexus::ConnectorInstance& inst, const json& request) { return ok_json(inst.lookup(request)); }

}  // namespace pogo_test
