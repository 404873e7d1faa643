// Attention and notifications (issue 13; docs/api.md, "Attention" and "Notifications")
// through a real `plexus serve`: a local SMTP sink and a local webhook receiver, both written
// here on loopback. A failing run gives one e-mail and one webhook post naming the process,
// the reason and a link; failures within the digest window come as one message; a restart
// sends nothing again; a bad SMTP server shows its error in the API and leaves runs alone;
// the SMTP password is in no log, API answer or database byte. And GET /api/attention says
// what needs action, or that all is clear.
#include "support.hpp"
#include "tests/support/notify_sinks.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

const char* k_smtp_password = "smtp-PW-9c41e7d2";
const char* k_hook_path = "/services/T01/B02/hooksecret7731";

// A port nothing listens on (bound, then closed).
int closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

struct Hub : PortalHub {
    Hub() {
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        fs::create_directories(dir.path() / "gone");
        // customers: 2 of 6 records fail mapping ("n/a" is no number): records fail.
        std::vector<json> customers;
        for (int i = 0; i < 6; ++i)
            customers.push_back({{"id", "C" + std::to_string(i)},
                                 {"credit", i % 3 == 2 ? "n/a" : std::to_string(i)},
                                 {"updated_at", "2024-05-01T10:00:0" + std::to_string(i) + "Z"}});
        write_jsonl(dir.path() / "src" / "customers.jsonl", customers);
        write_jsonl(dir.path() / "gone" / "orders.jsonl", {json{{"id", "O1"}, {"updated_at", "2024-05-01T10:00:00Z"}}});
        json cfg = {
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"customers", jsonl_entity("customers.jsonl")}})},
              {"gone", files_connection(dir.str("gone"), {{"orders", jsonl_entity("orders.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"customers", jsonl_entity("customers.jsonl", "id", "")},
                                                        {"orders", jsonl_entity("orders.jsonl", "id", "")}})}}},
            {"processes",
             json::array({{{"id", "customers"},
                           {"name", "Customers src\u2192dst"},
                           {"source", {{"connection", "src"}, {"entity", "customers"}}},
                           {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                           {"mapping", {{"id", "id"}, {"credit", "number(credit)"}}}},
                          {{"id", "orders"},
                           {"name", "Orders gone\u2192dst"},
                           {"source", {{"connection", "gone"}, {"entity", "orders"}}},
                           {"target", {{"connection", "dst"}, {"entity", "orders"}}},
                           {"mapping", {{"id", "id"}}}},
                          {{"id", "idle"},
                           {"name", "Idle"},
                           {"enabled", false},
                           {"source", {{"connection", "src"}, {"entity", "customers"}}},
                           {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                           {"mapping", {{"id", "id"}}}}})},
            {"serve", {{"run_at_start", "none"}}}};
        REQUIRE(prepare(cfg, {{"ada", "admin"}}));
        start();
    }

    // Serve, and log in as ada.
    void start() {
        REQUIRE(PortalHub::start());
        REQUIRE(login("ada"));
    }
    json get(const std::string& path) {
        auto [status, body] = call("GET", path);
        INFO(path << " " << body.dump());
        REQUIRE(status == 200);
        return body;
    }
    // Runs the process now and returns its finished run.
    json run(const std::string& id) {
        json r = run_process(id);
        INFO("the run of " << id);
        REQUIRE(r.is_object());
        return r;
    }
    // Appends `good` valid and `bad` unmappable customers after the ones there (newer
    // cursor values), so that the next run of "customers" reads them.
    void add_customers(int good, int bad) {
        std::string text = read_file(dir.path() / "src" / "customers.jsonl");
        for (int i = 0; i < good + bad; ++i, ++added)
            text += json{{"id", "N" + std::to_string(added)},
                         {"credit", i < good ? "1" : "n/a"},
                         {"updated_at", "2024-06-01T10:" + std::string(added < 10 ? "0" : "") +
                                            std::to_string(added) + ":00Z"}}
                        .dump() +
                    "\n";
        write_file(dir.path() / "src" / "customers.jsonl", text);
    }
    int added = 0;
};

json find_item(const json& attention, const std::string& kind, const std::string& process) {
    for (const auto& i : attention["items"])
        if (i["kind"] == kind && i.value("process", "") == process) return i;
    return nullptr;
}

}  // namespace

TEST_CASE("notifications: e-mail and webhook of failed runs, a digest, no repeat after a restart, "
          "errors shown, the password nowhere",
          "[notifications]") {
    SmtpSink smtp;
    HookSink hook(k_hook_path);
    Hub hub;

    // Nothing is configured yet: both channels off, nothing pending.
    json v = hub.get("/api/notifications");
    CHECK(v["email"]["enabled"] == false);
    CHECK(v["webhook"]["url_set"] == false);

    // Bad settings come back by field, and nothing is stored.
    auto [bad_status, bad] = hub.call("PUT", "/api/notifications",
                                      {{"email", {{"enabled", true}, {"port", 70000}, {"to", {"not-an-address"}}}},
                                       {"digest_minutes", -1}});
    CHECK(bad_status == 400);
    std::set<std::string> fields;
    for (const auto& e : bad["errors"]) fields.insert(e["field"].get<std::string>());
    CHECK(fields.count("email.port"));
    CHECK(fields.count("email.to"));
    CHECK(fields.count("email.server"));
    CHECK(fields.count("digest_minutes"));
    CHECK(hub.get("/api/notifications")["email"]["enabled"] == false);

    // A digest window of 6 s keeps the test short.
    const json settings = {
        {"email", {{"enabled", true}, {"server", "127.0.0.1"}, {"port", smtp.port()},
                   {"security", "none"}, {"from", "plexus@shop.test"},
                   {"to", {"ops@shop.test", "lead@shop.test"}}, {"username", "plexus"},
                   {"password", k_smtp_password}}},
        {"webhook", {{"enabled", true}, {"url", hook.url()}}},
        {"digest_minutes", 0.1}};
    auto [put_status, put] = hub.call("PUT", "/api/notifications", settings);
    INFO(put.dump());
    REQUIRE(put_status == 200);
    CHECK(put["email"]["password_set"] == true);
    CHECK(put["webhook"]["url_set"] == true);
    CHECK(put["webhook"]["url_host"] == "http://127.0.0.1:" + std::to_string(hook.port()));

    // 1. One failing run: one e-mail and one webhook post, at once.
    json r1 = hub.run("customers");
    CHECK(r1["status"] == "succeeded_with_failures");
    CHECK(r1["counts"]["failed"] == 2);
    REQUIRE(eventually([&] { return smtp.mails().size() == 1 && hook.posts().size() == 1; }));
    {
        const auto mail = smtp.mails()[0];
        INFO(mail.data);
        CHECK(mail.auth == std::string("plexus") + '\0' + k_smtp_password);  // AUTH used the password
        CHECK(mail.to.size() == 2);
        CHECK_THAT(mail.data, Catch::Contains("Subject: =?UTF-8?B?"));  // "Customers src→dst" is not ASCII
        CHECK_THAT(mail.data, Catch::Contains("Customers src\u2192dst"));
        CHECK_THAT(mail.data, Catch::Contains("2 records failed"));
        CHECK_THAT(mail.data, Catch::Contains("Commonest reasons:"));
        CHECK_THAT(mail.data, Catch::Contains("#/runs/" + std::to_string(r1["id"].get<int64_t>())));
        CHECK_THAT(mail.data, Catch::Contains("#/failed/customers"));
        const auto post = hook.posts()[0];
        CHECK(post.first == "application/json");
        json body = json::parse(post.second);
        CHECK_THAT(body["text"].get<std::string>(), Catch::Contains("Customers src\u2192dst"));
        CHECK(body["plexus"]["events"][0]["run_id"] == r1["id"]);
    }
    REQUIRE(eventually([&] { return !hub.get("/api/notifications")["status"]["email"]["last_sent"].is_null(); }, 3000ms));

    // 2. Two failures within the window: one message listing both, after the window.
    fs::remove_all(hub.dir.path() / "gone");  // the orders source is gone: that run fails
    json r2 = hub.run("orders");
    CHECK(r2["status"] == "failed");
    hub.add_customers(1, 2);
    json r3 = hub.run("customers");  // 2 new records fail
    CHECK(r3["counts"]["failed"] == 2);
    CHECK(smtp.mails().size() == 1);  // still inside the window
    REQUIRE(eventually([&] { return smtp.mails().size() == 2 && hook.posts().size() == 2; }));
    {
        const auto mail = smtp.mails()[1];
        INFO(mail.data);
        CHECK_THAT(mail.data, Catch::Contains("2 runs need attention"));
        CHECK_THAT(mail.data, Catch::Contains("Orders gone\u2192dst"));
        CHECK_THAT(mail.data, Catch::Contains("Reason:"));
        CHECK_THAT(mail.data, Catch::Contains("#/runs/" + std::to_string(r2["id"].get<int64_t>())));
        CHECK_THAT(mail.data, Catch::Contains("#/runs/" + std::to_string(r3["id"].get<int64_t>())));
        json body = json::parse(hook.posts()[1].second);
        CHECK(body["plexus"]["events"].size() == 2);
    }

    // The attention view: the failed run, the failed records with their reason, the idle
    // process switched off; each with its link.
    {
        json a = hub.get("/api/attention");
        INFO(a.dump(2));
        CHECK(a["all_clear"] == false);
        json fr = find_item(a, "failed_runs", "orders");
        REQUIRE(fr.is_object());
        CHECK(fr["link"] == "#/runs/" + std::to_string(r2["id"].get<int64_t>()));
        json rec = find_item(a, "failed_records", "customers");
        REQUIRE(rec.is_object());
        CHECK(rec["count"] == 4);
        CHECK(rec["link"] == "#/failed/customers");
        REQUIRE(rec["reasons"].size() >= 1);
        CHECK(rec["reasons"][0]["count"] == 4);  // the "n/a" failures are one reason
        CHECK(find_item(a, "disabled", "idle").is_object());
        CHECK(find_item(a, "failed_runs", "customers").is_null());  // it finished its runs
    }

    // 3. A restart sends nothing again.
    hub.stop();
    hub.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    CHECK(smtp.mails().size() == 2);
    CHECK(hook.posts().size() == 2);
    v = hub.get("/api/notifications");
    CHECK(v["status"]["email"]["pending"] == 0);
    CHECK(v["status"]["webhook"]["pending"] == 0);

    // 4. A bad SMTP server: the error is shown (API, attention, test), the run is as before,
    // and the webhook still goes.
    auto [s4, b4] = hub.call("PUT", "/api/notifications", {{"email", {{"port", closed_port()}}}});
    REQUIRE(s4 == 200);
    CHECK(b4["email"]["password_set"] == true);  // kept: not sent again
    hub.add_customers(0, 1);
    json r4 = hub.run("customers");
    CHECK(r4["status"] == "succeeded_with_failures");
    REQUIRE(eventually([&] {
        return !hub.get("/api/notifications")["status"]["email"]["last_error"].is_null() &&
               hook.posts().size() == 3;
    }));
    v = hub.get("/api/notifications");
    CHECK_THAT(v["status"]["email"]["last_error"].get<std::string>(), Catch::Contains("127.0.0.1"));
    CHECK(v["status"]["email"]["pending"] == 1);  // kept for the next try
    CHECK(smtp.mails().size() == 2);
    CHECK(find_item(hub.get("/api/attention"), "notification_failed", "").is_object());
    auto [st, test] = hub.call("POST", "/api/notifications/test", {{"channel", "email"}});
    REQUIRE(st == 200);
    CHECK(test["results"][0]["ok"] == false);
    CHECK_THAT(test["results"][0]["message"].get<std::string>(), Catch::Contains("connect"));
    auto [st2, test2] = hub.call("POST", "/api/notifications/test", {{"channel", "webhook"}});
    CHECK(test2["results"][0]["ok"] == true);
    CHECK(hook.posts().size() == 4);

    // Audited, without the secrets.
    bool audited = false;
    const json audit = hub.get("/api/audit?limit=100");
    INFO(audit.dump());
    for (const auto& a : audit["items"])
        audited = audited || a["action"] == "notifications.update";
    CHECK(audited);

    // 5. The password and the webhook's path are in no log, answer or database byte.
    hub.stop();
    for (const std::string& secret : {std::string(k_smtp_password), std::string(k_hook_path)}) {
        CHECK(hub.logs().find(secret) == std::string::npos);
        CHECK(hub.transcript.find(secret) == std::string::npos);
        CHECK(hub.database_bytes().find(secret) == std::string::npos);
    }
}

TEST_CASE("attention: all clear when nothing needs action", "[notifications]") {
    PortalHub hub;
    const fs::path& dir = hub.dir.path();
    fs::create_directories(dir / "src");
    fs::create_directories(dir / "dst");
    write_jsonl(dir / "src" / "customers.jsonl", {json{{"id", "C1"}, {"updated_at", "2024-05-01T10:00:00Z"}}});
    json config = {
        {"connections",
         {{"src", files_connection((dir / "src").string(), {{"customers", jsonl_entity("customers.jsonl")}})},
          {"dst", files_connection((dir / "dst").string(), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
        {"processes", json::array({{{"id", "customers"},
                                    {"source", {{"connection", "src"}, {"entity", "customers"}}},
                                    {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                                    {"mapping", {{"id", "id"}}}}})},
        {"serve", {{"run_at_start", "none"}}}};
    REQUIRE(hub.prepare(config, {{"sue", "support"}, {"otto", "operator"}}));
    REQUIRE(hub.start());
    const PortalSession sue = portal_login(hub.proc.port, "sue", PortalHub::password("sue"));
    const PortalSession otto = portal_login(hub.proc.port, "otto", PortalHub::password("otto"));
    REQUIRE(!sue.cookie.empty());
    REQUIRE(!otto.cookie.empty());
    // Never run: that is what needs attention first.
    auto a = sue.call("GET", "/api/attention");
    REQUIRE(a);
    REQUIRE(a->status == 200);
    json j = json::parse(a->body);
    CHECK(j["all_clear"] == false);
    CHECK(find_item(j, "never_run", "customers").is_object());
    // Support may read the notification settings but not change or test them.
    CHECK(sue.call("GET", "/api/notifications")->status == 200);
    CHECK(sue.call("PUT", "/api/notifications")->status == 403);
    CHECK(otto.call("POST", "/api/notifications/test")->status == 403);
    // One successful run: all clear.
    REQUIRE(otto.call("POST", "/api/processes/customers/run")->status == 202);
    CHECK(eventually([&] {
        auto x = sue.call("GET", "/api/attention");
        return x && x->status == 200 && json::parse(x->body)["all_clear"] == true;
    }));
}
