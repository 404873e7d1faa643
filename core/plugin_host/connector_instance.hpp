// One live connector instance (one per connection per run) and the host services it sees.
//
// The host-API table handed to the connector points at a HostContext owned here; both live
// exactly as long as the instance, and the instance holds its LoadedConnector (and so the
// library) alive. Calls into the connector are guarded: a connector that throws through the
// C boundary anyway is reported as PLEXUS_ERR_PLUGIN, never as a crash of the host.
#pragma once

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "plugin_host/plugin_registry.hpp"

#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace plexus {

class HttpClient;
class RateGovernor;

// What a connector's calls into the host are attributed to and served by.
struct HostServices {
    LogTags tags;                         // process, run, connection, connector
    HttpClient* http = nullptr;           // may be null: http calls then fail
    RateGovernor* governor = nullptr;     // the connection's governor, shared; may be null
    Clock* clock = nullptr;               // defaults to the system clock
    const std::atomic<bool>* cancel = nullptr;
};

// The outcome of one call into a connector.
struct CallResult {
    plexus_status status = PLEXUS_OK;
    std::string text;  // the reply document on success, the message on failure

    bool ok() const { return status == PLEXUS_OK; }
};

class ConnectorInstance {
public:
    // Creates the instance; throws std::runtime_error with the connector's message (prefixed
    // with the connection) when create fails.
    ConnectorInstance(std::shared_ptr<const LoadedConnector> connector,
                      const nlohmann::json& resolved_settings, HostServices services);
    ~ConnectorInstance();
    ConnectorInstance(const ConnectorInstance&) = delete;
    ConnectorInstance& operator=(const ConnectorInstance&) = delete;

    CallResult check();
    CallResult read_page(const nlohmann::json& request);
    CallResult write_batch(const nlohmann::json& request);
    // The same with the request already serialised (the engine builds it from parts).
    CallResult write_batch_text(const std::string& request_json);
    CallResult lookup(const nlohmann::json& request);

    const LoadedConnector& connector() const { return *connector_; }
    const HostServices& services() const { return *services_; }

private:
    template <typename Fn>
    CallResult call(const char* what, Fn&& fn);

    std::shared_ptr<const LoadedConnector> connector_;
    std::unique_ptr<HostServices> services_;
    std::unique_ptr<plexus_host_api> api_;
    void* instance_ = nullptr;
};

// Builds the C host-API table for `services` (exposed for tests of the host table).
plexus_host_api make_host_api(HostServices* services);

// Human name of a status, e.g. "validation".
const char* status_name(plexus_status s);

}  // namespace plexus
