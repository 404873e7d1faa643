// WriteItem::interrupted on the wire (docs/sdk.md, "interrupted"): the write request's
// `"interrupted": true` reaches the item through the SDK's text scanner (connectors that
// accept data_json); absent means false; anything but a boolean sends the request down the
// document path, which judges it there.
#include <plexus/connector.hpp>

#include <catch2/catch.hpp>

using plexus::sdk::WriteItem;
using plexus::sdk::WriteOp;

TEST_CASE("the write request scanner carries interrupted, false when absent", "[sdk][intents]") {
    std::string entity;
    std::vector<WriteItem> items;
    const std::string request =
        R"({"entity":"charges","records":[)"
        R"({"op":"update","idempotency_key":"px1","target_key":"T1","interrupted":true,"data":{"a":1}},)"
        R"({"op":"create","idempotency_key":"px2","data":{"a":2}},)"
        R"({"op":"update","idempotency_key":"px3","target_key":"T3","interrupted":false,"data":{"a":3}}]})";
    REQUIRE(plexus::sdk::detail::scan_write_request(request, entity, items));
    REQUIRE(items.size() == 3);
    CHECK(items[0].op == WriteOp::Update);
    CHECK(items[0].interrupted);
    CHECK(items[0].target_key == "T1");
    CHECK(items[0].data_json == R"({"a":1})");
    CHECK_FALSE(items[1].interrupted);
    CHECK_FALSE(items[2].interrupted);

    const std::string odd = R"({"entity":"charges","records":[{"op":"update","interrupted":1,"data":{}}]})";
    CHECK_FALSE(plexus::sdk::detail::scan_write_request(odd, entity, items));
}
