// A source record as the engine and the preview read it, and the key a dependency takes from it.
// One definition for both, so that a dry run can never read a record differently from the run.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace plexus {

// A source record as it travels through the engine and the failed queue.
struct SourceRecord {
    std::string key;
    std::string cursor;
    nlohmann::json data;

    // Takes a connector's {"key", "cursor", "data"} apart, moving, not copying (pages hold
    // thousands of records). A key that is not a string is kept as its JSON text ("42",
    // "null"); a missing or non-object data is an empty object; anything but an object gives
    // an empty record.
    static SourceRecord from_json(nlohmann::json&& j);
    static SourceRecord from_json(const nlohmann::json& j) { return from_json(nlohmann::json(j)); }

    // The record as the failed queue stores it (from_json reads it back).
    std::string to_text() const;
};

// The value at a source path of a record ("customer.id", "lines[0].sku", "lines[-1].sku",
// "customer[\"first-name\"]", "$.customer.id": the paths check-config accepts for a
// dependency's key, read as the mapping reads them) as a key string: a string as it is,
// another value as its JSON text; "" when the path is empty, leads nowhere or to null.
// Throws std::invalid_argument, naming the path, when it is not a source path (the run fails
// that record for it).
std::string key_at(const nlohmann::json& data, const std::string& path);

}  // namespace plexus
