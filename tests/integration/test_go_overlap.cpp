// Exactly-once for Shopify ⇄ PowerOffice Go under `serve` (issue 12): `plexus sandbox` serves
// the Shopify and Go simulators on ephemeral ports with their real budgets (Shopify's leaky
// bucket, Go's sliding 10 requests per second per subscription key); one `plexus serve` runs
// the six processes of config/shopify-poweroffice.json every 1–2 s, so that their runs
// overlap (dependency pulls of customers racing Customers Shopify→Go, orders and sales both
// posting for the same customers); `plexus run` of some of them comes in from another OS
// process at the same time, spending the same Go subscription key, so that both hubs meet
// Go's 429s and must ride them out; invoices are paid and stock counted in Go meanwhile; the
// hub is SIGKILLed mid-run, started again, stopped, and the rest drained. Then, counted through
// the sandboxes' own APIs: no customer twice in Go (by number, by reference, by e-mail), no
// sales order, invoice or sales voucher twice (by ExternalImportReference), every paid invoice's
// order paid in the shop by one transaction of ours, the shop's stock as Go's; and
// `plexus reconcile` clean for every process.
#include "process_fixture.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

constexpr int kCustomers = 20;  // Shopify: 20 customers, 8 orders; pages of 5 (the process page_size)
constexpr int kOrders = 8;
constexpr int kProducts = 8;  // Go's I-1001 … I-1008 go to the shop (every fifth is a service)

std::string go_codes() {
    std::string codes;
    for (int i = 1; i <= kProducts; ++i) codes += (codes.empty() ? "" : ",") + ("I-" + std::to_string(1000 + i));
    return codes;
}

// `plexus sandbox --only shopify --only poweroffice_go` on ephemeral ports: a separate OS
// process, seen by the test only through HTTP.
struct Sandboxes {
    SandboxProcess process{{"shopify", "poweroffice_go"}, {"--seed", "3"}};
    int shop_port = 0, go_port = 0;

    Sandboxes() {
        INFO(read_file(process.log()));
        REQUIRE(process.ok());
        shop_port = process.port("shopify");
        go_port = process.port("poweroffice_go");
    }

    // ---- Shopify, through its Admin API -------------------------------------------------
    httplib::Result shop(const std::string& method, const std::string& path, const json& body = nullptr) {
        httplib::Client http("127.0.0.1", shop_port);
        http.set_read_timeout(30, 0);
        const httplib::Headers h{{"X-Shopify-Access-Token", kShopifyToken}};
        return patient([&] {
            return method == "GET" ? http.Get("/admin/api/2024-04/" + path, h)
                                   : http.Post("/admin/api/2024-04/" + path, h, body.dump(), "application/json");
        });
    }
    json shop_get(const std::string& path, const std::string& member) {
        auto res = shop("GET", path);
        REQUIRE(res);
        INFO(path << ": " << res->status << " " << res->body.substr(0, 500));
        REQUIRE(res->status == 200);
        return json::parse(res->body)[member];
    }
    void shop_control(const json& body) {
        httplib::Client http("127.0.0.1", shop_port);
        auto res = http.Post("/_sandbox/shopify", body.dump(), "application/json");
        REQUIRE(res);
        INFO(res->body);
        REQUIRE(res->status == 200);
    }

    // ---- PowerOffice Go, through its API v2 (token, subscription key) -------------------
    std::string token;
    httplib::Result go(const std::string& path) {
        httplib::Client http("127.0.0.1", go_port);
        http.set_read_timeout(30, 0);
        if (token.empty()) token = go_token(go_port);
        const httplib::Headers h = go_api_headers(token);
        return patient([&] { return http.Get("/v2/" + path, h); });
    }
    // Every row of a Go list (one page of up to 20000 is all these volumes need).
    json go_list(const std::string& path) {
        auto res = go(path + (path.find('?') == std::string::npos ? "?" : "&") + "PageSize=20000");
        REQUIRE(res);
        INFO(path << ": " << res->status << " " << res->body.substr(0, 500));
        REQUIRE((res->status == 200 || res->status == 204));
        return res->status == 204 ? json::array() : json::parse(res->body);
    }
    // The sandbox's own counts (a control route outside the API and its budget).
    json go_state() {
        httplib::Client http("127.0.0.1", go_port);
        auto res = http.Get("/_sandbox/poweroffice_go/state");
        REQUIRE(res);
        REQUIRE(res->status == 200);
        return json::parse(res->body);
    }
    json go_control(const std::string& what, const json& body) {
        httplib::Client http("127.0.0.1", go_port);
        auto res = http.Post("/_sandbox/poweroffice_go/" + what, body.dump(), "application/json");
        REQUIRE(res);
        INFO(what << ": " << res->body);
        REQUIRE(res->status == 200);
        return json::parse(res->body, nullptr, false);
    }
};

struct Hub : TemplateHub {
    Sandboxes& sb;

    explicit Hub(Sandboxes& s) : TemplateHub("shopify-poweroffice.json"), sb(s) {
        settings("shopify") = shopify_settings(sb.process.base_url("shopify"), 655'441'491);
        set_go_settings(settings("go"), sb.process.base_url("poweroffice_go"));
        // Both connections keep their connectors' own budgets (Shopify 2/s, Go 9/s): the
        // sandboxes' real limits then bite only where two hubs share one key.
        for (auto& p : config["processes"]) {
            p["enabled"] = true;  // Sales Shopify→Go too: both ways of booking sales at once
            const bool from_go = p["source"]["connection"] == "go";
            p["schedule"] = {{"interval", from_go ? "1s" : "2s"}};
            p["page_size"] = 5;
            p["batch_size"] = 3;
            if (p["id"] == "products-go-shopify" || p["id"] == "stock-go-shopify") p["source"]["filter"]["codes"] = go_codes();
        }
        save();
    }
};

// Seconds since `t`, to a tenth (the test prints where its time went).
std::string secs(Clock::time_point t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(Clock::now() - t).count());
    return buf;
}

const char* const kOrder[] = {"customers-shopify-go", "orders-shopify-go", "sales-shopify-go",
                              "products-go-shopify",  "stock-go-shopify",  "payments-go-shopify"};

// The two directions spend different budgets (Go's key, Shopify's bucket): each runs its
// three processes in order, the two side by side. Results in kOrder's order, with the time
// each took.
struct Outcome {
    CommandResult result;
    std::string took;
};
std::vector<Outcome> both_directions(const Hub& h, const std::string& command, const std::vector<std::string>& extra = {}) {
    std::vector<Outcome> out(6);
    auto chain = [&](int first) {
        for (int i = first; i < first + 3; ++i) {
            const auto t = Clock::now();
            auto a = h.args(command, kOrder[i]);
            a.insert(a.end(), extra.begin(), extra.end());
            out[i].result = run_plexus(a);
            out[i].took = secs(t);
        }
    };
    std::thread to_go(chain, 0);
    chain(3);
    to_go.join();
    return out;
}

// Our invoices in Go not yet paid whose number is `residue` modulo 3: paid in full, as a bank
// match in Go would (a third are paid while the hubs run, a third after the drain, a third never).
int pay_open_invoices(Sandboxes& sb, std::set<int64_t>& paid, int residue) {
    int n = 0;
    for (const auto& inv : sb.go_list("OutgoingInvoices?onlyCreatedByCurrentIntegration=true&onlyUnpaidInvoices=true")) {
        const int64_t no = inv["InvoiceNo"];
        if (paid.count(no) || no % 3 != residue) continue;
        sb.go_control("pay", {{"invoice_no", no}});
        paid.insert(no);
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("go overlap: Shopify⇄Go processes overlapping in serve, plexus run beside it on the same Go key and a SIGKILL "
          "write nothing twice",
          "[overlap][crash][go]") {
    const auto started = Clock::now();
    Sandboxes sb;
    // A small shop (pages of 5 make every volume cross pages); Go keeps its 1200 customers and
    // 700 products, of which the processes take the shop's customers and eight product codes.
    sb.shop_control({{"seed", {{"customers", kCustomers}, {"products", 4}, {"orders", kOrders}}}});
    const json shop_orders_before = sb.shop_get("orders.json?status=any&limit=250", "orders");
    REQUIRE(shop_orders_before.size() == static_cast<size_t>(kOrders));
    std::map<std::string, std::string> status_before;  // order name → financial_status
    for (const auto& o : shop_orders_before) status_before[o["name"]] = o.value("financial_status", "");
    const size_t go_customers_before = sb.go_list("Customers").size();
    Hub h(sb);

    // Phase 1: serve, with `plexus run` from outside on the same Go key; invoices paid and
    // stock counted in Go while they run. Both are SIGKILLed as soon as half the orders are in
    // Go — while sales orders are being written, between an order's POST and its invoice more
    // often than not — or after 25 s.
    const int64_t orders_seeded = sb.go_state()["sales_orders"];
    pid_t serve = h.serve();
    REQUIRE(serve > 0);
    const char* outside[] = {"orders-shopify-go", "customers-shopify-go", "sales-shopify-go", "payments-go-shopify",
                             "stock-go-shopify"};
    std::set<int64_t> paid;
    int outside_runs = 0, stock_counts = 0;
    std::atomic<pid_t> run{-1};
    std::atomic<bool> killed{false};
    // `plexus run` after `plexus run` from outside, and Go's own changes every 2 s (a stock
    // count, payments of invoices), until `until` or `killed`.
    const auto beside = [&](Clock::time_point until) {
        for (auto next_change = Clock::now(); Clock::now() < until && !killed;) {
            if (run <= 0 || waitpid(run, nullptr, WNOHANG) == run) {
                run = killed ? -1 : h.spawn("run", outside[outside_runs++ % 5]);
                if (killed) break;
                REQUIRE(run > 0);
            }
            if (Clock::now() >= next_change) {
                static const char* const stock_items[] = {"I-1001", "I-1002", "I-1003", "I-1004", "I-1006", "I-1007", "I-1008"};
                sb.go_control("stock", {{"code", stock_items[stock_counts % 7]}, {"on_hand", 40 + stock_counts}});  // I-1005: a service
                ++stock_counts;
                pay_open_invoices(sb, paid, 0);
                next_change = Clock::now() + std::chrono::seconds(2);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    };
    // The watcher: polls Go's order count every 5 ms (the sandbox's control route, outside the
    // API budget) and SIGKILLs serve and the outside run the moment half the orders are there.
    std::atomic<int64_t> orders_at_kill{0};
    std::string killed_at = "25 s (timeout)";
    std::thread watcher([&] {
        httplib::Client http("127.0.0.1", sb.go_port);
        const auto give_up = Clock::now() + std::chrono::seconds(25);
        while (Clock::now() < give_up) {
            auto res = http.Get("/_sandbox/poweroffice_go/state");
            const json state = res && res->status == 200 ? json::parse(res->body, nullptr, false) : json();
            if (state.is_object() && state["sales_orders"].get<int64_t>() - orders_seeded >= kOrders / 2) {
                orders_at_kill = state["sales_orders"].get<int64_t>() - orders_seeded;
                killed_at = secs(started);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        kill(serve, SIGKILL);
        killed = true;
        if (const pid_t r = run; r > 0) kill(r, SIGKILL);
    });
    beside(Clock::now() + std::chrono::seconds(30));
    watcher.join();
    if (const pid_t r = run; r > 0) waitpid(r, nullptr, 0);
    run = -1;
    waitpid(serve, nullptr, 0);
    killed = false;

    // Phase 2: serve again (it closes the killed hub's runs and resolves their intents at
    // start) with more runs from outside, payments and stock counts for 6 s — three rounds of
    // the 2 s schedules — then SIGTERM: it must stop.
    serve = h.serve();
    REQUIRE(serve > 0);
    beside(Clock::now() + 6s);
    const bool stopped = terminate(serve, 60s);
    {
        INFO(read_file(h.dir.path() / "serve.log").substr(0, 20000));
        CHECK(stopped);
    }
    if (run > 0) wait_exit(run, 60s);

    // Phase 3: every process once more in dependency order, failed records replayed; a last
    // payment must reach the shop within one run of Payment status Go→Shopify.
    std::string timing = "sandbox and serve " + secs(started);
    // Both directions at once share Shopify's bucket: a run that spent its budget stops
    // partial (exit 3, "the next run resumes here") and is run again once the other is done.
    for (const char* command : {"run", "replay"}) {
        auto outcomes = both_directions(h, command);
        for (int i = 0; i < 6; ++i) {
            if (std::string(command) == "run") timing += std::string(", ") + kOrder[i] + " " + outcomes[i].took;
            INFO(command << " " << kOrder[i] << ": " << outcomes[i].result.out);
            CHECK((outcomes[i].result.exit_code == 0 || outcomes[i].result.exit_code == 3));
            if (outcomes[i].result.exit_code == 0) continue;
            const auto t = Clock::now();
            auto again = h.plexus(command, kOrder[i]);
            timing += std::string(" (") + command + " again " + secs(t) + ")";
            INFO("again: " << again.out);
            CHECK(again.exit_code == 0);
        }
    }
    // The last Go changes, after the drain (whose orders, invoiced beside Stock Go→Shopify,
    // moved stock too): a payment and the stock must each reach the shop within one run.
    const size_t paid_before_last = paid.size();
    pay_open_invoices(sb, paid, 1);
    for (const char* p : {"payments-go-shopify", "stock-go-shopify"}) {
        auto r = h.plexus("run", p);
        INFO(p << ": " << r.out);
        CHECK(r.exit_code == 0);
    }

    // ---- Go: counted through its API ----------------------------------------------------
    const json customers = sb.go_list("Customers");
    std::map<int64_t, int> per_number;
    std::map<std::string, int> per_reference, per_email;
    for (const auto& c : customers) {
        ++per_number[c.value("Number", int64_t{0})];
        if (c.value("ExternalImportReference", json()).is_string()) ++per_reference[c["ExternalImportReference"]];
        if (c.value("EmailAddress", json()).is_string() && !c["EmailAddress"].get<std::string>().empty()) ++per_email[c["EmailAddress"]];
    }
    std::string doubled;
    for (const auto& [no, n] : per_number)
        if (n > 1) doubled += "number " + std::to_string(no) + " ×" + std::to_string(n) + " ";
    for (const auto& [ref, n] : per_reference)
        if (n > 1) doubled += ref + " ×" + std::to_string(n) + " ";
    for (const auto& [email, n] : per_email)
        if (n > 1) doubled += email + " ×" + std::to_string(n) + " ";
    size_t from_shop = 0;
    for (const auto& [ref, n] : per_reference) from_shop += ref.rfind("shopify-", 0) == 0;
    INFO("customers on several Go customers: " << doubled);
    CHECK(doubled.empty());
    CHECK(from_shop == static_cast<size_t>(kCustomers));
    CHECK(customers.size() == go_customers_before + kCustomers);

    // By reference, and by the order name each carries (CustomMatchingReference): a second
    // order or voucher made under another reference would show there.
    std::map<std::string, int> orders_per_ref, invoices_per_ref, vouchers_per_ref, orders_per_name, vouchers_per_name;
    for (const auto& o : sb.go_list("SalesOrders?onlyCreatedByCurrentIntegration=true")) {
        ++orders_per_ref[o.value("ExternalImportReference", "")];
        ++orders_per_name[o.value("CustomMatchingReference", "")];
    }
    const json invoices = sb.go_list("OutgoingInvoices?onlyCreatedByCurrentIntegration=true");
    for (const auto& i : invoices) ++invoices_per_ref[i.value("ExternalImportReference", "")];
    for (const auto& e : sb.go_list("Customerledger/Statement?fromDate=2000-01-01&toDate=2100-12-31&onlyCreatedByCurrentIntegration=true"))
        if (e.value("ExternalImportReference", json()).is_string() &&
            e["ExternalImportReference"].get<std::string>().rfind("shopify-sale-", 0) == 0)
            ++vouchers_per_ref[e["ExternalImportReference"]];
        else if (e.value("VoucherType", "") == "ManualJournal")
            ++vouchers_per_name["(another reference) " + e.value("CustomMatchingReference", "")];
    CHECK(orders_per_ref.size() == static_cast<size_t>(kOrders));
    CHECK(invoices_per_ref.size() == static_cast<size_t>(kOrders));
    CHECK(vouchers_per_ref.size() == static_cast<size_t>(kOrders));
    CHECK(orders_per_name.size() == static_cast<size_t>(kOrders));
    CHECK(vouchers_per_name.empty());
    for (const auto* m : {&orders_per_ref, &invoices_per_ref, &vouchers_per_ref, &orders_per_name, &vouchers_per_name})
        for (const auto& [ref, n] : *m) {
            INFO(ref << " ×" << n);
            CHECK(n == 1);
        }

    // ---- Shopify: the paid invoices' orders paid, by one transaction of ours -----------
    CHECK(paid.size() > paid_before_last);  // the last payment came after the drain …
    std::map<std::string, json> order_by_name;
    for (const auto& o : sb.shop_get("orders.json?status=any&limit=250", "orders")) order_by_name[o["name"]] = o;
    int marked_paid = 0;
    for (const auto& inv : invoices) {
        if (!paid.count(inv["InvoiceNo"].get<int64_t>())) continue;
        const std::string name = inv["CustomMatchingReference"];
        REQUIRE(order_by_name.count(name));
        const json& order = order_by_name[name];
        INFO(name << ": " << order.dump().substr(0, 400));
        // … and reached the shop within one run: the order is paid, unless the shop had
        // refunded or voided it (nothing is due there; the hub records no payment).
        const std::string before = status_before[name];
        if (before == "refunded" || before == "voided" || before == "partially_refunded") CHECK(order["financial_status"] == before);
        else CHECK(order["financial_status"] == "paid");
        // Paid once: at most one transaction that the shop's own checkout did not make.
        int ours = 0;
        for (const auto& t : sb.shop_get("orders/" + order["id"].dump() + "/transactions.json", "transactions"))
            if (t.value("source_name", "") != "web") ++ours;
        CHECK(ours <= 1);
        ++marked_paid;
    }
    CHECK(marked_paid == static_cast<int>(paid.size()));

    // ---- Shopify: one product per Go product, its stock as Go's -------------------------
    const json products = sb.shop_get("products.json?limit=250", "products");
    std::map<std::string, int> per_sku;
    std::map<std::string, int64_t> item_of;
    for (const auto& p : products)
        for (const auto& v : p.value("variants", json::array()))
            if (v.value("sku", json()).is_string()) {
                ++per_sku[v["sku"]];
                item_of[v["sku"]] = v["inventory_item_id"];
            }
    const json go_products = sb.go_list("Products?codes=" + go_codes());
    REQUIRE(go_products.size() == static_cast<size_t>(kProducts));
    std::string items;
    for (const auto& p : go_products) {
        const std::string code = p["Code"];
        INFO(code);
        CHECK(per_sku[code] == 1);
        if (p.value("IsStockItem", false) && item_of.count(code))
            items += (items.empty() ? "" : ",") + std::to_string(item_of[code]);
    }
    std::map<int64_t, int64_t> level;
    for (const auto& l : sb.shop_get("inventory_levels.json?location_ids=655441491&inventory_item_ids=" + items, "inventory_levels"))
        level[l["inventory_item_id"]] = l.value("available", int64_t{-1});
    for (const auto& p : go_products) {
        if (!p.value("IsStockItem", false)) continue;
        const std::string code = p["Code"];
        INFO(code << " in Go: " << p.dump());
        REQUIRE(item_of.count(code));
        CHECK(level[item_of[code]] == std::llround(p.value("StockAvailable", p.value("StockOnHand", 0.0))));
    }

    // ---- the ledger agrees with the targets ----------------------------------------------
    timing += ", counting to " + secs(started);
    const auto reports = both_directions(h, "reconcile", {"--format", "json"});
    for (int i = 0; i < 6; ++i) {
        const std::string id = kOrder[i];
        const CommandResult& r = reports[i].result;
        timing += ", reconcile " + id + " " + reports[i].took;
        INFO(id << ": " << r.out);
        CHECK(r.exit_code == 0);
        const json report = json_of(r.out);
        REQUIRE(report.is_object());
        CHECK(report["status"] == "clean");
        if (id == "customers-shopify-go") CHECK(report["ledger_entries"] == kCustomers);
        if (id == "orders-shopify-go" || id == "sales-shopify-go") CHECK(report["ledger_entries"] == kOrders);
        if (id == "products-go-shopify") CHECK(report["ledger_entries"] == kProducts);
    }
    const json go_state = sb.go_state();
    WARN("go overlap: " << outside_runs << " outside runs, SIGKILL at " << killed_at << " with " << orders_at_kill << " of "
                        << kOrders << " orders in Go, " << paid.size() << " invoices paid, " << go_state["requests"]
                        << " requests to Go of which " << go_state["rate_limited"] << " answered 429; " << timing << "; "
                        << secs(started) << " in all");
}
