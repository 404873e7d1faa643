// How a connector's webhooks are authenticated and read: the manifest's `webhooks` block
// (docs/sdk.md, "Entities fed by webhooks"), parsed once when the plugin loads, and the
// checks the hub's webhook listener applies to every event with it.
//
// Verification is an HMAC over the raw body (or "<timestamp>.<raw body>") with the
// connection's shared secret, compared in constant time (CRYPTO_memcmp) with the value of the
// signature header after its optional prefix is stripped and its hex or base64 decoded. A
// signed timestamp further than `tolerance_s` from the hub's clock is refused, which bounds
// the window in which a captured event could be replayed; within it, the event id's
// de-duplication (the store) refuses a replay (docs/design/007-webhook-inbox.md).
//
// Nothing here logs, and no result carries the secret or the expected signature.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus {

// Where a value of an event comes from: a request header (case-insensitive) or a JSON
// pointer into the body.
struct WebhookField {
    std::string header;        // e.g. "X-Eguma-Event-Id"; or
    std::string json_pointer;  // e.g. "/id"
    bool empty() const { return header.empty() && json_pointer.empty(); }
};

struct WebhookSpec {
    std::string secret_setting;  // the connection's secret setting holding the shared secret
    std::string signature_header;
    std::string algorithm = "hmac-sha256";  // "hmac-sha256" (also: "hmac-sha1", "hmac-sha512")
    std::string encoding = "hex";           // "hex" or "base64"
    std::string prefix;                     // stripped from the header's value, e.g. "sha256="
    std::string signed_part = "body";       // "body" or "timestamp.body"
    std::string timestamp_header;           // required when signed_part is "timestamp.body"
    int64_t tolerance_s = 300;
    WebhookField event_id;
    WebhookField topic;
    // topic → the entities whose processes an event of that topic triggers. A key is a topic
    // ("orders/create"), a prefix pattern ("orders/*") or "*" (any topic).
    std::map<std::string, std::vector<std::string>> topics;

    // The entities an event of `topic` triggers: its own entry, else the longest matching
    // prefix pattern's, else "*"'s, else none.
    std::vector<std::string> entities_for(const std::string& topic) const;
};

// Parses the manifest's "webhooks" value. On a problem: nullopt, with `error` set to
// "<JSON path>: <what is wrong>", the path from the manifest's root (e.g.
// "/webhooks/signature/encoding: \"hx\" is not hex or base64"). `settings` is the manifest's
// "settings" array: the secret setting must be one of them and marked secret. `entities` is
// its "entities" array (every entity a topic names must be declared there, unless the
// connector describes its entities at run time: `dynamic_entities`).
std::optional<WebhookSpec> parse_webhook_spec(const nlohmann::json& webhooks,
                                              const nlohmann::json& settings,
                                              const nlohmann::json& entities,
                                              bool dynamic_entities, std::string& error);

// A request's header, by name, case-insensitive; none when absent.
using HeaderLookup = std::function<std::optional<std::string>(const std::string& name)>;

struct WebhookCheck {
    bool ok = false;
    // Why it was refused, for the hub's log (never the secret nor the expected value):
    // "missing signature header", "signature mismatch", "stale timestamp" …
    std::string reason;
};

// Verifies the event's signature (and timestamp) against `secret`. `now_s`: the hub's clock
// in Unix seconds.
WebhookCheck verify_webhook(const WebhookSpec& spec, const std::string& secret,
                            const HeaderLookup& header, const std::string& body, int64_t now_s);

// The event's id and topic as the spec says; a missing id gives nullopt with `error` set.
// The topic may be empty (then only a "*" entry of `topics` applies).
struct WebhookIdentity {
    std::string id;
    std::string topic;
};
std::optional<WebhookIdentity> webhook_identity(const WebhookSpec& spec, const HeaderLookup& header,
                                                const nlohmann::json& body, std::string& error);

// The HMAC of `message` with `key` by `algorithm` ("hmac-sha256", "hmac-sha1",
// "hmac-sha512"), raw bytes; empty for an unknown algorithm. Exposed for tests and senders.
std::string webhook_hmac(const std::string& algorithm, const std::string& key,
                         const std::string& message);
std::string hex_encode(const std::string& bytes);
std::string base64_encode(const std::string& bytes);
// Decodes; nullopt when the text is not valid in that encoding.
std::optional<std::string> hex_decode(const std::string& text);
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace plexus
