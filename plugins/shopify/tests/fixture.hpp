// Test fixture: the Shopify connector loaded through the real plugin host (PluginRegistry,
// ConnectorInstance, HttpClient, RateGovernor) talking to the sandbox in-process.
#pragma once

#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "sandbox/shopify_sandbox.hpp"
#include "tests/support/retry_policy.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace shopify_test {

using json = nlohmann::json;

inline std::shared_ptr<const plexus::LoadedConnector> connector() {
    static plexus::PluginRegistry registry = [] {
        plexus::PluginRegistry r;
        r.load_directory(PLEXUS_PLUGIN_DIR);
        return r;
    }();
    auto c = registry.find("shopify");
    REQUIRE(c);
    return c;
}

// One sandbox (rate limit off unless asked) and the host services around connector instances.
struct Rig {
    plexus::sandbox::SandboxServer server;
    plexus::SystemClock& clock = plexus::SystemClock::instance();
    plexus::HttpClient http;
    plexus::RateGovernor governor;
    std::atomic<bool> cancel{false};

    explicit Rig(bool rate_limit = false, int max_attempts = 8) : Rig(options(rate_limit), max_attempts) {}
    explicit Rig(const plexus::sandbox::ShopifySandbox::Options& o, int max_attempts = 8)
        : server(std::make_unique<plexus::sandbox::ShopifySandbox>(o)),
          http(clock, plexus::test::fast_retry_policy(30, max_attempts)),
          governor(0, 0, clock) {}

    static plexus::sandbox::ShopifySandbox::Options options(bool rate_limit) {
        plexus::sandbox::ShopifySandbox::Options o;
        o.seed = 1;
        o.rate_limit = rate_limit;
        return o;
    }

    plexus::sandbox::ShopifySandbox& shop() {
        return static_cast<plexus::sandbox::ShopifySandbox&>(server.sandbox());
    }
    json settings(const std::string& token = "shpat_sandbox") const {
        return {{"store_domain", "plexus-sandbox.myshopify.com"}, {"api_version", "2024-04"},
                {"access_token", token}, {"base_url", server.base_url()}, {"page_size", 250}};
    }
    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s) {
        plexus::HostServices services{{"test", 1, "shopify", "shop"}, &http, &governor, &clock, &cancel};
        return std::make_unique<plexus::ConnectorInstance>(connector(), s, services);
    }
    std::unique_ptr<plexus::ConnectorInstance> instance() { return instance(settings()); }
};

inline json read_request(const std::string& entity, json cursor, size_t limit = 100) {
    return {{"entity", entity}, {"cursor", cursor}, {"since", nullptr}, {"limit", limit}, {"filter", json::object()}};
}

// Reads pages until has_more is false; returns the records and the last next_cursor.
inline std::pair<std::vector<json>, std::string> read_all(plexus::ConnectorInstance& c, const std::string& entity,
                                                          size_t limit, json cursor = nullptr) {
    std::vector<json> records;
    for (int pages = 0;; ++pages) {
        REQUIRE(pages < 1000);
        auto r = c.read_page(read_request(entity, cursor, limit));
        INFO(r.text);
        REQUIRE(r.ok());
        json page = json::parse(r.text);
        REQUIRE(page["records"].size() <= limit);
        for (auto& rec : page["records"]) records.push_back(rec);
        cursor = page["next_cursor"];
        if (!page["has_more"].get<bool>()) break;
    }
    return {records, cursor.get<std::string>()};
}

inline json write_one(plexus::ConnectorInstance& c, const std::string& entity, const json& record) {
    auto r = c.write_batch({{"entity", entity}, {"records", json::array({record})}});
    INFO(r.text);
    REQUIRE(r.ok());
    json results = json::parse(r.text)["results"];
    REQUIRE(results.size() == 1);
    return results[0];
}

}  // namespace shopify_test
