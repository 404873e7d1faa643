// The connection "Look up" and "test before save" (issue 13; docs/api.md, "Connections")
// through a real `plexus serve`: support staff check a voucher's balance with e-guma's
// voucher_balance lookup through a connection of the file and one made in the portal; clear
// answers for an unknown entity, an unknown voucher, a malformed code and a refused API key;
// the API key in no answer; every lookup audited. The form's "Test" works on unsaved values,
// keeps a stored secret the form left empty, and never echoes the secret typed.
#include "support.hpp"

#include "plugins/eguma/sandbox/eguma_sandbox.hpp"

#include <catch2/catch.hpp>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

TEST_CASE("portal: look a voucher up through a connection, and test a form before saving",
          "[portal][lookup]") {
    sb::SandboxServer eguma{std::make_unique<sb::EgumaSandbox>(7)};
    const std::string key = sb::kEgumaKeyOutlet1;
    const std::string wrong_key = "eguma-WRONG-key-5f1c";
    json config = {
        {"connections",
         {{"eg", {{"connector", "eguma"}, {"settings", {{"api_key", key}, {"base_url", eguma.base_url()}}}}}}},
        {"processes", json::array()},
        {"serve", {{"run_at_start", "none"}}}};
    PortalHub hub;
    REQUIRE(hub.prepare(config, {{"ada", "admin"}, {"sam", "support"}}));
    REQUIRE(hub.start());

    // Support staff: the connections list says what can be looked up.
    REQUIRE(hub.login("sam"));
    json list = hub.call("GET", "/api/connections").second;
    json eg;
    for (const auto& c : list["items"])
        if (c["id"] == "eg") eg = c;
    REQUIRE(eg.is_object());
    bool balance_listed = false;
    for (const auto& e : eg["lookup_entities"])
        balance_listed = balance_listed || (e["name"] == "voucher_balance" && e["key"] == "code");
    CHECK(balance_listed);

    // A voucher's balance, typed with its dashes.
    auto [status, found] = hub.call("POST", "/api/connections/eg/lookup",
                                    {{"entity", "voucher_balance"}, {"key", " L4FU-5LQT-KJR3 "}});
    INFO(found.dump());
    REQUIRE(status == 200);
    CHECK(found["record"]["key"] == sb::kEgumaVoucher400of500);
    CHECK(found["record"]["data"]["balance_in_cents"] == 40000);
    CHECK(found["record"]["data"]["is_redeemable"] == true);

    // Clear refusals.
    auto [unknown_status, unknown] = hub.call("POST", "/api/connections/eg/lookup",
                                              {{"entity", "sales_events"}, {"key", "1"}});
    CHECK(unknown_status == 404);
    CHECK(unknown["error"]["not_found"] == "entity");
    CHECK(unknown["error"]["message"].get<std::string>().find("voucher_balance") != std::string::npos);
    auto [none_status, none] = hub.call("POST", "/api/connections/eg/lookup",
                                        {{"entity", "voucher_balance"}, {"key", "AAAABBBBCCCC"}});
    INFO(none.dump());
    CHECK(none_status == 404);
    CHECK(none["error"]["not_found"] == "record");
    auto [bad_status, bad] = hub.call("POST", "/api/connections/eg/lookup",
                                      {{"entity", "voucher_balance"}, {"key", "no such code!"}});
    INFO(bad.dump());
    CHECK(bad_status == 422);
    CHECK(bad["error"]["error_class"] == "validation");
    CHECK(hub.call("POST", "/api/connections/eg/lookup", {{"entity", "voucher_balance"}}).first == 400);
    CHECK(hub.call("POST", "/api/connections/nope/lookup", {{"entity", "voucher_balance"}, {"key", "x"}}).first == 404);

    // Support may not test connections.
    CHECK(hub.call("POST", "/api/connections/test", {{"connector", "eguma"}}).first == 403);

    // Test before save: the form's values, nothing stored, the typed secret never echoed.
    REQUIRE(hub.login("ada"));
    const json form_wrong = {{"connector", "eguma"},
                             {"settings", {{"api_key", wrong_key}, {"base_url", eguma.base_url()}}}};
    auto [t1_status, t1] = hub.call("POST", "/api/connections/test", form_wrong);
    INFO(t1.dump());
    CHECK(t1_status == 200);
    CHECK(t1["ok"] == false);
    CHECK(t1["error_class"] == "auth");
    auto [t2_status, t2] = hub.call("POST", "/api/connections/test",
                                    {{"connector", "eguma"},
                                     {"settings", {{"api_key", key}, {"base_url", eguma.base_url()}}}});
    CHECK(t2["ok"] == true);
    auto [t3_status, t3] = hub.call("POST", "/api/connections/test",
                                    {{"connector", "eguma"}, {"settings", {{"base_url", eguma.base_url()}}}});
    CHECK(t3["ok"] == false);
    CHECK(t3["error_class"] == "config");
    CHECK(t3["message"].get<std::string>().find("api_key") != std::string::npos);
    CHECK(hub.call("GET", "/api/connections").second["items"].size() == 1);  // nothing stored

    // A connection made in the portal, with the wrong key first: the lookup says the
    // connector's refusal (HTTP 401) as a connector error.
    auto [created_status, created] = hub.call(
        "POST", "/api/connections",
        {{"id", "eg2"}, {"connector", "eguma"},
         {"settings", {{"api_key", wrong_key}, {"base_url", eguma.base_url()}}}});
    INFO(created.dump());
    REQUIRE(created_status == 201);
    auto [refused_status, refused] = hub.call("POST", "/api/connections/eg2/lookup",
                                              {{"entity", "voucher_balance"}, {"key", sb::kEgumaVoucher50}});
    INFO(refused.dump());
    CHECK(refused_status == 502);
    CHECK(refused["error"]["code"] == "connector_error");
    CHECK(refused["error"]["error_class"] == "auth");
    CHECK(refused["error"]["message"].get<std::string>().find("401") != std::string::npos);
    // Editing it: the form's Test with the right key typed passes; with the secret left
    // empty it tests the stored (wrong) one.
    CHECK(hub.call("POST", "/api/connections/test",
                   {{"id", "eg2"}, {"connector", "eguma"},
                    {"settings", {{"api_key", ""}, {"base_url", eguma.base_url()}}}})
              .second["error_class"] == "auth");
    CHECK(hub.call("PUT", "/api/connections/eg2",
                   {{"settings", {{"api_key", key}, {"base_url", eguma.base_url()}}}})
              .first == 200);
    CHECK(hub.call("POST", "/api/connections/test",
                   {{"id", "eg2"}, {"connector", "eguma"},
                    {"settings", {{"api_key", ""}, {"base_url", eguma.base_url()}}}})
              .second["ok"] == true);
    REQUIRE(hub.login("sam"));
    auto [stored_status, stored] = hub.call("POST", "/api/connections/eg2/lookup",
                                            {{"entity", "voucher_balance"}, {"key", sb::kEgumaVoucher50}});
    INFO(stored.dump());
    CHECK(stored_status == 200);
    CHECK(stored["record"]["data"]["balance_in_cents"] == 5000);

    // Audited; no key in any answer.
    REQUIRE(hub.login("ada"));
    json audit = hub.call("GET", "/api/audit?limit=100").second;
    int lookups = 0;
    for (const auto& a : audit["items"])
        if (a["action"] == "connection.lookup") ++lookups;
    CHECK(lookups >= 5);
    CHECK(hub.transcript.find(key) == std::string::npos);
    CHECK(hub.transcript.find(wrong_key) == std::string::npos);
}
