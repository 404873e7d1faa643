// A connector library loaded through the real host (PluginRegistry + ConnectorInstance with the
// host's HttpClient, a RateGovernor and the cancel flag), for the connector tests that talk to
// an in-process sandbox (plugins/intacct/tests/intacct_fixture.hpp, plugins/opera/tests/
// opera_fixture.hpp; Gomag's fixture loads its connector with it). Included as "tests/support/connector_fixture.hpp" (the source root is on
// every target's include path).
#pragma once

#include "common/clock.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "tests/support/retry_policy.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace plexus::test {

// The connector `name` from PLEXUS_PLUGIN_DIR/libplexus_<name>.so, loaded once per test binary.
// Tests call it from several threads at once (instances made inside worker threads): the
// registry map is guarded, and the check is made outside the lock (Catch is not thread-safe,
// but a REQUIRE that passes touches nothing shared).
inline std::shared_ptr<const plexus::LoadedConnector> load_connector(const std::string& name) {
    static std::mutex m;
    static std::map<std::string, std::unique_ptr<plexus::PluginRegistry>> registries;
    std::shared_ptr<const plexus::LoadedConnector> c;
    {
        std::lock_guard lock(m);
        auto& registry = registries[name];
        if (!registry) {
            registry = std::make_unique<plexus::PluginRegistry>();
            registry->load_file(std::string(PLEXUS_PLUGIN_DIR) + "/libplexus_" + name + ".so");
        }
        c = registry->find(name);
    }
    REQUIRE(c);
    return c;
}

// A call's answer as JSON; the call must have succeeded.
inline nlohmann::json ok_json(const plexus::CallResult& r) {
    INFO(r.text);
    REQUIRE(r.ok());
    return nlohmann::json::parse(r.text);
}

// The host services a connector instance needs: the clock, an HttpClient with fast retries and
// the cancel flag; instances of the connector `connector_name` with a governor of the caller's.
struct ConnectorHost {
    explicit ConnectorHost(std::string connector_name) : name(std::move(connector_name)) {}

    std::string name;
    plexus::SystemClock& clock = plexus::SystemClock::instance();
    plexus::HttpClient http{clock, fast_retry_policy()};
    std::atomic<bool> cancel{false};

    std::shared_ptr<const plexus::LoadedConnector> connector() const { return load_connector(name); }
    std::unique_ptr<plexus::ConnectorInstance> make_instance(const nlohmann::json& settings, plexus::RateGovernor* g) {
        plexus::HostServices services{{"test", 1, name, name}, &http, g, &clock, &cancel};
        return std::make_unique<plexus::ConnectorInstance>(connector(), settings, services);
    }
};

}  // namespace plexus::test
