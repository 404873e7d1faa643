// The portal's HTTP server: the REST API of docs/api.md, /metrics, and the embedded pages.
//
// Every request goes through one dispatcher (portal.cpp) in this order:
//   static page or /api/health (no login) → session from the cookie (or HTTP Basic for
//   /metrics) → 401 without one → CSRF token on POST/PUT/DELETE → role check → handler.
// Handlers see only Operations (core's service interface) and the Store interface; never
// SQL or plugins.
#pragma once

#include "notify/notifier.hpp"
#include "secrets/secret_box.hpp"
#include "service/operations.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace plexus::web {

struct PortalOptions {
    std::string host = "127.0.0.1";
    int port = 8080;               // 0: any free port (see Portal::port())
    std::string data_dir = "var";  // exports are staged here
    size_t max_body = 64 * 1024;   // larger request bodies get 413
    // Connections served at once (a thread each); more wait for a free one. See
    // docs/design/005-bounded-portal.md.
    size_t max_connections = 4096;
    int read_timeout_s = 10;        // a read of the request that stalls this long ends it
    int keep_alive_timeout_s = 5;   // a connection silent this long (between requests) ends
    bool secure_cookie = false;    // add "Secure" (behind a TLS-terminating proxy)
    int64_t session_ttl_ms = 12LL * 3600 * 1000;
    int64_t session_idle_ms = 2LL * 3600 * 1000;
    // Seals the secrets of connections created in the portal (core/secrets); null: such
    // connections cannot be created or opened (the API says so).
    std::shared_ptr<const SecretKey> secret_key;
    // Notifications of failed runs (core/notify), owned by `plexus serve`; null: the
    // notification routes answer 503 and the attention view has no notification items.
    notify::Notifier* notifier = nullptr;
};

class Portal {
public:
    Portal(Operations& ops, PortalOptions options);
    ~Portal();
    Portal(const Portal&) = delete;
    Portal& operator=(const Portal&) = delete;

    // Binds the address; false with `error` set when it cannot.
    bool bind(std::string& error);
    int port() const;
    // Serves until stop(); call after bind().
    void serve();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Prometheus text exposition of runs, records, failures and durations (docs/api.md).
std::string metrics_text(Operations& ops);

}  // namespace plexus::web
