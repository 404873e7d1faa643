// The engine end to end through the real loader and the files connector: creates, nothing
// written twice, updates, failures kept and replayed, dependencies, aggregates, rewind.
#include "engine_world.hpp"

#include "engine/payload_hash.hpp"
#include "engine/sync_engine.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace plexus;
using namespace plexus::test;

namespace {

// A small world: a source directory, a target directory, a store, a configuration.
struct World : EngineWorld {
    World() {
        config = json{
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"customers", jsonl_entity("customers.jsonl")},
                                                        {"orders", jsonl_entity("orders.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"customers", jsonl_entity("customers.jsonl", "id", "")},
                                                        {"orders", jsonl_entity("orders.jsonl", "number", "")},
                                                        {"postings", jsonl_entity("postings.jsonl", "id", "")}})}}},
            {"processes",
             json::array({{{"id", "customers"},
                           {"name", "Customers src→dst"},
                           {"source", {{"connection", "src"}, {"entity", "customers"}}},
                           {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                           {"mapping", {{"id", "id"}, {"email", "lower(trim(email))"}, {"name", "name"}}},
                           {"page_size", 7},
                           {"batch_size", 3}}})}};
    }

    void write_customers(int n, const std::string& stamp = "2024-05-01T10:00:00Z") {
        std::vector<json> records;
        for (int i = 1; i <= n; ++i)
            records.push_back({{"id", "C" + std::to_string(i)}, {"email", "  User" + std::to_string(i) + "@Example.COM "},
                               {"name", "Zoë " + std::to_string(i)}, {"updated_at", stamp}});
        write_jsonl(dir.path() / "src" / "customers.jsonl", records);
    }

    void append(const std::string& file, const json& record) {
        std::ofstream out(dir.path() / "src" / file, std::ios::app);
        out << record.dump() << "\n";
    }

    RunSummary run(const std::string& process, bool replay = false, RunOptions options = {}) {
        Hub hub(parsed(config), registry, *store, SystemClock::instance());
        SyncEngine engine(hub);
        return replay ? engine.replay(process, options) : engine.run(process, options);
    }

    // Target records by key, counting duplicates (the files connector appends updates, so
    // only the last version of a key counts as its content).
    std::map<std::string, json> target(const std::string& file, const std::string& key, std::map<std::string, int>* creates = nullptr) {
        std::map<std::string, json> out;
        for (const auto& r : read_jsonl(dir.path() / "dst" / file)) {
            std::string k = r[key].is_string() ? r[key].get<std::string>() : r[key].dump();
            if (creates && !out.count(k)) (*creates)[k]++;
            out[k] = r;
        }
        return out;
    }
};

}  // namespace

TEST_CASE("first run creates, second writes nothing, a change updates exactly that record", "[engine]") {
    World w;
    w.write_customers(20);
    auto first = w.run("customers");
    CHECK(first.status == "succeeded");
    CHECK(first.counts.read == 20);
    CHECK(first.counts.created == 20);
    auto t = w.target("customers.jsonl", "id");
    REQUIRE(t.size() == 20);
    CHECK(t["C3"]["email"] == "user3@example.com");
    CHECK(t["C3"]["name"] == "Zoë 3");
    auto size_after_first = fs::file_size(w.dir.path() / "dst" / "customers.jsonl");

    auto second = w.run("customers");
    CHECK(second.status == "succeeded");
    CHECK(second.counts.read == 0);  // incremental: nothing new past the cursor
    CHECK(second.counts.created + second.counts.updated == 0);
    CHECK(fs::file_size(w.dir.path() / "dst" / "customers.jsonl") == size_after_first);

    w.append("customers.jsonl", {{"id", "C5"}, {"email", "new@example.com"}, {"name", "Zoë 5"}, {"updated_at", "2024-05-02T09:00:00Z"}});
    auto third = w.run("customers");
    CHECK(third.counts.read == 1);
    CHECK(third.counts.updated == 1);
    CHECK(third.counts.created == 0);
    CHECK(w.target("customers.jsonl", "id")["C5"]["email"] == "new@example.com");
}

TEST_CASE("after a cursor rewind only updates and unchanged", "[engine]") {
    World w;
    w.write_customers(15);
    REQUIRE(w.run("customers").counts.created == 15);
    w.store->rewind_cursor("customers", "2024-01-01T00:00:00Z", "test", 1);
    auto again = w.run("customers");
    CHECK(again.counts.read == 15);
    CHECK(again.counts.unchanged == 15);
    CHECK(again.counts.created == 0);
    CHECK(again.counts.updated == 0);
    auto audit = w.store->audit_log();
    REQUIRE(!audit.empty());
    CHECK(audit.front().action == "cursor.rewind");
}

TEST_CASE("a mapping failure is recorded per record, kept, and replayed once fixed", "[engine]") {
    World w;
    w.config["processes"][0]["mapping"]["amount"] = "number(credit)";
    std::vector<json> recs;
    for (int i = 1; i <= 5; ++i)
        recs.push_back({{"id", "C" + std::to_string(i)}, {"email", "a@b.c"}, {"name", "n"},
                        {"credit", i == 3 ? "lots" : "10.5"}, {"updated_at", "2024-05-01T10:00:0" + std::to_string(i) + "Z"}});
    write_jsonl(w.dir.path() / "src" / "customers.jsonl", recs);
    auto run = w.run("customers");
    // Reached the end, but not every record was delivered: not a plain "succeeded".
    CHECK(run.status == "succeeded_with_failures");
    CHECK(run.counts.created == 4);
    CHECK(run.counts.failed == 1);
    auto failed = w.store->failed_records("customers");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].source_key == "C3");
    CHECK(failed[0].error_class == "mapping");
    CHECK_THAT(failed[0].message, Catch::Contains("C3"));
    CHECK_THAT(failed[0].message, Catch::Contains("amount"));
    OutcomeQuery q;
    q.run_id = run.run_id;
    q.action = "failed";
    REQUIRE(w.store->outcomes(q).size() == 1);

    // The operator fixes the mapping; replay delivers the record and empties the queue.
    w.config["processes"][0]["mapping"]["amount"] = "default(credit, \"0\")";
    auto replay = w.run("customers", true);
    CHECK(replay.counts.created == 1);
    CHECK(replay.counts.failed == 0);
    CHECK(w.store->failed_count("customers") == 0);
    CHECK(w.target("customers.jsonl", "id").size() == 5);
}

TEST_CASE("an order whose customer was never synced gets its customer first", "[engine]") {
    World w;
    w.write_customers(3);
    w.config["processes"].push_back(
        {{"id", "orders"},
         {"name", "Orders src→dst"},
         {"source", {{"connection", "src"}, {"entity", "orders"}}},
         {"target", {{"connection", "dst"}, {"entity", "orders"}}},
         {"dependencies", json::array({{{"process", "customers"}, {"key", "customer_id"}}})},
         {"mapping",
          {{"number", "name"},
           {"customer", "ref(\"customers\", customer_id)"},
           {"total", "sum(lines, mul(price, qty))"},
           {"lines", {{"each", "lines"}, {"fields", {{"sku", "upper(sku)"}, {"qty", "qty"}}}}}}}});
    write_jsonl(w.dir.path() / "src" / "orders.jsonl",
                {{{"id", "O1"}, {"name", "#1001"}, {"customer_id", "C2"}, {"updated_at", "2024-05-01T11:00:00Z"},
                  {"lines", json::array({{{"sku", "ab-1"}, {"price", "19.99"}, {"qty", 2}}, {{"sku", "cd-2"}, {"price", "0.02"}, {"qty", 1}}})}},
                 {{"id", "O2"}, {"name", "#1002"}, {"customer_id", "C404"}, {"updated_at", "2024-05-01T11:01:00Z"},
                  {"lines", json::array()}}});
    auto run = w.run("orders");
    CHECK(run.counts.created == 1);
    CHECK(run.counts.failed == 1);
    auto orders = w.target("orders.jsonl", "number");
    REQUIRE(orders.count("#1001"));
    CHECK(orders["#1001"]["customer"] == "C2");
    CHECK(orders["#1001"]["total"] == Approx(40.0));
    CHECK(orders["#1001"]["lines"][0]["sku"] == "AB-1");
    // The customer was created through the customers process's ledger, exactly once.
    CHECK(w.store->ledger_find("customers", "C2"));
    auto customers = w.target("customers.jsonl", "id");
    CHECK(customers.size() == 1);
    auto failed = w.store->failed_records("orders");
    REQUIRE(failed.size() == 1);
    CHECK_THAT(failed[0].message, Catch::Contains("C404"));
    // The customers process later finds C2 already synced: unchanged, not created twice.
    auto c = w.run("customers");
    CHECK(c.counts.created == 2);
    CHECK(c.counts.unchanged == 1);
}

TEST_CASE("aggregate mode sums ten vouchers into one posting, and never twice", "[engine]") {
    World w;
    w.config["processes"] = json::array(
        {{{"id", "postings"},
          {"name", "Voucher sales → postings"},
          {"source", {{"connection", "src"}, {"entity", "orders"}}},
          {"target", {{"connection", "dst"}, {"entity", "postings"}}},
          {"mode", "aggregate"},
          {"aggregate", {{"group_by", {"code", "date"}}, {"sum", {"amount"}}}},
          {"mapping", {{"code", "code"}, {"date", "date(sold_at, \"%Y-%m-%d\")"}, {"amount", "amount"}, {"currency", {{"const", "CHF"}}}}}}});
    std::vector<json> sales;
    for (int i = 0; i < 10; ++i)
        sales.push_back({{"id", "V" + std::to_string(i)}, {"code", "VOUCHER"}, {"amount", "50.00"},
                         {"sold_at", "2024-05-01T09:0" + std::to_string(i) + ":00Z"}, {"updated_at", "2024-05-01T09:0" + std::to_string(i) + ":00Z"}});
    sales.push_back({{"id", "T1"}, {"code", "TICKET"}, {"amount", "12.50"}, {"sold_at", "2024-05-01T10:00:00Z"}, {"updated_at", "2024-05-01T10:00:00Z"}});
    write_jsonl(w.dir.path() / "src" / "orders.jsonl", sales);
    auto run = w.run("postings");
    CHECK(run.status == "succeeded");
    CHECK(run.counts.created == 11);  // one outcome per source record
    auto postings = read_jsonl(w.dir.path() / "dst" / "postings.jsonl");
    REQUIRE(postings.size() == 2);
    CHECK(postings[0]["code"] == "VOUCHER");
    CHECK(postings[0]["amount"] == "500.00");
    CHECK(postings[1]["amount"] == "12.50");
    // Re-reading everything posts nothing again.
    w.store->rewind_cursor("postings", "2024-01-01T00:00:00Z", "test", 1);
    auto again = w.run("postings");
    CHECK(again.counts.unchanged == 11);
    CHECK(read_jsonl(w.dir.path() / "dst" / "postings.jsonl").size() == 2);
}

TEST_CASE("a run that cannot read its source fails with a clear message", "[engine]") {
    World w;
    write_jsonl(w.dir.path() / "src" / "customers.jsonl", {});
    w.write_customers(2);
    { std::ofstream(w.dir.path() / "src" / "customers.jsonl", std::ios::app) << "{ broken json\n"; }
    auto run = w.run("customers");
    CHECK(run.status == "failed");
    CHECK_THAT(run.message, Catch::Contains("customers"));
    CHECK_THAT(run.message, Catch::Contains("customers.jsonl:3: malformed JSON"));
    auto rec = w.store->run(run.run_id);
    REQUIRE(rec);
    CHECK(rec->status == "failed");
}

TEST_CASE("one run of a process at a time", "[engine]") {
    World w;
    w.write_customers(3);
    REQUIRE(w.store->acquire_lease("customers", "someone-else", SystemClock::instance().now_ms(), 60'000));
    auto run = w.run("customers");
    CHECK(run.status == "skipped");
    CHECK(run.run_id == 0);
    CHECK(!fs::exists(w.dir.path() / "dst" / "customers.jsonl"));
}

TEST_CASE("a create that finds the record already in the target links and updates it", "[engine]") {
    World w;
    w.write_customers(3);
    // C2 exists in the target already (made by hand, not by Plexus).
    write_jsonl(w.dir.path() / "dst" / "customers.jsonl",
                {{{"id", "C2"}, {"email", "old@example.com"}, {"name", "Old name"}}});
    auto run = w.run("customers");
    CHECK(run.status == "succeeded");
    CHECK(run.counts.created == 2);
    CHECK(run.counts.updated == 1);
    CHECK(run.counts.failed == 0);
    auto t = w.target("customers.jsonl", "id");
    CHECK(t.size() == 3);
    CHECK(t["C2"]["email"] == "user2@example.com");
    auto link = w.store->ledger_find("customers", "C2");
    REQUIRE(link);
    CHECK(link->target_key == "C2");
}

TEST_CASE("an open intent whose create did happen is adopted, not created again", "[engine]") {
    World w;
    w.write_customers(2);
    // A run died after writing C1 to the target but before committing its outcome: the
    // intent is open and the record carries the idempotency key.
    json mapped{{"id", "C1"}, {"email", "user1@example.com"}, {"name", "Zoë 1"}};
    std::string key = idempotency_key("customers", "C1");
    json written = mapped;
    written["_plexus_idempotency_key"] = key;
    write_jsonl(w.dir.path() / "dst" / "customers.jsonl", {written});
    int64_t run_id = w.store->begin_run("customers", "cli", 1);
    w.store->finish_run(run_id, "abandoned", "", 2);
    Intent intent;
    intent.process_id = "customers";
    intent.run_id = run_id;
    intent.source_key = "C1";
    intent.idempotency_key = key;
    intent.payload_json = mapped.dump();
    intent.payload_hash = payload_hash(mapped);
    intent.created_ms = 1;
    w.store->open_intents({intent});

    auto run = w.run("customers");
    CHECK(run.status == "succeeded");
    CHECK(w.store->pending_intents("customers").empty());
    std::map<std::string, int> creates;
    auto t = w.target("customers.jsonl", "id", &creates);
    CHECK(t.size() == 2);
    CHECK(creates["C1"] == 1);
    CHECK(read_jsonl(w.dir.path() / "dst" / "customers.jsonl").size() == 2);  // C1 not written again
    // Counted once: C1 recovered (not created), then read again as unchanged; C2 created.
    CHECK(run.counts.read == 2);
    CHECK(run.counts.created == 1);
    CHECK(run.counts.unchanged == 1);
    CHECK(run.counts.recovered == 1);
    CHECK(w.store->run(run.run_id)->counts.recovered == 1);
    OutcomeQuery q;
    q.process_id = "customers";
    q.text = "adopted";
    CHECK(w.store->outcomes(q).size() == 1);
}

TEST_CASE("a batch's open intents are resolved one by one: adopted if written, else created", "[engine]") {
    World w;
    w.write_customers(4);
    // A run died in the middle of a write batch of three creates (C1, C2, C3) whose intents
    // the store keeps together: only C2 reached the target.
    std::vector<Intent> intents;
    int64_t run_id = w.store->begin_run("customers", "cli", 1);
    w.store->finish_run(run_id, "abandoned", "", 2);
    for (int i = 1; i <= 3; ++i) {
        const std::string id = "C" + std::to_string(i);
        json mapped{{"id", id}, {"email", "user" + std::to_string(i) + "@example.com"},
                    {"name", "Zoë " + std::to_string(i)}};
        Intent intent;
        intent.process_id = "customers";
        intent.run_id = run_id;
        intent.source_key = id;
        intent.idempotency_key = idempotency_key("customers", id);
        intent.payload_json = mapped.dump();
        intent.payload_hash = payload_hash(mapped);
        intent.created_ms = 1;
        intents.push_back(intent);
        if (i == 2) {
            mapped["_plexus_idempotency_key"] = intent.idempotency_key;
            write_jsonl(w.dir.path() / "dst" / "customers.jsonl", {mapped});
        }
    }
    REQUIRE(w.store->open_intents(intents).size() == 3);
    REQUIRE(w.store->pending_intents("customers").size() == 3);

    auto run = w.run("customers");
    CHECK(run.status == "succeeded");
    CHECK(w.store->pending_intents("customers").empty());
    std::map<std::string, int> creates;
    auto t = w.target("customers.jsonl", "id", &creates);
    CHECK(t.size() == 4);
    for (const auto& [k, n] : creates) {
        INFO(k);
        CHECK(n == 1);
    }
    CHECK(read_jsonl(w.dir.path() / "dst" / "customers.jsonl").size() == 4);  // C2 not written again
    CHECK(run.counts.read == 4);
    CHECK(run.counts.created == 3);
    CHECK(run.counts.unchanged == 1);
    CHECK(run.counts.recovered == 1);
    OutcomeQuery q;
    q.process_id = "customers";
    q.text = "adopted";
    auto adopted = w.store->outcomes(q);
    REQUIRE(adopted.size() == 1);
    CHECK(adopted[0].source_key == "C2");
}

// The orders world of the dependency tests: customers C1, C2 and one order of C1.
void add_orders(World& w) {
    w.write_customers(2);
    w.config["processes"].push_back(
        {{"id", "orders"},
         {"name", "Orders"},
         {"source", {{"connection", "src"}, {"entity", "orders"}}},
         {"target", {{"connection", "dst"}, {"entity", "orders"}}},
         {"dependencies", json::array({{{"process", "customers"}, {"key", "customer_id"}}})},
         {"mapping", {{"number", "name"}, {"customer", "ref(\"customers\", customer_id)"}}}});
    write_jsonl(w.dir.path() / "src" / "orders.jsonl",
                {{{"id", "O1"}, {"name", "#1"}, {"customer_id", "C1"}, {"updated_at", "2024-05-01T11:00:00Z"}}});
}

TEST_CASE("a dependency whose process is running is not synced behind its back", "[engine]") {
    World w;
    add_orders(w);
    // Another host's run of the customers process holds its lease.
    REQUIRE(w.store->acquire_lease("customers", "elsewhere:1:1", SystemClock::instance().now_ms(), 60'000));
    RunOptions quick;
    quick.dependency_wait_ms = 300;
    const auto started = std::chrono::steady_clock::now();
    auto run = w.run("orders", false, quick);
    CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(300));  // it waited
    CHECK(run.counts.failed == 1);
    CHECK(run.status == "succeeded_with_failures");
    auto failed = w.store->failed_records("orders");
    REQUIRE(failed.size() == 1);
    CHECK_THAT(failed[0].message, Catch::Contains("process customers is held by a run") &&
                                      Catch::Contains("has not synced C1 yet") && Catch::Contains("replay"));
    CHECK(!fs::exists(w.dir.path() / "dst" / "customers.jsonl"));
    // The other host's lease is untouched: nobody releases a lease they do not hold.
    CHECK(w.store->lease_holder("customers", SystemClock::instance().now_ms()) == std::string("elsewhere:1:1"));
    // Once it is free, the replay syncs the customer first and then the order.
    w.store->release_lease("customers", "elsewhere:1:1");
    auto replay = w.run("orders", true);
    CHECK(replay.counts.created == 1);
    CHECK(w.store->ledger_find("customers", "C1"));
}

TEST_CASE("a dependency pull waits for the dependency's live run to sync the record", "[engine]") {
    World w;
    add_orders(w);
    // The customers run "of another thread" holds the lease and commits C1 to its ledger
    // after 300 ms, then ends: the order must use that customer, never write a second.
    REQUIRE(w.store->acquire_lease("customers", "elsewhere:1:2", SystemClock::instance().now_ms(), 60'000));
    std::thread live([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        auto other = open_sqlite_store(w.dir.str("plexus.db"));
        PageCommit c;
        c.process_id = "customers";
        c.run_id = other->begin_run("customers", "schedule", 1);
        c.now_ms = SystemClock::instance().now_ms();
        c.ledger.push_back({"C1", "C1-target", "hash", ""});
        c.fences.push_back({"customers", "elsewhere:1:2", 60'000});
        other->commit_page(c);
        other->release_lease("customers", "elsewhere:1:2");
    });
    RunOptions patient;
    patient.dependency_wait_ms = 10'000;
    auto run = w.run("orders", false, patient);
    live.join();
    CHECK(run.status == "succeeded");
    CHECK(run.counts.created == 1);
    CHECK(run.counts.failed == 0);
    CHECK(!fs::exists(w.dir.path() / "dst" / "customers.jsonl"));  // nothing written beside it
    auto orders = w.target("orders.jsonl", "number");
    REQUIRE(orders.size() == 1);
    CHECK(orders.begin()->second["customer"] == "C1-target");
}

TEST_CASE("a commit whose lease was taken over is refused whole (fencing)", "[engine][store]") {
    World w;
    auto& store = *w.store;
    const int64_t now = SystemClock::instance().now_ms();
    REQUIRE(store.acquire_lease("customers", "a:1:1/run", now - 20'000, 1'000));  // expired
    REQUIRE(store.acquire_lease("customers", "b:2:1/run", now, 60'000));          // taken over
    PageCommit c;
    c.process_id = "customers";
    c.run_id = store.begin_run("customers", "schedule", now);
    c.now_ms = now;
    c.ledger.push_back({"C9", "T9", "h", ""});
    c.cursor = CursorState{std::string("late"), std::nullopt};
    c.fences.push_back({"customers", "a:1:1/run", 60'000});
    CHECK_THROWS_AS(store.commit_page(c), LeaseLost);
    CHECK_FALSE(store.ledger_find("customers", "C9"));
    CHECK(store.cursor("customers").cursor != std::optional<std::string>("late"));
    // The holder's own commit goes in, and renews its lease.
    c.fences = {{"customers", "b:2:1/run", 60'000}};
    store.commit_page(c);
    CHECK(store.ledger_find("customers", "C9"));
}

TEST_CASE("replay pages through a long failed queue where some records fail again", "[engine]") {
    World w;  // page_size 7
    std::vector<json> recs;
    for (int i = 1; i <= 20; ++i)
        recs.push_back({{"id", "C" + std::to_string(i)}, {"email", "a@b.c"}, {"name", "n"}, {"bad", "x"},
                        {"credit", i % 2 ? "1" : "x"}, {"updated_at", "2024-05-01T10:00:00Z"}});
    write_jsonl(w.dir.path() / "src" / "customers.jsonl", recs);
    w.config["processes"][0]["mapping"]["credit"] = "number(bad)";
    auto run = w.run("customers");
    REQUIRE(run.counts.failed == 20);
    REQUIRE(w.store->failed_count("customers") == 20);

    w.config["processes"][0]["mapping"]["credit"] = "number(credit)";
    auto replay = w.run("customers", true);
    CHECK(replay.counts.read == 20);  // every queued record tried exactly once
    CHECK(replay.counts.created == 10);
    CHECK(replay.counts.failed == 10);
    CHECK(w.store->failed_count("customers") == 10);
    auto t = w.target("customers.jsonl", "id");
    CHECK(t.size() == 10);
    for (int i = 1; i <= 20; i += 2) CHECK(t.count("C" + std::to_string(i)) == 1);
}

TEST_CASE("a two-way sync does not ping-pong, and a real change travels back once", "[engine][echo]") {
    World w;
    // Customers both ways between src and dst, each side with its own cursor field.
    w.config["connections"]["dst"]["settings"]["entities"]["customers"] = jsonl_entity("customers.jsonl", "id", "updated_at");
    json mapping{{"id", "id"}, {"email", "email"}, {"name", "name"}, {"updated_at", "updated_at"}};
    w.config["processes"] = json::array(
        {{{"id", "src-to-dst"}, {"name", "Customers src→dst"},
          {"source", {{"connection", "src"}, {"entity", "customers"}}},
          {"target", {{"connection", "dst"}, {"entity", "customers"}}}, {"mapping", mapping}},
         {{"id", "dst-to-src"}, {"name", "Customers dst→src"},
          {"source", {{"connection", "dst"}, {"entity", "customers"}}},
          {"target", {{"connection", "src"}, {"entity", "customers"}}}, {"mapping", mapping}}});
    w.write_customers(5);
    auto src_file = w.dir.path() / "src" / "customers.jsonl";
    auto dst_file = w.dir.path() / "dst" / "customers.jsonl";

    CHECK(w.run("src-to-dst").counts.created == 5);
    auto src_size = fs::file_size(src_file);
    // Reading back what Plexus wrote: five echoes, nothing written back.
    auto back = w.run("dst-to-src");
    CHECK(back.counts.read == 5);
    CHECK(back.counts.unchanged == 5);
    CHECK(back.counts.created + back.counts.updated == 0);
    CHECK(fs::file_size(src_file) == src_size);
    OutcomeQuery q;
    q.run_id = back.run_id;
    q.text = "not synced back";
    CHECK(w.store->outcomes(q).size() == 5);

    // Someone edits C2 in dst: it goes back to src once, as an update, never as a create …
    { std::ofstream(dst_file, std::ios::app) << json{{"id", "C2"}, {"email", "edited@example.com"}, {"name", "Zoë 2"}, {"updated_at", "2024-06-01T08:00:00Z"}}.dump() << "\n"; }
    auto edit = w.run("dst-to-src");
    CHECK(edit.counts.read == 1);
    CHECK(edit.counts.updated == 1);
    CHECK(edit.counts.created == 0);
    // … and src→dst then sees its own partner's write: no write to dst again.
    auto dst_size = fs::file_size(dst_file);
    auto forth = w.run("src-to-dst");
    CHECK(forth.counts.read == 1);
    CHECK(forth.counts.unchanged == 1);
    CHECK(forth.counts.updated + forth.counts.created == 0);
    CHECK(fs::file_size(dst_file) == dst_size);
    // Quiet from here on.
    CHECK(w.run("dst-to-src").counts.read == 0);
    CHECK(w.run("src-to-dst").counts.read == 0);
    std::map<std::string, int> creates;
    auto src = w.target("customers.jsonl", "id", &creates);  // (reads dst; src checked below)
    CHECK(src.at("C2")["email"] == "edited@example.com");
    int c2_versions = 0;
    for (const auto& r : read_jsonl(src_file)) c2_versions += r["id"] == "C2";
    CHECK(c2_versions == 2);  // the original and the one update
}

TEST_CASE("reconcile: clean after runs; a record gone, an open intent in the target, adopted", "[engine][reconcile]") {
    World w;
    w.write_customers(4);
    REQUIRE(w.run("customers").counts.created == 4);
    auto reconcile = [&](bool adopt) {
        std::vector<ConfigError> errors;
        Config c = parse_config(w.config.dump(), "test.json", errors);
        Hub hub(std::move(c), w.registry, *w.store, SystemClock::instance());
        ReconcileOptions o;
        o.adopt = adopt;
        o.actor = "test";
        return SyncEngine(hub).reconcile("customers", o);
    };
    auto clean = reconcile(false);
    CHECK(clean.status == "clean");
    CHECK(clean.ledger_entries == 4);
    CHECK(clean.findings.empty());

    // C2 deleted from the target by hand; C9 created by a run that died before its commit.
    std::vector<json> kept;
    for (auto& r : read_jsonl(w.dir.path() / "dst" / "customers.jsonl"))
        if (r["id"] != "C2") kept.push_back(r);
    json c9{{"id", "C9"}, {"email", "user9@example.com"}, {"name", "Zoë 9"}};
    Intent intent;
    intent.process_id = "customers";
    intent.run_id = w.store->begin_run("customers", "cli", 1);
    intent.source_key = "C9";
    intent.idempotency_key = idempotency_key("customers", "C9");
    intent.payload_json = c9.dump();
    intent.payload_hash = payload_hash(c9);
    intent.created_ms = 1;
    w.store->open_intents({intent});
    json written = c9;
    written["_plexus_idempotency_key"] = intent.idempotency_key;
    kept.push_back(written);
    write_jsonl(w.dir.path() / "dst" / "customers.jsonl", kept);

    auto found = reconcile(false);
    CHECK(found.status == "findings");
    std::map<std::string, std::string> kinds;
    for (const auto& f : found.findings) kinds[f.source_key] = f.kind;
    CHECK(kinds["C2"] == "missing_in_target");
    CHECK(kinds["C9"] == "not_in_ledger");
    CHECK(kinds.size() == 2);
    CHECK_FALSE(w.store->ledger_find("customers", "C9"));

    auto adopted = reconcile(true);
    CHECK(adopted.adopted == 1);
    auto entry = w.store->ledger_find("customers", "C9");
    REQUIRE(entry);
    CHECK(entry->target_key == "C9");
    CHECK(w.store->pending_intents("customers").empty());
    auto audit = w.store->audit_log(10);
    REQUIRE(!audit.empty());
    CHECK(audit.front().action == "process.reconcile.adopt");
    CHECK(audit.front().actor == "test");

    // While the process runs (its lease held elsewhere), reconcile is skipped.
    REQUIRE(w.store->acquire_lease("customers", "elsewhere:1:3", SystemClock::instance().now_ms(), 60'000));
    CHECK(reconcile(false).status == "skipped");
}
