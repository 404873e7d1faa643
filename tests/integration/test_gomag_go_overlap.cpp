// Exactly-once for the Gomag ⇄ PowerOffice Go processes (issue 12): config/gomag-poweroffice.json
// with every process on a 2 s interval inside one `plexus serve`, so that runs overlap — the
// orders' dependency pulls of customers racing Customers Gomag→Go, Stock and prices pulling
// products while Products Go→Gomag runs — with `plexus run` of the same processes coming in
// from another OS process, new orders and stock changes arriving meanwhile, and the hub
// SIGKILLed in the middle and started again. Afterwards, counted through the sandboxes: one Go
// sales order per Gomag order, one Go customer per Gomag customer, one Gomag product per Go
// product, the shop's stock equal to Go's; and `plexus reconcile` finds every process clean.
#include "process_fixture.hpp"

#include "sandbox/gomag_sandbox.hpp"
#include "sandbox/poweroffice_go_sandbox.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

namespace {

constexpr int kOrders = 40;

std::string gm_sku(int i) {
    char b[16];
    std::snprintf(b, sizeof b, "GM-%04d", 1000 + i);
    return b;
}

struct GomagGo : TemplateHub {
    sb::SandboxServer shop_server;
    sb::SandboxServer go_server;

    static sb::GomagSandbox::Options shop_options() {
        sb::GomagSandbox::Options o;
        o.seed = 21;
        o.api_key = "gk-overlap";
        o.shop = "https://www.overlap.ro";
        o.products = 12;
        o.orders = kOrders;
        o.customers = 15;
        o.rate_limit = false;
        return o;
    }
    static sb::PowerOfficeGoSandbox::Options go_options() {
        sb::PowerOfficeGoSandbox::Options o;
        o.seed = 9;
        o.rate_limit = false;
        o.customers = 20;
        o.products = 30;
        o.invoiced_orders = 2;
        for (int i = 1; i <= 12; ++i) o.product_codes.push_back(gm_sku(i));
        return o;
    }

    GomagGo()
        : TemplateHub("gomag-poweroffice.json"),
          shop_server(std::make_unique<sb::GomagSandbox>(shop_options())),
          go_server(std::make_unique<sb::PowerOfficeGoSandbox>(go_options())) {
        json& g = settings("gomag");
        g["api_key"] = "gk-overlap";
        g["shop_url"] = "https://www.overlap.ro";
        g["base_url"] = shop_server.base_url();
        g.erase("orders_start_date");
        set_go_settings(settings("go"), go_server.base_url());
        unthrottled("gomag");
        unthrottled("go");
        // Every process every 2 s, small pages and batches: runs overlap all the time. The
        // vouchers alternative stays off (one way of booking sales).
        for (auto& p : config["processes"]) {
            if (p["id"] == "sales-gomag-go") continue;
            p["enabled"] = true;
            p["schedule"] = {{"interval", "2s"}};
            p["page_size"] = 10;
            p["batch_size"] = 5;
        }
        save();
        // Every answer a few milliseconds later: a run lasts long enough to be overlapped.
        shop_server.sandbox().faults().set(sb::Faults::from_json({{"latency_ms", 4}}));
        go_server.sandbox().faults().set(sb::Faults::from_json({{"latency_ms", 2}}));
    }

    sb::GomagSandbox& shop() { return static_cast<sb::GomagSandbox&>(shop_server.sandbox()); }
    sb::PowerOfficeGoSandbox& go() { return static_cast<sb::PowerOfficeGoSandbox&>(go_server.sandbox()); }
    std::map<std::string, int> go_by_reference(const std::string& collection, const std::string& prefix) {
        return by_reference(go().objects(collection), prefix);
    }
};

double number_of(const json& v) { return v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>(); }

}  // namespace

TEST_CASE("gomag⇄go: overlapping runs inside one serve, plexus run beside it and a SIGKILL of serve write nothing twice",
          "[overlap][crash][gomag]") {
    GomagGo h;
    const size_t go_customers_before = h.go().count("customers");
    std::mt19937 rng(std::random_device{}());

    // Phase 1: serve, with runs from outside and new work arriving; SIGKILLed once half the
    // seeded orders are in Go — in the middle of the orders' runs — and at least four outside
    // runs (each process once) are done; or after 18 s.
    pid_t serve = h.serve();
    REQUIRE(serve > 0);
    const char* outside[] = {"orders-gomag-go", "products-go-gomag", "stock-prices-go-gomag", "customers-gomag-go"};
    int added_orders = 0, outside_runs = 0;
    std::set<int64_t> new_customers;
    const size_t go_orders_before = h.go().count("sales_orders");
    const auto phase1_end = Clock::now() + 18s;
    const auto killed_at = [&] {
        return outside_runs >= 4 && h.go().count("sales_orders") - go_orders_before >= static_cast<size_t>(kOrders / 2);
    };
    while (Clock::now() < phase1_end && !killed_at()) {
        // A new order (every other one by a customer new to the shop) and a stock count in Go.
        int64_t customer = 14000 + static_cast<int64_t>(rng() % 15);
        if (added_orders % 2 == 0) {
            customer = h.shop().add_customer({{"firstname", "Nou"}, {"lastname", "Client" + std::to_string(added_orders)},
                                              {"email", "nou" + std::to_string(added_orders) + "@example.ro"}});
            new_customers.insert(customer);
        }
        h.shop().add_order({{"billing", {{"firstname", "X"}, {"lastname", "Y"}, {"customerId", customer}}},
                            {"items", json::array({{{"sku", gm_sku(1 + static_cast<int>(rng() % 12))}, {"quantity", "1.00"}}})}});
        ++added_orders;
        h.go().set_stock(gm_sku(1 + static_cast<int>(rng() % 12)), static_cast<double>(rng() % 50));
        pid_t run = h.spawn("run", outside[outside_runs++ % 4]);
        REQUIRE(run > 0);
        wait_exit(run, 60s);
        std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 500));
    }
    const size_t orders_at_kill = h.go().count("sales_orders") - go_orders_before;
    kill_now(serve);

    // Phase 2: serve again (it closes the killed hub's runs and resolves their intents at
    // start), two rounds of the 2 s schedules; SIGTERM.
    serve = h.serve();
    REQUIRE(serve > 0);
    std::this_thread::sleep_for(5s);
    const bool stopped = terminate(serve, 60s);
    INFO(read_file(h.dir.path() / "serve.log").substr(0, 20000));
    CHECK(stopped);

    // Phase 3: each process once more in dependency order, failed records replayed.
    const char* order[] = {"customers-gomag-go", "orders-gomag-go", "products-go-gomag", "stock-prices-go-gomag"};
    h.drain({std::begin(order), std::end(order)});

    // Go: one sales order per Gomag order, one customer per Gomag customer.
    const auto orders = h.go_by_reference("sales_orders", "gomag-order-");
    CHECK(orders.size() == static_cast<size_t>(kOrders + added_orders));
    int doubled_orders = 0;
    for (const auto& [ref, n] : orders)
        if (n > 1) ++doubled_orders;
    CHECK(doubled_orders == 0);
    CHECK(h.go().count("outgoing_invoices") == 2 + orders.size());
    const auto customers = h.go_by_reference("customers", "gomag-");
    int doubled_customers = 0;
    for (const auto& [ref, n] : customers)
        if (n > 1) ++doubled_customers;
    CHECK(doubled_customers == 0);
    CHECK(customers.size() == h.shop().count("customers"));  // every one synced (all customers run)
    CHECK(h.go().count("customers") == go_customers_before + customers.size());
    for (int64_t c : new_customers) CHECK(customers.count("gomag-" + std::to_string(c)) == 1);

    // Gomag: one product per Go product (Gomag keys products by SKU), stock as Go's.
    CHECK(h.shop().count("products") == 30);
    for (const auto& g : h.go().objects("products")) {
        const std::string code = g["Code"];
        const json s = h.shop().product(code);
        INFO(code);
        REQUIRE(s.is_object());
        CHECK(s["name"] == g["Name"]);
        if (g.value("IsStockItem", false)) CHECK(number_of(s["stock"]) == Approx(g["StockOnHand"].get<double>()));
    }

    // And each ledger agrees with its target.
    for (const char* p : order) {
        auto [exit_code, report, out] = h.reconcile(p);
        INFO(p << ": " << out);
        CHECK(exit_code == 0);
        REQUIRE(report.is_object());
        CHECK(report["status"] == "clean");
        if (std::string(p) == "orders-gomag-go") CHECK(report["ledger_entries"] == kOrders + added_orders);
    }
    WARN("gomag⇄go overlap: " << outside_runs << " outside runs, " << added_orders << " orders added, SIGKILL with "
                               << orders_at_kill << " orders in Go");
}
