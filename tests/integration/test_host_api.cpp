// The host-API table a connector receives: HTTP through the host's client (with retries),
// the clock, cancellation and the rate governor, exercised through the C function pointers
// exactly as a connector calls them.
#include "support.hpp"

#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"

#include <plexus/connector.hpp>

#include <httplib.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace plexus;

TEST_CASE("a connector's HTTP call goes through the host's client, retries included", "[host_api]") {
    httplib::Server server;
    std::atomic<int> calls{0};
    server.Get("/orders.json", [&](const httplib::Request& req, httplib::Response& res) {
        if (++calls == 1) {
            res.status = 503;  // the host retries this; the connector never sees it
            return;
        }
        res.set_header("X-Shopify-Shop-Api-Call-Limit", "39/40");
        res.set_content("{\"orders\":[],\"token\":\"" + req.get_header_value("X-Token") + "\"}",
                        "application/json");
    });
    int port = server.bind_to_any_port("127.0.0.1");
    std::thread t([&] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

    ManualClock clock;
    RetryPolicy policy;
    policy.base_backoff_ms = 1;
    HttpClient http(clock, policy);
    RateGovernor governor(2, 40, clock);
    std::atomic<bool> cancel{false};
    HostServices services;
    services.http = &http;
    services.governor = &governor;
    services.clock = &clock;
    services.cancel = &cancel;
    plexus_host_api api = make_host_api(&services);
    sdk::Host host(&api);

    sdk::HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/orders.json?status=any";
    req.headers = {{"X-Token", "t0k3n-value"}};
    sdk::HttpResponse res = host.http(req);
    CHECK(res.status == 200);
    CHECK(calls == 2);
    CHECK(res.header("x-shopify-shop-api-call-limit") == "39/40");
    CHECK(sdk::json::parse(res.body)["token"] == "t0k3n-value");

    // The connector reports the API's budget; the governor takes it into account.
    host.rate_observe(39, 40);
    CHECK(governor.available_tokens() <= 1.0);

    CHECK(host.now_ms() == clock.now_ms());
    CHECK_FALSE(host.cancelled());
    cancel = true;
    CHECK(host.cancelled());
    CHECK_THROWS_AS(host.http(req), sdk::Error);  // cancelled: no request made

    // A malformed URL is a configuration problem, not a transient one.
    cancel = false;
    sdk::HttpRequest bad;
    bad.url = "not a url";
    try {
        host.http(bad);
        FAIL("expected an error");
    } catch (const sdk::Error& e) {
        CHECK(e.status() == PLEXUS_ERR_CONFIG);
    }
    server.stop();
    t.join();
}
