// The Gomag ⇄ PowerOffice Go processes (config/gomag-poweroffice.json) end to end: the real
// `plexus` binary runs the shipped template against the Gomag and Go sandboxes, served in this
// test process so that the test can count and change their rows. Each process: the first run
// creates, a second writes nothing, one change updates one record; and the seed's operator
// settings (orders start date, work points, "import all orders now") do what they say.
#include "process_fixture.hpp"

#include "fixture.hpp"  // contract_check, recorded_exchanges, exchanges_file
#include "sandbox/gomag_sandbox.hpp"
#include "sandbox/poweroffice_go_sandbox.hpp"

#include <catch2/catch.hpp>

#include <httplib.h>

#include <regex>
#include <set>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

namespace {

using Counts = RunCounts;

const char* const kKey = "gk-processes-4a1f0c";
const char* const kShop = "https://www.magazin-go.ro";

std::string sku(int i) {  // GM-1001 …: the Gomag sandbox's seeded SKUs, given to Go's products too
    char b[16];
    std::snprintf(b, sizeof b, "GM-%04d", 1000 + i);
    return b;
}

struct World : TemplateHub {
    sb::SandboxServer shop_server;
    sb::SandboxServer go_server;

    // 12 products, 30 orders over the last 90 days by 10 customers, several pages for none:
    // the connector's paging has its own tests; here the processes are.
    static sb::GomagSandbox::Options shop_options() {
        sb::GomagSandbox::Options o;
        o.seed = 11;
        o.api_key = kKey;
        o.shop = kShop;
        o.products = 12;
        o.orders = 30;
        o.customers = 10;
        o.rate_limit = false;
        return o;
    }
    // Go's first 12 products carry the shop's SKUs (so the orders' lines find them); 30 in all,
    // every fifth a service without stock.
    static sb::PowerOfficeGoSandbox::Options go_options() {
        sb::PowerOfficeGoSandbox::Options o;
        o.seed = 5;
        o.rate_limit = false;
        o.customers = 20;
        o.products = 30;
        o.invoiced_orders = 3;
        for (int i = 1; i <= 12; ++i) o.product_codes.push_back(sku(i));
        return o;
    }

    explicit World(sb::GomagSandbox::Options shop = shop_options(), sb::PowerOfficeGoSandbox::Options go = go_options())
        : TemplateHub("gomag-poweroffice.json"),
          shop_server(std::make_unique<sb::GomagSandbox>(shop)),
          go_server(std::make_unique<sb::PowerOfficeGoSandbox>(go)) {
        json& g = settings("gomag");
        g["api_key"] = kKey;
        g["shop_url"] = kShop;
        g["base_url"] = shop_server.base_url();
        g.erase("orders_start_date");  // each test sets what it needs
        set_go_settings(settings("go"), go_server.base_url());
        unthrottled("gomag");
        unthrottled("go");
        save();
        recording = gomag_test::exchanges_file(Catch::getResultCapture().getCurrentTestName());
        fs::remove(recording);
        shop_server.record_exchanges(recording);
    }
    // Every request the hub sent to Gomag, and every answer, against Gomag's collection.
    ~World() {
        if (std::uncaught_exceptions() > 0 || !check_contract) return;
        shop_server.stop();
        auto [rc, report] = gomag_test::contract_check(recording);
        INFO(report);
        CHECK(rc == 0);
    }
    std::string recording;
    bool check_contract = true;
    std::vector<json> shop_exchanges() { return gomag_test::recorded_exchanges(shop_server, recording, shop().requests()); }
    json& shop_settings() { return settings("gomag"); }

    sb::GomagSandbox& shop() { return static_cast<sb::GomagSandbox&>(shop_server.sandbox()); }
    sb::PowerOfficeGoSandbox& go() { return static_cast<sb::PowerOfficeGoSandbox&>(go_server.sandbox()); }
    CommandResult plexus(std::vector<std::string> args) {
        for (const auto& a : common()) args.push_back(a);
        return run_plexus(args);
    }
    // Go objects per ExternalImportReference (a second object for one Gomag record would show
    // as a count of 2).
    std::map<std::string, int> go_by_reference(const std::string& collection, const std::string& prefix) {
        return by_reference(go().objects(collection), prefix);
    }
    // The Gomag orders registered on or after `day` (all when empty).
    std::set<std::string> shop_orders_since(const std::string& day) {
        std::set<std::string> ids;
        for (int64_t id = 2000; id < 2000 + 200; ++id) {
            json o = shop().order(id);
            if (o.is_null()) continue;
            if (day.empty() || o["date"].get<std::string>().substr(0, 10) >= day) ids.insert(o["id"].get<std::string>());
        }
        return ids;
    }

    // A change made in Go by a user: JSON Patch of one product field, through Go's own API.
    void go_patch_product(const std::string& code, const std::string& field, const json& value) {
        int64_t id = 0;
        for (const auto& p : go().objects("products"))
            if (p["Code"] == code) id = p["Id"];
        REQUIRE(id != 0);
        httplib::Client api("127.0.0.1", go_server.port());
        auto res = api.Patch("/v2/Products/" + std::to_string(id), go_api_headers(go_token(go_server.port())),
                             json::array({{{"op", "replace"}, {"path", "/" + field}, {"value", value}}}).dump(),
                             "application/json-patch+json");
        REQUIRE(res);
        INFO(res->body);
        REQUIRE(res->status == 200);
    }
    json go_product(const std::string& code) {
        for (const auto& p : go().objects("products"))
            if (p["Code"] == code) return p;
        return nullptr;
    }
};

double num(const json& v) { return v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>(); }

}  // namespace

TEST_CASE("processes: the Gomag⇄Go template passes check-config") {
    const std::string env = "GOMAG_API_KEY=k GOMAG_SHOP_URL=https://www.myshop.ro "
                            "GO_APPLICATION_KEY=a GO_CLIENT_KEY=c GO_SUBSCRIPTION_KEY=s";
    auto r = run_plexus({"check-config", std::string(PLEXUS_SOURCE_DIR) + "/config/gomag-poweroffice.json", "--plugin-dir",
                         PLEXUS_PLUGIN_DIR},
                        env);
    INFO(r.out);
    CHECK(r.exit_code == 0);
}

TEST_CASE("processes: Orders Gomag→Go bring each customer once, then write nothing, then one new order alone") {
    World w;
    w.shop_settings()["order_work_point"] = "CLUJ";
    w.save();
    const size_t customers_before = w.go().count("customers");
    auto first = w.run_ok("orders-gomag-go");
    CHECK(first.created == 30);
    CHECK(first.failed == 0);
    auto orders = w.go_by_reference("sales_orders", "gomag-order-");
    CHECK(orders.size() == 30);
    for (const auto& [ref, n] : orders) CHECK(n == 1);
    CHECK(w.go().count("outgoing_invoices") == 3 + 30);  // invoiced in Go (invoice_orders)
    // The orders' customers came first, each once, numbered by their Gomag id.
    auto customers = w.go_by_reference("customers", "gomag-");
    CHECK(!customers.empty());
    CHECK(customers.size() <= 10);
    CHECK(w.go().count("customers") == customers_before + customers.size());
    for (const auto& [ref, n] : customers) CHECK(n == 1);
    for (const auto& c : w.go().objects("customers"))
        if (c.value("ExternalImportReference", json("")).get<std::string>().rfind("gomag-", 0) == 0)
            CHECK(std::to_string(c["Number"].get<int64_t>()) == c["ExternalImportReference"].get<std::string>().substr(6));
    // The work point the orders are taken into is on every order; lines net of VAT.
    for (const auto& o : w.go().objects("sales_orders")) {
        if (!o.value("IsCreatedByCurrentIntegration", false)) continue;
        CHECK(o.value("DepartmentCode", json()) == "CLUJ");
        const std::string id = o["ExternalImportReference"].get<std::string>().substr(12);
        const json shop_order = w.shop().order(std::stoll(id));
        REQUIRE(shop_order.is_object());
        REQUIRE(o["SalesOrderLines"].size() == shop_order["items"].size());
        const double gross = num(shop_order["items"][0]["price"]);
        CHECK(o["SalesOrderLines"][0]["ProductUnitPrice"].get<double>() == Approx(gross * 100 / 119).margin(0.0001));
        CHECK(o["CustomMatchingReference"] == shop_order["number"]);
    }

    auto again = w.run_ok("orders-gomag-go");
    CHECK(again.created == 0);
    CHECK(again.updated == 0);
    CHECK(again.failed == 0);

    // A status change in the shop (Gomag's order moves to "Livrata") writes nothing to Go:
    // sales orders are created once; one new order — of a customer new to the shop — is
    // created alone, with its customer.
    REQUIRE(w.shop().set_order_status(2003, 18));
    const int64_t newcomer = w.shop().add_customer({{"firstname", "Ilinca"}, {"lastname", "Vlad"}, {"email", "ilinca.vlad@example.ro"}});
    const json billing{{"firstname", "Ilinca"}, {"lastname", "Vlad"}, {"email", "ilinca.vlad@example.ro"}, {"customerId", newcomer}};
    w.shop().add_order({{"billing", billing}, {"items", json::array({{{"sku", sku(3)}, {"quantity", "2.00"}}})}});
    w.shop().add_order({{"billing", billing}, {"items", json::array({{{"sku", sku(4)}, {"quantity", "1.00"}}})}});
    auto changed = w.run_ok("orders-gomag-go");
    CHECK(changed.created == 2);
    CHECK(changed.updated == 0);
    CHECK(changed.failed == 0);
    CHECK(w.go_by_reference("sales_orders", "gomag-order-").size() == 32);
    auto after = w.go_by_reference("customers", "gomag-");
    CHECK(after.size() == customers.size() + 1);
    CHECK(after["gomag-" + std::to_string(newcomer)] == 1);
}

TEST_CASE("processes: orders are read from the start date only, and \"import all orders now\" rewinds to an earlier one") {
    World w;
    // Orders were placed over the last 90 days; the start date splits them.
    std::vector<std::string> days;
    for (const auto& id : w.shop_orders_since("")) days.push_back(w.shop().order(std::stoll(id))["date"].get<std::string>().substr(0, 10));
    std::sort(days.begin(), days.end());
    REQUIRE(days.size() == 30);
    const std::string start = days[days.size() / 2];
    const auto recent = w.shop_orders_since(start);
    REQUIRE(recent.size() < 30);
    w.shop_settings()["orders_start_date"] = start;
    w.save();
    auto first = w.run_ok("orders-gomag-go");
    CHECK(first.created == static_cast<int>(recent.size()));
    std::set<std::string> in_go;
    for (const auto& [ref, n] : w.go_by_reference("sales_orders", "gomag-order-")) in_go.insert(ref.substr(12));
    CHECK(in_go == recent);

    // The operator moves "data de la care sa se preia comenzile" back and presses "Importa
    // acum toate comenzile": the cursor rewinds to the start date and the process runs.
    const std::string earlier = days.front();
    w.shop_settings()["orders_start_date"] = earlier;
    w.save();
    auto rewind = w.plexus({"cursor", "orders-gomag-go", "--rewind-to", earlier});
    INFO(rewind.out);
    REQUIRE(rewind.exit_code == 0);
    auto all = w.run_ok("orders-gomag-go");
    CHECK(all.created == static_cast<int>(30 - recent.size()));
    CHECK(all.failed == 0);
    auto refs = w.go_by_reference("sales_orders", "gomag-order-");
    CHECK(refs.size() == 30);
    for (const auto& [ref, n] : refs) CHECK(n == 1);  // the orders already in Go were not sent again

    // A rewind to before the start date still reads from the start date.
    w.shop_settings()["orders_start_date"] = start;
    w.save();
    REQUIRE(w.plexus({"cursor", "orders-gomag-go", "--rewind-to", "2020-01-01"}).exit_code == 0);
    auto again = w.run_ok("orders-gomag-go");
    CHECK(again.read == static_cast<int>(recent.size()));
    CHECK(again.created == 0);
}

TEST_CASE("processes: Products Go→Gomag create by SKU in requests of 25, then nothing, then the one changed") {
    World w;
    auto first = w.run_ok("products-go-gomag");
    // 12 of Go's 30 products are in the shop already (same SKUs): adopted and updated, not doubled.
    CHECK(first.created == 18);
    CHECK(first.updated == 12);
    CHECK(first.failed == 0);
    CHECK(w.shop().count("products") == 30);
    const auto exchanges = w.shop_exchanges();
    for (const char* path : {"product/write/json", "product/patch/json"})
        for (const auto& batch : gomag_test::posted(exchanges, path)) CHECK(batch.size() <= 25);
    CHECK(gomag_test::posted(exchanges, "product/patch/json").size() >= 1);
    // A create request refused for SKUs the shop has is narrowed by reading them, not halved:
    // 30 creates cost at most two requests per batch of 25 (refused, then the rest).
    CHECK(gomag_test::posted(exchanges, "product/write/json").size() <= 4);
    const json go13 = w.go_product("GO-0013");
    REQUIRE(go13.is_object());
    json p = w.shop().product("GO-0013");
    REQUIRE(p.is_object());
    CHECK(p["name"] == go13["Name"]);
    CHECK(num(p["price"]) == Approx(go13["UnitPrice"].get<double>()));
    CHECK(w.shop().product(sku(1))["name"] == w.go_product(sku(1))["Name"]);

    const uint64_t writes = w.shop().writes();
    auto again = w.run_ok("products-go-gomag");
    CHECK(again.created + again.updated == 0);
    CHECK(w.shop().writes() == writes);

    // A new price in Go reaches the shop with its product.
    w.go_patch_product("GO-0017", "UnitPrice", 333.5);
    auto changed = w.run_ok("products-go-gomag");
    CHECK(changed.updated == 1);
    CHECK(changed.created == 0);
    CHECK(w.shop().writes() == writes + 1);
    CHECK(num(w.shop().product("GO-0017")["price"]) == Approx(333.5));
    CHECK(w.shop().count("products") == 30);
}

TEST_CASE("processes: Stock and prices Go→Gomag sets every stock item once in one bulk request and follows one change") {
    World w;
    REQUIRE(w.run_ok("products-go-gomag").failed == 0);
    const size_t before = gomag_test::posted(w.shop_exchanges(), "product/inventory/json").size();
    auto first = w.run_ok("stock-prices-go-gomag");
    CHECK(first.created == 24);  // every fifth Go product is a service, without stock
    CHECK(first.failed == 0);
    const auto inventory = gomag_test::posted(w.shop_exchanges(), "product/inventory/json");
    REQUIRE(inventory.size() == before + 1);  // one bulk request
    CHECK(inventory.back()["products"].size() == 24);
    for (const auto& code : {std::string("GO-0014"), sku(2)}) {
        const json g = w.go_product(code), s = w.shop().product(code);
        INFO(code);
        CHECK(num(s["stock"]) == Approx(g["StockOnHand"].get<double>()));
        CHECK(s["stock_status"] == (g["StockOnHand"].get<double>() > 0 ? "instock" : "notinstock"));
    }
    auto again = w.run_ok("stock-prices-go-gomag");
    CHECK(again.created + again.updated == 0);

    REQUIRE(w.go().set_stock("GO-0018", 0));
    REQUIRE(w.go().set_stock(sku(6), 57));
    auto changed = w.run_ok("stock-prices-go-gomag");
    CHECK(changed.updated == 2);
    CHECK(changed.created == 0);
    CHECK(num(w.shop().product("GO-0018")["stock"]) == 0);
    CHECK(w.shop().product("GO-0018")["stock_status"] == "notinstock");
    CHECK(num(w.shop().product(sku(6))["stock"]) == 57);
}

TEST_CASE("processes: initial sync on an empty shop — stock first brings each product, then products change nothing") {
    auto o = World::shop_options();
    o.products = 0;
    o.orders = 0;
    World w(o);
    // "Sincronizare initiala" runs Products then Stock and prices; even in the other order
    // every product is created once (the stock process brings its product first).
    auto stock = w.run_ok("stock-prices-go-gomag");
    CHECK(stock.created == 24);
    CHECK(stock.failed == 0);
    CHECK(w.shop().count("products") == 24);
    auto products = w.run_ok("products-go-gomag");
    CHECK(products.created == 6);  // the services
    CHECK(products.updated == 0);
    CHECK(w.shop().count("products") == 30);
}

TEST_CASE("processes: the stock work point lets only that work point's stock reach the shop") {
    World w;
    REQUIRE(w.run_ok("products-go-gomag").failed == 0);
    w.shop_settings()["stock_work_point"] = "BUCURESTI";
    w.save();
    const uint64_t writes = w.shop().writes();
    auto refused = w.run("stock-prices-go-gomag");
    INFO(refused.out);
    CHECK(summary_of(refused.out).failed == 24);
    CHECK(refused.out.find("BUCURESTI") != std::string::npos);
    CHECK(w.shop().writes() == writes);  // nothing sent
    w.shop_settings()["stock_work_point"] = "go";
    w.save();
    REQUIRE(w.plexus({"replay", "stock-prices-go-gomag"}).exit_code == 0);
    const int in_stock_status = [&] {
        int n = 0;
        for (int i = 1; i <= 30; ++i) {
            char code[16];
            std::snprintf(code, sizeof code, "GO-%04d", i);
            const json g = w.go_product(i <= 12 ? sku(i) : code);
            const json s = w.shop().product(i <= 12 ? sku(i) : code);
            if (g.value("IsStockItem", false) && num(s["stock"]) == Approx(g["StockOnHand"].get<double>())) ++n;
        }
        return n;
    }();
    CHECK(in_stock_status == 24);
}

TEST_CASE("processes: 429 bursts and faults on both sides end with every order, customer and product delivered once") {
    auto so = World::shop_options();
    so.rate_limit = true;  // small buckets that refill fast: the connector paces by their headers
    so.read_rate = 50;
    so.read_burst = 6;
    so.write_rate = 50;
    so.write_burst = 3;
    so.retry_after = "0.05";
    auto go = World::go_options();
    go.retry_after = "0.05";
    World w(so, go);
    w.check_contract = false;  // 429s, 5xx and cut bodies are not in Gomag's collection
    sb::Faults gf;
    gf.burst_429_every = 7;
    gf.burst_429_length = 2;
    gf.error_rate = 0.02;
    w.go_server.sandbox().faults().set(gf);
    sb::Faults sf;
    sf.burst_429_every = 5;
    sf.burst_429_length = 2;
    sf.error_rate = 0.03;
    sf.malformed_rate = 0.02;
    w.shop_server.sandbox().faults().set(sf);

    auto settle = [&](const std::string& process) {
        for (int i = 0; i < 6; ++i) {
            auto r = w.run(process);
            INFO(process << ": " << r.out);
            // 1: the connection check met a fault before the run began
            REQUIRE((r.exit_code == 0 || r.exit_code == 1 || r.exit_code == 2 || r.exit_code == 3));
            if (r.exit_code == 0 && summary_of(r.out).failed == 0) return true;
            w.plexus({"replay", process});
        }
        return false;
    };
    CHECK(settle("orders-gomag-go"));
    CHECK(settle("products-go-gomag"));
    CHECK(settle("stock-prices-go-gomag"));
    w.go_server.sandbox().faults().set(sb::Faults{});
    w.shop_server.sandbox().faults().set(sb::Faults{});

    auto orders = w.go_by_reference("sales_orders", "gomag-order-");
    CHECK(orders.size() == 30);
    for (const auto& [ref, n] : orders) CHECK(n == 1);
    for (const auto& [ref, n] : w.go_by_reference("customers", "gomag-")) CHECK(n == 1);
    CHECK(w.go().count("outgoing_invoices") == 3 + 30);
    CHECK(w.shop().count("products") == 30);  // unique by SKU: none doubled, none missing
    for (int i = 13; i <= 30; ++i) {
        char code[16];
        std::snprintf(code, sizeof code, "GO-%04d", i);
        const json g = w.go_product(code);
        const json s = w.shop().product(code);
        INFO(code);
        REQUIRE(s.is_object());
        if (g.value("IsStockItem", false)) CHECK(num(s["stock"]) == Approx(g["StockOnHand"].get<double>()));
    }
    CHECK(w.shop().throttled() > 0);  // the bursts happened
    // A last run of each finds nothing left to do.
    CHECK(w.run_ok("orders-gomag-go").created == 0);
    auto p = w.run_ok("products-go-gomag");
    CHECK(p.created + p.updated == 0);
}
