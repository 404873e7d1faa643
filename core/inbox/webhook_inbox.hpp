// The webhook inbox (docs/design/007-webhook-inbox.md): what the hub does with an event a
// system posts to `POST /hooks/{connection}`, independent of HTTP (web/hook_listener.* is
// the listener in front of it), and what the portal shows of it.
//
// receive(): the connection must accept webhooks (its connector declares a "webhooks" block
// and the connection's secret setting is set); the signature (and timestamp) must verify;
// the body must be JSON and carry an event id. The event is then stored in one durable
// transaction (de-duplicated by connection and event id, refused while the connection has
// max_pending events unconsumed) before receive() returns, and the processes reading an
// entity its topic maps to are asked to run (coalesced by Operations).
//
// "Consumed" is per connection: an event is consumed once every process reading the
// connection's inbox entities has a cursor at or past its seq (the lowest cursor is
// `consumed_through`). A connection whose events only trigger runs (its triggered entities
// are read through the API, e.g. Shopify's orders) has no readers: its events count as
// consumed once stored. Consumed events are pruned after the retention.
//
// Secrets: the shared secret is read from the connection's resolved settings per request,
// never logged (it is registered with the redactor like every secret setting), never put into
// an answer or a view.
//
// Thread-safe: receive() is called from the listener's connection threads.
#pragma once

#include "config/config.hpp"
#include "inbox/webhook_spec.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace plexus {

class Hub;

// What the listener answers: an HTTP status and a short text that reveals nothing secret.
struct WebhookAnswer {
    int status = 500;
    std::string message;
    int64_t seq = 0;         // the stored event's seq (2xx)
    bool duplicate = false;  // 200 for an event id stored before
};

// True when the manifest declares `entity` with "inbox": true.
bool is_inbox_entity(const nlohmann::json& manifest, const std::string& entity);

// The seq an inbox cursor's text holds: none → 0 (from the oldest kept); nullopt when the
// text is not a decimal seq.
std::optional<int64_t> parse_inbox_cursor(const std::optional<std::string>& cursor);

class WebhookInbox {
public:
    // Asks for runs of these processes (Operations coalesces them and skips disabled ones).
    using TriggerFn = std::function<void(const std::vector<std::string>& process_ids)>;

    WebhookInbox(Hub& hub, TriggerFn trigger);

    const HooksConfig& options() const;

    // Whether `connection_id` takes webhooks (404 otherwise).
    bool accepts(const std::string& connection_id) const;

    // Handles one event; the answer is final (2xx: stored durably, or stored before).
    WebhookAnswer receive(const std::string& connection_id, const HeaderLookup& header,
                          const std::string& body);

    // The lowest seq every reader of the connection's inbox has consumed; INT64_MAX when no
    // process reads it (its events only trigger runs).
    int64_t consumed_through(const std::string& connection_id) const;

    // The readers with stored events past their cursor (asked to run when the hub starts:
    // events accepted just before a crash or a stop are read without waiting for a schedule).
    std::vector<std::string> readers_behind() const;

    // Deletes consumed events older than the retention, for every connection. Returns how
    // many.
    int64_t prune();

    // Startup lines for the log: which connections take webhooks, which do not and why
    // (no secret set). Never the secret.
    std::vector<std::string> describe() const;

    // The portal's views (docs/api.md, "Inbox"). No bodies; body() gives one event's body,
    // secret values masked.
    nlohmann::json view() const;
    // nullopt for a connection that takes no webhooks.
    std::optional<nlohmann::json> connection_view(const std::string& connection_id,
                                                  int64_t before_seq, int64_t limit) const;
    std::optional<nlohmann::json> event_view(const std::string& connection_id, int64_t seq) const;

private:
    struct Connection {
        std::string id;
        std::string connector;
        WebhookSpec spec;
        bool secret_set = false;
        std::vector<std::string> readers;  // processes reading an inbox entity of it
        std::vector<std::pair<std::string, std::string>> sources;  // (process, entity) reading it
    };
    const Connection* find(const std::string& connection_id) const;
    std::vector<std::string> triggered(const Connection& c, const std::string& topic) const;

    // Logs a refusal, at most one line per connection per 10 s (a flood of forged events
    // must not flood the log); the next line says how many were not logged.
    void log_refusal(const std::string& connection_id, const std::string& reason, int64_t now_ms);

    Hub& hub_;
    TriggerFn trigger_;
    std::vector<Connection> connections_;
    struct RefusalLog {
        int64_t last_ms = 0;
        int64_t unlogged = 0;
    };
    std::mutex refusals_mutex_;
    std::map<std::string, RefusalLog> refusals_;  // by connection (only known ones)
};

}  // namespace plexus
