// The configuration model: connections, lookup tables and processes, read from one JSON file
// (docs/configuration.md is the operator's reference), and its validation against the
// loaded connectors' manifests.
//
// Two steps, both collecting every problem instead of stopping at the first:
// - parse_config / load_config check the structure (JSON syntax, types, required keys,
//   unknown keys, duplicate ids) and build the model;
// - validate_config checks meaning against the connectors (settings, entities,
//   capabilities, fields), mappings, schedules and the dependency graph.
// Every ConfigError names the file, an RFC 6901 JSON path and what is wrong.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/notifications_config.hpp"
#include "config/settings.hpp"

namespace plexus {

struct ConnectionConfig {
    std::string id;
    std::string connector;
    nlohmann::json settings = nlohmann::json::object();  // as written: may hold "${ENV}"
    std::string json_path;                               // "/connections/shop"
    // Created in the portal and kept in the database (core/secrets/stored_connections.hpp),
    // not written in the configuration file.
    bool stored = false;
    // Overrides the connector's declared request budget (its manifest's "rate_limit"), e.g.
    // for a Shopify Plus store: {"requests_per_second": 20, "burst": 400}; 0 = no limit.
    // Null: the manifest's.
    nlohmann::json rate_limit;
    // How its connector instances run (docs/design/004-connector-isolation.md): "process"
    // (each in a worker process of its own, the default; "" = not written) or "none" (in the
    // host's process: development and benchmarks).
    std::string isolation;
    // The deadline of one call into the connector in seconds (worker time; time the host
    // spends serving its HTTP requests is not counted). 0 = the connector's or the host's.
    double call_timeout_s = 0;
    // The worker's address-space cap in MiB (RLIMIT_AS). 0 = none; -1 = not written: the
    // connector's or the host's.
    int64_t memory_limit_mb = -1;
};

struct Endpoint {
    std::string connection;
    std::string entity;
    nlohmann::json filter = nlohmann::json::object();  // source only; passed to read_page
};

// Either `cron` or `interval` is set (never both); `timezone` is an IANA name, "" = UTC.
struct ScheduleConfig {
    std::string cron;
    std::string interval;
    std::string timezone;
    bool empty() const { return cron.empty() && interval.empty() && timezone.empty(); }
};

struct Dependency {
    std::string process;   // the process this one depends on
    std::string key_path;  // source path holding that process's source key, e.g. "customer.id"
};

struct ProcessConfig {
    std::string id;
    std::string name;  // display name; defaults to id
    Endpoint source;
    Endpoint target;
    nlohmann::json mapping;
    std::string mode = "record";  // "record" or "aggregate"
    nlohmann::json aggregate;     // mode "aggregate": {"group_by": [...], "sum": [...]}
    ScheduleConfig schedule;      // empty: manual runs only
    bool enabled = true;
    std::vector<Dependency> dependencies;
    int page_size = 500;
    int batch_size = 100;
    std::string json_path;  // "/processes/3"
};

// The webhook listener of `plexus serve` (docs/configuration.md, "hooks";
// docs/design/007-webhook-inbox.md). Off while `listen` is empty.
struct HooksConfig {
    std::string listen;                     // "127.0.0.1:8090"; "" = no listener
    int64_t max_body_bytes = 1024 * 1024;   // larger events get 413
    int64_t max_pending = 10000;            // per connection; more get 503 until consumed
    double retention_days = 7;              // consumed events are kept this long
};

// A button on a group's panel in the portal (docs/configuration.md, "groups"): run one
// process now — first reading again from a time when `from` is set — or run several in
// dependency order.
struct GroupAction {
    std::string id;
    std::string label;
    std::vector<std::string> run_all;  // several processes, in dependency order; or
    std::string run;                   // one process
    // With `run`: "" (the cursor as it is), "ask" (the operator gives the time; `from_default`
    // pre-filled) or a fixed time "2024-05-01" / "2024-05-01T00:00:00Z": the run reads
    // again from there (an audited rewind first).
    std::string from;
    std::string from_default;
    std::string json_path;
};

// Processes an operator handles together, e.g. everything of one shop: one panel with an
// "active sync" switch (enables or disables them all) and the group's action buttons.
struct GroupConfig {
    std::string id;
    std::string name;
    std::string description;
    std::vector<std::string> processes;
    std::vector<GroupAction> actions;
    std::string json_path;
};

// What `plexus serve` does at start (docs/configuration.md, "serve").
struct ServeConfig {
    // "new": run, in dependency order, every enabled process that has never completed a run
    // (a fresh hub's first sync); "all": every enabled process; "none": wait for schedules.
    std::string run_at_start = "new";
};

struct Config {
    std::string file;
    HooksConfig hooks;
    ServeConfig serve;
    NotificationsConfig notifications;  // "notifications": channels provisioned in the file
    std::vector<GroupConfig> groups;
    std::vector<ConnectionConfig> connections;
    std::vector<ProcessConfig> processes;
    nlohmann::json lookup_tables = nlohmann::json::object();  // table → {value → replacement}

    const ConnectionConfig* connection(const std::string& id) const;
    const ProcessConfig* process(const std::string& id) const;
    const GroupConfig* group(const std::string& id) const;
};

// Read and parse a configuration file. Never throws for bad content: problems (unreadable
// file, JSON syntax error with line and column, wrong types, missing or unknown keys,
// duplicate keys or process ids) are appended to `errors`. `//` and `/* */` comments are
// allowed.
Config load_config(const std::string& path, std::vector<ConfigError>& errors);
Config parse_config(const std::string& text, const std::string& file_name,
                    std::vector<ConfigError>& errors);

// What validation needs to know about connectors: implemented by the plugin host (and by a
// fake in tests).
class ConnectorCatalog {
public:
    virtual ~ConnectorCatalog() = default;
    // The manifest (docs/design/001-plugin-abi.md), or nullptr for an unknown connector.
    virtual const nlohmann::json* manifest(const std::string& connector_id) const = 0;
    // The entities for these resolved settings (describe_entities, or the manifest's list).
    // On failure nullopt, with `error` set.
    virtual std::optional<nlohmann::json> entities(const std::string& connector_id,
                                                   const nlohmann::json& resolved_settings,
                                                   std::string& error) const = 0;
    // Ids of the known connectors, to suggest one when a configuration names an unknown
    // connector. Optional.
    virtual std::vector<std::string> connector_ids() const { return {}; }
};

// Check the configuration against the connectors: unknown connector; settings (missing,
// unknown, wrong type, unset environment variable); unknown connection or entity; an entity
// lacking the capability its role needs (source: "read", target: "create"); mapped fields
// the entities do not declare (unless "open"); mapping expressions; lookup tables; ref()
// and dependencies naming unknown processes; dependency cycles; mode and aggregate;
// schedules (cron, interval, time zone). Appends to `errors`; never throws for bad content.
// Never puts a secret's value into a message.
void validate_config(const Config& config, const ConnectorCatalog& catalog, const Environment& env,
                     std::vector<ConfigError>& errors);

// The processes a process needs to have run first: its `dependencies` and the processes its
// mapping names in ref(), each once, in configuration order (unknown names left out).
std::vector<std::string> prerequisites(const Config& config, const ProcessConfig& process);

// Every process id in an order that runs each one after its prerequisites (categories →
// products → inventory; customers → orders); among processes free to go, configuration
// order. A valid configuration has no cycles; any left are appended in configuration order.
std::vector<std::string> dependency_order(const Config& config);

}  // namespace plexus
