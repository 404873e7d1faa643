#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "mapping/expression.hpp"
#include "mapping/mapping.hpp"
#include "scheduler/schedule.hpp"

namespace plexus {

using json = nlohmann::json;

const ConnectionConfig* Config::connection(const std::string& id) const {
    for (const auto& c : connections)
        if (c.id == id) return &c;
    return nullptr;
}

const GroupConfig* Config::group(const std::string& id) const {
    for (const auto& g : groups)
        if (g.id == id) return &g;
    return nullptr;
}

const ProcessConfig* Config::process(const std::string& id) const {
    for (const auto& p : processes)
        if (p.id == id) return &p;
    return nullptr;
}

namespace {

constexpr int kMaxPageSize = 10000;  // page_size and batch_size: 1 .. kMaxPageSize

const char* const kTopKeys[] = {"connections", "lookup_tables", "processes", "hooks", "serve",
                                "groups", "notifications"};
const char* const kGroupKeys[] = {"id", "name", "description", "processes", "actions"};
const char* const kActionKeys[] = {"id", "label", "run", "run_all", "from", "from_default"};
const char* const kServeKeys[] = {"run_at_start"};
const char* const kHooksKeys[] = {"listen", "max_body_bytes", "max_pending", "retention_days"};
const char* const kConnectionKeys[] = {"connector",      "settings",       "rate_limit",
                                       "isolation",      "call_timeout_s", "memory_limit_mb"};
const char* const kProcessKeys[] = {"id",      "name",         "source",    "target",
                                    "mapping", "mode",         "aggregate", "schedule",
                                    "enabled", "dependencies", "page_size", "batch_size"};
const char* const kSourceKeys[] = {"connection", "entity", "filter"};
const char* const kTargetKeys[] = {"connection", "entity"};
const char* const kScheduleKeys[] = {"cron", "interval", "timezone"};
const char* const kDependencyKeys[] = {"process", "key"};

template <size_t N>
std::vector<std::string> names(const char* const (&list)[N]) {
    return std::vector<std::string>(list, list + N);
}

std::string joined(const std::vector<std::string>& list) {
    std::string out;
    for (size_t i = 0; i < list.size(); ++i)
        out += (i == 0 ? "" : (i + 1 == list.size() ? " and " : ", ")) + list[i];
    return out;
}

bool valid_id(const std::string& id) {
    if (id.empty() || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-' || c == '.';
    });
}

// Structural reading with error collection.
struct Reader {
    const std::string& file;
    std::vector<ConfigError>& errors;

    void error(const std::string& path, const std::string& message) {
        errors.push_back(ConfigError{file, path, message});
    }

    void unknown_keys(const json& object, const std::string& path,
                      const std::vector<std::string>& known, const std::string& where) {
        for (const auto& [key, value] : object.items()) {
            (void)value;
            if (std::find(known.begin(), known.end(), key) != known.end()) continue;
            if (is_comment_key(key)) continue;
            error(path + "/" + json_pointer_segment(key),
                  "unknown key \"" + key + "\" in " + where + suggestion(key, known, "keys"));
        }
    }

    // A string member. Missing: error when `required` (naming `what`), else untouched.
    bool string(const json& object, const char* key, const std::string& path, std::string& out,
                bool required, const std::string& what) {
        auto it = object.find(key);
        if (it == object.end()) {
            if (required) error(path, std::string("missing \"") + key + "\": " + what);
            return false;
        }
        if (!it->is_string()) {
            error(path + "/" + key, std::string("\"") + key + "\" must be a string (" + what +
                                        "), got " + describe_type(*it));
            return false;
        }
        if (it->get_ref<const std::string&>().empty()) {
            error(path + "/" + key, std::string("\"") + key + "\" is empty; give " + what);
            return false;
        }
        out = it->get<std::string>();
        return true;
    }
};

// JSON pointer of the key being parsed, for duplicate-key errors (the parser callback
// sees events, not paths).
struct KeyTracker {
    struct Frame {
        bool object = false;
        std::set<std::string> keys;
        std::string key;
        size_t index = 0;
    };
    std::vector<Frame> stack;
    Reader& reader;

    std::string path() const {
        std::string p;
        for (const auto& f : stack)
            p += "/" + (f.object ? json_pointer_segment(f.key) : std::to_string(f.index));
        return p;
    }

    void element_done() {
        if (!stack.empty() && !stack.back().object) ++stack.back().index;
    }

    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
                stack.push_back(Frame{true, {}, {}, 0});
                break;
            case json::parse_event_t::array_start:
                stack.push_back(Frame{false, {}, {}, 0});
                break;
            case json::parse_event_t::key: {
                Frame& f = stack.back();
                std::string key = parsed.get<std::string>();
                f.key = key;
                if (!f.keys.insert(key).second)
                    reader.error(path(), "duplicate key \"" + key +
                                             "\": JSON keeps only the last one; remove or rename "
                                             "one of them");
                break;
            }
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                if (!stack.empty()) stack.pop_back();
                element_done();
                break;
            case json::parse_event_t::value:
                element_done();
                break;
        }
        return true;
    }
};

void parse_connections(const json& doc, Reader& r, Config& cfg) {
    auto it = doc.find("connections");
    if (it == doc.end()) return;
    if (!it->is_object()) {
        r.error("/connections",
                "\"connections\" must be an object of connection id → "
                "{\"connector\": …, \"settings\": {…}}, got " +
                    describe_type(*it));
        return;
    }
    for (const auto& [id, value] : it->items()) {
        if (is_comment_key(id)) continue;
        const std::string path = "/connections/" + json_pointer_segment(id);
        if (!valid_id(id)) {
            r.error(path, "connection id \"" + id +
                              "\" may hold only letters, digits, \"-\", \"_\" and \".\", "
                              "starting with a letter or digit");
            continue;
        }
        if (!value.is_object()) {
            r.error(path,
                    "a connection must be an object {\"connector\": …, \"settings\": {…}}, "
                    "got " +
                        describe_type(value));
            continue;
        }
        r.unknown_keys(value, path, names(kConnectionKeys), "a connection");
        ConnectionConfig c;
        c.id = id;
        c.json_path = path;
        r.string(value, "connector", path, c.connector, true,
                 "the id of the connector this connection uses, e.g. \"files\"");
        if (auto s = value.find("settings"); s != value.end()) {
            if (s->is_object())
                c.settings = *s;
            else
                r.error(path + "/settings",
                        "\"settings\" must be an object of setting name → "
                        "value, got " +
                            describe_type(*s));
        }
        if (auto rl = value.find("rate_limit"); rl != value.end()) {
            const std::string rpath = path + "/rate_limit";
            if (!rl->is_object()) {
                r.error(rpath, "\"rate_limit\" must be an object {\"requests_per_second\": n, "
                               "\"burst\": n}, got " + describe_type(*rl));
            } else {
                for (auto it = rl->begin(); it != rl->end(); ++it) {
                    if (it.key() != "requests_per_second" && it.key() != "burst") {
                        r.error(rpath + "/" + json_pointer_segment(it.key()),
                                "unknown key \"" + it.key() +
                                    "\" in a rate limit; known keys: requests_per_second, burst");
                    } else if (!it->is_number() || it->get<double>() < 0) {
                        r.error(rpath + "/" + it.key(),
                                "\"" + it.key() + "\" must be a number of 0 or more, got " +
                                    quote_value(*it));
                    }
                }
                if (!rl->contains("requests_per_second"))
                    r.error(rpath, "\"requests_per_second\" is missing (0: no limit)");
                c.rate_limit = *rl;
            }
        }
        if (auto iso = value.find("isolation"); iso != value.end()) {
            if (!iso->is_string() || (*iso != "process" && *iso != "none"))
                r.error(path + "/isolation",
                        "\"isolation\" must be \"process\" (each connector instance in a worker "
                        "process, the default) or \"none\" (in the hub's own process), got " +
                            quote_value(*iso));
            else
                c.isolation = iso->get<std::string>();
        }
        if (auto t = value.find("call_timeout_s"); t != value.end()) {
            if (!t->is_number() || t->get<double>() <= 0 || t->get<double>() > 86400)
                r.error(path + "/call_timeout_s",
                        "\"call_timeout_s\" must be a number of seconds above 0 and at most 86400, "
                        "got " + quote_value(*t));
            else
                c.call_timeout_s = t->get<double>();
        }
        if (auto m = value.find("memory_limit_mb"); m != value.end()) {
            if (!m->is_number_integer() || m->get<int64_t>() < 0 ||
                (m->get<int64_t>() > 0 && m->get<int64_t>() < 64))
                r.error(path + "/memory_limit_mb",
                        "\"memory_limit_mb\" must be a whole number of MiB, 64 or more (0: no "
                        "cap), got " + quote_value(*m));
            else
                c.memory_limit_mb = m->get<int64_t>();
        }
        cfg.connections.push_back(std::move(c));
    }
}

void parse_serve(const json& doc, Reader& r, Config& cfg) {
    auto it = doc.find("serve");
    if (it == doc.end()) return;
    if (!it->is_object()) {
        r.error("/serve", "\"serve\" must be an object {\"run_at_start\": \"new\"}, got " +
                              describe_type(*it));
        return;
    }
    r.unknown_keys(*it, "/serve", names(kServeKeys), "\"serve\"");
    if (auto v = it->find("run_at_start"); v != it->end()) {
        const std::string text = v->is_string() ? v->get<std::string>() : std::string();
        if (text != "new" && text != "all" && text != "none")
            r.error("/serve/run_at_start",
                    "\"run_at_start\" must be \"new\" (processes never run yet), \"all\" or "
                    "\"none\", got " + quote_value(*v));
        else
            cfg.serve.run_at_start = text;
    }
}

// A list of known process ids at `path`; false (errors added) when not.
bool process_list(const json& v, const std::string& path, Reader& r, const Config& cfg,
                  std::vector<std::string>& out, const std::string& what) {
    if (!v.is_array() || v.empty()) {
        r.error(path, what + " must be a non-empty array of process ids, got " + describe_type(v));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v.size(); ++i) {
        const std::string ipath = path + "/" + std::to_string(i);
        if (!v[i].is_string()) {
            r.error(ipath, "a process id must be a string, got " + describe_type(v[i]));
            ok = false;
        } else if (!cfg.process(v[i].get<std::string>())) {
            r.error(ipath, "unknown process \"" + v[i].get<std::string>() + "\"");
            ok = false;
        } else if (std::find(out.begin(), out.end(), v[i].get<std::string>()) != out.end()) {
            r.error(ipath, "process \"" + v[i].get<std::string>() + "\" is listed twice");
            ok = false;
        } else {
            out.push_back(v[i].get<std::string>());
        }
    }
    return ok;
}

bool time_text(const std::string& t) {
    static const std::regex re(R"(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)");
    return std::regex_match(t, re);
}

void parse_action(const json& a, const std::string& path, Reader& r, const Config& cfg,
                  GroupConfig& g, std::set<std::string>& ids) {
    if (!a.is_object()) {
        r.error(path, "an action must be an object {\"id\", \"label\", \"run\" or \"run_all\"}, got " +
                          describe_type(a));
        return;
    }
    r.unknown_keys(a, path, names(kActionKeys), "an action");
    GroupAction act;
    act.json_path = path;
    if (!r.string(a, "id", path, act.id, true, "an action id such as \"import-orders\""))
        return;
    if (!valid_id(act.id))
        r.error(path + "/id", "action id \"" + act.id +
                                  "\" may hold only letters, digits, \"-\", \"_\" and \".\"");
    if (!ids.insert(act.id).second) r.error(path + "/id", "duplicate action id \"" + act.id + "\"");
    r.string(a, "label", path, act.label, true, "the button's text, e.g. \"Import all orders now\"");
    const bool has_run = a.contains("run"), has_all = a.contains("run_all");
    if (has_run == has_all) {
        r.error(path, "an action has either \"run\" (one process) or \"run_all\" (several, in "
                      "dependency order)");
        return;
    }
    if (has_run) {
        if (r.string(a, "run", path, act.run, true, "the process to run") && !cfg.process(act.run))
            r.error(path + "/run", "unknown process \"" + act.run + "\"");
    } else {
        process_list(a["run_all"], path + "/run_all", r, cfg, act.run_all, "\"run_all\"");
    }
    if (a.contains("from")) {
        if (!has_run)
            r.error(path + "/from", "\"from\" goes with \"run\" (one process read again from a time)");
        else if (r.string(a, "from", path, act.from, false, "\"ask\" or a time") &&
                 act.from != "ask" && !time_text(act.from))
            r.error(path + "/from", "\"from\" must be \"ask\" or a time such as \"2024-05-01\" or "
                                    "\"2024-05-01T00:00:00Z\", got " + quote_value(a["from"]));
    }
    if (a.contains("from_default")) {
        if (act.from != "ask")
            r.error(path + "/from_default", "\"from_default\" goes with \"from\": \"ask\"");
        else if (r.string(a, "from_default", path, act.from_default, false, "a time") &&
                 !time_text(act.from_default))
            r.error(path + "/from_default", "\"from_default\" must be a time such as \"2024-05-01\", got " +
                                                quote_value(a["from_default"]));
    }
    g.actions.push_back(std::move(act));
}

void parse_groups(const json& doc, Reader& r, Config& cfg) {
    auto it = doc.find("groups");
    if (it == doc.end()) return;
    if (!it->is_array()) {
        r.error("/groups", "\"groups\" must be an array of group objects, got " + describe_type(*it));
        return;
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < it->size(); ++i) {
        const json& g = (*it)[i];
        const std::string path = "/groups/" + std::to_string(i);
        if (!g.is_object()) {
            r.error(path, "a group must be an object with id, name and processes, got " + describe_type(g));
            continue;
        }
        r.unknown_keys(g, path, names(kGroupKeys), "a group");
        GroupConfig gc;
        gc.json_path = path;
        if (!r.string(g, "id", path, gc.id, true, "a unique group id such as \"gomag\"")) continue;
        if (!valid_id(gc.id))
            r.error(path + "/id", "group id \"" + gc.id +
                                      "\" may hold only letters, digits, \"-\", \"_\" and \".\"");
        if (!seen.insert(gc.id).second) {
            r.error(path + "/id", "duplicate group id \"" + gc.id + "\"");
            continue;
        }
        gc.name = gc.id;
        r.string(g, "name", path, gc.name, false, "a display name");
        r.string(g, "description", path, gc.description, false, "a sentence for the panel");
        if (auto p = g.find("processes"); p == g.end())
            r.error(path, "missing \"processes\": the processes of the group");
        else
            process_list(*p, path + "/processes", r, cfg, gc.processes, "\"processes\"");
        if (auto a = g.find("actions"); a != g.end()) {
            if (!a->is_array()) {
                r.error(path + "/actions", "\"actions\" must be an array, got " + describe_type(*a));
            } else {
                std::set<std::string> ids;
                for (size_t k = 0; k < a->size(); ++k)
                    parse_action((*a)[k], path + "/actions/" + std::to_string(k), r, cfg, gc, ids);
            }
        }
        cfg.groups.push_back(std::move(gc));
    }
}

void parse_hooks(const json& doc, Reader& r, Config& cfg) {
    auto it = doc.find("hooks");
    if (it == doc.end()) return;
    const std::string path = "/hooks";
    if (!it->is_object()) {
        r.error(path, "\"hooks\" must be an object {\"listen\": \"127.0.0.1:8090\", …}, got " +
                          describe_type(*it));
        return;
    }
    r.unknown_keys(*it, path, names(kHooksKeys), "\"hooks\"");
    HooksConfig& h = cfg.hooks;
    if (auto l = it->find("listen"); l != it->end()) {
        const std::string text = l->is_string() ? l->get<std::string>() : std::string();
        const size_t colon = text.rfind(':');
        const std::string port = colon == std::string::npos ? text : text.substr(colon + 1);
        if (!l->is_string() || port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
            r.error(path + "/listen", "\"listen\" must be HOST:PORT, e.g. \"127.0.0.1:8090\", got " +
                                          quote_value(*l));
        else
            h.listen = text;
    }
    auto whole = [&](const char* key, int64_t min, int64_t max, int64_t& out, const char* what) {
        auto v = it->find(key);
        if (v == it->end()) return;
        if (!v->is_number_integer() || v->get<int64_t>() < min || v->get<int64_t>() > max)
            r.error(path + "/" + key, std::string("\"") + key + "\" must be a whole number " + what +
                                          " from " + std::to_string(min) + " to " +
                                          std::to_string(max) + ", got " + quote_value(*v));
        else
            out = v->get<int64_t>();
    };
    whole("max_body_bytes", 1024, 64LL * 1024 * 1024, h.max_body_bytes, "of bytes");
    whole("max_pending", 1, 10'000'000, h.max_pending, "of events");
    if (auto v = it->find("retention_days"); v != it->end()) {
        if (!v->is_number() || v->get<double>() <= 0 || v->get<double>() > 3650)
            r.error(path + "/retention_days",
                    "\"retention_days\" must be a number of days above 0 and at most 3650, got " +
                        quote_value(*v));
        else
            h.retention_days = v->get<double>();
    }
}

void parse_lookup_tables(const json& doc, Reader& r, Config& cfg) {
    auto it = doc.find("lookup_tables");
    if (it == doc.end()) return;
    if (!it->is_object()) {
        r.error("/lookup_tables",
                "\"lookup_tables\" must be an object of table name → "
                "{value → replacement}, got " +
                    describe_type(*it));
        return;
    }
    for (const auto& [name, table] : it->items()) {
        if (is_comment_key(name)) continue;
        if (!table.is_object()) {
            r.error("/lookup_tables/" + json_pointer_segment(name),
                    "lookup table \"" + name +
                        "\" must be an object of value → replacement, "
                        "e.g. {\"card\": \"CC\"}; got " +
                        describe_type(table));
            continue;
        }
        cfg.lookup_tables[name] = table;
    }
}

void parse_endpoint(const json& p, const char* key, const std::string& ppath, Reader& r,
                    Endpoint& out, bool source) {
    const std::string path = ppath + "/" + key;
    auto it = p.find(key);
    if (it == p.end()) {
        r.error(ppath, std::string("missing \"") + key + "\": {\"connection\": …, \"entity\": …}" +
                           (source ? ", the connection and entity records are read from"
                                   : ", the connection and entity records are written to"));
        return;
    }
    if (!it->is_object()) {
        r.error(path, std::string("\"") + key +
                          "\" must be an object {\"connection\": …, \"entity\": …}, got " +
                          describe_type(*it));
        return;
    }
    if (source) {
        r.unknown_keys(*it, path, names(kSourceKeys), "the source");
    } else {
        for (const auto& [k, v] : it->items()) {
            (void)v;
            if (k == "filter")
                r.error(path + "/filter", "a target takes no filter; put \"filter\" in \"source\"");
            else if (k != "connection" && k != "entity" && !is_comment_key(k))
                r.unknown_keys(json::object({{k, nullptr}}), path, names(kTargetKeys),
                               "the target");
        }
    }
    r.string(*it, "connection", path, out.connection, true,
             "the id of a connection defined under /connections");
    r.string(*it, "entity", path, out.entity, true,
             "the name of one of the connection's entities, e.g. \"orders\"");
    if (source) {
        if (auto f = it->find("filter"); f != it->end()) {
            if (f->is_object())
                out.filter = *f;
            else
                r.error(path + "/filter",
                        "\"filter\" must be an object (the connector's filter "
                        "options), got " +
                            describe_type(*f));
        }
    }
}

void parse_size(const json& p, const char* key, const std::string& ppath, Reader& r, int& out) {
    auto it = p.find(key);
    if (it == p.end()) return;
    const std::string path = ppath + "/" + key;
    bool integral =
        it->is_number_integer() ||
        (it->is_number_float() &&
         it->get<double>() == static_cast<double>(static_cast<int64_t>(it->get<double>())));
    if (!integral) {
        r.error(path, std::string("\"") + key + "\" must be an integer, got " + describe_type(*it));
        return;
    }
    double v = it->get<double>();
    if (v < 1 || v > kMaxPageSize) {
        r.error(path, std::string("\"") + key + "\" is " + quote_value(*it) +
                          "; it must be between 1 and " + std::to_string(kMaxPageSize));
        return;
    }
    out = static_cast<int>(v);
}

void parse_process(const json& p, size_t index, Reader& r, Config& cfg,
                   std::map<std::string, std::string>& seen_ids) {
    const std::string path = "/processes/" + std::to_string(index);
    if (!p.is_object()) {
        r.error(path, "a process must be an object with id, source, target and mapping, got " +
                          describe_type(p));
        return;
    }
    r.unknown_keys(p, path, names(kProcessKeys), "a process");
    ProcessConfig pc;
    pc.json_path = path;
    if (!r.string(p, "id", path, pc.id, true, "a unique process id such as \"orders-shop-erp\""))
        return;
    if (!valid_id(pc.id)) {
        r.error(path + "/id", "process id \"" + pc.id +
                                  "\" may hold only letters, digits, \"-\", \"_\" and \".\", "
                                  "starting with a letter or digit");
        // Kept: references to it by this name should not add noise.
    }
    if (auto first = seen_ids.find(pc.id); first != seen_ids.end()) {
        r.error(path + "/id", "duplicate process id \"" + pc.id + "\" (first used at " +
                                  first->second + "); process ids must be unique");
        return;
    }
    seen_ids.emplace(pc.id, path);

    pc.name = pc.id;
    r.string(p, "name", path, pc.name, false, "a display name");
    parse_endpoint(p, "source", path, r, pc.source, true);
    parse_endpoint(p, "target", path, r, pc.target, false);

    if (auto m = p.find("mapping"); m == p.end()) {
        r.error(path,
                "missing \"mapping\": target field → expression, e.g. "
                "{\"email\": \"customer.email\"}");
    } else if (!m->is_object()) {
        r.error(path + "/mapping",
                "\"mapping\" must be an object of target field → expression, "
                "got " +
                    describe_type(*m));
    } else {
        pc.mapping = *m;
    }

    r.string(p, "mode", path, pc.mode, false, "\"record\" or \"aggregate\"");
    if (auto a = p.find("aggregate"); a != p.end()) pc.aggregate = *a;

    if (auto s = p.find("schedule"); s != p.end() && !s->is_null()) {
        const std::string spath = path + "/schedule";
        if (!s->is_object()) {
            r.error(spath,
                    "\"schedule\" must be an object: {\"cron\": \"*/15 * * * *\", "
                    "\"timezone\": \"Europe/Zurich\"} or {\"interval\": \"15m\"}; got " +
                        describe_type(*s));
        } else {
            r.unknown_keys(*s, spath, names(kScheduleKeys), "a schedule");
            r.string(*s, "cron", spath, pc.schedule.cron, false,
                     "a cron expression such as \"*/15 * * * *\"");
            r.string(*s, "interval", spath, pc.schedule.interval, false,
                     "an interval such as \"15m\"");
            r.string(*s, "timezone", spath, pc.schedule.timezone, false,
                     "an IANA time zone such as \"Europe/Zurich\"");
        }
    }

    if (auto e = p.find("enabled"); e != p.end()) {
        if (e->is_boolean())
            pc.enabled = e->get<bool>();
        else
            r.error(path + "/enabled",
                    "\"enabled\" must be true or false, got " + describe_type(*e));
    }

    if (auto d = p.find("dependencies"); d != p.end()) {
        const std::string dpath = path + "/dependencies";
        if (!d->is_array()) {
            r.error(dpath,
                    "\"dependencies\" must be an array of {\"process\": …, \"key\": …}, "
                    "got " +
                        describe_type(*d));
        } else {
            for (size_t i = 0; i < d->size(); ++i) {
                const json& dep = (*d)[i];
                const std::string ipath = dpath + "/" + std::to_string(i);
                if (!dep.is_object()) {
                    r.error(ipath,
                            "a dependency must be an object {\"process\": "
                            "\"customers-shop-erp\", \"key\": \"customer.id\"}, got " +
                                describe_type(dep));
                    continue;
                }
                r.unknown_keys(dep, ipath, names(kDependencyKeys), "a dependency");
                Dependency out;
                if (!r.string(dep, "process", ipath, out.process, true,
                              "the id of the process this one depends on"))
                    continue;
                r.string(dep, "key", ipath, out.key_path, false,
                         "the source path holding the other process's source key, e.g. "
                         "\"customer.id\"");
                pc.dependencies.push_back(std::move(out));
            }
        }
    }

    parse_size(p, "page_size", path, r, pc.page_size);
    parse_size(p, "batch_size", path, r, pc.batch_size);
    cfg.processes.push_back(std::move(pc));
}

// Line and column (1-based) of a 1-based byte position.
std::pair<size_t, size_t> line_column(const std::string& text, size_t byte) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

}  // namespace

Config parse_config(const std::string& text, const std::string& file_name,
                    std::vector<ConfigError>& errors) {
    Config cfg;
    cfg.file = file_name;
    Reader r{file_name, errors};

    if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) {
        r.error("",
                "the file is empty; a configuration is a JSON object with \"connections\", "
                "\"lookup_tables\" and \"processes\"");
        return cfg;
    }
    json doc;
    const size_t errors_before = errors.size();
    KeyTracker tracker{{}, r};
    try {
        doc = json::parse(
            text,
            [&tracker](int depth, json::parse_event_t event, json& parsed) {
                return tracker(depth, event, parsed);
            },
            true, true);
    } catch (const json::parse_error& e) {
        errors.resize(errors_before);  // duplicate keys before a syntax error are noise
        auto [line, column] = line_column(text, e.byte);
        std::string detail = e.what();
        if (auto c = detail.find("column"); c != std::string::npos) {
            if (auto colon = detail.find(": ", c); colon != std::string::npos)
                detail = detail.substr(colon + 2);
        }
        if (detail.rfind("syntax error ", 0) == 0) detail = detail.substr(13);
        // The parser quotes the token it was reading ("last read: '…'"): that may be part of a
        // secret written in the file, so it is left out; line and column say where.
        if (auto quoted = detail.find("; last read: '"); quoted != std::string::npos) {
            auto end = detail.rfind("'; expected ");
            if (end != std::string::npos && end > quoted)
                detail.erase(quoted, end + 1 - quoted);
            else
                detail.erase(quoted);
        }
        r.error("", "JSON syntax error at line " + std::to_string(line) + ", column " +
                        std::to_string(column) + ": " + detail);
        return cfg;
    }

    if (!doc.is_object()) {
        r.error("",
                "the configuration must be a JSON object with \"connections\", "
                "\"lookup_tables\" and \"processes\", got " +
                    describe_type(doc));
        return cfg;
    }
    for (const auto& [key, value] : doc.items()) {
        (void)value;
        std::vector<std::string> known = names(kTopKeys);
        if (std::find(known.begin(), known.end(), key) == known.end() && !is_comment_key(key))
            r.error("/" + json_pointer_segment(key),
                    "unknown top-level key \"" + key + "\"" + suggestion(key, known, "keys"));
    }
    parse_connections(doc, r, cfg);
    parse_lookup_tables(doc, r, cfg);
    parse_hooks(doc, r, cfg);
    parse_serve(doc, r, cfg);
    if (auto it = doc.find("notifications"); it != doc.end())
        parse_notifications(*it, cfg.file, cfg.notifications, r.errors);
    if (auto it = doc.find("processes"); it != doc.end()) {
        if (!it->is_array()) {
            r.error("/processes",
                    "\"processes\" must be an array of process objects, got " + describe_type(*it));
        } else {
            std::map<std::string, std::string> seen_ids;
            for (size_t i = 0; i < it->size(); ++i) parse_process((*it)[i], i, r, cfg, seen_ids);
        }
    }
    parse_groups(doc, r, cfg);  // after the processes it names
    return cfg;
}

Config load_config(const std::string& path, std::vector<ConfigError>& errors) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        int err = errno;
        Config cfg;
        cfg.file = path;
        errors.push_back(ConfigError{path, "",
                                     std::string("cannot read the configuration file: ") +
                                         (err ? std::strerror(err) : "unknown error") +
                                         "; check the path and its permissions"});
        return cfg;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        Config cfg;
        cfg.file = path;
        errors.push_back(ConfigError{path, "", "reading the configuration file failed"});
        return cfg;
    }
    return parse_config(text.str(), path, errors);
}

// --- Validation ---------------------------------------------------------------------------

namespace {

struct ConnectionState {
    const ConnectionConfig* config = nullptr;
    std::string path;
    const json* manifest = nullptr;
    bool settings_ok = false;
    ResolvedSettings settings;
    bool entities_loaded = false;
    std::optional<json> entities;
};

std::string redact(std::string text, const std::vector<std::string>& secrets) {
    for (const auto& s : secrets) {
        if (s.empty()) continue;
        for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
            text.replace(pos, s.size(), "***");
    }
    return text;
}

bool has_string(const json& list, const std::string& value) {
    if (!list.is_array()) return false;
    for (const auto& v : list)
        if (v.is_string() && v.get_ref<const std::string&>() == value) return true;
    return false;
}

std::vector<std::string> field_names(const json& fields) {
    std::vector<std::string> out;
    if (!fields.is_array()) return out;
    for (const auto& f : fields)
        if (f.is_object() && f.contains("name") && f["name"].is_string())
            out.push_back(f["name"].get<std::string>());
    return out;
}

const json* find_named(const json& list, const std::string& name) {
    if (!list.is_array()) return nullptr;
    for (const auto& e : list)
        if (e.is_object() && e.contains("name") && e["name"].is_string() &&
            e["name"].get_ref<const std::string&>() == name)
            return &e;
    return nullptr;
}

// The entity's declared fields, when mapping should be checked against them: the entity
// lists fields and is not "open".
const json* checked_fields(const json& entity) {
    if (entity.contains("open") && entity["open"].is_boolean() && entity["open"].get<bool>())
        return nullptr;
    auto it = entity.find("fields");
    if (it == entity.end() || !it->is_array() || it->empty()) return nullptr;
    return &*it;
}

struct Validator {
    const Config& cfg;
    const ConnectorCatalog& catalog;
    const Environment& env;
    std::vector<ConfigError>& errors;
    std::map<std::string, ConnectionState> connections;
    std::map<std::string, size_t> process_index;  // first process with each id

    struct Edge {
        size_t from, to;
        std::string json_path;
    };
    std::vector<Edge> edges;

    void error(const std::string& path, const std::string& message) {
        errors.push_back(ConfigError{cfg.file, path, message});
    }

    std::vector<std::string> connection_ids() const {
        std::vector<std::string> out;
        for (const auto& c : cfg.connections) out.push_back(c.id);
        return out;
    }

    std::vector<std::string> process_ids() const {
        std::vector<std::string> out;
        for (const auto& p : cfg.processes) out.push_back(p.id);
        return out;
    }

    void check_connections() {
        for (const auto& c : cfg.connections) {
            ConnectionState st;
            st.config = &c;
            st.path =
                c.json_path.empty() ? "/connections/" + json_pointer_segment(c.id) : c.json_path;
            if (!c.connector.empty()) {
                st.manifest = catalog.manifest(c.connector);
                if (!st.manifest) {
                    error(st.path + "/connector",
                          "unknown connector \"" + c.connector + "\"" +
                              suggestion(c.connector, catalog.connector_ids(), "connectors",
                                         "install its plugin (libplexus_" + c.connector +
                                             ".so) in the plugin directory or correct the name"));
                } else {
                    const size_t before = errors.size();
                    st.settings = resolve_settings(*st.manifest, c.settings, env, cfg.file,
                                                   st.path + "/settings", errors);
                    st.settings_ok = errors.size() == before;
                }
            }
            connections.emplace(c.id, std::move(st));
        }
    }

    const json* entities_of(ConnectionState& st) {
        if (!st.manifest || !st.settings_ok) return nullptr;
        if (!st.entities_loaded) {
            st.entities_loaded = true;
            std::string problem;
            st.entities = catalog.entities(st.config->connector, st.settings.values, problem);
            if (!st.entities) {
                error(st.path, "connector \"" + st.config->connector +
                                   "\" could not list its entities: " +
                                   redact(problem, st.settings.secret_values) +
                                   "; check this connection's settings");
            } else if (!st.entities->is_array()) {
                error(st.path, "connector \"" + st.config->connector +
                                   "\" described its entities as something other than a list");
                st.entities.reset();
            }
        }
        return st.entities ? &*st.entities : nullptr;
    }

    // The entity an endpoint names, after checking connection, entity and capability.
    const json* check_endpoint(const Endpoint& e, const std::string& path, bool source) {
        if (e.connection.empty()) return nullptr;  // reported while parsing
        auto it = connections.find(e.connection);
        if (it == connections.end()) {
            error(path + "/connection",
                  "unknown connection \"" + e.connection + "\"" +
                      suggestion(e.connection, connection_ids(), "connections",
                                 "define it under /connections"));
            return nullptr;
        }
        ConnectionState& st = it->second;
        const json* list = entities_of(st);
        if (!list || e.entity.empty()) return nullptr;
        const json* entity = find_named(*list, e.entity);
        if (!entity) {
            error(path + "/entity", "connection \"" + e.connection + "\" (connector \"" +
                                        st.config->connector + "\") has no entity \"" + e.entity +
                                        "\"" +
                                        suggestion(e.entity, field_names(*list), "entities"));
            return nullptr;
        }
        const char* capability = source ? "read" : "create";
        const json caps = entity->value("capabilities", json::array());
        if (!has_string(caps, capability)) {
            std::vector<std::string> have;
            for (const auto& c : caps)
                if (c.is_string()) have.push_back(c.get<std::string>());
            error(path + "/entity",
                  "entity \"" + e.entity + "\" of connection \"" + e.connection + "\" cannot be " +
                      (source ? "read" : "created") +
                      " (its capabilities: " + (have.empty() ? "none" : joined(have)) + "); as a " +
                      (source ? "source" : "target") + " choose an entity with the \"" +
                      capability + "\" capability");
            return nullptr;
        }
        return entity;
    }

    void check_target_fields(const json& spec, const json& fields, const std::string& path,
                             const std::string& entity, const std::string& connection) {
        if (!spec.is_object()) return;
        const std::vector<std::string> known = field_names(fields);
        for (const auto& [name, s] : spec.items()) {
            const std::string fpath = path + "/" + json_pointer_segment(name);
            const json* field = find_named(fields, name);
            if (!field) {
                error(fpath, "target entity \"" + entity + "\" of connection \"" + connection +
                                 "\" has no field \"" + name + "\"" +
                                 suggestion(name, known, "fields"));
                continue;
            }
            if (s.is_object() && s.contains("fields") && s["fields"].is_object()) {
                if (const json* nested = checked_fields(*field))
                    check_target_fields(s["fields"], *nested, fpath + "/fields", entity,
                                        connection);
            }
        }
    }

    void check_source_root(const std::string& root, const std::string& path, const json& fields,
                           const ProcessConfig& p) {
        if (find_named(fields, root)) return;
        error(path, "source entity \"" + p.source.entity + "\" of connection \"" +
                        p.source.connection + "\" has no field \"" + root + "\"" +
                        suggestion(root, field_names(fields), "fields"));
    }

    void check_schedule(const ScheduleConfig& s, const std::string& path) {
        if (s.empty()) return;
        if (!s.cron.empty() && !s.interval.empty()) {
            error(path, "give either \"cron\" or \"interval\", not both");
        } else if (s.cron.empty() && s.interval.empty()) {
            error(path,
                  "a schedule needs \"cron\" (e.g. \"*/15 * * * *\") or \"interval\" "
                  "(e.g. \"15m\"); remove \"schedule\" to run this process only by hand");
        }
        std::string problem;
        if (!s.cron.empty() && !CronSpec::parse(s.cron, problem)) error(path + "/cron", problem);
        if (!s.interval.empty() && !parse_interval(s.interval, problem))
            error(path + "/interval", problem);
        if (!s.timezone.empty() && !valid_time_zone(s.timezone, problem))
            error(path + "/timezone", problem);
    }

    void check_process(size_t index, const ProcessConfig& p) {
        const std::string path =
            p.json_path.empty() ? "/processes/" + std::to_string(index) : p.json_path;
        const json* source = check_endpoint(p.source, path + "/source", true);
        const json* target = check_endpoint(p.target, path + "/target", false);
        const json* source_fields = source ? checked_fields(*source) : nullptr;

        const bool mode_ok = p.mode == "record" || p.mode == "aggregate";
        if (!mode_ok)
            error(path + "/mode", "unknown mode \"" + p.mode +
                                      "\"; use \"record\" (one target record per source record) "
                                      "or \"aggregate\" (group records and sum amounts)");

        Mapping mapping;
        bool mapping_ok = false;
        if (!p.mapping.is_null()) {  // missing: reported while parsing
            const size_t before = errors.size();
            mapping =
                Mapping::compile(p.mapping, cfg.lookup_tables, cfg.file, path + "/mapping", errors);
            mapping_ok = errors.size() == before;
            if (target) {
                if (const json* fields = checked_fields(*target))
                    check_target_fields(p.mapping, *fields, path + "/mapping", p.target.entity,
                                        p.target.connection);
            }
            if (source_fields)
                for (const auto& ref : mapping.source_references())
                    check_source_root(ref.name, ref.json_path, *source_fields, p);
            for (const auto& ref : mapping.process_references()) {
                auto it = process_index.find(ref.name);
                if (it == process_index.end()) {
                    error(ref.json_path, "ref() names process \"" + ref.name +
                                             "\", which is not defined" +
                                             suggestion(ref.name, process_ids(), "processes"));
                } else if (it->second != index) {
                    edges.push_back(Edge{index, it->second, ref.json_path});
                }
            }
        }

        if (p.mode == "aggregate") {
            const size_t before = errors.size();
            AggregateSpec spec =
                AggregateSpec::parse(p.aggregate, cfg.file, path + "/aggregate", errors);
            if (errors.size() == before && mapping_ok) {
                const std::vector<std::string> fields = mapping.target_fields();
                auto check = [&](const std::vector<std::string>& list, const char* key) {
                    for (size_t i = 0; i < list.size(); ++i)
                        if (std::find(fields.begin(), fields.end(), list[i]) == fields.end())
                            error(path + "/aggregate/" + key + "/" + std::to_string(i),
                                  "\"" + list[i] +
                                      "\" is not a target field of this process's "
                                      "mapping" +
                                      suggestion(list[i], fields, "target fields"));
                };
                check(spec.group_by, "group_by");
                check(spec.sum, "sum");
            }
        } else if (mode_ok && !p.aggregate.is_null()) {
            error(path + "/aggregate",
                  "\"aggregate\" is only used with \"mode\": \"aggregate\"; "
                  "set the mode or remove this key");
        }

        for (size_t i = 0; i < p.dependencies.size(); ++i) {
            const Dependency& d = p.dependencies[i];
            const std::string dpath = path + "/dependencies/" + std::to_string(i);
            if (d.process.empty()) continue;
            auto it = process_index.find(d.process);
            if (it == process_index.end()) {
                error(dpath + "/process", "unknown process \"" + d.process +
                                              "\": a dependency names another process's id" +
                                              suggestion(d.process, process_ids(), "processes"));
            } else {
                edges.push_back(Edge{index, it->second, dpath + "/process"});
            }
            if (!d.key_path.empty()) {
                std::string problem;
                expr::NodePtr node = expr::parse(d.key_path, json::object(), problem);
                if (!node || node->kind != expr::Node::Kind::path) {
                    error(dpath + "/key", "\"" + d.key_path +
                                              "\" is not a source path; write a path such as "
                                              "\"customer.id\"");
                } else if (source_fields && !node->steps.empty() && !node->steps[0].is_index) {
                    check_source_root(node->steps[0].key, dpath + "/key", *source_fields, p);
                }
            }
        }

        check_schedule(p.schedule, path + "/schedule");
    }

    void check_cycles() {
        const size_t n = cfg.processes.size();
        std::vector<std::vector<const Edge*>> out(n);
        for (const auto& e : edges) out[e.from].push_back(&e);
        std::vector<int> color(n, 0);  // 0 new, 1 on the stack, 2 done
        std::vector<const Edge*> stack;
        std::set<std::set<size_t>> reported;

        auto report = [&](size_t start) {
            // The stack from the edge leaving `start` to the edge closing the cycle.
            size_t first = 0;
            while (first < stack.size() && stack[first]->from != start) ++first;
            std::vector<const Edge*> cycle(stack.begin() + static_cast<long>(first), stack.end());
            std::set<size_t> members;
            for (const Edge* e : cycle) members.insert(e->from);
            if (!reported.insert(members).second) return;
            if (cycle.size() == 1) {
                error(cycle[0]->json_path, "process \"" + cfg.processes[start].id +
                                               "\" depends on itself; remove this dependency");
                return;
            }
            std::string text = cfg.processes[start].id;
            for (const Edge* e : cycle) text += " → " + cfg.processes[e->to].id;
            error(cycle[0]->json_path, "dependency cycle: " + text +
                                           "; no process can run first — remove one of these "
                                           "dependencies");
        };

        std::function<void(size_t)> visit = [&](size_t v) {
            color[v] = 1;
            for (const Edge* e : out[v]) {
                stack.push_back(e);
                if (color[e->to] == 1)
                    report(e->to);
                else if (color[e->to] == 0)
                    visit(e->to);
                stack.pop_back();
            }
            color[v] = 2;
        };
        for (size_t v = 0; v < n; ++v)
            if (color[v] == 0) visit(v);
    }

    void run() {
        for (size_t i = 0; i < cfg.processes.size(); ++i)
            process_index.emplace(cfg.processes[i].id, i);
        check_connections();
        for (size_t i = 0; i < cfg.processes.size(); ++i) check_process(i, cfg.processes[i]);
        check_cycles();
    }
};

}  // namespace

void validate_config(const Config& config, const ConnectorCatalog& catalog, const Environment& env,
                     std::vector<ConfigError>& errors) {
    Validator v{config, catalog, env, errors, {}, {}, {}};
    v.run();
    // Notification channels of the file: "${ENV}" set, addresses and the webhook's scheme.
    if (config.notifications.present())
        resolve_notifications(config.notifications, env, config.file, errors);
}

std::vector<std::string> prerequisites(const Config& config, const ProcessConfig& p) {
    std::vector<std::string> names;
    for (const auto& d : p.dependencies) names.push_back(d.process);
    if (!p.mapping.is_null()) {
        std::vector<ConfigError> ignored;  // a valid configuration compiles; a bad one is
                                           // reported by validate_config, not here
        const Mapping m = Mapping::compile(p.mapping, config.lookup_tables, config.file, p.json_path,
                                           ignored);
        for (const auto& r : m.referenced_processes()) names.push_back(r);
    }
    std::vector<std::string> out;
    for (const auto& q : config.processes)
        if (q.id != p.id && std::find(names.begin(), names.end(), q.id) != names.end())
            out.push_back(q.id);
    return out;
}

std::vector<std::string> dependency_order(const Config& config) {
    const size_t n = config.processes.size();
    std::vector<std::vector<std::string>> needs(n);
    for (size_t i = 0; i < n; ++i) needs[i] = prerequisites(config, config.processes[i]);
    std::vector<std::string> order;
    std::vector<bool> placed(n, false);
    auto done = [&](const std::string& id) {
        return std::find(order.begin(), order.end(), id) != order.end();
    };
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < n; ++i) {
            if (placed[i]) continue;
            if (std::all_of(needs[i].begin(), needs[i].end(), done)) {
                order.push_back(config.processes[i].id);
                placed[i] = true;
                progress = true;
                break;  // restart: configuration order among those free to go
            }
        }
    }
    for (size_t i = 0; i < n; ++i)
        if (!placed[i]) order.push_back(config.processes[i].id);
    return order;
}

}  // namespace plexus
