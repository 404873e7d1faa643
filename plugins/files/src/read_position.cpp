#include "read_position.hpp"

#include <plexus/connector.hpp>

namespace plexus::files {

using json = nlohmann::json;

std::string encode_position(const ReadPosition& position, bool with_cursor) {
    json j{{"k", position.key}};
    if (with_cursor) j["c"] = position.cursor;
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ReadPosition decode_position(std::string_view text, bool with_cursor, bool& shape_matches) {
    shape_matches = true;
    if (text.empty()) return {};
    const json j = json::parse(text, nullptr, false);
    const auto is_text = [&](const char* name) {
        auto it = j.find(name);
        return it != j.end() && it->is_string();
    };
    if (j.is_discarded() || !j.is_object() || !is_text("k") || (j.contains("c") && !is_text("c")))
        throw sdk::Error(PLEXUS_ERR_PLUGIN,
                         "the cursor " + json(std::string(text)).dump() +
                             " was not made by the files connector; rewind the process to "
                             "read from the start");
    if (j.contains("c") != with_cursor) {
        shape_matches = false;
        return {};
    }
    ReadPosition p;
    p.key = j["k"].get<std::string>();
    if (with_cursor) p.cursor = j["c"].get<std::string>();
    return p;
}

}  // namespace plexus::files
