// Acceptance of the seven Shopify⇄Intacct processes (config/shopify-intacct.json): the real
// `plexus` binary runs the shipped templates against the two sandboxes, served in this test
// process on free loopback ports so that their hooks can count requests and rows. Each
// process: the first run creates, a second writes nothing, one changed source record is
// updated alone. Then faults, SIGKILL mid-run, and a wrong password.
#include "support.hpp"

#include "plugins/intacct/sandbox/intacct_sandbox.hpp"
#include "plugins/shopify/sandbox/shopify_sandbox.hpp"

#include <catch2/catch.hpp>
#include <map>

#include <signal.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;
namespace sb = plexus::sandbox;

namespace {

using Counts = RunCounts;

// The two sandboxes and a configuration made of the shipped template with its connections
// pointed at them.
struct World {
    sb::SandboxServer shop_server;
    sb::SandboxServer intacct_server{sb::make_intacct_sandbox(1)};
    TempDir dir;
    json config;

    static sb::ShopifySandbox::Options shop_options(int orders) {
        sb::ShopifySandbox::Options o;
        o.seed = 3;
        o.rate_limit = false;
        o.customers = 30;
        o.products = 10;
        o.orders = orders;
        for (int i = 1001; i <= 1150; ++i) o.order_skus.push_back("I-" + std::to_string(i));
        return o;
    }

    explicit World(int orders = 60, const std::string& user_password = "sandbox_pw",
                   const std::string& token = "shpat_sandbox")
        : shop_server(std::make_unique<sb::ShopifySandbox>(shop_options(orders))) {
        config = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "config" / "shopify-intacct.json"));
        config["connections"]["shopify"]["settings"] = {
            {"store_domain", "plexus-sandbox.myshopify.com"}, {"access_token", token},
            {"base_url", shop_server.base_url()}, {"location_id", sb::ShopifySandbox::kMainLocation}};
        config["connections"]["intacct"]["settings"] = {
            {"endpoint_url", intacct_server.base_url() + "/ia/xml/xmlgw.phtml"},
            {"sender_id", "sandbox_sender"}, {"sender_password", "sandbox_sender_pw"},
            {"company_id", "SANDBOX"}, {"user_id", "sandbox_user"}, {"user_password", user_password}};
        // The sandboxes run without rate limits here; so does the hub (docs/configuration.md).
        config["connections"]["shopify"]["rate_limit"] = {{"requests_per_second", 0}};
        config["connections"]["intacct"]["rate_limit"] = {{"requests_per_second", 0}};
        write_file(dir.path() / "plexus.json", config.dump(2));
    }

    sb::ShopifySandbox& shop() { return static_cast<sb::ShopifySandbox&>(shop_server.sandbox()); }
    sb::IntacctSandboxControl& intacct() {
        return dynamic_cast<sb::IntacctSandboxControl&>(intacct_server.sandbox());
    }
    std::vector<std::string> args(const std::string& command, const std::string& process) const {
        return {command, process, "--config", dir.str("plexus.json"), "--data", dir.str("var"),
                "--plugin-dir", PLEXUS_PLUGIN_DIR};
    }
    CommandResult run(const std::string& process) { return run_plexus(args("run", process)); }
    Counts run_ok(const std::string& process) {
        auto r = run(process);
        INFO(r.out);
        REQUIRE((r.exit_code == 0 || r.exit_code == 2));
        return summary_of(r.out);
    }
    void faults(const json& f) {
        shop_server.sandbox().faults().set(sb::Faults::from_json(f));
        intacct_server.sandbox().faults().set(sb::Faults::from_json(f));
    }
    // Failed outcomes of a process, source key → message (plexus logs export … csv).
    std::map<std::string, std::string> failed(const std::string& process) {
        std::string out = dir.str("failed.csv");
        auto r = run_plexus({"logs", "export", "--process", process, "--action", "failed", "--format", "csv",
                             "--output", out, "--config", dir.str("plexus.json"), "--data", dir.str("var")});
        INFO(r.out);
        REQUIRE(r.exit_code == 0);
        std::map<std::string, std::string> m;
        std::istringstream in(read_file(out));
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            // outcome_id,run_id,process,source_key,target_key,action,error_class,message,…
            std::vector<std::string> cells;
            std::string cell;
            bool quoted = false;
            for (char ch : line) {
                if (ch == '"') quoted = !quoted;
                else if (ch == ',' && !quoted) cells.push_back(cell), cell.clear();
                else if (ch != '\r') cell += ch;
            }
            cells.push_back(cell);
            if (cells.size() > 7) m[cells[3]] = cells[7];
        }
        return m;
    }
};

// Shopify customers per Intacct CUSTOMERID (their tag intacct:<id>), through the Admin API.
std::map<std::string, int> shopify_customers_by_intacct_id(World& w) {
    httplib::Client http("127.0.0.1", w.shop_server.port());
    httplib::Headers h{{"X-Shopify-Access-Token", "shpat_sandbox"}};
    std::map<std::string, int> per_id;
    std::string path = "/admin/api/2024-04/customers.json?limit=250";
    for (int pages = 0; pages < 100 && !path.empty(); ++pages) {
        auto res = http.Get(path, h);
        REQUIRE(res);
        REQUIRE(res->status == 200);
        // Keep the parsed page alive: a range-for over a member of a temporary dangles.
        const json page = json::parse(res->body);
        for (const auto& c : page["customers"]) {
            std::string tags = c.value("tags", "");
            auto at = tags.find("intacct:");
            if (at == std::string::npos) continue;
            auto end = tags.find(',', at);
            per_id[tags.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8)]++;
        }
        std::string link = res->get_header_value("Link");
        std::smatch m;
        path.clear();
        if (std::regex_search(link, m, std::regex(R"(<http://[^/]+([^>]*)>; rel="next")"))) path = m[1];
    }
    return per_id;
}

json admin_put(World& w, const std::string& path, const json& body) {
    httplib::Client http("127.0.0.1", w.shop_server.port());
    httplib::Headers h{{"X-Shopify-Access-Token", "shpat_sandbox"}};
    auto res = http.Put("/admin/api/2024-04/" + path, h, body.dump(), "application/json");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
}

}  // namespace

TEST_CASE("the templates and the demo configuration pass check-config and agree", "[shopify-intacct]") {
    std::string env =
        "SHOPIFY_STORE_DOMAIN=acme.myshopify.com SHOPIFY_TOKEN=t SHOPIFY_LOCATION_ID=1 INTACCT_SENDER_ID=s "
        "INTACCT_SENDER_PASSWORD=p INTACCT_COMPANY_ID=c INTACCT_USER_ID=u INTACCT_USER_PASSWORD=p "
        "SHOPIFY_WEBHOOK_SECRET=w EGUMA_API_KEY=k EGUMA_WEBHOOK_SECRET=w OPERA_CLIENT_SECRET=o "
        "GO_APPLICATION_KEY=a GO_CLIENT_KEY=c GO_SUBSCRIPTION_KEY=s GOMAG_API_KEY=g GOMAG_SHOP_URL=https://x.ro";
    const std::vector<std::string> templates{"config/shopify-intacct.json", "config/shopify-poweroffice.json",
                                             "config/shopify-eguma.json", "config/eguma-opera.json",
                                             "config/gomag-poweroffice.json"};
    std::vector<std::string> files = templates;
    files.push_back("config/demo.json");
    for (const auto& file : files) {
        auto r = run_plexus({"check-config", std::string(PLEXUS_SOURCE_DIR) + "/" + file, "--plugin-dir",
                             PLEXUS_PLUGIN_DIR}, env);
        INFO(file << ": " << r.out);
        CHECK(r.exit_code == 0);
    }
    // The demo runs the templates' processes as written (mapping, dependencies, lookup
    // tables), each on a schedule; the seven Shopify⇄Intacct ones all enabled.
    auto demo = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "config" / "demo.json"));
    std::map<std::string, json> in_demo;
    for (const auto& p : demo["processes"]) {
        INFO(p["id"]);
        CHECK(p.contains("schedule"));
        in_demo[p["id"]] = p;
    }
    for (const auto& file : templates) {
        auto tmpl = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / file));
        for (const auto& p : tmpl["processes"]) {
            INFO(file << ": " << p["id"]);
            REQUIRE(in_demo.count(p["id"]));
            const json& d = in_demo[p["id"]];
            CHECK(d["mapping"] == p["mapping"]);
            CHECK(d.value("dependencies", json()) == p.value("dependencies", json()));
            if (file == "config/shopify-intacct.json") CHECK(d.value("enabled", true));
        }
        const json tables = tmpl.value("lookup_tables", json::object());
        for (const auto& [name, table] : tables.items()) {
            INFO(file << ": lookup table " << name);
            if (name.rfind("_", 0) == 0) continue;
            CHECK(demo["lookup_tables"].value(name, json()) == table);
        }
    }
}

TEST_CASE("Customers Intacct→Shopify: create, nothing twice, one change", "[shopify-intacct]") {
    World w;
    const size_t before = w.shop().count("customers");
    auto first = w.run_ok("customers-intacct-shopify");
    CHECK(first.created == 200);
    CHECK(first.failed == 0);
    CHECK(w.shop().count("customers") == before + 200);
    auto per_id = shopify_customers_by_intacct_id(w);
    CHECK(per_id.size() == 200);
    auto again = w.run_ok("customers-intacct-shopify");
    CHECK(again.created == 0);
    CHECK(again.updated == 0);
    REQUIRE(w.intacct().touch("CUSTOMER", "C-00007", "NAME", "Renamed Kunde AG"));
    auto changed = w.run_ok("customers-intacct-shopify");
    CHECK(changed.created == 0);
    CHECK(changed.updated == 1);
    CHECK(w.shop().count("customers") == before + 200);
}

TEST_CASE("Customers Shopify→Intacct: create, nothing twice, one change", "[shopify-intacct]") {
    World w;
    auto first = w.run_ok("customers-shopify-intacct");
    CHECK(first.created == 30);
    CHECK(first.failed == 0);
    CHECK(w.intacct().count("CUSTOMER") == 230);
    auto again = w.run_ok("customers-shopify-intacct");
    CHECK(again.created == 0);
    CHECK(again.updated == 0);
    int64_t id = w.shop().customers_table().begin()->first;
    admin_put(w, "customers/" + std::to_string(id) + ".json", {{"customer", {{"id", id}, {"first_name", "Renée"}}}});
    auto changed = w.run_ok("customers-shopify-intacct");
    CHECK(changed.created == 0);
    CHECK(changed.updated == 1);
    CHECK(w.intacct().count("CUSTOMER") == 230);
}

TEST_CASE("Product Categories, Products and Inventory Intacct→Shopify", "[shopify-intacct]") {
    World w;
    const size_t collections = w.shop().count("custom_collections");
    const size_t products = w.shop().count("products");
    // Categories: ten product lines → ten collections.
    auto cats = w.run_ok("categories-intacct-shopify");
    CHECK(cats.created == 10);
    CHECK(cats.failed == 0);
    CHECK(w.shop().count("custom_collections") == collections + 10);
    auto cats2 = w.run_ok("categories-intacct-shopify");
    CHECK(cats2.created == 0);
    CHECK(cats2.updated == 0);
    REQUIRE(w.intacct().touch("PRODUCTLINE", "PL-03", "DESCRIPTION", "Apparel & Shoes"));
    auto cats3 = w.run_ok("categories-intacct-shopify");
    CHECK(cats3.created == 0);
    CHECK(cats3.updated == 1);

    // Products: 150 items → 150 products, each in its category's collection.
    auto items = w.run_ok("products-intacct-shopify");
    CHECK(items.created == 150);
    CHECK(items.failed == 0);
    CHECK(w.shop().count("products") == products + 150);
    auto items2 = w.run_ok("products-intacct-shopify");
    CHECK(items2.created == 0);
    CHECK(items2.updated == 0);
    REQUIRE(w.intacct().touch("ITEM", "I-1005", "NAME", "Frame Bicycles 5 (2025)"));
    auto items3 = w.run_ok("products-intacct-shopify");
    CHECK(items3.created == 0);
    CHECK(items3.updated == 1);

    // Inventory: rows of WH-ZRH and WH-BER delivered; WH-LYS (not in warehouse_locations)
    // recorded failed, naming the warehouse.
    auto stock = w.run_ok("inventory-intacct-shopify");
    CHECK(stock.created > 100);
    auto failed = w.failed("inventory-intacct-shopify");
    CHECK(stock.failed == static_cast<int>(failed.size()));
    for (const auto& [key, message] : failed) {
        INFO(key);
        CHECK_THAT(message, Catch::Contains("WH-LYS") && Catch::Contains("warehouse_locations"));
    }
    auto stock2 = w.run_ok("inventory-intacct-shopify");
    CHECK(stock2.created == 0);
    CHECK(stock2.updated == 0);
    REQUIRE(w.intacct().adjust_on_hand("I-1002", "WH-ZRH", 7));
    auto stock3 = w.run_ok("inventory-intacct-shopify");
    CHECK(stock3.created == 0);
    CHECK(stock3.updated == 1);
}

TEST_CASE("Orders Shopify→Intacct: customers first through the ledger, no duplicates", "[shopify-intacct]") {
    World w;
    auto first = w.run_ok("orders-shopify-intacct");
    CHECK(first.created >= 60);  // the orders, plus their customers under the customers process
    CHECK(first.failed == 0);
    CHECK(w.intacct().count("SODOCUMENT") == 60);
    auto again = w.run_ok("orders-shopify-intacct");
    CHECK(again.created == 0);
    CHECK(again.updated == 0);
    // A change in Shopify that the sales order does not carry (a note) → unchanged, and never
    // a second sales order. Sales orders are only created (docs/operations.md).
    {
        auto& [id, order] = *w.shop().orders_table().begin();
        order.data["note"] = "Please gift-wrap";
        order.updated = sb::ShopifySandbox::now_seconds();
        order.data["updated_at"] = sb::ShopifySandbox::format_time(order.updated);
    }
    auto changed = w.run_ok("orders-shopify-intacct");
    CHECK(changed.read == 1);
    CHECK(changed.created == 0);
    CHECK(changed.unchanged == 1);
    CHECK(w.intacct().count("SODOCUMENT") == 60);
    // The customers process then finds every order's customer already in its ledger.
    auto customers = w.run_ok("customers-shopify-intacct");
    CHECK(customers.failed == 0);
    CHECK(w.intacct().count("CUSTOMER") == 230);
}

TEST_CASE("Invoices Intacct→Shopify: status on the order, payment once", "[shopify-intacct]") {
    World w(150);
    auto first = w.run_ok("invoices-intacct-shopify");
    CHECK(first.created > 100);
    // Invoices of voided orders are refused, each with a reason naming the order.
    auto failed = w.failed("invoices-intacct-shopify");
    CHECK(first.failed == static_cast<int>(failed.size()));
    for (const auto& [key, message] : failed) {
        INFO(key);
        CHECK_THAT(message, Catch::Contains("order #"));
    }
    auto again = w.run_ok("invoices-intacct-shopify");
    CHECK(again.created == 0);
    CHECK(again.updated == 0);
    // Change the amount due of an invoice that was delivered.
    std::string invoice;
    for (int n = 1; n <= 150 && invoice.empty(); ++n) {
        char id[16];
        std::snprintf(id, sizeof id, "INV-%05d", n);
        bool was_failed = false;
        for (const auto& [key, message] : failed) was_failed |= message.find(id) != std::string::npos;
        if (!was_failed) invoice = id;
    }
    REQUIRE(!invoice.empty());
    REQUIRE(w.intacct().touch("ARINVOICE", invoice, "TOTALDUE", "12.34"));
    auto changed = w.run_ok("invoices-intacct-shopify");
    CHECK(changed.created == 0);
    CHECK(changed.updated + changed.failed == 1);
    CHECK(changed.updated == 1);
}

TEST_CASE("faults: every record delivered once or failed with a reason", "[shopify-intacct][faults]") {
    World w;
    w.faults({{"error_rate", 0.1}, {"drop_rate", 0.03}, {"burst_429_every", 60}, {"burst_429_length", 2}});
    for (const char* process : {"customers-intacct-shopify", "orders-shopify-intacct"}) {
        auto r = w.run(process);
        INFO(process << ": " << r.out);
        // Succeeded, with failures kept, or stopped early (budget): never a crash.
        CHECK((r.exit_code == 0 || r.exit_code == 2 || r.exit_code == 3));
        for (const auto& [key, message] : w.failed(process)) {
            INFO(key);
            CHECK(message.size() > 10);
        }
    }
    auto per_id = shopify_customers_by_intacct_id(w);
    for (const auto& [id, n] : per_id) {
        INFO(id);
        CHECK(n == 1);
    }
    CHECK(w.intacct().count("SODOCUMENT") <= 60);
    // Faults off: the next runs and replays deliver the rest, still once each.
    w.faults(json::object());
    for (const char* process : {"customers-intacct-shopify", "orders-shopify-intacct"}) {
        w.run_ok(process);
        auto r = run_plexus(w.args("replay", process));
        INFO(r.out);
        CHECK(r.exit_code == 0);
    }
    per_id = shopify_customers_by_intacct_id(w);
    CHECK(per_id.size() == 200);
    for (const auto& [id, n] : per_id) {
        INFO(id);
        CHECK(n == 1);
    }
    CHECK(w.intacct().count("SODOCUMENT") == 60);
}

TEST_CASE("SIGKILL of plexus run mid-run leaves no duplicate sales order or customer", "[shopify-intacct][crash]") {
    World w;
    w.faults({{"latency_ms", 4}});  // runs long enough to be killed in the middle
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> delay_ms(150, 900);
    for (const char* process : {"orders-shopify-intacct", "customers-intacct-shopify"}) {
        int mid_run = 0;
        for (int attempt = 0; attempt < 6; ++attempt) {
            pid_t pid = spawn_plexus(w.args("run", process), w.dir.str("kills.log"));
            REQUIRE(pid > 0);
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
            int status = 0;
            if (waitpid(pid, &status, WNOHANG) == pid) continue;  // finished first
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ++mid_run;
        }
        INFO(process << ": " << read_file(w.dir.path() / "kills.log"));
        CHECK(mid_run >= 1);
        w.run_ok(process);
        auto idle = w.run_ok(process);
        CHECK(idle.created == 0);
    }
    CHECK(w.intacct().count("SODOCUMENT") == 60);
    auto per_id = shopify_customers_by_intacct_id(w);
    CHECK(per_id.size() == 200);
    for (const auto& [id, n] : per_id) {
        INFO(id);
        CHECK(n == 1);
    }
}

TEST_CASE("a wrong password: one clear authentication error, no retry storm", "[shopify-intacct]") {
    SECTION("Intacct") {
        World w(60, "not-the-password");
        const uint64_t before = w.intacct().requests();
        auto start = std::chrono::steady_clock::now();
        auto r = w.run("customers-intacct-shopify");
        INFO(r.out);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.out, Catch::Contains("Sign-in information is incorrect"));
        CHECK(r.out.find("not-the-password") == std::string::npos);
        CHECK(w.intacct().requests() - before <= 2);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    }
    SECTION("Shopify") {
        World w(60, "sandbox_pw", "shpat_wrong_token");
        const uint64_t before = w.shop().request_count();
        auto r = w.run("customers-shopify-intacct");
        INFO(r.out);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.out, Catch::Contains("access token"));
        CHECK(r.out.find("shpat_wrong_token") == std::string::npos);
        CHECK(w.shop().request_count() - before <= 2);
    }
}
