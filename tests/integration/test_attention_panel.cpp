// "What needs action", failed connection tests kept in the store, and notification channels
// written in the configuration file (issue 13; docs/api.md, "Attention" and "Notifications";
// docs/operations.md) through a real `plexus serve`:
// - GET /api/attention lists failures first (failed records with their reason, a failed
//   connection test) and then the notes (switched off, never run) marked "note", with times
//   as fields (never inside the text);
// - a failed connection test still asks for attention after a restart, and a later
//   successful test clears it;
// - e-mail and webhook channels written in the file ("${ENV}" password and address) deliver
//   to a loopback SMTP sink and webhook receiver, are shown read-only with where they come
//   from, cannot be changed through the API, and their secrets are in no answer or log line;
// - bad notification keys are refused by `plexus check-config` with the file and JSON path.
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
#include <cstdlib>
#include <mutex>
#include <regex>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

const char* k_hook_secret_path = "/services/T9/B8/attn-hook-secret-2d7f";

struct Hub : HubDir {
    ServeProcess proc;
    PortalSession session;
    std::string transcript;

    Hub() {
        for (const char* who : {"ada", "sam"}) {
            auto r = run_plexus({"users", "add", who, "--role", std::string(who) == "ada" ? "admin" : "support",
                                 "--data", dir.str("var")},
                                std::string("PLEXUS_PASSWORD=") + who + "-password-123");
            REQUIRE(r.exit_code == 0);
        }
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        fs::create_directories(dir.path() / "outbox");
        // Two customers, one with a credit number() refuses: one failed record.
        write_jsonl(dir.path() / "src" / "customers.jsonl",
                    {{{"id", 1}, {"credit", "12.50"}, {"updated_at", "2026-05-01T08:00:00Z"}},
                     {{"id", 2}, {"credit", "n/a"}, {"updated_at", "2026-05-01T08:01:00Z"}}});
        auto process = [](const std::string& id, bool enabled, const json& schedule) {
            json p = {{"id", id},
                      {"name", id + " (files)"},
                      {"source", {{"connection", "src"}, {"entity", "customers"}}},
                      {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                      {"mapping", {{"id", "id"}, {"credit", "number(credit)"}}},
                      {"enabled", enabled}};
            if (!schedule.is_null()) p["schedule"] = schedule;
            return p;
        };
        config = {{"connections",
                   {{"src", files_connection(dir.str("src"), {{"customers", jsonl_entity("customers.jsonl")}})},
                    {"dst", files_connection(dir.str("dst"), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})},
                    {"outbox", files_connection(dir.str("outbox"), {{"notes", jsonl_entity("notes.jsonl", "id", "")}})}}},
                  {"processes", json::array({process("customers", true, nullptr),
                                             process("idle", false, nullptr),
                                             process("nightly", true, {{"cron", "0 3 * * *"}, {"timezone", "Europe/Zurich"}})})},
                  {"serve", {{"run_at_start", "none"}}}};
        save();
    }
    void start() {
        const bool up = proc.start(*this);
        INFO(read_file(proc.log));
        REQUIRE(up);
    }
    void login(const std::string& name) {
        session = portal_login(proc.port, name, name + "-password-123");
        REQUIRE(!session.cookie.empty());
    }
    std::pair<int, json> call(const std::string& method, const std::string& path, const json& body = json::object()) {
        httplib::Result r = session.call(method, path, body.dump());
        REQUIRE(r);
        transcript += r->body + "\n";
        return {r->status, r->body.empty() ? json() : json::parse(r->body, nullptr, false)};
    }
    json run(const std::string& id) {
        REQUIRE(call("POST", "/api/processes/" + id + "/run").first == 202);
        json last;
        REQUIRE(eventually([&] {
            json v = call("GET", "/api/processes/" + id).second;
            last = v["last_run"];
            return v["running"].is_null() && !last.is_null();
        }));
        return last;
    }
};

CommandResult check_config(const Hub& hub) {
    return run_plexus({"check-config", hub.dir.str("plexus.json"), "--data", hub.data(), "--plugin-dir", PLEXUS_PLUGIN_DIR});
}

json item_of(const json& attention, const std::string& kind, const std::string& subject = "") {
    for (const auto& i : attention["items"])
        if (i["kind"] == kind && (subject.empty() || i.value("process", i.value("connection", "")) == subject))
            return i;
    return nullptr;
}

}  // namespace

TEST_CASE("attention: failures first, notes folded, a failed connection test kept across a restart",
          "[portal][attention]") {
    Hub hub;
    hub.start();
    hub.login("ada");

    // Nothing failed yet: no action needed, only notes (never run, switched off).
    json a = hub.call("GET", "/api/attention").second;
    INFO(a.dump(2));
    CHECK(a["needs_action"] == false);
    CHECK(a["failures"] == 0);
    CHECK(a["notes"].get<int>() >= 3);  // customers and nightly never ran, idle is off
    json nightly = item_of(a, "never_run", "nightly");
    REQUIRE(nightly.is_object());
    CHECK(nightly["group"] == "note");
    // Its first run is a field in ISO 8601, the text says no time (the page says it in words).
    CHECK(std::regex_match(nightly["next_run"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    CHECK_FALSE(std::regex_search(nightly["detail"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\d)")));
    CHECK(item_of(a, "disabled", "idle")["group"] == "note");

    // One failed record, and a connection whose test fails (its directory is gone).
    json run = hub.run("customers");
    CHECK(run["counts"]["failed"] == 1);
    fs::rename(hub.dir.path() / "outbox", hub.dir.path() / "outbox-away");
    auto [tstatus, test] = hub.call("POST", "/api/connections/outbox/test");
    INFO(test.dump());
    REQUIRE(tstatus == 200);
    CHECK(test["ok"] == false);

    a = hub.call("GET", "/api/attention").second;
    INFO(a.dump(2));
    CHECK(a["needs_action"] == true);
    CHECK(a["failures"] == 2);
    // Failures first, in order: the connection test, then the failed records; every note after.
    std::vector<std::string> kinds;
    bool note_seen = false, failure_after_note = false;
    for (const auto& i : a["items"]) {
        kinds.push_back(i["kind"]);
        if (i["group"] == "note") note_seen = true;
        else if (note_seen) failure_after_note = true;
        CHECK((i["group"] == "note") == (i["severity"] == "info"));
    }
    CHECK_FALSE(failure_after_note);
    REQUIRE(kinds.size() >= 2);
    CHECK(kinds[0] == "connection_test_failed");
    CHECK(kinds[1] == "failed_records");
    json records = item_of(a, "failed_records", "customers");
    REQUIRE(records.is_object());
    CHECK(records["count"] == 1);
    CHECK(records["reasons"][0]["count"] == 1);
    json conn = item_of(a, "connection_test_failed", "outbox");
    REQUIRE(conn.is_object());
    CHECK(conn["detail"].get<std::string>().find("does not exist") != std::string::npos);
    const std::string tested_at = conn["at"];

    // The Connections page shows the last test too.
    json list = hub.call("GET", "/api/connections").second;
    for (const auto& c : list["items"])
        if (c["id"] == "outbox") CHECK(c["last_test"]["ok"] == false);

    // A restart does not forget the failed test.
    REQUIRE(hub.proc.stop());
    hub.start();
    hub.login("sam");
    a = hub.call("GET", "/api/attention").second;
    INFO(a.dump(2));
    conn = item_of(a, "connection_test_failed", "outbox");
    REQUIRE(conn.is_object());
    CHECK(conn["at"] == tested_at);

    // Put right and tested again: the item goes.
    fs::rename(hub.dir.path() / "outbox-away", hub.dir.path() / "outbox");
    hub.login("ada");
    CHECK(hub.call("POST", "/api/connections/outbox/test").second["ok"] == true);
    a = hub.call("GET", "/api/attention").second;
    CHECK(item_of(a, "connection_test_failed", "outbox").is_null());
    CHECK(a["failures"] == 1);  // the failed record is still there
}

TEST_CASE("lookup: the files connector's entities from its settings, readable ones first", "[portal][lookup]") {
    Hub hub;
    write_jsonl(hub.dir.path() / "outbox" / "notes.jsonl", {{{"id", "n-1"}, {"text", "hello"}}});
    hub.start();
    hub.login("sam");
    json list = hub.call("GET", "/api/connections").second;
    json outbox;
    for (const auto& c : list["items"])
        if (c["id"] == "outbox") outbox = c;
    REQUIRE(outbox.is_object());
    INFO(outbox.dump(2));
    REQUIRE(outbox["lookup_entities"].size() == 1);
    CHECK(outbox["lookup_entities"][0]["name"] == "notes");
    CHECK(outbox["lookup_entities"][0]["by_key"] == true);
    auto [status, found] = hub.call("POST", "/api/connections/outbox/lookup", {{"entity", "notes"}, {"key", "n-1"}});
    INFO(found.dump());
    CHECK(status == 200);
    CHECK(found["record"]["data"]["text"] == "hello");
}

TEST_CASE("notifications: e-mail and webhook written in the configuration file deliver, read-only in the portal",
          "[portal][notifications]") {
    HookSink receiver(k_hook_secret_path);
    SmtpSink smtp;
    ::setenv("PLEXUS_ATTN_TEST_HOOK", receiver.url().c_str(), 1);
    ::setenv("PLEXUS_ATTN_TEST_SMTP_PW", "attn-smtp-PW-61f0", 1);
    Hub hub;
    hub.config["notifications"] = {{"webhook", {{"url", "${PLEXUS_ATTN_TEST_HOOK}"}}},
                                   {"email", {{"server", "127.0.0.1"}, {"port", smtp.port()}, {"security", "none"},
                                              {"from", "plexus@shop.test"}, {"to", "ops@shop.test"},
                                              {"username", "plexus"}, {"password", "${PLEXUS_ATTN_TEST_SMTP_PW}"}}},
                                   {"digest_minutes", 0}};
    hub.save();
    auto check = check_config(hub);
    INFO(check.out);
    CHECK(check.exit_code == 0);
    hub.start();
    hub.login("ada");

    json v = hub.call("GET", "/api/notifications").second;
    INFO(v.dump(2));
    CHECK(v["webhook"]["enabled"] == true);
    CHECK(v["webhook"]["origin"] == "file");
    CHECK(v["webhook"]["read_only"] == true);
    CHECK(v["webhook"]["json_path"] == "/notifications/webhook");
    CHECK(v["webhook"]["url_set"] == true);
    CHECK(v["email"]["origin"] == "file");
    CHECK(v["email"]["server"] == "127.0.0.1");
    CHECK(v["email"]["password_set"] == true);
    CHECK(v["file_settings"] == json::array({"digest_minutes"}));

    // The file's channels cannot be changed here; what the file leaves out can.
    auto [put_status, put] = hub.call("PUT", "/api/notifications",
                                      {{"webhook", {{"enabled", false}}}});
    INFO(put.dump());
    CHECK(put_status == 400);
    CHECK(put.dump().find("/notifications/webhook") != std::string::npos);
    CHECK(hub.call("PUT", "/api/notifications", {{"email", {{"username", "someone"}}}}).first == 400);
    CHECK(hub.call("PUT", "/api/notifications", {{"portal_url", "https://plexus.shop.test/"}}).first == 200);

    // A run that leaves a failed record is told to the webhook.
    hub.run("customers");
    REQUIRE(eventually([&] { return !receiver.posts().empty(); }, std::chrono::seconds(20)));
    const json post = json::parse(receiver.posts()[0].second);
    CHECK(post["text"].get<std::string>().find("customers (files)") != std::string::npos);
    const bool mailed = eventually([&] { return !smtp.mails().empty(); }, std::chrono::seconds(20));
    INFO(hub.call("GET", "/api/notifications").second["status"].dump());
    REQUIRE(mailed);
    const SmtpSink::Mail mail = smtp.mails()[0];
    CHECK(mail.data.find("customers (files)") != std::string::npos);
    CHECK(mail.data.find("https://plexus.shop.test/#/failed/customers") != std::string::npos);
    // Logged in as the file says, with the password from the environment.
    CHECK(mail.auth == std::string("plexus") + '\0' + "attn-smtp-PW-61f0");

    // The address (a credential) is in no answer nor in the log.
    CHECK(hub.transcript.find("attn-hook-secret") == std::string::npos);
    CHECK(read_file(hub.proc.log).find("attn-hook-secret") == std::string::npos);
    CHECK(hub.transcript.find("attn-smtp-PW") == std::string::npos);
    CHECK(read_file(hub.proc.log).find("attn-smtp-PW") == std::string::npos);
    ::unsetenv("PLEXUS_ATTN_TEST_HOOK");
    ::unsetenv("PLEXUS_ATTN_TEST_SMTP_PW");
}

TEST_CASE("notifications: bad keys in the configuration file are named with their path", "[cli][notifications]") {
    Hub hub;
    hub.config["notifications"] = {
        {"email", {{"server", "smtp.example.com:587"}, {"port", 70000}, {"security", "ssl"},
                   {"from", "not an address"}, {"to", json::array({"ops@example.com", 7})},
                   {"pasword", "x"}}},
        {"webhook", {{"url", "${PLEXUS_ATTN_UNSET_HOOK}"}}},
        {"digest_minute", 5}};
    hub.save();
    ::unsetenv("PLEXUS_ATTN_UNSET_HOOK");
    auto r = check_config(hub);
    INFO(r.out);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.out, Catch::Contains("/notifications/digest_minute: unknown key \"digest_minute\"") &&
                          Catch::Contains("did you mean \"digest_minutes\"?"));
    CHECK_THAT(r.out, Catch::Contains("/notifications/email/pasword: unknown key") &&
                          Catch::Contains("did you mean \"password\"?"));
    CHECK_THAT(r.out, Catch::Contains("/notifications/email/port: \"port\" must be a port number"));
    CHECK_THAT(r.out, Catch::Contains("/notifications/email/security: \"security\" must be \"starttls\", \"tls\" or \"none\""));
    CHECK_THAT(r.out, Catch::Contains("/notifications/email/to/1: a recipient must be a string"));

    // Structure right, values wrong: checked once the file parses.
    hub.config["notifications"] = {
        {"email", {{"server", "smtp.example.com:587"}, {"from", "not an address"}, {"to", json::array({"ops@example.com"})}}},
        {"webhook", {{"url", "${PLEXUS_ATTN_UNSET_HOOK}"}}}};
    hub.save();
    r = check_config(hub);
    INFO(r.out);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.out, Catch::Contains("/notifications/email/server: give the server's host name only"));
    CHECK_THAT(r.out, Catch::Contains("/notifications/email/from: \"not an address\" is not an e-mail address"));
    CHECK_THAT(r.out, Catch::Contains("/notifications/webhook/url: environment variable PLEXUS_ATTN_UNSET_HOOK"));
    // serve refuses the file the same way.
    ServeProcess serve;
    CHECK_FALSE(serve.start(hub));
    CHECK_THAT(read_file(serve.log), Catch::Contains("/notifications/webhook/url"));
}
