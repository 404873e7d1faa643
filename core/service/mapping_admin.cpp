#include "service/mapping_admin.hpp"

#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "mapping/function_help.hpp"

#include <set>

namespace plexus {
namespace {

using json = nlohmann::json;

// "a~1b" → "a/b" (RFC 6901).
std::string unescape_segment(std::string s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '~' && i + 1 < s.size()) {
            out += s[i + 1] == '1' ? '/' : '~';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

json rows_of(const json& spec) {
    json rows = json::array();
    if (!spec.is_object()) return rows;
    for (const auto& [name, s] : spec.items()) {
        json row = {{"field", name}, {"spec", s}};
        if (s.is_string()) {
            row["kind"] = "expression";
            row["expression"] = s;
        } else if (s.is_object() && s.contains("const")) {
            row["kind"] = "constant";
        } else if (s.is_object() && s.contains("each")) {
            row["kind"] = "list";
        } else if (s.is_object() && s.contains("fields")) {
            row["kind"] = "object";
        } else {
            row["kind"] = "other";
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

// Which top-level fields differ between two mappings (for the audit entry).
json field_changes(const json& before, const json& after) {
    json added = json::array(), removed = json::array(), changed = json::array();
    const json b = before.is_object() ? before : json::object();
    const json a = after.is_object() ? after : json::object();
    for (const auto& [k, v] : a.items()) {
        if (!b.contains(k)) added.push_back(k);
        else if (b[k] != v) changed.push_back(k);
    }
    for (const auto& [k, v] : b.items())
        if (!a.contains(k)) removed.push_back(k);
    return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

}  // namespace

std::vector<MappingWrite::Problem> MappingAdmin::check(const std::string& process_id,
                                                       const json& spec) const {
    std::vector<MappingWrite::Problem> out;
    const ProcessConfig* p = hub_.config().process(process_id);
    if (!p) return out;
    if (!spec.is_object()) {
        out.push_back({"", "", "a mapping is an object of target field → expression"});
        return out;
    }
    const std::string prefix = p->json_path + "/mapping";
    for (const auto& e : hub_.check_mapping(process_id, spec)) {
        MappingWrite::Problem pr;
        pr.message = global_redactor().redact(e.message);
        if (e.json_path.rfind(prefix, 0) == 0 &&
            (e.json_path.size() == prefix.size() || e.json_path[prefix.size()] == '/')) {
            pr.path = e.json_path.substr(prefix.size());
            if (pr.path.size() > 1) {
                const size_t end = pr.path.find('/', 1);
                pr.field = unescape_segment(pr.path.substr(1, end == std::string::npos ? std::string::npos : end - 1));
            }
        } else {
            // Not inside the mapping (an aggregate naming a field the mapping no longer has,
            // a dependency cycle through ref(), a connection that cannot list its fields).
            pr.path = e.json_path;
        }
        out.push_back(std::move(pr));
    }
    return out;
}

std::optional<json> MappingAdmin::view(const std::string& process_id) {
    const ProcessConfig* file = hub_.config().process(process_id);
    if (!file) return std::nullopt;
    const CompiledProcess& cp = hub_.process(process_id);
    const json& spec = cp.config->mapping;
    json source = {{"kind", cp.mapping_version > 0 && cp.own_config ? "portal" : "file"},
                   {"version", cp.mapping_version},
                   {"file", hub_.config().file + "#" + file->json_path + "/mapping"}};
    if (cp.mapping_version > 0) {
        if (auto v = hub_.store().mapping_version(process_id, cp.mapping_version)) {
            source["by"] = v->actor;
            source["at"] = iso_utc(v->created_ms);
            source["note"] = v->note;
        }
    }
    json out = {{"process", process_id},
                {"name", file->name.empty() ? file->id : file->name},
                {"mode", file->mode},
                {"target", {{"connection", file->target.connection}, {"entity", file->target.entity}}},
                {"from", {{"connection", file->source.connection}, {"entity", file->source.entity}}},
                {"source", source},
                {"rows", rows_of(spec)},
                {"mapping", spec},
                {"functions", mapping_function_help()}};
    if (!cp.mapping_problem.empty()) out["problem"] = global_redactor().redact(cp.mapping_problem);
    return out;
}

std::optional<json> MappingAdmin::versions(const std::string& process_id) {
    const ProcessConfig* file = hub_.config().process(process_id);
    if (!file) return std::nullopt;
    const int64_t current = hub_.process(process_id).mapping_version;
    json items = json::array();
    for (const auto& v : hub_.store().mapping_versions(process_id, 100)) {
        json m = v.mapping_json.empty() ? file->mapping : json::parse(v.mapping_json, nullptr, false);
        if (m.is_discarded()) m = nullptr;
        items.push_back({{"version", v.version},
                         {"by", v.actor},
                         {"at", iso_utc(v.created_ms)},
                         {"note", v.note},
                         {"origin", v.mapping_json.empty() ? "file" : "portal"},
                         {"current", v.version == current},
                         {"mapping", m}});
    }
    items.push_back({{"version", 0},
                     {"by", nullptr},
                     {"at", nullptr},
                     {"note", "the configuration file's mapping"},
                     {"origin", "file"},
                     {"current", current == 0},
                     {"mapping", file->mapping}});
    return json{{"process", process_id}, {"current", current}, {"items", items}};
}

MappingWrite MappingAdmin::put(const std::string& process_id, const json& spec, bool file,
                               const std::string& actor, const std::string& note,
                               const std::string& audit_action, json audit_detail) {
    MappingWrite w;
    std::lock_guard lock(write_mutex_);
    const json before = hub_.process(process_id).config->mapping;
    const json effective = file ? hub_.config().process(process_id)->mapping : spec;
    if (!file) {
        w.errors = check(process_id, spec);
        if (!w.errors.empty()) {
            w.status = OpStatus::invalid;
            w.message = "the mapping was not saved: " + std::to_string(w.errors.size()) +
                        " problem(s)";
            return w;
        }
    }
    MappingVersion v;
    v.process_id = process_id;
    v.mapping_json = file ? std::string() : spec.dump();
    v.actor = actor;
    v.created_ms = hub_.clock().now_ms();
    v.note = note;
    audit_detail["fields"] = field_changes(before, effective);
    // The version number is the store's; the audit entry names it in the same transaction.
    const int64_t version = hub_.store().add_mapping_version(v, audit_action, audit_detail.dump());
    hub_.use_mapping(process_id, file ? json() : spec, version);
    w.view = *view(process_id);
    return w;
}

MappingWrite MappingAdmin::save(const std::string& process_id, const json& body,
                                const std::string& actor) {
    MappingWrite w;
    if (!hub_.config().process(process_id)) {
        w.status = OpStatus::not_found;
        w.message = "no process \"" + process_id + "\"";
        return w;
    }
    for (const auto& [k, _] : body.items())
        if (k != "mapping" && k != "note") {
            w.status = OpStatus::invalid;
            w.message = "unknown field \"" + k + "\"; send {\"mapping\": {…}, \"note\": \"…\"}";
            return w;
        }
    if (!body.contains("mapping") || !body["mapping"].is_object() || body["mapping"].empty()) {
        w.status = OpStatus::invalid;
        w.errors.push_back({"", "", "\"mapping\" must be an object of target field → expression "
                                    "with at least one field"});
        w.message = w.errors.back().message;
        return w;
    }
    std::string note = "edit";
    if (body.contains("note")) {
        if (!body["note"].is_string() || body["note"].get_ref<const std::string&>().size() > 500) {
            w.status = OpStatus::invalid;
            w.message = "\"note\" must be text of at most 500 characters";
            return w;
        }
        if (!body["note"].get_ref<const std::string&>().empty()) note = body["note"].get<std::string>();
    }
    return put(process_id, body["mapping"], false, actor, note, "mapping.edit", json{{"note", note}});
}

MappingWrite MappingAdmin::revert(const std::string& process_id, const json& body,
                                  const std::string& actor) {
    MappingWrite w;
    const ProcessConfig* file = hub_.config().process(process_id);
    if (!file) {
        w.status = OpStatus::not_found;
        w.message = "no process \"" + process_id + "\"";
        return w;
    }
    for (const auto& [k, _] : body.items())
        if (k != "version") {
            w.status = OpStatus::invalid;
            w.message = "unknown field \"" + k + "\"; send {\"version\": N}";
            return w;
        }
    if (!body.contains("version") || !body["version"].is_number_integer() ||
        body["version"].get<int64_t>() < 0) {
        w.status = OpStatus::invalid;
        w.message = "\"version\" must be a version number (0 is the configuration file's)";
        return w;
    }
    const int64_t to = body["version"].get<int64_t>();
    const std::string note = "revert to version " + std::to_string(to);
    json detail = {{"to_version", to}, {"from_version", hub_.process(process_id).mapping_version}};
    if (to == 0) return put(process_id, json(), true, actor, note, "mapping.revert", detail);
    auto v = hub_.store().mapping_version(process_id, to);
    if (!v) {
        w.status = OpStatus::not_found;
        w.message = "process \"" + process_id + "\" has no mapping version " + std::to_string(to);
        return w;
    }
    if (v->mapping_json.empty()) return put(process_id, json(), true, actor, note, "mapping.revert", detail);
    json spec = json::parse(v->mapping_json, nullptr, false);
    // An old version is checked again: the configuration may have changed since.
    return put(process_id, spec, false, actor, note, "mapping.revert", detail);
}

}  // namespace plexus
