// Crash safety: `plexus run` killed with SIGKILL at random moments, again and again, and
// restarted each time, ends with every source record in the target exactly once.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <chrono>
#include <thread>

using namespace plexus::test;

namespace {

// Keys of the target file and how often each was created; torn or invalid lines counted apart.
struct TargetCount {
    std::map<std::string, int> per_key;
    int invalid_lines = 0;
};

TargetCount count_target(const fs::path& file) {
    TargetCount t;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("id")) {
            t.invalid_lines++;
            continue;
        }
        t.per_key[j["id"].get<std::string>()]++;
    }
    return t;
}

}  // namespace

TEST_CASE("SIGKILL at random moments never loses or duplicates a record", "[crash]") {
    const int records = 4000;
    const int min_kills = 30;
    TempDir dir;
    fs::create_directories(dir.path() / "src");
    fs::create_directories(dir.path() / "dst");
    std::vector<json> source;
    for (int i = 0; i < records; ++i) {
        char stamp[32];
        std::snprintf(stamp, sizeof stamp, "2024-05-01T%02d:%02d:%02dZ", i / 3600 % 24, i / 60 % 60, i % 60);
        source.push_back({{"id", "K" + std::to_string(i)}, {"name", "Record " + std::to_string(i)}, {"updated_at", stamp}});
    }
    write_jsonl(dir.path() / "src" / "items.jsonl", source);
    json config{
        {"connections",
         {{"src", files_connection(dir.str("src"), {{"items", jsonl_entity("items.jsonl")}})},
          {"dst", files_connection(dir.str("dst"), {{"items", jsonl_entity("items.jsonl", "id", "")}})}}},
        {"processes",
         json::array({{{"id", "items"},
                       {"name", "Items"},
                       {"source", {{"connection", "src"}, {"entity", "items"}}},
                       {"target", {{"connection", "dst"}, {"entity", "items"}}},
                       {"mapping", {{"id", "id"}, {"name", "upper(name)"}}},
                       {"page_size", 50},
                       {"batch_size", 10}}})}};
    write_file(dir.path() / "plexus.json", config.dump(2));
    std::vector<std::string> args{"run", "items", "--config", dir.str("plexus.json"), "--data", dir.str("var"),
                                  "--plugin-dir", PLEXUS_PLUGIN_DIR, "--quiet"};
    std::string log = dir.str("runs.log");

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> delay_ms(5, 120);
    int kills_mid_run = 0, attempts = 0;
    while (kills_mid_run < min_kills && attempts < 200) {
        ++attempts;
        pid_t pid = spawn_plexus(args, log);
        REQUIRE(pid > 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
        int status = 0;
        bool exited = waitpid(pid, &status, WNOHANG) == pid;
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
        auto t = count_target(dir.path() / "dst" / "items.jsonl");
        for (const auto& [k, n] : t.per_key) {
            INFO("after attempt " << attempts << ", key " << k);
            REQUIRE(n == 1);  // never written twice, even mid-way
        }
        if (!exited && static_cast<int>(t.per_key.size()) < records) ++kills_mid_run;
        if (exited) {
            // The run finished before the kill: start the target afresh to keep killing mid-run.
            INFO(read_file(log));
            REQUIRE(WIFEXITED(status));
            REQUIRE(WEXITSTATUS(status) == 0);
            REQUIRE(t.per_key.size() == static_cast<size_t>(records));
            fs::remove_all(dir.path() / "dst");
            fs::create_directories(dir.path() / "dst");
            fs::remove_all(dir.path() / "var");
        }
    }
    CHECK(kills_mid_run >= min_kills);

    // Restart until a run completes without being killed.
    auto final_run = run_plexus(args);
    INFO(final_run.out);
    REQUIRE(final_run.exit_code == 0);
    auto t = count_target(dir.path() / "dst" / "items.jsonl");
    CHECK(t.per_key.size() == static_cast<size_t>(records));
    for (int i = 0; i < records; ++i) {
        auto it = t.per_key.find("K" + std::to_string(i));
        INFO("key K" << i);
        REQUIRE(it != t.per_key.end());
        CHECK(it->second == 1);
    }
    // A torn last line from a kill mid-write is repaired, never left behind as garbage.
    CHECK(t.invalid_lines == 0);
    // And a further run writes nothing.
    auto idle = run_plexus(args);
    CHECK(idle.exit_code == 0);
    CHECK_THAT(idle.out, Catch::Contains("created            0"));
}
