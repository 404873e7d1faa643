// The webhook inbox through a real `plexus serve` (docs/design/007-webhook-inbox.md): a
// signed event is stored once and triggers a run of the process reading its entity; a
// replayed id is told "duplicate" and not stored again; a forged or stale event is refused
// (401) and nothing is stored; an oversized one gets 413, an unknown connection 404, a full
// inbox 503; the portal shows the inbox without the secret; an event answered 2xx survives a
// SIGKILL of the hub and is consumed exactly once after the restart.
#include "hardening_support.hpp"

#include "inbox/webhook_spec.hpp"

#include <ctime>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

const char* k_inbox_secret = "whsec_INBOX_TEST_SECRET_4711";

// A hub with two inbox_test connections: "eg" read by the enabled process "events" (into a
// JSON Lines file), and "held" read only by a disabled process (its events stay pending).
struct InboxHub : ServedHub {
    int hooks_port = 0;

    InboxHub() {
        fs::create_directories(dir.path() / "out");
        config = json{
            {"hooks", {{"listen", "127.0.0.1:0"}, {"max_body_bytes", 4096}, {"max_pending", 3}}},
            // Runs here come from events only (no first sync at start).
            {"serve", {{"run_at_start", "none"}}},
            {"connections",
             {{"eg", {{"connector", "inbox_test"}, {"settings", {{"webhook_secret", "${INBOX_TEST_SECRET}"}}}}},
              {"held", {{"connector", "inbox_test"}, {"settings", {{"webhook_secret", "${INBOX_TEST_SECRET}"}}}}},
              {"dst", files_connection(dir.str("out"), {{"events", jsonl_entity("events.jsonl", "id", "")},
                                                        {"held", jsonl_entity("held.jsonl", "id", "")}})}}},
            {"processes",
             json::array({{{"id", "events"},
                           {"source", {{"connection", "eg"}, {"entity", "events"}}},
                           {"target", {{"connection", "dst"}, {"entity", "events"}}},
                           {"mapping", {{"id", "id"}, {"topic", "topic"}, {"amount", "amount"}}}},
                          {{"id", "held_events"},
                           {"enabled", false},
                           {"source", {{"connection", "held"}, {"entity", "events"}}},
                           {"target", {{"connection", "dst"}, {"entity", "held"}}},
                           {"mapping", {{"id", "id"}}}}})}};
        write_file(dir.path() / "plexus.json", config.dump(2));
        setenv("INBOX_TEST_SECRET", k_inbox_secret, 1);
    }

    std::vector<std::string> common() const {
        return {"--config", dir.str("plexus.json"), "--data", data(), "--plugin-dir", PLEXUS_PLUGIN_DIR,
                "--plugin-dir", PLEXUS_INBOX_PLUGIN_DIR};
    }

    // `plexus serve` with both plugin directories; waits for the hooks address line too.
    void start_inbox() {
        log = dir.str("serve-" + std::to_string(++starts) + ".log");
        std::vector<std::string> args{"serve"};
        auto c = common();
        args.insert(args.end(), c.begin(), c.end());
        args.insert(args.end(), {"--listen", "127.0.0.1:0"});
        pid = spawn_plexus(args, log);
        REQUIRE(pid > 0);
        port = hooks_port = 0;
        std::regex portal(R"(portal: http://127\.0\.0\.1:(\d+)/)"), hooks(R"(hooks: http://127\.0\.0\.1:(\d+)/hooks/)");
        for (int i = 0; i < 400 && (port == 0 || hooks_port == 0); ++i) {
            std::smatch m;
            const std::string text = read_file(log);
            if (std::regex_search(text, m, portal)) port = std::stoi(m[1]);
            if (std::regex_search(text, m, hooks)) hooks_port = std::stoi(m[1]);
            REQUIRE(alive());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        INFO(read_file(log));
        REQUIRE(port > 0);
        REQUIRE(hooks_port > 0);
    }

    void kill_now() {
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
        port = hooks_port = 0;
    }

    std::vector<json> written(const std::string& file = "events.jsonl") const {
        return read_jsonl(dir.path() / "out" / file);
    }
};

struct Sent {
    int status = -1;
    std::string body;
};

// Posts an event signed like e-guma's (the inbox_test connector's format).
Sent post_event(int port, const std::string& connection, const std::string& id, const std::string& body,
                const std::string& secret = k_inbox_secret, int64_t ts = std::time(nullptr),
                const std::string& topic = "sale") {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    const std::string t = std::to_string(ts);
    httplib::Headers h{
        {"X-Test-Signature", "sha256=" + plexus::hex_encode(plexus::webhook_hmac("hmac-sha256", secret, t + "." + body))},
        {"X-Test-Timestamp", t},
        {"X-Test-Event-Id", id},
        {"X-Test-Event-Type", topic}};
    auto r = c.Post(("/hooks/" + connection).c_str(), h, body, "application/json");
    if (!r) return {};
    return {r->status, r->body};
}

json get_json(const InboxHub& hub, const PortalLogin& who, const std::string& path) {
    auto r = hub.client().Get(path.c_str(), who.headers());
    REQUIRE(r);
    INFO(path << ": " << r->body);
    REQUIRE(r->status == 200);
    CHECK(r->body.find(k_inbox_secret) == std::string::npos);
    return json::parse(r->body);
}

json inbox_item(const json& inbox, const std::string& connection) {
    for (const auto& i : inbox["items"])
        if (i["connection"] == connection) return i;
    FAIL("no inbox item for " << connection);
    return {};
}

}  // namespace

TEST_CASE("webhooks: events are verified, stored once, bounded, shown, and trigger a run", "[webhooks]") {
    InboxHub hub;
    hub.add_user("ada", "admin");
    hub.start_inbox();
    PortalLogin ada = log_in(hub, "ada");

    // A good event: 200 once stored, and the process reading its entity runs by itself.
    Sent first = post_event(hub.hooks_port, "eg", "ev-1", R"({"amount":"10.00"})");
    INFO(first.body);
    CHECK(first.status == 200);
    CHECK_THAT(first.body, Catch::Contains("stored"));
    REQUIRE(eventually([&] { return hub.written().size() == 1; }));
    CHECK(hub.written()[0]["id"] == "ev-1");
    CHECK(hub.written()[0]["amount"] == "10.00");
    json runs = get_json(hub, ada, "/api/runs?process=events");
    REQUIRE(runs["items"].size() >= 1);
    CHECK(runs["items"][0]["trigger"] == "event");

    // The same id again (a sender's retry, or a replay inside the tolerance): 200, not stored.
    Sent again = post_event(hub.hooks_port, "eg", "ev-1", R"({"amount":"10.00"})");
    CHECK(again.status == 200);
    CHECK_THAT(again.body, Catch::Contains("duplicate"));

    // Forged (another secret), stale (signed, but 10 minutes old), a changed body: 401.
    Sent forged = post_event(hub.hooks_port, "eg", "ev-2", R"({"amount":"99.00"})", "not-the-secret");
    CHECK(forged.status == 401);
    CHECK(forged.body.find(k_inbox_secret) == std::string::npos);
    Sent stale = post_event(hub.hooks_port, "eg", "ev-3", R"({"amount":"1.00"})", k_inbox_secret,
                            std::time(nullptr) - 600);
    CHECK(stale.status == 401);
    {
        httplib::Client c("127.0.0.1", hub.hooks_port);
        auto r = c.Post("/hooks/eg", {{"X-Test-Event-Id", "ev-4"}}, R"({"amount":"1"})", "application/json");
        REQUIRE(r);
        CHECK(r->status == 401);  // unsigned
    }

    // Oversized (over hooks.max_body_bytes): 413 before it is read. Unknown connection, and a
    // connection whose connector takes no webhooks: 404.
    Sent big = post_event(hub.hooks_port, "eg", "ev-5", R"({"pad":")" + std::string(5000, 'x') + R"("})");
    CHECK(big.status == 413);
    {
        // Chunked, no length to refuse it by: the reader stops at the limit.
        int fd = connect_loopback(hub.hooks_port);
        REQUIRE(fd >= 0);
        std::string chunk(3000, 'x');
        char size[16];
        std::snprintf(size, sizeof size, "%zx", chunk.size());
        send_text(fd, "POST /hooks/eg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 3; ++i) send_text(fd, std::string(size) + "\r\n" + chunk + "\r\n");
        send_text(fd, "0\r\n\r\n");
        CHECK(status_of(receive_until_close(fd, 5000)) == 413);
        ::close(fd);
    }
    CHECK(post_event(hub.hooks_port, "nope", "ev-6", "{}").status == 404);
    CHECK(post_event(hub.hooks_port, "dst", "ev-7", "{}").status == 404);

    // Nothing of the refused events was stored; ev-1 once, consumed by the run.
    json eg = get_json(hub, ada, "/api/inbox/eg");
    REQUIRE(eg["items"].size() == 1);
    CHECK(eg["stored"] == 1);
    CHECK(eg["pending"] == 0);
    const json& ev = eg["items"][0];
    CHECK(ev["id"] == "ev-1");
    CHECK(ev["topic"] == "sale");
    CHECK(ev["status"] == "consumed");
    CHECK_FALSE(ev.contains("body"));
    REQUIRE(ev["consumed_by"].size() == 1);
    CHECK(ev["consumed_by"][0]["process"] == "events");
    CHECK(ev["consumed_by"][0]["run_id"] == runs["items"][0]["id"]);
    json body = get_json(hub, ada, "/api/inbox/eg/events/" + std::to_string(ev["seq"].get<int64_t>()));
    CHECK(body["body"]["amount"] == "10.00");

    // A connection whose reader is disabled: its inbox fills up to max_pending (3), then 503.
    for (int i = 0; i < 3; ++i) CHECK(post_event(hub.hooks_port, "held", "h-" + std::to_string(i), "{}").status == 200);
    Sent full = post_event(hub.hooks_port, "held", "h-3", "{}");
    CHECK(full.status == 503);
    CHECK(post_event(hub.hooks_port, "held", "h-0", "{}").status == 200);  // a retry of a stored one
    json inbox = get_json(hub, ada, "/api/inbox");
    CHECK(inbox["listening"] == true);
    CHECK(inbox_item(inbox, "held")["pending"] == 3);
    CHECK(inbox_item(inbox, "held")["stored"] == 3);
    CHECK(inbox_item(inbox, "eg")["stored"] == 1);
    CHECK(hub.written("held.jsonl").empty());  // disabled: no event run
    {
        auto m = hub.client().Get("/metrics", ada.headers());
        REQUIRE(m);
        CHECK_THAT(m->body, Catch::Contains("plexus_inbox_events{connection=\"held\",state=\"pending\"} 3"));
    }

    // Still exactly one record written for ev-1, and the secret in no log line.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(hub.written().size() == 1);
    CHECK(read_file(hub.log).find(k_inbox_secret) == std::string::npos);
    CHECK_THAT(read_file(hub.log), Catch::Contains("webhook refused: signature mismatch"));
}

TEST_CASE("webhooks: an event answered 2xx survives a SIGKILL and is consumed exactly once", "[webhooks]") {
    InboxHub hub;
    hub.start_inbox();
    Sent sent = post_event(hub.hooks_port, "eg", "ev-kill", R"({"amount":"5.00"})");
    hub.kill_now();  // right after the answer: the triggered run may not even have started
    REQUIRE(sent.status == 200);

    hub.start_inbox();  // the reader is behind its inbox: asked to run at start
    REQUIRE(eventually([&] { return hub.written().size() == 1; }));
    CHECK(post_event(hub.hooks_port, "eg", "ev-kill", R"({"amount":"5.00"})").status == 200);  // duplicate
    CHECK(post_event(hub.hooks_port, "eg", "ev-next", R"({"amount":"6.00"})").status == 200);
    REQUIRE(eventually([&] { return hub.written().size() == 2; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto rows = hub.written();
    REQUIRE(rows.size() == 2);
    CHECK(rows[0]["id"] == "ev-kill");
    CHECK(rows[1]["id"] == "ev-next");
}

TEST_CASE("webhooks: a Shopify order webhook (base64 HMAC of the body) triggers a run of the process reading orders", "[webhooks]") {
    InboxHub hub;
    // A Shopify connection whose API is nowhere (the run fails to read): what is checked is
    // that the event is verified and starts a run, trigger "event".
    hub.config["connections"]["shop"] = {{"connector", "shopify"},
                                         {"settings",
                                          {{"store_domain", "example.myshopify.com"},
                                           {"access_token", "${HARDENING_TEST_TOKEN}"},
                                           {"base_url", "http://127.0.0.1:9"},
                                           {"webhook_secret", "${INBOX_TEST_SECRET}"}}}};
    hub.config["processes"].push_back({{"id", "shop_orders"},
                                       {"source", {{"connection", "shop"}, {"entity", "orders"}}},
                                       {"target", {{"connection", "dst"}, {"entity", "events"}}},
                                       {"mapping", {{"id", "id"}}}});
    write_file(hub.dir.path() / "plexus.json", hub.config.dump(2));
    hub.add_user("ada", "admin");
    hub.start_inbox();
    PortalLogin ada = log_in(hub, "ada");

    auto shopify_post = [&](const std::string& id, const std::string& topic, const std::string& secret) {
        const std::string body = R"({"id":820982911946154508,"email":"jon@example.com","total_price":"10.00"})";
        httplib::Client c("127.0.0.1", hub.hooks_port);
        auto r = c.Post("/hooks/shop",
                        {{"X-Shopify-Hmac-Sha256", plexus::base64_encode(plexus::webhook_hmac("hmac-sha256", secret, body))},
                         {"X-Shopify-Webhook-Id", id},
                         {"X-Shopify-Topic", topic}},
                        body, "application/json");
        return r ? r->status : -1;
    };
    CHECK(shopify_post("w-forged", "orders/create", "not-the-secret") == 401);
    CHECK(shopify_post("w-customer", "customers/update", k_inbox_secret) == 200);  // stored, triggers nothing
    CHECK(shopify_post("w-order", "orders/create", k_inbox_secret) == 200);
    REQUIRE(eventually([&] { return !get_json(hub, ada, "/api/runs?process=shop_orders")["items"].empty(); }));
    json runs = get_json(hub, ada, "/api/runs?process=shop_orders");
    CHECK(runs["items"].size() == 1);
    CHECK(runs["items"][0]["trigger"] == "event");
    json shop = get_json(hub, ada, "/api/inbox/shop");
    REQUIRE(shop["items"].size() == 2);
    CHECK(shop["items"][0]["status"] == "trigger_only");
    CHECK(shop["items"][0]["triggers"] == json::array({"shop_orders"}));
    CHECK(shop["items"][1]["triggers"].empty());
    CHECK(read_file(hub.log).find(k_inbox_secret) == std::string::npos);
}
