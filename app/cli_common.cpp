#include "app/cli.hpp"

#include "common/time_text.hpp"

#include "common/logging.hpp"

// date::parse's seconds field trips GCC 12's -Wmaybe-uninitialized at -O2 inside date.h
// (a known false positive of that header); our code is not concerned.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <date/date.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace plexus::cli {

void add_common(po::options_description& opts, Common& c, bool config, bool data, bool plugins) {
    opts.add_options()("help,h", "show this help");
    if (config)
        opts.add_options()("config,c", po::value(&c.config_file)->default_value("plexus.json"),
                           "configuration file (JSON; docs/configuration.md)");
    if (data)
        opts.add_options()("data,d", po::value(&c.data_dir)->default_value("var"),
                           "data directory holding the database (plexus.db)");
    if (plugins)
        opts.add_options()("plugin-dir,p", po::value(&c.plugin_dirs)->composing(),
                           "directory of connector libraries (repeatable; default "
                           "$PLEXUS_PLUGIN_PATH or <bin>/../plugins)");
    opts.add_options()("log-level", po::value(&c.log_level)->default_value("warn"),
                       "debug, info, warn or error");
}

bool parse(const std::string& command, const std::string& synopsis, po::options_description& opts,
           const po::positional_options_description& pos, const std::vector<std::string>& args,
           po::variables_map& vm) {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    if (vm.count("help")) {
        std::cout << "usage: plexus " << command << " " << synopsis << "\n\n" << opts << "\n";
        return false;
    }
    po::notify(vm);
    if (vm.count("log-level")) configure_logging(vm["log-level"].as<std::string>());
    return true;
}

void load_plugins(PluginRegistry& registry, const Common& c) {
    auto dirs = c.plugin_dirs.empty() ? PluginRegistry::default_directories() : c.plugin_dirs;
    for (const auto& d : dirs) registry.load_directory(d);
}

bool load_valid_config(const Common& c, PluginRegistry& registry, Config& out) {
    std::vector<ConfigError> errors;
    out = load_config(c.config_file, errors);
    if (errors.empty()) validate_config(out, registry, system_environment(), errors);
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return errors.empty();
}

const ProcessConfig* require_process(const Config& config, const std::string& process_id,
                                     const std::string& command, const std::string& config_file) {
    if (const ProcessConfig* p = config.process(process_id)) return p;
    std::cerr << "plexus " << command << ": no process \"" << process_id << "\" in " << config_file
              << "; known:";
    for (const auto& p : config.processes) std::cerr << " " << p.id;
    std::cerr << "\n";
    return nullptr;
}

std::optional<TimeArg> parse_time_arg(const std::string& text) {
    auto ms = parse_time_ms(text);
    if (!ms) return std::nullopt;
    return TimeArg{*ms, text.size() == 10};
}

std::string cli_actor() {
    const char* user = std::getenv("USER");
    return std::string("cli:") + (user && *user ? user : "unknown");
}

std::unique_ptr<Store> open_store(const Common& c) {
    std::filesystem::create_directories(c.data_dir);
    return open_sqlite_store((std::filesystem::path(c.data_dir) / "plexus.db").string());
}

}  // namespace plexus::cli

#pragma GCC diagnostic pop
