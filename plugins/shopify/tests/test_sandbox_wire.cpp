// The sandbox's wire behaviours that issue 9 found missing or wrong, each checked with a plain
// HTTP client (cpp-httplib, as an independent client would call it), not through the
// connector: counts honour the listing's filters, a burst is answered at once with 200s and
// 429s, every answer has X-Request-Id and X-Shopify-API-Version, unsupported and missing
// versions fall forward to the oldest supported one, and the seed sizes can be raised.
#include "fixture.hpp"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

using namespace shopify_test;
namespace sb = plexus::sandbox;

namespace {

httplib::Headers auth() { return {{"X-Shopify-Access-Token", "shpat_sandbox"}}; }

// The next page's page_info as Shopify's JS client finds it (shopify-api-js
// lib/clients/admin/rest/client.ts: split on ", ", LINK_HEADER_REGEXP, searchParams) — not
// the connector's parser, so that these tests judge the sandbox on their own.
std::optional<std::string> next_page_info(const std::string& link) {
    static const std::regex entry(R"re(<([^<]+)>; rel="([^"]+)")re");
    size_t p = 0;
    while (p <= link.size()) {
        size_t sep = link.find(", ", p);
        if (sep == std::string::npos) sep = link.size();
        const std::string part = link.substr(p, sep - p);
        p = sep + 2;
        std::smatch m;
        if (!std::regex_search(part, m, entry) || m[2] != "next") continue;
        std::smatch q;
        const std::string url = m[1];
        if (std::regex_search(url, q, std::regex(R"([?&]page_info=([^&]*))"))) return q[1].str();
    }
    return std::nullopt;
}

// Every element of a listing, following rel="next" (page_info beside limit only).
std::vector<json> list_all(httplib::Client& cli, const std::string& resource, const std::string& query) {
    std::vector<json> out;
    std::string path = "/admin/api/2024-04/" + resource + ".json?limit=250" + (query.empty() ? "" : "&" + query);
    for (int pages = 0; pages < 100; ++pages) {
        auto res = cli.Get(path.c_str(), auth());
        REQUIRE(res);
        INFO(path << " → " << res->body.substr(0, 300));
        REQUIRE(res->status == 200);
        const json page = json::parse(res->body);  // kept alive: the loop reads a member of it
        for (const auto& o : page[resource]) out.push_back(o);
        const auto next = next_page_info(res->get_header_value("Link"));
        if (!next) return out;
        path = "/admin/api/2024-04/" + resource + ".json?limit=250&page_info=" + *next;
    }
    FAIL("more than 100 pages");
    return out;
}

int64_t count_of(httplib::Client& cli, const std::string& resource, const std::string& query) {
    const std::string path = "/admin/api/2024-04/" + resource + "/count.json" + (query.empty() ? "" : "?" + query);
    auto res = cli.Get(path.c_str(), auth());
    REQUIRE(res);
    INFO(path << " → " << res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body)["count"].get<int64_t>();
}

sb::ShopifySandbox::Options sized(int customers, int products, int orders, bool rate_limit = false) {
    sb::ShopifySandbox::Options o;
    o.seed = 5;
    o.rate_limit = rate_limit;
    o.customers = customers;
    o.products = products;
    o.orders = orders;
    return o;
}

}  // namespace

TEST_CASE("sandbox: count.json counts what the listing with the same filters lists", "[sandbox][count]") {
    Rig rig(sized(400, 300, 400));
    httplib::Client cli("127.0.0.1", rig.server.port());
    // A time in the middle of the seeded updated_at range, and an id in the middle.
    const auto all_customers = list_all(cli, "customers", "");
    REQUIRE(all_customers.size() == 400);
    const std::string mid_time = all_customers[200]["updated_at"].get<std::string>();
    const std::string mid_id = all_customers[150]["id"].dump();
    const std::string enc_time = httplib::detail::encode_query_param(mid_time);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"customers", ""},
        {"customers", "updated_at_min=" + enc_time},
        {"customers", "updated_at_max=" + enc_time},
        {"customers", "created_at_min=" + enc_time},
        {"customers", "since_id=" + mid_id},
        {"customers", "ids=" + all_customers[1]["id"].dump() + "%2C" + all_customers[7]["id"].dump()},
        {"orders", ""},  // status defaults to open, in both
        {"orders", "status=any"},
        {"orders", "status=closed"},
        {"orders", "status=cancelled"},
        {"orders", "status=any&financial_status=paid"},
        {"orders", "status=any&updated_at_min=" + enc_time},
        {"products", "status=draft"},
        {"products", "status=active&updated_at_min=" + enc_time},
        {"products", "product_type=Coffee"},
    };
    std::set<int64_t> distinct;
    for (const auto& [resource, query] : cases) {
        INFO(resource << "?" << query);
        const auto listed = list_all(cli, resource, query);
        CHECK(count_of(cli, resource, query) == static_cast<int64_t>(listed.size()));
        distinct.insert(static_cast<int64_t>(listed.size()));
    }
    // The filters do filter (the old count answered the table size whatever the query).
    CHECK(distinct.size() >= 8);
    CHECK(count_of(cli, "orders", "status=any") == 400);
    CHECK(count_of(cli, "orders", "") < 400);
    CHECK(count_of(cli, "customers", "ids=" + all_customers[1]["id"].dump() + "%2C" + all_customers[7]["id"].dump()) == 2);
    // An unreadable date is refused, not counted as everything.
    auto bad = cli.Get("/admin/api/2024-04/customers/count.json?updated_at_min=yesterday", auth());
    REQUIRE(bad);
    CHECK(bad->status == 400);
}

TEST_CASE("sandbox: every answer carries X-Request-Id and X-Shopify-API-Version", "[sandbox][headers]") {
    Rig rig(sized(5, 5, 5, true));
    httplib::Client cli("127.0.0.1", rig.server.port());
    std::set<std::string> ids;
    const auto check = [&](const httplib::Result& res, int status, const std::string& version) {
        REQUIRE(res);
        CHECK(res->status == status);
        const std::string id = res->get_header_value("X-Request-Id");
        CHECK(id.size() == 36);
        CHECK(ids.insert(id).second);  // unique
        CHECK(res->get_header_value("X-Shopify-API-Version") == version);
    };
    check(cli.Get("/admin/api/2024-04/shop.json", auth()), 200, "2024-04");
    check(cli.Get("/admin/api/2025-01/customers.json", auth()), 200, "2025-01");
    check(cli.Get("/admin/api/2024-04/customers/1.json", auth()), 404, "2024-04");
    check(cli.Get("/admin/api/2024-04/no_such_thing.json", auth()), 404, "2024-04");
    check(cli.Get("/admin/api/2024-04/shop.json", httplib::Headers{{"X-Shopify-Access-Token", "wrong"}}), 401, "2024-04");
    // Unsupported (too old, never released, not a version at all) and missing versions fall
    // forward to the oldest supported stable version; unstable is served as itself.
    check(cli.Get("/admin/api/2023-07/customers.json", auth()), 200, "2024-01");
    check(cli.Get("/admin/api/2099-01/shop.json", auth()), 200, "2024-01");
    check(cli.Get("/admin/api/latest/shop.json", auth()), 200, "2024-01");
    check(cli.Get("/admin/customers.json", auth()), 200, "2024-01");
    check(cli.Get("/admin/customers/count.json", auth()), 200, "2024-01");
    check(cli.Get("/admin/api/unstable/shop.json", auth()), 200, "unstable");
    // 429s too.
    rig.shop().faults().set(sb::Faults::from_json({{"burst_429_every", 1}, {"burst_429_length", 1}}));
    auto limited = cli.Get("/admin/api/2024-04/shop.json", auth());
    check(limited, 429, "2024-04");
    CHECK(limited->get_header_value("Retry-After") == "2.0");
}

TEST_CASE("sandbox: a burst of 60 concurrent calls is answered at once with 200s and 429s", "[sandbox][burst]") {
    // Each client keeps its connection open (keep-alive) after its answer, as HTTP clients
    // do. With cpp-httplib's default pool of 8 workers, each held by an idle keep-alive
    // connection for 5 s, the 9th client waited 5 s and the 60th about 26 s. That is caught
    // by peak_in_flight below (never more than 8 then); the read timeout only bounds a hang,
    // generously, since on a loaded machine (CI building beside it) one answer of 59 once
    // took more than 15 s.
    Rig rig(sized(5, 5, 5, true));
    // 300 ms in every answer, so that the answers overlap whatever the machine's load.
    rig.shop().faults().set(sb::Faults::from_json({{"latency_ms", 300}}));
    constexpr int kClients = 60;
    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", rig.server.port()));
        clients.back()->set_keep_alive(true);
        clients.back()->set_connection_timeout(10);
        clients.back()->set_read_timeout(60);
    }
    std::mutex m;
    std::condition_variable go;
    bool start = false;
    std::vector<int> status(kClients, -1);
    std::string errors;
    std::vector<std::string> retry_after(kClients), call_limit(kClients);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i)
        threads.emplace_back([&, i] {
            {
                std::unique_lock lock(m);
                go.wait(lock, [&] { return start; });
            }
            auto res = clients[i]->Get("/admin/api/2024-04/shop.json", auth());
            if (!res) {
                std::lock_guard lock(m);
                errors += httplib::to_string(res.error()) + "; ";
                return;
            }
            status[i] = res->status;
            retry_after[i] = res->get_header_value("Retry-After");
            call_limit[i] = res->get_header_value("X-Shopify-Shop-Api-Call-Limit");
        });
    const auto began = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(m);
        start = true;
    }
    go.notify_all();
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    int ok = 0, limited = 0, unanswered = 0;
    for (int i = 0; i < kClients; ++i) {
        if (status[i] == 200) ++ok;
        else if (status[i] == 429) {
            ++limited;
            CHECK(retry_after[i] == "2.0");
            CHECK(call_limit[i] == "40/40");
        } else {
            ++unanswered;
        }
    }
    INFO("200: " << ok << ", 429: " << limited << ", unanswered: " << unanswered << " (" << errors << ")");
    CHECK(unanswered == 0);
    // The bucket holds 40 and leaks 2 a second while the burst arrives (not a speed
    // assertion: the bound follows the bucket, however long the burst took here).
    CHECK(ok >= 40);
    CHECK(ok <= 41 + static_cast<int>(2 * seconds));
    CHECK(ok + limited == kClients);
    // The answers overlapped: more requests were in the sandbox at the same time than the
    // 8 workers of cpp-httplib's default pool could hold.
    CHECK(rig.shop().peak_in_flight() > 8);
    rig.shop().faults().set(sb::Faults{});
    // With the 60 connections still open and idle, one more client is answered (with the
    // old pool it waited for one of them to time out; the bound is only against a hang).
    httplib::Client late("127.0.0.1", rig.server.port());
    late.set_read_timeout(30);
    auto res = late.Get("/admin/api/2024-04/customers/count.json", auth());
    REQUIRE(res);
    CHECK((res->status == 200 || res->status == 429));
    clients.clear();  // close the keep-alive connections before the server stops
}

TEST_CASE("sandbox: seed sizes cross several pages of 250; POST /_sandbox/shopify reseeds", "[sandbox][seed]") {
    Rig rig(sized(1000, 600, 1000));
    CHECK(rig.shop().count("customers") == 1000);
    CHECK(rig.shop().count("products") == 600);
    CHECK(rig.shop().count("orders") == 1000);
    httplib::Client cli("127.0.0.1", rig.server.port());
    CHECK(list_all(cli, "products", "fields=id%2Ctitle").size() == 600);
    CHECK(list_all(cli, "orders", "status=any").size() == 1000);
    // The first page of products with fields: a next link whose URL keeps fields. cpp-httplib
    // 0.11 (the hub's HTTP client) hands the header over with %2C decoded to ','.
    auto first = cli.Get("/admin/api/2024-04/products.json?limit=250&fields=id%2Ctitle", auth());
    REQUIRE(first);
    const std::string link = first->get_header_value("Link");
    CHECK_THAT(link, Catch::Contains("rel=\"next\""));
    CHECK((link.find("fields=id,title") != std::string::npos || link.find("fields=id%2Ctitle") != std::string::npos));
    CHECK(next_page_info(link));
    // Reseed smaller and bigger over HTTP.
    auto res = cli.Post("/_sandbox/shopify", R"({"seed": {"customers": 3, "products": 260, "orders": 2}})", "application/json");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    CHECK(json::parse(res->body)["seed"] == json{{"customers", 3}, {"products", 260}, {"orders", 2}});
    CHECK(rig.shop().count("customers") == 3);
    CHECK(list_all(cli, "products", "").size() == 260);
    auto bad = cli.Post("/_sandbox/shopify", R"({"seed": {"customers": -1}})", "application/json");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(rig.shop().count("customers") == 3);  // a refused reseed changes nothing
}
