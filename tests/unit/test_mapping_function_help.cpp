// The mapping page's list of functions (core/mapping/function_help.hpp) stays true to the
// parser: every function it names exists, every example parses, and no function is missing.
#include <catch2/catch.hpp>

#include "mapping/expression.hpp"
#include "mapping/function_help.hpp"

#include <set>

using nlohmann::json;

TEST_CASE("mapping function help: every example parses and every function is listed", "[mapping]") {
    const json tables = {{"payment_codes", {{"card", "CC"}}}};
    std::set<std::string> names;
    for (const auto& f : plexus::mapping_function_help()) {
        const std::string name = f["name"];
        INFO(name);
        names.insert(name);
        std::string error;
        CHECK(plexus::expr::parse(f["example"].get<std::string>(), tables, error) != nullptr);
        CHECK(error.empty());
        CHECK(f["usage"].get<std::string>().rfind(name + "(", 0) == 0);
        CHECK(!f["description"].get<std::string>().empty());
    }
    // An unknown name is refused, so the list cannot name a function that does not exist...
    std::string error;
    CHECK(plexus::expr::parse("nosuchfunction(x)", tables, error) == nullptr);
    // ...and these are all the parser knows (expr::Function).
    CHECK(names == std::set<std::string>{"concat", "trim", "upper", "lower", "round", "number",
                                         "format_number", "date", "default", "sum", "count", "list",
                                         "mul", "add", "sub", "lookup", "ref"});
}
