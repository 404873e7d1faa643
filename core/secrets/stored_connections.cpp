#include "secrets/stored_connections.hpp"

#include <set>

namespace plexus {

std::string secret_context(const std::string& connection_id, const std::string& setting) {
    return "connection/" + connection_id + "/" + setting;
}

nlohmann::json open_connection_settings(const StoredConnection& c, const SecretKey& key) {
    nlohmann::json settings = nlohmann::json::parse(c.settings_json, nullptr, false);
    if (!settings.is_object())
        throw SecretError("connection \"" + c.id + "\": its stored settings are not a JSON object");
    for (const auto& s : c.secrets) settings[s.name] = key.open(secret_context(c.id, s.name), s.sealed);
    return settings;
}

void merge_stored_connections(Config& config, Store& store, const SecretKey& key,
                              const ConnectorCatalog& catalog, std::vector<ConfigError>& errors,
                              std::vector<std::string>& warnings) {
    for (const StoredConnection& s : store.stored_connections()) {
        const std::string path = "/connections/" + json_pointer_segment(s.id);
        if (const ConnectionConfig* file = config.connection(s.id)) {
            errors.push_back(ConfigError{
                config.file, file->json_path,
                "connection \"" + s.id +
                    "\" is defined in this file and was also created in the portal (stored in "
                    "the database); rename or remove the one in the file, or delete the "
                    "portal's"});
            continue;
        }
        if (!catalog.manifest(s.connector)) {
            bool used = false;
            for (const auto& p : config.processes)
                used = used || p.source.connection == s.id || p.target.connection == s.id;
            if (!used) {
                warnings.push_back("connection \"" + s.id + "\" (created in the portal) is left out: its connector \"" +
                                   s.connector + "\" is not loaded");
                continue;
            }
        }
        ConnectionConfig c;
        c.id = s.id;
        c.connector = s.connector;
        c.json_path = path;
        c.stored = true;
        try {
            c.settings = open_connection_settings(s, key);
        } catch (const SecretError& e) {
            errors.push_back(ConfigError{"the database", path, e.what()});
            continue;
        }
        config.connections.push_back(std::move(c));
    }
}

int64_t rotate_secrets(Store& store, const SecretKey& old_key, const SecretKey& new_key,
                       const std::string& actor, int64_t now_ms) {
    const nlohmann::json detail = {{"from_key_id", old_key.id()}, {"to_key_id", new_key.id()}};
    return store.reseal_secrets(
        [&](const SealedSecretRow& row) {
            const std::string context = secret_context(row.connection_id, row.secret.name);
            std::string value = old_key.open(context, row.secret.sealed);
            SealedSecret next{row.secret.name, new_key.seal(context, value), new_key.id()};
            std::fill(value.begin(), value.end(), '\0');
            return next;
        },
        actor, now_ms, detail.dump());
}

}  // namespace plexus
