// Orders Shopify→Intacct through the sandboxes (run by hand, never by ctest):
//   (a) Shopify's rate limit off: orders/s and the peak RSS of `plexus run` at several N;
//   (b) the rate limit on (bucket 40, leaking 2/s): wall time against the least the bucket
//       allows for the requests the run made, and whether any 429 was left unhandled.
// The sandboxes run in this process; `plexus run` is a child, so its peak RSS (wait4) is the
// hub's alone. The process is the shipped template's (config/shopify-intacct.json).
// usage: bench_orders_sync [--isolation process|none] [N …]
//   (default 1000 5000 10000; (b) uses the largest N). --isolation sets both connections'
//   "isolation" (docs/design/004-connector-isolation.md); default: the configuration's (process).
//   Isolated, the hub CPU includes the connector workers' (wait4 counts reaped descendants);
//   the peak RSS is the hub's alone.
#include "plugins/intacct/sandbox/intacct_sandbox.hpp"
#include "plugins/shopify/sandbox/shopify_sandbox.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>
#include <thread>
#include <algorithm>

extern char** environ;
namespace fs = std::filesystem;
namespace sb = plexus::sandbox;
using json = nlohmann::json;

namespace {

struct Child {
    int exit_code = -1;
    double seconds = 0;
    long peak_rss_kb = 0;
    double cpu_seconds = 0;  // the hub's own CPU time (user + system)
};

Child run_plexus(const std::vector<std::string>& args, const std::string& log) {
    // PLEXUS_BENCH_WRAP=/usr/bin/heaptrack runs the hub under a profiler (by hand).
    const char* wrap = std::getenv("PLEXUS_BENCH_WRAP");
    std::vector<std::string> full;
    if (wrap && *wrap) full.push_back(wrap);
    full.push_back(PLEXUS_BINARY);
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    auto start = std::chrono::steady_clock::now();
    pid_t pid = 0;
    Child c;
    if (posix_spawn(&pid, full[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) return c;
    posix_spawn_file_actions_destroy(&actions);
    // The child's peak RSS from /proc/<pid>/status (VmHWM), read every 20 ms until it exits.
    // Not wait4's ru_maxrss: posix_spawn shares this process's memory until exec, and the
    // kernel keeps that (this process holds both sandboxes) as the child's maximum.
    int status = 0;
    const std::string status_path = "/proc/" + std::to_string(pid) + "/status";
    while (true) {
        {
            std::ifstream st(status_path);
            std::string line;
            while (std::getline(st, line))
                if (line.rfind("VmHWM:", 0) == 0) c.peak_rss_kb = std::max(c.peak_rss_kb, std::stol(line.substr(6)));
        }
        rusage usage{};
        pid_t done = wait4(pid, &status, WNOHANG, &usage);
        if (done == pid) {
            c.cpu_seconds = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                            (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return c;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string g_isolation;  // "" = as configured

struct World {
    sb::SandboxServer shop;
    sb::SandboxServer intacct{sb::make_intacct_sandbox(1)};
    fs::path dir;

    static sb::ShopifySandbox::Options options(int orders, bool rate_limit) {
        sb::ShopifySandbox::Options o;
        o.seed = 5;
        o.rate_limit = rate_limit;
        o.customers = 300;
        o.products = 10;
        o.orders = orders;
        for (int i = 1001; i <= 1150; ++i) o.order_skus.push_back("I-" + std::to_string(i));
        return o;
    }
    World(int orders, bool rate_limit)
        : shop(std::make_unique<sb::ShopifySandbox>(options(orders, rate_limit))) {
        dir = fs::temp_directory_path() / ("plexus-bench-orders-" + std::to_string(getpid()) + "-" +
                                           std::to_string(orders) + (rate_limit ? "-rl" : ""));
        fs::remove_all(dir);
        fs::create_directories(dir);
        json config = json::parse(slurp(fs::path(PLEXUS_SOURCE_DIR) / "config" / "shopify-intacct.json"));
        config["connections"]["shopify"]["settings"] = {
            {"store_domain", "bench.myshopify.com"}, {"access_token", "shpat_sandbox"},
            {"base_url", shop.base_url()}, {"location_id", sb::ShopifySandbox::kMainLocation}};
        config["connections"]["intacct"]["settings"] = {
            {"endpoint_url", intacct.base_url() + "/ia/xml/xmlgw.phtml"}, {"sender_id", "sandbox_sender"},
            {"sender_password", "sandbox_sender_pw"}, {"company_id", "SANDBOX"}, {"user_id", "sandbox_user"},
            {"user_password", "sandbox_pw"}};
        // Intacct's budget is lifted in both modes (this measures the hub and Shopify's bucket);
        // Shopify's too when the sandbox's limit is off (docs/configuration.md, rate_limit).
        config["connections"]["intacct"]["rate_limit"] = {{"requests_per_second", 0}};
        if (!rate_limit) config["connections"]["shopify"]["rate_limit"] = {{"requests_per_second", 0}};
        if (!g_isolation.empty())
            for (auto& [id, c] : config["connections"].items()) c["isolation"] = g_isolation;
        std::ofstream(dir / "plexus.json") << config.dump(2);
    }
    ~World() { fs::remove_all(dir); }
    Child run(const std::string& process) {
        return run_plexus({"run", process, "--config", (dir / "plexus.json").string(), "--data",
                           (dir / "var").string(), "--plugin-dir", PLEXUS_PLUGIN_DIR},
                          (dir / (process + ".log")).string());
    }
    sb::ShopifySandbox& shopify() { return static_cast<sb::ShopifySandbox&>(shop.sandbox()); }
    sb::IntacctSandboxControl& ia() { return dynamic_cast<sb::IntacctSandboxControl&>(intacct.sandbox()); }
};

double load1() {
    double l = 0;
    std::ifstream("/proc/loadavg") >> l;
    return l;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int> sizes;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--isolation" && i + 1 < argc) g_isolation = argv[++i];
        else sizes.push_back(std::atoi(argv[i]));
    }
    std::printf("isolation: %s\n", g_isolation.empty() ? "as configured (process)" : g_isolation.c_str());
    if (sizes.empty()) sizes = {1000, 5000, 10000};
    bool ok = true;

    std::printf("(a) rate limit off: Orders Shopify→Intacct (customers synced before)\n");
    std::printf("%8s %10s %12s %12s %16s %10s %8s\n", "orders", "seconds", "orders/s", "peak RSS MB",
                "hub CPU orders/s", "SO made", "load1");
    for (int n : sizes) {
        World w(n, false);
        auto pre = w.run("customers-shopify-intacct");
        auto c = w.run("orders-shopify-intacct");
        size_t made = w.ia().count("SODOCUMENT");
        // Orders per second of the hub's own CPU: what the hub could do if the sandboxes (in
        // this process, on the same two cores) answered instantly.
        std::printf("%8d %10.2f %12.0f %12.1f %16.0f %10zu %8.1f\n", n, c.seconds, n / c.seconds,
                    c.peak_rss_kb / 1024.0, n / std::max(1e-3, c.cpu_seconds), made, load1());
        if (pre.exit_code != 0 || c.exit_code != 0 || made != static_cast<size_t>(n)) {
            ok = false;
            std::printf("  run exit %d (customers exit %d); log: %s\n", c.exit_code, pre.exit_code,
                        slurp(w.dir / "orders-shopify-intacct.log").c_str());
        }
    }

    const int n = sizes.back();
    std::printf("\n(b) rate limit on (bucket 40, leak 2/s): %d orders, their 300 customers synced on the way\n", n);
    World w(n, true);
    auto c = w.run("orders-shopify-intacct");
    const uint64_t requests = w.shopify().request_count();
    // The bucket admits 40 at once, then 2 a second: the least time for R requests.
    const double least = requests > 40 ? (requests - 40) / 2.0 : 0.0;
    std::string log = slurp(w.dir / "orders-shopify-intacct.log");
    size_t made = w.ia().count("SODOCUMENT");
    std::printf("  Shopify requests %llu, least the bucket allows %.1f s, wall %.1f s (%+.1f%%), exit %d, "
                "sales orders %zu, load1 %.1f\n",
                static_cast<unsigned long long>(requests), least, c.seconds,
                least > 0 ? 100.0 * (c.seconds - least) / least : 0.0, c.exit_code, made, load1());
    if (c.exit_code != 0 || made != static_cast<size_t>(n)) {
        ok = false;
        std::printf("%s\n", log.c_str());
    }
    return ok ? 0 : 1;
}
