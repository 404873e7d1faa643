// One live connector instance (one per connection per run) and the host services it sees.
//
// Two ways to run it (IsolationOptions, from the connection's "isolation"):
// - process (the default): the instance lives in a worker process of its own
//   (worker/connector_worker.hpp); its host-API calls come back over a socket and are served
//   here by the same HostServices. A crash, a hang past the call deadline or the memory cap
//   kills that worker only: the call throws ConnectorWorkerLost naming the connector, the
//   call and the signal or deadline (docs/design/004-connector-isolation.md).
// - none: the library's functions are called in this process (development, benchmarks).
//   The host-API table points at the HostServices owned here; both live exactly as long as
//   the instance, and the instance holds its LoadedConnector (and so the library) alive.
// Either way calls are guarded: a connector that throws through the C boundary anyway is
// reported as PLEXUS_ERR_PLUGIN, never as a crash of the host.
#pragma once

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "http/wait_reason.hpp"
#include "plugin_host/plugin_registry.hpp"

#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <memory>
#include <string>

namespace plexus {

class HttpClient;
class RateGovernor;
class ConnectorWorker;
struct ConnectionConfig;

// How a connection's connector instances run. Defaults, then the connector's manifest
// ("call_timeout_s", "memory_limit_mb"), then the connection's own options override.
struct IsolationOptions {
    bool process = true;                // false: in-process ("isolation": "none")
    int64_t call_timeout_ms = 120'000;  // worker time per call (host-served time not counted)
    int64_t memory_limit_mb = 2048;     // the worker's RLIMIT_AS; 0 = none
    std::string executable;             // the worker binary; empty = worker_executable()

    static IsolationOptions in_process() {
        IsolationOptions o;
        o.process = false;
        return o;
    }
};

// The options for `connection` (may be null: defaults and manifest only).
IsolationOptions isolation_for(const ConnectionConfig* connection, const nlohmann::json& manifest);

// What a connector's calls into the host are attributed to and served by.
struct HostServices {
    LogTags tags;                         // process, run, connection, connector
    HttpClient* http = nullptr;           // may be null: http calls then fail
    RateGovernor* governor = nullptr;     // the connection's governor, shared; may be null
    Clock* clock = nullptr;               // defaults to the system clock
    const std::atomic<bool>* cancel = nullptr;
    // Optional: refuses an HTTP request by its URL before anything is sent (the reason, or
    // nothing to allow it). `plexus connector check` keeps a connector on its sandbox this way.
    std::function<std::optional<std::string>(const std::string& url)> url_guard = {};
    // Optional: hears why an HTTP request of this instance waits (rate budget, retry) and
    // when the wait is over, with the connection and connector filled in from `tags`. The
    // run's own observer: runs that overlap each have theirs.
    WaitObserver on_wait = {};
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
    // with the connection) when create fails, or when its worker cannot start, refuses the
    // library or is lost during create.
    ConnectorInstance(std::shared_ptr<const LoadedConnector> connector,
                      const nlohmann::json& resolved_settings, HostServices services,
                      const IsolationOptions& isolation = IsolationOptions::in_process());
    ~ConnectorInstance();
    ConnectorInstance(const ConnectorInstance&) = delete;
    ConnectorInstance& operator=(const ConnectorInstance&) = delete;

    // Each call returns the connector's status and reply. Isolated, a call whose worker was
    // lost throws ConnectorWorkerLost (a std::runtime_error): the run ends failed with its
    // message before anything of the page is committed, so open intents stay open. A
    // cancelled call whose worker would not stop returns PLEXUS_ERR_CANCELLED.
    CallResult check();
    CallResult read_page(const nlohmann::json& request);
    CallResult write_batch(const nlohmann::json& request);
    // The same with the request already serialised (the engine builds it from parts).
    CallResult write_batch_text(const std::string& request_json);
    CallResult lookup(const nlohmann::json& request);

    const LoadedConnector& connector() const { return *connector_; }
    const HostServices& services() const { return *services_; }
    // The worker's pid, or 0 when the instance runs in this process.
    int worker_pid() const;

private:
    template <typename Fn>
    CallResult call(const char* what, Fn&& fn);

    std::shared_ptr<const LoadedConnector> connector_;
    std::unique_ptr<HostServices> services_;
    std::unique_ptr<plexus_host_api> api_;
    void* instance_ = nullptr;
    std::unique_ptr<ConnectorWorker> worker_;
};

// Builds the C host-API table for `services` (exposed for tests of the host table).
plexus_host_api make_host_api(HostServices* services);

// Serves one HTTP request of a connector through the host's client and governor, as the
// host-API's http() does: fills status, headers ("Name: value\r\n" lines) and body, or the
// error text. Shared by the in-process table and the worker host.
plexus_status serve_http_request(HostServices& services, const plexus_http_request& request,
                                 int32_t& http_status, std::string& headers, std::string& body,
                                 std::string& error);

// Human name of a status, e.g. "validation".
const char* status_name(plexus_status s);

}  // namespace plexus
