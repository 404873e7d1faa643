// The hub's webhook listener: `POST /hooks/{connection}` on an address of its own
// (configuration "hooks": {"listen": …}), separate from the portal and its sessions — a
// webhook authenticates by its signature, never by a cookie, and the port can be exposed to
// the systems that send events (through a proxy) without exposing the portal.
//
// It reuses the portal's bounded framing (docs/design/005-bounded-portal.md): a thread per
// connection up to a cap, body framing checked before any byte of the body is read
// (Content-Length over hooks.max_body_bytes → 413 before reading; chunked bodies read by a
// reader that stops at the limit → 413), an unknown connection refused (404) before the
// body is read. Everything else is WebhookInbox::receive() (core/inbox/webhook_inbox.hpp).
// Answers are short JSON objects {"status": …} that reveal nothing secret.
#pragma once

#include "inbox/webhook_inbox.hpp"

#include <memory>
#include <string>

namespace plexus::web {

struct HookListenerOptions {
    std::string host = "127.0.0.1";
    int port = 8090;               // 0: any free port
    size_t max_body = 1024 * 1024;
    size_t max_connections = 512;
    int read_timeout_s = 10;
    int keep_alive_timeout_s = 5;
};

class HookListener {
public:
    HookListener(WebhookInbox& inbox, HookListenerOptions options);
    ~HookListener();
    HookListener(const HookListener&) = delete;
    HookListener& operator=(const HookListener&) = delete;

    bool bind(std::string& error);
    int port() const;
    void serve();  // until stop()
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::web
