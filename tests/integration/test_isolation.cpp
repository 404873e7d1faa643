// Connectors run out of process (issue 10, rows 1–2; docs/design/004-connector-isolation.md):
// a connector that crashes, aborts, hangs or leaks in read or write loses its worker process
// only. The run ends failed with a message naming the connector, the call and the signal or
// deadline; open intents stay for the next run; other processes carry on; `serve` stops on
// SIGTERM within a bounded time even while a worker hangs.
#include "support.hpp"

#include "config/config.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "store/store.hpp"

#include <httplib.h>

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace plexus::test;
using namespace plexus;

namespace {

json misbehaving(const std::string& fault, double call_timeout_s = 1) {
    return json{{"connector", "misbehave"},
                {"settings", {{"fault", fault}, {"records", 3}}},
                {"call_timeout_s", call_timeout_s},
                {"memory_limit_mb", 256}};
}

json process(const std::string& id, const std::string& src, const std::string& src_entity,
             const std::string& dst, const std::string& dst_entity) {
    return json{{"id", id},
                {"source", {{"connection", src}, {"entity", src_entity}}},
                {"target", {{"connection", dst}, {"entity", dst_entity}}},
                {"mapping", {{"id", "id"}, {"name", "name"}}}};
}

struct World {
    TempDir dir;
    json config;
    World() {
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        write_jsonl(dir.path() / "src" / "items.jsonl",
                    {{{"id", "A"}, {"name", "one"}, {"updated_at", "2024-05-01T10:00:00Z"}},
                     {{"id", "B"}, {"name", "two"}, {"updated_at", "2024-05-02T10:00:00Z"}}});
        config = json{{"connections",
                       {{"src", files_connection(dir.str("src"), {{"items", jsonl_entity("items.jsonl")}})},
                        {"dst", files_connection(dir.str("dst"), {{"items", jsonl_entity("items.jsonl", "id", "")},
                                                                 {"things", jsonl_entity("things.jsonl", "id", "")}})}}},
                      {"processes", json::array({process("good", "src", "items", "dst", "items")})}};
    }
    // A process reading from a misbehaving source, or writing to a misbehaving target.
    void add_faulty(const std::string& id, const std::string& fault, double call_timeout_s = 1) {
        config["connections"]["c_" + id] = misbehaving(fault, call_timeout_s);
        if (fault.find("write") != std::string::npos)
            config["processes"].push_back(process(id, "src", "items", "c_" + id, "things"));
        else
            config["processes"].push_back(process(id, "c_" + id, "things", "dst", "things"));
    }
    void save() { write_file(dir.path() / "plexus.json", config.dump(2)); }
    std::vector<std::string> with_common(std::vector<std::string> args) const {
        args.insert(args.end(), {"--config", dir.str("plexus.json"), "--data", dir.str("var"), "--plugin-dir",
                                 PLEXUS_PLUGIN_DIR, "--plugin-dir", PLEXUS_FAULTY_PLUGIN_DIR});
        return args;
    }
    CommandResult plexus(std::vector<std::string> args) { return run_plexus(with_common(std::move(args))); }
    std::unique_ptr<plexus::Store> store() const { return plexus::open_sqlite_store(dir.str("var/plexus.db")); }
};

bool sanitizer_build() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return false;
#endif
}

// What a crash reads as: the signal, except in a sanitizer build, where the sanitizer catches
// the fault first (a null store under UBSan, a SEGV under ASan) and the worker exits with 1.
const char* crash_cause() { return sanitizer_build() ? "its worker exited with status" : "SIGSEGV"; }

}  // namespace

TEST_CASE("isolation: a connector that crashes, aborts, hangs or leaks fails its run with the cause, and no more",
          "[isolation]") {
    struct Case {
        const char* fault;
        const char* call;
        const char* cause;
    };
    std::vector<Case> cases{{"segv_read", "read_page", crash_cause()},
                            {"abort_write", "write_batch", "SIGABRT"},
                            {"hang_read", "read_page", "exceeded its deadline of 1 s"},
                            {"hang_write", "write_batch", "exceeded its deadline of 1 s"}};
    if (!sanitizer_build()) cases.push_back({"leak_read", "read_page", "memory cap of 256 MiB"});
    for (const auto& c : cases) {
        DYNAMIC_SECTION(c.fault) {
            World w;
            w.add_faulty("bad", c.fault);
            w.save();
            auto start = std::chrono::steady_clock::now();
            auto r = w.plexus({"run", "bad", "--quiet"});
            double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            INFO(r.out);
            CHECK(r.exit_code == 1);  // run failed — not a dead host (139, 134) nor a hang
            CHECK(secs < 20);
            CHECK_THAT(r.out, Catch::Contains("bad") && Catch::Contains(": failed"));
            CHECK_THAT(r.out, Catch::Contains("connector \"misbehave\"") && Catch::Contains(c.call) &&
                                  Catch::Contains(c.cause));

            auto store = w.store();
            auto last = store->last_run("bad");
            REQUIRE(last);
            CHECK(last->status == "failed");
            CHECK_THAT(last->message, Catch::Contains(c.call) && Catch::Contains(c.cause));
            CHECK(last->finished_ms > 0);
            if (std::string(c.call) == "write_batch") {
                // The creates' intents were committed before the write and nothing resolved
                // them: they stay for the next run's lookup.
                CHECK(store->pending_intents("bad").size() == 2);
            }
            // The host is unharmed: the next process runs (and so does the faulty one again).
            auto good = w.plexus({"run", "good", "--quiet"});
            INFO(good.out);
            CHECK(good.exit_code == 0);
            CHECK(read_jsonl(w.dir.path() / "dst" / "items.jsonl").size() == 2);
        }
    }
}

TEST_CASE("isolation: serve keeps a healthy process running beside crashing ones and stops on SIGTERM while a "
          "worker hangs",
          "[isolation]") {
    World w;
    w.config["processes"][0]["schedule"] = {{"interval", "1s"}};
    w.add_faulty("crash", "segv_read");
    w.add_faulty("aborts", "abort_write");
    w.add_faulty("slow", "hang_read", 1);
    w.add_faulty("stuck", "hang_write", 600);  // hangs far longer than the test: only cancellation ends it
    for (size_t i = 1; i < w.config["processes"].size(); ++i)
        w.config["processes"][i]["schedule"] = {{"interval", "1s"}};
    w.save();
    std::string log = w.dir.str("serve.log");
    pid_t pid = spawn_plexus(w.with_common({"serve", "--listen", "127.0.0.1:0"}), log);
    REQUIRE(pid > 0);

    // The first failed run of a process, and the last run of one: read while serve writes.
    auto first_failed = [&](plexus::Store& store, const std::string& process) -> std::optional<plexus::RunRecord> {
        plexus::RunQuery q;
        q.process_id = process;
        q.status = "failed";
        q.limit = 1000;
        auto runs = store.runs(q);
        if (runs.empty()) return std::nullopt;
        return *std::min_element(runs.begin(), runs.end(),
                                 [](const auto& a, const auto& b) { return a.id < b.id; });
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool ready = false;
    while (!ready && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        if (!fs::exists(w.dir.path() / "var" / "plexus.db")) continue;
        try {
            auto store = w.store();
            auto crash = first_failed(*store, "crash"), aborts = first_failed(*store, "aborts"),
                 slow = first_failed(*store, "slow");
            auto stuck = store->last_run("stuck"), good = store->last_run("good");
            ready = crash && aborts && slow && stuck && stuck->status == "running" && good &&
                    good->status == "succeeded" && good->started_ms > crash->finished_ms &&
                    good->started_ms > aborts->finished_ms && good->started_ms > slow->finished_ms;
        } catch (const std::exception&) {
            // busy: try again
        }
    }
    INFO(read_file(log));
    int status = 0;
    REQUIRE(waitpid(pid, &status, WNOHANG) == 0);  // the hub is alive
    CHECK(ready);

    auto sent = std::chrono::steady_clock::now();
    kill(pid, SIGTERM);
    bool exited = false;
    while (std::chrono::steady_clock::now() - sent < std::chrono::seconds(15)) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    INFO(read_file(log));
    REQUIRE(exited);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(secs < 10);

    auto store = w.store();
    auto crash = first_failed(*store, "crash");
    REQUIRE(crash);
    CHECK_THAT(crash->message, Catch::Contains("connector \"misbehave\"") && Catch::Contains("read_page") &&
                                   Catch::Contains(crash_cause()));
    auto aborts = first_failed(*store, "aborts");
    REQUIRE(aborts);
    CHECK_THAT(aborts->message, Catch::Contains("write_batch") && Catch::Contains("SIGABRT"));
    auto slow = first_failed(*store, "slow");
    REQUIRE(slow);
    CHECK_THAT(slow->message, Catch::Contains("read_page") && Catch::Contains("deadline"));
    // The hanging write was cancelled: its worker killed, the run closed, its intents open.
    auto stuck = store->last_run("stuck");
    REQUIRE(stuck);
    CHECK(stuck->status == "partial");
    CHECK_THAT(stuck->message, Catch::Contains("cancel"));
    CHECK(stuck->finished_ms > 0);
    CHECK(store->pending_intents("stuck").size() == 2);
    CHECK(read_jsonl(w.dir.path() / "dst" / "items.jsonl").size() == 2);
}

TEST_CASE("isolation: \"none\" runs the connector in the host's process", "[isolation]") {
    World w;
    w.config["connections"]["src"]["isolation"] = "none";
    w.config["connections"]["dst"]["isolation"] = "none";
    w.save();
    auto r = w.plexus({"run", "good", "--quiet"});
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(read_jsonl(w.dir.path() / "dst" / "items.jsonl").size() == 2);

    // The options are checked like every other key.
    w.config["connections"]["src"]["isolation"] = "thread";
    w.config["connections"]["dst"]["call_timeout_s"] = 0;
    w.config["connections"]["dst"]["memory_limit_mb"] = 10;
    std::vector<plexus::ConfigError> errors;
    plexus::parse_config(w.config.dump(), "plexus.json", errors);
    std::string all;
    for (const auto& e : errors) all += e.to_string() + "\n";
    INFO(all);
    CHECK(errors.size() == 3);
    CHECK_THAT(all, Catch::Contains("/connections/src/isolation") && Catch::Contains("\"process\"") &&
                        Catch::Contains("/connections/dst/call_timeout_s") &&
                        Catch::Contains("/connections/dst/memory_limit_mb"));
}

TEST_CASE("isolation: time the host spends on a connector's HTTP request is not charged to its deadline",
          "[isolation]") {
    // A slow API (1.5 s an answer) behind a connector with a 1 s deadline: the wait is the
    // host's (its client, its retries, its rate governor), so the call is not killed.
    httplib::Server server;
    server.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        res.set_content("{}", "application/json");
    });
    int port = server.bind_to_any_port("127.0.0.1");
    std::thread t([&] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

    World w;
    w.add_faulty("api", "http_read", 1);
    w.config["connections"]["c_api"]["settings"]["url"] = "http://127.0.0.1:" + std::to_string(port) + "/slow";
    w.save();
    auto r = w.plexus({"run", "api", "--quiet"});
    server.stop();
    t.join();
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(read_jsonl(w.dir.path() / "dst" / "things.jsonl").size() == 3);
}

TEST_CASE("isolation: the worker loads the library with the loader's own checks", "[isolation]") {
    // The host loaded "files"; if the file at that path is now something the loader refuses,
    // the worker refuses it too, with the loader's reason, and the host carries on.
    PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    auto files = registry.find("files");
    REQUIRE(files);
    auto changed = std::make_shared<LoadedConnector>(*files);
    changed->path = std::string(PLEXUS_BROKEN_PLUGIN_DIR) + "/libplexus_broken_wrongabi.so";
    HostServices services;
    services.tags.connection = "shop";
    try {
        ConnectorInstance instance(changed, json::object(), services, IsolationOptions{});
        FAIL("the worker accepted a library the loader refuses");
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        CHECK_THAT(what, Catch::Contains("connection \"shop\"") && Catch::Contains("refused") &&
                             Catch::Contains("ABI 2.0 is not supported"));
    }
    // The real library in a worker: created, checked, destroyed, the child reaped.
    TempDir dir;
    ConnectorInstance ok(files, json{{"directory", dir.str()}, {"entities", {{"items", {{"path", "items.jsonl"}}}}}}, services,
                         IsolationOptions{});
    CHECK(ok.worker_pid() > 0);
    const int pid = ok.worker_pid();
    CHECK(ok.check().ok());
    { ConnectorInstance gone(std::move(files), json{{"directory", dir.str()}, {"entities", {{"items", {{"path", "items.jsonl"}}}}}}, services,
                             IsolationOptions{}); }
    CHECK(kill(pid, 0) == 0);  // the first is still alive
}

TEST_CASE("isolation: plexus run stops on SIGTERM while its connector hangs", "[isolation]") {
    World w;
    w.add_faulty("stuck", "hang_read", 600);
    w.save();
    std::string log = w.dir.str("run.log");
    pid_t pid = spawn_plexus(w.with_common({"run", "stuck", "--quiet"}), log);
    REQUIRE(pid > 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    auto sent = std::chrono::steady_clock::now();
    kill(pid, SIGTERM);
    int status = 0;
    bool exited = false;
    while (std::chrono::steady_clock::now() - sent < std::chrono::seconds(15)) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    INFO(read_file(log));
    REQUIRE(exited);
    CHECK(std::chrono::steady_clock::now() - sent < std::chrono::seconds(10));
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);  // partial: the next run resumes at the cursor
    CHECK_THAT(read_file(log), Catch::Contains("read_page did not stop within 2 s of the cancellation"));
    auto last = w.store()->last_run("stuck");
    REQUIRE(last);
    CHECK(last->status == "partial");
}

TEST_CASE("isolation: a library that crashes while loading is refused, and the host carries on", "[isolation]") {
    World w;
    w.save();
    // Listed among the refusals, by a host that is still there to list them.
    auto plugins = run_plexus({"plugins", "--plugin-dir", PLEXUS_PLUGIN_DIR, "--plugin-dir", PLEXUS_CRASH_PLUGIN_DIR});
    INFO(plugins.out);
    CHECK(plugins.exit_code == 0);
    CHECK_THAT(plugins.out, Catch::Contains("libplexus_crash_on_load.so") && Catch::Contains("crashed while loading"));
    CHECK_THAT(plugins.out, Catch::Contains("files"));
    // And a run beside it works.
    auto run = run_plexus({"run", "good", "--config", w.dir.str("plexus.json"), "--data", w.dir.str("var"),
                           "--plugin-dir", PLEXUS_PLUGIN_DIR, "--plugin-dir", PLEXUS_CRASH_PLUGIN_DIR});
    INFO(run.out);
    CHECK(run.exit_code == 0);
}
