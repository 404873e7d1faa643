// The host side of a connector worker process (docs/design/004-connector-isolation.md).
//
// One ConnectorWorker is one child process holding one connector instance: started with
// posix_spawn of the plexus binary (`plexus worker --lib PATH`), spoken to over a socketpair
// with the ABI's calls, and always reaped: whatever a call returns, the child is either alive
// and idle or killed (SIGKILL) and waited for.
//
// Deadlines. Every call has a budget of worker time: the time the host waits for the worker
// while it computes. Time the host spends serving the worker's own requests (HTTP with its
// retries, Retry-After and rate-governor waits; log lines; the clock) is not charged — those
// have their own timeouts and watch the cancel flag. When the run is cancelled, the worker is
// told (its host->cancelled() turns true) and given kCancelGraceMs to return; then it is
// killed and the call ends PLEXUS_ERR_CANCELLED.
#pragma once

#include "plugin_host/connector_instance.hpp"
#include "worker/worker_protocol.hpp"

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>

namespace plexus {

struct HostServices;

// The worker process stopped answering — crashed, aborted, ran over its deadline or its
// memory cap — and was killed and reaped. what(): the connector, the call and the cause.
class ConnectorWorkerLost : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The executable run as a worker: $PLEXUS_WORKER_EXE if set; this very executable when
// it is the plexus binary (mark_worker_capable() was called from its main), as
// "/proc/self/exe", so an upgrade that replaces the file under a running serve does not
// stop it starting workers; else `plexus` next to this executable (test and benchmark
// binaries in build/bin). Empty: none found.
std::string worker_executable();
// Loads the library at `path` in a throw-away `plexus worker --probe` process and says why to
// refuse it when that process crashed, aborted or hung (10 s) while loading; nothing when it
// loaded (the host's own loader then applies its rules), or when no worker can be started.
std::optional<std::string> probe_library(const std::string& path);
void mark_worker_capable();

class ConnectorWorker {
public:
    static constexpr int64_t kCancelGraceMs = 2000;
    static constexpr int64_t kStartTimeoutMs = 10000;  // exec and load, at least

    // Starts the worker and waits (within `timeout_ms`) for it to load the library. Throws
    // std::runtime_error when it cannot start or refuses the library (the reason included).
    ConnectorWorker(const LoadedConnector& connector, const IsolationOptions& options,
                    HostServices& services);
    ~ConnectorWorker();  // destroys the instance (bounded), then makes sure the child is gone
    ConnectorWorker(const ConnectorWorker&) = delete;
    ConnectorWorker& operator=(const ConnectorWorker&) = delete;

    // create(settings); a non-OK status comes back as is (the caller throws).
    CallResult create(std::string_view settings_json);
    // One call. Returns the connector's status and text, or PLEXUS_ERR_CANCELLED when a
    // cancelled call had to be killed; throws ConnectorWorkerLost when the worker was lost.
    CallResult call(worker::Op op, std::string_view request);

    pid_t pid() const { return pid_; }
    bool alive() const { return pid_ > 0; }

private:
    enum class Wait { result, lost, cancelled };
    // Sends one frame; false when the worker is gone or stopped reading within `deadline`.
    bool send(worker::Frame type, uint8_t arg, std::string_view payload, int64_t deadline_ms);
    // Serves the worker until its `result` frame (or `hello` while starting).
    // `budget_ms` 0: the call timeout.
    Wait await(worker::Frame want, const char* what, CallResult& out, int64_t budget_ms = 0);
    void serve_http(std::string_view payload);
    void drain_stderr(bool flush);
    // Kills (if alive) and reaps; returns how the child ended, in words.
    std::string kill_and_reap();
    std::string reap_after_eof();
    std::string describe_status(int status) const;
    [[noreturn]] void lost(const char* what, const std::string& cause);

    std::string connector_;
    std::string connection_;
    IsolationOptions options_;
    HostServices& services_;
    pid_t pid_ = -1;
    int sock_ = -1;
    int err_ = -1;
    std::string stderr_buf_;
    std::string lost_message_;  // set once the worker was lost: later calls fail with it
    bool cancel_sent_ = false;
    // What crossed the socket, logged at debug level when the worker ends (the cost of
    // isolation is per round trip: docs/performance.md).
    struct Traffic {
        int64_t calls = 0, http = 0, logs = 0, bytes_out = 0, bytes_in = 0, started_ms = 0;
    } traffic_;
};

}  // namespace plexus
