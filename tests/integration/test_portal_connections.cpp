// Connections created in the portal (issue 13; docs/api.md, "Connections") through the REST
// API of a real `plexus serve`: the form's schema, validation errors by field, creating a
// Shopify connection with its access token, testing it against the Shopify sandbox, editing
// it without sending the token again, a process of the file using it (an edit applies at the
// process's next run), deletion refused while a process uses it, the file's connections
// read-only — and the token in no response, log line, audit entry or database byte. Also the
// CLI around it: a wrong key, a clash with the file, and `plexus secrets rotate`.
#include "support.hpp"

#include "plugins/shopify/sandbox/shopify_sandbox.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <sys/stat.h>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

namespace {

const char* k_token = "shpat_PORTAL_conn_7f3e19";
const char* k_wrong_token = "shpat_WRONG_conn_55ab02";

sb::ShopifySandbox::Options shop_options() {
    sb::ShopifySandbox::Options o;
    o.tokens = {k_token};
    o.rate_limit = false;
    o.customers = 7;
    o.products = 1;
    o.orders = 1;
    return o;
}

struct Hub : HubDir {
    sb::SandboxServer shop{std::make_unique<sb::ShopifySandbox>(shop_options())};
    ServeProcess proc;
    PortalSession session;
    std::string transcript;  // every response body, to look for the token in

    Hub() {
        fs::create_directories(dir.path() / "dst");
        write_config(false);
        auto r = run_plexus({"users", "add", "ada", "--role", "admin", "--data", dir.str("var")},
                            "PLEXUS_PASSWORD=ada-password-123");
        REQUIRE(r.exit_code == 0);
        r = run_plexus({"users", "add", "otto", "--role", "operator", "--data", dir.str("var")},
                       "PLEXUS_PASSWORD=otto-password-123");
        REQUIRE(r.exit_code == 0);
    }

    // with_process: a process of the file reads customers through the portal's "shop".
    void write_config(bool with_process, bool clash = false) {
        config = {
            {"connections",
             {{"dst", files_connection(dir.str("dst"),
                                       {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
            {"processes", json::array()},
            // The test runs the process itself and counts what that run created.
            {"serve", {{"run_at_start", "none"}}}};
        if (clash) config["connections"]["shop"] = config["connections"]["dst"];
        if (with_process)
            config["processes"].push_back(
                {{"id", "customers"},
                 {"source", {{"connection", "shop"}, {"entity", "customers"}}},
                 {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                 {"mapping", {{"id", "id"}, {"email", "email"}}}});
        save();
    }
    void start() {
        const bool up = proc.start(*this);
        INFO(read_file(proc.log));
        REQUIRE(up);
    }
    void stop() { proc.stop(); }
    void login(const std::string& name) {
        session = portal_login(proc.port, name, name + "-password-123");
        REQUIRE(!session.cookie.empty());
    }
    // {status, body as JSON (null when empty)}
    std::pair<int, json> call(const std::string& method, const std::string& path,
                              const json& body = json::object()) {
        httplib::Result r = session.call(method, path, method == "DELETE" ? std::string() : body.dump());
        REQUIRE(r);
        transcript += r->body + "\n";
        return {r->status, r->body.empty() ? json() : json::parse(r->body)};
    }
    json run_process(const std::string& id) {
        auto [status, body] = call("POST", "/api/processes/" + id + "/run");
        INFO(body.dump());
        REQUIRE(status == 202);
        json v;
        for (int i = 0; i < 400; ++i) {
            v = call("GET", "/api/processes/" + id).second;
            if (v["running"].is_null() && !v["last_run"].is_null() &&
                v["last_run"]["id"] != last_run_id)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        last_run_id = v["last_run"]["id"];
        return v["last_run"];
    }
    json last_run_id;

    std::string database_bytes() const {
        std::string all = read_file(dir.path() / "var" / "plexus.db");
        if (fs::exists(dir.path() / "var" / "plexus.db-wal"))
            all += read_file(dir.path() / "var" / "plexus.db-wal");
        return all;
    }
    std::string logs() const {
        std::string all;
        for (int i = 1; i <= proc.starts; ++i) all += read_file(dir.str("serve-" + std::to_string(i) + ".log"));
        return all;
    }
};

std::set<std::string> error_fields(const json& body) {
    std::set<std::string> out;
    for (const auto& e : body.value("errors", json::array())) out.insert(e["field"].get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("portal: connections created in the portal work end to end and never show their token",
          "[portal][connections]") {
    Hub hub;
    hub.start();
    // The key is made on first start, beside the database, readable by its owner only.
    struct stat st {};
    REQUIRE(::stat(hub.dir.str("var/secret.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    hub.login("ada");
    auto [schema_status, schema] = hub.call("GET", "/api/plugins/shopify/settings-schema");
    REQUIRE(schema_status == 200);
    bool token_is_secret = false;
    for (const auto& s : schema["settings"])
        if (s["name"] == "access_token") token_is_secret = s["secret"] == true && s["required"] == true;
    CHECK(token_is_secret);
    CHECK(hub.call("GET", "/api/plugins/nope/settings-schema").first == 404);

    // Validation errors by field; nothing stored.
    auto [bad_status, bad] = hub.call(
        "POST", "/api/connections",
        {{"id", "shop"}, {"connector", "shopify"},
         {"settings", {{"store_domain", "x.myshopify.com"}, {"location_id", "abc"}, {"nope", 1}}}});
    INFO(bad.dump());
    CHECK(bad_status == 400);
    CHECK(error_fields(bad) == std::set<std::string>{"settings.access_token", "settings.nope"});
    auto [bad2_status, bad2] = hub.call(
        "POST", "/api/connections",
        {{"id", "shop"}, {"connector", "shopify"},
         {"settings", {{"store_domain", "x.myshopify.com"}, {"access_token", k_token}, {"location_id", "abc"}}}});
    CHECK(bad2_status == 400);
    CHECK(error_fields(bad2) == std::set<std::string>{"settings.location_id"});
    CHECK(error_fields(hub.call("POST", "/api/connections", {{"id", "a b"}, {"connector", "nope"}}).second) ==
          std::set<std::string>{"id", "connector"});
    // The file's id is taken: a clear conflict naming the file.
    auto [clash_status, clash] = hub.call(
        "POST", "/api/connections",
        {{"id", "dst"}, {"connector", "shopify"},
         {"settings", {{"store_domain", "x.myshopify.com"}, {"access_token", k_token}}}});
    CHECK(clash_status == 409);
    CHECK(clash["error"]["message"].get<std::string>().find("plexus.json") != std::string::npos);
    CHECK(hub.call("GET", "/api/connections/shop").first == 404);

    // An operator may not create one.
    hub.login("otto");
    const json create = {{"id", "shop"},
                         {"connector", "shopify"},
                         {"display_name", "Our shop"},
                         {"settings",
                          {{"store_domain", "plexus-sandbox.myshopify.com"},
                           {"access_token", k_token},
                           {"base_url", hub.shop.base_url()}}}};
    CHECK(hub.call("POST", "/api/connections", create).first == 403);
    hub.login("ada");
    auto [created_status, created] = hub.call("POST", "/api/connections", create);
    INFO(created.dump());
    REQUIRE(created_status == 201);
    CHECK(created["origin"] == "portal");
    CHECK(created["settings"]["access_token"] == json{{"set", true}});
    CHECK(created["settings"]["webhook_secret"] == json{{"set", false}});
    CHECK(created["settings"]["base_url"] == hub.shop.base_url());
    CHECK(hub.call("POST", "/api/connections", create).first == 409);

    auto [test_status, test] = hub.call("POST", "/api/connections/shop/test");
    INFO(test.dump());
    CHECK(test_status == 200);
    CHECK(test["ok"] == true);

    // Edit without the token: the stored one is kept (the test still passes).
    auto [edit_status, edited] =
        hub.call("PUT", "/api/connections/shop",
                 {{"settings", {{"store_domain", "plexus-sandbox.myshopify.com"},
                                {"access_token", ""},
                                {"base_url", hub.shop.base_url()},
                                {"page_size", 3}}}});
    INFO(edited.dump());
    REQUIRE(edit_status == 200);
    CHECK(edited["settings"]["page_size"] == 3);
    CHECK(edited["settings"]["access_token"] == json{{"set", true}});
    CHECK(hub.call("POST", "/api/connections/shop/test").second["ok"] == true);
    CHECK(hub.call("PUT", "/api/connections/shop", {{"connector", "files"}}).first == 400);

    // The file's connections are listed read-only, with their file; not editable here.
    json list = hub.call("GET", "/api/connections").second;
    std::map<std::string, json> by_id;
    for (const auto& c : list["items"]) by_id[c["id"]] = c;
    REQUIRE(by_id.count("dst"));
    REQUIRE(by_id.count("shop"));
    CHECK(by_id["dst"]["read_only"] == true);
    CHECK(by_id["dst"]["origin"] == "file");
    CHECK(by_id["dst"]["file"].get<std::string>().find("plexus.json") != std::string::npos);
    CHECK(hub.call("PUT", "/api/connections/dst", {{"settings", json::object()}}).first == 409);
    CHECK(hub.call("DELETE", "/api/connections/dst").first == 409);
    CHECK(hub.call("POST", "/api/connections/dst/test").first == 200);

    // A process of the file uses the portal's connection (after a restart: processes live in
    // the file).
    hub.stop();
    CHECK(hub.database_bytes().find(k_token) == std::string::npos);
    hub.write_config(true);
    hub.start();
    hub.login("ada");
    json run = hub.run_process("customers");
    INFO(run.dump());
    CHECK(run["status"] == "succeeded");
    CHECK(run["counts"]["created"] == 7);

    // An edit applies at the process's next run: a wrong token fails it, the right one heals it.
    REQUIRE(hub.call("PUT", "/api/connections/shop",
                     {{"settings", {{"store_domain", "plexus-sandbox.myshopify.com"},
                                    {"access_token", k_wrong_token},
                                    {"base_url", hub.shop.base_url()}}}})
                .first == 200);
    run = hub.run_process("customers");
    CHECK(run["status"] == "failed");
    REQUIRE(hub.call("PUT", "/api/connections/shop",
                     {{"settings", {{"store_domain", "plexus-sandbox.myshopify.com"},
                                    {"access_token", k_token},
                                    {"base_url", hub.shop.base_url()}}}})
                .first == 200);
    run = hub.run_process("customers");
    CHECK(run["status"] == "succeeded");

    // Deleting is refused while a process uses it.
    auto [del_status, del] = hub.call("DELETE", "/api/connections/shop");
    CHECK(del_status == 409);
    CHECK(del["error"]["message"].get<std::string>().find("customers") != std::string::npos);

    // Audited, without the values.
    json audit = hub.call("GET", "/api/audit?limit=500").second;
    std::set<std::string> actions;
    for (const auto& a : audit["items"])
        if (a["subject"] == "shop") actions.insert(a["action"].get<std::string>());
    CHECK(actions.count("connection.create"));
    CHECK(actions.count("connection.update"));
    CHECK(actions.count("connection.test"));

    hub.stop();
    // A store connection with a file connection's id: refused at load with a clear error.
    hub.write_config(true, true);
    auto clash_run = run_plexus([&] {
        auto a = hub.common();
        a.insert(a.begin(), {"run", "customers"});
        return a;
    }());
    CHECK(clash_run.exit_code != 0);
    CHECK(clash_run.out.find("created in the portal") != std::string::npos);
    hub.write_config(true);

    // The wrong key: a clear error, no value.
    auto wrong_key = run_plexus(
        [&] {
            auto a = hub.common();
            a.insert(a.begin(), {"run", "customers"});
            return a;
        }(),
        "PLEXUS_SECRET_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    CHECK(wrong_key.exit_code != 0);
    CHECK(wrong_key.out.find("cannot decrypt") != std::string::npos);
    CHECK(wrong_key.out.find(k_token) == std::string::npos);

    // Rotation: every secret re-sealed with the new key, the key file replaced; runs go on.
    auto rotate = run_plexus({"secrets", "rotate", "--new-key-file", hub.dir.str("new.key"),
                              "--data", hub.dir.str("var")});
    INFO(rotate.out);
    CHECK(rotate.exit_code == 0);
    CHECK(rotate.out.find("re-sealed 1 secret") != std::string::npos);
    CHECK(read_file(hub.dir.path() / "var" / "secret.key") == read_file(hub.dir.path() / "new.key"));
    auto after = run_plexus([&] {
        auto a = hub.common();
        a.insert(a.begin(), {"run", "customers"});
        return a;
    }());
    INFO(after.out);
    CHECK(after.exit_code == 0);

    // Without the process the connection can go.
    hub.write_config(false);
    hub.start();
    hub.login("ada");
    CHECK(hub.call("DELETE", "/api/connections/shop").first == 204);
    CHECK(hub.call("GET", "/api/connections/shop").first == 404);
    json audit2 = hub.call("GET", "/api/audit?limit=500").second;
    bool deleted = false;
    for (const auto& a : audit2["items"]) deleted = deleted || (a["action"] == "connection.delete" && a["subject"] == "shop");
    CHECK(deleted);
    hub.stop();

    // The token was never in a response, a log line, an audit entry or the database file.
    CHECK(hub.transcript.find(k_token) == std::string::npos);
    CHECK(hub.transcript.find(k_wrong_token) == std::string::npos);
    CHECK(hub.logs().find(k_token) == std::string::npos);
    CHECK(hub.logs().find(k_wrong_token) == std::string::npos);
    CHECK(hub.database_bytes().find(k_token) == std::string::npos);
    CHECK(hub.database_bytes().find(k_wrong_token) == std::string::npos);
}
