#include "app/cli.hpp"

#include "common/logging.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

namespace plexus::cli {
namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop(int) { g_stop.store(true); }
}  // namespace

// plexus serve — the long-running host. Today it loads the connectors, validates the
// configuration, opens (and migrates) the store and stays up until SIGINT/SIGTERM. The
// scheduler and the portal attach here in their own issue.
int cmd_serve(const std::vector<std::string>& args) {
    Common c;
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    po::variables_map vm;
    if (!parse("serve", "[--config FILE] [--data DIR]", opts, {}, args, vm)) return ok;
    if (!vm.count("log-level") || vm["log-level"].defaulted()) configure_logging("info");

    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    if (!load_valid_config(c, registry, config)) return run_failed;
    auto store = open_store(c);
    log_info("serving " + std::to_string(config.processes.size()) + " process(es) from " +
             c.config_file + " with " + std::to_string(registry.connectors().size()) +
             " connector(s); database schema " + std::to_string(store->schema_version()) +
             ". No scheduler or portal yet: use `plexus run PROCESS`.");
    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    log_info("stopping");
    return ok;
}

}  // namespace plexus::cli
