#include "config/settings.hpp"

#include "common/edit_distance.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace plexus {

std::string ConfigError::to_string() const {
    std::string out = file;
    if (!json_path.empty()) out += (out.empty() ? "" : ": ") + json_path;
    if (!out.empty()) out += ": ";
    return out + message;
}

Environment system_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

bool is_comment_key(const std::string& key) { return key.rfind("_comment", 0) == 0; }

std::string json_pointer_segment(const std::string& key) {
    std::string out;
    out.reserve(key.size());
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}


}  // namespace

std::string closest_name(const std::string& word, const std::vector<std::string>& candidates) {
    if (word.empty()) return "";
    const std::string w = lower(word);
    const size_t limit = std::max<size_t>(1, w.size() / 3);
    std::string best;
    size_t best_distance = limit + 1;
    for (const auto& c : candidates) {
        size_t d = edit_distance(w, lower(c));
        if (d < best_distance && d < std::max(w.size(), c.size())) {
            best_distance = d;
            best = c;
        }
    }
    if (best.empty() && w.size() >= 3) {
        // A unique candidate that the word begins ("customers-shop" → "customers-shop-erp").
        for (const auto& c : candidates) {
            if (lower(c).rfind(w, 0) != 0) continue;
            if (!best.empty()) return "";
            best = c;
        }
    }
    return best;
}

std::string suggestion(const std::string& word, const std::vector<std::string>& candidates,
                       const std::string& what, const std::string& otherwise) {
    std::string close = closest_name(word, candidates);
    if (!close.empty()) return "; did you mean \"" + close + "\"?";
    std::string out = otherwise.empty() ? "" : "; " + otherwise;
    if (candidates.empty()) return out;
    out += "; known " + what + ": ";
    const size_t shown = std::min<size_t>(candidates.size(), 15);
    for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + candidates[i];
    if (shown < candidates.size()) out += ", …";
    return out;
}

std::string quote_value(const nlohmann::json& value) {
    std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return text;
}

std::string describe_type(const nlohmann::json& value) {
    switch (value.type()) {
        case nlohmann::json::value_t::null:
            return "null";
        case nlohmann::json::value_t::boolean:
            return "a boolean";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
            return "an integer";
        case nlohmann::json::value_t::number_float:
            return "a number";
        case nlohmann::json::value_t::string:
            return "a string";
        case nlohmann::json::value_t::array:
            return "an array";
        case nlohmann::json::value_t::object:
            return "an object";
        default:
            return "a binary value";
    }
}

namespace {

bool valid_env_name(const std::string& s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    return std::all_of(s.begin(), s.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// "${NAME}" → NAME, else "".
std::string env_reference(const std::string& s) {
    if (s.size() < 4 || s.compare(0, 2, "${") != 0 || s.back() != '}') return "";
    std::string name = s.substr(2, s.size() - 3);
    return valid_env_name(name) ? name : "";
}

}  // namespace

std::string env_reference_name(const std::string& text) { return env_reference(text); }

namespace {

std::string article_type(const std::string& type) {
    if (type == "integer" || type == "array" || type == "object") return "an " + type;
    return "a " + type;
}

// Convert an environment variable's text to the setting's type. False when it does not fit.
bool convert_env_text(const std::string& type, const std::string& text, nlohmann::json& out) {
    if (type == "string" || type.empty()) {
        out = text;
        return true;
    }
    if (type == "integer") {
        if (text.empty()) return false;
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(text.c_str(), &end, 10);
        if (errno != 0 || *end != '\0') return false;
        out = static_cast<int64_t>(v);
        return true;
    }
    if (type == "number") {
        if (text.empty()) return false;
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (*end != '\0' || !std::isfinite(v)) return false;
        out = v;
        return true;
    }
    if (type == "boolean") {
        std::string t = lower(text);
        if (t == "true" || t == "1" || t == "yes") {
            out = true;
            return true;
        }
        if (t == "false" || t == "0" || t == "no") {
            out = false;
            return true;
        }
        return false;
    }
    if (type == "object" || type == "array") {
        auto v = nlohmann::json::parse(text, nullptr, false);
        if (v.is_discarded() || (type == "object" ? !v.is_object() : !v.is_array())) return false;
        out = std::move(v);
        return true;
    }
    out = text;
    return true;
}

// Does `value` have the manifest type? Integral floats are accepted (and converted) for
// "integer".
bool check_type(const std::string& type, nlohmann::json& value) {
    if (type == "string") return value.is_string();
    if (type == "integer") {
        if (value.is_number_integer()) return true;
        if (value.is_number_float()) {
            double d = value.get<double>();
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
                value = static_cast<int64_t>(d);
                return true;
            }
        }
        return false;
    }
    if (type == "number") return value.is_number();
    if (type == "boolean") return value.is_boolean();
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    return true;  // a type this host does not know: the connector checks it
}

}  // namespace

ResolvedSettings resolve_settings(const nlohmann::json& manifest, const nlohmann::json& raw,
                                  const Environment& env, const std::string& file,
                                  const std::string& json_path, std::vector<ConfigError>& errors) {
    ResolvedSettings out;
    auto error = [&](const std::string& path, const std::string& message) {
        errors.push_back(ConfigError{file, path, message});
    };
    const std::string connector =
        manifest.is_object() && manifest.contains("id") && manifest["id"].is_string()
            ? manifest["id"].get<std::string>()
            : std::string("?");

    static const nlohmann::json empty_list = nlohmann::json::array();
    const nlohmann::json& list =
        manifest.is_object() && manifest.contains("settings") && manifest["settings"].is_array()
            ? manifest["settings"]
            : empty_list;

    static const nlohmann::json empty_object = nlohmann::json::object();
    if (!raw.is_null() && !raw.is_object()) {
        error(json_path, "settings must be an object of name → value, got " + describe_type(raw));
        return out;
    }
    const nlohmann::json& given = raw.is_object() ? raw : empty_object;

    std::vector<std::string> names;
    for (const auto& s : list)
        if (s.is_object() && s.contains("name") && s["name"].is_string())
            names.push_back(s["name"].get<std::string>());

    for (const auto& [key, value] : given.items()) {
        (void)value;
        if (std::find(names.begin(), names.end(), key) == names.end() && !is_comment_key(key))
            error(json_path + "/" + json_pointer_segment(key),
                  "unknown setting \"" + key + "\" for connector \"" + connector + "\"" +
                      suggestion(key, names, "settings", "remove it or correct its name"));
    }

    for (const auto& s : list) {
        if (!s.is_object() || !s.contains("name") || !s["name"].is_string()) continue;
        const std::string name = s["name"].get<std::string>();
        const std::string type = s.contains("type") && s["type"].is_string()
                                     ? s["type"].get<std::string>()
                                     : std::string("string");
        const bool secret =
            s.contains("secret") && s["secret"].is_boolean() && s["secret"].get<bool>();
        const bool required =
            s.contains("required") && s["required"].is_boolean() && s["required"].get<bool>();
        const std::string path = json_path + "/" + json_pointer_segment(name);
        const std::string label = "setting \"" + name + "\"";

        nlohmann::json value;
        auto it = given.find(name);
        if (it == given.end() || it->is_null()) {
            if (s.contains("default") && !s["default"].is_null()) {
                value = s["default"];
            } else if (required) {
                std::string message = "missing required " + label + " (" + type;
                if (s.contains("description") && s["description"].is_string() &&
                    !s["description"].get<std::string>().empty())
                    message += ": " + s["description"].get<std::string>();
                message += ") of connector \"" + connector + "\"; add it to these settings";
                if (secret) message += ", preferably as \"${ENV_VAR}\"";
                error(json_path, message);
                continue;
            } else {
                continue;
            }
        } else {
            value = *it;
            if (value.is_string()) {
                const std::string var = env_reference(value.get<std::string>());
                if (!var.empty()) {
                    std::optional<std::string> text = env ? env(var) : std::nullopt;
                    if (!text) {
                        error(path, "environment variable " + var +
                                        " is not set; set it in the "
                                        "environment Plexus starts in" +
                                        (secret ? std::string() : " or write the value here"));
                        continue;
                    }
                    nlohmann::json converted;
                    if (!convert_env_text(type, *text, converted)) {
                        // The variable's text is never shown: it may be a secret used
                        // by another setting.
                        error(path, "environment variable " + var + " does not hold " +
                                        article_type(type) + " as setting \"" + name + "\" needs");
                        continue;
                    }
                    value = std::move(converted);
                }
            }
            if (!check_type(type, value)) {
                std::string message =
                    label + " must be " + article_type(type) + ", got " + describe_type(value);
                if (!secret) message += " (" + quote_value(value) + ")";
                error(path, message);
                continue;
            }
        }
        if (secret) {
            if (value.is_string()) {
                if (!value.get<std::string>().empty())
                    out.secret_values.push_back(value.get<std::string>());
            } else {
                out.secret_values.push_back(value.dump());
            }
        }
        out.values[name] = std::move(value);
    }
    return out;
}

}  // namespace plexus
