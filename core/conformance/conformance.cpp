#include "conformance/conformance.hpp"

#include "common/clock.hpp"
#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "config/config.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "plugin_host/connector_instance.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace plexus::conformance {

namespace fs = std::filesystem;
using nlohmann::json;

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::pass: return "pass";
        case Verdict::fail: return "FAIL";
        case Verdict::skip: return "skipped";
    }
    return "?";
}

void Report::add(std::string rule, std::string title, std::string entity, Verdict v,
                 std::string reason) {
    results.push_back({std::move(rule), std::move(title), std::move(entity), v,
                       global_redactor().redact(reason)});
}

size_t Report::count(Verdict v) const {
    return static_cast<size_t>(std::count_if(results.begin(), results.end(),
                                             [v](const RuleResult& r) { return r.verdict == v; }));
}

std::string Report::text() const {
    std::ostringstream out;
    out << "Plexus connector conformance report\n"
        << "connector: " << connector << " " << version << "\n"
        << "library:   " << library << "\n"
        << "folder:    " << (folder.empty() ? "(none found)" : folder) << "\n"
        << "settings:  " << (settings_file.empty() ? "(none: behavioural rules not run)" : settings_file)
        << "\n\n";
    for (const auto& r : results) {
        std::string label = r.rule + (r.entity.empty() ? "" : " [" + r.entity + "]");
        out << "  " << verdict_name(r.verdict);
        for (size_t i = std::string(verdict_name(r.verdict)).size(); i < 8; ++i) out << ' ';
        out << label << ": " << r.title;
        if (!r.reason.empty()) {
            if (r.verdict == Verdict::skip) out << " — skipped (" << r.reason << ")";
            else out << "\n            " << r.reason;
        }
        out << "\n";
    }
    out << "\n" << count(Verdict::pass) << " passed, " << count(Verdict::fail) << " failed, "
        << count(Verdict::skip) << " skipped: " << (passed() ? "CONFORMS" : "DOES NOT CONFORM")
        << "\n";
    return out.str();
}

json Report::to_json() const {
    json rules = json::array();
    for (const auto& r : results) {
        json j{{"rule", r.rule}, {"title", r.title}, {"verdict", r.verdict == Verdict::pass ? "pass"
                                                                : r.verdict == Verdict::fail ? "fail"
                                                                                             : "skipped"}};
        if (!r.entity.empty()) j["entity"] = r.entity;
        if (!r.reason.empty()) j["reason"] = r.reason;
        rules.push_back(std::move(j));
    }
    return json{{"connector", connector},
                {"version", version},
                {"library", library},
                {"folder", folder},
                {"settings_file", settings_file},
                {"rules", rules},
                {"passed", count(Verdict::pass)},
                {"failed", count(Verdict::fail)},
                {"skipped", count(Verdict::skip)},
                {"conforms", passed()}};
}

// --- locating the subject ------------------------------------------------------------------

namespace {

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<fs::path> libraries_in(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name.rfind("libplexus_", 0) == 0 && e.path().extension() == ".so")
            out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::shared_ptr<const LoadedConnector> load_subject(const std::string& lib, PluginRegistry& registry) {
    const std::string abs = fs::absolute(lib).lexically_normal().string();
    registry.load_file(abs);
    for (const auto& c : registry.connectors())
        if (fs::absolute(c->path).lexically_normal().string() == abs) return c;
    for (const auto& r : registry.refused())
        if (fs::absolute(r.path).lexically_normal().string() == abs)
            throw std::runtime_error(lib + ": the host refuses this library: " + r.reason);
    throw std::runtime_error(lib + ": not loaded");
}

}  // namespace

Subject locate(const std::string& path, const std::string& folder,
               const std::vector<std::string>& plugin_dirs, PluginRegistry& registry) {
    Subject s;
    std::error_code ec;
    const fs::path p(path);
    std::string lib;
    if (fs::is_regular_file(p, ec)) {
        lib = p.string();
        if (!folder.empty()) s.folder = folder;
        else {
            fs::path dir = fs::absolute(p).parent_path();
            if (fs::exists(dir / "README.md")) s.folder = dir.string();
            else if (fs::exists(dir.parent_path() / "README.md")) s.folder = dir.parent_path().string();
        }
    } else if (fs::is_directory(p, ec)) {
        s.folder = folder.empty() ? fs::absolute(p).lexically_normal().string() : folder;
        std::vector<fs::path> found = libraries_in(p);
        if (found.empty()) found = libraries_in(p / "build");
        if (found.size() > 1) {
            std::string names;
            for (const auto& f : found) names += " " + f.string();
            throw std::runtime_error(path + ": more than one connector library here (" + names.substr(1) +
                                     "); name the one to check: plexus connector check LIB --folder " + path);
        }
        if (!found.empty()) {
            lib = found.front().string();
        } else {
            // A shipped connector's folder: its library is in the plugin folders.
            std::string id = fs::absolute(p).lexically_normal().filename().string();
            if (id.empty()) id = fs::absolute(p).lexically_normal().parent_path().filename().string();
            std::vector<std::string> dirs = plugin_dirs;
            for (const auto& d : PluginRegistry::default_directories()) dirs.push_back(d);
            for (const auto& d : dirs) {
                fs::path candidate = fs::path(d) / ("libplexus_" + id + ".so");
                if (fs::exists(candidate, ec)) {
                    lib = candidate.string();
                    break;
                }
            }
            if (lib.empty()) {
                std::string where;
                for (const auto& d : dirs) where += ", " + d;
                throw std::runtime_error(path + ": no connector library found: no libplexus_*.so in " + path +
                                         " or " + (p / "build").string() + ", and no libplexus_" + id +
                                         ".so in the plugin folders (" + where.substr(2) +
                                         "). Build it first, or name the library: plexus connector check LIB");
            }
        }
    } else if (std::regex_match(path, std::regex("[a-z0-9_]+"))) {
        registry.load_with_defaults(plugin_dirs);
        s.connector = registry.find(path);
        if (!s.connector)
            throw std::runtime_error("no file or folder \"" + path + "\", and no connector of that id in the plugin folders");
        s.folder = folder;
        return s;
    } else {
        throw std::runtime_error(path + ": no such file or folder");
    }
    s.connector = load_subject(lib, registry);
    for (const auto& d : plugin_dirs) registry.load_directory(d, true);
    for (const auto& d : PluginRegistry::default_directories()) registry.load_directory(d, true);
    return s;
}

// --- static rules --------------------------------------------------------------------------

namespace {

const std::set<std::string> kTypes{"string", "integer", "number", "boolean", "object", "array"};
const std::set<std::string> kCapabilities{"read", "incremental", "create", "update", "lookup"};

std::string str_or(const json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void check_static(const Subject& subject, const PluginRegistry& registry, Report& report) {
    const LoadedConnector& c = *subject.connector;
    report.connector = c.id;
    report.version = c.version;
    report.library = c.path;
    report.folder = subject.folder;
    const json& m = c.manifest;

    {
        std::vector<std::string> why;
        if (c.abi_major != PLEXUS_ABI_MAJOR || c.abi_minor > PLEXUS_ABI_MINOR)
            why.push_back("built for ABI " + std::to_string(c.abi_major) + "." + std::to_string(c.abi_minor) +
                          ", this host has " + std::to_string(PLEXUS_ABI_MAJOR) + "." +
                          std::to_string(PLEXUS_ABI_MINOR));
        const std::string expected = "libplexus_" + c.id + ".so";
        if (fs::path(c.path).filename().string() != expected)
            why.push_back("the file is " + fs::path(c.path).filename().string() + "; the host expects " +
                          expected + " (plexus_connector(" + c.id + " …) names it so)");
        report.add("library", "ABI and file name", "", why.empty() ? Verdict::pass : Verdict::fail,
                   why.empty() ? "" : why.front() + (why.size() > 1 ? "; " + why[1] : ""));
    }
    {
        const std::string mv = str_or(m, "version");
        if (mv == c.version)
            report.add("manifest.version", "manifest version equals descriptor version", "", Verdict::pass);
        else
            report.add("manifest.version", "manifest version equals descriptor version", "", Verdict::fail,
                       "the manifest says \"" + mv + "\", the class's static `version` \"" + c.version +
                           "\": make them the same");
    }
    {
        std::vector<std::string> missing;
        if (str_or(m, "name").empty()) missing.push_back("\"name\"");
        if (str_or(m, "description").empty()) missing.push_back("\"description\"");
        report.add("manifest.name", "the manifest has a name and a description", "",
                   missing.empty() ? Verdict::pass : Verdict::fail,
                   missing.empty() ? "" : "manifest: no " + (missing.size() == 2 ? missing[0] + " nor " + missing[1] : missing[0]) +
                                              " (a non-empty string)");
    }
    const json settings = m.value("settings", json::array());
    {
        std::vector<std::string> why;
        size_t i = 0;
        for (const auto& s : settings) {
            const std::string where = "manifest /settings/" + std::to_string(i++);
            const std::string name = str_or(s, "name");
            if (name.empty()) {
                why.push_back(where + ": no \"name\"");
                continue;
            }
            if (!kTypes.count(str_or(s, "type")))
                why.push_back(where + " (" + name + "): \"type\" is " +
                              (s.contains("type") ? s["type"].dump() : std::string("missing")) +
                              "; one of string, integer, number, boolean, object, array");
            if (str_or(s, "description").empty())
                why.push_back(where + " (" + name + "): no \"description\" (the portal shows it to operators)");
        }
        std::string text;
        for (const auto& w : why) text += (text.empty() ? "" : "; ") + w;
        report.add("manifest.settings", "every setting is typed and described", "",
                   why.empty() ? Verdict::pass : Verdict::fail, text);
    }
    {
        std::vector<std::string> why;
        size_t i = 0;
        const json entities = m.value("entities", json::array());
        for (const auto& e : entities) {
            const std::string where = "manifest /entities/" + std::to_string(i++);
            const std::string name = str_or(e, "name");
            if (name.empty()) why.push_back(where + ": no \"name\"");
            if (str_or(e, "key").empty())
                why.push_back(where + " (" + name + "): no \"key\" (the field identifying a record)");
            if (!e.contains("capabilities") || !e["capabilities"].is_array() || e["capabilities"].empty())
                why.push_back(where + " (" + name + "): no \"capabilities\" (read, incremental, create, update, lookup)");
            else
                for (const auto& cap : e["capabilities"])
                    if (!cap.is_string() || !kCapabilities.count(cap.get<std::string>()))
                        why.push_back(where + " (" + name + "): unknown capability " + cap.dump() +
                                      "; one of read, incremental, create, update, lookup");
        }
        std::string text;
        for (const auto& w : why) text += (text.empty() ? "" : "; ") + w;
        if (entities.empty() && !c.has_describe())
            text = "manifest: no \"entities\" and no describe_entities: the connector offers nothing";
        report.add("manifest.entities", "every entity has a key and capabilities", "",
                   text.empty() ? Verdict::pass : Verdict::fail, text);
    }

    const fs::path folder(subject.folder);
    const bool have_folder = !subject.folder.empty();
    const bool have_readme = have_folder && fs::exists(folder / "README.md");
    if (!have_readme) {
        report.add("readme.settings", "README.md names every setting", "", Verdict::fail,
                   have_folder ? "no README.md in " + subject.folder
                               : "no connector folder found: give it (plexus connector check DIR, or --folder DIR)");
    } else {
        const std::string readme = read_text(folder / "README.md");
        std::string missing;
        for (const auto& s : settings) {
            const std::string name = str_or(s, "name");
            if (!name.empty() && readme.find(name) == std::string::npos) missing += (missing.empty() ? "" : ", ") + name;
        }
        report.add("readme.settings", "README.md names every setting", "",
                   missing.empty() ? Verdict::pass : Verdict::fail,
                   missing.empty() ? "" : (folder / "README.md").string() + " does not mention: " + missing +
                                              " (say what each setting is for)");
    }

    const fs::path sample = folder / "sample.json";
    if (!have_folder || !fs::exists(sample)) {
        const std::string why = have_folder ? "no sample.json in " + subject.folder
                                            : "no connector folder found (see readme.settings)";
        report.add("sample.validates", "sample.json validates against the manifest", "", Verdict::fail, why);
        report.add("sample.process", "sample.json has a process using the connector", "", Verdict::fail, why);
        return;
    }
    std::vector<ConfigError> errors;
    Config config = load_config(sample.string(), errors);
    const bool parsed = errors.empty();
    if (parsed)
        validate_config(config, registry,
                        [](const std::string&) { return std::optional<std::string>("sample-secret-value"); },
                        errors);
    std::string text;
    for (const auto& e : errors) text += (text.empty() ? "" : "; ") + e.to_string();
    report.add("sample.validates", "sample.json validates against the manifest", "",
               errors.empty() ? Verdict::pass : Verdict::fail, text);
    if (!parsed) {
        report.add("sample.process", "sample.json has a process using the connector", "", Verdict::fail,
                   "sample.json could not be read (see sample.validates)");
        return;
    }
    bool uses = false;
    for (const auto& p : config.processes)
        for (const auto* conn : {config.connection(p.source.connection), config.connection(p.target.connection)})
            uses = uses || (conn && conn->connector == c.id);
    report.add("sample.process", "sample.json has a process using the connector", "",
               uses ? Verdict::pass : Verdict::fail,
               uses ? "" : config.processes.empty()
                               ? sample.string() + ": no \"processes\": show one process reading or writing with " + c.id
                               : sample.string() + ": no process reads or writes a connection of connector \"" + c.id + "\"");
}

// --- behavioural rules ---------------------------------------------------------------------

namespace {

bool is_loopback_url(const std::string& url) {
    static const std::regex re(R"(^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/.*)?$)",
                               std::regex::icase);
    return std::regex_match(url, re);
}

std::string random_hex(size_t n) {
    static std::mt19937_64 rng(std::random_device{}());
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) out += hex[rng() & 0xf];
    return out;
}

// The kit's own view of a connection: one HTTP client, one governor, fresh instances.
struct Harness {
    const LoadedConnector& connector;
    std::shared_ptr<const LoadedConnector> loaded;
    json settings;  // resolved
    const BehaviourOptions& options;
    SystemClock& clock = SystemClock::instance();
    HttpClient http{SystemClock::instance(), [] {
                        RetryPolicy p;
                        p.max_attempts = 3;
                        p.default_timeout_ms = 30000;
                        return p;
                    }()};
    std::unique_ptr<RateGovernor> governor;

    Harness(std::shared_ptr<const LoadedConnector> c, json s, const BehaviourOptions& o)
        : connector(*c), loaded(std::move(c)), settings(std::move(s)), options(o) {
        json rl = options.rate_limit ? connector.manifest.value("rate_limit", json::object()) : json::object();
        double rps = rl.is_object() ? rl.value("requests_per_second", 0.0) : 0.0;
        double burst = rl.is_object() ? rl.value("burst", std::max(1.0, rps)) : 1.0;
        governor = std::make_unique<RateGovernor>(rps, burst, clock);
    }

    std::unique_ptr<ConnectorInstance> open() {
        HostServices services;
        services.tags = LogTags{"conformance", 0, connector.id, "conformance"};
        services.http = &http;
        services.governor = governor.get();
        services.clock = &clock;
        std::vector<std::string> allowed = options.sandbox_urls;
        services.url_guard = [allowed](const std::string& url) -> std::optional<std::string> {
            if (is_loopback_url(url)) return std::nullopt;
            for (const auto& a : allowed)
                if (!a.empty() && url.rfind(a, 0) == 0) return std::nullopt;
            std::string host = url.substr(0, url.find('/', url.find("://") + 3));
            return "the conformance kit refused a request to " + host +
                   ": it is neither loopback nor a --sandbox URL (the kit creates records; it only "
                   "talks to a sandbox you name)";
        };
        IsolationOptions iso = options.isolate ? isolation_for(nullptr, connector.manifest)
                                               : IsolationOptions::in_process();
        return std::make_unique<ConnectorInstance>(loaded, settings, std::move(services), iso);
    }
};

std::string call_error(const char* what, const CallResult& r) {
    return std::string(what) + " returned " + status_name(r.status) + ": " + r.text;
}

std::vector<std::string> caps_of(const json& entity) {
    std::vector<std::string> out;
    if (entity.contains("capabilities") && entity["capabilities"].is_array())
        for (const auto& c : entity["capabilities"])
            if (c.is_string()) out.push_back(c.get<std::string>());
    return out;
}

bool has(const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// A record for a create: the sample given, else one made of the entity's declared fields.
std::optional<json> record_for(const json& entity, const BehaviourOptions& o, const std::string& nonce,
                               std::string& why) {
    const std::string name = str_or(entity, "name");
    if (o.samples.is_object() && o.samples.contains(name)) {
        json r = o.samples[name];
        if (!r.is_object()) {
            why = "samples." + name + " in the settings file is not an object";
            return std::nullopt;
        }
        // "{nonce}" in a string becomes this check's own value, so a sample can be unique
        // (an e-mail, a SKU) however often the kit runs against the same sandbox.
        std::function<void(json&)> fill = [&](json& v) {
            if (v.is_string()) {
                std::string t = v.get<std::string>();
                for (size_t at = t.find("{nonce}"); at != std::string::npos; at = t.find("{nonce}", at))
                    t.replace(at, 7, nonce);
                v = t;
            } else if (v.is_structured()) {
                for (auto& x : v) fill(x);
            }
        };
        fill(r);
        return r;
    }
    const std::string key = str_or(entity, "key");
    const std::string cursor = str_or(entity, "cursor");
    const std::string now = iso_utc(SystemClock::instance().now_ms());
    json r = json::object();
    const json fields = entity.value("fields", json::array());
    if (fields.is_array())
        for (const auto& f : fields) {
            const std::string fname = str_or(f, "name");
            const std::string type = str_or(f, "type");
            if (fname.empty()) continue;
            if (type == "integer") r[fname] = 1;
            else if (type == "number") r[fname] = 1.5;
            else if (type == "boolean") r[fname] = true;
            else if (type == "datetime") r[fname] = now;
            else if (type == "date") r[fname] = now.substr(0, 10);
            else if (type == "object") r[fname] = json::object();
            else if (type == "array") r[fname] = json::array();
            else r[fname] = "plexus-conformance-" + nonce;
        }
    if (!key.empty() && (!r.contains(key) || r[key].is_string())) r[key] = "pxc-" + nonce;
    if (!cursor.empty() && (!r.contains(cursor) || r[cursor].is_string())) r[cursor] = now;
    if (r.empty()) {
        why = "no sample record for " + name + " and no declared fields to make one from: add "
              "\"samples\": {\"" + name + "\": {…}} to the settings file";
        return std::nullopt;
    }
    return r;
}

void read_rules(Harness& h, ConnectorInstance& inst, const json& entity, Report& report) {
    const std::string name = str_or(entity, "name");
    const char* t_pages = "read pages until the end without repeating keys";
    const char* t_forward = "the cursor moves forward";
    const char* t_empty = "an empty page's next_cursor is never \"\"";
    const json filter = h.options.filters.is_object() && h.options.filters.contains(name)
                            ? h.options.filters[name]
                            : json::object();
    // Only an incremental entity resumes where it stopped; any other is read whole each run
    // (its pages still have to move forward while has_more).
    const bool incremental = has(caps_of(entity), "incremental");
    std::set<std::string> seen;
    std::optional<std::string> cursor;
    std::vector<std::string> page_fail, forward_fail;
    bool reached_end = false;
    size_t pages = 0;
    std::string failure;
    while (seen.size() < h.options.max_records) {
        json req{{"entity", name}, {"limit", h.options.page_size}, {"filter", filter}};
        req["cursor"] = cursor ? json(*cursor) : json(nullptr);
        CallResult r = inst.read_page(req);
        if (!r.ok()) {
            failure = "page " + std::to_string(pages + 1) + ": " + call_error("read", r);
            break;
        }
        ++pages;
        json page = json::parse(r.text, nullptr, false);
        if (!page.is_object() || !page.contains("records") || !page["records"].is_array()) {
            failure = "page " + std::to_string(pages) + ": the reply is not {records, next_cursor, has_more}";
            break;
        }
        const auto& records = page["records"];
        if (records.size() > h.options.page_size)
            page_fail.push_back("page " + std::to_string(pages) + " has " + std::to_string(records.size()) +
                                " records; the limit asked was " + std::to_string(h.options.page_size));
        for (const auto& rec : records) {
            const std::string key = rec.value("key", "");
            if (key.empty()) page_fail.push_back("page " + std::to_string(pages) + ": a record without a key");
            else if (!seen.insert(key).second)
                page_fail.push_back("page " + std::to_string(pages) + ": key \"" + key +
                                    "\" was already read on an earlier page (a cursor that resumes at, not after, "
                                    "the last record?)");
            if (!rec.contains("data") || !rec["data"].is_object())
                page_fail.push_back("page " + std::to_string(pages) + ": record \"" + key + "\" has no data object");
        }
        const std::string next = page.value("next_cursor", "");
        const bool more = page.value("has_more", false);
        if (!records.empty() && (more || incremental) && (next.empty() || (cursor && next == *cursor)))
            forward_fail.push_back("page " + std::to_string(pages) + " had " + std::to_string(records.size()) +
                                   " records but next_cursor " +
                                   (next.empty() ? "is empty" : "is the cursor it was asked with") +
                                   ": the next page would start at the same place");
        if (more && records.empty())
            forward_fail.push_back("page " + std::to_string(pages) +
                                   " is empty but says has_more: the host would ask again and again");
        if (!next.empty()) cursor = next;
        if (!page_fail.empty() || !forward_fail.empty() || !more) {
            reached_end = !more;
            break;
        }
        if (pages > h.options.max_records + 5) break;
    }
    if (!failure.empty()) {
        report.add("read.pages", t_pages, name, Verdict::fail, failure);
        report.add("read.cursor_forward", t_forward, name, Verdict::skip, "reading failed");
        report.add("read.empty_page_cursor", t_empty, name, Verdict::skip, "reading failed");
        return;
    }
    std::string join;
    for (size_t i = 0; i < page_fail.size() && i < 5; ++i) join += (join.empty() ? "" : "; ") + page_fail[i];
    report.add("read.pages", t_pages, name, page_fail.empty() ? Verdict::pass : Verdict::fail,
               page_fail.empty() ? std::to_string(seen.size()) + " records in " + std::to_string(pages) +
                                       (pages == 1 ? " page" : " pages") + " of at most " + std::to_string(h.options.page_size) +
                                       (reached_end ? "" : " (stopped at the record limit)")
                                 : join);
    if (reached_end && !incremental) {
        report.add("read.cursor_forward", t_forward, name, forward_fail.empty() ? Verdict::pass : Verdict::fail,
                   forward_fail.empty() ? "not incremental: the pages moved forward; the entity is read whole each run"
                                        : forward_fail.front());
        report.add("read.empty_page_cursor", t_empty, name, Verdict::skip,
                   "not incremental (no \"incremental\" capability): read whole each run");
        return;
    }
    if (!reached_end) {
        if (forward_fail.empty())
            report.add("read.cursor_forward", t_forward, name, Verdict::skip,
                       "the entity has more than " + std::to_string(h.options.max_records) +
                           " records: the end was not reached (raise --max-records)");
        else
            report.add("read.cursor_forward", t_forward, name, Verdict::fail, forward_fail.front());
        report.add("read.empty_page_cursor", t_empty, name, Verdict::skip, "the end was not reached");
        return;
    }
    // At the end: a read resumed from the last cursor returns nothing already read, and an
    // empty page keeps a cursor (the host stores it; "" is no position to resume from).
    if (!cursor) {
        if (forward_fail.empty())
            report.add("read.cursor_forward", t_forward, name, seen.empty() ? Verdict::skip : Verdict::fail,
                       seen.empty() ? "the entity is empty and no cursor was returned: nothing to resume from; "
                                      "put records in the sandbox"
                                    : "no page returned a next_cursor: every run would read everything again");
        else
            report.add("read.cursor_forward", t_forward, name, Verdict::fail, forward_fail.front());
        report.add("read.empty_page_cursor", t_empty, name, Verdict::skip,
                   "no cursor to resume from (an empty entity read from the start)");
        return;
    }
    json req{{"entity", name}, {"limit", h.options.page_size}, {"cursor", *cursor}, {"filter", filter}};
    CallResult r = inst.read_page(req);
    json page = r.ok() ? json::parse(r.text, nullptr, false) : json();
    if (!r.ok() || !page.is_object() || !page.contains("records") || !page["records"].is_array()) {
        const std::string why = r.ok() ? "the reply is malformed" : call_error("read", r);
        report.add("read.cursor_forward", t_forward, name, Verdict::fail,
                   "reading again from the last next_cursor failed: " + why);
        report.add("read.empty_page_cursor", t_empty, name, Verdict::skip, "reading from the last cursor failed");
        return;
    }
    std::string again;
    for (const auto& rec : page["records"]) {
        const std::string key = rec.value("key", "");
        if (seen.count(key)) again += (again.empty() ? "" : ", ") + key;
    }
    if (!again.empty())
        forward_fail.push_back("reading again from the last next_cursor returned records already read (" + again +
                               "): resume right after the cursor, not at it");
    report.add("read.cursor_forward", t_forward, name, forward_fail.empty() ? Verdict::pass : Verdict::fail,
               forward_fail.empty() ? "" : forward_fail.front());
    if (!page["records"].empty()) {
        report.add("read.empty_page_cursor", t_empty, name, Verdict::skip,
                   "the read from the last cursor was not empty (records changed meanwhile?)");
    } else {
        const std::string next = page.value("next_cursor", "");
        report.add("read.empty_page_cursor", t_empty, name, next.empty() ? Verdict::fail : Verdict::pass,
                   next.empty() ? "asked with cursor " + *cursor +
                                      ", the empty page returned next_cursor \"\": return the cursor you were "
                                      "given (or a later position), never \"\""
                                : "");
    }
}

struct Created {
    std::string target_key;
    std::string idempotency_key;
    json data;
};

json write_one(ConnectorInstance& inst, const std::string& entity, const char* op, const std::string& idem,
               const std::string& target_key, const json& data, std::string& error) {
    json rec{{"op", op}, {"idempotency_key", idem}, {"data", data}};
    if (!target_key.empty()) rec["target_key"] = target_key;
    CallResult r = inst.write_batch(json{{"entity", entity}, {"records", json::array({rec})}});
    if (!r.ok()) {
        error = call_error("write", r);
        return json();
    }
    json reply = json::parse(r.text, nullptr, false);
    if (!reply.is_object() || !reply.contains("results") || !reply["results"].is_array() ||
        reply["results"].size() != 1) {
        error = "the write reply is not {results: [one result]}";
        return json();
    }
    json res = reply["results"][0];
    const int st = res.value("status", -1);
    if (st != PLEXUS_OK) {
        error = std::string("the ") + op + " failed (" + status_name(static_cast<plexus_status>(st)) + "): " +
                res.value("message", "");
        return json();
    }
    return res;
}

json lookup_one(ConnectorInstance& inst, const json& request, std::string& error) {
    CallResult r = inst.lookup(request);
    if (!r.ok()) {
        error = call_error("lookup", r);
        return json();
    }
    json reply = json::parse(r.text, nullptr, false);
    if (!reply.is_object() || !reply.contains("found")) {
        error = "the lookup reply is not {found, record}";
        return json();
    }
    return reply;
}

void write_rules(Harness& h, std::unique_ptr<ConnectorInstance>& inst, const json& entity, Report& report) {
    const std::string name = str_or(entity, "name");
    const auto caps = caps_of(entity);
    const char* t_create = "create, then lookup by idempotency key finds it";
    const char* t_adopt = "a create repeated after a simulated crash is adopted, not duplicated";
    const char* t_update = "an update of an unchanged record is idempotent";
    const bool can_create = has(caps, "create"), can_lookup = has(caps, "lookup"), can_update = has(caps, "update");
    if (!can_create) {
        report.add("write.create_lookup", t_create, name, Verdict::skip, "no create capability");
        report.add("write.crash_adopt", t_adopt, name, Verdict::skip, "no create capability");
        report.add("write.update_idempotent", t_update, name, Verdict::skip, "no create capability");
        return;
    }
    const std::string nonce = random_hex(10);
    std::string why;
    auto data = record_for(entity, h.options, nonce, why);
    if (!data) {
        report.add("write.create_lookup", t_create, name, Verdict::fail, why);
        report.add("write.crash_adopt", t_adopt, name, Verdict::skip, "no record to create");
        report.add("write.update_idempotent", t_update, name, Verdict::skip, "no record to create");
        return;
    }
    const std::string idem = "px" + random_hex(30);
    std::string error;
    // Before the create: a lookup of an unknown key is "not found", not an error. (Asked with
    // empty data: with the data, a natural-key match — an e-mail already there — is allowed.)
    if (can_lookup) {
        json before = lookup_one(*inst, json{{"entity", name}, {"idempotency_key", idem}, {"data", json::object()}}, error);
        if (!error.empty() || before.value("found", false)) {
            report.add("write.create_lookup", t_create, name, Verdict::fail,
                       error.empty() ? "before the create, lookup by the new idempotency key " + idem +
                                           " already found a record (" + before["record"].value("key", "") +
                                           "): match on the key exactly"
                                     : "before the create, looking up an unknown idempotency key: " + error +
                                           " (nothing there is {\"found\": false}, not an error)");
            report.add("write.crash_adopt", t_adopt, name, Verdict::skip, "see write.create_lookup");
            report.add("write.update_idempotent", t_update, name, Verdict::skip, "see write.create_lookup");
            return;
        }
    }
    json created = write_one(*inst, name, "create", idem, "", *data, error);
    if (!error.empty() || created.value("target_key", "").empty()) {
        report.add("write.create_lookup", t_create, name, Verdict::fail,
                   error.empty() ? "the create succeeded without a target_key: return WriteResult::ok(key)"
                                 : error + (h.options.samples.contains(name)
                                                ? ""
                                                : " (the record was made up from the declared fields: give a valid "
                                                  "one as samples." + name + " in the settings file)"));
        report.add("write.crash_adopt", t_adopt, name, Verdict::skip, "the create failed");
        report.add("write.update_idempotent", t_update, name, Verdict::skip, "the create failed");
        return;
    }
    const std::string key = created["target_key"].get<std::string>();
    bool lookup_works = false;  // the update rule looks up only when that is known to work
    if (!can_lookup) {
        report.add("write.create_lookup", t_create, name, Verdict::skip,
                   "no lookup capability (created " + key +
                       "; without lookup the host cannot find what a create made before a crash)");
        report.add("write.crash_adopt", t_adopt, name, Verdict::skip, "no lookup capability");
    } else {
        std::vector<std::string> fail;
        json found = lookup_one(*inst, json{{"entity", name}, {"idempotency_key", idem}, {"data", *data}}, error);
        if (!error.empty()) fail.push_back("lookup by idempotency key with the data: " + error);
        else if (!found.value("found", false)) fail.push_back("lookup by idempotency key " + idem + " with the data did not find " + key);
        else if (found["record"].value("key", "") != key)
            fail.push_back("lookup by idempotency key found " + found["record"].value("key", "") + ", the create made " + key);
        error.clear();
        // As plexus reconcile asks: the key alone. An entity whose records cannot carry the
        // key (an absolute stock level, a status on an order) finds them by the data only:
        // said in the report, not failed.
        std::string note;
        json bare = lookup_one(*inst, json{{"entity", name}, {"idempotency_key", idem}, {"data", json::object()}}, error);
        if (!error.empty()) fail.push_back("lookup by idempotency key alone (as plexus reconcile asks): " + error);
        else if (!bare.value("found", false))
            note = "; note: lookup by the idempotency key alone (empty data, as plexus reconcile asks) does not find "
                   "it, so reconcile cannot count duplicates of this entity — store the key in the record where the "
                   "API allows";
        else if (bare["record"].value("key", "") != key)
            fail.push_back("lookup by idempotency key alone found " + bare["record"].value("key", "") + ", the create made " + key);
        error.clear();
        std::string fails;
        for (const auto& f : fail) fails += (fails.empty() ? "" : "; ") + f;
        lookup_works = fail.empty() && note.empty();
        report.add("write.create_lookup", t_create, name, fail.empty() ? Verdict::pass : Verdict::fail,
                   fail.empty() ? "created " + key + note : fails);
        // The simulated crash: the instance goes away before the host recorded the create;
        // a new one is asked what the host asks for an open intent.
        try {
            inst.reset();
            inst = h.open();
            json again = lookup_one(*inst, json{{"entity", name}, {"idempotency_key", idem}, {"data", *data}}, error);
            std::string adopt_fail;
            if (!error.empty()) adopt_fail = "after a restart, lookup by idempotency key: " + error;
            else if (!again.value("found", false))
                adopt_fail = "after a restart, lookup by idempotency key did not find " + key +
                             ": the host would create the record a second time";
            else if (again["record"].value("key", "") != key)
                adopt_fail = "after a restart, lookup found " + again["record"].value("key", "") + " instead of " + key;
            else if (again.value("matches", 0) > 1)
                adopt_fail = "after a restart, " + std::to_string(again.value("matches", 0)) +
                             " records carry the idempotency key: a duplicate";
            error.clear();
            report.add("write.crash_adopt", t_adopt, name, adopt_fail.empty() ? Verdict::pass : Verdict::fail,
                       adopt_fail.empty() ? "a new instance found " + key + " by its idempotency key" : adopt_fail);
        } catch (const std::exception& e) {
            report.add("write.crash_adopt", t_adopt, name, Verdict::fail, std::string("reopening: ") + e.what());
            report.add("write.update_idempotent", t_update, name, Verdict::skip, "the connector could not be reopened");
            return;
        }
    }
    if (!can_update) {
        report.add("write.update_idempotent", t_update, name, Verdict::skip, "no update capability");
        return;
    }
    std::vector<std::string> fail;
    for (int i = 0; i < 2; ++i) {
        json u = write_one(*inst, name, "update", idem, key, *data, error);
        if (!error.empty()) {
            fail.push_back("update " + std::to_string(i + 1) + " of the unchanged record: " + error);
            break;
        }
        const std::string k = u.value("target_key", "");
        if (!k.empty() && k != key) fail.push_back("update " + std::to_string(i + 1) + " returned key " + k + ", not " + key);
    }
    error.clear();
    if (fail.empty() && lookup_works) {
        json after = lookup_one(*inst, json{{"entity", name}, {"idempotency_key", idem}, {"data", json::object()}}, error);
        if (!error.empty()) fail.push_back("lookup after the updates: " + error);
        // (only when the key alone found it before: see write.create_lookup)
        else if (!after.value("found", false)) fail.push_back("after two updates, lookup by idempotency key no longer finds " + key);
        else if (after.value("matches", 0) > 1)
            fail.push_back("after two updates, " + std::to_string(after.value("matches", 0)) +
                           " records carry the idempotency key: an update must not create");
    }
    std::string fails;
    for (const auto& f : fail) fails += (fails.empty() ? "" : "; ") + f;
    report.add("write.update_idempotent", t_update, name, fail.empty() ? Verdict::pass : Verdict::fail, fails);
}

}  // namespace

void read_settings_file(const std::string& path, const json& manifest, BehaviourOptions& options) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot be read");
    std::ostringstream s;
    s << in.rdbuf();
    json j = json::parse(s.str(), nullptr, false, /*ignore_comments=*/true);
    if (j.is_discarded()) throw std::runtime_error(path + ": not valid JSON");
    if (!j.is_object()) throw std::runtime_error(path + ": not a JSON object (the connection's settings)");
    bool declares_settings = false;
    for (const auto& st : manifest.value("settings", json::array()))
        declares_settings = declares_settings || str_or(st, "name") == "settings";
    if (j.contains("settings") && j["settings"].is_object() && !declares_settings) {
        options.settings = j["settings"];
        if (j.contains("filters")) {
            if (!j["filters"].is_object()) throw std::runtime_error(path + ": /filters: not an object ({entity: filter})");
            options.filters = j["filters"];
        }
        if (j.contains("samples")) {
            if (!j["samples"].is_object()) throw std::runtime_error(path + ": /samples: not an object ({entity: record})");
            options.samples = j["samples"];
        }
        for (auto it = j.begin(); it != j.end(); ++it)
            if (it.key() != "settings" && it.key() != "samples" && it.key() != "filters" && it.key().rfind('_', 0) != 0)
                throw std::runtime_error(path + ": /" + it.key() +
                                         ": unknown; the file holds \"settings\", \"samples\" and \"filters\" "
                                         "(and notes in keys starting with _)");
    } else {
        options.settings = j;
    }
}

void check_behaviour(const Subject& subject, const BehaviourOptions& options, Report& report) {
    const LoadedConnector& c = *subject.connector;
    const char* t_check = "check() accepts the settings";
    // "{sandbox}" in a setting stands for the first --sandbox URL, so one settings file
    // serves wherever the sandbox listens.
    json raw = options.settings;
    bool placeholder = false;
    std::function<void(json&)> place = [&](json& v) {
        if (v.is_string()) {
            std::string t = v.get<std::string>();
            for (size_t at = t.find("{sandbox}"); at != std::string::npos; at = t.find("{sandbox}", at)) {
                placeholder = true;
                if (options.sandbox_urls.empty()) break;
                t.replace(at, 9, options.sandbox_urls.front());
                at += options.sandbox_urls.front().size();
            }
            v = t;
        } else if (v.is_structured()) {
            for (auto& x : v) place(x);
        }
    };
    place(raw);
    if (placeholder && options.sandbox_urls.empty()) {
        report.add("settings", "the settings validate against the manifest", "", Verdict::fail,
                   "the settings say {sandbox}: give the sandbox's base URL with --sandbox URL");
        return;
    }
    std::vector<ConfigError> errors;
    ResolvedSettings resolved = resolve_settings(c.manifest, raw, options.env,
                                                 report.settings_file.empty() ? "settings" : report.settings_file,
                                                 "", errors);
    for (const auto& s : resolved.secret_values) global_redactor().add(s);
    if (!errors.empty()) {
        std::string text;
        for (const auto& e : errors) text += (text.empty() ? "" : "; ") + e.to_string();
        report.add("settings", "the settings validate against the manifest", "", Verdict::fail, text);
        return;
    }
    report.add("settings", "the settings validate against the manifest", "", Verdict::pass);
    // The entities for these settings (describe_entities when the connector has it).
    json entities = c.manifest.value("entities", json::array());
    if (c.has_describe()) {
        std::string out;
        plexus_sink sink = sdk::string_sink(out);
        plexus_status st = c.descriptor->describe_entities(
            sdk::to_str(resolved.values.dump()), &sink);
        json e = st == PLEXUS_OK ? json::parse(out, nullptr, false) : json();
        if (st != PLEXUS_OK || !e.is_array()) {
            report.add("entities", "describe_entities answers for the settings", "", Verdict::fail,
                       st != PLEXUS_OK ? std::string("describe_entities returned ") + status_name(st) + ": " + out
                                       : "describe_entities did not return a JSON array");
            return;
        }
        entities = e;
        report.add("entities", "describe_entities answers for the settings", "", Verdict::pass,
                   std::to_string(e.size()) + " entities");
    }

    Harness h(subject.connector, resolved.values, options);
    std::unique_ptr<ConnectorInstance> inst;
    try {
        inst = h.open();
    } catch (const std::exception& e) {
        report.add("check", t_check, "", Verdict::fail, std::string("the connector cannot be created: ") + e.what());
        return;
    }
    try {
        CallResult r = inst->check();
        report.add("check", t_check, "", r.ok() ? Verdict::pass : Verdict::fail,
                   r.ok() ? "" : call_error("check", r) + " (are the settings pointing at your sandbox?)");
        if (!r.ok()) return;  // nothing else would work

        bool any_read = false, any_write = false, any_lookup = false;
        for (const auto& e : entities) {
            const std::string name = str_or(e, "name");
            if (!options.entities.empty() &&
                std::find(options.entities.begin(), options.entities.end(), name) == options.entities.end())
                continue;
            const auto caps = caps_of(e);
            any_read = any_read || has(caps, "read");
            any_write = any_write || has(caps, "create") || has(caps, "update");
            any_lookup = any_lookup || has(caps, "lookup");
            if (e.value("inbox", false)) {
                for (const char* rule : {"read.pages", "read.cursor_forward", "read.empty_page_cursor"})
                    report.add(rule, "read rules", name, Verdict::skip, "an inbox entity: the host feeds it webhook events");
            } else if (!has(caps, "read")) {
                report.add("read.pages", "read pages until the end without repeating keys", name, Verdict::skip, "no read capability");
                report.add("read.cursor_forward", "the cursor moves forward", name, Verdict::skip, "no read capability");
                report.add("read.empty_page_cursor", "an empty page's next_cursor is never \"\"", name, Verdict::skip, "no read capability");
            } else {
                read_rules(h, *inst, e, report);
            }
            write_rules(h, inst, e, report);
        }
        // Errors carry a status: asking for an entity that does not exist is answered with a
        // status that says so, not a crash and not "plugin" (a bug).
        const std::string bogus = "plexus_conformance_no_such_entity";
        std::vector<std::string> fail;
        size_t tried = 0;
        auto judge = [&](const char* op, const CallResult& r) {
            ++tried;
            if (r.ok() && std::string(op) == "write") {
                // A per-record refusal is a fine answer too, when it carries a status.
                json reply = json::parse(r.text, nullptr, false);
                if (reply.is_object() && reply.contains("results") && reply["results"].is_array() &&
                    reply["results"].size() == 1) {
                    const json& res = reply["results"][0];
                    const int st = res.value("status", 0);
                    if (st == PLEXUS_ERR_PLUGIN)
                        fail.push_back("write of an unknown entity: the record failed as plugin (a bug): " +
                                       res.value("message", "") + "; return PLEXUS_ERR_CONFIG");
                    else if (st != PLEXUS_OK && res.value("message", "").empty())
                        fail.push_back("write of an unknown entity: the record failed without a message");
                    else if (st != PLEXUS_OK)
                        return;
                }
            }
            if (r.ok()) fail.push_back(std::string(op) + " of an unknown entity succeeded: refuse it with PLEXUS_ERR_CONFIG");
            else if (r.status == PLEXUS_ERR_PLUGIN)
                fail.push_back(std::string(op) + " of an unknown entity returned plugin (a bug: " + r.text +
                               "); throw Error(PLEXUS_ERR_CONFIG, \"unknown entity …\")");
            else if (r.text.empty()) fail.push_back(std::string(op) + " of an unknown entity returned " + status_name(r.status) + " without a message");
        };
        if (any_read) judge("read", inst->read_page(json{{"entity", bogus}, {"limit", 1}, {"cursor", nullptr}, {"filter", json::object()}}));
        if (any_lookup) judge("lookup", inst->lookup(json{{"entity", bogus}, {"key", "x"}, {"data", json::object()}}));
        if (any_write)
            judge("write", inst->write_batch(json{{"entity", bogus}, {"records", json::array({json{{"op", "create"}, {"idempotency_key", "px" + random_hex(30)}, {"data", json::object()}}})}}));
        std::string fails;
        for (const auto& f : fail) fails += (fails.empty() ? "" : "; ") + f;
        if (tried == 0) report.add("errors.status", "errors carry a status", "", Verdict::skip, "no read, write or lookup capability");
        else report.add("errors.status", "errors carry a status", "", fail.empty() ? Verdict::pass : Verdict::fail, fails);
    } catch (const std::exception& e) {
        // The worker was lost (crash, deadline, memory): the connector's fault, reported.
        report.add("worker", "the connector survives the checks", "", Verdict::fail, e.what());
    }
}

}  // namespace plexus::conformance
