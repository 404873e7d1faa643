// Golden cases: testcases/<case>/{response.json, expected.json}. response.json holds the
// request that was made (method, path, kind) and the recorded answer (status, headers, body —
// a JSON value, or a string sent verbatim). The answer goes through the connector's pure
// parsing functions (src/wire.cpp); expected.json says what must come out. Kinds:
// - "list": parse_list_page (expected: ids, next_page_info, updated_at_utc);
// - "write": interpret_write for request.singular / request.create (expected: status,
//   target_key, cursor, message_contains/lacks);
// - "inventory_set": interpret_inventory_set (same expectations as write);
// - "payment_plan": plan_payment(request.order, body = the order's {"transactions": [...]})
//   (expected: steps [{kind, parent_id, amount}], refusal_contains).
#include "src/wire.hpp"
#include "plugin_host/connector_instance.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace plexus::shopify;
namespace fs = std::filesystem;

namespace {
json load(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
}
std::string status_text(plexus_status s) { return std::string("PLEXUS_ERR_") + [&] {
    std::string n = plexus::status_name(s);
    for (auto& c : n) c = static_cast<char>(std::toupper(c));
    return n;
}(); }
}  // namespace

TEST_CASE("golden request/response cases", "[golden]") {
    size_t cases = 0;
    for (const auto& dir : fs::directory_iterator(SHOPIFY_TESTCASES_DIR)) {
        if (!dir.is_directory()) continue;
        ++cases;
        DYNAMIC_SECTION(dir.path().filename().string()) {
            const json response = load(dir.path() / "response.json");
            const json expected = load(dir.path() / "expected.json");
            const json& req = response["request"];
            const std::string exchange = exchange_name(req["method"], req["path"]);
            const int status = response["status"];
            const std::string body = response["body"].is_string() ? response["body"].get<std::string>() : response["body"].dump();
            const json headers = response.value("headers", json::object());
            const std::string link = headers.value("Link", "");
            if (expected.contains("call_limit")) {
                auto limit = parse_call_limit(headers.value("X-Shopify-Shop-Api-Call-Limit", ""));
                REQUIRE(limit);
                CHECK(limit->used == expected["call_limit"][0].get<double>());
                CHECK(limit->max == expected["call_limit"][1].get<double>());
            }
            plexus_status got = PLEXUS_OK;
            std::string message;
            if (req["kind"] == "list") {
                try {
                    ListPage page = parse_list_page(status, link, body, req["plural"], exchange);
                    std::vector<std::string> ids;
                    for (const auto& i : page.items) ids.push_back(i["id"].dump());
                    CHECK(json(ids) == expected["ids"]);
                    CHECK((page.next_page_info ? json(*page.next_page_info) : json()) == expected["next_page_info"]);
                    if (expected.contains("updated_at_utc"))
                        for (size_t i = 0; i < page.items.size(); ++i)
                            CHECK(format_utc(*parse_timestamp(page.items[i]["updated_at"])) == expected["updated_at_utc"][i]);
                } catch (const plexus::sdk::Error& e) {
                    got = e.status();
                    message = e.what();
                }
            } else if (req["kind"] == "payment_plan") {
                const PaymentPlan plan = plan_payment(req["order"], response["body"]);
                json steps = json::array();
                for (const auto& s : plan.steps)
                    steps.push_back({{"kind", s.kind}, {"parent_id", s.parent_id}, {"amount", format_cents(s.amount_cents)},
                                     {"currency", s.currency}});
                CHECK(steps == expected.value("steps", json::array()));
                if (expected.contains("refusal_contains"))
                    CHECK_THAT(plan.refusal, Catch::Contains(expected["refusal_contains"].get<std::string>()));
                else
                    CHECK(plan.refusal.empty());
            } else {
                try {
                    auto r = req["kind"] == "inventory_set"
                                 ? interpret_inventory_set(status, body, exchange)
                                 : interpret_write(status, body, req["singular"], req.value("create", false), exchange);
                    got = r.status;
                    message = r.message;
                    if (expected.contains("target_key")) CHECK(r.target_key == expected["target_key"]);
                    if (expected.contains("cursor")) CHECK(r.cursor == expected["cursor"]);
                } catch (const plexus::sdk::Error& e) {
                    got = e.status();
                    message = e.what();
                }
            }
            INFO(message);
            if (expected.contains("status")) CHECK(status_text(got) == expected["status"]);
            else CHECK(got == PLEXUS_OK);
            for (const auto& m : expected.value("message_contains", json::array())) CHECK_THAT(message, Catch::Contains(m.get<std::string>()));
            for (const auto& m : expected.value("message_lacks", json::array())) CHECK(message.find(m.get<std::string>()) == std::string::npos);
        }
    }
    CHECK(cases >= 17);
}

TEST_CASE("the read cursor round-trips and handles ties on the boundary second", "[golden][cursor]") {
    ReadCursor c;
    c.see("1", 100);
    c.see("2", 200);
    c.see("3", 200);
    ReadCursor next = c.finished();
    CHECK(next.updated_at_min == format_utc(200));
    CHECK(next.skip_ids == std::vector<std::string>{"2", "3"});
    CHECK(next.skips("2", 200));
    CHECK(!next.skips("2", 201));
    CHECK(!next.skips("4", 200));
    ReadCursor back = ReadCursor::decode(next.encode());
    CHECK(back.updated_at_min == next.updated_at_min);
    CHECK(back.skip_ids == next.skip_ids);
    // A set wholly on the boundary second keeps the earlier skips.
    back.see("4", 200);
    CHECK(back.finished().skip_ids.size() == 3);
    CHECK_THROWS_AS(ReadCursor::decode("garbage"), plexus::sdk::Error);
    CHECK(link_page_info("<https://x/a.json?page_info=p1&limit=3>; rel=\"next\"", "next") == std::optional<std::string>("p1"));
    CHECK(errors_message(json::parse(R"({"errors":{"base":["Customer must have a name"]}})")) == "Customer must have a name");
}

TEST_CASE("category handles are stable, slug-like and distinct", "[golden][collections]") {
    CHECK(category_handle("COFFEE") == "category-coffee");
    CHECK(category_handle("pl-10") == "category-pl-10");
    const std::string a = category_handle("Kaffee & Tee"), b = category_handle("Kaffee/Tee");
    CHECK_THAT(a, Catch::StartsWith("category-kaffee-tee-"));
    CHECK(a.size() == std::string("category-kaffee-tee-").size() + 8);
    CHECK(a != b);                                  // lossy slugs get a hash of the id
    CHECK(a == category_handle("Kaffee & Tee"));   // and it is the same every time
    CHECK_THAT(category_handle("Müsli"), Catch::StartsWith("category-m-sli-"));
    CHECK_THAT(category_handle("☕"), Catch::StartsWith("category-"));
    CHECK(category_handle("☕").size() == std::string("category-").size() + 8);
    CHECK(category_handle("Coffee") == category_handle("COFFEE"));  // case is not kept: documented
}

TEST_CASE("money parses to cents and back", "[golden][money]") {
    CHECK(parse_cents(json("19.99")) == std::optional<int64_t>(1999));
    CHECK(parse_cents(json("19.9")) == std::optional<int64_t>(1990));
    CHECK(parse_cents(json("20")) == std::optional<int64_t>(2000));
    CHECK(parse_cents(json("0.00")) == std::optional<int64_t>(0));
    CHECK(parse_cents(json("-3.05")) == std::optional<int64_t>(-305));
    CHECK(parse_cents(json(12.5)) == std::optional<int64_t>(1250));
    CHECK(parse_cents(json(7)) == std::optional<int64_t>(700));
    CHECK(!parse_cents(json("19.999")));
    CHECK(!parse_cents(json("12,50")));
    CHECK(!parse_cents(json("")));
    CHECK(!parse_cents(json(nullptr)));
    CHECK(format_cents(1999) == "19.99");
    CHECK(format_cents(-5) == "-0.05");
    CHECK(format_cents(0) == "0.00");
}

TEST_CASE("only metafields that differ are written", "[golden][invoice]") {
    const std::vector<MetafieldValue> wanted = {{"invoice_number", "single_line_text_field", "INV-7"},
                                                {"invoice_date", "date", "2024-05-01"},
                                                {"amount_due", "number_decimal", "12.50"}};
    CHECK(plan_metafields(wanted, json{{"metafields", json::array()}}).size() == 3);
    const json existing = json::parse(R"({"metafields": [
        {"id": 11, "namespace": "plexus", "key": "invoice_number", "type": "single_line_text_field", "value": "INV-7"},
        {"id": 12, "namespace": "plexus", "key": "invoice_date", "type": "date", "value": "2024-04-30"},
        {"id": 13, "namespace": "plexus", "key": "amount_due", "type": "number_decimal", "value": "12.5"},
        {"id": 14, "namespace": "other", "key": "invoice_number", "type": "single_line_text_field", "value": "X"}]})");
    auto plan = plan_metafields(wanted, existing);
    REQUIRE(plan.size() == 1);  // 12.5 and 12.50 are the same amount; another namespace is not ours
    CHECK(plan[0].value.key == "invoice_date");
    CHECK(plan[0].existing_id == 12);
    CHECK(invoice_paid("Paid", std::nullopt));
    CHECK(invoice_paid(" paid ", 500));
    CHECK(invoice_paid("Posted", 0));
    CHECK(!invoice_paid("Posted", 500));
    CHECK(!invoice_paid("Partially Paid", std::nullopt));
    CHECK(inventory_level_key(808950810, 655441491) == "808950810:655441491");
    CHECK(parse_inventory_level_key("808950810:655441491") == std::optional<std::pair<int64_t, int64_t>>({808950810, 655441491}));
    CHECK(!parse_inventory_level_key("808950810"));
    CHECK(!parse_inventory_level_key("a:b"));
}
