// The command line knows the connections created in the portal (issue 13): a process of the
// file that reads through a connection made in the portal is valid for `plexus check-config`
// (given the hub's data directory), and `plexus cursor` and `plexus reconcile` run it, as
// `plexus serve` and `plexus run` do.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace plexus::test;
using namespace plexus::test::harness;

TEST_CASE("cli: check-config, cursor and reconcile see connections created in the portal",
          "[cli][connections]") {
    TempDir files;
    write_jsonl(files.path() / "in" / "customers.jsonl",
                {{{"id", "c1"}, {"email", "a@example.com"}, {"updated_at", "2024-05-01T10:00:00Z"}}});
    fs::create_directories(files.path() / "out");
    json config = {
        {"connections",
         {{"dst", files_connection(files.str("out"), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
        {"processes", json::array()},
        {"serve", {{"run_at_start", "none"}}}};
    PortalHub hub;
    REQUIRE(hub.prepare(config, {{"ada", "admin"}, {"sam", "support"}}));
    REQUIRE(hub.start());
    REQUIRE(hub.login("ada"));
    json settings = files_connection(files.str("in"), {{"customers", jsonl_entity("customers.jsonl")}})["settings"];
    auto [status, created] = hub.call("POST", "/api/connections",
                                      {{"id", "src"}, {"connector", "files"}, {"settings", settings}});
    INFO(created.dump());
    REQUIRE(status == 201);
    hub.stop();

    // Now the file has a process reading through the portal's "src".
    config["processes"].push_back({{"id", "customers"},
                                   {"source", {{"connection", "src"}, {"entity", "customers"}}},
                                   {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                                   {"mapping", {{"id", "id"}, {"email", "email"}}}});
    hub.config = config;
    hub.save();
    const std::string file = hub.dir.str("plexus.json"), data = hub.data();

    auto check = run_plexus({"check-config", file, "--data", data, "--plugin-dir", PLEXUS_PLUGIN_DIR});
    INFO(check.out);
    CHECK(check.exit_code == 0);
    CHECK(check.out.find("2 connection(s), 1 of them created in the portal, 1 process(es)") != std::string::npos);
    // Without the data directory the file alone is checked, and the answer says what to give.
    auto alone = run_plexus({"check-config", file, "--data", hub.dir.str("elsewhere"), "--plugin-dir",
                             PLEXUS_PLUGIN_DIR});
    INFO(alone.out);
    CHECK(alone.exit_code != 0);
    CHECK(alone.out.find("\"src\"") != std::string::npos);

    const std::vector<std::string> common = {"--config", file, "--data", data, "--plugin-dir", PLEXUS_PLUGIN_DIR};
    auto with = [&](std::vector<std::string> args) {
        args.insert(args.end(), common.begin(), common.end());
        return run_plexus(args);
    };
    auto cursor = with({"cursor", "customers"});
    INFO(cursor.out);
    CHECK(cursor.exit_code == 0);
    CHECK(cursor.out.find("customers: cursor (start)") != std::string::npos);
    auto run = with({"run", "customers"});
    INFO(run.out);
    CHECK(run.exit_code == 0);
    auto reconcile = with({"reconcile", "customers"});
    INFO(reconcile.out);
    // It ran against the portal's connection (what it found is the files connector's matter).
    CHECK(reconcile.out.find("customers: reconcile ") != std::string::npos);
    CHECK(reconcile.out.find("unknown connection") == std::string::npos);
    auto after = with({"cursor", "customers"});
    CHECK(after.out.find("2024-05-01T10:00:00Z") != std::string::npos);
}
