#include "app/cli.hpp"

#include <iostream>

namespace plexus::cli {

// plexus check-config FILE — every error on its own line: file: JSON path: what is wrong.
int cmd_check_config(const std::vector<std::string>& args) {
    Common c;
    po::options_description opts("options");
    add_common(opts, c, false, false, true);
    opts.add_options()("file", po::value(&c.config_file)->required(), "configuration file");
    po::positional_options_description pos;
    pos.add("file", 1);
    po::variables_map vm;
    if (!parse("check-config", "FILE [--plugin-dir DIR]...", opts, pos, args, vm)) return ok;
    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    if (!load_valid_config(c, registry, config)) return run_failed;
    std::cout << c.config_file << ": valid (" << config.connections.size() << " connection(s), "
              << config.processes.size() << " process(es))\n";
    return ok;
}

}  // namespace plexus::cli
