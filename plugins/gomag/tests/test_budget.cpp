// The read and write budgets (Api-RateLimit-* headers, 429s) and the key's secrecy.
#include "fixture.hpp"

#include "common/logging.hpp"

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <set>

using namespace gomag_test;

TEST_CASE("budget: small buckets and 429 bursts, every record delivered once", "[budget]") {
    auto o = options(250, 20, 20);
    o.rate_limit = true;
    o.read_rate = 50;
    o.read_burst = 5;
    o.write_rate = 50;
    o.write_burst = 3;
    // The governor starts from the manifest's shape (burst 40) and learns the real buckets
    // from the headers; rates are raised so the test takes well under a second.
    Rig rig(o, 50, 40);
    plexus::sandbox::Faults f;
    f.burst_429_every = 7;
    f.burst_429_length = 2;
    rig.shop().faults().set(f);
    auto c = rig.instance();
    std::string cursor;
    int pages = 0;
    auto all = read_all(*c, "products", cursor, 20, &pages);
    CHECK(pages == 13);
    std::set<std::string> keys;
    for (const auto& r : all) keys.insert(r["key"].get<std::string>());
    CHECK(all.size() == 250);
    CHECK(keys.size() == 250);
    CHECK(rig.shop().throttled() > 0);
    CHECK(rig.governor.stats().observations > 0);  // the headers reached the governor

    json batch = json::array();
    for (int i = 0; i < 30; ++i)
        batch.push_back(create("b" + std::to_string(i), {{"sku", "BG-" + std::to_string(i)}, {"name", "P"}, {"price", 1},
                                                         {"categories", "Accesorii"}}));
    json r = write(*c, "products", batch);
    for (const auto& x : r) CHECK(x["status"] == PLEXUS_OK);
    CHECK(rig.shop().count("products") == 280);  // each once, despite the retried 429s
}

TEST_CASE("budget: a budget that stays spent ends the call as rate-limited", "[budget]") {
    Rig rig(options(10, 5, 5));
    rig.check_contract = false;  // nothing but 429s
    plexus::sandbox::Faults f;
    f.burst_429_every = 1;
    f.burst_429_length = 100000;
    rig.shop().faults().set(f);
    auto c = rig.instance();
    auto r = c->read_page({{"entity", "products"}, {"cursor", nullptr}, {"since", nullptr}, {"limit", 100}, {"filter", json::object()}});
    CHECK(r.status == PLEXUS_ERR_RATE_LIMIT);
    CHECK_THAT(r.text, Catch::Contains("budget is spent") && Catch::Contains("GET /api/v1/product/read/json"));
}

TEST_CASE("secrets: the API key never appears in errors, results or log lines", "[secrets]") {
    Rig rig;
    plexus::configure_logging("debug");
    plexus::log_debug("");  // creates the process-wide logger
    auto logger = spdlog::get("plexus");
    REQUIRE(logger);
    auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
    logger->sinks().push_back(ring);

    json wrong = rig.settings();
    wrong["shop_url"] = "https://not-this-shop.ro";  // the key is right, the pair is not
    auto bad = rig.instance(wrong);
    auto checked = bad->check();
    CHECK(checked.status == PLEXUS_ERR_AUTH);
    CHECK_THAT(checked.text, Catch::Contains("Missing Api User"));
    auto read = bad->read_page({{"entity", "orders"}, {"cursor", nullptr}, {"since", nullptr}, {"limit", 10}, {"filter", json::object()}});
    CHECK(read.status == PLEXUS_ERR_AUTH);
    auto wr = bad->write_batch({{"entity", "products"}, {"records", {create("k", {{"sku", "S-1"}, {"name", "n"}, {"price", 1}, {"categories", "A"}})}}});
    CHECK(wr.status == PLEXUS_ERR_AUTH);
    auto good = rig.instance();
    json r = write(*good, "stock_prices", {create("x", {{"sku", "NU-EXISTA"}, {"stock", 1}})});
    CHECK(r[0]["status"] == PLEXUS_ERR_VALIDATION);
    std::string refused;
    try {
        rig.instance({{"api_key", kKey}, {"shop_url", kShop}, {"base_url", rig.server.base_url()}, {"page_size", 500}});
    } catch (const std::exception& e) {
        refused = e.what();
    }
    CHECK_THAT(refused, Catch::Contains("page_size"));

    logger->sinks().pop_back();
    plexus::configure_logging("info");
    for (const std::string& text : {checked.text, read.text, wr.text, r.dump(), refused}) CHECK(text.find(kKey) == std::string::npos);
    size_t lines = 0;
    for (const auto& line : ring->last_formatted()) {
        ++lines;
        CHECK(line.find(kKey) == std::string::npos);
    }
    CHECK(lines > 0);
}
