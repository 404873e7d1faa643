// Benchmark: sync N records files→files through the real loader, engine and store.
//   build/bin/bench_files_sync N [--plugin-dir DIR] [--keep DIR] [--isolation process|none]
// --isolation: both connections' "isolation" (docs/design/004-connector-isolation.md); default
// process, as configured connections are. Isolated, CPU includes the connector workers' (reaped
// children); peak RSS is printed for the hub and for the largest worker apart.
// Prints records/s, CPU seconds and peak RSS. Target (issue 2): ≥ 50,000 records/s on the
// 2-core machine, and peak RSS that does not grow with N. Run by hand; see docs/performance.md.
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

using namespace plexus;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: bench_files_sync N [--plugin-dir DIR] [--keep DIR]\n";
        return 64;
    }
    long n = std::stol(argv[1]);
    std::string plugin_dir = (boost::dll::program_location().parent_path().parent_path() / "plugins").string();
    std::string keep;
    std::string isolation = "process";
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--plugin-dir") plugin_dir = argv[i + 1];
        if (a == "--keep") keep = argv[i + 1];
        if (a == "--isolation") isolation = argv[i + 1];
    }
    fs::path dir = keep.empty() ? fs::temp_directory_path() / ("plexus-bench-" + std::to_string(getpid())) : fs::path(keep);
    fs::remove_all(dir);
    fs::create_directories(dir / "src");
    fs::create_directories(dir / "dst");
    {
        std::ofstream out(dir / "src" / "orders.jsonl");
        char line[512];
        for (long i = 0; i < n; ++i) {
            int len = std::snprintf(line, sizeof line,
                                    "{\"id\":\"O%09ld\",\"name\":\"#%ld\",\"email\":\"Customer%ld@Example.com\","
                                    "\"total\":\"%ld.%02ld\",\"currency\":\"CHF\",\"updated_at\":\"2024-05-01T%02ld:%02ld:%02ldZ\"}\n",
                                    i, 1000 + i, i % 5000, i % 997, i % 100, (i / 3600) % 24, (i / 60) % 60, i % 60);
            out.write(line, len);
        }
    }
    nlohmann::json config{
        {"connections",
         {{"src", {{"connector", "files"}, {"settings", {{"directory", (dir / "src").string()},
                                                         {"entities", {{"orders", {{"path", "orders.jsonl"}, {"key", "id"}, {"cursor", "updated_at"}}}}}}}}},
          {"dst", {{"connector", "files"}, {"settings", {{"directory", (dir / "dst").string()},
                                                         {"entities", {{"orders", {{"path", "orders.jsonl"}, {"key", "id"}}}}}}}}}}},
        {"processes",
         nlohmann::json::array({{{"id", "orders"},
                                 {"name", "Orders bench"},
                                 {"source", {{"connection", "src"}, {"entity", "orders"}}},
                                 {"target", {{"connection", "dst"}, {"entity", "orders"}}},
                                 {"mapping", {{"id", "id"}, {"number", "name"}, {"email", "lower(email)"},
                                              {"amount", "round(number(total), 2)"}, {"currency", "currency"}}},
                                 {"page_size", 1000},
                                 {"batch_size", 500}}})}};
    for (auto& [id, conn] : config["connections"].items()) conn["isolation"] = isolation;
    std::vector<ConfigError> errors;
    Config c = parse_config(config.dump(), "bench.json", errors);
    PluginRegistry registry;
    registry.load_directory(plugin_dir);
    auto store = open_sqlite_store((dir / "plexus.db").string());
    Hub hub(std::move(c), registry, *store, SystemClock::instance());
    SyncEngine engine(hub);

    struct rusage before {}, after {}, children_before {}, children_after {};
    getrusage(RUSAGE_SELF, &before);
    getrusage(RUSAGE_CHILDREN, &children_before);
    auto t0 = std::chrono::steady_clock::now();
    RunSummary s = engine.run("orders");
    auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &after);
    getrusage(RUSAGE_CHILDREN, &children_after);
    double secs = std::chrono::duration<double>(t1 - t0).count();
    auto cpu = [](const rusage& r) {
        return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
    };
    std::printf("N=%ld isolation=%s status=%s created=%lld failed=%lld wall=%.2fs records/s=%.0f cpu=%.2fs "
                "(workers %.2fs) peak_rss=%.1fMB (worker %.1fMB)\n",
                n, isolation.c_str(), s.status.c_str(), static_cast<long long>(s.counts.created),
                static_cast<long long>(s.counts.failed), secs, static_cast<double>(s.counts.read) / secs,
                cpu(after) - cpu(before) + cpu(children_after) - cpu(children_before),
                cpu(children_after) - cpu(children_before), after.ru_maxrss / 1024.0,
                children_after.ru_maxrss / 1024.0);
    if (keep.empty()) fs::remove_all(dir);
    return s.status == "succeeded" && s.counts.created == n ? 0 : 1;
}
