// Run order from the mappings in force (issue 13; docs/operations.md, "Run all in order"): a
// ref() added to a mapping in the portal (core/service/mapping_admin.*, Hub::use_mapping)
// makes the process it names a prerequisite at once — "Run all in order" runs that one
// first, and the scheduler holds the edited process's scheduled runs until its first
// success — and a revert takes it away again. A cycle made of two portal edits is refused.
#include "support.hpp"

#include "engine/hub.hpp"
#include "service/mapping_admin.hpp"
#include "service/operations.hpp"

#include <catch2/catch.hpp>

using namespace plexus;
using namespace plexus::test;

namespace {

// orders is listed before customers and its file mapping names no other process: by the
// file alone, nothing orders the two. The customers' ledger is what the edited mapping's
// ref() reads.
struct World {
    TempDir dir;
    PluginRegistry registry;
    std::unique_ptr<Store> store;
    json config;

    World() {
        registry.load_directory(PLEXUS_PLUGIN_DIR);
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        store = open_sqlite_store(dir.str("plexus.db"));
        config = json{
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"customers", jsonl_entity("customers.jsonl")},
                                                         {"orders", jsonl_entity("orders.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"customers", jsonl_entity("customers.jsonl", "id", "")},
                                                         {"orders", jsonl_entity("orders.jsonl", "id", "")}})}}},
            {"serve", {{"run_at_start", "none"}}},
            {"processes",
             json::array({{{"id", "orders"},
                           {"source", {{"connection", "src"}, {"entity", "orders"}}},
                           {"target", {{"connection", "dst"}, {"entity", "orders"}}},
                           {"mapping", {{"id", "id"}, {"customer", "customer_id"}}},
                           {"schedule", {{"interval", "1m"}}}},
                          {{"id", "customers"},
                           {"source", {{"connection", "src"}, {"entity", "customers"}}},
                           {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                           {"mapping", {{"id", "concat(\"C-\", id)"}, {"name", "name"}}}}})}};
        std::vector<json> customers, orders;
        for (int i = 1; i <= 3; ++i) {
            customers.push_back({{"id", std::to_string(i)}, {"name", "n" + std::to_string(i)},
                                 {"updated_at", "2024-05-01T10:00:0" + std::to_string(i) + "Z"}});
            orders.push_back({{"id", "O" + std::to_string(i)}, {"customer_id", std::to_string(i)},
                              {"updated_at", "2024-05-01T11:00:0" + std::to_string(i) + "Z"}});
        }
        write_jsonl(dir.path() / "src" / "customers.jsonl", customers);
        write_jsonl(dir.path() / "src" / "orders.jsonl", orders);
    }
    Config parsed() {
        std::vector<ConfigError> errors;
        Config out = parse_config(config.dump(), "test.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        return out;
    }
};

const json kOrdersWithRef = {{"id", "id"}, {"customer", "ref(\"customers\", customer_id)"}};

// Waits (bounded) until the run-all has ended.
bool run_all_ended(Operations& ops) {
    for (int i = 0; i < 3000; ++i) {
        auto st = ops.scheduler().run_all_status();
        if (st && !st->active) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

}  // namespace

TEST_CASE("run all: a ref() added to a mapping in the portal orders the run at once, and a "
          "revert takes it away",
          "[runall][mapping]") {
    World w;
    ManualClock clock(1'780'000'000'000);
    Hub hub(w.parsed(), w.registry, *w.store, clock);
    Operations ops(hub, SchedulerOptions{2, 60000});
    MappingAdmin mappings(hub);
    CHECK(hub.dependency_order() == std::vector<std::string>{"orders", "customers"});
    CHECK(hub.prerequisites("orders").empty());

    // The operator adds the ref() in the portal: orders now waits for customers.
    MappingWrite saved = mappings.save("orders", {{"mapping", kOrdersWithRef}}, "otto");
    INFO(saved.message);
    REQUIRE(saved.status == OpStatus::ok);
    CHECK(hub.dependency_order() == std::vector<std::string>{"customers", "orders"});
    CHECK(hub.prerequisites("orders") == std::vector<std::string>{"customers"});

    // The scheduler holds orders' scheduled run: customers never succeeded.
    clock.advance(61'000);
    CHECK(ops.scheduler().tick() == 0);
    REQUIRE(ops.scheduler().status("orders"));
    CHECK(ops.scheduler().status("orders")->waiting_for == std::vector<std::string>{"customers"});

    // A cycle made of two portal edits is refused (customers → orders → customers).
    MappingWrite cycle =
        mappings.save("customers", {{"mapping", {{"id", "ref(\"orders\", id)"}, {"name", "name"}}}}, "otto");
    CHECK(cycle.status == OpStatus::invalid);
    bool named_cycle = false;
    for (const auto& e : cycle.errors) named_cycle = named_cycle || e.message.find("cycle") != std::string::npos;
    CHECK(named_cycle);

    // Run all in order: customers first, then orders, whose ref() finds every customer.
    std::vector<std::string> order;
    REQUIRE(ops.run_all("manual", false, "otto", &order).status == OpStatus::ok);
    CHECK(order == std::vector<std::string>{"customers", "orders"});
    REQUIRE(run_all_ended(ops));
    ops.scheduler().wait_idle();
    auto st = ops.scheduler().run_all_status();
    REQUIRE(st);
    CHECK(st->not_succeeded.empty());
    CHECK(st->succeeded == std::vector<std::string>{"customers", "orders"});
    // The held due time was the run-all's run of orders: no second run after it.
    CHECK(ops.scheduler().status("orders")->started == 1);
    CHECK(ops.scheduler().status("orders")->waiting_for.empty());
    auto orders_out = read_jsonl(w.dir.path() / "dst" / "orders.jsonl");
    REQUIRE(orders_out.size() == 3);
    for (const auto& o : orders_out) CHECK(o["customer"].get<std::string>().rfind("C-", 0) == 0);
    OutcomeQuery failed;
    failed.process_id = "orders";
    failed.action = action::failed;
    CHECK(w.store->outcomes(failed).empty());

    // Back to the file's mapping (version 0): no prerequisite, and the order is the file's.
    MappingWrite reverted = mappings.revert("orders", {{"version", 0}}, "otto");
    REQUIRE(reverted.status == OpStatus::ok);
    CHECK(hub.prerequisites("orders").empty());
    CHECK(hub.dependency_order() == std::vector<std::string>{"orders", "customers"});
    ops.stop();
}

TEST_CASE("run all: a held process whose ref() is reverted in the portal is released",
          "[runall][mapping]") {
    World w;
    ManualClock clock(1'780'000'000'000);
    {
        // Stored before the hub starts, as a portal edit of an earlier serve: in force from
        // the start, for the order and for the scheduler.
        MappingVersion v;
        v.process_id = "orders";
        v.mapping_json = kOrdersWithRef.dump();
        v.actor = "otto";
        REQUIRE(w.store->add_mapping_version(v, "mapping.edit", "{}") == 1);
    }
    Hub hub(w.parsed(), w.registry, *w.store, clock);
    CHECK(hub.dependency_order() == std::vector<std::string>{"customers", "orders"});
    Operations ops(hub, SchedulerOptions{2, 60000});
    MappingAdmin mappings(hub);
    clock.advance(61'000);
    CHECK(ops.scheduler().tick() == 0);  // held for customers
    CHECK(ops.scheduler().status("orders")->waiting_for == std::vector<std::string>{"customers"});
    // The ref() goes: orders waits for nothing any more and starts at once.
    REQUIRE(mappings.revert("orders", {{"version", 0}}, "otto").status == OpStatus::ok);
    ops.scheduler().wait_idle();
    CHECK(ops.scheduler().status("orders")->waiting_for.empty());
    CHECK(ops.scheduler().status("orders")->started == 1);
    CHECK(read_jsonl(w.dir.path() / "dst" / "orders.jsonl").size() == 3);
    ops.stop();
}
