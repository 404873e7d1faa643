// The wire rules as pure functions, and golden cases: Gomag's own saved responses (from the
// Postman collection in tests/contract/) through the connector's envelope and collection code.
#include "gomag_wire.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <functional>

using namespace plexus::gomag;

namespace {

// Every saved response of the collection for `path` (e.g. "invoice/generate/json"), by name.
std::vector<std::pair<std::string, std::string>> saved(const std::string& path) {
    static const json collection = [] {
        std::ifstream in(std::string(GOMAG_SOURCE_DIR) + "/tests/contract/gomag-public-api.postman_collection.json");
        return json::parse(in);
    }();
    std::vector<std::pair<std::string, std::string>> out;
    std::function<void(const json&)> walk = [&](const json& items) {
        for (const auto& it : items) {
            if (it.contains("item")) {
                walk(it["item"]);
                continue;
            }
            std::string p;
            for (const auto& part : it["request"]["url"]["path"]) p += (p.empty() ? "" : "/") + part.get<std::string>();
            if (p != "api/v1/" + path) continue;
            for (const auto& r : it.value("response", json::array()))
                if (r.value("code", 0) == 200) out.emplace_back(r.value("name", ""), r.value("body", ""));
        }
    };
    walk(collection["item"]);
    return out;
}

std::string saved_body(const std::string& path, const std::string& name) {
    for (auto& [n, b] : saved(path))
        if (n == name) return b;
    FAIL("no saved response \"" << name << "\" for " << path);
    return {};
}

}  // namespace

TEST_CASE("wire: a data= form post is one multipart field holding the JSON text", "[wire]") {
    const std::string b = make_boundary(42);
    CHECK(b.rfind("----PlexusGomag", 0) == 0);
    CHECK(make_boundary(43) != b);
    const std::string body = multipart_body(b, "data", R"({"products":[{"sku":"A"}]})");
    CHECK(body == "--" + b + "\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"products\":[{\"sku\":\"A\"}]}\r\n--" + b + "--\r\n");
}

TEST_CASE("wire: business errors in HTTP 200 bodies, auth, throttling, transport", "[wire]") {
    CHECK(judge(200, R"({"error":"200","status":"200","message":[],"data":[]})", "POST x").status == PLEXUS_OK);
    CHECK(judge(200, R"({"total":3,"page":1,"pages":1,"products":{}})", "GET x").status == PLEXUS_OK);
    auto v = judge(200, R"({"error":"600","status":"600","message":["MISSING_ORDER_ID"],"data":[]})", "POST /api/v1/invoice/generate/json");
    CHECK(v.status == PLEXUS_ERR_VALIDATION);
    CHECK(v.message == "Gomag refused it (HTTP 200 on POST /api/v1/invoice/generate/json): error 600: MISSING_ORDER_ID");
    CHECK(judge(200, R"({"error":"1","status":"404","errorMessage":"Client inexistent"})", "x").message.find("error 1/404: Client inexistent") != std::string::npos);
    CHECK(judge(200, R"({"error":100,"message":"Missing Api User"})", "GET x").status == PLEXUS_ERR_AUTH);
    CHECK(judge(401, "", "GET x").status == PLEXUS_ERR_AUTH);
    auto t = judge(200, R"({"error":"429","status":"429","message":["TOO_MANY_REQUESTS"]})", "GET x");
    CHECK(t.status == PLEXUS_ERR_RATE_LIMIT);
    CHECK(t.throttled);
    CHECK(judge(429, "", "GET x").throttled);
    CHECK(judge(503, "", "GET x").status == PLEXUS_ERR_TRANSIENT);
    CHECK(judge(404, "", "GET x").status == PLEXUS_ERR_CONFIG);
    CHECK(judge(200, "{\"truncated\": [1, 2", "GET x").status == PLEXUS_ERR_TRANSIENT);
    // "status" may stand alone (invoice generate's success) or beside error.
    CHECK(judge(200, R"({"status":"200","order":"32","invoiceNumber":"1"})", "x").status == PLEXUS_OK);
}

TEST_CASE("wire: collections keyed by id or arrays, lenient numbers, budgets, times", "[wire]") {
    auto items = collection_items(json::parse(R"({"12":{"id":"12"},"7":{"sku":"A"}})"));
    REQUIRE(items.size() == 2);
    CHECK(items[0].first == "12");  // nlohmann orders object keys as text
    CHECK(collection_items(json::array()).empty());
    CHECK(collection_items(json::parse(R"([{"id":5},{"x":1}])"))[1].first == "1");
    CHECK(number_of(json("7.000")) == 7.0);
    CHECK(number_of(json(" 12 ")) == 12.0);
    CHECK_FALSE(number_of(json("abc")));
    CHECK(integer_of(json("3.00")) == 3);
    CHECK_FALSE(integer_of(json("3.5")));
    CHECK(text_of(json(3)) == "3");
    std::vector<std::pair<std::string, std::string>> h = {{"api-ratelimit-read", "1"}, {"Api-RateLimit-Read-Burst", "40"},
                                                          {"API-RATELIMIT-READ-REMAINING", "39"}};
    auto b = budget_of(h, false);
    REQUIRE(b);
    CHECK(b->burst == 40);
    CHECK(b->remaining == 39);
    CHECK_FALSE(budget_of(h, true));
    CHECK(cursor_time("2025-02-19 16:19:46") == "2025-02-19T16:19:46");
    CHECK(date_of("2024-05-01T10:00:00Z") == std::string("2024-05-01"));
    CHECK_FALSE(date_of("2024-13-01"));
    CHECK(utc_date(0) == "1970-01-01");
}

TEST_CASE("wire: the updated-day cursor delivers each change once across sets", "[wire][cursor]") {
    UpdatedCursor c;
    c.see("A", "2024-05-01T10:00:00");
    c.see("B", "2024-05-02T09:00:00");
    c.see("C", "2024-05-02T09:00:00");
    c.finish_set();
    CHECK(c.w == "2024-05-02T09:00:00");
    CHECK(c.k == std::vector<std::string>{"B", "C"});
    auto back = UpdatedCursor::decode(c.encode());
    CHECK_FALSE(back.is_new("B", "2024-05-02T09:00:00"));
    CHECK(back.is_new("D", "2024-05-02T09:00:00"));
    CHECK(back.is_new("A", "2024-05-02T09:00:01"));
    CHECK_FALSE(back.is_new("A", "2024-05-01T10:00:00"));
    CHECK_THROWS(UpdatedCursor::decode("not json"));
}

TEST_CASE("golden: Gomag's saved responses through the connector's rules", "[wire][golden]") {
    // Product list: keyed by id, total as a number, numbers as strings.
    auto products = judge(200, saved_body("product/read/json", "Lista de produse"), "GET p");
    REQUIRE(products.status == PLEXUS_OK);
    auto list = collection_items(products.body["products"]);
    REQUIRE(list.size() == 3);
    CHECK(list[0].second["sku"] == "1245");
    CHECK(number_of(list[0].second["stock"]) == 7.0);
    CHECK(cursor_time(list[0].second["updated"]) == "2025-02-19T16:19:46");
    // Orders: "total" as a string, items an array, no change time of their own.
    auto orders = judge(200, saved_body("order/read/json", "Lista de comenzi"), "GET o");
    REQUIRE(orders.status == PLEXUS_OK);
    CHECK(integer_of(orders.body["total"]) == 2);
    CHECK(collection_items(orders.body["orders"]).size() == 2);
    // Inventory: the envelope succeeds, the item says 404 MISSING_ITEMS.
    auto wrong = judge(200, saved_body("product/inventory/json", "Update pret si stoc - Sku gresit"), "POST i");
    REQUIRE(wrong.status == PLEXUS_OK);
    CHECK(wrong.body["data"][""][0]["status"] == "404");
    CHECK(wrong.body["data"][""][0]["errorMessage"] == "MISSING_ITEMS");
    // Invoice: success has only status; the error is a business error naming its code.
    CHECK(judge(200, saved_body("invoice/generate/json", "Genereaza factura"), "POST g").status == PLEXUS_OK);
    auto err = judge(200, saved_body("invoice/generate/json", "Genereaza factura Error"), "POST g");
    CHECK(err.status == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(err.message, Catch::Contains("MISSING_ORDER_ID"));
    // Customers: keyed by id without an id field inside.
    auto customers = judge(200, saved_body("customer/read/json", "Lista de clienti"), "GET c");
    auto c = collection_items(customers.body["customers"]);
    REQUIRE(c.size() == 1);
    CHECK(c[0].first == "14666");
    CHECK_FALSE(c[0].second.contains("id"));
    // Categories write: marks keyed by name; order status: an echo.
    CHECK(judge(200, saved_body("category/write/json", "Adaugare categorii"), "POST w").body["data"]["categories"]["Test 133"][0]["status"] == "200");
    CHECK(judge(200, saved_body("order/status/json", "Update status comanda"), "POST s").status == PLEXUS_OK);
}
