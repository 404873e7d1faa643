// The portal's REST API against a real `plexus serve` (docs/api.md): authentication,
// sessions and CSRF, the authorisation matrix (every endpoint × anonymous, support,
// operator, admin), bad input (malformed JSON, oversized bodies, unknown ids, path
// traversal, SQL metacharacters) changing nothing, secrets in no response, and the
// operator's flow: disable/enable, run now, outcomes, replay, schedule edits that survive a
// restart.
#include "support.hpp"

#include "store/store.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <set>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

const char* k_secret = "shpat_TOPSECRET_4711";

struct Portal : HubDir {
    ServeProcess proc;

    Portal() {
        config = files_customers_config(dir.path(), "Customers src→dst");
        // Never used by a process: here so the API has a secret setting to mask.
        config["connections"]["shop"] = {{"connector", "shopify"},
                                         {"settings",
                                          {{"store_domain", "example.myshopify.com"},
                                           {"access_token", "${PORTAL_TEST_TOKEN}"},
                                           {"base_url", "http://127.0.0.1:9"}}}};
        // Runs come from the tests (a run at start would race their first "run now").
        config["serve"] = {{"run_at_start", "none"}};
        config["groups"] = json::array(
            {{{"id", "shop"},
              {"name", "The shop"},
              {"processes", {"customers"}},
              {"actions", json::array({{{"id", "again"}, {"label", "Import again"}, {"run", "customers"},
                                        {"from", "ask"}, {"from_default", "2024-05-01"}},
                                       {{"id", "all"}, {"label", "Everything"}, {"run_all", {"customers"}}}})}}});
        std::vector<json> records;
        for (int i = 0; i < 20; ++i)
            records.push_back({{"id", "C" + std::to_string(i)},
                               {"credit", i % 5 == 4 ? "n/a" : std::to_string(i) + ".5"},
                               {"updated_at", "2024-05-01T10:00:" + std::string(i < 10 ? "0" : "") +
                                                  std::to_string(i) + "Z"}});
        write_jsonl(dir.path() / "src" / "customers.jsonl", records);
        save();
        setenv("PORTAL_TEST_TOKEN", k_secret, 1);
        add_user("ada", "admin");
        add_user("otto", "operator");
        add_user("sue", "support");
        start();
    }

    void add_user(const std::string& name, const std::string& role) {
        auto r = run_plexus({"users", "add", name, "--role", role, "--data", dir.str("var")},
                            "PLEXUS_PASSWORD=" + shell_quote(password(name)));
        INFO(r.out);
        REQUIRE(r.exit_code == 0);
    }
    static std::string password(const std::string& name) { return name + "-password-123"; }

    void start() {
        const bool up = proc.start(*this);
        INFO(read_file(proc.log));
        REQUIRE(up);
    }
    void stop() { proc.stop(); }
    void restart() {
        stop();
        start();
    }
    httplib::Client client() const { return proc.client(); }
};

// A logged-in (or anonymous) caller.
struct Caller {
    const Portal& p;
    std::string cookie;
    std::string csrf;

    // The session against the portal's current port (a restart gives it a new one).
    PortalSession session() const { return PortalSession{p.proc.port, cookie, csrf}; }
    httplib::Headers headers(bool with_csrf = true) const { return session().headers(with_csrf); }
    httplib::Result call(const std::string& method, const std::string& path,
                         const std::string& body = "{}", bool with_csrf = true) const {
        return session().call(method, path, body, with_csrf);
    }
    int status(const std::string& method, const std::string& path, const std::string& body = "{}") const {
        auto r = call(method, path, body);
        return r ? r->status : -1;
    }
    json get_json(const std::string& path) const {
        auto r = call("GET", path);
        REQUIRE(r);
        INFO(path << " → " << r->status << " " << r->body);
        REQUIRE(r->status == 200);
        return json::parse(r->body);
    }
};

Caller login(const Portal& p, const std::string& name) {
    const PortalSession s = portal_login(p.proc.port, name, Portal::password(name));
    REQUIRE(!s.cookie.empty());
    return Caller{p, s.cookie, s.csrf};
}

json wait_idle(const Caller& c, const std::string& process) {
    json v;
    for (int i = 0; i < 300; ++i) {
        v = c.get_json("/api/processes/" + process);
        if (v["running"].is_null() && !v["last_run"].is_null()) return v;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("the run did not finish: " << v.dump());
    return v;
}

int64_t audit_count(const Caller& admin) {
    return static_cast<int64_t>(admin.get_json("/api/audit?limit=500")["items"].size());
}

}  // namespace

TEST_CASE("portal: login sets an HttpOnly SameSite cookie and logout ends the session", "[portal]") {
    Portal p;
    auto c = p.client();
    SECTION("a wrong password and an unknown user get the same 401") {
        auto r1 = c.Post("/api/login", R"({"name":"ada","password":"wrong-password-1"})", "application/json");
        auto r2 = c.Post("/api/login", R"({"name":"nobody","password":"wrong-password-1"})", "application/json");
        REQUIRE(r1);
        REQUIRE(r2);
        CHECK(r1->status == 401);
        CHECK(r2->status == 401);
        CHECK(json::parse(r1->body)["error"]["message"] == json::parse(r2->body)["error"]["message"]);
        CHECK_FALSE(r1->has_header("Set-Cookie"));
    }
    SECTION("repeated wrong passwords lock the name for a while, not the others") {
        for (int i = 0; i < 5; ++i) {
            auto r = c.Post("/api/login", R"({"name":"otto","password":"wrong-password-1"})", "application/json");
            REQUIRE(r);
            CHECK(r->status == 401);
        }
        auto locked = c.Post("/api/login", json{{"name", "otto"}, {"password", Portal::password("otto")}}.dump(),
                             "application/json");
        REQUIRE(locked);
        CHECK(locked->status == 429);
        CHECK(locked->has_header("Retry-After"));
        CHECK(json::parse(locked->body)["error"]["code"] == "too_many_requests");
        login(p, "ada");  // another name is not affected
    }
    SECTION("cookie attributes, session, logout") {
        auto r = c.Post("/api/login", json{{"name", "sue"}, {"password", Portal::password("sue")}}.dump(),
                        "application/json");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        const std::string cookie = r->get_header_value("Set-Cookie");
        CHECK_THAT(cookie, Catch::Contains("HttpOnly"));
        CHECK_THAT(cookie, Catch::Contains("SameSite=Strict"));
        CHECK_THAT(cookie, Catch::Contains("Path=/"));
        Caller sue = login(p, "sue");
        json s = sue.get_json("/api/session");
        CHECK(s["user"]["name"] == "sue");
        CHECK(s["user"]["role"] == "support");
        CHECK(s["csrf_token"] == sue.csrf);
        CHECK(sue.status("POST", "/api/logout") == 204);
        CHECK(sue.status("GET", "/api/session") == 401);
        CHECK(sue.status("GET", "/api/processes") == 401);
    }
    SECTION("login refuses forms and foreign origins (CSRF on login)") {
        auto form = c.Post("/api/login", "name=ada&password=x", "application/x-www-form-urlencoded");
        REQUIRE(form);
        CHECK(form->status == 415);
        httplib::Headers h{{"Origin", "http://evil.example"}};
        auto foreign = c.Post("/api/login", h,
                              json{{"name", "ada"}, {"password", Portal::password("ada")}}.dump(),
                              "application/json");
        REQUIRE(foreign);
        CHECK(foreign->status == 403);
        CHECK(json::parse(foreign->body)["error"]["code"] == "csrf");
    }
}

TEST_CASE("portal: every state-changing request needs the session's CSRF token", "[portal]") {
    Portal p;
    Caller otto = login(p, "otto");
    Caller no_token{p, otto.cookie, ""};
    Caller wrong_token{p, otto.cookie, std::string(64, 'a')};
    for (const Caller* c : {&no_token, &wrong_token}) {
        auto r = c->call("POST", "/api/processes/customers/disable");
        REQUIRE(r);
        CHECK(r->status == 403);
        CHECK(json::parse(r->body)["error"]["code"] == "csrf");
    }
    CHECK(otto.get_json("/api/processes/customers")["enabled"] == true);
    CHECK(otto.status("POST", "/api/processes/customers/disable") == 200);
    CHECK(otto.get_json("/api/processes/customers")["enabled"] == false);
}

TEST_CASE("portal: authorisation matrix, every endpoint by role", "[portal]") {
    Portal p;
    Caller anon{p, "", ""};
    Caller sue = login(p, "sue");
    Caller otto = login(p, "otto");
    Caller ada = login(p, "ada");
    // Something to replay: one run so the failed queue has records.
    REQUIRE(otto.status("POST", "/api/processes/customers/run") == 202);
    wait_idle(otto, "customers");
    const std::string failed_key =
        otto.get_json("/api/processes/customers/failed")["items"][0]["source_key"];
    const int64_t run_id = otto.get_json("/api/runs")["items"][0]["id"];
    const std::string run = std::to_string(run_id);

    struct Row {
        std::string method, path, body;
        int anonymous, support, operator_, admin;
    };
    // Allowed calls answer as for a valid request of that role; 401 without a session;
    // 403 for a role too low.
    const std::vector<Row> rows = {
        {"GET", "/api/health", "", 200, 200, 200, 200},
        {"GET", "/api/session", "", 401, 200, 200, 200},
        {"GET", "/api/processes", "", 401, 200, 200, 200},
        {"GET", "/api/processes/customers", "", 401, 200, 200, 200},
        {"POST", "/api/processes/customers/disable", "{}", 401, 403, 200, 200},
        {"POST", "/api/processes/customers/enable", "{}", 401, 403, 200, 200},
        {"PUT", "/api/processes/customers/schedule", R"({"interval":"1h"})", 401, 403, 200, 200},
        {"GET", "/api/processes/customers/failed", "", 401, 200, 200, 200},
        {"POST", "/api/processes/customers/rewind", R"({"to":"2024-01-01"})", 401, 403, 200, 200},
        {"GET", "/api/runs", "", 401, 200, 200, 200},
        {"GET", "/api/runs/" + run, "", 401, 200, 200, 200},
        {"GET", "/api/runs/" + run + "/outcomes", "", 401, 200, 200, 200},
        {"GET", "/api/outcomes?process=customers", "", 401, 200, 200, 200},
        {"GET", "/api/audit", "", 401, 200, 200, 200},
        {"GET", "/api/connections", "", 401, 200, 200, 200},
        {"POST", "/api/connections/src/test", "{}", 401, 403, 403, 200},
        {"GET", "/api/plugins", "", 401, 200, 200, 200},
        {"GET", "/api/inbox", "", 401, 200, 200, 200},
        {"GET", "/api/inbox/shop", "", 401, 200, 200, 200},
        {"GET", "/api/inbox/shop/events/1", "", 401, 404, 404, 404},  // nothing stored
        {"GET", "/api/users", "", 401, 403, 403, 200},
        {"POST", "/api/users", R"({"name":"new1","password":"a-long-password","role":"support"})", 401, 403, 403, 201},
        {"PUT", "/api/users/new1", R"({"role":"operator"})", 401, 403, 403, 200},
        {"DELETE", "/api/users/new1", "", 401, 403, 403, 204},
        {"GET", "/metrics", "", 401, 200, 200, 200},
        {"GET", "/api/groups", "", 401, 200, 200, 200},
        {"POST", "/api/groups/shop/disable", "{}", 401, 403, 200, 200},
        {"POST", "/api/groups/shop/enable", "{}", 401, 403, 200, 200},
        {"GET", "/api/run-all", "", 401, 200, 200, 200},
    };
    for (const auto& row : rows) {
        const std::pair<const Caller*, int> callers[] = {
            {&anon, row.anonymous}, {&sue, row.support}, {&otto, row.operator_}, {&ada, row.admin}};
        const char* names[] = {"anonymous", "support", "operator", "admin"};
        int i = 0;
        for (const auto& [caller, expected] : callers) {
            auto r = caller->call(row.method, row.path, row.body);
            REQUIRE(r);
            INFO(row.method << " " << row.path << " as " << names[i] << ": " << r->status << " " << r->body);
            CHECK(r->status == expected);
            ++i;
        }
    }
    // Run and replay: 202 for operator and admin (one at a time), 403/401 below.
    CHECK(anon.status("POST", "/api/processes/customers/run") == 401);
    CHECK(sue.status("POST", "/api/processes/customers/run") == 403);
    CHECK(otto.status("POST", "/api/processes/customers/run") == 202);
    wait_idle(otto, "customers");
    CHECK(ada.status("POST", "/api/processes/customers/run") == 202);
    wait_idle(ada, "customers");
    const std::string replay = json{{"source_keys", {failed_key}}}.dump();
    CHECK(anon.status("POST", "/api/processes/customers/replay", replay) == 401);
    CHECK(sue.status("POST", "/api/processes/customers/replay", replay) == 403);
    CHECK(otto.status("POST", "/api/processes/customers/replay", replay) == 202);
    wait_idle(otto, "customers");
    CHECK(ada.status("POST", "/api/processes/customers/replay", replay) == 202);
    wait_idle(ada, "customers");
    // Run all and group actions: operator and admin.
    CHECK(anon.status("POST", "/api/run-all") == 401);
    CHECK(sue.status("POST", "/api/run-all") == 403);
    CHECK(otto.status("POST", "/api/run-all") == 202);
    wait_idle(otto, "customers");
    CHECK(sue.status("POST", "/api/groups/shop/actions/all") == 403);
    CHECK(ada.status("POST", "/api/groups/shop/actions/all") == 202);
    wait_idle(ada, "customers");
    // Export: support and up.
    CHECK(anon.status("GET", "/api/export?format=csv&run=" + run) == 401);
    // Metrics also by HTTP Basic, for Prometheus.
    auto c = p.client();
    c.set_basic_auth("sue", Portal::password("sue"));
    auto m = c.Get("/metrics");
    REQUIRE(m);
    CHECK(m->status == 200);
    CHECK_THAT(m->body, Catch::Contains("plexus_runs_total{process=\"customers\",status=\"succeeded_with_failures\"}"));
    CHECK_THAT(m->body, Catch::Contains("plexus_records_total{process=\"customers\",action=\"failed\"}"));
    CHECK_THAT(m->body, Catch::Contains("plexus_run_duration_seconds_bucket{process=\"customers\",le=\"+Inf\"}"));
    c.set_basic_auth("sue", "wrong-password");
    auto m2 = c.Get("/metrics");
    REQUIRE(m2);
    CHECK(m2->status == 401);
}

TEST_CASE("portal: bad input gets a clear 4xx and changes nothing", "[portal]") {
    Portal p;
    Caller ada = login(p, "ada");
    const int64_t audits = audit_count(ada);
    auto status_and_code = [&](const std::string& method, const std::string& path,
                               const std::string& body) {
        auto r = ada.call(method, path, body);
        REQUIRE(r);
        json j = json::parse(r->body, nullptr, false);
        std::string code = j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
        INFO(method << " " << path << " → " << r->status << " " << r->body);
        CHECK_FALSE(code.empty());
        CHECK_FALSE(j["error"].value("message", "").empty());
        return std::make_pair(r->status, code);
    };
    CHECK(status_and_code("PUT", "/api/processes/customers/schedule", "{\"cron\": ").first == 400);
    CHECK(status_and_code("PUT", "/api/processes/customers/schedule", "[1,2]").first == 400);
    CHECK(status_and_code("PUT", "/api/processes/customers/schedule", R"({"cron":"61 * * * *"})").first == 400);
    CHECK(status_and_code("PUT", "/api/processes/customers/schedule", R"({"cron":"* * * * *","timezone":"Mars/Base"})").first == 400);
    CHECK(status_and_code("PUT", "/api/processes/customers/schedule", R"({"cronn":"* * * * *"})").first == 400);
    CHECK(status_and_code("POST", "/api/processes/customers/rewind", R"({"to":"yesterday"})").first == 400);
    CHECK(status_and_code("POST", "/api/processes/customers/replay", R"({"source_keys":["no-such-key"]})").first == 400);
    CHECK(status_and_code("POST", "/api/processes/customers/replay", R"({"source_keys":"C4"})").first == 400);
    CHECK(status_and_code("POST", "/api/users", R"({"name":"x y","password":"a-long-password","role":"admin"})").first == 400);
    CHECK(status_and_code("POST", "/api/users", R"({"name":"xy","password":"short","role":"admin"})").first == 400);
    CHECK(status_and_code("POST", "/api/users", R"({"name":"xy","password":"a-long-password","role":"root"})").first == 400);
    CHECK(status_and_code("POST", "/api/users", R"({"name":"ada","password":"a-long-password","role":"admin"})").first == 409);
    CHECK(status_and_code("DELETE", "/api/users/ada", "").first == 409);
    CHECK(status_and_code("PUT", "/api/users/ada", R"({"role":"support"})").first == 409);
    // Unknown ids.
    CHECK(status_and_code("GET", "/api/processes/nope", "").first == 404);
    CHECK(status_and_code("POST", "/api/processes/nope/enable", "{}").first == 404);
    CHECK(status_and_code("GET", "/api/runs/999999", "").first == 404);
    CHECK(status_and_code("GET", "/api/runs/999999/outcomes", "").first == 404);
    CHECK(status_and_code("POST", "/api/connections/nope/test", "{}").first == 404);
    CHECK(status_and_code("PUT", "/api/users/nobody", R"({"role":"support"})").first == 404);
    CHECK(status_and_code("DELETE", "/api/users/nobody", "").first == 404);
    CHECK(status_and_code("GET", "/api/no/such/endpoint", "").first == 404);
    CHECK(status_and_code("DELETE", "/api/processes", "").first == 405);
    // Bad query parameters, SQL metacharacters taken literally.
    CHECK(status_and_code("GET", "/api/runs?limit=abc", "").first == 400);
    CHECK(status_and_code("GET", "/api/runs?limit=100000", "").first == 400);
    CHECK(status_and_code("GET", "/api/runs?status=bogus", "").first == 400);
    CHECK(status_and_code("GET", "/api/runs?from=notatime", "").first == 400);
    CHECK(status_and_code("GET", "/api/outcomes?action=deleted", "").first == 400);
    CHECK(status_and_code("GET", "/api/export?format=pdf", "").first == 400);
    for (const char* text : {"'%20OR%201=1;--", "%25", "_", "C1'%3B%20DROP%20TABLE%20runs;--", "%22%5C"}) {
        json page = ada.get_json(std::string("/api/outcomes?process=customers&text=") + text);
        CHECK(page["items"].empty());
    }
    // An oversized body.
    std::string big = "{\"to\":\"" + std::string(70 * 1024, 'x') + "\"}";
    auto r = ada.call("POST", "/api/processes/customers/rewind", big);
    REQUIRE(r);
    CHECK(r->status == 413);
    // Path traversal on static paths: never a file from disk.
    auto c = p.client();
    for (const char* path : {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                             "/index.html/../../../etc/passwd", "/static/../../plexus.json", "//etc/passwd"}) {
        auto s = c.Get(path);
        INFO(path);
        if (!s) continue;  // refused at the HTTP level is fine
        CHECK(s->status >= 400);
        CHECK(s->body.find("root:") == std::string::npos);
        CHECK(s->body.find("connections") == std::string::npos);
    }
    // Nothing changed: no audit entry, the process as before, the users as before.
    CHECK(audit_count(ada) == audits);
    json v = ada.get_json("/api/processes/customers");
    CHECK(v["enabled"] == true);
    CHECK(v["schedule"]["cron"] == "");
    CHECK(v["schedule"]["interval"] == "");
    CHECK(ada.get_json("/api/users")["items"].size() == 3);
    CHECK(ada.get_json("/api/runs")["total"] == 0);
}

TEST_CASE("portal: secrets appear in no response", "[portal]") {
    Portal p;
    Caller ada = login(p, "ada");
    auto conns = ada.call("GET", "/api/connections");
    REQUIRE(conns);
    CHECK(conns->status == 200);
    CHECK(conns->body.find(k_secret) == std::string::npos);
    json j = json::parse(conns->body);
    json shop;
    for (const auto& c : j["items"])
        if (c["id"] == "shop") shop = c;
    REQUIRE(shop.is_object());
    CHECK(shop["settings"]["access_token"] == "\u2022\u2022\u2022\u2022\u2022\u2022");
    CHECK(shop["settings"]["store_domain"] == "example.myshopify.com");
    // A connection test that fails (nothing listens on port 9) says so without the token.
    auto t = ada.call("POST", "/api/connections/shop/test");
    REQUIRE(t);
    CHECK(t->status == 200);
    CHECK(t->body.find(k_secret) == std::string::npos);
    CHECK(json::parse(t->body)["ok"] == false);
    for (const char* path : {"/api/processes", "/api/plugins", "/api/audit", "/api/users", "/metrics"}) {
        auto r = ada.call("GET", path);
        REQUIRE(r);
        INFO(path);
        CHECK(r->body.find(k_secret) == std::string::npos);
    }
    CHECK(read_file(p.proc.log).find(k_secret) == std::string::npos);
}

TEST_CASE("portal: operator flow — disable, enable, run, outcomes, replay, schedule survives restart", "[portal]") {
    Portal p;
    Caller otto = login(p, "otto");
    Caller sue = login(p, "sue");
    CHECK(otto.status("POST", "/api/processes/customers/disable") == 200);
    CHECK(otto.get_json("/api/processes/customers")["enabled"] == false);
    CHECK(otto.status("POST", "/api/processes/customers/enable") == 200);
    REQUIRE(otto.status("POST", "/api/processes/customers/run") == 202);
    json v = wait_idle(otto, "customers");
    CHECK(v["last_run"]["status"] == "succeeded_with_failures");  // 4 records failed
    CHECK(v["last_run"]["counts"]["read"] == 20);
    CHECK(v["last_run"]["counts"]["created"] == 16);
    CHECK(v["last_run"]["counts"]["failed"] == 4);
    CHECK(v["failed_count"] == 4);
    const int64_t run_id = v["last_run"]["id"];

    // Outcomes: filter and page by key.
    json failed = otto.get_json("/api/runs/" + std::to_string(run_id) + "/outcomes?action=failed");
    REQUIRE(failed["items"].size() == 4);
    CHECK(failed["items"][0]["error_class"] == "mapping");
    CHECK(failed["next_after"].is_null());
    json page1 = otto.get_json("/api/runs/" + std::to_string(run_id) + "/outcomes?limit=15");
    CHECK(page1["items"].size() == 15);
    REQUIRE(page1["next_after"].is_number());
    json page2 = otto.get_json("/api/runs/" + std::to_string(run_id) +
                               "/outcomes?limit=15&after=" + std::to_string(page1["next_after"].get<int64_t>()));
    CHECK(page2["items"].size() == 5);
    CHECK(page2["next_after"].is_null());
    json by_text = otto.get_json("/api/outcomes?process=customers&text=C14");
    REQUIRE(by_text["items"].size() == 1);
    CHECK(by_text["items"][0]["source_key"] == "C14");
    CHECK(otto.get_json("/api/outcomes?process=customers&error_class=mapping")["items"].size() == 4);

    // Export: CSV streamed with a header and one row per outcome; xlsx is a zip workbook.
    {
        auto r = otto.call("GET", "/api/export?format=csv&run=" + std::to_string(run_id) + "&action=failed");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        CHECK_THAT(r->get_header_value("Content-Type"), Catch::StartsWith("text/csv"));
        CHECK_THAT(r->get_header_value("Content-Disposition"), Catch::Contains("plexus-outcomes-run-"));
        CHECK_THAT(r->body, Catch::StartsWith("outcome_id,run_id,process,source_key"));
        size_t lines = 0;
        for (char ch : r->body) lines += ch == '\n';
        CHECK(lines == 5);  // header + 4 failed
        auto x = otto.call("GET", "/api/export?format=xlsx&process=customers");
        REQUIRE(x);
        REQUIRE(x->status == 200);
        CHECK(x->body.substr(0, 2) == "PK");
        CHECK(x->body.size() > 1000);
    }

    // Replay only one failed record.
    REQUIRE(otto.status("POST", "/api/processes/customers/replay", R"({"source_keys":["C4"]})") == 202);
    v = wait_idle(otto, "customers");
    CHECK(v["last_run"]["trigger"] == "replay");
    CHECK(v["last_run"]["counts"]["read"] == 1);
    CHECK(v["failed_count"] == 4);  // "n/a" is still not a number: failed again, kept
    auto runs = otto.get_json("/api/runs?process=customers&limit=1");
    CHECK(runs["total"] == 2);
    CHECK(runs["items"][0]["trigger"] == "replay");

    // Dismiss one with a reason: it leaves the queue unsynced; the reason is audited.
    CHECK(otto.status("POST", "/api/processes/customers/dismiss", R"({"source_keys":["C4"]})") == 400);
    CHECK(otto.status("POST", "/api/processes/customers/dismiss", R"({"source_keys":["C4"],"reason":"  "})") == 400);
    CHECK(otto.status("POST", "/api/processes/customers/dismiss", R"({"source_keys":["C1"],"reason":"x"})") == 400);
    CHECK(sue.status("POST", "/api/processes/customers/dismiss", R"({"source_keys":["C4"],"reason":"x"})") == 403);
    CHECK(otto.get_json("/api/processes/customers")["failed_count"] == 4);  // refused ones changed nothing
    auto dismissed = otto.call("POST", "/api/processes/customers/dismiss",
                               R"({"source_keys":["C4"],"reason":"a test customer, never to be synced"})");
    REQUIRE(dismissed);
    CHECK(dismissed->status == 200);
    CHECK(json::parse(dismissed->body)["dismissed"] == 1);
    CHECK(otto.get_json("/api/processes/customers")["failed_count"] == 3);
    bool dismiss_audited = false;
    json dismiss_audit;
    for (int i = 0; i < 30 && !dismiss_audited; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        dismiss_audit = otto.get_json("/api/audit?limit=50")["items"];
        for (const auto& a : dismiss_audit)
            if (a["action"] == "failed.dismiss" && a["actor"] == "otto" &&
                a["detail"]["reason"] == "a test customer, never to be synced" &&
                a["detail"]["source_keys"] == json::array({"C4"}))
                dismiss_audited = true;
    }
    INFO(dismiss_audit.dump());
    CHECK(dismiss_audited);

    // Schedule edits and enable flags are kept across a restart.
    auto r = otto.call("PUT", "/api/processes/customers/schedule", R"({"cron":"30 2 * * *","timezone":"Europe/Zurich"})");
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    json edited = json::parse(r->body);
    CHECK(edited["schedule"]["cron"] == "30 2 * * *");
    CHECK(edited["next_run"].is_string());
    CHECK(otto.status("POST", "/api/processes/customers/disable") == 200);
    p.restart();
    Caller again = login(p, "otto");
    json after = again.get_json("/api/processes/customers");
    CHECK(after["schedule"]["cron"] == "30 2 * * *");
    CHECK(after["schedule"]["timezone"] == "Europe/Zurich");
    CHECK(after["enabled"] == false);
    CHECK(after["next_run"].is_null());

    // The audit log names who did what.
    json audit = again.get_json("/api/audit?limit=100");
    std::set<std::string> actions;
    for (const auto& a : audit["items"]) {
        if (a["actor"] == "otto") actions.insert(a["action"].get<std::string>());
    }
    for (const char* a : {"process.enable", "process.disable", "process.run", "process.replay",
                          "process.schedule", "user.login"})
        CHECK(actions.count(a) == 1);
}

TEST_CASE("portal: groups — the active sync switch, actions that read again, run all in order",
          "[portal]") {
    Portal p;
    Caller otto = login(p, "otto");
    Caller sue = login(p, "sue");
    json groups = sue.get_json("/api/groups");
    REQUIRE(groups["items"].size() == 1);
    const json& g = groups["items"][0];
    CHECK(g["name"] == "The shop");
    CHECK(g["active"] == true);
    CHECK(g["actions"][0]["from"] == "ask");
    CHECK(g["actions"][0]["from_default"] == "2024-05-01");
    CHECK(g["actions"][1]["run_all"] == json::array({"customers"}));

    // Active sync off: every process of the group disabled, and back on.
    auto off = otto.call("POST", "/api/groups/shop/disable");
    REQUIRE(off);
    CHECK(off->status == 200);
    CHECK(json::parse(off->body)["items"][0]["active"] == false);
    CHECK(sue.get_json("/api/processes/customers")["enabled"] == false);
    REQUIRE(otto.status("POST", "/api/groups/shop/enable") == 200);
    CHECK(sue.get_json("/api/processes/customers")["enabled"] == true);

    // An action that asks for a time refuses to start without one; nothing runs.
    auto no_from = otto.call("POST", "/api/groups/shop/actions/again");
    REQUIRE(no_from);
    CHECK(no_from->status == 400);
    CHECK_THAT(no_from->body, Catch::Contains("needs the time to read again from"));
    CHECK(otto.status("POST", "/api/groups/shop/actions/again", R"({"from":"yesterday"})") == 400);
    CHECK(otto.status("POST", "/api/groups/shop/actions/nope") == 404);
    CHECK(otto.status("POST", "/api/groups/nope/actions/again") == 404);
    CHECK(sue.get_json("/api/processes/customers")["last_run"].is_null());

    // The first press runs it; the second reads every record again (rewound), writing nothing new.
    auto first = otto.call("POST", "/api/groups/shop/actions/again", R"({"from":"2024-05-01"})");
    REQUIRE(first);
    CHECK(first->status == 202);
    CHECK(json::parse(first->body)["started"] == json::array({"customers"}));
    json v = wait_idle(otto, "customers");
    CHECK(v["last_run"]["counts"]["created"] == 16);
    REQUIRE(otto.status("POST", "/api/groups/shop/actions/again", R"({"from":"2024-05-01"})") == 202);
    v = wait_idle(otto, "customers");
    CHECK(v["last_run"]["counts"]["read"] == 20);  // read again from the start …
    CHECK(v["last_run"]["counts"]["created"] == 0);  // … and nothing written twice
    auto runs = sue.get_json("/api/runs?process=customers")["items"];
    REQUIRE(runs.size() == 2);
    CHECK(runs[0]["trigger"] == "action:again");
    bool audited = false;
    json audit;
    for (int i = 0; i < 30 && !audited; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        audit = sue.get_json("/api/audit?limit=100")["items"];
        for (const auto& a : audit)
            if (a["action"] == "group.action" && a["subject"] == "shop" &&
                a["detail"].dump().find("2024-05-01") != std::string::npos)
                audited = true;
    }
    INFO(audit.dump());
    CHECK(audited);

    // Run all in order, from the portal.
    auto all = otto.call("POST", "/api/run-all");
    REQUIRE(all);
    CHECK(all->status == 202);
    CHECK(json::parse(all->body)["order"] == json::array({"customers"}));
    wait_idle(otto, "customers");
    json ra;
    for (int i = 0; i < 100; ++i) {
        ra = sue.get_json("/api/run-all")["run_all"];
        if (!ra.is_null() && ra["active"] == false) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(ra["active"] == false);
    CHECK(ra["trigger"] == "run-all");
    CHECK(ra["succeeded"] == json::array({"customers"}));
    CHECK(sue.get_json("/api/processes")["run_all"]["order"] == json::array({"customers"}));
}
