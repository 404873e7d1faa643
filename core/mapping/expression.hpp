// The mapping expression language (docs/configuration.md, "Expressions"): literals, paths
// into the source record and function calls. An expression is parsed once into a tree of
// Nodes; evaluation walks the tree and does no parsing, so mapping a record costs a few
// map look-ups per field.
//
// Paths are relative to the *current* record (the root source record, or the element of
// an `each` / `sum` being visited); `$` anchors a path at the root source record. A path
// that leads nowhere yields null.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus {

// ref(): the target key that process `process_id` wrote for source key `source_key`
// (from its cross-reference ledger), or nullopt when that record has not been synced.
using RefResolver = std::function<std::optional<std::string>(const std::string& process_id,
                                                             const std::string& source_key)>;

namespace expr {

enum class Function {
    concat,
    trim,
    upper,
    lower,
    round,
    number,
    format_number,
    date,
    default_value,
    sum,
    count,
    list,
    mul,
    add,
    sub,
    lookup,
    ref
};

struct PathStep {
    std::string key;    // object member, when index is unset
    int64_t index = 0;  // array element (negative: from the end)
    bool is_index = false;
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
    enum class Kind { literal, path, call };
    Kind kind = Kind::literal;
    std::string text;             // this node's source text, for messages
    nlohmann::json value;         // literal; lookup(): the table
    std::string name;             // ref(): the process id; lookup(): the table name
    bool from_root = false;       // path starting with `$`
    std::vector<PathStep> steps;  // path
    Function function = Function::concat;
    std::vector<NodePtr> args;  // call
    std::string noun;           // ref(): what the key names, e.g. "customer" (for messages)
};

// Where a compiled expression points outside itself (for configuration validation).
struct References {
    std::vector<std::string> source_roots;   // first segment of every root-relative path
    std::vector<std::string> processes;      // process ids named by ref()
    std::vector<std::string> lookup_tables;  // tables named by lookup()
};

// Parse `text`. On failure returns nullptr and sets `error`, e.g.
// `column 12 of "concat(a, b": expected "," or ")" but the expression ends`.
// `lookup_tables` (the configuration's "lookup_tables" object) is used to resolve lookup()
// tables at compile time; an unknown table is an error.
NodePtr parse(const std::string& text, const nlohmann::json& lookup_tables, std::string& error);

// Add the references of `node` to `out`. `relative_is_root`: relative paths at this level
// resolve against the root source record (true outside any `each`).
void collect_references(const Node& node, bool relative_is_root, References& out);

// Evaluation failures carry the problem only; the mapping adds the target field.
class EvalError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Context {
    const nlohmann::json* root = nullptr;     // the source record
    const nlohmann::json* current = nullptr;  // what relative paths resolve against
    const RefResolver* refs = nullptr;
};

// A result that either borrows from the source record / the expression, or owns a value.
class Value {
public:
    static Value borrow(const nlohmann::json& j) {
        Value v;
        v.ptr_ = &j;
        return v;
    }
    static Value own(nlohmann::json j) {
        Value v;
        v.owned_ = std::move(j);
        return v;
    }
    const nlohmann::json& get() const { return ptr_ ? *ptr_ : owned_; }
    nlohmann::json take() { return ptr_ ? *ptr_ : std::move(owned_); }

private:
    const nlohmann::json* ptr_ = nullptr;
    nlohmann::json owned_;
};

// Evaluate. Throws EvalError.
Value evaluate(const Node& node, const Context& context);

// --- Numbers (shared with aggregation) ----------------------------------------------------

// A number read from JSON: integers stay exact.
struct Number {
    bool is_integer = false;
    int64_t integer = 0;
    double real = 0;
    double as_double() const { return is_integer ? static_cast<double>(integer) : real; }
};

// A JSON number, or a string holding one ("19.99", " -3 ", "1e3"). nullopt otherwise.
std::optional<Number> to_number(const nlohmann::json& value);

// Round half away from zero to `digits` decimal places, working on the decimal digits of
// `x` (so 1.005 → 1.01 and 0.1 + 0.2 → 0.3 at 10 places). digits may be 0..15.
double round_decimal(double x, int digits);

// `x` rounded and printed with exactly `decimals` decimal places ("500.00"). No "-0.00".
std::string format_fixed(double x, int decimals);

// Digits after the decimal point in a numeric string ("19.990" → 3, "5" → 0).
int decimals_in(const std::string& numeric_text);

// The JSON value for an arithmetic result: integral values within ±2^53 become integers,
// others are rounded to 10 decimal places (hiding binary noise such as 0.30000000000000004).
nlohmann::json number_json(double x);

// A scalar as text: strings as they are, null as "", numbers without binary noise.
// Throws EvalError for arrays and objects (`what` names the argument in the message).
std::string to_text(const nlohmann::json& value, const std::string& what);

}  // namespace expr
}  // namespace plexus
