// A short description of every mapping function, for the portal's mapping page (the full
// reference is docs/configuration.md, "Functions"). Kept beside the parser: a function added
// to expression.cpp gets a line here.
#pragma once

#include <nlohmann/json.hpp>

namespace plexus {

inline const nlohmann::json& mapping_function_help() {
    static const nlohmann::json help = nlohmann::json::parse(R"json([
 {"name": "concat", "usage": "concat(a, b, …)", "description": "joins values as text", "example": "concat(first_name, \" \", last_name)"},
 {"name": "trim", "usage": "trim(x)", "description": "removes spaces at both ends", "example": "trim(name)"},
 {"name": "upper", "usage": "upper(x)", "description": "upper case", "example": "upper(country)"},
 {"name": "lower", "usage": "lower(x)", "description": "lower case", "example": "lower(email)"},
 {"name": "round", "usage": "round(x, digits)", "description": "rounds a number", "example": "round(total, 2)"},
 {"name": "number", "usage": "number(x)", "description": "text made a number", "example": "number(price)"},
 {"name": "format_number", "usage": "format_number(x, decimals)", "description": "a number as text with fixed decimals", "example": "format_number(total, 2)"},
 {"name": "date", "usage": "date(x, out_format[, in_format])", "description": "rewrites a date", "example": "date(created_at, \"%d.%m.%Y\")"},
 {"name": "default", "usage": "default(x, fallback)", "description": "fallback when x is empty", "example": "default(phone, \"\")"},
 {"name": "sum", "usage": "sum(array[, element])", "description": "adds up the elements of a list", "example": "sum(line_items, mul(price, quantity))"},
 {"name": "count", "usage": "count(array)", "description": "how many elements a list has", "example": "count(line_items)"},
 {"name": "list", "usage": "list(a, …)", "description": "makes a list", "example": "list(sku)"},
 {"name": "add", "usage": "add(a, b)", "description": "a + b", "example": "add(subtotal, shipping)"},
 {"name": "sub", "usage": "sub(a, b)", "description": "a − b", "example": "sub(total, discount)"},
 {"name": "mul", "usage": "mul(a, b)", "description": "a × b", "example": "mul(price, quantity)"},
 {"name": "lookup", "usage": "lookup(x, \"table\"[, default])", "description": "translates a value through a lookup table", "example": "lookup(gateway, \"payment_codes\", \"OTHER\")"},
 {"name": "ref", "usage": "ref(\"process\", key)", "description": "the key another process gave the record in the target", "example": "ref(\"customers\", customer.id)"}
])json");
    return help;
}

}  // namespace plexus
