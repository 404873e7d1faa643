#include "service/connection_admin.hpp"

#include "common/redactor.hpp"
#include "secrets/stored_connections.hpp"

#include <chrono>
#include <regex>
#include <set>

namespace plexus {
namespace {

using nlohmann::json;

constexpr const char* k_mask = "\u2022\u2022\u2022\u2022\u2022\u2022";

const json& settings_list(const json* manifest) {
    static const json empty = json::array();
    if (!manifest || !manifest->contains("settings") || !(*manifest)["settings"].is_array())
        return empty;
    return (*manifest)["settings"];
}

bool flag(const json& spec, const char* name) {
    return spec.contains(name) && spec[name].is_boolean() && spec[name].get<bool>();
}

std::string text_of(const json& spec, const char* name, const std::string& def = "") {
    return spec.contains(name) && spec[name].is_string() ? spec[name].get<std::string>() : def;
}

// A value an admin left empty in the form.
bool blank(const json& v) { return v.is_null() || (v.is_string() && v.get<std::string>().empty()); }

// What the form calls a setting: the manifest's "label", else its name in words
// ("store_domain" -> "Store domain", "api_key" -> "API key").
std::string label_of(const json& spec) {
    std::string label = text_of(spec, "label");
    if (!label.empty()) return label;
    std::string name = text_of(spec, "name");
    std::string out;
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('_', start);
        if (end == std::string::npos) end = name.size();
        std::string word = name.substr(start, end - start);
        static const std::set<std::string> upper = {"api", "url", "id", "ssl", "tls", "ca", "http",
                                                    "https", "sku", "vat", "oauth", "ms", "smtp"};
        if (upper.count(word)) {
            if (word == "ms") word = "(ms)";
            else for (auto& ch : word) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
        if (!word.empty()) out += (out.empty() ? "" : " ") + word;
        start = end + 1;
    }
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out;
}

bool valid_id(const std::string& id) {
    static const std::regex re(R"([A-Za-z0-9][A-Za-z0-9._-]{0,63})");
    return std::regex_match(id, re);
}

}  // namespace

ConnectionAdmin::ConnectionAdmin(Operations& ops, std::shared_ptr<const SecretKey> key)
    : ops_(ops), key_(std::move(key)) {}

const ConnectionConfig* ConnectionAdmin::file_connection(const std::string& id) const {
    const ConnectionConfig* c = ops_.hub().config().connection(id);
    return c && !c->stored ? c : nullptr;
}

std::vector<std::string> ConnectionAdmin::processes_using(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& p : ops_.hub().config().processes)
        if (p.source.connection == id || p.target.connection == id) out.push_back(p.id);
    return out;
}

json ConnectionAdmin::stored_view(const StoredConnection& c) {
    const json* manifest = ops_.hub().registry().manifest(c.connector);
    json settings = json::object();
    json given = json::parse(c.settings_json, nullptr, false);
    if (given.is_object())
        for (auto it = given.begin(); it != given.end(); ++it)
            settings[it.key()] = it->is_string() ? json(global_redactor().redact(it->get<std::string>()))
                                                 : *it;
    for (const auto& s : c.secrets) settings[s.name] = {{"set", true}};
    // Secret settings of the schema not set: {"set": false}, so the form knows the field.
    for (const auto& spec : settings_list(manifest))
        if (flag(spec, "secret") && !settings.contains(text_of(spec, "name")))
            settings[text_of(spec, "name")] = {{"set", false}};
    return {{"id", c.id},
            {"connector", c.connector},
            {"display_name", c.display_name},
            {"settings", settings},
            {"processes", processes_using(c.id)},
            {"origin", "portal"},
            {"read_only", false},
            {"connector_loaded", manifest != nullptr},
            {"created", time_or_null(c.created_ms)},
            {"updated", time_or_null(c.updated_ms)}};
}

json ConnectionAdmin::connections_view() {
    std::map<std::string, json> items;
    json file_items = ops_.connections_view()["items"];
    const std::string file = ops_.hub().config().file;
    for (auto& item : file_items) {
        const std::string id = item["id"];
        if (!file_connection(id)) continue;  // merged from the store: shown from there
        item["origin"] = "file";
        item["file"] = file;
        item["read_only"] = true;
        items[id] = std::move(item);
    }
    for (const auto& c : ops_.store().stored_connections())
        if (!items.count(c.id)) items[c.id] = stored_view(c);
    json out = json::array();
    const json tests = ops_.connection_tests();
    for (auto& [id, item] : items) {
        std::string why_not;
        item["lookup_entities"] = lookup_entities(id, item.value("connector", ""), &why_not);
        if (item["lookup_entities"].empty()) item["lookup_unavailable"] = why_not;
        item["last_test"] = tests.contains(id) ? tests[id] : json(nullptr);
        out.push_back(std::move(item));
    }
    return {{"items", out}};
}

std::optional<json> ConnectionAdmin::connection_view(const std::string& id) {
    if (file_connection(id)) {
        for (auto& item : connections_view()["items"])
            if (item["id"] == id) return item;
    }
    if (auto c = ops_.store().stored_connection(id)) return stored_view(*c);
    return std::nullopt;
}

bool ConnectionAdmin::exists(const std::string& id) {
    return file_connection(id) || ops_.store().stored_connection(id).has_value();
}

std::optional<json> ConnectionAdmin::settings_schema(const std::string& connector_id) const {
    const json* manifest = ops_.hub().registry().manifest(connector_id);
    if (!manifest) return std::nullopt;
    json settings = json::array();
    for (const auto& spec : settings_list(manifest)) {
        if (!spec.is_object() || !spec.contains("name") || !spec["name"].is_string()) continue;
        json s = {{"name", spec["name"]},
                  {"label", label_of(spec)},
                  {"type", text_of(spec, "type", "string")},
                  {"required", flag(spec, "required")},
                  {"secret", flag(spec, "secret")},
                  {"description", text_of(spec, "description")}};
        // A secret's default is not shown either (it is a value like any other).
        s["default"] = spec.contains("default") && !flag(spec, "secret") ? spec["default"] : json();
        settings.push_back(std::move(s));
    }
    return json{{"connector", connector_id},
                {"name", manifest->value("name", connector_id)},
                {"version", manifest->value("version", "")},
                {"settings", settings}};
}

ConnectionWrite ConnectionAdmin::create(const json& body, const std::string& actor) {
    ConnectionWrite w;
    w.status = OpStatus::invalid;
    for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "id" && it.key() != "connector" && it.key() != "display_name" &&
            it.key() != "settings")
            w.errors.push_back({it.key(), "unknown field; a connection has id, connector, "
                                          "display_name and settings"});
    const json id_value = body.value("id", json());
    if (!id_value.is_string() || id_value.get<std::string>().empty()) {
        w.errors.push_back({"id", "required: a name for the connection, e.g. shop-eu"});
    } else if (!valid_id(id_value.get<std::string>())) {
        w.errors.push_back({"id", "use 1 to 64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)"});
    }
    const json connector = body.value("connector", json());
    if (!connector.is_string() || connector.get<std::string>().empty())
        w.errors.push_back({"connector", "required: one of the installed connectors"});
    else if (!ops_.hub().registry().manifest(connector.get<std::string>()))
        w.errors.push_back({"connector", "no installed connector \"" + connector.get<std::string>() +
                                             "\"; see the Plugins page"});
    if (!w.errors.empty()) return w;
    const std::string id = id_value.get<std::string>();
    if (const ConnectionConfig* f = file_connection(id)) {
        w.status = OpStatus::conflict;
        w.message = "connection \"" + id + "\" is defined in the configuration file " +
                    ops_.hub().config().file + " (" + f->json_path +
                    "); choose another id, or edit it in the file";
        w.errors.push_back({"id", w.message});
        return w;
    }
    if (ops_.store().stored_connection(id)) {
        w.status = OpStatus::conflict;
        w.message = "a connection \"" + id + "\" exists already; choose another id";
        w.errors.push_back({"id", w.message});
        return w;
    }
    return write(id, body, std::nullopt, actor);
}

ConnectionWrite ConnectionAdmin::update(const std::string& id, const json& body,
                                        const std::string& actor) {
    ConnectionWrite w;
    if (file_connection(id)) {
        w.status = OpStatus::conflict;
        w.message = "connection \"" + id + "\" comes from the configuration file " +
                    ops_.hub().config().file + "; edit it there";
        return w;
    }
    auto existing = ops_.store().stored_connection(id);
    if (!existing) {
        w.status = OpStatus::not_found;
        w.message = "no connection \"" + id + "\"";
        return w;
    }
    w.status = OpStatus::invalid;
    for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "id" && it.key() != "connector" && it.key() != "display_name" &&
            it.key() != "settings" && it.key() != "clear_secrets")
            w.errors.push_back({it.key(), "unknown field; an edit has display_name, settings "
                                          "and clear_secrets"});
    if (body.contains("id") && body["id"] != id)
        w.errors.push_back({"id", "a connection cannot be renamed; create a new one"});
    if (body.contains("connector") && body["connector"] != existing->connector)
        w.errors.push_back({"connector", "the connector of a connection cannot change; create a "
                                         "new connection"});
    if (!w.errors.empty()) return w;
    json full = body;
    full["connector"] = existing->connector;
    return write(id, full, existing, actor);
}

ConnectionWrite ConnectionAdmin::write(const std::string& id, const json& body,
                                       const std::optional<StoredConnection>& existing,
                                       const std::string& actor) {
    ConnectionWrite w;
    w.status = OpStatus::invalid;
    if (!key_) {
        w.message = "no secret key is loaded, so connections cannot be stored; start plexus "
                    "serve with --secret-key-file or PLEXUS_SECRET_KEY";
        w.status = OpStatus::conflict;
        return w;
    }
    const std::string connector = body["connector"].get<std::string>();
    const json* manifest = ops_.hub().registry().manifest(connector);
    if (!manifest) {
        w.status = OpStatus::conflict;
        w.message = "connector \"" + connector + "\" is not loaded; install it first";
        return w;
    }
    std::string display_name = existing ? existing->display_name : "";
    if (body.contains("display_name")) {
        if (!body["display_name"].is_string() || body["display_name"].get<std::string>().size() > 200)
            w.errors.push_back({"display_name", "text of at most 200 characters"});
        else
            display_name = body["display_name"].get<std::string>();
    }
    const json given = body.value("settings", json::object());
    if (!given.is_object()) {
        w.errors.push_back({"settings", "an object of setting name → value"});
        return w;
    }
    std::set<std::string> clear;
    if (body.contains("clear_secrets")) {
        if (!body["clear_secrets"].is_array()) w.errors.push_back({"clear_secrets", "a list of setting names"});
        else
            for (const auto& n : body["clear_secrets"])
                if (n.is_string()) clear.insert(n.get<std::string>());
    }

    std::map<std::string, const json*> specs;
    for (const auto& spec : settings_list(manifest))
        if (spec.is_object() && spec.contains("name") && spec["name"].is_string())
            specs[spec["name"].get<std::string>()] = &spec;
    for (auto it = given.begin(); it != given.end(); ++it)
        if (!specs.count(it.key()))
            w.errors.push_back({"settings." + it.key(),
                                "connector \"" + connector + "\" has no setting \"" + it.key() + "\""});
    for (const auto& n : clear)
        if (!specs.count(n) || !flag(*specs[n], "secret"))
            w.errors.push_back({"clear_secrets", "\"" + n + "\" is not a secret setting of \"" + connector + "\""});

    std::map<std::string, SealedSecret> kept;  // existing sealed secrets, by name
    if (existing)
        for (const auto& s : existing->secrets) kept[s.name] = s;

    json plain = json::object();    // stored as it is
    json resolved_in = json::object();  // plain + secrets in clear: checked like the file's
    std::map<std::string, std::string> fresh;  // new secret values, by name
    std::vector<std::string> secrets_set, secrets_cleared;
    for (const auto& [name, spec] : specs) {
        const bool secret = flag(*spec, "secret");
        const bool required = flag(*spec, "required");
        const bool has_default = spec->contains("default") && !(*spec)["default"].is_null();
        const json v = given.contains(name) ? given[name] : json();
        const std::string field = "settings." + name;
        if (secret) {
            if (!blank(v) && !v.is_string()) {
                w.errors.push_back({field, "a secret is entered as text"});
                continue;
            }
            if (!blank(v)) {
                fresh[name] = v.get<std::string>();
                resolved_in[name] = v;
                secrets_set.push_back(name);
            } else if (clear.count(name)) {
                secrets_cleared.push_back(name);
                if (required && !has_default) w.errors.push_back({field, "required; it cannot be cleared"});
            } else if (kept.count(name)) {
                resolved_in[name] = "kept";  // placeholder: type string, checked when sealed
            } else if (required && !has_default) {
                w.errors.push_back({field, "required"});
            }
            continue;
        }
        if (blank(v)) {  // left empty: the default (if any) applies
            if (required && !has_default) w.errors.push_back({field, "required"});
            continue;
        }
        plain[name] = v;
        resolved_in[name] = v;
    }
    if (!w.errors.empty()) return w;

    // Types and ${ENV} references, checked as the configuration file's are.
    std::vector<ConfigError> errors;
    resolve_settings(*manifest, resolved_in, system_environment(), "", "/settings", errors);
    for (const auto& e : errors) {
        std::string field = "settings";
        if (e.json_path.rfind("/settings/", 0) == 0) field += "." + e.json_path.substr(10);
        w.errors.push_back({field, global_redactor().redact(e.message)});
    }
    if (!w.errors.empty()) return w;

    StoredConnection c;
    c.id = id;
    c.connector = connector;
    c.display_name = display_name;
    c.settings_json = plain.dump();
    for (const auto& [name, spec] : specs) {
        (void)spec;
        if (fresh.count(name)) {
            c.secrets.push_back(SealedSecret{name, key_->seal(secret_context(id, name), fresh[name]),
                                             key_->id()});
            global_redactor().add(fresh[name]);
        } else if (kept.count(name) && !clear.count(name)) {
            c.secrets.push_back(kept[name]);
        }
    }
    json names = json::array();
    for (auto it = plain.begin(); it != plain.end(); ++it) names.push_back(it.key());
    json detail = {{"connector", connector}, {"settings", names}, {"secrets_set", secrets_set}};
    if (!secrets_cleared.empty()) detail["secrets_cleared"] = secrets_cleared;
    const int64_t now = ops_.hub().clock().now_ms();
    const bool ok = existing ? ops_.store().update_connection(c, actor, now, detail.dump())
                             : ops_.store().create_connection(c, actor, now, detail.dump());
    if (!ok) {
        w.status = existing ? OpStatus::not_found : OpStatus::conflict;
        w.message = existing ? "no connection \"" + id + "\"" : "a connection \"" + id + "\" exists already";
        return w;
    }
    // A process of this hub using it takes the new settings at its next run.
    if (existing) {
        auto stored = ops_.store().stored_connection(id);
        if (stored) {
            ConnectionConfig cc;
            cc.id = id;
            cc.connector = connector;
            cc.stored = true;
            try {
                cc.settings = open_connection_settings(*stored, *key_);
                ops_.hub().replace_connection_settings(cc);
            } catch (const std::exception& e) {
                w.status = OpStatus::conflict;
                w.message = std::string("saved, but the running hub could not take the new settings: ") +
                            global_redactor().redact(e.what());
                return w;
            }
        }
    }
    w.status = OpStatus::ok;
    w.view = *connection_view(id);
    return w;
}

OpResult ConnectionAdmin::remove(const std::string& id, const std::string& actor) {
    if (file_connection(id))
        return {OpStatus::conflict, "connection \"" + id + "\" comes from the configuration file " +
                                        ops_.hub().config().file + "; remove it there"};
    if (!ops_.store().stored_connection(id)) return {OpStatus::not_found, "no connection \"" + id + "\""};
    auto users = processes_using(id);
    if (!users.empty()) {
        std::string list;
        for (const auto& p : users) list += (list.empty() ? "" : ", ") + p;
        return {OpStatus::conflict, "connection \"" + id + "\" is used by process(es) " + list +
                                        "; remove them from the configuration file first"};
    }
    if (!ops_.store().delete_connection(id, actor, ops_.hub().clock().now_ms()))
        return {OpStatus::not_found, "no connection \"" + id + "\""};
    return OpResult::ok();
}

std::unique_ptr<ConnectorInstance> ConnectionAdmin::open(const std::string& id) {
    if (file_connection(id)) return ops_.hub().open(id, LogTags{{}, 0, {}, id}, nullptr);
    auto stored = ops_.store().stored_connection(id);
    if (!stored) throw std::runtime_error("no connection \"" + id + "\"");
    if (!key_)
        throw std::runtime_error("no secret key is loaded; the connection's secrets cannot be opened");
    ConnectionConfig cc;
    cc.id = id;
    cc.connector = stored->connector;
    cc.stored = true;
    cc.settings = open_connection_settings(*stored, *key_);
    return ops_.hub().open_connection(cc, LogTags{{}, 0, {}, id}, nullptr);
}

ConnectionTest ConnectionAdmin::test(const std::string& id, const std::string& actor) {
    if (file_connection(id)) return ops_.test_connection(id, actor);
    return ops_.test_connection(id, [&] { return open(id); }, actor);
}

ConnectionTest ConnectionAdmin::test_unsaved(const json& body, const std::string& actor) {
    ConnectionTest t;
    t.error_class = "config";
    const auto fail = [&](const std::string& why) {
        t.message = global_redactor().redact(why);
        return t;
    };
    if (!body.contains("connector") || !body["connector"].is_string())
        return fail("give the connector of the connection to test");
    const std::string connector = body["connector"].get<std::string>();
    const json* manifest = ops_.hub().registry().manifest(connector);
    if (!manifest) return fail("connector \"" + connector + "\" is not loaded");
    const json given = body.value("settings", json::object());
    if (!given.is_object()) return fail("settings: an object of setting name → value");
    std::string id = body.contains("id") && body["id"].is_string() ? body["id"].get<std::string>() : "";
    std::optional<StoredConnection> stored;
    if (!id.empty()) {
        if (file_connection(id)) return fail("connection \"" + id + "\" comes from the configuration file; test it as it is");
        stored = ops_.store().stored_connection(id);
        if (stored && stored->connector != connector)
            return fail("connection \"" + id + "\" is a " + stored->connector + " connection");
    }
    json settings = json::object();
    std::map<std::string, const json*> specs;
    for (const auto& spec : settings_list(manifest))
        if (spec.is_object() && spec.contains("name") && spec["name"].is_string())
            specs[spec["name"].get<std::string>()] = &spec;
    for (auto it = given.begin(); it != given.end(); ++it) {
        if (!specs.count(it.key()))
            return fail("connector \"" + connector + "\" has no setting \"" + it.key() + "\"");
        if (!blank(*it)) settings[it.key()] = *it;
    }
    // A secret left empty while editing: the stored one.
    if (stored) {
        if (!key_) return fail("no secret key is loaded; the stored secrets cannot be opened");
        json kept = open_connection_settings(*stored, *key_);
        for (const auto& s : stored->secrets)
            if (!settings.contains(s.name) && kept.contains(s.name)) settings[s.name] = kept[s.name];
    }
    // Secret values typed into the form are masked everywhere from now on.
    for (const auto& [name, spec] : specs)
        if (flag(*spec, "secret") && settings.contains(name) && settings[name].is_string())
            global_redactor().add(settings[name].get<std::string>());
    ConnectionConfig cc;
    cc.id = id.empty() ? "unsaved-" + connector : id;
    cc.connector = connector;
    cc.stored = true;
    cc.settings = settings;
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<ConnectorInstance> instance;
    try {
        instance = ops_.hub().open_connection(cc, LogTags{{}, 0, {}, cc.id}, nullptr);
    } catch (const std::exception& e) {
        t = fail(e.what());
    }
    if (instance) {
        t = ops_.test_connection(cc.id, [&] { return std::move(instance); }, actor);
        return t;  // audited there, as connection.test of the id tried
    }
    t.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started).count();
    ops_.store().audit(AuditEntry{0, ops_.hub().clock().now_ms(), actor, "connection.test", cc.id,
                                  json{{"ok", false}, {"error_class", "config"}, {"unsaved", true}}.dump()});
    return t;
}

json ConnectionAdmin::lookup_entities(const std::string& id, const std::string& connector,
                                      std::string* why_not) const {
    json out = json::array();
    const auto reason = [&](const std::string& why) {
        if (why_not) *why_not = global_redactor().redact(why);
        return out;
    };
    const json* manifest = ops_.hub().registry().manifest(connector);
    if (!manifest) return reason("its connector \"" + connector + "\" is not loaded");
    json entities = manifest->value("entities", json::array());
    auto loaded = ops_.hub().registry().find(connector);
    if (loaded && loaded->has_describe()) {
        // Entities that come from the connection's settings (the files connector: one per
        // configured file): described from this connection's settings, resolved as a run
        // resolves them.
        json written;
        std::string file = ops_.hub().config().file, path = "/connections/" + id + "/settings";
        try {
            if (const ConnectionConfig* c = file_connection(id)) {
                written = c->settings;
                path = c->json_path + "/settings";
            } else if (auto stored = ops_.store().stored_connection(id)) {
                if (!key_) return reason("its entities come from its settings, and no secret key is loaded to open them");
                written = open_connection_settings(*stored, *key_);
                file = "the portal";
            } else {
                return reason("no connection \"" + id + "\"");
            }
        } catch (const std::exception& e) {
            return reason(std::string("its settings cannot be opened: ") + e.what());
        }
        std::vector<ConfigError> errors;
        ResolvedSettings resolved =
            resolve_settings(*manifest, written, ops_.hub().environment(), file, path, errors);
        if (!errors.empty())
            return reason("its entities come from its settings, which have a problem: " +
                          errors.front().to_string());
        std::string error;
        auto described = ops_.hub().registry().entities(connector, resolved.values, error);
        if (!described) return reason("its connector could not list its entities: " + error);
        entities = *described;
    }
    if (!entities.is_array()) return reason("its connector lists no entities");
    // Entities that can be read and looked up come first: their key is the record's own
    // (a voucher code, a customer number), what someone at the desk has in hand. An entity
    // that can only be written has lookup to find what a create made after a crash; its key
    // is the target's internal one. The page opens on the first entity of the list.
    json readable = json::array(), others = json::array();
    for (const auto& e : entities) {
        if (!e.is_object() || !e.contains("capabilities") || !e["capabilities"].is_array()) continue;
        bool can = false, read = false;
        for (const auto& c : e["capabilities"]) {
            can = can || c == "lookup";
            read = read || c == "read";
        }
        if (!can) continue;
        (read ? readable : others).push_back({{"name", text_of(e, "name")},
                                              {"key", text_of(e, "key")},
                                              {"description", text_of(e, "description")},
                                              {"by_key", read}});
    }
    for (auto& e : readable) out.push_back(std::move(e));
    for (auto& e : others) out.push_back(std::move(e));
    if (out.empty() && why_not) *why_not = "its connector looks nothing up";
    return out;
}

ConnectionLookup ConnectionAdmin::lookup(const std::string& id, const json& body,
                                         const std::string& actor) {
    ConnectionLookup l;
    const auto started = std::chrono::steady_clock::now();
    const auto answer = [&](OpStatus status, const std::string& message) {
        l.status = status;
        l.message = global_redactor().redact(message);
        l.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started).count();
        return l;
    };
    if (!body.contains("entity") || !body["entity"].is_string() || body["entity"].get<std::string>().empty())
        return answer(OpStatus::invalid, "give the entity to look up (\"entity\")");
    const std::string entity = body["entity"].get<std::string>();
    std::string key;
    if (body.contains("key") && body["key"].is_string()) key = body["key"].get<std::string>();
    else if (body.contains("key") && body["key"].is_number_integer()) key = std::to_string(body["key"].get<int64_t>());
    // Spaces around a pasted or scanned key are not part of it.
    const auto first = key.find_first_not_of(" \t\r\n");
    key = first == std::string::npos ? "" : key.substr(first, key.find_last_not_of(" \t\r\n") - first + 1);
    if (key.empty()) return answer(OpStatus::invalid, "give the key to look up (\"key\")");
    if (key.size() > 500) return answer(OpStatus::invalid, "the key is longer than 500 characters");

    std::string connector;
    if (const ConnectionConfig* c = file_connection(id)) connector = c->connector;
    else if (auto stored = ops_.store().stored_connection(id)) connector = stored->connector;
    else {
        l.not_found = "connection";
        return answer(OpStatus::not_found, "no connection \"" + id + "\"");
    }
    const json entities = lookup_entities(id, connector);
    bool known = false;
    std::string names;
    for (const auto& e : entities) {
        known = known || e["name"] == entity;
        names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
    }
    const auto audit = [&](const json& detail) {
        json d = detail;
        d["entity"] = entity;
        d["key"] = key;
        ops_.store().audit(AuditEntry{0, ops_.hub().clock().now_ms(), actor, "connection.lookup", id, d.dump()});
    };
    if (!known) {
        l.not_found = "entity";
        return answer(OpStatus::not_found,
                      "connector \"" + connector + "\" cannot look up \"" + entity + "\"" +
                          (names.empty() ? "; it looks nothing up" : "; it can look up: " + names));
    }
    try {
        auto instance = open(id);
        CallResult r = instance->lookup(json{{"entity", entity}, {"key", key}});
        if (!r.ok()) {
            l.error_class = status_name(r.status);
            audit({{"found", false}, {"error_class", l.error_class}});
            return answer(OpStatus::conflict, r.text);
        }
        json reply = json::parse(r.text, nullptr, false);
        if (!reply.is_object()) {
            l.error_class = "plugin";
            audit({{"found", false}, {"error_class", l.error_class}});
            return answer(OpStatus::conflict, "the connector's answer is not a JSON object");
        }
        if (!reply.value("found", false)) {
            audit({{"found", false}});
            l.not_found = "record";
            return answer(OpStatus::not_found,
                          "no " + entity + " \"" + key + "\" at connection \"" + id + "\"");
        }
        json rec = reply.value("record", json::object());
        l.record = {{"key", rec.value("key", key)}, {"data", rec.value("data", json::object())}};
        audit({{"found", true}});
        return answer(OpStatus::ok, "");
    } catch (const std::exception& e) {
        l.error_class = "plugin";
        audit({{"found", false}, {"error_class", l.error_class}});
        return answer(OpStatus::conflict, e.what());
    }
}

}  // namespace plexus
