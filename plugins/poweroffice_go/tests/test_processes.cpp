// The Shopify ⇄ PowerOffice Go processes (config/shopify-poweroffice.json) end to end: the real
// `plexus` binary runs the shipped template against the Shopify and Go sandboxes, served in
// this test process so that the test can count and change their rows. Each process: the first
// run creates, a second writes nothing, one change updates one record.
#include "support.hpp"

#include "plugins/shopify/sandbox/shopify_sandbox.hpp"
#include "sandbox/poweroffice_go_sandbox.hpp"

#include <catch2/catch.hpp>

#include <httplib.h>

#include <regex>
#include <set>

using namespace plexus::test;
namespace sb = plexus::sandbox;

namespace {

struct Counts {
    int read = -1, created = -1, updated = -1, unchanged = -1, failed = -1;
};

Counts summary_of(const std::string& out) {
    Counts c;
    std::regex line(R"(^\s+(read|created|updated|unchanged|failed)\s+(\d+)\s*$)");
    std::istringstream in(out);
    std::string l;
    while (std::getline(in, l)) {
        std::smatch m;
        if (!std::regex_match(l, m, line)) continue;
        const int v = std::stoi(m[2]);
        if (m[1] == "read") c.read = v;
        if (m[1] == "created") c.created = v;
        if (m[1] == "updated") c.updated = v;
        if (m[1] == "unchanged") c.unchanged = v;
        if (m[1] == "failed") c.failed = v;
    }
    return c;
}

struct World {
    sb::SandboxServer shop_server;
    sb::SandboxServer go_server;
    TempDir dir;
    json config;

    static sb::ShopifySandbox::Options shop_options() {
        sb::ShopifySandbox::Options o;
        o.seed = 3;
        o.rate_limit = false;
        o.customers = 20;
        o.products = 3;
        o.orders = 24;
        for (int i = 1; i <= 20; ++i) {  // the orders sell Go's seeded products
            char code[16];
            std::snprintf(code, sizeof code, "GO-%04d", i);
            o.order_skus.push_back(code);
        }
        return o;
    }
    static sb::PowerOfficeGoSandbox::Options go_options() {
        sb::PowerOfficeGoSandbox::Options o;
        o.seed = 5;
        o.rate_limit = false;
        o.customers = 30;
        o.products = 20;
        o.invoiced_orders = 5;
        return o;
    }

    explicit World(sb::PowerOfficeGoSandbox::Options go = go_options())
        : shop_server(std::make_unique<sb::ShopifySandbox>(shop_options())),
          go_server(std::make_unique<sb::PowerOfficeGoSandbox>(go)) {
        config = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "config" / "shopify-poweroffice.json"));
        config["connections"]["shopify"]["settings"] = {
            {"store_domain", "plexus-sandbox.myshopify.com"}, {"access_token", "shpat_sandbox"},
            {"base_url", shop_server.base_url()}, {"location_id", sb::ShopifySandbox::kMainLocation}};
        json& go_settings = config["connections"]["go"]["settings"];
        go_settings["application_key"] = "sandbox-application-key";
        go_settings["client_key"] = "sandbox-client-key";
        go_settings["subscription_key"] = "sandbox-subscription-key";
        go_settings["base_url"] = go_server.base_url() + "/v2";
        config["connections"]["shopify"]["rate_limit"] = {{"requests_per_second", 0}};
        config["connections"]["go"]["rate_limit"] = {{"requests_per_second", 0}};
        write_file(dir.path() / "plexus.json", config.dump(2));
    }

    sb::ShopifySandbox& shop() { return static_cast<sb::ShopifySandbox&>(shop_server.sandbox()); }
    sb::PowerOfficeGoSandbox& go() { return static_cast<sb::PowerOfficeGoSandbox&>(go_server.sandbox()); }
    CommandResult run(const std::string& process) {
        return run_plexus({"run", process, "--config", dir.str("plexus.json"), "--data", dir.str("var"),
                           "--plugin-dir", PLEXUS_PLUGIN_DIR});
    }
    Counts run_ok(const std::string& process) {
        auto r = run(process);
        INFO(process << ": " << r.out);
        REQUIRE((r.exit_code == 0 || r.exit_code == 2));
        return summary_of(r.out);
    }
    // Go customers per ExternalImportReference (a second customer for one shop customer
    // would show as a count of 2).
    std::map<std::string, int> go_customers_by_reference() {
        std::map<std::string, int> m;
        for (const auto& c : go().objects("customers"))
            if (c.contains("ExternalImportReference") && c["ExternalImportReference"].is_string()) ++m[c["ExternalImportReference"]];
        return m;
    }
    json admin_put(const std::string& path, const json& body) {
        httplib::Client http("127.0.0.1", shop_server.port());
        auto res = http.Put("/admin/api/2024-04/" + path, {{"X-Shopify-Access-Token", "shpat_sandbox"}}, body.dump(),
                            "application/json");
        REQUIRE(res);
        INFO(res->body);
        REQUIRE(res->status == 200);
        return json::parse(res->body);
    }
};

}  // namespace

TEST_CASE("processes: the Shopify⇄Go template passes check-config") {
    const std::string env = "SHOPIFY_STORE_DOMAIN=acme.myshopify.com SHOPIFY_TOKEN=t SHOPIFY_LOCATION_ID=1 "
                            "GO_APPLICATION_KEY=a GO_CLIENT_KEY=c GO_SUBSCRIPTION_KEY=s";
    auto r = run_plexus({"check-config", std::string(PLEXUS_SOURCE_DIR) + "/config/shopify-poweroffice.json",
                         "--plugin-dir", PLEXUS_PLUGIN_DIR}, env);
    INFO(r.out);
    CHECK(r.exit_code == 0);
}

TEST_CASE("processes: Customers Shopify→Go creates, then writes nothing, then updates the one changed") {
    World w;
    const size_t before = w.go().count("customers");
    auto first = w.run_ok("customers-shopify-go");
    CHECK(first.created == 20);
    CHECK(first.failed == 0);
    CHECK(w.go().count("customers") == before + 20);
    auto again = w.run_ok("customers-shopify-go");
    CHECK(again.created == 0);
    CHECK(again.updated == 0);
    const json some = w.go().objects("customers").back();
    const std::string ref = some["ExternalImportReference"];
    REQUIRE(ref.rfind("shopify-", 0) == 0);
    w.admin_put("customers/" + ref.substr(8) + ".json", {{"customer", {{"id", std::stoll(ref.substr(8))}, {"phone", "+4791234567"}}}});
    auto changed = w.run_ok("customers-shopify-go");
    CHECK(changed.created == 0);
    CHECK(changed.updated == 1);
    CHECK(changed.failed == 0);
    CHECK(w.go().count("customers") == before + 20);
}

TEST_CASE("processes: Orders Shopify→Go bring each new customer once, are invoiced in Go, and are not sent twice") {
    World w;
    const size_t customers_before = w.go().count("customers"), invoices_before = w.go().count("outgoing_invoices");
    auto first = w.run_ok("orders-shopify-go");
    CHECK(first.created == 24);
    CHECK(first.failed == 0);
    CHECK(w.go().count("sales_orders") == 5 + 24);
    CHECK(w.go().count("outgoing_invoices") == invoices_before + 24);
    // The orders' customers came first, each once.
    auto refs = w.go_customers_by_reference();
    CHECK(w.go().count("customers") == customers_before + refs.size());
    for (const auto& [ref, n] : refs) {
        INFO(ref);
        CHECK(n == 1);
    }
    auto again = w.run_ok("orders-shopify-go");
    CHECK(again.created == 0);
    CHECK(w.go().count("sales_orders") == 5 + 24);
    // A customer already in Go is not created again by Customers Shopify→Go.
    auto customers = w.run_ok("customers-shopify-go");
    CHECK(customers.created == static_cast<int>(20 - refs.size()));
    for (const auto& [ref, n] : w.go_customers_by_reference()) CHECK(n == 1);
}

TEST_CASE("processes: an invoice paid in Go marks its Shopify order paid within one run") {
    World w;
    REQUIRE(w.run_ok("orders-shopify-go").created == 24);
    auto first = w.run_ok("payments-go-shopify");
    CHECK(first.created == 24);
    CHECK(first.failed == 0);
    CHECK(w.run_ok("payments-go-shopify").created == 0);
    // An unpaid order's invoice, paid in Go.
    int64_t invoice_no = 0, order_id = 0;
    for (const auto& inv : w.go().objects("outgoing_invoices")) {
        if (!inv.value("IsCreatedByCurrentIntegration", false)) continue;
        const int64_t id = std::stoll(inv["ExternalImportReference"].get<std::string>().substr(14));  // shopify-order-<id>
        const std::string status = w.shop().object("orders", id).value("financial_status", "");
        if (status == "pending" || status == "authorized") {
            invoice_no = inv["InvoiceNo"];
            order_id = id;
            break;
        }
    }
    REQUIRE(invoice_no != 0);
    REQUIRE(w.go().pay_invoice(invoice_no));
    auto paid = w.run_ok("payments-go-shopify");
    CHECK(paid.updated == 1);
    CHECK(paid.failed == 0);
    CHECK(w.shop().object("orders", order_id)["financial_status"] == "paid");
}

TEST_CASE("processes: Stock Go→Shopify sets each stock item's level once and follows one stock change") {
    World w;
    auto products = w.run_ok("products-go-shopify");
    CHECK(products.created == 20);
    auto first = w.run_ok("stock-go-shopify");
    CHECK(first.created == 16);  // every fifth Go product is a service, without stock
    CHECK(first.failed == 0);
    auto again = w.run_ok("stock-go-shopify");
    CHECK(again.created + again.updated == 0);
    REQUIRE(w.go().set_stock("GO-0003", 11));
    auto changed = w.run_ok("stock-go-shopify");
    CHECK(changed.updated == 1);
    CHECK(changed.created == 0);
}

TEST_CASE("processes: 429 bursts from Go end with every order and customer in Go once") {
    auto o = World::go_options();
    o.retry_after = "0.05";  // Go says 1 s; the hub honours it, and this test provokes dozens
    World w(o);
    sb::Faults f;
    f.burst_429_every = 9;
    f.burst_429_length = 2;
    w.go_server.sandbox().faults().set(f);
    for (int i = 0; i < 4; ++i) {
        auto r = w.run("orders-shopify-go");
        INFO(r.out);
        REQUIRE((r.exit_code == 0 || r.exit_code == 2 || r.exit_code == 3));
        if (summary_of(r.out).failed == 0 && r.exit_code == 0) break;
    }
    std::set<std::string> order_refs;
    size_t ours = 0;
    for (const auto& o : w.go().objects("sales_orders"))
        if (o.value("IsCreatedByCurrentIntegration", false)) {
            ++ours;
            order_refs.insert(o["ExternalImportReference"].get<std::string>());
        }
    CHECK(ours == 24);
    CHECK(order_refs.size() == 24);
    for (const auto& [ref, n] : w.go_customers_by_reference()) CHECK(n == 1);
    CHECK(w.go().count("outgoing_invoices") == 5 + 24);
}
