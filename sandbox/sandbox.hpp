// The sandbox framework: simulators of the external systems' APIs, served on loopback for
// tests and the demo (`plexus sandbox`). Each system's simulator lives in
// plugins/<id>/sandbox/ and derives from Sandbox; this folder holds what they share — the
// fault knobs and the server runner. Sandboxes are not plugins: they never load into the
// hub, and the hub reaches them only through a connector's base-URL setting.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace plexus::sandbox {

// How much data a sandbox is seeded with (`plexus sandbox --size`). `demo`: each system's
// full seed, whose volumes cross several pages. `small`: a few records of each kind, the
// cross-references between the systems kept (orders name items the other systems have,
// invoices bill orders that exist), so that a whole first sync of the demo at the real rate
// limits takes about a minute. e-guma and OPERA start empty either way.
enum class SeedSize { demo, small };

// The demo world's shared items: the Intacct sandbox's items I-1001 … (150; small: 8), which
// the demo's Shopify orders sell and its PowerOffice Go carries.
inline int demo_item_count(SeedSize size) { return size == SeedSize::small ? 8 : 150; }
inline std::vector<std::string> demo_item_codes(SeedSize size) {
    std::vector<std::string> codes;
    for (int i = 1001; i < 1001 + demo_item_count(size); ++i) codes.push_back("I-" + std::to_string(i));
    return codes;
}

// What can go wrong, on purpose. Rates are probabilities per request in [0, 1].
struct Faults {
    double error_rate = 0;        // answer 500/502/503 instead of serving
    double drop_rate = 0;         // start the answer, then close the connection mid-body
    double malformed_rate = 0;    // a 200 whose body is cut short (not valid JSON/XML)
    int latency_ms = 0;           // added before every answer
    int burst_429_every = 0;      // every N-th request starts a burst of 429s …
    int burst_429_length = 0;     // … this many long

    static Faults from_json(const nlohmann::json& j);
    nlohmann::json to_json() const;
};

// Applies Faults to requests before they reach a sandbox's routes. Thread-safe.
class FaultInjector {
public:
    explicit FaultInjector(uint32_t seed = 42) : rng_(seed) {}
    void set(const Faults& f);
    Faults get() const;
    // Called first for every request: true when the request was answered by a fault. The
    // 429 body and headers come from `too_many`, which each system shapes its own way.
    bool intercept(httplib::Response& res,
                   const std::function<void(httplib::Response&)>& too_many);

private:
    mutable std::mutex mutex_;
    Faults faults_;
    std::mt19937 rng_;
    uint64_t requests_ = 0;
    int burst_left_ = 0;
};

// The request's body as the client sent it — for a multipart form (which cpp-httplib parses
// into req.files, leaving req.body empty) written again from its parts. For recorders.
std::string recorded_body(const httplib::Request& req);

class Sandbox {
public:
    virtual ~Sandbox() = default;
    virtual std::string id() const = 0;
    // Registers the system's routes. The server and its port belong to the caller.
    virtual void mount(httplib::Server& server) = 0;
    // Fault knobs (also reachable over HTTP at POST /_sandbox/faults).
    FaultInjector& faults() { return faults_; }

protected:
    FaultInjector faults_;
};

// Serves one sandbox on 127.0.0.1 on a free (or given) port, in a background thread.
// Adds the control routes: GET /_sandbox/health, POST /_sandbox/faults (JSON Faults).
class SandboxServer {
public:
    explicit SandboxServer(std::unique_ptr<Sandbox> sandbox, int port = 0);
    ~SandboxServer();
    int port() const { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    Sandbox& sandbox() { return *sandbox_; }
    void stop();

    // Appends every exchange served from now on (the control routes /_sandbox/… excepted)
    // to the JSON Lines file at `path`, one object per line: method, path, query
    // {name: [values]}, headers {lower-case name: value}, body, status, response_headers,
    // response_body. Contract tests validate the file against the vendor's spec
    // (tests/contract/openapi_check.py). An empty path stops recording. Throws when the file
    // cannot be opened.
    void record_exchanges(const std::string& path);
    // The server writes an exchange to the file just after sending the answer, so a client
    // can see the answer before its line is written: wait until `n` exchanges have been
    // recorded since the server started (false after `timeout_ms`), or stop() the server,
    // before reading the file.
    bool wait_recorded(uint64_t n, int timeout_ms = 5000);
    uint64_t recorded();

private:
    std::unique_ptr<Sandbox> sandbox_;
    std::mutex record_mutex_;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> record_file_{nullptr, &std::fclose};
    std::condition_variable record_cv_;
    uint64_t recorded_ = 0;
    httplib::Server server_;
    std::thread thread_;
    int port_ = 0;
};

}  // namespace plexus::sandbox
