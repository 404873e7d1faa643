// Mapping: expressions, functions, arrays, ref(), money rounding and aggregation
// (core/mapping/mapping.hpp).
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>

#include "mapping/mapping.hpp"

using namespace plexus;
using json = nlohmann::json;

namespace {

const json kTables = json::parse(R"js({
    "payment_codes": {"card": "CC", "paypal": "PP"},
    "vat": {"CH": 8.1, "DE": 19}
})js");

const json kOrder = json::parse(R"js({
    "id": 1001,
    "name": "#1001",
    "email": "  Anna@Example.COM ",
    "first_name": "Anna",
    "last_name": "Muster",
    "middle_name": null,
    "note": "",
    "created_at": "2024-05-01T23:30:00-04:00",
    "total": "59.97",
    "payment": "card",
    "country": "CH",
    "customer": {"id": 77, "email": "anna@example.com"},
    "line_items": [
        {"sku": "A-1", "quantity": 1, "price": "19.99", "tags": ["x"]},
        {"sku": "B-2", "quantity": 2, "price": "19.99"},
        {"sku": "C-3", "quantity": 3, "price": "0.10"}
    ],
    "first-name": "dash"
})js");

Mapping compile(const json& spec, std::vector<ConfigError>& errors) {
    return Mapping::compile(spec, kTables, "config.json", "/processes/0/mapping", errors);
}

Mapping compile_ok(const json& spec) {
    std::vector<ConfigError> errors;
    Mapping m = compile(spec, errors);
    for (const auto& e : errors) FAIL_CHECK(e.to_string());
    REQUIRE(errors.empty());
    return m;
}

RefResolver no_refs() { return {}; }

// Evaluate one expression against a record (kOrder by default).
json eval(const std::string& expression, const json& record = kOrder,
          const RefResolver& refs = {}) {
    Mapping m = compile_ok(json{{"out", expression}});
    return m.apply(record, refs)["out"];
}

std::string eval_error(const std::string& expression, const json& record = kOrder,
                       const RefResolver& refs = {}) {
    Mapping m = compile_ok(json{{"out", expression}});
    try {
        m.apply(record, refs);
    } catch (const MappingError& e) {
        CHECK(e.field == "out");
        return e.problem;
    }
    FAIL("no MappingError for " << expression);
    return "";
}

ConfigError compile_error(const json& spec) {
    std::vector<ConfigError> errors;
    compile(spec, errors);
    REQUIRE(errors.size() == 1);
    return errors[0];
}

}  // namespace

TEST_CASE("mapping: paths, literals and missing values", "[mapping]") {
    CHECK(eval("name") == "#1001");
    CHECK(eval("customer.email") == "anna@example.com");
    CHECK(eval("line_items[1].sku") == "B-2");
    CHECK(eval("line_items[-1].sku") == "C-3");
    CHECK(eval("line_items[0].tags[0]") == "x");
    CHECK(eval("$.customer.id") == 77);
    CHECK(eval("[\"first-name\"]") == "dash");
    CHECK(eval("$[\"first-name\"]") == "dash");
    CHECK(eval("customer.missing").is_null());
    CHECK(eval("nothing.at.all").is_null());
    CHECK(eval("line_items[9].sku").is_null());
    CHECK(eval("name.inner").is_null());
    CHECK(eval("'single'") == "single");
    CHECK(eval("\"double \\\"quoted\\\"\\n\"") == "double \"quoted\"\n");
    CHECK(eval("\"caf\\u00e9\"") == "café");
    CHECK(eval("42") == 42);
    CHECK(eval("-1.5") == -1.5);
    CHECK(eval("true") == true);
    CHECK(eval("false") == false);
    CHECK(eval("null").is_null());
    CHECK(eval("$")["id"] == 1001);
}

TEST_CASE("mapping: constants, nested objects and every kind of spec", "[mapping]") {
    Mapping m = compile_ok(json::parse(R"js({
        "number": "name",
        "type": {"const": {"kind": "invoice", "n": [1, 2]}},
        "zero": {"const": 0},
        "address": {"fields": {"email": "customer.email", "country": {"const": "CH"}}}
    })js"));
    json out = m.apply(kOrder, no_refs());
    CHECK(out == json::parse(R"js({
        "number": "#1001",
        "type": {"kind": "invoice", "n": [1, 2]},
        "zero": 0,
        "address": {"email": "anna@example.com", "country": "CH"}
    })js"));
    CHECK(m.target_fields() == std::vector<std::string>{"address", "number", "type", "zero"});
}

TEST_CASE("mapping: arrays map to arrays with $ reaching the root record", "[mapping]") {
    Mapping m = compile_ok(json::parse(R"js({
        "number": "name",
        "lines": {"each": "line_items", "fields": {
            "sku": "sku",
            "qty": "quantity",
            "amount": "mul(price, quantity)",
            "order": "$.name",
            "detail": {"fields": {"first_tag": "tags[0]"}}
        }}
    })js"));
    json out = m.apply(kOrder, no_refs());
    REQUIRE(out["lines"].size() == 3);
    CHECK(out["lines"][0] == json::parse(R"js({"sku": "A-1", "qty": 1, "amount": 19.99,
                                               "order": "#1001", "detail": {"first_tag": "x"}})js"));
    CHECK(out["lines"][1]["amount"] == 39.98);
    CHECK(out["lines"][2]["amount"] == 0.3);
    CHECK(out["lines"][2]["detail"]["first_tag"].is_null());

    json no_lines = kOrder;
    no_lines.erase("line_items");
    CHECK(m.apply(no_lines, no_refs())["lines"] == json::array());

    // Only root-relative paths count as source roots: not sku/quantity inside each.
    auto roots = m.source_roots();
    std::sort(roots.begin(), roots.end());
    CHECK(roots == std::vector<std::string>{"line_items", "name"});
}

TEST_CASE("mapping: errors name the target field path, including array elements", "[mapping]") {
    Mapping m = compile_ok(json::parse(R"js({
        "lines": {"each": "line_items", "fields": {"qty": "number(quantity)"}}
    })js"));
    json bad = kOrder;
    bad["line_items"][2]["quantity"] = "three";
    try {
        m.apply(bad, no_refs());
        FAIL("expected a MappingError");
    } catch (const MappingError& e) {
        CHECK(e.field == "lines[2].qty");
        CHECK_THAT(e.problem, Catch::Contains("number(): quantity is \"three\""));
        CHECK_THAT(std::string(e.what()), Catch::StartsWith("lines[2].qty: number():"));
    }

    json not_array = kOrder;
    not_array["line_items"] = "oops";
    try {
        m.apply(not_array, no_refs());
        FAIL("expected a MappingError");
    } catch (const MappingError& e) {
        CHECK(e.field == "lines");
        CHECK_THAT(e.problem, Catch::Contains("line_items is a string, not an array"));
    }
}

TEST_CASE("mapping: concat, trim, upper, lower", "[mapping]") {
    CHECK(eval("concat(first_name, ' ', last_name)") == "Anna Muster");
    CHECK(eval("concat(first_name, middle_name, missing, '!')") == "Anna!");
    CHECK(eval("concat('#', id, ' ', total, ' ', true)") == "#1001 59.97 true");
    CHECK(eval("concat(0.1, '')") == "0.1");
    CHECK(eval("trim(email)") == "Anna@Example.COM");
    CHECK(eval("lower(trim(email))") == "anna@example.com");
    CHECK(eval("upper(first_name)") == "ANNA");
    CHECK(eval("upper(missing)").is_null());
    CHECK(eval("trim(id)") == "1001");
    CHECK_THAT(eval_error("concat(line_items)"),
               Catch::Contains("concat(): line_items is an array, not text"));
}

TEST_CASE("mapping: number, round, format_number and money rounding", "[mapping]") {
    CHECK(eval("number(total)") == 59.97);
    CHECK(eval("number('42')") == 42);
    CHECK(eval("number(' -3.5 ')") == -3.5);
    CHECK(eval("number(id)") == 1001);
    CHECK(eval("number(note)").is_null());
    CHECK(eval("number(missing)").is_null());
    CHECK_THAT(eval_error("number(name)"),
               Catch::Contains("number(): name is \"#1001\", which is not a number"));
    CHECK_THAT(eval_error("number('12abc')"), Catch::Contains("not a number"));

    CHECK(eval("round(add(0.1, 0.2), 2)") == 0.3);
    CHECK(eval("add(0.1, 0.2)") == 0.3);  // no 0.30000000000000004
    CHECK(eval("add('19.99', '0.01')") == 20);
    CHECK(eval("round(1.005, 2)") == 1.01);
    CHECK(eval("round(2.345, 2)") == 2.35);
    CHECK(eval("round(-2.345, 2)") == -2.35);
    CHECK(eval("round(9.995, 2)") == 10);
    CHECK(eval("round('19.999')") == 20);
    CHECK(eval("round(7, 2)") == 7);
    CHECK(eval("round(missing, 2)").is_null());
    CHECK(eval("mul('19.99', 3)") == 59.97);
    CHECK(eval("sub(total, '19.99')") == 39.98);
    CHECK(eval("mul(1.1, 1.1)") == 1.21);
    CHECK(eval("mul(3, 4)") == 12);
    CHECK(eval("sub(10, 15)") == -5);

    CHECK(eval("format_number(total, 2)") == "59.97");
    CHECK(eval("format_number(5, 2)") == "5.00");
    CHECK(eval("format_number(add(0.1, 0.2), 2)") == "0.30");
    CHECK(eval("format_number(1.005, 2)") == "1.01");
    CHECK(eval("format_number('1234.5', 0)") == "1235");
    CHECK(eval("format_number(-0.001, 2)") == "0.00");
    CHECK(eval("format_number(missing, 2)").is_null());

    CHECK_THAT(eval_error("mul(price, 2)"),
               Catch::Contains("mul(): price is null") && Catch::Contains("default(price, 0)"));
    CHECK_THAT(eval_error("add(name, 1)"),
               Catch::Contains("add(): name is \"#1001\", not a number"));
    CHECK_THAT(eval_error("round(total, id)"), Catch::Contains("must be an integer from 0 to 10"));
}

TEST_CASE("mapping: date formats", "[mapping]") {
    CHECK(eval("date(created_at, \"%m/%d/%Y\")") == "05/01/2024");  // as written, no conversion
    CHECK(eval("date(created_at, \"%Y-%m-%d %H:%M:%S %z\")") == "2024-05-01 23:30:00 -0400");
    CHECK(eval("date('2024-05-01', '%d.%m.%Y')") == "01.05.2024");
    CHECK(eval("date('2024-05-01T10:30Z', '%F %T')") == "2024-05-01 10:30:00");
    CHECK(eval("date('2024-05-01 10:30:15.123+0200', '%H:%M:%S%z')") == "10:30:15+0200");
    CHECK(eval("date('01.05.24', '%Y-%m-%d', '%d.%m.%y')") == "2024-05-01");
    CHECK(eval("date('1 May 2024', '%F', '%d %b %Y')") == "2024-05-01");
    CHECK(eval("date('2024-02-29', '%b %d %y')") == "Feb 29 24");
    CHECK(eval("date(missing, '%F')").is_null());
    CHECK(eval("date(note, '%F')").is_null());
    CHECK_THAT(eval_error("date(name, '%F')"),
               Catch::Contains("date(): \"#1001\" (name) is not an ISO 8601 date"));
    CHECK_THAT(eval_error("date('2023-02-29', '%F')"), Catch::Contains("not an ISO 8601 date"));
    CHECK_THAT(eval_error("date('05/01/2024', '%F', '%Y-%m-%d')"),
               Catch::Contains("does not match the format \"%Y-%m-%d\""));
    CHECK_THAT(eval_error("date(id, '%F')"), Catch::Contains("not a date text"));
}

TEST_CASE("mapping: default, sum, count", "[mapping]") {
    CHECK(eval("default(missing, 'n/a')") == "n/a");
    CHECK(eval("default(note, 'n/a')") == "n/a");
    CHECK(eval("default(middle_name, first_name)") == "Anna");
    CHECK(eval("default(name, 'n/a')") == "#1001");
    CHECK(eval("default(0, 5)") == 0);

    CHECK(eval("sum(line_items, mul(price, quantity))") == 60.27);
    CHECK(eval("sum(line_items, quantity)") == 6);
    CHECK(eval("sum(line_items, $.id)") == 3003);
    CHECK(eval("sum(missing, quantity)") == 0);
    json with_discounts = kOrder;
    with_discounts["line_items"][1]["discount"] = "0.1";
    with_discounts["line_items"][2]["discount"] = "0.2";
    CHECK(eval("sum(line_items, discount)", with_discounts) == 0.3);  // element 0: null, skipped
    CHECK(eval("sum(values)", json{{"values", {1, 2, "3.5"}}}) == 6.5);
    CHECK_THAT(eval_error("sum(line_items, sku)"),
               Catch::Contains("sum(): element 0 of line_items gives \"A-1\", not a number"));
    CHECK_THAT(eval_error("sum(name, x)"),
               Catch::Contains("sum(): name is a string, not an array"));

    CHECK(eval("count(line_items)") == 3);
    CHECK(eval("count(missing)") == 0);
    CHECK_THAT(eval_error("count(customer)"), Catch::Contains("count(): customer is an object"));
    CHECK(eval("list(1, \"a\", missing)") == json::array({1, "a", nullptr}));
    CHECK(eval("count(list($))") == 1);
}

TEST_CASE("mapping: lookup tables", "[mapping]") {
    CHECK(eval("lookup(payment, \"payment_codes\")") == "CC");
    CHECK(eval("lookup(country, 'vat')") == 8.1);
    CHECK(eval("lookup('bitcoin', 'payment_codes', 'XX')") == "XX");
    CHECK(eval("lookup('bitcoin', 'payment_codes', payment)") == "card");
    json order = kOrder;
    order["payment"] = "bitcoin";
    CHECK(eval_error("lookup(payment, \"payment_codes\")", order) ==
          "lookup(): no entry for \"bitcoin\" (payment) in lookup table \"payment_codes\"; add it "
          "under /lookup_tables/payment_codes or give lookup() a default as third argument");

    ConfigError e = compile_error(json{{"code", "lookup(payment, 'payment_code')"}});
    CHECK(e.json_path == "/processes/0/mapping/code");
    CHECK_THAT(e.message, Catch::Contains("unknown lookup table \"payment_code\"") &&
                              Catch::Contains("did you mean \"payment_codes\"?"));
    ConfigError dyn = compile_error(json{{"code", "lookup(payment, payment)"}});
    CHECK_THAT(dyn.message, Catch::Contains("the table name must be a quoted string"));
}

TEST_CASE("mapping: ref() resolves through the ledger and explains a missing record", "[mapping]") {
    std::map<std::pair<std::string, std::string>, std::string> ledger = {
        {{"customers-shop-erp", "77"}, "C-0077"}};
    RefResolver refs = [&](const std::string& process,
                           const std::string& key) -> std::optional<std::string> {
        auto it = ledger.find({process, key});
        if (it == ledger.end()) return std::nullopt;
        return it->second;
    };
    Mapping m = compile_ok(json{{"customer", "ref(\"customers-shop-erp\", customer.id)"}});
    CHECK(m.apply(kOrder, refs)["customer"] == "C-0077");
    CHECK(m.referenced_processes() == std::vector<std::string>{"customers-shop-erp"});
    REQUIRE(m.process_references().size() == 1);
    CHECK(m.process_references()[0].json_path == "/processes/0/mapping/customer");

    json other = kOrder;
    other["customer"]["id"] = 123;
    try {
        m.apply(other, refs);
        FAIL("expected a MappingError");
    } catch (const MappingError& e) {
        CHECK(e.field == "customer");
        CHECK_THAT(e.problem, Catch::StartsWith("customer 123 has not been synced by process "
                                                "\"customers-shop-erp\""));
    }
    CHECK_THAT(
        eval_error("ref('customers-shop-erp', customer_id)", json{{"customer_id", "9"}}, refs),
        Catch::StartsWith("customer 9 has not been synced"));
    CHECK_THAT(eval_error("ref('customers-shop-erp', customer.missing)", kOrder, refs),
               Catch::Contains("is empty"));
    CHECK_THAT(eval_error("ref('customers-shop-erp', customer.id)", kOrder, {}),
               Catch::Contains("no cross-reference ledger"));
    ConfigError e = compile_error(json{{"c", "ref(process, customer.id)"}});
    CHECK_THAT(e.message, Catch::Contains("the process id must be a quoted string"));
}

TEST_CASE("mapping: compile errors point at the field and the column", "[mapping]") {
    ConfigError e = compile_error(json{{"name", "concat(first_name, last_name"}});
    CHECK(e.file == "config.json");
    CHECK(e.json_path == "/processes/0/mapping/name");
    CHECK(e.message ==
          "column 29 of \"concat(first_name, last_name\": expected \",\" or \")\" in "
          "the arguments of concat(), the expression ends");

    CHECK_THAT(compile_error(json{{"x", "uper(name)"}}).message,
               Catch::Contains("column 1") && Catch::Contains("unknown function \"uper\"") &&
                   Catch::Contains("did you mean \"upper\"?"));
    CHECK_THAT(compile_error(json{{"x", "round(a, 2, 3)"}}).message,
               Catch::Contains("round() takes 1 or 2 arguments, got 3: round(x, digits)"));
    CHECK_THAT(compile_error(json{{"x", "trim()"}}).message,
               Catch::Contains("trim() takes 1 argument, got 0"));
    CHECK_THAT(compile_error(json{{"x", "first_name + last_name"}}).message,
               Catch::Contains("column 12") && Catch::Contains("there are no operators"));
    CHECK_THAT(compile_error(json{{"x", "'open"}}).message,
               Catch::Contains("column 1") && Catch::Contains("unterminated string"));
    CHECK_THAT(compile_error(json{{"x", "a."}}).message,
               Catch::Contains("column 3") && Catch::Contains("expected a field name after \".\""));
    CHECK_THAT(compile_error(json{{"x", "a[x]"}}).message, Catch::Contains("array index"));
    CHECK_THAT(compile_error(json{{"x", ""}}).message, Catch::Contains("the expression is empty"));
    CHECK_THAT(compile_error(json{{"x", "date(a, '%Q')"}}).message,
               Catch::Contains("unknown directive %Q"));
    CHECK_THAT(compile_error(json{{"x", "format_number(a, 12)"}}).message,
               Catch::Contains("from 0 to 10"));
    CHECK_THAT(compile_error(json{{"x", "'a' 'b'"}}).message, Catch::Contains("unexpected \"'\""));
}

TEST_CASE("mapping: malformed specs are explained", "[mapping]") {
    ConfigError number = compile_error(json{{"qty", 5}});
    CHECK(number.json_path == "/processes/0/mapping/qty");
    CHECK_THAT(number.message, Catch::Contains("write {\"const\": 5} for a constant"));

    CHECK_THAT(compile_error(json{{"x", {{"cons", 1}}}}).message,
               Catch::Contains("a mapping entry is an expression string"));
    CHECK_THAT(compile_error(json{{"x", {{"const", 1}, {"extra", 2}}}}).message,
               Catch::Contains("takes no other keys"));
    CHECK(compile_error(json{{"lines", {{"each", "line_items"}}}}).message ==
          "an \"each\" entry needs \"fields\": {…}, the mapping of one element, e.g. {\"each\": "
          "\"line_items\", \"fields\": {\"sku\": \"sku\"}}");
    ConfigError nested = compile_error(json::parse(
        R"js({"lines": {"each": "line_items", "fields": {"qty": "number(quantity"}}})js"));
    CHECK(nested.json_path == "/processes/0/mapping/lines/fields/qty");
    ConfigError each = compile_error(json::parse(R"js({"lines": {"each": "(", "fields": {}}})js"));
    CHECK(each.json_path == "/processes/0/mapping/lines/each");

    std::vector<ConfigError> errors;
    Mapping::compile(json::array(), kTables, "config.json", "/processes/0/mapping", errors);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Catch::Contains("must be an object"));

    ConfigError slash = compile_error(json{{"a/b", 5}});
    CHECK(slash.json_path == "/processes/0/mapping/a~1b");
}

TEST_CASE("mapping: source roots and references for validation", "[mapping]") {
    Mapping m = compile_ok(json::parse(R"js({
        "a": "concat(customer.email, $.name)",
        "b": "sum(line_items, mul(price, quantity))",
        "c": {"fields": {"d": "country"}},
        "e": {"each": "line_items", "fields": {"f": "sku", "g": "$.payment"}}
    })js"));
    auto roots = m.source_roots();
    std::sort(roots.begin(), roots.end());
    CHECK(roots ==
          std::vector<std::string>{"country", "customer", "line_items", "name", "payment"});
    bool found = false;
    for (const auto& r : m.source_references())
        if (r.name == "payment") {
            CHECK(r.json_path == "/processes/0/mapping/e/fields/g");
            found = true;
        }
    CHECK(found);
}

TEST_CASE("aggregate: ten CHF 50 vouchers become one CHF 500.00 posting", "[mapping]") {
    std::vector<ConfigError> errors;
    AggregateSpec spec = AggregateSpec::parse(
        json::parse(R"js({"group_by": ["account", "date"], "sum": ["amount"]})js"), "config.json",
        "/processes/1/aggregate", errors);
    REQUIRE(errors.empty());

    std::vector<json> mapped;
    for (int i = 0; i < 10; ++i)
        mapped.push_back({{"account", "2030"},
                          {"date", "2024-05-01"},
                          {"amount", "50.00"},
                          {"text", "voucher " + std::to_string(i)}});
    auto groups = aggregate(spec, mapped);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].record["amount"] == "500.00");
    CHECK(groups[0].record["text"] == "voucher 0");
    CHECK(groups[0].group_key == "[\"2030\",\"2024-05-01\"]");
    CHECK(groups[0].members == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("aggregate: groups in order of first appearance, sums keep their style", "[mapping]") {
    std::vector<ConfigError> errors;
    AggregateSpec spec = AggregateSpec::parse(
        json::parse(R"js({"group_by": ["account"], "sum": ["amount", "count", "net"]})js"),
        "config.json", "/processes/1/aggregate", errors);
    REQUIRE(errors.empty());
    std::vector<json> mapped = {
        {{"account", "3200"}, {"amount", "0.1"}, {"count", 1}, {"net", 0.1}},
        {{"account", "1020"}, {"amount", "19.99"}, {"count", 2}, {"net", 1}},
        {{"account", "3200"}, {"amount", "0.20"}, {"count", 3}, {"net", 0.2}},
        {{"account", "3200"}, {"amount", nullptr}, {"count", 4}},
        {{"account", "1020"}, {"amount", "5"}, {"count", 5}, {"net", 2}},
    };
    auto groups = aggregate(spec, mapped);
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].group_key == "[\"3200\"]");
    CHECK(groups[0].members == std::vector<size_t>{0, 2, 3});
    CHECK(groups[0].record["amount"] == "0.30");  // max decimals seen: 2
    CHECK(groups[0].record["count"] == 8);
    CHECK(groups[0].record["net"] == 0.3);
    CHECK(groups[1].members == std::vector<size_t>{1, 4});
    CHECK(groups[1].record["amount"] == "24.99");
    CHECK(groups[1].record["net"] == 3);

    mapped.push_back({{"account", "1020"}, {"amount", "lots"}});
    try {
        aggregate(spec, mapped);
        FAIL("expected a MappingError");
    } catch (const MappingError& e) {
        CHECK(e.field == "amount");
        CHECK_THAT(e.problem, Catch::Contains("record 5 has \"lots\", which is not a number"));
    }
}

TEST_CASE("aggregate: the spec is checked", "[mapping]") {
    auto parse_errors = [](const json& spec) {
        std::vector<ConfigError> errors;
        AggregateSpec::parse(spec, "config.json", "/processes/1/aggregate", errors);
        return errors;
    };
    auto e = parse_errors(nullptr);
    REQUIRE(e.size() == 1);
    CHECK(e[0].json_path == "/processes/1/aggregate");
    CHECK_THAT(e[0].message, Catch::Contains("needs an aggregate spec"));

    e = parse_errors(json::parse(R"js({"group_by": "account", "sum": ["amount"]})js"));
    REQUIRE(e.size() == 1);
    CHECK(e[0].json_path == "/processes/1/aggregate/group_by");

    e = parse_errors(json::parse(R"js({"group_by": ["account"], "sum": ["amount", 3]})js"));
    REQUIRE(e.size() == 1);
    CHECK(e[0].json_path == "/processes/1/aggregate/sum/1");

    e = parse_errors(json::parse(R"js({"group_by": ["account"], "sums": ["amount"]})js"));
    REQUIRE(e.size() == 2);
    CHECK(e[0].json_path == "/processes/1/aggregate/sums");
    CHECK_THAT(e[0].message, Catch::Contains("did you mean \"sum\"?"));
    CHECK_THAT(e[1].message, Catch::Contains("missing \"sum\""));

    e = parse_errors(json::parse(R"js({"group_by": ["account"], "sum": ["account"]})js"));
    REQUIRE(e.size() == 1);
    CHECK(e[0].json_path == "/processes/1/aggregate/sum/0");
    CHECK_THAT(e[0].message, Catch::Contains("both grouped by and summed"));
}

TEST_CASE("mapping: compiled once, applied fast", "[mapping]") {
    Mapping m = compile_ok(json::parse(R"js({
        "number": "name",
        "email": "lower(trim(email))",
        "customer": "customer.id",
        "total": "format_number(sum(line_items, mul(price, quantity)), 2)",
        "date": "date(created_at, '%Y-%m-%d')",
        "payment": "lookup(payment, 'payment_codes')",
        "lines": {"each": "line_items", "fields": {"sku": "sku", "qty": "quantity"}}
    })js"));
    const int n = 5000;
    auto start = std::chrono::steady_clock::now();
    json last;
    for (int i = 0; i < n; ++i) last = m.apply(kOrder, no_refs());
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(last["total"] == "60.27");
    CHECK(last["payment"] == "CC");
    INFO("mapped " << static_cast<int>(n / seconds) << " records/s");
    // Generous even for Debug and sanitizer builds; bench/ measures the real rate.
    CHECK(seconds < 5.0);
}

TEST_CASE("each with aggregate: one sale's voucher lines become one line per item and price",
          "[mapping]") {
    // The seed's example inside one record: ten CHF 50 vouchers in a sale → one charge line of
    // quantity 10 and amount 500.00; the shipping line stays on its own.
    json sale = {{"id", "S-1"}, {"lines", json::array()}};
    for (int i = 0; i < 10; ++i)
        sale["lines"].push_back({{"kind", "voucher"}, {"item", "V50"}, {"price", "50.00"},
                                 {"quantity", 1}, {"code", "CODE" + std::to_string(i)}});
    sale["lines"].push_back(
        {{"kind", "shipping"}, {"item", "POST"}, {"price", "7.50"}, {"quantity", 1}});
    sale["lines"].push_back(
        {{"kind", "voucher"}, {"item", "V100"}, {"price", "100.00"}, {"quantity", 2}});
    Mapping m = compile_ok(json::parse(R"js({
        "reference": "id",
        "charges": {"each": "lines",
                    "fields": {"item": "item", "price": "price", "quantity": "quantity",
                               "amount": "format_number(mul(price, quantity), 2)",
                               "first_code": "code"},
                    "aggregate": {"group_by": ["item", "price"], "sum": ["quantity", "amount"]}}
    })js"));
    json out = m.apply(sale, no_refs());
    REQUIRE(out["charges"].size() == 3);
    CHECK(out["charges"][0] == json{{"item", "V50"}, {"price", "50.00"}, {"quantity", 10},
                                    {"amount", "500.00"}, {"first_code", "CODE0"}});
    CHECK(out["charges"][1]["item"] == "POST");
    CHECK(out["charges"][1]["amount"] == "7.50");
    CHECK(out["charges"][2]["quantity"] == 2);
    CHECK(out["charges"][2]["amount"] == "200.00");

    // An element whose summed field is not a number fails that record, naming the field.
    sale["lines"][3]["quantity"] = "many";
    Mapping strict = compile_ok(json::parse(R"js({
        "charges": {"each": "lines", "fields": {"item": "item", "quantity": "quantity"},
                    "aggregate": {"group_by": ["item"], "sum": ["quantity"]}}
    })js"));
    try {
        strict.apply(sale, no_refs());
        FAIL("a non-numeric quantity must fail the record");
    } catch (const MappingError& e) {
        CHECK(e.field == "charges.quantity");
        CHECK(e.problem.find("many") != std::string::npos);
    }
}

TEST_CASE("each with aggregate: configuration errors name the field", "[mapping]") {
    ConfigError e = compile_error(json::parse(R"js({
        "charges": {"each": "lines", "fields": {"item": "item", "quantity": "quantity"},
                    "aggregate": {"group_by": ["itme"], "sum": ["quantity"]}}})js"));
    CHECK(e.json_path == "/processes/0/mapping/charges/aggregate/group_by/0");
    CHECK(e.message.find("\"itme\" is not a field of this \"each\"") != std::string::npos);
    CHECK(e.message.find("item") != std::string::npos);

    e = compile_error(json::parse(R"js({
        "charges": {"each": "lines", "fields": {"item": "item"}, "agregate": {}}})js"));
    CHECK(e.json_path == "/processes/0/mapping/charges/agregate");
    CHECK(e.message.find("aggregate") != std::string::npos);

    e = compile_error(json::parse(R"js({
        "charges": {"each": "lines", "fields": {"item": "item"}, "aggregate": {"group_by": ["item"]}}})js"));
    CHECK(e.json_path == "/processes/0/mapping/charges/aggregate");
    CHECK(e.message.find("missing \"sum\"") != std::string::npos);
}
