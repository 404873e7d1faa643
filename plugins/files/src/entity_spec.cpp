#include "entity_spec.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace plexus::files {
namespace {

namespace fs = std::filesystem;
using sdk::Error;

constexpr std::array<std::string_view, 7> kFieldTypes{"string",   "integer", "number", "boolean",
                                                      "datetime", "object",  "array"};
constexpr std::array<std::string_view, 6> kEntityOptions{"path",   "format", "key",
                                                         "cursor", "fields", "delimiter"};

// Like the configuration loader: keys starting with "_" ("_comment") are notes for people.
bool is_comment(std::string_view key) { return !key.empty() && key[0] == '_'; }

[[noreturn]] void config_error(const std::string& message) {
    throw Error(PLEXUS_ERR_CONFIG, message);
}

std::string quoted(const json& value) { return value.dump(); }

std::string lower_extension(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext;
}

std::string required_name(const json& j, const std::string& where) {
    if (!j.is_string() || j.get_ref<const std::string&>().empty())
        config_error(where + " must be a non-empty string, not " + quoted(j));
    return j.get<std::string>();
}

std::vector<FieldSpec> parse_fields(const json& j, const std::string& where) {
    if (!j.is_array())
        config_error(where + " must be an array of {\"name\": …, \"type\": …}, not " + quoted(j));
    std::vector<FieldSpec> fields;
    std::set<std::string> seen;
    for (size_t i = 0; i < j.size(); ++i) {
        const json& f = j[i];
        const std::string at = where + "[" + std::to_string(i) + "]";
        if (!f.is_object())
            config_error(at +
                         " must be an object such as {\"name\": \"email\", \"type\": \"string\"}");
        FieldSpec spec;
        spec.name = required_name(f.value("name", json()), at + ".name");
        spec.type = f.value("type", std::string("string"));
        if (std::find(kFieldTypes.begin(), kFieldTypes.end(), spec.type) == kFieldTypes.end())
            config_error(at + ".type: \"" + spec.type +
                         "\" is not a field type; use string, integer, number, boolean, "
                         "datetime, object or array");
        if (!seen.insert(spec.name).second)
            config_error(at + ": field \"" + spec.name + "\" is listed twice");
        spec.declared = json::object();
        for (const auto& [k, v] : f.items())
            if (!is_comment(k)) spec.declared[k] = v;
        spec.declared["type"] = spec.type;
        fields.push_back(std::move(spec));
    }
    return fields;
}

EntitySpec parse_entity(const std::string& name, const json& j, const fs::path& directory) {
    const std::string where = "settings.entities." + name;
    if (!j.is_object())
        config_error(where + " must be an object such as {\"path\": \"" + name + ".jsonl\"}");
    for (const auto& [k, v] : j.items()) {
        if (is_comment(k)) continue;
        if (std::find(kEntityOptions.begin(), kEntityOptions.end(), k) == kEntityOptions.end())
            config_error(where + ": unknown option \"" + k +
                         "\" (options: path, format, key, cursor, fields, delimiter)");
    }
    EntitySpec e;
    e.name = name;

    if (!j.contains("path"))
        config_error(where + ".path is required: the file, relative to settings.directory");
    const fs::path path = required_name(j["path"], where + ".path");
    e.file = (directory / path).lexically_normal();

    const std::string ext = lower_extension(path);
    std::string format;
    if (j.contains("format") && !j["format"].is_null()) {
        format = required_name(j["format"], where + ".format");
        if (format != "jsonl" && format != "csv")
            config_error(where + ".format: \"" + format +
                         "\" is not a format; use \"jsonl\" or \"csv\"");
    } else if (ext == ".jsonl" || ext == ".ndjson") {
        format = "jsonl";
    } else if (ext == ".csv" || ext == ".tsv") {
        format = "csv";
    } else {
        config_error(where + ".format: cannot tell the format of \"" + path.string() +
                     "\" from its extension; set \"format\": \"jsonl\" or \"csv\"");
    }
    e.format = format == "csv" ? FileFormat::Csv : FileFormat::JsonLines;

    if (j.contains("delimiter") && !j["delimiter"].is_null()) {
        if (e.format != FileFormat::Csv)
            config_error(where + ".delimiter applies to CSV files only");
        const json& d = j["delimiter"];
        if (!d.is_string() || d.get_ref<const std::string&>().size() != 1)
            config_error(where + ".delimiter must be one character, such as \",\" or \";\", not " +
                         quoted(d));
        e.delimiter = d.get<std::string>()[0];
        if (e.delimiter == '"' || e.delimiter == '\n' || e.delimiter == '\r')
            config_error(where + ".delimiter cannot be a quote or a line break");
    } else if (ext == ".tsv") {
        e.delimiter = '\t';
    }

    if (j.contains("key") && !j["key"].is_null())
        e.key_field = required_name(j["key"], where + ".key");
    if (j.contains("cursor") && !j["cursor"].is_null())
        e.cursor_field = required_name(j["cursor"], where + ".cursor");
    if (e.key_field == kIdempotencyField || e.cursor_field == kIdempotencyField)
        config_error(where + ": \"" + std::string(kIdempotencyField) +
                     "\" is reserved for Plexus and cannot be the key or cursor");
    if (j.contains("fields") && !j["fields"].is_null())
        e.fields = parse_fields(j["fields"], where + ".fields");
    return e;
}

}  // namespace

const FieldSpec* EntitySpec::field(std::string_view name) const {
    for (const auto& f : fields)
        if (f.name == name) return &f;
    return nullptr;
}

FilesSettings parse_settings(const json& settings) {
    if (!settings.is_object()) config_error("settings must be a JSON object");
    FilesSettings s;
    if (!settings.contains("directory"))
        config_error("settings.directory is required: the base directory for the entities' paths");
    s.directory =
        fs::path(required_name(settings["directory"], "settings.directory")).lexically_normal();

    if (!settings.contains("entities") || !settings["entities"].is_object())
        config_error(
            "settings.entities is required: an object of entity name → "
            "{\"path\": …, \"format\": …, \"key\": …, \"cursor\": …}");
    for (const auto& [name, spec] : settings["entities"].items()) {
        if (is_comment(name)) continue;
        if (name.empty()) config_error("settings.entities: an entity name cannot be empty");
        s.entities.emplace(name, parse_entity(name, spec, s.directory));
    }
    if (s.entities.empty())
        config_error(
            "settings.entities lists no entity; add one such as "
            "{\"customers\": {\"path\": \"customers.jsonl\"}}");
    return s;
}

json describe(const FilesSettings& settings) {
    json out = json::array();
    for (const auto& [name, e] : settings.entities) {
        json caps = json::array({"read"});
        if (e.has_cursor()) caps.push_back("incremental");
        for (const char* c : {"create", "update", "lookup"}) caps.push_back(c);

        json fields = json::array();
        if (!e.fields.empty()) {
            // The key and cursor fields always exist, declared or not.
            if (!e.field(e.key_field))
                fields.push_back({{"name", e.key_field}, {"type", "string"}});
            if (e.has_cursor() && !e.field(e.cursor_field))
                fields.push_back({{"name", e.cursor_field}, {"type", "string"}});
            for (const auto& f : e.fields) fields.push_back(f.declared);
        }
        const char* kind = e.format == FileFormat::Csv ? "CSV file " : "JSON Lines file ";
        out.push_back({{"name", name},
                       {"description", kind + e.file.string()},
                       {"key", e.key_field},
                       {"cursor", e.has_cursor() ? json(e.cursor_field) : json(nullptr)},
                       {"capabilities", caps},
                       {"fields", fields},
                       {"open", e.fields.empty()}});
    }
    return out;
}

}  // namespace plexus::files
