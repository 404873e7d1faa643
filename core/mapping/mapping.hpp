// Mapping: how a source record becomes a target record (docs/configuration.md, "Mapping").
//
// A mapping is a JSON object, target field → spec, where a spec is
//   "expression"                                 — see mapping/expression.hpp
//   {"const": <any JSON>}                        — a constant
//   {"each": "<array expression>", "fields": {}} — an array of objects, one per element;
//                                                  inside, paths resolve against the element
//                                                  and `$.path` against the root record;
//                                                  with "aggregate": {group_by, sum} the
//                                                  mapped elements are grouped and summed
//                                                  (ten CHF 50 voucher lines of one sale →
//                                                  one line of quantity 10)
//   {"fields": {…}}                              — a nested object
// It is compiled once (every expression parsed into a tree); apply() only evaluates.
//
// Aggregate mode groups mapped records by some fields and sums others (ten CHF 50 vouchers
// → one CHF 500 posting).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "mapping/expression.hpp"

namespace plexus {

// A record could not be mapped. `field` is the target field path ("lines[2].qty"), `problem`
// what went wrong; what() is "field: problem".
struct MappingError : std::runtime_error {
    std::string field;
    std::string problem;
    MappingError(std::string field_path, std::string message)
        : std::runtime_error(field_path.empty() ? message : field_path + ": " + message),
          field(std::move(field_path)),
          problem(std::move(message)) {}
};

// Where a compiled mapping uses something by name, and the JSON path of the spec using it.
struct MappingReference {
    std::string name;
    std::string json_path;
};

class Mapping {
public:
    // One compiled target field.
    struct Field {
        enum class Kind { expression, constant, each, object };
        std::string name;
        Kind kind = Kind::expression;
        expr::NodePtr expression;   // expression; each: the array expression
        nlohmann::json constant;    // constant
        std::vector<Field> fields;  // each, object
        // each, optional: group the mapped elements and sum fields within each group.
        std::shared_ptr<const struct AggregateSpec> aggregate;
    };

    Mapping() = default;

    // Compile once. Problems are appended as ConfigError with JSON paths under `json_path`
    // (e.g. "/processes/0/mapping/email"); fields with problems are left out of the result.
    static Mapping compile(const nlohmann::json& spec, const nlohmann::json& lookup_tables,
                           const std::string& file, const std::string& json_path,
                           std::vector<ConfigError>& errors);

    // Map one source record. Throws MappingError naming the target field and the problem.
    // Fields whose expression yields null are present with a null value.
    nlohmann::json apply(const nlohmann::json& source_record, const RefResolver& refs) const;

    // Top-level target fields, sorted by name (the order JSON objects are read in).
    std::vector<std::string> target_fields() const;
    // The first segment of every root-relative source path used (`$.x`, and relative paths
    // outside `each` and outside sum()'s element expression), each once.
    std::vector<std::string> source_roots() const;
    // Processes named in ref(), each once.
    std::vector<std::string> referenced_processes() const;

    // The same, with the JSON path of each use (for precise configuration errors).
    const std::vector<MappingReference>& source_references() const { return source_refs_; }
    const std::vector<MappingReference>& process_references() const { return process_refs_; }

    // The compiled tree.
    const std::vector<Field>& fields() const { return *fields_; }

private:
    std::shared_ptr<const std::vector<Field>> fields_ = std::make_shared<std::vector<Field>>();
    std::vector<MappingReference> source_refs_;
    std::vector<MappingReference> process_refs_;
};

// Aggregate mode: `{"group_by": ["account", "date"], "sum": ["amount"]}` — names of mapped
// (target) fields.
struct AggregateSpec {
    std::vector<std::string> group_by;
    std::vector<std::string> sum;

    // Problems are appended with JSON paths under `json_path` (e.g. "/processes/1/aggregate").
    static AggregateSpec parse(const nlohmann::json& spec, const std::string& file,
                               const std::string& json_path, std::vector<ConfigError>& errors);
};

struct AggregateGroup {
    // Stable text of the group_by values: their JSON array, e.g. ["1020","2024-05-01"].
    std::string group_key;
    // The first member's record with every `sum` field replaced by the group's total.
    nlohmann::json record;
    // Indices into the input, in input order.
    std::vector<size_t> members;
};

// Group mapped records by the group_by fields (missing = null) and sum the `sum` fields.
// Groups come in order of first appearance. A sum keeps the style of the group's first
// non-null value: a number stays a number (an integer if every value is one); a numeric
// string stays a string, written with the most decimals any member had ("50.00" × 10 →
// "500.00"). Null or missing values are skipped. Throws MappingError (field = the sum
// field) for a value that is not a number.
std::vector<AggregateGroup> aggregate(const AggregateSpec& spec,
                                      const std::vector<nlohmann::json>& mapped);

}  // namespace plexus
