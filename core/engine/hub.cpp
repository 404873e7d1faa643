#include "engine/hub.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"

#include <stdexcept>

namespace plexus {

Hub::Hub(Config config, PluginRegistry& registry, Store& store, Clock& clock, Environment env,
         RetryPolicy retry)
    : config_(std::move(config)),
      registry_(registry),
      store_(store),
      clock_(clock),
      env_(std::move(env)),
      http_(clock, retry) {
    std::vector<ConfigError> errors;
    validate_config(config_, registry_, env_, errors);
    if (!errors.empty()) {
        std::string text = "configuration is not valid:";
        for (const auto& e : errors) text += "\n  " + e.to_string();
        throw std::runtime_error(text);
    }
    // Valid: build the runtime parts. Their errors were reported by validate_config already,
    // so a second list only guards against the two drifting apart.
    for (const auto& c : config_.connections) {
        const nlohmann::json* manifest = registry_.manifest(c.connector);
        if (!manifest) continue;  // reported by validate_config
        ResolvedSettings r = resolve_settings(*manifest, c.settings, env_, config_.file,
                                              "/connections/" + c.id + "/settings", errors);
        for (const auto& s : r.secret_values) global_redactor().add(s);
        settings_[c.id] = std::move(r.values);
    }
    for (const auto& p : config_.processes) {
        auto cp = std::make_shared<CompiledProcess>();
        cp->config = &p;
        cp->mapping = std::make_unique<Mapping>(Mapping::compile(
            p.mapping, config_.lookup_tables, config_.file, p.json_path + "/mapping", errors));
        if (p.mode == "aggregate")
            cp->aggregate = AggregateSpec::parse(p.aggregate, config_.file,
                                                 p.json_path + "/aggregate", errors);
        processes_.emplace(p.id, std::move(cp));
    }
    if (!errors.empty()) {
        std::string text = "configuration is not valid:";
        for (const auto& e : errors) text += "\n  " + e.to_string();
        throw std::runtime_error(text);
    }
    // Mappings edited in the portal win over the file's (docs/operations.md, "Mappings in the
    // portal"). One that no longer fits the configuration (a lookup table removed since) is
    // not used: the file's mapping runs and the problem is logged and shown in the portal.
    for (const auto& p : config_.processes) {
        std::optional<MappingVersion> stored;
        try {
            stored = store_.mapping_current(p.id);
        } catch (const std::exception& e) {
            log_line(LogLevel::warn, LogTags{p.id, 0, {}, {}},
                     std::string("cannot read the stored mapping: ") + e.what());
        }
        if (!stored || stored->mapping_json.empty()) {
            if (stored) processes_[p.id]->mapping_version = stored->version;
            continue;
        }
        nlohmann::json spec = nlohmann::json::parse(stored->mapping_json, nullptr, false);
        try {
            if (spec.is_discarded()) throw std::runtime_error("it is not JSON");
            use_mapping(p.id, spec, stored->version);
            log_line(LogLevel::info, LogTags{p.id, 0, {}, {}},
                     "uses mapping version " + std::to_string(stored->version) +
                         " edited in the portal by " + stored->actor +
                         ", not the configuration file's (revert to version 0 to use the file's)");
        } catch (const std::exception& e) {
            const std::string problem = "mapping version " + std::to_string(stored->version) +
                                        " (edited in the portal) cannot be used, so the file's "
                                        "mapping is: " + e.what();
            log_line(LogLevel::error, LogTags{p.id, 0, {}, {}}, problem);
            processes_[p.id]->mapping_problem = problem;
        }
    }
}

const CompiledProcess& Hub::process(const std::string& process_id) const {
    std::lock_guard lock(processes_mutex_);
    auto it = processes_.find(process_id);
    if (it == processes_.end())
        throw std::invalid_argument("unknown process \"" + process_id + "\" in " + config_.file);
    return *it->second;
}

Config Hub::config_in_force() const {
    Config copy = config_;
    std::lock_guard lock(processes_mutex_);
    for (auto& p : copy.processes)
        if (auto it = processes_.find(p.id); it != processes_.end() && it->second->own_config)
            p.mapping = it->second->config->mapping;
    return copy;
}

std::vector<std::string> Hub::prerequisites(const std::string& process_id) const {
    const Config in_force = config_in_force();
    const ProcessConfig* p = in_force.process(process_id);
    if (!p) throw std::invalid_argument("unknown process \"" + process_id + "\"");
    return plexus::prerequisites(in_force, *p);
}

std::vector<std::string> Hub::dependency_order() const {
    return plexus::dependency_order(config_in_force());
}

void Hub::set_mapping_listener(std::function<void(const std::string&)> listener) {
    std::lock_guard lock(listener_mutex_);
    mapping_listener_ = std::move(listener);
}

std::vector<ConfigError> Hub::check_mapping(const std::string& process_id,
                                            const nlohmann::json& spec) const {
    // The other processes with their mappings in force: a cycle through ref() made of two
    // mappings edited in the portal is found too.
    Config copy = config_in_force();
    bool found = false;
    for (auto& p : copy.processes)
        if (p.id == process_id) {
            p.mapping = spec;
            found = true;
        }
    if (!found) throw std::invalid_argument("unknown process \"" + process_id + "\"");
    std::vector<ConfigError> errors;
    validate_config(copy, registry_, env_, errors);
    return errors;
}

void Hub::use_mapping(const std::string& process_id, const nlohmann::json& spec, int64_t version) {
    const ProcessConfig* file = config_.process(process_id);
    if (!file) throw std::invalid_argument("unknown process \"" + process_id + "\"");
    auto cp = std::make_shared<CompiledProcess>();
    std::vector<ConfigError> errors;
    if (spec.is_null()) {
        cp->config = file;
    } else {
        auto own = std::make_shared<ProcessConfig>(*file);
        own->mapping = spec;
        cp->own_config = own;
        cp->config = own.get();
    }
    cp->mapping = std::make_unique<Mapping>(Mapping::compile(
        cp->config->mapping, config_.lookup_tables, config_.file, file->json_path + "/mapping", errors));
    if (file->mode == "aggregate")
        cp->aggregate = AggregateSpec::parse(file->aggregate, config_.file,
                                             file->json_path + "/aggregate", errors);
    if (!errors.empty()) {
        std::string text;
        for (const auto& e : errors) text += (text.empty() ? "" : "; ") + e.json_path + ": " + e.message;
        throw std::runtime_error(text);
    }
    cp->mapping_version = version;
    {
        std::lock_guard lock(processes_mutex_);
        auto& slot = processes_[process_id];
        if (slot) retired_.push_back(std::move(slot));
        slot = std::move(cp);
    }
    std::function<void(const std::string&)> listener;
    {
        std::lock_guard lock(listener_mutex_);
        listener = mapping_listener_;
    }
    if (listener) listener(process_id);
}

std::unique_ptr<ConnectorInstance> Hub::open(const std::string& connection_id, LogTags tags,
                                             const std::atomic<bool>* cancel,
                                             WaitObserver on_wait) {
    const ConnectionConfig* c = config_.connection(connection_id);
    if (!c) throw std::invalid_argument("unknown connection \"" + connection_id + "\"");
    auto loaded = registry_.find(c->connector);
    if (!loaded)
        throw std::runtime_error("connection \"" + connection_id + "\": connector \"" +
                                 c->connector + "\" is not loaded");
    tags.connection = connection_id;
    tags.connector = c->connector;
    HostServices services;
    services.tags = std::move(tags);
    services.http = &http_;
    services.governor = &governor(connection_id);
    services.clock = &clock_;
    services.cancel = cancel;
    services.on_wait = std::move(on_wait);
    nlohmann::json settings;
    {
        std::lock_guard lock(settings_mutex_);
        settings = settings_.at(connection_id);
    }
    return std::make_unique<ConnectorInstance>(loaded, settings, std::move(services),
                                               isolation_for(c, loaded->manifest));
}

namespace {
nlohmann::json resolve_or_throw(const ConnectionConfig& c, const nlohmann::json& manifest,
                                const Environment& env) {
    std::vector<ConfigError> errors;
    ResolvedSettings r = resolve_settings(manifest, c.settings, env, "connection \"" + c.id + "\"",
                                          "/settings", errors);
    if (!errors.empty()) {
        std::string text = "the settings are not valid:";
        for (const auto& e : errors) text += "\n  " + e.to_string();
        throw std::runtime_error(text);
    }
    for (const auto& s : r.secret_values) global_redactor().add(s);
    return std::move(r.values);
}
}  // namespace

std::unique_ptr<ConnectorInstance> Hub::open_connection(const ConnectionConfig& c, LogTags tags,
                                                        const std::atomic<bool>* cancel) {
    auto loaded = registry_.find(c.connector);
    if (!loaded)
        throw std::runtime_error("connection \"" + c.id + "\": connector \"" + c.connector +
                                 "\" is not loaded");
    nlohmann::json settings = resolve_or_throw(c, loaded->manifest, env_);
    tags.connection = c.id;
    tags.connector = c.connector;
    HostServices services;
    services.tags = std::move(tags);
    services.http = &http_;
    services.governor = &governor(c.id);
    services.clock = &clock_;
    services.cancel = cancel;
    return std::make_unique<ConnectorInstance>(loaded, settings, std::move(services),
                                               isolation_for(&c, loaded->manifest));
}

bool Hub::replace_connection_settings(const ConnectionConfig& c) {
    const ConnectionConfig* known = config_.connection(c.id);
    if (!known || !known->stored) return false;
    const nlohmann::json* manifest = registry_.manifest(c.connector);
    if (!manifest) throw std::runtime_error("connector \"" + c.connector + "\" is not loaded");
    nlohmann::json settings = resolve_or_throw(c, *manifest, env_);
    std::lock_guard lock(settings_mutex_);
    settings_[c.id] = std::move(settings);
    return true;
}

std::string Hub::setting_text(const std::string& connection_id, const std::string& name) const {
    std::lock_guard lock(settings_mutex_);
    auto it = settings_.find(connection_id);
    if (it == settings_.end() || !it->second.is_object()) return {};
    auto v = it->second.find(name);
    if (v == it->second.end() || !v->is_string()) return {};
    return v->get<std::string>();
}

RateGovernor& Hub::governor(const std::string& connection_id) {
    std::lock_guard lock(governors_mutex_);
    auto& g = governors_[connection_id];
    if (!g) {
        double rps = 0, burst = 1;
        if (const ConnectionConfig* c = config_.connection(connection_id)) {
            nlohmann::json rl = nlohmann::json::object();
            if (c->rate_limit.is_object()) rl = c->rate_limit;  // the operator's override
            else if (const nlohmann::json* m = registry_.manifest(c->connector))
                rl = m->value("rate_limit", nlohmann::json::object());
            rps = rl.value("requests_per_second", 0.0);
            burst = rl.value("burst", std::max(1.0, rps));
        }
        g = std::make_unique<RateGovernor>(rps, burst, clock_);
    }
    return *g;
}

}  // namespace plexus
