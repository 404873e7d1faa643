// Connections administered in the portal (docs/api.md, "Connections"; issue 13): created from
// a loaded connector's settings schema, edited, tested and deleted, with their secret
// settings sealed in the store (core/secrets). Connections of the configuration file are
// listed beside them, read-only, with the file they come from.
//
// Secrets are write-only: no view carries a secret value (a stored secret shows as
// {"set": true}); an edit that leaves a secret empty keeps the stored one. Audit entries
// (connection.create / update / delete / test) name settings, never their values.
//
// When an edit takes effect: a process of the running hub that uses the connection picks
// the new settings up at its next run (Hub::replace_connection_settings); a run going on
// keeps the instance it opened. A connection created after the hub started is used by no
// process until the configuration file names it and the hub restarts (processes live in the
// file). Thread-safe (the store and the hub are).
#pragma once

#include "secrets/secret_box.hpp"
#include "service/operations.hpp"

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace plexus {

// One problem with one field of a connection form: "id", "connector", "display_name",
// "settings" or "settings.<name>".
struct FieldError {
    std::string field;
    std::string message;
};

// The answer to a Look up (POST /api/connections/{id}/lookup): `status` ok with the record,
// not_found (no such connection, entity or record: `message` says which), invalid (bad
// request), or conflict (the connector failed: `error_class` and `message`, redacted).
struct ConnectionLookup {
    OpStatus status = OpStatus::ok;
    std::string message;
    std::string error_class;  // connector failures: auth, transient, plugin, …
    std::string not_found;    // status not_found: "connection", "entity" or "record"
    nlohmann::json record;    // ok: {"key", "data"} as the connector answered (redacted)
    int64_t duration_ms = 0;
};

struct ConnectionWrite {
    OpStatus status = OpStatus::ok;
    std::string message;             // the whole request's problem, phrased for the admin
    std::vector<FieldError> errors;  // status invalid (or conflict on "id"): by field
    nlohmann::json view;             // status ok: the connection as connection_view() shows it
};

class ConnectionAdmin {
public:
    // `key` seals and opens stored secrets; null: stored connections cannot be written or
    // opened (each such request says so).
    ConnectionAdmin(Operations& ops, std::shared_ptr<const SecretKey> key);

    // {"items": [...]}: the file's connections (origin "file", read_only) and the stored ones
    // (origin "portal"), by id.
    nlohmann::json connections_view();
    std::optional<nlohmann::json> connection_view(const std::string& id);
    bool exists(const std::string& id);

    // The settings schema of a loaded connector, for the form: {"connector", "version",
    // "name", "settings": [{"name", "type", "required", "secret", "default", "description"}]};
    // nullopt for an unknown connector.
    std::optional<nlohmann::json> settings_schema(const std::string& connector_id) const;

    // body: {"id", "connector", "display_name"?, "settings": {name: value}}.
    ConnectionWrite create(const nlohmann::json& body, const std::string& actor);
    // body: {"display_name"?, "settings": {...}, "clear_secrets"?: [names]}; a secret left
    // out, null or "" keeps its stored value; "connector" may be given but not changed.
    ConnectionWrite update(const std::string& id, const nlohmann::json& body,
                           const std::string& actor);
    // Refused (conflict) for a connection of the file, and while a process uses it.
    OpResult remove(const std::string& id, const std::string& actor);

    // Checks the connection (file or stored) with its connector; audited "connection.test".
    ConnectionTest test(const std::string& id, const std::string& actor);
    // Checks settings not saved yet (the form's "Test"): body {"connector", "settings",
    // "id"?}. With the id of a stored connection, a secret left empty is that connection's
    // stored one. Nothing is stored; audited "connection.test" with "unsaved": true.
    // Settings that do not resolve come back as a failed test (error_class "config").
    ConnectionTest test_unsaved(const nlohmann::json& body, const std::string& actor);

    // Looks one record up through the connection (file or stored) by its key, with the
    // connector's lookup(): body {"entity", "key"}. The entity must be one the connector
    // can look up (manifest capability "lookup"). Audited "connection.lookup" (entity, key,
    // found or why not).
    ConnectionLookup lookup(const std::string& id, const nlohmann::json& body,
                            const std::string& actor);

private:
    ConnectionWrite write(const std::string& id, const nlohmann::json& body,
                          const std::optional<StoredConnection>& existing,
                          const std::string& actor);
    nlohmann::json stored_view(const StoredConnection& c);
    std::vector<std::string> processes_using(const std::string& id) const;
    const ConnectionConfig* file_connection(const std::string& id) const;
    // A new instance of the connection, file or stored (throws with what is wrong).
    std::unique_ptr<ConnectorInstance> open(const std::string& id);
    // The entities connection `id` (of `connector`) can look up: [{"name", "key",
    // "description", "by_key"}], those that can also be read first ("by_key": the key is
    // the record's own, e.g. a voucher code); the Look up panel opens on the first. A
    // connector whose entities come from settings (describe_entities, e.g. files) is asked
    // with the connection's resolved settings. Empty: `why_not` (when given) says why.
    nlohmann::json lookup_entities(const std::string& id, const std::string& connector,
                                   std::string* why_not = nullptr) const;

    Operations& ops_;
    std::shared_ptr<const SecretKey> key_;
};

}  // namespace plexus
