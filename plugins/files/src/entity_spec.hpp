// The files connector's settings: a base directory and one entity per configured file.
//
// Parsed once per instance (and by describe_entities) from the connection's settings. Every
// problem is a PLEXUS_ERR_CONFIG error naming the setting, e.g.
// `settings.entities.customers.format: "xml" is not a format; use "jsonl" or "csv"`.
// Keys starting with "_" (such as "_comment") are prose for operators, ignored at every level.
#pragma once

#include <filesystem>
#include <map>
#include <plexus/connector.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::files {

using json = nlohmann::json;

// The field in which every record written by Plexus carries the idempotency key of the write
// that produced it (a JSON member in JSON Lines, the last column in CSV). Lookups by
// idempotency key match it; reads strip it from the record's data.
inline constexpr std::string_view kIdempotencyField = "_plexus_idempotency_key";

enum class FileFormat { JsonLines, Csv };

struct FieldSpec {
    std::string name;
    std::string type;  // string, integer, number, boolean, datetime, object, array
    json declared;     // as configured, for describe_entities (nested "fields" kept)
};

struct EntitySpec {
    std::string name;
    std::filesystem::path file;  // the directory joined with the configured path
    FileFormat format = FileFormat::JsonLines;
    std::string key_field = "id";
    std::string cursor_field;       // empty: the entity has no cursor (reads go by key)
    std::vector<FieldSpec> fields;  // empty: any fields (the entity is "open")
    char delimiter = ',';           // CSV only

    bool has_cursor() const { return !cursor_field.empty(); }
    const FieldSpec* field(std::string_view name) const;
};

struct FilesSettings {
    std::filesystem::path directory;
    std::map<std::string, EntitySpec> entities;
};

// Throws plexus::sdk::Error(PLEXUS_ERR_CONFIG, …) naming the offending setting.
FilesSettings parse_settings(const json& settings);

// The entities in the manifest's "entities" shape (docs/design/001-plugin-abi.md).
json describe(const FilesSettings& settings);

}  // namespace plexus::files
