// Progress that explains itself (issue 13): while a run waits on its connection, the live
// run the portal polls says why — here a Shopify sandbox answering 429 with Retry-After 2.0,
// so the run waits two seconds before each retry — in GET /api/processes/{id} and in
// GET /api/runs/{id}; the wait is gone once the sandbox serves again, and the debug log
// names every retry with its reason.
#include "support.hpp"

#include "plugins/shopify/sandbox/shopify_sandbox.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

TEST_CASE("portal: a waiting run says why in the process and run views", "[portal][progress]") {
    sb::ShopifySandbox::Options o;
    o.rate_limit = false;
    o.customers = 3;
    o.products = 1;
    o.orders = 1;
    sb::SandboxServer shop{std::make_unique<sb::ShopifySandbox>(o)};
    TempDir out;
    json config = {
        {"connections",
         {{"shop",
           {{"connector", "shopify"},
            {"settings",
             {{"store_domain", "plexus-sandbox.myshopify.com"},
              {"access_token", "shpat_sandbox"},
              {"base_url", shop.base_url()}}}}},
          {"dst", files_connection(out.str(), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
        {"processes",
         {{{"id", "customers"},
           {"source", {{"connection", "shop"}, {"entity", "customers"}}},
           {"target", {{"connection", "dst"}, {"entity", "customers"}}},
           {"mapping", {{"id", "id"}, {"email", "email"}}}}}},
        {"serve", {{"run_at_start", "none"}}}};
    PortalHub hub;
    REQUIRE(hub.prepare(config, {{"ada", "admin"}, {"sam", "support"}}));
    REQUIRE(hub.start({"--log-level", "debug"}));
    REQUIRE(hub.login("sam"));  // support may watch; an operator starts the run below

    // Every request answered 429 (Retry-After: 2.0) until the faults are lifted.
    sb::Faults f;
    f.burst_429_every = 1;
    f.burst_429_length = 1;
    shop.sandbox().faults().set(f);

    REQUIRE(hub.login("ada"));
    auto [run_status, run] = hub.call("POST", "/api/processes/customers/run");
    INFO(run.dump());
    REQUIRE(run_status == 202);

    json seen;  // the first live view that carried a wait
    for (int i = 0; i < 200 && seen.is_null(); ++i) {
        json v = hub.call("GET", "/api/processes/customers").second;
        if (v["running"].is_object() && v["running"]["waiting"].is_object()) seen = v["running"];
        else std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    INFO(seen.dump());
    REQUIRE(seen.is_object());
    const json& w = seen["waiting"];
    CHECK(w["kind"] == "retry");
    CHECK(w["connection"] == "shop");
    CHECK(w["status"] == 429);
    CHECK(w["expected_ms"] == 2000);
    const std::string reason = w["reason"];
    CHECK(reason.find("retrying after HTTP 429 from Shopify in 2 s (attempt ") == 0);
    CHECK(reason.find(" of 5)") != std::string::npos);
    CHECK(seen.contains("records_per_second"));
    CHECK(seen["pages"] == 0);

    // The run page shows the same while the run goes.
    const int64_t run_id = seen["run_id"];
    REQUIRE(run_id > 0);
    json rv = hub.call("GET", "/api/runs/" + std::to_string(run_id)).second;
    INFO(rv.dump());
    if (rv["status"] == "running") {
        REQUIRE(rv["live"].is_object());
        CHECK(rv["live"]["run_id"] == run_id);
    }

    // Lift the faults: the retry goes through, the run ends, nothing waits any more.
    shop.sandbox().faults().set(sb::Faults{});
    json last;
    // Bounded by time, not by polls: on a loaded machine each poll is slower.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        json v = hub.call("GET", "/api/processes/customers").second;
        if (v["running"].is_null() && v["last_run"].is_object() && v["last_run"]["id"] == run_id) {
            last = v["last_run"];
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    INFO(last.dump());
    REQUIRE(last.is_object());
    CHECK(last["status"] == "succeeded");
    CHECK(last["counts"]["created"] == 3);
    json done = hub.call("GET", "/api/runs/" + std::to_string(run_id)).second;
    CHECK(done["live"].is_null());

    // Each retry is in the debug log with its reason.
    const std::string text = read_file(hub.proc.log);
    CHECK(text.find("HTTP 429 with Retry-After \"2.0\": retrying in 2000 ms (attempt 2 of 5)") !=
          std::string::npos);
    CHECK(hub.transcript.find("shpat_sandbox") == std::string::npos);
}
