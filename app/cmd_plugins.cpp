#include "app/cli.hpp"

#include <iostream>

namespace plexus::cli {

// plexus plugins [--plugin-dir DIR]... [--format text|json]
int cmd_plugins(const std::vector<std::string>& args) {
    Common c;
    std::string format;
    po::options_description opts("options");
    add_common(opts, c, false, false, true);
    opts.add_options()("format", po::value(&format)->default_value("text"), "text or json");
    po::variables_map vm;
    if (!parse("plugins", "[--plugin-dir DIR]... [--format text|json]", opts, {}, args, vm)) return ok;
    if (format != "text" && format != "json")
        throw po::error("--format must be text or json, not \"" + format + "\"");

    PluginRegistry registry;
    load_plugins(registry, c);
    if (format == "json") {
        nlohmann::json out{{"abi", std::to_string(PLEXUS_ABI_MAJOR) + "." + std::to_string(PLEXUS_ABI_MINOR)},
                           {"connectors", nlohmann::json::array()},
                           {"refused", nlohmann::json::array()}};
        for (const auto& l : registry.connectors()) out["connectors"].push_back(PluginRegistry::describe(*l));
        for (const auto& r : registry.refused())
            out["refused"].push_back({{"path", r.path}, {"reason", r.reason}});
        std::cout << out.dump(2) << "\n";
        return ok;
    }
    std::cout << "connectors (host ABI " << PLEXUS_ABI_MAJOR << "." << PLEXUS_ABI_MINOR << "):\n";
    if (registry.connectors().empty()) std::cout << "  none\n";
    for (const auto& l : registry.connectors()) {
        auto d = PluginRegistry::describe(*l);
        std::string entities;
        for (const auto& e : d["entities"]) entities += (entities.empty() ? "" : ", ") + e.get<std::string>();
        if (d["dynamic_entities"].get<bool>()) entities += entities.empty() ? "(from settings)" : " (+ from settings)";
        std::cout << "  " << l->id << " " << l->version << "  ABI " << d["abi"].get<std::string>() << "  "
                  << l->path << "\n      entities: " << entities << "\n";
    }
    if (!registry.refused().empty()) {
        std::cout << "refused:\n";
        for (const auto& r : registry.refused()) std::cout << "  " << r.path << ": " << r.reason << "\n";
    }
    return ok;
}

}  // namespace plexus::cli
