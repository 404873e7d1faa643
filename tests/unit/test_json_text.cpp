// The SDK's JSON text scanner (sdk/include/plexus/json_text.hpp) against nlohmann::json: it
// must never accept what nlohmann::json refuses, must accept what the host sends, and must
// take objects apart into the same members.
#include <plexus/json_text.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

namespace jt = plexus::sdk::json_text;
using json = nlohmann::json;
using namespace std::string_literals;

namespace {

json random_value(std::mt19937& rng, int depth) {
    static const std::vector<std::string> strings = {
        "", "plain", "Zoë", "Zürich, \"quoted\"", "tab\there", "line\nbreak", "back\\slash",
        "emoji \xF0\x9F\x98\x80", "\xE2\x82\xAC 5", "nul \0 inside"s, "\x7F", "/slash/",
        "\xED\x9F\xBF", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"};
    std::uniform_int_distribution<int> kind(0, depth > 3 ? 5 : 7);
    switch (kind(rng)) {
        case 0: return nullptr;
        case 1: return std::uniform_int_distribution<int>(0, 1)(rng) == 1;
        case 2: return std::uniform_int_distribution<int64_t>(INT64_MIN, INT64_MAX)(rng);
        case 3: return std::uniform_int_distribution<uint64_t>(0, UINT64_MAX)(rng);
        case 4: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
        case 5: return strings[std::uniform_int_distribution<size_t>(0, strings.size() - 1)(rng)];
        case 6: {
            json a = json::array();
            for (int i = std::uniform_int_distribution<int>(0, 4)(rng); i > 0; --i)
                a.push_back(random_value(rng, depth + 1));
            return a;
        }
        default: {
            json o = json::object();
            for (int i = std::uniform_int_distribution<int>(0, 5)(rng); i > 0; --i)
                o[strings[std::uniform_int_distribution<size_t>(0, strings.size() - 1)(rng)] +
                  std::to_string(i)] = random_value(rng, depth + 1);
            return o;
        }
    }
}

std::string mutate(std::string s, std::mt19937& rng) {
    static const std::string alphabet = std::string("\"\\{}[],:0-.eEu8Dd+ ntf\t\n") +
                                        std::string("\0\x1F\x7F\x80\xBF\xC0\xC1\xC2\xE0\xED\xF0\xF4\xF5\xFF", 15);
    std::uniform_int_distribution<int> what(0, 3);
    for (int n = std::uniform_int_distribution<int>(1, 3)(rng); n > 0 && !s.empty(); --n) {
        const size_t at = std::uniform_int_distribution<size_t>(0, s.size() - 1)(rng);
        const char c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
        switch (what(rng)) {
            case 0: s[at] = c; break;
            case 1: s.erase(at, 1); break;
            case 2: s.insert(s.begin() + static_cast<long>(at), c); break;
            default: s.resize(at); break;
        }
    }
    return s;
}

}  // namespace

TEST_CASE("the scanner accepts what the host writes and never what nlohmann::json refuses", "[json_text]") {
    std::mt19937 rng(20261123);
    int accepted_mutants = 0, refused_mutants = 0;
    for (int i = 0; i < 4000; ++i) {
        const json doc = random_value(rng, 0);
        const std::string text = doc.dump();
        INFO(text);
        REQUIRE(jt::valid(text));
        REQUIRE(jt::valid(" \n" + doc.dump(2) + "\r\n"));
        for (int m = 0; m < 20; ++m) {
            const std::string bad = mutate(text, rng);
            INFO("mutant: " << json(bad).dump(-1, ' ', true, json::error_handler_t::replace));
            const bool ours = jt::valid(bad);
            if (ours) REQUIRE(json::accept(bad));
            (ours ? accepted_mutants : refused_mutants)++;
        }
    }
    CHECK(accepted_mutants > 1000);  // the mutants test both sides
    CHECK(refused_mutants > 1000);
}

TEST_CASE("the scanner refuses the invalid corners of JSON", "[json_text]") {
    for (const std::string& bad :
         {""s, " "s, "{"s, "}"s, "[1,]"s, "{\"a\":1,}"s, "{\"a\" 1}"s, "{a:1}"s, "01"s, "-"s, "1."s,
          ".5"s, "1e"s, "1e+"s, "+1"s, "1e400"s, "-1e400"s, "tru"s, "nul"s, "\"\\x\""s,
          "\"tab\there\""s, "\"\\ud800\""s, "\"\\udc00\""s, "\"\\ud800\\u0041\""s, "\"\\u12g4\""s,
          "\"\xC0\x80\""s, "\"\xC1\xBF\""s, "\"\xED\xA0\x80\""s, "\"\xF4\x90\x80\x80\""s,
          "\"\xF5\x80\x80\x80\""s, "\"\x80\""s, "\"\xE2\x82\""s, "\"abc"s, "1 2"s, "{} {}"s,
          "\"nul\0\""s}) {
        INFO(json(bad).dump(-1, ' ', true, json::error_handler_t::replace));
        CHECK_FALSE(jt::valid(bad));
    }
    // Valid, but deeper than the scanner goes: refused, for the caller to parse instead.
    CHECK_FALSE(jt::valid(std::string(300, '[') + std::string(300, ']')));
    for (const std::string& good :
         {"0"s, "-0"s, "-0.0e-0"s, "1E5"s, "123456789012345678901234567890"s, "\"\\ud83d\\ude00\""s,
          "\"\\u0000\""s, "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\""s, "[[],{},[{}]]"s, " true "s, "null"s,
          std::string(200, '[') + std::string(200, ']')}) {
        INFO(good);
        CHECK(jt::valid(good));
        CHECK(json::accept(good));
    }
}

TEST_CASE("an object's members come out as nlohmann::json reads them", "[json_text]") {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        json doc = random_value(rng, 0);
        if (!doc.is_object()) continue;
        const std::string text = doc.dump();
        json rebuilt = json::object();
        REQUIRE(jt::for_each_member(text, [&](std::string_view name, std::string_view value) {
            rebuilt[jt::string_value(name)] = json::parse(value);
        }));
        CHECK(rebuilt == doc);
    }
    std::vector<std::string> elements;
    CHECK(jt::for_each_element(R"( [1, "two", {"3": [4]}, null] )",
                               [&](std::string_view v) { elements.emplace_back(v); }));
    CHECK(elements == std::vector<std::string>{"1", "\"two\"", R"({"3": [4]})", "null"});
    CHECK_FALSE(jt::for_each_member("[1]", [](std::string_view, std::string_view) {}));
    CHECK_FALSE(jt::for_each_element("{}", [](std::string_view) {}));
}

TEST_CASE("scalar_text is a key's text as nlohmann::json gives it", "[json_text]") {
    for (const std::string& token :
         {"\"O000000001\""s, "\"Z\\u00fcrich\""s, "0"s, "-0"s, "42"s, "-9223372036854775808"s,
          "18446744073709551615"s, "18446744073709551616"s, "-9223372036854775809"s, "1.5"s,
          "1e3"s, "true"s, "null"s, "{}"s, "[]"s}) {
        INFO(token);
        const json j = json::parse(token);
        std::optional<std::string> expected;
        if (j.is_string()) expected = j.get<std::string>();
        else if (j.is_number_integer()) expected = j.dump();
        CHECK(jt::scalar_text(token) == expected);
    }
}
