#include "mapping/mapping.hpp"

#include <algorithm>
#include <unordered_map>

namespace plexus {
namespace {

using json = nlohmann::json;

struct Compiler {
    const json& tables;
    const std::string& file;
    std::vector<ConfigError>& errors;
    std::vector<MappingReference>& source_refs;
    std::vector<MappingReference>& process_refs;

    void error(const std::string& path, const std::string& message) {
        errors.push_back(ConfigError{file, path, message});
    }

    expr::NodePtr expression(const json& text, const std::string& path, bool relative_is_root) {
        std::string problem;
        expr::NodePtr node = expr::parse(text.get<std::string>(), tables, problem);
        if (!node) {
            error(path, problem);
            return nullptr;
        }
        expr::References refs;
        expr::collect_references(*node, relative_is_root, refs);
        for (const auto& r : refs.source_roots) source_refs.push_back({r, path});
        for (const auto& p : refs.processes) process_refs.push_back({p, path});
        return node;
    }

    static std::string keys_of(const json& object) {
        std::string out;
        for (const auto& [k, v] : object.items()) out += (out.empty() ? "\"" : ", \"") + k + "\"";
        return out.empty() ? "none" : out;
    }

    void fields(const json& spec, const std::string& path, bool relative_is_root,
                std::vector<Mapping::Field>& out) {
        for (const auto& [name, s] : spec.items()) {
            const std::string fpath = path + "/" + json_pointer_segment(name);
            if (name.empty()) {
                error(fpath, "a target field name is empty");
                continue;
            }
            Mapping::Field f;
            f.name = name;
            if (s.is_string()) {
                f.kind = Mapping::Field::Kind::expression;
                f.expression = expression(s, fpath, relative_is_root);
                if (!f.expression) continue;
            } else if (s.is_object() && s.contains("const")) {
                if (s.size() != 1) {
                    error(fpath, "{\"const\": …} takes no other keys; found " + keys_of(s));
                    continue;
                }
                f.kind = Mapping::Field::Kind::constant;
                f.constant = s["const"];
            } else if (s.is_object() && s.contains("each")) {
                f.kind = Mapping::Field::Kind::each;
                bool ok = true;
                for (const auto& [k, v] : s.items()) {
                    (void)v;
                    if (k != "each" && k != "fields" && k != "aggregate") {
                        error(fpath + "/" + json_pointer_segment(k),
                              "unknown key \"" + k +
                                  "\" in an \"each\" entry; it takes \"each\", "
                                  "\"fields\" and optionally \"aggregate\"" +
                                  suggestion(k, {"each", "fields", "aggregate"}, "keys"));
                        ok = false;
                    }
                }
                if (!s["each"].is_string()) {
                    error(fpath + "/each",
                          "\"each\" must be an expression giving an array, e.g. "
                          "\"line_items\"; got " +
                              describe_type(s["each"]));
                    ok = false;
                } else {
                    f.expression = expression(s["each"], fpath + "/each", relative_is_root);
                    ok = ok && f.expression;
                }
                if (!s.contains("fields")) {
                    error(fpath,
                          "an \"each\" entry needs \"fields\": {…}, the mapping of one "
                          "element, e.g. {\"each\": \"line_items\", \"fields\": "
                          "{\"sku\": \"sku\"}}");
                    ok = false;
                } else if (!s["fields"].is_object()) {
                    error(fpath + "/fields",
                          "\"fields\" must be an object of target field → "
                          "spec, got " +
                              describe_type(s["fields"]));
                    ok = false;
                } else {
                    fields(s["fields"], fpath + "/fields", false, f.fields);
                }
                if (s.contains("aggregate")) {
                    const size_t before = errors.size();
                    auto spec = std::make_shared<AggregateSpec>(AggregateSpec::parse(
                        s["aggregate"], file, fpath + "/aggregate", errors));
                    if (errors.size() != before) ok = false;
                    std::vector<std::string> names;
                    for (const auto& ef : f.fields) names.push_back(ef.name);
                    auto check = [&](const std::vector<std::string>& list, const char* key) {
                        for (size_t i = 0; i < list.size(); ++i)
                            if (std::find(names.begin(), names.end(), list[i]) == names.end()) {
                                error(fpath + "/aggregate/" + key + "/" + std::to_string(i),
                                      "\"" + list[i] + "\" is not a field of this \"each\"" +
                                          suggestion(list[i], names, "fields"));
                                ok = false;
                            }
                    };
                    if (ok) {
                        check(spec->group_by, "group_by");
                        check(spec->sum, "sum");
                    }
                    f.aggregate = std::move(spec);
                }
                if (!ok) continue;
            } else if (s.is_object() && s.contains("fields")) {
                if (s.size() != 1) {
                    error(fpath, "a nested object {\"fields\": {…}} takes no other keys; found " +
                                     keys_of(s) + " (for an array, add \"each\")");
                    continue;
                }
                if (!s["fields"].is_object()) {
                    error(fpath + "/fields",
                          "\"fields\" must be an object of target field → "
                          "spec, got " +
                              describe_type(s["fields"]));
                    continue;
                }
                f.kind = Mapping::Field::Kind::object;
                fields(s["fields"], fpath + "/fields", relative_is_root, f.fields);
            } else if (s.is_object()) {
                error(fpath,
                      "a mapping entry is an expression string, {\"const\": …}, "
                      "{\"each\": …, \"fields\": {…}} or {\"fields\": {…}}; found an "
                      "object with keys " +
                          keys_of(s));
                continue;
            } else {
                error(fpath, "expected an expression string or an object, got " + describe_type(s) +
                                 " (" + quote_value(s) + "); write {\"const\": " + quote_value(s) +
                                 "} for a constant");
                continue;
            }
            out.push_back(std::move(f));
        }
    }
};

// The target field path of an error, e.g. "lines[2].qty": a chain from leaf to root, built
// into text only when something fails.
struct Trail {
    const Trail* parent;
    const std::string* name;
    long index;  // element of an `each`, or -1
};

std::string trail_text(const Trail* t) {
    std::vector<std::string> parts;
    for (; t; t = t->parent)
        parts.push_back(*t->name + (t->index >= 0 ? "[" + std::to_string(t->index) + "]" : ""));
    std::string out;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : ".") + *it;
    return out;
}

void apply_fields(const std::vector<Mapping::Field>& fields, const expr::Context& c, json& out,
                  const Trail* trail) {
    for (const Mapping::Field& f : fields) {
        Trail here{trail, &f.name, -1};
        switch (f.kind) {
            case Mapping::Field::Kind::expression:
                try {
                    out[f.name] = expr::evaluate(*f.expression, c).take();
                } catch (const expr::EvalError& e) {
                    throw MappingError(trail_text(&here), e.what());
                }
                break;
            case Mapping::Field::Kind::constant:
                out[f.name] = f.constant;
                break;
            case Mapping::Field::Kind::object: {
                json sub = json::object();
                apply_fields(f.fields, c, sub, &here);
                out[f.name] = std::move(sub);
                break;
            }
            case Mapping::Field::Kind::each: {
                expr::Value items;
                try {
                    items = expr::evaluate(*f.expression, c);
                } catch (const expr::EvalError& e) {
                    throw MappingError(trail_text(&here), e.what());
                }
                const json& a = items.get();
                json list = json::array();
                if (!a.is_null()) {
                    if (!a.is_array())
                        throw MappingError(trail_text(&here), "\"each\": " + f.expression->text +
                                                                  " is " + describe_type(a) +
                                                                  ", not an array");
                    list.get_ref<json::array_t&>().reserve(a.size());
                    expr::Context inner = c;
                    for (size_t i = 0; i < a.size(); ++i) {
                        inner.current = &a[i];
                        Trail element{trail, &f.name, static_cast<long>(i)};
                        json obj = json::object();
                        apply_fields(f.fields, inner, obj, &element);
                        list.push_back(std::move(obj));
                    }
                }
                if (f.aggregate && !list.empty()) {
                    std::vector<AggregateGroup> groups;
                    try {
                        groups = aggregate(*f.aggregate, list.get_ref<const json::array_t&>());
                    } catch (const MappingError& e) {
                        throw MappingError(trail_text(&here) + "." + e.field, e.problem);
                    }
                    json grouped = json::array();
                    for (auto& g : groups) grouped.push_back(std::move(g.record));
                    list = std::move(grouped);
                }
                out[f.name] = std::move(list);
                break;
            }
        }
    }
}

std::vector<std::string> unique_names(const std::vector<MappingReference>& refs) {
    std::vector<std::string> out;
    for (const auto& r : refs)
        if (std::find(out.begin(), out.end(), r.name) == out.end()) out.push_back(r.name);
    return out;
}

}  // namespace

Mapping Mapping::compile(const nlohmann::json& spec, const nlohmann::json& lookup_tables,
                         const std::string& file, const std::string& json_path,
                         std::vector<ConfigError>& errors) {
    Mapping m;
    auto fields = std::make_shared<std::vector<Field>>();
    if (!spec.is_object()) {
        errors.push_back(
            ConfigError{file, json_path,
                        "the mapping must be an object of target field → expression, got " +
                            describe_type(spec) + ", e.g. {\"email\": \"customer.email\"}"});
    } else {
        Compiler c{lookup_tables, file, errors, m.source_refs_, m.process_refs_};
        c.fields(spec, json_path, true, *fields);
    }
    m.fields_ = std::move(fields);
    return m;
}

nlohmann::json Mapping::apply(const nlohmann::json& source_record, const RefResolver& refs) const {
    json out = json::object();
    expr::Context c{&source_record, &source_record, &refs};
    apply_fields(*fields_, c, out, nullptr);
    return out;
}

std::vector<std::string> Mapping::target_fields() const {
    std::vector<std::string> out;
    out.reserve(fields_->size());
    for (const auto& f : *fields_) out.push_back(f.name);
    return out;
}

std::vector<std::string> Mapping::source_roots() const { return unique_names(source_refs_); }

std::vector<std::string> Mapping::referenced_processes() const {
    return unique_names(process_refs_);
}

// --- Aggregate ----------------------------------------------------------------------------

AggregateSpec AggregateSpec::parse(const nlohmann::json& spec, const std::string& file,
                                   const std::string& json_path, std::vector<ConfigError>& errors) {
    AggregateSpec a;
    auto error = [&](const std::string& path, const std::string& message) {
        errors.push_back(ConfigError{file, path, message});
    };
    const std::string example = "{\"group_by\": [\"account\", \"date\"], \"sum\": [\"amount\"]}";
    if (spec.is_null()) {
        error(json_path, "mode \"aggregate\" needs an aggregate spec, e.g. " + example);
        return a;
    }
    if (!spec.is_object()) {
        error(json_path,
              "aggregate must be an object, e.g. " + example + "; got " + describe_type(spec));
        return a;
    }
    for (const auto& [k, v] : spec.items()) {
        (void)v;
        if (k != "group_by" && k != "sum" && !is_comment_key(k))
            error(json_path + "/" + json_pointer_segment(k),
                  "unknown key \"" + k + "\" in aggregate" +
                      suggestion(k, {"group_by", "sum"}, "keys"));
    }
    auto list = [&](const char* key, const char* what, std::vector<std::string>& out) {
        const std::string path = json_path + "/" + key;
        if (!spec.contains(key)) {
            error(json_path, std::string("missing \"") + key + "\": " + what + ", e.g. " + example);
            return;
        }
        const json& l = spec[key];
        if (!l.is_array()) {
            error(path, std::string("\"") + key +
                            "\" must be an array of target field names, got " + describe_type(l));
            return;
        }
        for (size_t i = 0; i < l.size(); ++i) {
            const std::string ipath = path + "/" + std::to_string(i);
            if (!l[i].is_string() || l[i].get<std::string>().empty()) {
                error(ipath, "expected a target field name, got " + quote_value(l[i]));
                continue;
            }
            std::string name = l[i].get<std::string>();
            if (std::find(out.begin(), out.end(), name) != out.end()) {
                error(ipath, "\"" + name + "\" is listed twice; remove one");
                continue;
            }
            out.push_back(name);
        }
    };
    list("group_by", "the target fields whose equal values form one group", a.group_by);
    list("sum", "the target fields to add up within a group", a.sum);
    for (size_t i = 0; i < a.sum.size(); ++i) {
        if (std::find(a.group_by.begin(), a.group_by.end(), a.sum[i]) != a.group_by.end()) {
            size_t pos = 0;
            const json& l = spec["sum"];
            for (size_t j = 0; j < l.size(); ++j)
                if (l[j] == a.sum[i]) pos = j;
            error(
                json_path + "/sum/" + std::to_string(pos),
                "\"" + a.sum[i] + "\" is both grouped by and summed; a field is one or the other");
        }
    }
    return a;
}

std::vector<AggregateGroup> aggregate(const AggregateSpec& spec,
                                      const std::vector<nlohmann::json>& mapped) {
    struct Total {
        bool seen = false;
        bool as_string = false;
        bool all_integer = true;
        int64_t integer = 0;
        double real = 0;
        int decimals = 0;
    };
    std::vector<AggregateGroup> groups;
    std::vector<std::vector<Total>> totals;
    std::unordered_map<std::string, size_t> index;
    static const json null_value;

    for (size_t i = 0; i < mapped.size(); ++i) {
        const json& rec = mapped[i];
        json key = json::array();
        for (const auto& g : spec.group_by) {
            auto it = rec.is_object() ? rec.find(g) : rec.end();
            key.push_back(rec.is_object() && it != rec.end() ? *it : null_value);
        }
        std::string key_text = key.dump(-1, ' ', false, json::error_handler_t::replace);
        auto [slot, inserted] = index.emplace(key_text, groups.size());
        if (inserted) {
            groups.push_back(AggregateGroup{key_text, rec, {}});
            totals.emplace_back(spec.sum.size());
        }
        AggregateGroup& group = groups[slot->second];
        std::vector<Total>& t = totals[slot->second];
        group.members.push_back(i);
        for (size_t s = 0; s < spec.sum.size(); ++s) {
            const std::string& field = spec.sum[s];
            if (!rec.is_object()) continue;
            auto it = rec.find(field);
            if (it == rec.end() || it->is_null()) continue;
            auto n = it->is_boolean() ? std::nullopt : expr::to_number(*it);
            if (!n)
                throw MappingError(field, "record " + std::to_string(i) + " has " +
                                              quote_value(*it) +
                                              ", which is not a number and cannot be summed");
            Total& total = t[s];
            if (!total.seen) {
                total.seen = true;
                total.as_string = it->is_string();
            }
            if (it->is_string())
                total.decimals =
                    std::max(total.decimals, expr::decimals_in(it->get<std::string>()));
            else if (it->is_number_float())
                total.decimals =
                    std::max(total.decimals, expr::decimals_in(expr::to_text(*it, field)));
            if (total.all_integer && n->is_integer &&
                !__builtin_add_overflow(total.integer, n->integer, &total.integer))
                continue;
            if (total.all_integer) {
                total.all_integer = false;
                total.real = static_cast<double>(total.integer);
            }
            total.real += n->as_double();
        }
    }
    for (size_t g = 0; g < groups.size(); ++g) {
        for (size_t s = 0; s < spec.sum.size(); ++s) {
            const Total& total = totals[g][s];
            if (!total.seen) continue;
            json& slot = groups[g].record[spec.sum[s]];
            if (total.as_string)
                slot =
                    total.all_integer && total.decimals == 0
                        ? std::to_string(total.integer)
                        : expr::format_fixed(
                              total.all_integer ? static_cast<double>(total.integer) : total.real,
                              total.decimals);
            else
                slot = total.all_integer ? json(total.integer) : expr::number_json(total.real);
        }
    }
    return groups;
}

}  // namespace plexus
