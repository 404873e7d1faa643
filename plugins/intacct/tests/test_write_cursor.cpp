// Write results carry the written customer's cursor (WHENMODIFIED, normalised as a read reports
// it), so the engine's echo check keeps a two-way customer sync from writing its own writes
// back. Also: what happens to a write Intacct had already received (repeated controlid).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "config/config.hpp"
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"
#include "intacct_fixture.hpp"
#include "store/store.hpp"

using namespace intacct_test;
namespace fs = std::filesystem;

namespace {

json customer_create(const std::string& key, const json& data) {
    return {{"op", "create"}, {"idempotency_key", key}, {"data", data}};
}

// The record with `key` among an incremental read's records, or null.
json find_key(const std::vector<json>& records, const std::string& key) {
    for (const auto& r : records)
        if (r["key"] == key) return r;
    return nullptr;
}

}  // namespace

TEST_CASE("a customer write returns the WHENMODIFIED a later read reports as the cursor",
          "[intacct][echo]") {
    World w;
    auto inst = w.instance();
    std::string cursor;
    read_all(*inst, "customers", cursor, 500);  // the read position before the writes

    json batch{{"entity", "customers"},
               {"records",
                {customer_create("k1", {{"CUSTOMERID", "SHOP-1"}, {"NAME", "Anna Muster"}}),
                 customer_create("k2", {{"NAME", "ID derived from the key"}}),
                 customer_create("k3", {{"CUSTOMERID", "SHOP-3"}})}}};  // no NAME: fails
    json reply = ok_json(inst->write_batch(batch));
    auto& r = reply["results"];
    REQUIRE(r.size() == 3);
    REQUIRE(r[0]["status"] == PLEXUS_OK);
    REQUIRE(r[1]["status"] == PLEXUS_OK);
    CHECK(r[2]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_FALSE(r[2].contains("cursor"));
    REQUIRE(r[0].contains("cursor"));
    REQUIRE(r[1].contains("cursor"));
    CHECK_THAT(r[0]["cursor"].get<std::string>(),
               Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));

    // The reverse direction reads them back: the very same cursor values.
    auto changed = read_all(*w.instance(), "customers", cursor, 500);
    json one = find_key(changed, "SHOP-1"), two = find_key(changed, r[1]["target_key"]);
    REQUIRE(one.is_object());
    REQUIRE(two.is_object());
    CHECK(one["cursor"] == r[0]["cursor"]);
    CHECK(two["cursor"] == r[1]["cursor"]);

    // An update reports the record's new WHENMODIFIED, again the one a read then sees.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // Intacct stamps seconds
    json upd{{"entity", "customers"},
             {"records",
              {{{"op", "update"},
                {"idempotency_key", "k1"},
                {"target_key", "SHOP-1"},
                {"data", {{"NAME", "Anna Muster-Meier"}}}}}}};
    json ur = ok_json(inst->write_batch(upd));
    REQUIRE(ur["results"][0]["status"] == PLEXUS_OK);
    REQUIRE(ur["results"][0].contains("cursor"));
    CHECK(ur["results"][0]["cursor"] != r[0]["cursor"]);
    json found = ok_json(inst->lookup({{"entity", "customers"}, {"key", "SHOP-1"}}));
    CHECK(found["record"]["cursor"] == ur["results"][0]["cursor"]);
}

TEST_CASE(
    "Customers files⇄Intacct: what Plexus wrote is not written back, a real edit travels once",
    "[intacct][echo]") {
    World w;
    std::random_device rd;
    fs::path dir = fs::temp_directory_path() /
                   ("plexus-intacct-echo-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(dir / "shop");
    struct Cleanup {
        fs::path p;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } cleanup{dir};
    {
        std::ofstream out(dir / "shop" / "customers.jsonl");
        for (int i = 1; i <= 3; ++i)
            out << json{{"id", "SHOP-" + std::to_string(i)},
                        {"name", "Zoë Shop " + std::to_string(i)},
                        {"email", "shop" + std::to_string(i) + "@example.ch"},
                        {"updated_at", "2023-01-01T00:00:00Z"}}
                       .dump()
                << "\n";
    }
    json config{
        {"connections",
         {{"shop",
           {{"connector", "files"},
            {"settings",
             {{"directory", (dir / "shop").string()},
              {"entities",
               {{"customers",
                 {{"path", "customers.jsonl"}, {"key", "id"}, {"cursor", "updated_at"}}}}}}}}},
          {"intacct", {{"connector", "intacct"}, {"settings", w.settings()}}}}},
        {"processes",
         json::array(
             {{{"id", "customers-shop-intacct"},
               {"name", "Customers files→Intacct"},
               {"source", {{"connection", "shop"}, {"entity", "customers"}}},
               {"target", {{"connection", "intacct"}, {"entity", "customers"}}},
               {"mapping",
                {{"CUSTOMERID", "id"},
                 {"NAME", "name"},
                 {"DISPLAYCONTACT", {{"fields", {{"PRINTAS", "name"}, {"EMAIL1", "email"}}}}}}}},
              {{"id", "customers-intacct-shop"},
               {"name", "Customers Intacct→files"},
               {"source", {{"connection", "intacct"}, {"entity", "customers"}}},
               {"target", {{"connection", "shop"}, {"entity", "customers"}}},
               {"mapping",
                {{"id", "CUSTOMERID"},
                 {"name", "NAME"},
                 {"email", "DISPLAYCONTACT.EMAIL1"},
                 {"updated_at",
                  R"(date(WHENMODIFIED, "%Y-%m-%dT%H:%M:%SZ", "%m/%d/%Y %H:%M:%S"))"}}}}})}};
    plexus::PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    auto store = plexus::open_sqlite_store((dir / "plexus.db").string());
    auto run = [&](const std::string& process) {
        std::vector<plexus::ConfigError> errors;
        plexus::Config c = plexus::parse_config(config.dump(), "echo.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        plexus::Hub hub(std::move(c), registry, *store, plexus::SystemClock::instance());
        plexus::SyncEngine engine(hub);
        auto summary = engine.run(process);
        INFO(process << ": " << summary.status << " " << summary.message);
        REQUIRE(summary.status == "succeeded");
        return summary;
    };
    auto shop_size = [&] { return fs::file_size(dir / "shop" / "customers.jsonl"); };

    auto out = run("customers-shop-intacct");
    CHECK(out.counts.created == 3);
    CHECK(w.control().count("CUSTOMER") == 203);

    // Intacct→files reads the 200 seeded customers and the 3 Plexus wrote: those 3 are its
    // partner's writes, unchanged since (same WHENMODIFIED) — linked, not written back.
    auto back = run("customers-intacct-shop");
    CHECK(back.counts.read == 203);
    CHECK(back.counts.created == 200);
    CHECK(back.counts.unchanged == 3);
    CHECK(back.counts.updated == 0);
    plexus::OutcomeQuery q;
    q.run_id = back.run_id;
    q.text = "not synced back";
    CHECK(store->outcomes(q).size() == 3);

    // files→Intacct then sees the 200 lines Intacct→files wrote: echoes too, nothing sent.
    uint64_t requests = w.control().requests();
    auto forth = run("customers-shop-intacct");
    CHECK(forth.counts.read == 200);
    CHECK(forth.counts.unchanged == 200);
    CHECK(forth.counts.created + forth.counts.updated == 0);
    CHECK(w.control().count("CUSTOMER") == 203);
    CHECK(w.control().requests() == requests);

    // Someone edits SHOP-2 in Intacct (a later second than Plexus's write): it goes to the
    // files once, as an update, and does not come back.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    REQUIRE(w.control().touch("CUSTOMER", "SHOP-2", "NAME", "Zoë Shop 2 (edited in Intacct)"));
    auto size_before = shop_size();
    auto edit = run("customers-intacct-shop");
    CHECK(edit.counts.read == 1);
    CHECK(edit.counts.updated == 1);
    CHECK(edit.counts.created == 0);
    CHECK(shop_size() > size_before);
    requests = w.control().requests();
    auto quiet = run("customers-shop-intacct");
    CHECK(quiet.counts.read == 1);
    CHECK(quiet.counts.unchanged == 1);
    CHECK(quiet.counts.created + quiet.counts.updated == 0);
    CHECK(w.control().requests() == requests);
    CHECK(run("customers-intacct-shop").counts.read == 0);
}

namespace {
json order_for(const std::string& customer, const std::string& ref) {
    return {{"entity", "sales_orders"},
            {"records",
             {{{"op", "create"},
               {"idempotency_key", "order-" + ref},
               {"data",
                {{"customerid", customer},
                 {"referenceno", ref},
                 {"datecreated", "2024-05-02"},
                 {"lines", {{{"itemid", "I-1002"}, {"quantity", 1}}}}}}}}}};
}
}  // namespace

TEST_CASE("a create that failed is sent again once its cause is fixed", "[intacct]") {
    World w;
    // The order's customer does not exist yet: that record fails, naming it and the error
    // (after the connector looked for the order by its reference and found none).
    json first = ok_json(w.instance()->write_batch(order_for("NEW-CUST", "#4001")));
    CHECK(first["results"][0]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(first["results"][0]["message"].get<std::string>(),
               Catch::Contains("sales order #4001") && Catch::Contains("BL03000018") &&
                   Catch::Contains("NEW-CUST"));
    size_t orders = w.control().count("SODOCUMENT");

    // The customer arrives; the replay is a new request with function controlids of its own
    // (a failed function's controlid is never reused), so Intacct runs it.
    json cust{
        {"entity", "customers"},
        {"records", {customer_create("c", {{"CUSTOMERID", "NEW-CUST"}, {"NAME", "Neu Kunde"}})}}};
    REQUIRE(ok_json(w.instance()->write_batch(cust))["results"][0]["status"] == PLEXUS_OK);
    json replay = ok_json(w.instance()->write_batch(order_for("NEW-CUST", "#4001")));
    INFO(replay.dump());
    CHECK(replay["results"][0]["status"] == PLEXUS_OK);
    CHECK(w.control().count("SODOCUMENT") == orders + 1);
    // What the host asks before any further create of it: found, by its reference.
    json found = ok_json(w.instance()->lookup({{"entity", "sales_orders"},
                                               {"idempotency_key", "order-#4001"},
                                               {"data", order_for("NEW-CUST", "#4001")["records"][0]["data"]}}));
    REQUIRE(found["found"].get<bool>());
    CHECK(found["record"]["key"] == replay["results"][0]["target_key"]);
}

TEST_CASE("an update back to earlier data is applied, not mistaken for a repeat", "[intacct]") {
    World w;
    auto update = [&](const std::string& name) {
        json b{{"entity", "customers"},
               {"records",
                {{{"op", "update"},
                  {"idempotency_key", "u"},
                  {"target_key", "C-00009"},
                  {"data", {{"NAME", name}}}}}}};
        json r = ok_json(w.instance()->write_batch(b));
        REQUIRE(r["results"][0]["status"] == PLEXUS_OK);
    };
    auto name = [&] {
        json f = ok_json(w.instance()->lookup({{"entity", "customers"}, {"key", "C-00009"}}));
        return f["record"]["data"]["NAME"].get<std::string>();
    };
    update("Ana Novák");
    update("Ana Novák-Berg");
    CHECK(name() == "Ana Novák-Berg");
    update("Ana Novák");  // the same request as the first: same controlid
    CHECK(name() == "Ana Novák");
}
