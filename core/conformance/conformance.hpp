// The connector conformance kit (docs/sdk.md, "Certification: plexus connector check").
//
// One set of rules, two users: `plexus connector check DIR|LIB` (what a partner attaches to a
// certification request) and the in-tree test that checks every shipped connector. Each rule
// ends passed, failed (with the reason: what is wrong and what to do) or skipped (with why:
// the connector lacks the capability the rule needs, or no settings were given). A rule is
// never passed for a capability the connector does not have.
//
// - Static rules read the library's descriptor and manifest and the connector's folder
//   (README.md, sample.json). No call into the connector but describe_entities.
// - Behavioural rules run the connector, through the same ConnectorInstance the host uses
//   (a worker process of its own unless the manifest or options say otherwise), against the
//   partner's own settings — normally pointing at a sandbox. They create and update records
//   (named "plexus-conformance-…"): HTTP requests are allowed to loopback addresses and to
//   the sandbox URLs given, nothing else.
#pragma once

#include "config/settings.hpp"
#include "plugin_host/plugin_registry.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace plexus::conformance {

enum class Verdict { pass, fail, skip };
const char* verdict_name(Verdict v);  // "pass", "FAIL", "skipped"

struct RuleResult {
    std::string rule;    // stable id, e.g. "manifest.version", "read.pages"
    std::string title;   // what the rule asks, in words
    std::string entity;  // the entity it ran on; "" for a connector-wide rule
    Verdict verdict = Verdict::pass;
    std::string reason;  // why it failed or was skipped (and what to do); a note when passed
};

struct Report {
    std::string connector;  // id
    std::string version;
    std::string library;  // path of the .so checked
    std::string folder;   // the connector's folder (README.md, sample.json); "" if none found
    std::string settings_file;  // where the behavioural settings came from; "" when none
    std::vector<RuleResult> results;

    void add(std::string rule, std::string title, std::string entity, Verdict v, std::string reason = {});
    size_t count(Verdict v) const;
    bool passed() const { return count(Verdict::fail) == 0; }
    // The report as a partner attaches it: one line per rule, with the reasons, and a total.
    std::string text() const;
    nlohmann::json to_json() const;
};

// What to check: the library loaded into `registry` and the folder with its README.md and
// sample.json.
struct Subject {
    std::shared_ptr<const LoadedConnector> connector;
    std::string folder;
};

// Finds what `path` names and loads it into `registry`:
// - a library (a file): loaded from there; its folder is `folder` when given, else the
//   library's directory, else its parent, whichever holds README.md (for build/libplexus_x.so
//   beside the project's README);
// - a directory: its folder; the library is the one libplexus_*.so in it or in its build/,
//   else libplexus_<folder name>.so from `plugin_dirs` and the default plugin folders (the
//   shipped connectors: plugins/files → build/plugins/libplexus_files.so);
// - an id ([a-z0-9_]+, no such file): the connector of that id from the plugin folders; the
//   folder is then unknown unless given.
// The default plugin folders (and `plugin_dirs`) are loaded too, shadowable, so a sample.json
// may name the shipped connectors beside this one. Throws std::runtime_error saying what was
// looked for where when nothing fits, or why the library was refused.
Subject locate(const std::string& path, const std::string& folder,
               const std::vector<std::string>& plugin_dirs, PluginRegistry& registry);

// The static rules, appended to `report` (which this fills with id, version, paths).
void check_static(const Subject& subject, const PluginRegistry& registry, Report& report);

struct BehaviourOptions {
    // The connection's settings as written (may hold "${ENV}"), checked against the manifest.
    nlohmann::json settings = nlohmann::json::object();
    Environment env = system_environment();
    // A record to create, per entity: {"tickets": {"subject": "…"}}; "{nonce}" in its strings
    // becomes a fresh value per check. Entities without one get a record made up from their
    // declared fields.
    nlohmann::json samples = nlohmann::json::object();
    // The source filter to read an entity with, per entity (as a process's "filter"), for
    // entities that read nothing without one: {"voucher_balance": {"codes": […]}}.
    nlohmann::json filters = nlohmann::json::object();
    // Base URLs the connector may reach besides loopback (127.0.0.1, localhost, [::1]). The
    // first one also replaces "{sandbox}" in the settings' strings.
    std::vector<std::string> sandbox_urls;
    std::vector<std::string> entities;  // only these; empty: every entity
    size_t page_size = 10;              // the read rules' page size (small: pages get exercised)
    size_t max_records = 500;           // read at most this many per entity
    bool isolate = true;                // run the connector in a worker process, as the host does
    // Pace requests by the manifest's rate_limit, as the host does. Off for a sandbox that
    // enforces no budget (the shipped ones' tests: seconds instead of a minute).
    bool rate_limit = true;
};

// The behavioural rules, appended to `report`. Never throws for the connector's behaviour.
void check_behaviour(const Subject& subject, const BehaviourOptions& options, Report& report);

// Reads a settings file for the kit: either the settings object itself, or
// {"settings": {…}, "samples": {entity: record}, "filters": {entity: filter}} — keys starting
// with "_" are notes, skipped — (told apart by a "settings" member that the
// manifest does not declare as a setting). Throws std::runtime_error naming the file and
// what is wrong.
void read_settings_file(const std::string& path, const nlohmann::json& manifest,
                        BehaviourOptions& options);

}  // namespace plexus::conformance
