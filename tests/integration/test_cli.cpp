// The command line as an operator uses it: exit statuses, error lines, audited rewinds.
#include "support.hpp"

#include "store/store.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

struct CliWorld {
    TempDir dir;
    json config;
    CliWorld() {
        config = files_customers_config(dir.path());
        write_jsonl(dir.path() / "src" / "customers.jsonl",
                    {{{"id", "A"}, {"credit", "1.5"}, {"updated_at", "2024-05-01T10:00:00Z"}},
                     {{"id", "B"}, {"credit", "n/a"}, {"updated_at", "2024-05-02T10:00:00Z"}}});
        save();
    }
    void save() { write_file(dir.path() / "plexus.json", config.dump(2)); }
    CommandResult plexus(std::vector<std::string> args) {
        args.insert(args.end(), {"--config", dir.str("plexus.json"), "--data", dir.str("var"), "--plugin-dir", PLEXUS_PLUGIN_DIR});
        return run_plexus(args);
    }
};

}  // namespace

TEST_CASE("check-config names file, JSON path and problem, and exits 1", "[cli]") {
    CliWorld w;
    w.config["processes"][0]["schedule"] = {{"cron", "*/5 * * *"}};
    w.config["processes"][0]["target"]["entity"] = "customerz";
    w.config["connections"]["src"]["connector"] = "filez";
    w.save();
    auto r = run_plexus({"check-config", w.dir.str("plexus.json"), "--plugin-dir", PLEXUS_PLUGIN_DIR});
    INFO(r.out);
    CHECK(r.exit_code == 1);
    std::string file = w.dir.str("plexus.json");
    CHECK_THAT(r.out, Catch::Contains(file + ": /processes/0/schedule/cron"));
    CHECK_THAT(r.out, Catch::Contains("4 fields"));
    CHECK_THAT(r.out, Catch::Contains(file + ": /connections/src/connector"));
    CHECK_THAT(r.out, Catch::Contains("filez"));
    CHECK_THAT(r.out, Catch::Contains("/processes/0/target/entity"));

    auto broken = w.dir.path() / "broken.json";
    write_file(broken, "{\n  \"connections\": {,\n}");
    auto b = run_plexus({"check-config", broken.string(), "--plugin-dir", PLEXUS_PLUGIN_DIR});
    CHECK(b.exit_code == 1);
    CHECK_THAT(b.out, Catch::Contains("broken.json"));
    CHECK_THAT(b.out, Catch::Contains("line 2"));

    auto missing = run_plexus({"check-config", w.dir.str("nope.json"), "--plugin-dir", PLEXUS_PLUGIN_DIR});
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.out, Catch::Contains("nope.json"));
}

TEST_CASE("run reports failed records with exit 2, replay and rewind work from the CLI", "[cli]") {
    CliWorld w;
    REQUIRE(run_plexus({"check-config", w.dir.str("plexus.json"), "--plugin-dir", PLEXUS_PLUGIN_DIR}).exit_code == 0);
    auto r = w.plexus({"run", "customers"});
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("failed B (mapping)"));
    CHECK_THAT(r.out, Catch::Contains("plexus replay customers"));

    auto again = w.plexus({"run", "customers"});
    CHECK(again.exit_code == 0);

    auto unknown = w.plexus({"run", "orders"});
    CHECK(unknown.exit_code == 64);
    CHECK_THAT(unknown.out, Catch::Contains("no process \"orders\""));

    auto bad_time = w.plexus({"cursor", "customers", "--rewind-to", "yesterday"});
    CHECK(bad_time.exit_code == 64);
    CHECK_THAT(bad_time.out, Catch::Contains("not an ISO 8601 time"));

    auto rewind = w.plexus({"cursor", "customers", "--rewind-to", "2024-05-01"});
    CHECK(rewind.exit_code == 0);
    CHECK_THAT(rewind.out, Catch::Contains("rewound to 2024-05-01T00:00:00Z"));
    CHECK_THAT(rewind.out, Catch::Contains("audited as cli:"));
    auto show = w.plexus({"cursor", "customers"});
    CHECK_THAT(show.out, Catch::Contains("since 2024-05-01T00:00:00Z"));

    // After the rewind, A is unchanged; B still fails (its mapping is still wrong).
    auto after = w.plexus({"run", "customers"});
    CHECK(after.exit_code == 2);
    CHECK_THAT(after.out, Catch::Matches("(.|\n)*unchanged +1(.|\n)*"));

    // The source is fixed: replay delivers B.
    write_jsonl(w.dir.path() / "src" / "customers.jsonl",
                {{{"id", "A"}, {"credit", "1.5"}, {"updated_at", "2024-05-01T10:00:00Z"}},
                 {{"id", "B"}, {"credit", "2"}, {"updated_at", "2024-05-03T10:00:00Z"}}});
    w.config["processes"][0]["mapping"]["credit"] = "default(number(credit), 0)";
    w.save();
    auto run_fixed = w.plexus({"run", "customers"});
    INFO(run_fixed.out);
    CHECK(run_fixed.exit_code == 0);
    auto replay = w.plexus({"replay", "customers"});
    CHECK(replay.exit_code == 0);
}

TEST_CASE("commands explain themselves and refuse bad usage", "[cli]") {
    auto help = run_plexus({"--help"});
    CHECK(help.exit_code == 0);
    for (const char* cmd : {"serve", "run", "replay", "cursor", "plugins", "check-config"}) {
        CHECK_THAT(help.out, Catch::Contains(cmd));
        auto h = run_plexus({cmd, "--help"});
        INFO(cmd << ": " << h.out);
        CHECK(h.exit_code == 0);
        CHECK_THAT(h.out, Catch::Contains("usage: plexus"));
    }
    auto unknown = run_plexus({"frobnicate"});
    CHECK(unknown.exit_code == 64);
    auto bad_option = run_plexus({"plugins", "--format", "yaml"});
    CHECK(bad_option.exit_code == 64);
    CHECK_THAT(bad_option.out, Catch::Contains("--format must be text or json"));
}

TEST_CASE("serve runs processes on their schedule and stops gracefully on SIGTERM", "[cli][serve]") {
    CliWorld w;
    w.config["processes"][0]["mapping"]["credit"] = "default(credit, \"\")";
    w.config["processes"][0]["schedule"] = {{"interval", "1s"}};
    w.config["serve"] = {{"run_at_start", "none"}};  // only the schedule runs it
    w.save();
    std::string log = w.dir.str("serve.log");
    pid_t pid = spawn_plexus({"serve", "--config", w.dir.str("plexus.json"), "--data", w.dir.str("var"),
                              "--plugin-dir", PLEXUS_PLUGIN_DIR, "--listen", "127.0.0.1:0"},
                             log);
    REQUIRE(pid > 0);
    // The scheduled run delivers both records within a few seconds.
    auto target = w.dir.path() / "dst" / "customers.jsonl";
    CHECK(eventually([&] { return read_jsonl(target).size() == 2; }, 10s));
    int status = 0;
    REQUIRE(terminate(pid, 10s, &status));
    INFO(read_file(log));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::string text = read_file(log);
    CHECK_THAT(text, Catch::Contains("(1 scheduled)"));
    CHECK_THAT(text, Catch::Contains("stopped"));
    // Runs were started by the scheduler, and the second run onwards found nothing new.
    auto store = plexus::open_sqlite_store(w.dir.str("var/plexus.db"));
    plexus::RunQuery q;
    q.process_id = "customers";
    auto runs = store->runs(q);
    REQUIRE(!runs.empty());
    for (const auto& r : runs) CHECK(r.trigger == "schedule");
    CHECK(store->schedule_anchor("customers"));
}

TEST_CASE("plexus run checks the process's connections before reading anything", "[cli]") {
    CliWorld w;
    w.config["connections"]["dst"]["settings"]["directory"] = w.dir.str("no-such-folder");
    w.save();
    auto r = w.plexus({"run", "customers"});
    INFO(r.out);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::Contains("connection \"dst\" (files) failed its check (config)"));
    CHECK_THAT(r.out, Catch::Contains("no-such-folder does not exist"));
    CHECK_THAT(r.out, Catch::Contains("nothing was read or written"));
    // --no-check starts the run anyway, and it is the first run: the check recorded none.
    auto forced = w.plexus({"run", "customers", "--no-check"});
    INFO(forced.out);
    CHECK_THAT(forced.out, !Catch::Contains("failed its check"));
    CHECK_THAT(forced.out, Catch::Contains("(customers), run 1:"));
}

TEST_CASE("plexus run --all runs every enabled process after the ones it depends on", "[cli]") {
    CliWorld w;
    auto& conns = w.config["connections"];
    conns["src"]["settings"]["entities"]["orders"] = jsonl_entity("orders.jsonl", "id", "");
    conns["dst"]["settings"]["entities"]["orders"] = jsonl_entity("orders.jsonl", "id", "");
    // Listed before the customers process it needs, and a disabled one that must not run.
    json orders = {{"id", "orders"},
                   {"source", {{"connection", "src"}, {"entity", "orders"}}},
                   {"target", {{"connection", "dst"}, {"entity", "orders"}}},
                   {"mapping", {{"id", "id"}, {"customer", "ref(\"customers\", customer)"}}}};
    json disabled = orders;
    disabled["id"] = "orders-copy";
    disabled["enabled"] = false;
    auto& procs = w.config["processes"];
    procs.insert(procs.begin(), orders);
    procs.push_back(disabled);
    write_jsonl(w.dir.path() / "src" / "orders.jsonl", {{{"id", "O1"}, {"customer", "A"}}});
    w.save();

    auto r = w.plexus({"run", "--all"});
    INFO(r.out);
    CHECK(r.exit_code == 2);  // customer B has a credit of "n/a": one record failed, kept
    CHECK_THAT(r.out, Catch::Contains("Running 2 enabled processes in dependency order"));
    const auto customers = r.out.find("(customers), run 1");
    const auto orders_run = r.out.find("(orders), run 2");
    REQUIRE(customers != std::string::npos);
    REQUIRE(orders_run != std::string::npos);
    CHECK(customers < orders_run);
    CHECK(r.out.find("orders-copy") == std::string::npos);
    // The order found its customer: written with the target key customers wrote for A.
    CHECK_THAT(read_file(w.dir.path() / "dst" / "orders.jsonl"), Catch::Contains("\"customer\":\"A\""));

    auto both = w.plexus({"run", "customers", "--all"});
    CHECK(both.exit_code == 64);
    CHECK_THAT(both.out, Catch::Contains("name one process, or --all"));

    // The operator's switch in the portal (stored) wins over the file's "enabled", as it does
    // for the scheduler: orders switched off and orders-copy switched on.
    {
        auto store = plexus::open_sqlite_store(w.dir.str("var/plexus.db"));
        store->set_process_enabled("orders", false, "ann", 1);
        store->set_process_enabled("orders-copy", true, "ann", 1);
    }
    auto switched = w.plexus({"run", "--all"});
    INFO(switched.out);
    CHECK_THAT(switched.out, Catch::Contains("Running 2 enabled processes in dependency order"));
    CHECK_THAT(switched.out, Catch::Contains("(orders-copy), run"));
    CHECK(switched.out.find("(orders), run") == std::string::npos);
}

TEST_CASE("serve runs the processes that never ran once at start, prerequisites first",
          "[cli][serve]") {
    CliWorld w;
    auto& conns = w.config["connections"];
    conns["src"]["settings"]["entities"]["orders"] = jsonl_entity("orders.jsonl", "id", "");
    conns["dst"]["settings"]["entities"]["orders"] = jsonl_entity("orders.jsonl", "id", "");
    // Orders (listed first) need customers; neither has a schedule: only the start runs them.
    json orders = {{"id", "orders"},
                   {"source", {{"connection", "src"}, {"entity", "orders"}}},
                   {"target", {{"connection", "dst"}, {"entity", "orders"}}},
                   {"mapping", {{"id", "id"}, {"customer", "ref(\"customers\", customer)"}}}};
    auto& procs = w.config["processes"];
    procs.insert(procs.begin(), orders);
    write_jsonl(w.dir.path() / "src" / "orders.jsonl", {{{"id", "O1"}, {"customer", "A"}}});
    w.save();
    auto serve = [&](const std::string& log) {
        return spawn_plexus({"serve", "--config", w.dir.str("plexus.json"), "--data", w.dir.str("var"),
                             "--plugin-dir", PLEXUS_PLUGIN_DIR, "--listen", "127.0.0.1:0"},
                            log);
    };
    auto runs_of = [&](const std::string& id) {
        auto store = plexus::open_sqlite_store(w.dir.str("var/plexus.db"));
        plexus::RunQuery q;
        q.process_id = id;
        return store->runs(q);
    };

    const std::string log1 = w.dir.str("serve1.log");
    pid_t pid = serve(log1);
    REQUIRE(pid > 0);
    CHECK(wait_for_text(log1, "run all (start) finished: 2 of 2 process(es) completed", 30s));
    INFO(read_file(log1));
    CHECK(stop_gracefully(pid));
    auto customers = runs_of("customers");
    auto order_runs = runs_of("orders");
    REQUIRE(customers.size() == 1);
    REQUIRE(order_runs.size() == 1);
    CHECK(customers[0].trigger == "start");
    CHECK(order_runs[0].trigger == "start");
    // Orders started only after customers had finished, so the order found its customer.
    CHECK(order_runs[0].started_ms >= customers[0].finished_ms);
    CHECK(order_runs[0].counts.created == 1);
    CHECK_THAT(read_file(w.dir.path() / "dst" / "orders.jsonl"), Catch::Contains("\"customer\":\"A\""));

    // A restart runs nothing: each has completed a run (customers with a failed record).
    const std::string log2 = w.dir.str("serve2.log");
    pid = serve(log2);
    REQUIRE(pid > 0);
    CHECK(wait_for_text(log2, "run at start (new): every enabled process has completed a run already", 30s));
    CHECK(stop_gracefully(pid));
    CHECK(runs_of("customers").size() == 1);

    // "all" runs both again at every start, in the same order.
    w.config["serve"] = {{"run_at_start", "all"}};
    w.save();
    const std::string log3 = w.dir.str("serve3.log");
    pid = serve(log3);
    REQUIRE(pid > 0);
    CHECK(wait_for_text(log3, "run all (start) finished: 2 of 2 process(es) completed", 30s));
    CHECK(stop_gracefully(pid));
    CHECK(runs_of("customers").size() == 2);
    CHECK(runs_of("orders").size() == 2);
}
