#include "engine/source_record.hpp"

namespace plexus {

using json = nlohmann::json;

SourceRecord SourceRecord::from_json(json&& j) {
    SourceRecord r;
    if (!j.is_object()) return r;
    if (auto k = j.find("key"); k != j.end())
        r.key = k->is_string() ? std::move(k->get_ref<std::string&>()) : k->dump();
    if (auto c = j.find("cursor"); c != j.end() && c->is_string())
        r.cursor = std::move(c->get_ref<std::string&>());
    if (auto d = j.find("data"); d != j.end() && d->is_object()) r.data = std::move(*d);
    else r.data = json::object();
    return r;
}

std::string SourceRecord::to_text() const {
    return json{{"key", key}, {"cursor", cursor}, {"data", data}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
}

std::string key_at(const json& data, const std::string& path) {
    const json* cur = &data;
    size_t pos = 0;
    while (pos < path.size() && cur) {
        size_t end = path.find_first_of(".[", pos);
        std::string name = path.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (!name.empty()) {
            if (!cur->is_object() || !cur->contains(name)) return {};
            cur = &(*cur)[name];
        }
        if (end == std::string::npos) break;
        if (path[end] == '[') {
            size_t close = path.find(']', end);
            if (close == std::string::npos) return {};
            size_t idx = std::stoul(path.substr(end + 1, close - end - 1));
            if (!cur->is_array() || idx >= cur->size()) return {};
            cur = &(*cur)[idx];
            pos = close + 1;
            if (pos < path.size() && path[pos] == '.') ++pos;
        } else {
            pos = end + 1;
        }
    }
    if (!cur || cur->is_null()) return {};
    if (cur->is_string()) return cur->get<std::string>();
    return cur->dump();
}

}  // namespace plexus
