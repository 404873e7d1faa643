// plexus connector check|read|lookup|check-connection|entities — the partner kit's commands
// (docs/sdk.md, "The plexus connector command").
#include "app/cli.hpp"

#include "common/clock.hpp"
#include "common/redactor.hpp"
#include "conformance/conformance.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"

#include <plexus/connector.hpp>

#include <fstream>
#include <iostream>

namespace plexus::cli {
namespace {

using nlohmann::json;

const char* kConnectorUsage = R"(usage: plexus connector <subcommand> [options]

subcommands:
  check DIR|LIB|ID        the conformance kit: static rules, and behavioural rules run against
                          your sandbox with --settings FILE; a report to attach to a certification
                          request (exit 1 when a rule fails)
  check-connection        run the connector's check() once with given settings
  read                    read one page of an entity and print it as JSON
  lookup                  look one record up (--key, or --idempotency-key [--data]) and print it
  entities                the entities the connector offers for given settings

The connector of check-connection, read, lookup and entities is either
  CONNECTOR --settings FILE      a folder, library or id, and its settings (a JSON object)
  --config FILE --connection ID  a connection of a configuration file
Each subcommand takes --help.
)";

// Where a single call's connector and settings come from.
struct Target {
    PluginRegistry registry;
    std::shared_ptr<const LoadedConnector> connector;
    json settings;  // resolved
    std::string label;
};

void load_target(Target& t, const Common& c, const std::string& spec, const std::string& settings_file,
                 const std::string& connection) {
    if (!connection.empty()) {
        if (!spec.empty() || !settings_file.empty())
            throw po::error("give either CONNECTOR --settings FILE or --config FILE --connection ID, not both");
        load_plugins(t.registry, c);
        Config config;
        if (!load_valid_config(c, t.registry, config))
            throw std::runtime_error(c.config_file + " is not valid (the errors are above)");
        const ConnectionConfig* conn = config.connection(connection);
        if (!conn) {
            std::string known;
            for (const auto& k : config.connections) known += " " + k.id;
            throw po::error("no connection \"" + connection + "\" in " + c.config_file + "; known:" + known);
        }
        t.connector = t.registry.find(conn->connector);
        std::vector<ConfigError> errors;
        ResolvedSettings r = resolve_settings(t.connector->manifest, conn->settings, system_environment(),
                                              c.config_file, conn->json_path + "/settings", errors);
        for (const auto& s : r.secret_values) global_redactor().add(s);
        t.settings = r.values;
        t.label = "connection \"" + connection + "\" (" + conn->connector + ")";
        return;
    }
    if (spec.empty()) throw po::error("which connector? give CONNECTOR --settings FILE, or --config FILE --connection ID");
    if (settings_file.empty()) throw po::error("--settings FILE is needed with CONNECTOR (the connection's settings, JSON)");
    auto subject = conformance::locate(spec, "", c.plugin_dirs, t.registry);
    t.connector = subject.connector;
    conformance::BehaviourOptions o;
    conformance::read_settings_file(settings_file, t.connector->manifest, o);
    std::vector<ConfigError> errors;
    ResolvedSettings r = resolve_settings(t.connector->manifest, o.settings, system_environment(), settings_file, "", errors);
    for (const auto& s : r.secret_values) global_redactor().add(s);
    if (!errors.empty()) {
        std::string text;
        for (const auto& e : errors) text += "\n  " + e.to_string();
        throw std::runtime_error("the settings do not validate against connector \"" + t.connector->id + "\":" + text);
    }
    t.settings = r.values;
    t.label = "connector \"" + t.connector->id + "\"";
}

// One instance with the host's own services (HTTP client with retries, governor, clock).
struct Session {
    HttpClient http{SystemClock::instance()};
    std::unique_ptr<RateGovernor> governor;
    std::unique_ptr<ConnectorInstance> instance;

    explicit Session(const Target& t) {
        json rl = t.connector->manifest.value("rate_limit", json::object());
        double rps = rl.is_object() ? rl.value("requests_per_second", 0.0) : 0.0;
        double burst = rl.is_object() ? rl.value("burst", std::max(1.0, rps)) : 1.0;
        governor = std::make_unique<RateGovernor>(rps, burst, SystemClock::instance());
        HostServices s;
        s.tags = LogTags{"connector-cli", 0, t.connector->id, "cli"};
        s.http = &http;
        s.governor = governor.get();
        s.clock = &SystemClock::instance();
        instance = std::make_unique<ConnectorInstance>(t.connector, t.settings, std::move(s),
                                                       isolation_for(nullptr, t.connector->manifest));
    }
};

// Prints the call's reply (JSON) or its error, redacted, as JSON; the exit status.
int print_result(const Target& t, const char* what, const CallResult& r) {
    if (r.ok()) {
        json reply = json::parse(r.text, nullptr, false);
        if (reply.is_discarded()) std::cout << r.text << "\n";
        else std::cout << reply.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return ok;
    }
    const std::string message = global_redactor().redact(r.text);
    std::cout << json{{"error", {{"call", what}, {"status", status_name(r.status)}, {"message", message}}}}.dump(2)
              << "\n";
    std::cerr << "plexus connector " << what << ": " << t.label << " answered " << status_name(r.status) << ": "
              << message << "\n";
    return run_failed;
}

void add_target_options(po::options_description& opts, std::string& settings_file, std::string& connection) {
    opts.add_options()("settings", po::value(&settings_file), "the connection's settings: a JSON object (${ENV} allowed)")(
        "connection", po::value(&connection), "with --config: the connection to use");
}

int sub_check(const std::vector<std::string>& args) {
    Common c;
    std::string path, folder, settings_file, format;
    std::vector<std::string> sandboxes, entities;
    size_t page_size = 10, max_records = 500;
    bool in_process = false;
    po::options_description opts("options");
    add_common(opts, c, false, false, true);
    opts.add_options()("connector", po::value(&path), "DIR (the connector's folder), LIB (its .so) or ID")(
        "folder", po::value(&folder), "the folder with README.md and sample.json, when not found from LIB")(
        "settings", po::value(&settings_file),
        "settings for the behavioural rules: the settings object, or {\"settings\": {…}, \"samples\": {entity: record}, \"filters\": {entity: filter}}")(
        "sandbox", po::value(&sandboxes)->composing(),
        "a base URL the connector may reach besides loopback (repeatable); anything else is refused")(
        "entity", po::value(&entities)->composing(), "check only this entity (repeatable)")(
        "page-size", po::value(&page_size)->default_value(10), "records per page in the read rules")(
        "max-records", po::value(&max_records)->default_value(500), "read at most this many records per entity")(
        "isolation", po::value<std::string>()->default_value("process"), "process (as the host runs it) or none")(
        "no-rate-limit", "do not pace requests by the manifest's rate_limit (a sandbox without a budget)")(
        "format", po::value(&format)->default_value("text"), "text or json");
    po::positional_options_description pos;
    pos.add("connector", 1);
    po::variables_map vm;
    if (!parse("connector check", "DIR|LIB|ID [--settings FILE] [--sandbox URL]... [--format text|json]", opts, pos,
               args, vm))
        return ok;
    if (path.empty()) throw po::error("which connector? plexus connector check DIR|LIB|ID");
    if (format != "text" && format != "json") throw po::error("--format must be text or json, not \"" + format + "\"");
    const std::string iso = vm["isolation"].as<std::string>();
    if (iso != "process" && iso != "none") throw po::error("--isolation must be process or none");
    in_process = iso == "none";
    if (page_size == 0) throw po::error("--page-size must be at least 1");

    PluginRegistry registry;
    conformance::Subject subject = conformance::locate(path, folder, c.plugin_dirs, registry);
    conformance::Report report;
    conformance::check_static(subject, registry, report);
    if (!settings_file.empty()) {
        conformance::BehaviourOptions o;
        conformance::read_settings_file(settings_file, subject.connector->manifest, o);
        o.sandbox_urls = sandboxes;
        o.entities = entities;
        o.page_size = page_size;
        o.max_records = max_records;
        o.isolate = !in_process;
        o.rate_limit = vm.count("no-rate-limit") == 0;
        report.settings_file = settings_file;
        conformance::check_behaviour(subject, o, report);
    } else {
        report.add("behaviour", "behavioural rules (read, write, lookup, errors)", "", conformance::Verdict::skip,
                   "no --settings FILE given: they run against your sandbox");
    }
    if (format == "json") std::cout << report.to_json().dump(2) << "\n";
    else std::cout << report.text();
    return report.passed() ? ok : run_failed;
}

int sub_call(const std::string& sub, const std::vector<std::string>& args) {
    Common c;
    std::string spec, settings_file, connection, entity, cursor, since, filter, key, idem, data;
    size_t limit = 10;
    po::options_description opts("options");
    add_common(opts, c, true, false, true);
    add_target_options(opts, settings_file, connection);
    opts.add_options()("connector", po::value(&spec), "DIR, LIB or ID (with --settings)");
    if (sub == "read" || sub == "lookup") opts.add_options()("entity", po::value(&entity), "the entity");
    if (sub == "read")
        opts.add_options()("cursor", po::value(&cursor), "resume after this cursor (a next_cursor printed before)")(
            "since", po::value(&since), "ISO 8601: records changed at or after it (with no cursor)")(
            "limit", po::value(&limit)->default_value(10), "at most this many records")(
            "filter", po::value(&filter), "the source filter, JSON");
    if (sub == "lookup")
        opts.add_options()("key", po::value(&key), "find the record with this key")(
            "idempotency-key", po::value(&idem), "find what a create with this idempotency key made")(
            "data", po::value(&data), "with --idempotency-key: the mapped record, JSON");
    po::positional_options_description pos;
    pos.add("connector", 1);
    po::variables_map vm;
    const std::string synopsis = "(CONNECTOR --settings FILE | --config FILE --connection ID)" +
                                 std::string(sub == "read" ? " --entity E [--cursor C] [--since T] [--limit N] [--filter JSON]"
                                             : sub == "lookup" ? " --entity E (--key K | --idempotency-key K [--data JSON])"
                                                               : "");
    if (!parse("connector " + sub, synopsis, opts, pos, args, vm)) return ok;
    if ((sub == "read" || sub == "lookup") && entity.empty()) throw po::error("--entity is needed");
    auto parse_json = [](const std::string& text, const char* option) {
        json j = json::parse(text, nullptr, false);
        if (!j.is_object()) throw po::error(std::string(option) + " is not a JSON object");
        return j;
    };
    if (sub == "lookup" && key.empty() == idem.empty()) throw po::error("give --key or --idempotency-key (one of them)");
    if (!data.empty() && idem.empty()) throw po::error("--data goes with --idempotency-key");
    json filter_json = filter.empty() ? json::object() : parse_json(filter, "--filter");
    json data_json = data.empty() ? json::object() : parse_json(data, "--data");

    Target t;
    load_target(t, c, spec, settings_file, connection);
    if (sub == "entities") {
        json entities = t.connector->manifest.value("entities", json::array());
        if (t.connector->has_describe()) {
            std::string error;
            auto e = t.registry.entities(t.connector->id, t.settings, error);
            if (!e) {
                std::cerr << "plexus connector entities: " << t.label << ": " << global_redactor().redact(error) << "\n";
                return run_failed;
            }
            entities = *e;
        }
        std::cout << entities.dump(2) << "\n";
        return ok;
    }
    Session session(t);
    if (sub == "check-connection") {
        CallResult r = session.instance->check();
        if (r.ok()) {
            std::cout << json{{"ok", true}, {"connector", t.connector->id}}.dump(2) << "\n";
            return ok;
        }
        return print_result(t, "check-connection", r);
    }
    if (sub == "read") {
        json req{{"entity", entity}, {"limit", limit}, {"filter", filter_json}};
        req["cursor"] = cursor.empty() ? json(nullptr) : json(cursor);
        if (!since.empty()) req["since"] = since;
        return print_result(t, "read", session.instance->read_page(req));
    }
    json req{{"entity", entity}, {"data", data_json}};
    if (!key.empty()) req["key"] = key;
    if (!idem.empty()) req["idempotency_key"] = idem;
    return print_result(t, "lookup", session.instance->lookup(req));
}

}  // namespace

// plexus connector check|check-connection|read|lookup|entities …
int cmd_connector(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kConnectorUsage;
        return args.empty() ? usage : ok;
    }
    const std::string sub = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    try {
        if (sub == "check") return sub_check(rest);
        if (sub == "check-connection" || sub == "read" || sub == "lookup" || sub == "entities")
            return sub_call(sub, rest);
    } catch (const po::error&) {
        throw;  // usage: main prints it with the exit status for bad usage
    } catch (const std::exception& e) {
        // A connector's own message (create failed, its worker was lost) may quote a setting:
        // redacted like every other message.
        std::cerr << "plexus connector " << sub << ": " << global_redactor().redact(e.what()) << "\n";
        return run_failed;
    }
    std::cerr << "plexus connector: unknown subcommand \"" << sub << "\"\n\n" << kConnectorUsage;
    return usage;
}

}  // namespace plexus::cli
