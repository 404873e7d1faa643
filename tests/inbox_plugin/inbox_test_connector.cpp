// A connector whose one entity is fed by webhooks, for the webhook inbox's tests
// (tests/integration/test_webhook_inbox.cpp). Its events are signed like e-guma's
// (docs/sdk.md, "Entities fed by webhooks"): X-Test-Signature: sha256=<hex HMAC-SHA256 of
// "<X-Test-Timestamp>.<raw body>">, with the event id and type in headers. Reading turns the
// events the host hands over into records and skips those of topic "ignored".
#include <plexus/connector.hpp>

#include <string>

using plexus::sdk::Error;
using plexus::sdk::json;

class InboxTestConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "inbox_test";
    static constexpr const char* version = "0.0.1";
    static constexpr const char* manifest = R"json({
      "id": "inbox_test", "name": "Inbox (tests)", "version": "0.0.1",
      "settings": [
        {"name": "webhook_secret", "type": "string", "secret": true, "required": false,
         "description": "The shared secret the sender signs its events with."}
      ],
      "entities": [
        {"name": "events", "key": "id", "cursor": "seq", "open": true, "inbox": true,
         "capabilities": ["read", "incremental"]}
      ],
      "webhooks": {
        "secret_setting": "webhook_secret",
        "signature": {"header": "X-Test-Signature", "algorithm": "hmac-sha256", "encoding": "hex",
                      "prefix": "sha256=", "signed": "timestamp.body"},
        "timestamp": {"header": "X-Test-Timestamp", "tolerance_s": 300},
        "event_id": {"header": "X-Test-Event-Id"},
        "topic": {"header": "X-Test-Event-Type"},
        "topics": {"*": ["events"]}
      }
    })json";

    InboxTestConnector(plexus::sdk::Host&, const json&) {}

    plexus::sdk::ReadPage read(const plexus::sdk::ReadRequest& request) override {
        if (request.entity != "events") throw Error(PLEXUS_ERR_CONFIG, "unknown entity " + request.entity);
        plexus::sdk::ReadPage page;
        page.next_cursor = request.cursor.value_or("");
        for (const auto& e : request.events) {
            page.next_cursor = plexus::sdk::inbox_cursor(e.seq);  // consumed, used or not
            if (e.topic == "ignored") continue;
            json data = e.body.is_object() ? e.body : json{{"body", e.body}};
            data["id"] = e.id;
            data["topic"] = e.topic;
            data["seq"] = e.seq;
            page.records.push_back(plexus::sdk::Record{e.id, std::to_string(e.seq), data});
        }
        page.has_more = request.events_more;
        return page;
    }
};

PLEXUS_EXPORT_CONNECTOR(InboxTestConnector)
