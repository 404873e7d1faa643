// Product categories as custom collections, and products collected into them.
#include "fixture.hpp"
#include "src/wire.hpp"

#include <httplib.h>

using namespace shopify_test;

namespace {

json collections_with_handle(plexus::sandbox::ShopifySandbox& shop, const std::string& handle) {
    json out = json::array();
    for (const auto& [id, s] : shop.custom_collections_table())
        if (s.data.value("handle", "") == handle) out.push_back(s.data);
    return out;
}

std::set<int64_t> collection_ids(const json& collects) {
    std::set<int64_t> out;
    for (const auto& c : collects) out.insert(c["collection_id"].get<int64_t>());
    return out;
}

}  // namespace

TEST_CASE("custom collections: create by category id, re-run adds nothing, update, lookup, 422", "[collections]") {
    Rig rig;
    auto c = rig.instance();
    const size_t before = rig.shop().count("custom_collections");
    const json create{{"op", "create"}, {"idempotency_key", "cats:KT"},
                      {"data", {{"category_id", "Kaffee & Tee"}, {"title", "Kaffee & Tee"}, {"body_html", "<p>Heiss.</p>"}}}};
    json created = write_one(*c, "custom_collections", create);
    REQUIRE(created["status"] == PLEXUS_OK);
    const std::string key = created["target_key"];
    const std::string handle = plexus::shopify::category_handle("Kaffee & Tee");
    json stored = rig.shop().object("custom_collections", std::stoll(key));
    CHECK(stored["handle"] == handle);
    CHECK(stored["title"] == "Kaffee & Tee");
    CHECK(!stored.contains("category_id"));  // not a Shopify field
    CHECK(created["cursor"] == plexus::shopify::format_utc(*plexus::shopify::parse_timestamp(stored["updated_at"])));
    CHECK(rig.shop().count("custom_collections") == before + 1);

    // The same create again (a re-run without the ledger, or a second process): no second
    // collection, a conflict the host resolves by lookup and update.
    json again = write_one(*c, "custom_collections", create);
    CHECK(again["status"] == PLEXUS_ERR_CONFLICT);
    CHECK_THAT(again["message"].get<std::string>(), Catch::Contains(handle));
    CHECK(rig.shop().count("custom_collections") == before + 1);
    CHECK(collections_with_handle(rig.shop(), handle).size() == 1);

    // After a crash the host finds it by the category id alone (a new instance: no cache).
    auto restarted = rig.instance();
    auto found = restarted->lookup({{"entity", "custom_collections"}, {"idempotency_key", "cats:KT"},
                                    {"data", {{"category_id", "Kaffee & Tee"}, {"title", "whatever"}}}});
    REQUIRE(found.ok());
    CHECK(json::parse(found.text)["found"] == true);
    CHECK(json::parse(found.text)["record"]["key"] == key);
    auto by_key = restarted->lookup({{"entity", "custom_collections"}, {"key", key}});
    REQUIRE(by_key.ok());
    CHECK(json::parse(by_key.text)["record"]["data"]["handle"] == handle);
    auto none = restarted->lookup({{"entity", "custom_collections"}, {"idempotency_key", "cats:X"}, {"data", {{"category_id", "NOPE"}}}});
    REQUIRE(none.ok());
    CHECK(json::parse(none.text)["found"] == false);
    auto gone = restarted->lookup({{"entity", "custom_collections"}, {"key", "999"}});
    REQUIRE(gone.ok());
    CHECK(json::parse(gone.text)["found"] == false);

    json updated = write_one(*restarted, "custom_collections",
                             {{"op", "update"}, {"idempotency_key", "cats:KT"}, {"target_key", key},
                              {"data", {{"category_id", "Kaffee & Tee"}, {"title", "Kaffee und Tee"}, {"sort_order", "alpha-asc"}}}});
    REQUIRE(updated["status"] == PLEXUS_OK);
    stored = rig.shop().object("custom_collections", std::stoll(key));
    CHECK(stored["title"] == "Kaffee und Tee");
    CHECK(stored["sort_order"] == "alpha-asc");
    CHECK(stored["handle"] == handle);

    // 422s name the field; a create without category_id nor handle is refused before any request.
    json blank = write_one(*c, "custom_collections", {{"op", "create"}, {"idempotency_key", "cats:B"}, {"data", {{"category_id", "B"}}}});
    CHECK(blank["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(blank["message"].get<std::string>(), Catch::Contains("title: can't be blank"));
    CHECK_THAT(blank["message"].get<std::string>(), Catch::Contains("HTTP 422 on POST /admin/api/2024-04/custom_collections.json"));
    CHECK_THAT(blank["message"].get<std::string>(), Catch::Contains("category-b"));
    json bad_sort = write_one(*c, "custom_collections",
                              {{"op", "update"}, {"idempotency_key", "cats:KT"}, {"target_key", key}, {"data", {{"sort_order", "random"}}}});
    CHECK(bad_sort["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(bad_sort["message"].get<std::string>(), Catch::Contains("sort_order: is not included in the list"));
    const uint64_t requests = rig.shop().request_count();
    json anonymous = write_one(*c, "custom_collections", {{"op", "create"}, {"idempotency_key", "cats:A"}, {"data", {{"title", "Anonymous"}}}});
    CHECK(anonymous["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(anonymous["message"].get<std::string>(), Catch::Contains("category_id"));
    CHECK(rig.shop().request_count() == requests);
    CHECK(rig.shop().count("custom_collections") == before + 1);

    // Readable incrementally like the other entities.
    auto [records, cursor] = read_all(*c, "custom_collections", 250);
    CHECK(records.size() == rig.shop().count("custom_collections"));
}

TEST_CASE("a product's category is exactly one collect, kept on re-runs and moved on a change", "[collections][products]") {
    Rig rig;
    auto c = rig.instance();
    for (const char* cat : {"COFFEE", "TEA"}) {
        json r = write_one(*c, "custom_collections", {{"op", "create"}, {"idempotency_key", std::string("cats:") + cat},
                                                      {"data", {{"category_id", cat}, {"title", cat}}}});
        REQUIRE(r["status"] == PLEXUS_OK);
    }
    const int64_t coffee = collections_with_handle(rig.shop(), "category-coffee")[0]["id"];
    const int64_t tea = collections_with_handle(rig.shop(), "category-tea")[0]["id"];

    json created = write_one(*c, "products", {{"op", "create"}, {"idempotency_key", "items:BEAN-1"},
                                              {"data", {{"title", "Bohnen"}, {"category_id", "COFFEE"},
                                                        {"variants", json::array({{{"sku", "BEAN-1"}, {"price", "9.50"}}})}}}});
    REQUIRE(created["status"] == PLEXUS_OK);
    const int64_t pid = std::stoll(created["target_key"].get<std::string>());
    CHECK(!rig.shop().object("products", pid).contains("category_id"));
    CHECK(collection_ids(rig.shop().collects_of(pid)) == std::set<int64_t>{coffee});
    CHECK(rig.shop().collects_of(pid).size() == 1);

    // Re-run of the same write: no second collect.
    const size_t collects = rig.shop().count("collects");
    for (int i = 0; i < 2; ++i) {
        json again = write_one(*c, "products", {{"op", "update"}, {"idempotency_key", "items:BEAN-1"}, {"target_key", created["target_key"]},
                                                {"data", {{"title", "Bohnen"}, {"category_id", "COFFEE"}}}});
        REQUIRE(again["status"] == PLEXUS_OK);
    }
    CHECK(rig.shop().count("collects") == collects);
    CHECK(rig.shop().collects_of(pid).size() == 1);

    // The category changes: out of category-coffee, into category-tea.
    json moved = write_one(*c, "products", {{"op", "update"}, {"idempotency_key", "items:BEAN-1"}, {"target_key", created["target_key"]},
                                            {"data", {{"collection_handle", "category-tea"}}}});
    REQUIRE(moved["status"] == PLEXUS_OK);
    CHECK(collection_ids(rig.shop().collects_of(pid)) == std::set<int64_t>{tea});

    // A seeded product sits in its merchant collection ("coffee", "tea" …): that one is kept.
    const auto& [seeded_id, seeded] = *rig.shop().products_table().begin();
    const std::set<int64_t> merchant = collection_ids(rig.shop().collects_of(seeded_id));
    REQUIRE(merchant.size() == 1);
    json joined = write_one(*c, "products", {{"op", "update"}, {"idempotency_key", "x"}, {"target_key", std::to_string(seeded_id)},
                                             {"data", {{"collection_id", coffee}}}});
    REQUIRE(joined["status"] == PLEXUS_OK);
    std::set<int64_t> expected = merchant;
    expected.insert(coffee);
    CHECK(collection_ids(rig.shop().collects_of(seeded_id)) == expected);

    // A category that does not exist fails the record before the product is created.
    const size_t products = rig.shop().count("products");
    json orphan = write_one(*c, "products", {{"op", "create"}, {"idempotency_key", "items:X"},
                                             {"data", {{"title", "X"}, {"category_id", "NOPE"}}}});
    CHECK(orphan["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(orphan["message"].get<std::string>(), Catch::Contains("category-nope"));
    CHECK(rig.shop().count("products") == products);
    json twice = write_one(*c, "products", {{"op", "create"}, {"idempotency_key", "items:Y"},
                                            {"data", {{"title", "Y"}, {"category_id", "TEA"}, {"collection_id", tea}}}});
    CHECK(twice["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(twice["message"].get<std::string>(), Catch::Contains("named twice"));
    CHECK(rig.shop().count("products") == products);
}

TEST_CASE("a product found after an interrupted create gets its missing collect", "[collections][products][crash]") {
    Rig rig;
    auto c = rig.instance();
    REQUIRE(write_one(*c, "custom_collections", {{"op", "create"}, {"idempotency_key", "cats:MUG"},
                                                 {"data", {{"category_id", "MUG"}, {"title", "Mugs"}}}})["status"] == PLEXUS_OK);
    // The create reached Shopify, the host died before the collect: the product has no collect.
    json half = write_one(*c, "products", {{"op", "create"}, {"idempotency_key", "items:MUG-1"},
                                           {"data", {{"title", "Tasse"}, {"variants", json::array({{{"sku", "MUG-1"}}})}}}});
    REQUIRE(half["status"] == PLEXUS_OK);
    const int64_t pid = std::stoll(half["target_key"].get<std::string>());
    REQUIRE(rig.shop().collects_of(pid).empty());
    // The next run resolves the open intent by lookup, with the mapped data of the create.
    auto next = rig.instance();
    auto found = next->lookup({{"entity", "products"}, {"idempotency_key", "items:MUG-1"},
                               {"data", {{"title", "Tasse"}, {"category_id", "MUG"}, {"variants", json::array({{{"sku", "MUG-1"}}})}}}});
    REQUIRE(found.ok());
    CHECK(json::parse(found.text)["record"]["key"] == half["target_key"]);
    CHECK(rig.shop().collects_of(pid).size() == 1);
    // And again: still one.
    REQUIRE(next->lookup({{"entity", "products"}, {"idempotency_key", "items:MUG-1"}, {"data", {{"category_id", "MUG"}}}}).ok());
    CHECK(rig.shop().collects_of(pid).size() == 1);
}

TEST_CASE("the sandbox refuses a second collect for the same product and collection", "[collections][sandbox]") {
    Rig rig;
    const auto& [pid, p] = *rig.shop().products_table().begin();
    const int64_t cid = rig.shop().collects_of(pid)[0]["collection_id"];
    httplib::Client http("127.0.0.1", rig.server.port());
    httplib::Headers headers{{"X-Shopify-Access-Token", "shpat_sandbox"}};
    auto r = http.Post("/admin/api/2024-04/collects.json", headers,
                       json{{"collect", {{"product_id", pid}, {"collection_id", cid}}}}.dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 422);
    CHECK(json::parse(r->body)["errors"]["product_id"][0] == "already exists in this collection");
    auto list = http.Get("/admin/api/2024-04/collects.json?product_id=" + std::to_string(pid), headers);
    REQUIRE(list);
    CHECK(json::parse(list->body)["collects"].size() == 1);
}
