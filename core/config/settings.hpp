// A connection's settings, checked and resolved against its connector's manifest
// (docs/design/001-plugin-abi.md, "Manifest"): defaults filled in, "${NAME}" references
// read from the environment, types checked, unknown and missing settings reported.
//
// Also home of ConfigError, the one error type every configuration check appends to, and
// of the small helpers those checks share to write errors that say what, where and what
// to do (STYLE.md).
//
// Secrets: a setting marked "secret" in the manifest never appears in an error message —
// neither its value nor the value of the environment variable it refers to. Resolved
// secret values are returned in ResolvedSettings::secret_values so the host can redact
// them from every log line, outcome, export and API response.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace plexus {

// One problem in a configuration file: which file, where in it (an RFC 6901 JSON pointer,
// "" for the whole document) and what is wrong (and what to do, when obvious).
struct ConfigError {
    std::string file;
    std::string json_path;
    std::string message;

    // "config.json: /processes/2/schedule/cron: \"*/5 * * *\" has 4 fields, …"
    std::string to_string() const;
};

// Reads an environment variable; nullopt when it is not set.
using Environment = std::function<std::optional<std::string>(const std::string&)>;

// The process environment (getenv).
Environment system_environment();

struct ResolvedSettings {
    nlohmann::json values = nlohmann::json::object();  // what the connector's create() gets
    std::vector<std::string> secret_values;            // resolved values of secret settings
};

// Check `raw` (a connection's "settings" object as written) against `manifest["settings"]`
// and resolve it:
// - a string setting written as exactly "${NAME}" takes the value of environment variable
//   NAME (for integer, number and boolean settings the variable's text is converted);
//   an unset variable is an error naming the variable;
// - a missing setting takes the manifest's "default" (a null value counts as missing);
// - a missing setting with "required": true and no default is an error;
// - a value of the wrong type is an error; a setting the manifest does not list is an error.
// Errors are appended with `file` and a JSON path under `json_path` (the settings object,
// e.g. "/connections/shop/settings"). Never throws for bad content.
ResolvedSettings resolve_settings(const nlohmann::json& manifest, const nlohmann::json& raw,
                                  const Environment& env, const std::string& file,
                                  const std::string& json_path, std::vector<ConfigError>& errors);

// NAME when `text` is exactly "${NAME}" (a valid environment variable name), else "".
std::string env_reference_name(const std::string& text);

// True for keys starting with "_comment": notes for people that configuration checks skip
// (at the top level, in connections, processes, sources, targets, schedules, dependencies,
// aggregate specs and at the top level of settings — never in mappings).
bool is_comment_key(const std::string& key);

// --- Helpers for writing configuration errors ----------------------------------------------

// One JSON pointer segment, escaped as RFC 6901 says ("~" → "~0", "/" → "~1").
std::string json_pointer_segment(const std::string& key);

// The candidate closest to `word` when it is close enough to be a likely typo, else "".
std::string closest_name(const std::string& word, const std::vector<std::string>& candidates);

// The end of an "unknown name" message: "; did you mean \"x\"?" when a candidate is close;
// otherwise "; <otherwise>" (when given) followed by "; known <what>: a, b, c" (when there
// are candidates). `what` names the list, e.g. "connections".
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates,
                       const std::string& what, const std::string& otherwise = "");

// A JSON value quoted for a message, shortened to about 60 characters.
std::string quote_value(const nlohmann::json& value);

// "a string", "an integer", "an object", … — the JSON type of a value, for messages.
std::string describe_type(const nlohmann::json& value);

}  // namespace plexus
