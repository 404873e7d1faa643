#include "web/strict_json.hpp"

#include <vector>

namespace plexus::web {
namespace {

using nlohmann::json;

// A SAX consumer that builds the document as nlohmann's DOM parser does, but stops at the
// second occurrence of a key in one object. Iterative (nlohmann's SAX driver keeps its own
// stack), so deep nesting costs heap, not stack.
class DuplicateRefusingBuilder {
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    json root;
    std::string error;

    bool null() { return put(nullptr) != nullptr; }
    bool boolean(bool v) { return put(v) != nullptr; }
    bool number_integer(number_integer_t v) { return put(v) != nullptr; }
    bool number_unsigned(number_unsigned_t v) { return put(v) != nullptr; }
    bool number_float(number_float_t v, const string_t&) { return put(v) != nullptr; }
    bool string(string_t& v) { return put(std::move(v)) != nullptr; }
    bool binary(binary_t& v) { return put(json::binary(std::move(v))) != nullptr; }

    bool start_object(std::size_t) {
        json* j = put(json::object());
        open_.push_back(j);
        return true;
    }
    bool key(string_t& k) {
        json& object = *open_.back();
        if (object.contains(k)) {
            error = "the key \"" + k.substr(0, 100) + "\" appears twice in one object";
            return false;
        }
        key_ = std::move(k);
        return true;
    }
    bool end_object() {
        open_.pop_back();
        return true;
    }
    bool start_array(std::size_t) {
        json* j = put(json::array());
        open_.push_back(j);
        return true;
    }
    bool end_array() {
        open_.pop_back();
        return true;
    }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception&) {
        error = "not valid JSON at byte " + std::to_string(position);
        return false;
    }

private:
    // Places `v` in the open container (or as the root); the pointer stays valid while that
    // container is the innermost open one (children are only added to the innermost).
    json* put(json v) {
        if (open_.empty()) {
            root = std::move(v);
            return &root;
        }
        json& top = *open_.back();
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        json& slot = top[key_];
        slot = std::move(v);
        return &slot;
    }

    std::vector<json*> open_;
    string_t key_;
};

}  // namespace

StrictJson parse_strict_json(const std::string& text) {
    DuplicateRefusingBuilder builder;
    const bool ok = json::sax_parse(text, &builder, json::input_format_t::json, true);
    if (!ok || !builder.error.empty()) {
        return {json(nullptr), builder.error.empty() ? "not valid JSON" : builder.error};
    }
    return {std::move(builder.root), ""};
}

}  // namespace plexus::web
