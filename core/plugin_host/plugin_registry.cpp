#include "plugin_host/plugin_registry.hpp"

#include "common/logging.hpp"

#include <plexus/connector.hpp>

#include <boost/dll/runtime_symbol_info.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <regex>

namespace plexus {
namespace fs = std::filesystem;

namespace {

// The size of the v1.0 descriptor: everything up to and including `lookup`. A descriptor
// smaller than this cannot be a v1 connector; describe_entities (appended) is optional.
constexpr size_t kDescriptorV10Size =
    offsetof(plexus_connector_v1, lookup) + sizeof(plexus_connector_v1::lookup);

std::string check_manifest(const nlohmann::json& m, const std::string& id) {
    if (!m.is_object()) return "manifest is not a JSON object";
    if (m.value("id", std::string()) != id)
        return "manifest id \"" + m.value("id", std::string()) + "\" differs from descriptor id \"" +
               id + "\"";
    if (!m.contains("settings") || !m["settings"].is_array())
        return "manifest has no \"settings\" array";
    if (m.contains("entities") && !m["entities"].is_array())
        return "manifest \"entities\" is not an array";
    for (const auto& s : m["settings"]) {
        if (!s.is_object() || !s.contains("name") || !s["name"].is_string())
            return "manifest has a setting without a name";
    }
    if (m.contains("call_timeout_s") &&
        (!m["call_timeout_s"].is_number() || m["call_timeout_s"].get<double>() <= 0))
        return "manifest \"call_timeout_s\" is not a number of seconds above 0";
    if (m.contains("memory_limit_mb") &&
        (!m["memory_limit_mb"].is_number_integer() || m["memory_limit_mb"].get<int64_t>() < 0))
        return "manifest \"memory_limit_mb\" is not a whole number of MiB (0: no cap)";
    if (m.contains("entities")) {
        for (const auto& e : m["entities"]) {
            if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
                return "manifest has an entity without a name";
        }
    }
    return {};
}

}  // namespace

bool LoadedConnector::has_describe() const {
    return descriptor->struct_size >= offsetof(plexus_connector_v1, describe_entities) +
                                          sizeof(plexus_connector_v1::describe_entities) &&
           descriptor->describe_entities != nullptr;
}

void PluginRegistry::refuse(const std::string& path, const std::string& reason) {
    log_warn("plugin refused: " + path + ": " + reason);
    refused_.push_back({path, reason});
}

void PluginRegistry::load_with_defaults(const std::vector<std::string>& named) {
    auto same = [](const std::string& a, const std::string& b) {
        std::error_code ec;
        return fs::equivalent(a, b, ec) || fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
    };
    for (const auto& d : named) load_directory(d);
    for (const auto& d : default_directories()) {
        bool named_already = false;
        for (const auto& n : named) named_already = named_already || same(n, d);
        if (!named_already) load_directory(d, /*shadowable=*/true);
    }
}

void PluginRegistry::load_directory(const std::string& directory, bool shadowable) {
    std::error_code ec;
    if (!fs::is_directory(directory, ec)) {
        log_warn("plugin directory " + directory + " does not exist; no connectors loaded from it");
        return;
    }
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(directory, ec)) {
        if (entry.path().extension() == ".so" && !entry.is_directory()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) load_file(f, shadowable);
}

namespace {
PluginRegistry::LoadProbe& load_probe() {
    static PluginRegistry::LoadProbe probe;
    return probe;
}
}  // namespace

void PluginRegistry::set_load_probe(LoadProbe probe) { load_probe() = std::move(probe); }

void PluginRegistry::load_file(const std::string& path, bool shadowable) {
    if (const auto& probe = load_probe()) {
        if (auto why = probe(path)) {
            refuse(path, *why);
            return;
        }
    }
    auto lib = std::make_shared<boost::dll::shared_library>();
    std::error_code ec;
    lib->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec || !lib->is_loaded()) {
        // Boost's error code says little ("Bad file descriptor"); the loader's own text
        // ("invalid ELF header", "undefined symbol: …") tells the partner what to fix.
        std::string why = ec.message();
        if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
            dlclose(h);
        } else if (const char* e = dlerror()) {
            why = e;
        }
        refuse(path, "not a loadable shared library (" + why + ")");
        return;
    }
    if (!lib->has(PLEXUS_ENTRY_SYMBOL)) {
        refuse(path, std::string("no entry: the library does not export ") + PLEXUS_ENTRY_SYMBOL);
        return;
    }
    const plexus_connector_v1* d = nullptr;
    try {
        auto entry = lib->get<const plexus_connector_v1*()>(PLEXUS_ENTRY_SYMBOL);
        d = entry();
    } catch (const std::exception& e) {
        refuse(path, std::string("the entry failed: ") + e.what());
        return;
    } catch (...) {
        refuse(path, "the entry failed with an unknown exception");
        return;
    }
    if (!d) {
        refuse(path, "the entry returned no descriptor");
        return;
    }
    if (d->abi_major != PLEXUS_ABI_MAJOR) {
        refuse(path, "ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
                         " is not supported: this host speaks ABI major " +
                         std::to_string(PLEXUS_ABI_MAJOR));
        return;
    }
    if (d->abi_minor > PLEXUS_ABI_MINOR) {
        refuse(path, "ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
                         " is newer than this host's " + std::to_string(PLEXUS_ABI_MAJOR) + "." +
                         std::to_string(PLEXUS_ABI_MINOR) + "; upgrade Plexus");
        return;
    }
    if (d->struct_size < kDescriptorV10Size) {
        refuse(path, "descriptor of " + std::to_string(d->struct_size) +
                         " bytes is smaller than ABI 1.0's " + std::to_string(kDescriptorV10Size));
        return;
    }
    if (!d->id || !*d->id || !d->version || !d->manifest_json) {
        refuse(path, "descriptor lacks id, version or manifest");
        return;
    }
    std::string id = d->id;
    static const std::regex id_pattern("[a-z0-9_]+");
    if (!std::regex_match(id, id_pattern)) {
        refuse(path, "connector id \"" + id + "\" is not [a-z0-9_]+");
        return;
    }
    if (!d->create || !d->destroy || !d->check || !d->read_page || !d->write_batch || !d->lookup) {
        refuse(path, "descriptor of \"" + id + "\" lacks a required function");
        return;
    }
    auto manifest = nlohmann::json::parse(d->manifest_json, nullptr, false);
    if (manifest.is_discarded()) {
        refuse(path, "manifest of \"" + id + "\" is not valid JSON");
        return;
    }
    if (auto problem = check_manifest(manifest, id); !problem.empty()) {
        refuse(path, problem);
        return;
    }
    if (auto existing = find(id); existing && shadowable) {
        log_debug("plugin " + path + " (" + id + ") not loaded: " + existing->path +
                  " provides \"" + id + "\" from a folder named with --plugin-dir");
        return;
    }
    if (auto existing = find(id)) {
        refuse(path, "duplicate connector id \"" + id + "\" (already loaded from " +
                         existing->path + ")");
        return;
    }
    auto c = std::make_shared<LoadedConnector>();
    c->id = id;
    c->version = d->version;
    c->path = fs::absolute(path).lexically_normal();
    c->abi_major = d->abi_major;
    c->abi_minor = d->abi_minor;
    c->manifest = std::move(manifest);
    c->library = std::move(lib);
    c->descriptor = d;
    log_debug("plugin loaded: " + c->path + " (" + id + " " + c->version + ")");
    connectors_.push_back(std::move(c));
}

std::shared_ptr<const LoadedConnector> PluginRegistry::find(const std::string& id) const {
    for (const auto& c : connectors_)
        if (c->id == id) return c;
    return nullptr;
}

const nlohmann::json* PluginRegistry::manifest(const std::string& connector_id) const {
    auto c = find(connector_id);
    return c ? &c->manifest : nullptr;
}

std::optional<nlohmann::json> PluginRegistry::entities(const std::string& connector_id,
                                                       const nlohmann::json& resolved_settings,
                                                       std::string& error) const {
    auto c = find(connector_id);
    if (!c) {
        error = "unknown connector \"" + connector_id + "\"";
        return std::nullopt;
    }
    if (!c->has_describe()) return c->manifest.value("entities", nlohmann::json::array());
    std::string settings = resolved_settings.dump();
    std::string out;
    plexus_sink sink = sdk::string_sink(out);
    plexus_status st = PLEXUS_ERR_PLUGIN;
    try {
        st = c->descriptor->describe_entities(sdk::to_str(settings), &sink);
    } catch (...) {
        out = "describe_entities threw an exception";
    }
    if (st != PLEXUS_OK) {
        error = out.empty() ? "the connector could not describe its entities" : out;
        return std::nullopt;
    }
    auto list = nlohmann::json::parse(out, nullptr, false);
    if (!list.is_array()) {
        error = "the connector described its entities as something other than a JSON array";
        return std::nullopt;
    }
    return list;
}

std::vector<std::string> PluginRegistry::connector_ids() const {
    std::vector<std::string> ids;
    for (const auto& c : connectors_) ids.push_back(c->id);
    return ids;
}

std::vector<std::string> PluginRegistry::default_directories() {
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("PLEXUS_PLUGIN_PATH"); env && *env) {
        std::string s = env;
        size_t pos = 0;
        while (pos <= s.size()) {
            size_t end = s.find(':', pos);
            if (end == std::string::npos) end = s.size();
            if (end > pos) dirs.push_back(s.substr(pos, end - pos));
            pos = end + 1;
        }
        return dirs;
    }
    std::error_code ec;
    auto exe = boost::dll::program_location(ec);
    if (!ec) dirs.push_back((exe.parent_path().parent_path() / "plugins").lexically_normal().string());
    return dirs;
}

nlohmann::json PluginRegistry::describe(const LoadedConnector& c) {
    nlohmann::json entities = nlohmann::json::array();
    for (const auto& e : c.manifest.value("entities", nlohmann::json::array()))
        entities.push_back(e.value("name", ""));
    return {{"id", c.id},
            {"version", c.version},
            {"abi", std::to_string(c.abi_major) + "." + std::to_string(c.abi_minor)},
            {"path", c.path},
            {"name", c.manifest.value("name", c.id)},
            {"entities", entities},
            {"dynamic_entities", c.has_describe()},
            {"manifest", c.manifest}};
}

}  // namespace plexus
