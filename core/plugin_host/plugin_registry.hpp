// The plugin registry: finds connector libraries, loads them with Boost.DLL, performs the
// ABI v1 handshake and keeps what it loaded (and what it refused, with the reason).
//
// Invariant: a library stays loaded as long as anything created from it lives — every
// LoadedConnector holds the shared_ptr<shared_library>, and every connector instance holds
// the LoadedConnector.
#pragma once

#include "config/config.hpp"

#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <boost/dll/shared_library.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus {

struct LoadedConnector {
    std::string id;
    std::string version;
    std::string path;
    uint16_t abi_major = 0;
    uint16_t abi_minor = 0;
    nlohmann::json manifest;
    std::shared_ptr<boost::dll::shared_library> library;
    const plexus_connector_v1* descriptor = nullptr;

    // describe_entities is optional and lies beyond v1.0's required prefix only if present.
    bool has_describe() const;
};

struct RefusedFile {
    std::string path;
    std::string reason;
};

class PluginRegistry final : public ConnectorCatalog {
public:
    // Load every "*.so" in `directory` (sorted by name, so the first of two duplicate ids is
    // kept deterministically). Refusals are logged — one line naming the file and reason —
    // and remembered; nothing is thrown.
    // `shadowable`: a connector whose id is already loaded is skipped (logged at debug)
    // instead of refused as a duplicate — how the default folder sits behind the folders a
    // user names (see load_with_defaults).
    void load_directory(const std::string& directory, bool shadowable = false);
    // Load one file (same rules).
    void load_file(const std::string& path, bool shadowable = false);
    // The folders a user named first, then the default folders (default_directories()) that
    // are not among them, shadowable: a partner's --plugin-dir adds to the shipped
    // connectors, and a connector of theirs with a shipped id takes its place.
    void load_with_defaults(const std::vector<std::string>& named);

    // A check run on each file before it is loaded into this process: the reason to refuse
    // it, or nothing. The plexus host sets one that loads the library in a throw-away worker
    // process first, so a library that crashes while loading is refused instead of taking
    // the host down (docs/design/004-connector-isolation.md). Process-wide; none by default.
    using LoadProbe = std::function<std::optional<std::string>(const std::string& path)>;
    static void set_load_probe(LoadProbe probe);

    const std::vector<std::shared_ptr<const LoadedConnector>>& connectors() const {
        return connectors_;
    }
    const std::vector<RefusedFile>& refused() const { return refused_; }
    std::shared_ptr<const LoadedConnector> find(const std::string& id) const;

    // ConnectorCatalog
    const nlohmann::json* manifest(const std::string& connector_id) const override;
    std::optional<nlohmann::json> entities(const std::string& connector_id,
                                           const nlohmann::json& resolved_settings,
                                           std::string& error) const override;
    std::vector<std::string> connector_ids() const override;

    // The plugin directories used when none is given: $PLEXUS_PLUGIN_PATH (colon separated)
    // if set, else <directory of the executable>/../plugins.
    static std::vector<std::string> default_directories();

    // One connector's description, as `plexus plugins --format json` prints it.
    static nlohmann::json describe(const LoadedConnector& c);

private:
    void refuse(const std::string& path, const std::string& reason);

    std::vector<std::shared_ptr<const LoadedConnector>> connectors_;
    std::vector<RefusedFile> refused_;
};

}  // namespace plexus
