// Connections created in the portal, between the store (sealed secrets) and the host
// (settings in clear, in memory only): opening their secrets, merging them into the
// configuration read from the file, and rotating the key that seals them.
// docs/configuration.md, "Connections created in the portal" and "Secret key".
#pragma once

#include "config/config.hpp"
#include "secrets/secret_box.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace plexus {

// The context a secret setting is sealed with: "connection/<id>/<setting>".
std::string secret_context(const std::string& connection_id, const std::string& setting);

// The connection's settings as its connector gets them written: the stored settings with
// every secret opened. Throws SecretError (naming the connection and setting, never a
// value) when a secret does not open with `key`.
nlohmann::json open_connection_settings(const StoredConnection& c, const SecretKey& key);

// Adds the connections stored in `store` to `config` (each marked `stored`, json_path
// "/connections/<id>"). A stored connection whose id the file uses already is not added:
// an error naming both is appended (the file cannot be silently shadowed, nor the portal's
// connection silently lost). Secrets that do not open with `key` are errors too. A stored
// connection whose connector `catalog` does not know (uninstalled since) and that no process
// of the file uses is left out with a line in `warnings`, so it does not stop the hub.
void merge_stored_connections(Config& config, Store& store, const SecretKey& key,
                              const ConnectorCatalog& catalog, std::vector<ConfigError>& errors,
                              std::vector<std::string>& warnings);

// Re-seals every stored secret with `new_key` in one transaction (Store::reseal_secrets):
// each must open with `old_key`, or nothing changes and the SecretError names the secret.
// Returns how many secrets were re-sealed.
int64_t rotate_secrets(Store& store, const SecretKey& old_key, const SecretKey& new_key,
                       const std::string& actor, int64_t now_ms);

}  // namespace plexus
