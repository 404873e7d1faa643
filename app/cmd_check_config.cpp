#include "app/cli.hpp"

#include <filesystem>
#include <iostream>

namespace plexus::cli {

// plexus check-config FILE [--data DIR] — every error on its own line: file: JSON path: what
// is wrong. When the data directory holds a database, the connections created in the portal
// are checked with the file (a process may use one); without one, the file alone.
int cmd_check_config(const std::vector<std::string>& args) {
    Common c;
    po::options_description opts("options");
    add_common(opts, c, false, true, true);
    opts.add_options()("file", po::value(&c.config_file)->required(), "configuration file");
    po::positional_options_description pos;
    pos.add("file", 1);
    po::variables_map vm;
    if (!parse("check-config", "FILE [--data DIR] [--plugin-dir DIR]...", opts, pos, args, vm))
        return ok;
    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    const bool has_database = std::filesystem::exists(std::filesystem::path(c.data_dir) / "plexus.db");
    size_t stored = 0;
    if (has_database) {
        std::unique_ptr<Store> store;
        if (!load_hub_config(c, registry, StoreUse::read, config, store)) return run_failed;
        for (const auto& conn : config.connections) stored += conn.stored ? 1 : 0;
    } else if (!load_valid_config(c, registry, config)) {
        if (vm["data"].defaulted())
            std::cerr << "(connections created in the portal were not checked: no database in "
                      << c.data_dir << "; give the hub's data directory with --data DIR)\n";
        return run_failed;
    }
    std::cout << c.config_file << ": valid (" << config.connections.size() << " connection(s)";
    if (stored) std::cout << ", " << stored << " of them created in the portal";
    std::cout << ", " << config.processes.size() << " process(es))\n";
    return ok;
}

}  // namespace plexus::cli
