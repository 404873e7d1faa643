// Customers end to end: the real host, the connector library and the sandbox.
#include "fixture.hpp"

#include <set>

using namespace shopify_test;

TEST_CASE("reads every customer in pages and resumes after a restart with only the changes", "[customers]") {
    Rig rig;
    auto first = rig.instance();
    auto [records, cursor] = read_all(*first, "customers", 100);
    CHECK(records.size() == rig.shop().count("customers"));
    std::set<std::string> keys;
    for (const auto& r : records) keys.insert(r["key"].get<std::string>());
    CHECK(keys.size() == records.size());
    CHECK(json::parse(cursor).contains("updated_at_min"));
    // Nothing changed: a new instance (a restart) from the stored cursor reads nothing.
    {
        auto again = rig.instance();
        auto [none, same] = read_all(*again, "customers", 100, cursor);
        CHECK(none.empty());
        cursor = same;
    }
    // One customer changes: exactly that one is read after the restart.
    const std::string changed = records[17]["key"];
    json up = write_one(*first, "customers",
                        {{"op", "update"}, {"idempotency_key", "k-up"}, {"target_key", changed}, {"data", {{"note", "changed"}}}});
    REQUIRE(up["status"] == PLEXUS_OK);
    auto restarted = rig.instance();
    auto [delta, next] = read_all(*restarted, "customers", 100, cursor);
    REQUIRE(delta.size() == 1);
    CHECK(delta[0]["key"] == changed);
    CHECK(delta[0]["data"]["note"] == "changed");
    auto [after, _] = read_all(*restarted, "customers", 100, next);
    CHECK(after.empty());  // the tie on the boundary second is not read twice
}

TEST_CASE("creates a customer, reads it back and finds it by idempotency key and e-mail", "[customers]") {
    Rig rig;
    auto c = rig.instance();
    json created = write_one(*c, "customers", {{"op", "create"}, {"idempotency_key", "proc-1:CUST-42"},
                                               {"data", {{"first_name", "Zoë"}, {"last_name", "Øvrebø"}, {"email", "zoe@ovrebo.example"}}}});
    REQUIRE(created["status"] == PLEXUS_OK);
    const std::string key = created["target_key"];
    json stored = rig.shop().object("customers", std::stoll(key));
    CHECK(stored["first_name"] == "Zoë");
    CHECK_THAT(stored["tags"].get<std::string>(), Catch::Contains("plexus:proc-1:CUST-42"));

    auto by_key = c->lookup({{"entity", "customers"}, {"key", key}});
    REQUIRE(by_key.ok());
    CHECK(json::parse(by_key.text)["record"]["data"]["last_name"] == "Øvrebø");

    auto by_idem = c->lookup({{"entity", "customers"}, {"idempotency_key", "proc-1:CUST-42"}, {"data", json::object()}});
    REQUIRE(by_idem.ok());
    CHECK(json::parse(by_idem.text)["record"]["key"] == key);

    // A customer without e-mail is found by its idempotency key too.
    json phone_only = write_one(*c, "customers", {{"op", "create"}, {"idempotency_key", "proc-1:CUST-43"},
                                                  {"data", {{"first_name", "Łukasz"}, {"phone", "+41791234567"}}}});
    REQUIRE(phone_only["status"] == PLEXUS_OK);
    auto found = c->lookup({{"entity", "customers"}, {"idempotency_key", "proc-1:CUST-43"}, {"data", {{"first_name", "Łukasz"}}}});
    REQUIRE(found.ok());
    CHECK(json::parse(found.text)["record"]["key"] == phone_only["target_key"]);

    auto missing = c->lookup({{"entity", "customers"}, {"idempotency_key", "nope"}, {"data", {{"email", "nobody@x.example"}}}});
    REQUIRE(missing.ok());
    CHECK(json::parse(missing.text)["found"] == false);

    // Read back through an incremental read from "now-ish": the new one is there, with the
    // very cursor the create reported (the host's echo check for two-way syncs needs that).
    auto [all, cursor] = read_all(*c, "customers", 250);
    bool seen = false;
    for (const auto& r : all) {
        if (r["key"] != key) continue;
        seen = true;
        REQUIRE(created.contains("cursor"));
        CHECK(r["cursor"] == created["cursor"]);
    }
    CHECK(seen);
}

TEST_CASE("a 422 names the field; a taken e-mail is a conflict that lookup resolves", "[customers]") {
    Rig rig;
    auto c = rig.instance();
    json bad = write_one(*c, "customers", {{"op", "create"}, {"idempotency_key", "k1"}, {"data", {{"note", "no name"}}}});
    CHECK(bad["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(bad["message"].get<std::string>(), Catch::Contains("must have a name, phone number or email"));

    json invalid = write_one(*c, "customers", {{"op", "create"}, {"idempotency_key", "k2"}, {"data", {{"email", "not-an-address"}}}});
    CHECK(invalid["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(invalid["message"].get<std::string>(), Catch::Contains("email: is invalid"));

    // An existing customer's e-mail (differently cased).
    auto [records, _] = read_all(*c, "customers", 250);
    std::string email;
    for (const auto& r : records)
        if (r["data"]["email"].is_string()) { email = r["data"]["email"]; break; }
    REQUIRE(!email.empty());
    std::string upper = email;
    upper[0] = static_cast<char>(std::toupper(upper[0]));
    json dup = write_one(*c, "customers", {{"op", "create"}, {"idempotency_key", "k3"}, {"data", {{"email", upper}, {"first_name", "X"}}}});
    CHECK(dup["status"] == PLEXUS_ERR_CONFLICT);
    CHECK_THAT(dup["message"].get<std::string>(), Catch::Contains("email: has already been taken"));
    auto found = c->lookup({{"entity", "customers"}, {"idempotency_key", "k3"}, {"data", {{"email", email}}}});
    REQUIRE(found.ok());
    CHECK(json::parse(found.text)["found"] == true);
    CHECK(json::parse(found.text)["record"]["data"]["email"] == email);

    // Update to a taken e-mail: validation, not conflict.
    json upd = write_one(*c, "customers", {{"op", "update"}, {"idempotency_key", "k4"}, {"target_key", records[1]["key"]},
                                           {"data", {{"email", email}}}});
    if (records[1]["data"]["email"] != email) {
        CHECK(upd["status"] == PLEXUS_ERR_VALIDATION);
        CHECK_THAT(upd["message"].get<std::string>(), Catch::Contains("email: has already been taken"));
    }
}

TEST_CASE("a wrong token is one clear auth error and one request", "[customers][auth]") {
    Rig rig;
    const std::string token = "shpat_wrong_0123456789";
    auto c = rig.instance(rig.settings(token));
    const uint64_t before = rig.shop().request_count();
    auto r = c->read_page(read_request("customers", nullptr));
    CHECK(r.status == PLEXUS_ERR_AUTH);
    CHECK_THAT(r.text, Catch::Contains("access token"));
    CHECK_THAT(r.text, Catch::Contains("HTTP 401"));
    CHECK(r.text.find(token) == std::string::npos);
    CHECK(rig.shop().request_count() - before == 1);
    auto check = c->check();
    CHECK(check.status == PLEXUS_ERR_AUTH);
    auto good = rig.instance();
    CHECK(good->check().ok());
}
