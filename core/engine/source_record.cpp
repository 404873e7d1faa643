#include "engine/source_record.hpp"

#include "mapping/expression.hpp"

#include <stdexcept>

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
    if (path.empty()) return {};  // a dependency without a key only records the relation
    // The path as check-config and the mapping read it: "customer.id", "lines[0].sku",
    // "lines[-1].sku" (from the end), "customer[\"first-name\"]", "$.customer.id".
    std::string problem;
    const expr::NodePtr node = expr::parse(path, json::object(), problem);
    if (!node || node->kind != expr::Node::Kind::path)
        throw std::invalid_argument("dependency key \"" + path + "\" is not a source path" +
                                    (problem.empty() ? "" : ": " + problem));
    const expr::Value value = expr::evaluate(*node, expr::Context{&data, &data, nullptr});
    const json& found = value.get();
    if (found.is_null()) return {};
    if (found.is_string()) return found.get<std::string>();
    return found.dump();
}

}  // namespace plexus
