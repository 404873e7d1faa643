// The host against a troubled environment (issue 10, rows 6, 7, 8 and 10): a second hub on
// the same port or data directory, another process holding the database's lock, a damaged
// database file, and a read-only data directory.
#include "hardening_support.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

using namespace plexus::test;

namespace {

// Runs `plexus <args>` as a child and waits at most `timeout_ms` for it to exit; kills it
// otherwise. Returns the exit status (-1 when it had to be killed) and fills `out`.
int run_with_timeout(const std::vector<std::string>& args, const std::string& log, int timeout_ms) {
    pid_t pid = spawn_plexus(args, log);
    REQUIRE(pid > 0);
    int status = 0;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

std::vector<std::string> with(std::vector<std::string> head, const std::vector<std::string>& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
}

// The database's pages in its main file (no WAL left beside it).
void checkpoint(const std::string& db) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
}

}  // namespace

TEST_CASE("hardening: a second hub on a port in use is refused, serve and sandbox alike", "[hardening]") {
    ServedHub first;
    REQUIRE(first.start());
    const std::string port = std::to_string(first.port);

    ServedHub second;
    const bool started = second.start("127.0.0.1:" + port);
    INFO(read_file(second.log));
    CHECK_FALSE(started);  // with SO_REUSEPORT it started and took half of the logins
    CHECK(second.exit_status == 1);
    CHECK_THAT(read_file(second.log), Catch::Contains("in use"));

    const std::string sandbox_log = second.dir.str("sandbox.log");
    const int rc = run_with_timeout({"sandbox", "--only", "shopify", "--port", "shopify=" + port},
                                    sandbox_log, 5000);
    INFO(read_file(sandbox_log));
    CHECK(rc == 1);
    CHECK_THAT(read_file(sandbox_log), Catch::Contains("in use"));
    CHECK(first.alive());
}

TEST_CASE("hardening: a second serve on the same data directory is refused, naming the holder", "[hardening]") {
    ServedHub hub;
    REQUIRE(hub.start());
    const std::string log = hub.dir.str("second.log");
    const int rc = run_with_timeout(with({"serve"}, with(hub.common(), {"--listen", "127.0.0.1:0"})), log,
                                    10000);
    INFO(read_file(log));
    CHECK(rc == 1);
    CHECK_THAT(read_file(log), Catch::Contains("pid " + std::to_string(hub.pid)));
    CHECK(hub.alive());
    // Once the first has stopped, the directory is free again.
    hub.stop();
    REQUIRE(hub.start());
}

TEST_CASE("hardening: a database locked by another process fails operations, never the host", "[hardening]") {
    ServedHub hub("2s");  // the scheduler writes the schedule's anchor every 2 s
    hub.add_user("otto", "operator");
    REQUIRE(hub.start());
    PortalLogin otto = log_in(hub, "otto");

    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open((fs::path(hub.data()) / "plexus.db").c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    // Held past the 5 s busy timeout: the scheduler's write (and a run's) fail meanwhile.
    std::this_thread::sleep_for(std::chrono::seconds(7));
    INFO(read_file(hub.log));
    REQUIRE(hub.alive());  // it used to die: terminate … StoreError … database is locked
    auto c = hub.client();
    c.set_read_timeout(60, 0);
    auto health = c.Get("/api/health");
    REQUIRE(health);
    CHECK(health->status == 200);
    // A write through the portal waits, then fails alone, while the lock is still held.
    auto r = c.Put("/api/processes/customers/schedule", otto.headers(), R"({"interval":"1h"})",
                   "application/json");
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 503);
    CHECK_THAT(r->body, Catch::Contains("locked"));
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);

    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    REQUIRE(hub.alive());
    auto again = c.Put("/api/processes/customers/schedule", otto.headers(), R"({"interval":"1h"})",
                       "application/json");
    REQUIRE(again);
    CHECK(again->status == 200);
    CHECK_THAT(read_file(hub.log), Catch::Contains("locked"));
}

TEST_CASE("hardening: a damaged database is refused by run and serve, and db check says so", "[hardening]") {
    ServedHub hub;
    auto first = run_plexus(with({"run", "customers", "--quiet"}, hub.common()));
    INFO(first.out);
    REQUIRE(first.exit_code == 2);  // one record fails to map; the others are written
    const std::string db = (fs::path(hub.data()) / "plexus.db").string();
    checkpoint(db);

    auto sound = run_plexus({"db", "check", "--data", hub.data()});
    INFO(sound.out);
    CHECK(sound.exit_code == 0);
    CHECK_THAT(sound.out, Catch::Contains(": ok"));

    // Overwrite the middle third of the file (pages of tables and indexes, not the header).
    const auto size = fs::file_size(db);
    REQUIRE(size > 3 * 4096);
    {
        std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>((size / 3) / 4096 * 4096));
        std::string junk(size / 3, '\xA5');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    const auto before = fs::file_size(db);

    auto run = run_plexus(with({"run", "customers", "--quiet"}, hub.common()));
    INFO(run.out);
    CHECK(run.exit_code == 1);  // it used to exit 0
    CHECK_THAT(run.out, Catch::Contains("damaged"));
    CHECK_THAT(run.out, Catch::Contains("plexus db check"));

    CHECK_FALSE(hub.start());
    INFO(read_file(hub.log));
    CHECK(hub.exit_status == 1);
    CHECK_THAT(read_file(hub.log), Catch::Contains("damaged"));

    auto check = run_plexus({"db", "check", "--data", hub.data()});
    INFO(check.out);
    CHECK(check.exit_code == 1);
    CHECK_THAT(check.out, Catch::Contains("DAMAGED"));
    CHECK(fs::file_size(db) == before);  // nothing written to it
}

TEST_CASE("hardening: a read-only data directory says so, and reading commands still work", "[hardening]") {
    ServedHub hub;
    auto first = run_plexus(with({"run", "customers", "--quiet"}, hub.common()));
    INFO(first.out);
    REQUIRE(first.exit_code == 2);
    const fs::path var = hub.data();
    REQUIRE_FALSE(fs::exists(var / "plexus.db-wal"));
    const fs::path out = hub.dir.path() / "out";
    fs::create_directories(out);
    fs::permissions(out, fs::perms::all);
    fs::permissions(var / "plexus.db", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    fs::permissions(var, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                             fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    // Root writes through permissions: run the commands as nobody then.
    const std::string as_user = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "";

    auto run = run_plexus(with({"run", "customers", "--quiet"}, hub.common()), as_user);
    INFO(run.out);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.out, Catch::Contains("read-only"));

    auto cursor = run_plexus(with({"cursor", "customers"}, hub.common()), as_user);
    INFO(cursor.out);
    CHECK(cursor.exit_code == 0);
    CHECK_THAT(cursor.out, Catch::Contains("customers: cursor "));
    CHECK(cursor.out.find("(start)") == std::string::npos);  // the stored cursor, read

    auto rewind = run_plexus(with({"cursor", "customers", "--rewind-to", "2024-01-01"}, hub.common()), as_user);
    INFO(rewind.out);
    CHECK(rewind.exit_code == 1);
    CHECK_THAT(rewind.out, Catch::Contains("read-only"));

    const std::string csv = (out / "run1.csv").string();
    auto exported = run_plexus(
        with({"logs", "export", "--run", "1", "--format", "csv", "--output", csv}, hub.common()), as_user);
    INFO(exported.out);
    CHECK(exported.exit_code == 0);
    CHECK(fs::exists(csv));
    CHECK_THAT(read_file(csv), Catch::Contains("C4"));

    auto plugins = run_plexus({"plugins", "--plugin-dir", PLEXUS_PLUGIN_DIR}, as_user);
    INFO(plugins.out);
    CHECK(plugins.exit_code == 0);

    auto check = run_plexus({"db", "check", "--data", var.string()}, as_user);
    INFO(check.out);
    CHECK(check.exit_code == 0);

    fs::permissions(var, fs::perms::owner_all, fs::perm_options::add);
}

TEST_CASE("hardening: serve goes on starting its connectors' workers after an upgrade replaced its binary",
          "[hardening]") {
    ServedHub hub;
    hub.add_user("otto", "operator");
    // Its own copy of plexus, replaced under the running serve as a package upgrade does
    // (a new file renamed over the old one: the running image's file is then "deleted").
    const fs::path bin = hub.dir.path() / "bin";
    fs::create_directories(bin);
    fs::copy_file(PLEXUS_BINARY, bin / "plexus");
    hub.binary = (bin / "plexus").string();
    REQUIRE(hub.start());
    PortalLogin otto = log_in(hub, "otto");
    fs::copy_file(PLEXUS_BINARY, bin / "plexus.new");
    fs::rename(bin / "plexus.new", bin / "plexus");
    {
        // One record more for the next run to read.
        std::ofstream src(hub.dir.path() / "src" / "customers.jsonl", std::ios::app);
        src << json{{"id", "C9"}, {"credit", "9.5"}, {"updated_at", "2024-05-02T10:00:00Z"}}.dump()
            << "\n";
    }

    auto c = hub.client();
    auto started = c.Post("/api/processes/customers/run", otto.headers(), "{}", "application/json");
    REQUIRE(started);
    REQUIRE(started->status == 202);
    json last;
    const bool ended = harness::eventually([&] {
        auto r = c.Get("/api/processes/customers", otto.headers());
        if (!r || r->status != 200) return false;
        json v = json::parse(r->body, nullptr, false);
        if (v.is_discarded() || !v["running"].is_null() || v["last_run"].is_null()) return false;
        last = v["last_run"];
        return true;
    }, 60s);
    INFO(read_file(hub.log));
    REQUIRE(ended);
    INFO(last.dump());
    // The run read the source through a worker started after the replacement (it used to
    // fail: "cannot start the worker …/plexus (deleted)").
    CHECK(last["status"] == "succeeded");
    CHECK(last["counts"]["read"] == 1);
    CHECK(last["counts"]["created"] == 1);
    CHECK_THAT(read_file(hub.log), !Catch::Contains("cannot start the worker"));
    CHECK(hub.alive());
}
