// The hub: what a running Plexus holds — configuration, loaded connectors, the store, the
// HTTP client and one rate governor per connection — and the one place that turns a
// connection's configuration into a live connector instance.
#pragma once

#include "common/clock.hpp"
#include "config/config.hpp"
#include "config/settings.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "mapping/mapping.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "store/store.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace plexus {

// A process's compiled parts, built once.
// A mapping edited in the portal (core/store mapping_versions) replaces the file's: the hub
// then holds a new CompiledProcess whose `config` is its own copy of the process with that
// mapping. One already handed out stays valid for the hub's lifetime (a run in flight keeps
// the mapping it started with).
struct CompiledProcess {
    const ProcessConfig* config = nullptr;
    std::unique_ptr<Mapping> mapping;
    AggregateSpec aggregate;
    // Where the mapping comes from: 0 = the configuration file, N = stored version N.
    int64_t mapping_version = 0;
    // Set when a stored version could not be used at start (the file's is used instead).
    std::string mapping_problem;
    std::shared_ptr<const ProcessConfig> own_config;  // for a stored version
};

class Hub {
public:
    // Throws std::runtime_error listing every problem when the configuration does not
    // validate against the loaded connectors.
    Hub(Config config, PluginRegistry& registry, Store& store, Clock& clock,
        Environment env = system_environment(), RetryPolicy retry = {});

    const Config& config() const { return config_; }
    PluginRegistry& registry() { return registry_; }
    Store& store() { return store_; }
    Clock& clock() { return clock_; }
    HttpClient& http() { return http_; }

    const CompiledProcess& process(const std::string& process_id) const;

    // Every problem a mapping would have as the process's mapping, found exactly as
    // `plexus check-config` finds them (the whole configuration validated with it in place),
    // with paths such as "/processes/2/mapping/email". Empty: valid. Throws
    // std::invalid_argument for an unknown process.
    std::vector<ConfigError> check_mapping(const std::string& process_id,
                                           const nlohmann::json& spec) const;
    // Puts a mapping in force for runs that start from now on: `spec` null = the file's
    // (version 0). Throws std::runtime_error listing the problems when it does not compile.
    // Then tells the mapping listener (its ref() may name other processes now).
    void use_mapping(const std::string& process_id, const nlohmann::json& spec, int64_t version);

    // The configuration with each process's mapping in force (the file's, or the version
    // edited in the portal). What run order and prerequisites come from: a ref() added in
    // the portal makes the process it names a prerequisite at once (docs/operations.md).
    Config config_in_force() const;
    // prerequisites() and dependency_order() (config/config.hpp) of config_in_force().
    std::vector<std::string> prerequisites(const std::string& process_id) const;
    std::vector<std::string> dependency_order() const;
    // Called with the process's id after use_mapping() put a new mapping in force (from the
    // thread that called it, no hub lock held). One listener; empty clears it. Whoever sets
    // it clears it before it goes away.
    void set_mapping_listener(std::function<void(const std::string& process_id)> listener);
    const Environment& environment() const { return env_; }

    // A new connector instance for a connection, attributed to `tags` (process, run).
    // `on_wait` (may be empty) hears why the instance's HTTP requests wait (HostServices).
    std::unique_ptr<ConnectorInstance> open(const std::string& connection_id, LogTags tags,
                                            const std::atomic<bool>* cancel,
                                            WaitObserver on_wait = {});

    // A new instance for a connection that is not (or not yet) part of the configuration the
    // hub started with: a connection created in the portal, being tested. `c.settings` as
    // written (resolved here); throws std::runtime_error listing what is wrong with them.
    std::unique_ptr<ConnectorInstance> open_connection(const ConnectionConfig& c, LogTags tags,
                                                       const std::atomic<bool>* cancel);

    // Takes new settings for a connection created in the portal and edited there
    // (`c.settings` as written, resolved here; throws std::runtime_error when they do not
    // resolve). Runs that start afterwards use them; running ones keep the instance they
    // opened. False when the hub does not know the connection (no process of this hub uses
    // it; nothing to do).
    bool replace_connection_settings(const ConnectionConfig& c);

    // A resolved setting of a connection as text (a secret included: for the host's own use,
    // e.g. verifying webhooks; never to be shown); "" when unset or not a string.
    std::string setting_text(const std::string& connection_id, const std::string& name) const;

    // The connection's rate governor (created on first use from the manifest's rate_limit).
    RateGovernor& governor(const std::string& connection_id);

private:
    Config config_;
    PluginRegistry& registry_;
    Store& store_;
    Clock& clock_;
    Environment env_;
    HttpClient http_;
    mutable std::mutex settings_mutex_;  // guards settings_ (portal edits replace entries)
    std::map<std::string, nlohmann::json> settings_;  // resolved, per connection
    mutable std::mutex processes_mutex_;  // guards processes_ (portal mapping edits)
    std::map<std::string, std::shared_ptr<CompiledProcess>> processes_;
    // Replaced ones, kept alive: runs in flight hold pointers into them.
    std::vector<std::shared_ptr<CompiledProcess>> retired_;
    mutable std::mutex listener_mutex_;  // guards mapping_listener_
    std::function<void(const std::string&)> mapping_listener_;
    std::mutex governors_mutex_;
    std::map<std::string, std::unique_ptr<RateGovernor>> governors_;
};

}  // namespace plexus
