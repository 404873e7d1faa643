// Unit tests of the webhook inbox's parts (docs/design/007-webhook-inbox.md): the manifest's
// "webhooks" block, signature verification (hex and base64, prefix, timestamp.body, the
// tolerance, refusals on the constant-time path), event identity, and the store's inbox
// (durable insert, de-duplication, the bound, reading after a cursor, pruning, reads).
#include <catch2/catch.hpp>

#include <chrono>
#include <climits>
#include <filesystem>
#include <random>
#include <set>

#include "config/config.hpp"
#include "inbox/webhook_inbox.hpp"
#include "inbox/webhook_spec.hpp"
#include "store/store.hpp"

using namespace plexus;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const json k_settings = json::parse(R"([
  {"name": "webhook_secret", "type": "string", "secret": true},
  {"name": "base_url", "type": "string"}
])");
const json k_entities = json::parse(R"([{"name": "sales_events", "inbox": true}, {"name": "orders"}])");

json eguma_block() {
    return json::parse(R"({
      "secret_setting": "webhook_secret",
      "signature": {"header": "X-Eguma-Signature", "algorithm": "hmac-sha256", "encoding": "hex",
                    "prefix": "sha256=", "signed": "timestamp.body"},
      "timestamp": {"header": "X-Eguma-Timestamp", "tolerance_s": 300},
      "event_id": {"header": "X-Eguma-Event-Id"},
      "topic": {"header": "X-Eguma-Event-Type"},
      "topics": {"*": ["sales_events"]}
    })");
}

json shopify_block() {
    return json::parse(R"({
      "secret_setting": "webhook_secret",
      "signature": {"header": "X-Shopify-Hmac-Sha256", "algorithm": "hmac-sha256", "encoding": "base64",
                    "signed": "body"},
      "event_id": {"header": "X-Shopify-Webhook-Id"},
      "topic": {"header": "X-Shopify-Topic"},
      "topics": {"orders/*": ["orders"], "orders/cancelled": ["sales_events"]}
    })");
}

WebhookSpec spec_of(const json& block) {
    std::string error;
    auto s = parse_webhook_spec(block, k_settings, k_entities, false, error);
    INFO(error);
    REQUIRE(s);
    return *s;
}

std::string parse_error(const json& block) {
    std::string error;
    auto s = parse_webhook_spec(block, k_settings, k_entities, false, error);
    CHECK_FALSE(s);
    return error;
}

HeaderLookup headers(std::map<std::string, std::string> h) {
    return [h](const std::string& name) -> std::optional<std::string> {
        for (const auto& [k, v] : h) {
            if (k.size() != name.size()) continue;
            bool same = true;
            for (size_t i = 0; i < k.size(); ++i)
                if (std::tolower(static_cast<unsigned char>(k[i])) != std::tolower(static_cast<unsigned char>(name[i])))
                    same = false;
            if (same) return v;
        }
        return std::nullopt;
    };
}

const std::string k_secret = "whsec_unit_0123456789";
const int64_t k_now = 1'765'000'000;

std::map<std::string, std::string> eguma_headers(const std::string& body, int64_t ts,
                                                 const std::string& secret = k_secret) {
    const std::string t = std::to_string(ts);
    return {{"X-Eguma-Signature", "sha256=" + hex_encode(webhook_hmac("hmac-sha256", secret, t + "." + body))},
            {"X-Eguma-Timestamp", t},
            {"X-Eguma-Event-Id", "ev-1"},
            {"X-Eguma-Event-Type", "voucher.redeemed"}};
}

}  // namespace

TEST_CASE("webhooks: HMAC-SHA256 matches RFC 4231's test case 2", "[webhooks]") {
    CHECK(hex_encode(webhook_hmac("hmac-sha256", "Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
    CHECK_FALSE(base64_decode("Zm9v!mFy"));
    CHECK(hex_decode("0aFF") == std::optional<std::string>("\x0a\xff"));
    CHECK_FALSE(hex_decode("0g"));
}

TEST_CASE("webhooks: an e-guma event (hex, prefix, timestamp.body) verifies, a forged one does not", "[webhooks]") {
    const WebhookSpec spec = spec_of(eguma_block());
    const std::string body = R"({"voucher":"V-1","amount":"50.00"})";
    CHECK(verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now)), body, k_now).ok);

    // Upper-case hex and an upper-case prefix are the same signature.
    auto h = eguma_headers(body, k_now);
    std::string upper = h["X-Eguma-Signature"];
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    h["X-Eguma-Signature"] = upper;
    CHECK(verify_webhook(spec, k_secret, headers(h), body, k_now).ok);

    SECTION("another secret") {
        auto r = verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now, "not-the-secret")), body, k_now);
        CHECK_FALSE(r.ok);
        CHECK(r.reason == "signature mismatch");
    }
    SECTION("a changed body") {
        auto r = verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now)),
                                R"({"voucher":"V-1","amount":"500.00"})", k_now);
        CHECK_FALSE(r.ok);
        CHECK(r.reason == "signature mismatch");
    }
    SECTION("a changed timestamp (the timestamp is signed)") {
        auto h2 = eguma_headers(body, k_now);
        h2["X-Eguma-Timestamp"] = std::to_string(k_now - 1);
        CHECK_FALSE(verify_webhook(spec, k_secret, headers(h2), body, k_now).ok);
    }
    SECTION("the signature without its prefix") {
        auto h2 = eguma_headers(body, k_now);
        h2["X-Eguma-Signature"] = h2["X-Eguma-Signature"].substr(7);
        auto r = verify_webhook(spec, k_secret, headers(h2), body, k_now);
        CHECK_FALSE(r.ok);
        CHECK(r.reason == "signature header lacks its prefix");
    }
    SECTION("no signature, not hex, cut short, one byte off at either end") {
        auto h2 = eguma_headers(body, k_now);
        h2.erase("X-Eguma-Signature");
        CHECK(verify_webhook(spec, k_secret, headers(h2), body, k_now).reason == "missing signature header");
        auto good = eguma_headers(body, k_now)["X-Eguma-Signature"];
        for (std::string bad : {std::string("sha256=zz") + good.substr(9), good.substr(0, good.size() - 2),
                                "sha256=" + std::string(good[7] == '0' ? "1" : "0") + good.substr(8),
                                good.substr(0, good.size() - 1) + (good.back() == '0' ? "1" : "0")}) {
            INFO(bad);
            h2["X-Eguma-Signature"] = bad;
            CHECK_FALSE(verify_webhook(spec, k_secret, headers(h2), body, k_now).ok);
        }
    }
    SECTION("no secret configured refuses everything") {
        CHECK_FALSE(verify_webhook(spec, "", headers(eguma_headers(body, k_now, "")), body, k_now).ok);
    }
}

TEST_CASE("webhooks: a timestamp outside the tolerance is refused, inside it is taken", "[webhooks]") {
    const WebhookSpec spec = spec_of(eguma_block());
    const std::string body = R"({"n":1})";
    CHECK(verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now - 300)), body, k_now).ok);
    CHECK(verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now + 300)), body, k_now).ok);
    auto stale = verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now - 301)), body, k_now);
    CHECK_FALSE(stale.ok);
    CHECK_THAT(stale.reason, Catch::Contains("stale"));
    CHECK_FALSE(verify_webhook(spec, k_secret, headers(eguma_headers(body, k_now + 301)), body, k_now).ok);
    auto h = eguma_headers(body, k_now);
    h["X-Eguma-Timestamp"] = "1765000000.5";
    CHECK_FALSE(verify_webhook(spec, k_secret, headers(h), body, k_now).ok);
    h.erase("X-Eguma-Timestamp");
    CHECK_FALSE(verify_webhook(spec, k_secret, headers(h), body, k_now).ok);
}

TEST_CASE("webhooks: a Shopify event (base64 of the body) verifies, a forged one does not", "[webhooks]") {
    const WebhookSpec spec = spec_of(shopify_block());
    const std::string body = R"({"id":820982911946154508,"email":"jon@example.com"})";
    const std::string sig = base64_encode(webhook_hmac("hmac-sha256", k_secret, body));
    std::map<std::string, std::string> h{{"x-shopify-hmac-sha256", sig},
                                         {"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"},
                                         {"X-Shopify-Topic", "orders/create"}};
    CHECK(verify_webhook(spec, k_secret, headers(h), body, k_now).ok);
    CHECK_FALSE(verify_webhook(spec, k_secret, headers(h), body + " ", k_now).ok);
    h["x-shopify-hmac-sha256"] = hex_encode(webhook_hmac("hmac-sha256", k_secret, body));  // hex, not base64
    CHECK_FALSE(verify_webhook(spec, k_secret, headers(h), body, k_now).ok);

    std::string error;
    auto id = webhook_identity(spec, headers({{"X-Shopify-Webhook-Id", "w-1"}, {"X-Shopify-Topic", "orders/paid"}}),
                               json::object(), error);
    REQUIRE(id);
    CHECK(id->id == "w-1");
    CHECK(id->topic == "orders/paid");
    CHECK(spec.entities_for("orders/create") == std::vector<std::string>{"orders"});
    CHECK(spec.entities_for("orders/cancelled") == std::vector<std::string>{"sales_events"});
    CHECK(spec.entities_for("customers/update").empty());  // no "*": triggers nothing
}

TEST_CASE("webhooks: the event id and topic may come from the body", "[webhooks]") {
    json block = eguma_block();
    block["event_id"] = {{"json", "/event/id"}};
    block["topic"] = {{"json", "/type"}};
    const WebhookSpec spec = spec_of(block);
    std::string error;
    auto id = webhook_identity(spec, headers({}), json::parse(R"({"event":{"id":42},"type":"sale"})"), error);
    REQUIRE(id);
    CHECK(id->id == "42");
    CHECK(id->topic == "sale");
    CHECK_FALSE(webhook_identity(spec, headers({}), json::parse(R"({"type":"sale"})"), error));
    CHECK_THAT(error, Catch::Contains("/event/id"));
}

TEST_CASE("webhooks: a bad webhooks block is refused naming its JSON path", "[webhooks]") {
    json b = eguma_block();
    b["signature"]["encoding"] = "hx";
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/signature/encoding: \"hx\" is not hex or base64"));
    b = eguma_block();
    b["secret_setting"] = "base_url";
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/secret_setting:") && Catch::Contains("not marked"));
    b = eguma_block();
    b["secret_setting"] = "nope";
    CHECK_THAT(parse_error(b), Catch::Contains("not one of the manifest's settings"));
    b = eguma_block();
    b.erase("timestamp");
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/timestamp: missing"));
    b = eguma_block();
    b["topics"] = {{"*", {"vouchers"}}};
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/topics/*/0: \"vouchers\" is not one of"));
    b = eguma_block();
    b["signature"]["algorithm"] = "md5";
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/signature/algorithm"));
    b = eguma_block();
    b["timestamp"]["tolerance_s"] = 0;
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/timestamp/tolerance_s"));
    b = eguma_block();
    b.erase("event_id");
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/event_id: missing"));
    b = eguma_block();
    b["sig"] = 1;
    CHECK_THAT(parse_error(b), Catch::StartsWith("/webhooks/sig: unknown key"));
}

TEST_CASE("webhooks: inbox cursors are decimal seqs", "[webhooks]") {
    CHECK(parse_inbox_cursor(std::nullopt) == 0);
    CHECK(parse_inbox_cursor(std::string("")) == 0);
    CHECK(parse_inbox_cursor(std::string("42")) == 42);
    CHECK_FALSE(parse_inbox_cursor(std::string("2024-05-01T00:00:00Z")));
    CHECK(is_inbox_entity(json{{"entities", k_entities}}, "sales_events"));
    CHECK_FALSE(is_inbox_entity(json{{"entities", k_entities}}, "orders"));
}

TEST_CASE("webhooks: the store keeps an event once, bounds the pending ones and prunes consumed ones", "[webhooks][store]") {
    std::random_device rd;
    const fs::path dir = fs::temp_directory_path() / ("plexus-inbox-test-" + std::to_string(rd()));
    fs::create_directories(dir);
    {
        auto store = open_sqlite_store((dir / "plexus.db").string());
        auto event = [](const std::string& id, int64_t at) {
            InboxEventRow e;
            e.connection_id = "eguma";
            e.event_id = id;
            e.topic = "sale";
            e.body = R"({"id":")" + id + R"("})";
            e.received_ms = at;
            return e;
        };
        InboxEventRow a = event("a", 1000), b = event("b", 2000), a_again = event("a", 3000);
        CHECK(store->insert_inbox_event(a, 0, 2) == InboxInsert::stored);
        CHECK(store->insert_inbox_event(b, 0, 2) == InboxInsert::stored);
        CHECK(b.seq > a.seq);
        CHECK(store->insert_inbox_event(a_again, 0, 2) == InboxInsert::duplicate);  // even when full
        CHECK(a_again.seq == a.seq);
        InboxEventRow c = event("c", 4000);
        CHECK(store->insert_inbox_event(c, 0, 2) == InboxInsert::full);
        CHECK(store->insert_inbox_event(c, a.seq, 2) == InboxInsert::stored);  // a consumed: room
        InboxEventRow other = event("a", 5000);
        other.connection_id = "shop";
        CHECK(store->insert_inbox_event(other, 0, 2) == InboxInsert::stored);  // ids are per connection

        auto after = store->inbox_events_after("eguma", a.seq, 0, 10);
        REQUIRE(after.size() == 2);
        CHECK(after[0].event_id == "b");
        CHECK(after[1].body == R"({"id":"c"})");
        CHECK(store->inbox_events_after("eguma", 0, 2500, 10).size() == 1);  // since
        CHECK(store->inbox_latest("eguma", 0, 10).front().event_id == "c");
        const InboxCounts n = store->inbox_counts("eguma", a.seq);
        CHECK(n.stored == 3);
        CHECK(n.pending == 2);

        // A page consuming b and c: its read is committed with the page.
        const int64_t run = store->begin_run("p", "event", 6000);
        PageCommit page;
        page.process_id = "p";
        page.run_id = run;
        page.now_ms = 6000;
        page.cursor = CursorState{std::to_string(c.seq), std::nullopt};
        page.inbox_read = InboxRead{"eguma", "", 0, a.seq, c.seq, 0};
        store->commit_page(page);
        auto reads = store->inbox_reads("eguma", b.seq - 1, b.seq);
        REQUIRE(reads.size() == 1);
        CHECK(reads[0].run_id == run);
        CHECK(reads[0].process_id == "p");

        // Pruned only when consumed and older than the retention.
        CHECK(store->prune_inbox("eguma", b.seq, 1500) == 1);  // a
        CHECK(store->prune_inbox("eguma", INT64_MAX, 0) == 0);
        CHECK(store->prune_inbox("eguma", c.seq, INT64_MAX) == 2);
        CHECK(store->inbox_counts("eguma", 0).stored == 0);
        CHECK(store->inbox_reads("eguma", 0, INT64_MAX).empty());
        // A seq is never reused after the newest event was pruned.
        InboxEventRow d = event("d", 7000);
        CHECK(store->insert_inbox_event(d, 0, 2) == InboxInsert::stored);
        CHECK(d.seq > other.seq);
    }
    fs::remove_all(dir);
}

TEST_CASE("webhooks: the configuration's hooks block is read and checked", "[webhooks][config]") {
    std::vector<ConfigError> errors;
    Config ok = parse_config(R"({"hooks": {"listen": "127.0.0.1:8090", "max_body_bytes": 2048,
                                           "max_pending": 5, "retention_days": 1.5}})",
                             "c.json", errors);
    CHECK(errors.empty());
    CHECK(ok.hooks.listen == "127.0.0.1:8090");
    CHECK(ok.hooks.max_body_bytes == 2048);
    CHECK(ok.hooks.max_pending == 5);
    CHECK(ok.hooks.retention_days == 1.5);
    CHECK(parse_config("{}", "c.json", errors).hooks.listen.empty());  // off by default

    errors.clear();
    parse_config(R"({"hooks": {"listen": "localhost", "max_pending": 0, "retention": 3}})", "c.json", errors);
    std::set<std::string> paths;
    for (const auto& e : errors) paths.insert(e.json_path);
    CHECK(paths == std::set<std::string>{"/hooks/listen", "/hooks/max_pending", "/hooks/retention"});
}
