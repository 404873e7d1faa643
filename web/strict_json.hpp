// Request bodies parsed strictly: nlohmann::json keeps the last of duplicate keys without a
// word, so {"cron": "0 2 * * *", "cron": ""} would mean what the last key says while a proxy,
// a log or a reviewer reads the first. The portal refuses such a body instead (docs/api.md).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace plexus::web {

struct StrictJson {
    nlohmann::json value;  // null when `error` is set
    std::string error;     // empty on success: "at byte 12: …" or "the key \"cron\" appears twice …"
};

// Parses `text` as one JSON value; a duplicate key in any object is an error.
StrictJson parse_strict_json(const std::string& text);

}  // namespace plexus::web
