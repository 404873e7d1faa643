// The e-guma connector loaded through the real host, its sandbox and the Shopify sandbox on
// loopback, and — for the end-to-end tests — the real engine (Hub, SyncEngine, SQLite store)
// running config/shopify-eguma.json against them.
#pragma once

#include "common/clock.hpp"
#include "config/config.hpp"
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "store/store.hpp"
#include "tests/support/retry_policy.hpp"

#include "plugins/shopify/sandbox/shopify_sandbox.hpp"
#include "sandbox/eguma_sandbox.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>

namespace eguma_test {

using json = nlohmann::json;
namespace fs = std::filesystem;

inline plexus::PluginRegistry& registry() {
    static plexus::PluginRegistry r = [] {
        plexus::PluginRegistry x;
        x.load_file(std::string(PLEXUS_PLUGIN_DIR) + "/libplexus_eguma.so");
        x.load_file(std::string(PLEXUS_PLUGIN_DIR) + "/libplexus_shopify.so");
        return x;
    }();
    return r;
}

// Every line the host logs (after its redaction), kept for the test to search.
struct LogCapture {
    std::ostringstream out;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    LogCapture() {
        plexus::log_info("log capture starts");  // makes the "plexus" logger exist
        if (auto l = spdlog::get("plexus")) l->sinks().push_back(sink);
    }
    ~LogCapture() {
        if (auto l = spdlog::get("plexus")) {
            auto& s = l->sinks();
            s.erase(std::remove(s.begin(), s.end(), sink), s.end());
        }
    }
    std::string text() {
        sink->flush();
        return out.str();
    }
};

struct EgumaWorld {
    plexus::sandbox::SandboxServer eguma_server{plexus::sandbox::make_eguma_sandbox(1)};
    plexus::SystemClock& clock = plexus::SystemClock::instance();
    plexus::HttpClient http{clock, plexus::test::fast_retry_policy()};
    plexus::RateGovernor governor{1000, 1000, clock};
    std::atomic<bool> cancel{false};

    plexus::sandbox::EgumaSandbox& eguma() {
        return dynamic_cast<plexus::sandbox::EgumaSandbox&>(eguma_server.sandbox());
    }
    json settings() const {
        return {{"api_key", plexus::sandbox::kEgumaKeyOutlet1}, {"base_url", eguma_server.base_url()},
                {"currency", "CHF"}, {"webhook_secret", "whsec-sandbox"}, {"timeout_ms", 2000}, {"recheck_ms", 100}};
    }
    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s) {
        auto c = registry().find("eguma");
        REQUIRE(c);
        plexus::HostServices services{{"test", 1, "eguma", "eguma"}, &http, &governor, &clock, &cancel};
        return std::make_unique<plexus::ConnectorInstance>(c, s, services);
    }
    std::unique_ptr<plexus::ConnectorInstance> instance() { return instance(settings()); }
};

inline json ok_json(const plexus::CallResult& r) {
    INFO(r.text);
    REQUIRE(r.ok());
    return json::parse(r.text);
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Both sandboxes, a fresh database, and config/shopify-eguma.json pointed at the sandboxes
// (both processes enabled).
struct ShopifyEgumaWorld : EgumaWorld {
    plexus::sandbox::SandboxServer shop_server{[] {
        plexus::sandbox::ShopifySandbox::Options o;
        o.rate_limit = false;
        o.customers = 4;
        o.products = 4;
        o.orders = 12;
        return std::make_unique<plexus::sandbox::ShopifySandbox>(o);
    }()};
    fs::path dir;
    std::unique_ptr<plexus::Store> store;
    json config;

    ShopifyEgumaWorld() {
        std::random_device rd;
        dir = fs::temp_directory_path() / ("plexus-eguma-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(dir);
        store = plexus::open_sqlite_store((dir / "plexus.db").string());
        config = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "config" / "shopify-eguma.json"));
        config["connections"]["shopify"]["settings"] = {{"store_domain", "plexus-sandbox.myshopify.com"},
                                                        {"api_version", "2024-04"},
                                                        {"access_token", "shpat_sandbox"},
                                                        {"base_url", shop_server.base_url()}};
        config["connections"]["eguma"]["settings"] = settings();
        for (auto& p : config["processes"]) p["enabled"] = true;
        // In the host's process: this test binary is no plexus worker (the worker isolation
        // itself is tested in tests/integration).
        for (const char* c : {"shopify", "eguma"}) config["connections"][c]["isolation"] = "none";
    }
    ~ShopifyEgumaWorld() {
        store.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    plexus::sandbox::ShopifySandbox& shop() {
        return dynamic_cast<plexus::sandbox::ShopifySandbox&>(shop_server.sandbox());
    }
    // A Shopify order: `paid` by card, the rest by the "e-guma" gateway with this voucher.
    int64_t voucher_order(const std::string& total, const std::string& paid, const std::string& code) {
        return shop().add_voucher_order({{"total", total},
                                         {"paid", paid},
                                         {"currency", "CHF"},
                                         {"gateways", {"shopify_payments", "e-guma"}},
                                         {"note_attributes", {{{"name", "gift wrap"}, {"value", "yes"}},
                                                              {{"name", "e-guma voucher"}, {"value", code}}}}});
    }
    plexus::RunSummary run(const std::string& process) {
        std::vector<plexus::ConfigError> errors;
        plexus::Config c = plexus::parse_config(config.dump(), "shopify-eguma.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        plexus::Hub hub(std::move(c), registry(), *store, clock);
        plexus::SyncEngine engine(hub);
        return engine.run(process);
    }
    plexus::RunSummary replay(const std::string& process) {
        std::vector<plexus::ConfigError> errors;
        plexus::Config c = plexus::parse_config(config.dump(), "shopify-eguma.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        plexus::Hub hub(std::move(c), registry(), *store, clock);
        plexus::SyncEngine engine(hub);
        return engine.replay(process);
    }
    std::vector<plexus::RecordOutcome> outcomes(int64_t run_id) {
        plexus::OutcomeQuery q;
        q.run_id = run_id;
        q.limit = 1000;
        return store->outcomes(q);
    }
    std::string target_of(const std::string& process, int64_t order_id) {
        auto e = store->ledger_find(process, std::to_string(order_id));
        return e ? e->target_key : std::string();
    }
};

inline constexpr const char* kGateway = "voucher-redemptions-shopify-eguma";
inline constexpr const char* kDiscount = "voucher-discount-codes-shopify-eguma";

}  // namespace eguma_test
