// Contract test: the connector driven through every flow it has — reads of every entity, the
// first run and incremental ones, paging with readMore; creates and updates of customers,
// sales orders with and without a currency; lookups by key, by idempotency key (what the host
// asks when it resolves an open intent after a crash) and by data; the adoption of a create
// whose answer was lost; the write-cursor read — against the sandbox. Every request the
// sandbox received is validated again here against Intacct's official schema
// (tests/contract/api.xsd, libxml2), and the kinds of request seen are counted: a request that
// does not validate fails the test, and so does a flow that stops sending a kind.
#include "intacct_fixture.hpp"

#include <pugixml.hpp>

#include <iostream>
#include <map>
#include <set>

using namespace intacct_test;

namespace {

// "login getAPISession", "session readByQuery CUSTOMER where", "session create_sotransaction
// currency+exchratetype", …: what a request asks, to count the kinds the suite covers.
std::set<std::string> kinds_of(const std::string& body) {
    std::set<std::string> out;
    pugi::xml_document doc;
    if (!doc.load_buffer(body.data(), body.size())) return {"(not XML)"};
    auto op = doc.child("request").child("operation");
    std::string auth = op.child("authentication").child("login") ? "login" : "session";
    for (auto fn : op.child("content").children("function")) {
        auto f = fn.first_child();
        std::string kind = auth + " " + f.name();
        std::string name = f.name();
        if (name == "readByQuery") {
            kind += std::string(" ") + f.child("object").text().get();
            std::string q = f.child("query").text().get();
            kind += q.empty() ? " all" : q.find(" IN (") != std::string::npos ? " in-list" : " where";
            if (std::string(f.child("fields").text().get()) != "*") kind += " fields";
        } else if (name == "readMore") {
            kind += f.child("resultId") ? " resultId" : " object";
        } else if (name == "create" || name == "update") {
            kind += std::string(" ") + f.first_child().name();
        } else if (name == "create_sotransaction") {
            kind += f.child("currency") ? (f.child("exchrate") ? " currency+exchrate"
                                           : f.child("exchratedate") ? " currency+exchratedate+type"
                                                                     : " currency+exchratetype")
                                        : " base currency";
        }
        out.insert(kind);
    }
    return out;
}

json order(const std::string& ref, const json& extra = json::object()) {
    json data{{"customerid", "C-00003"}, {"referenceno", ref}, {"datecreated", "2024-05-02"},
              {"message", "Shopify order " + ref},
              {"lines", {{{"itemid", "I-1002"}, {"itemdesc", "Wheel"}, {"quantity", 2}, {"price", 12.5},
                          {"warehouseid", "WH-ZRH"}, {"memo", "Café cap"}},
                         {{"itemid", "I-1001"}, {"quantity", 1}}}}};
    data.update(extra);
    return data;
}

json write(plexus::ConnectorInstance& inst, const std::string& entity, const json& records) {
    return ok_json(inst.write_batch({{"entity", entity}, {"records", records}}));
}

}  // namespace

TEST_CASE("contract: every request of every flow validates against the official XSD",
          "[intacct][contract]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());

    // Reads: the first run of every readable entity (paged: readMore by resultId) …
    std::map<std::string, std::string> cursors;
    for (const char* entity : {"customers", "ar_invoices", "items", "product_lines", "inventory"})
        CHECK(!read_all(*inst, entity, cursors[entity], 100).empty());
    // … and incremental runs in a new instance (a later run) after changes in Intacct.
    REQUIRE(w.control().touch("CUSTOMER", "C-00009", "NAME", "Ana Novák"));
    REQUIRE(w.control().touch("ITEM", "I-1005", "NAME", "Frame Bicycles 5 (2025)"));
    REQUIRE(w.control().adjust_on_hand("I-1002", "WH-ZRH", 5));
    {
        auto later = w.instance();
        for (auto& [entity, cursor] : cursors) read_all(*later, entity, cursor, 100);
        // a read resumed from a cursor with since (an operator's rewind)
        ok_json(later->read_page({{"entity", "customers"}, {"limit", 10}, {"cursor", nullptr},
                                  {"since", "2024-03-01T00:00:00Z"}}));
    }

    // Writes: customers (mapped CUSTOMERID, derived CUSTOMERID, a failure, an update), sales
    // orders in base currency and in other currencies (exchratetype default, exchrate,
    // exchratedate), one that fails.
    json customers = write(*inst, "customers",
                           {{{"op", "create"}, {"idempotency_key", "px00000000000000000000000000000001"},
                             {"data", {{"CUSTOMERID", "SHP-1"}, {"NAME", "Zoë Shop"},
                                       {"DISPLAYCONTACT", {{"PRINTAS", "Zoë Shop"}, {"EMAIL1", "zoe@example.ch"},
                                                           {"MAILADDRESS", {{"CITY", "Zürich"}}}}}}}},
                            {{"op", "create"}, {"idempotency_key", "px00000000000000000000000000000002"},
                             {"data", {{"NAME", "No ID Given"}}}},
                            {{"op", "create"}, {"idempotency_key", "px00000000000000000000000000000003"},
                             {"data", {{"CUSTOMERID", "SHP-3"}}}}});  // no NAME: fails, looked up
    CHECK(customers["results"][0]["status"] == PLEXUS_OK);
    CHECK(customers["results"][1]["status"] == PLEXUS_OK);
    CHECK(customers["results"][2]["status"] == PLEXUS_ERR_VALIDATION);
    json upd = write(*inst, "customers",
                     {{{"op", "update"}, {"idempotency_key", "px00000000000000000000000000000001"},
                       {"target_key", "SHP-1"}, {"data", {{"NAME", "Zoë Shop AG"}}}}});
    CHECK(upd["results"][0]["status"] == PLEXUS_OK);
    json orders = write(*inst, "sales_orders",
                        {{{"op", "create"}, {"idempotency_key", "px10000000000000000000000000000001"},
                          {"data", order("#1001")}},
                         {{"op", "create"}, {"idempotency_key", "px10000000000000000000000000000002"},
                          {"data", order("#1002", {{"currency", "EUR"}})}},
                         {{"op", "create"}, {"idempotency_key", "px10000000000000000000000000000003"},
                          {"data", order("#1003", {{"currency", "USD"}, {"exchrate", "0.91"}})}},
                         {{"op", "create"}, {"idempotency_key", "px10000000000000000000000000000004"},
                          {"data", order("#1004", {{"currency", "CHF"}, {"exchratedate", "2024-05-01"},
                                                   {"exchratetype", "Month End"}, {"datedue", "2024-06-01"},
                                                   {"termname", "N30"}, {"documentno", "X-1004"}})}},
                         {{"op", "create"}, {"idempotency_key", "px10000000000000000000000000000005"},
                          {"data", order("#1005", {{"customerid", "NOBODY"}})}}});
    for (int i = 0; i < 4; ++i) CHECK(orders["results"][i]["status"] == PLEXUS_OK);
    CHECK(orders["results"][4]["status"] == PLEXUS_ERR_VALIDATION);

    // A lost answer: the host sends the same request again, Intacct refuses the repeated
    // function controlids, the connector looks the records up and adopts them.
    w.control().lose_answers_after_executing(1);
    json lost = write(*inst, "sales_orders",
                      {{{"op", "create"}, {"idempotency_key", "px10000000000000000000000000000006"},
                        {"data", order("#1006", {{"currency", "EUR"}})}}});
    CHECK(lost["results"][0]["status"] == PLEXUS_OK);

    // The session ends (timeout): the connector logs in again once and carries on.
    w.control().expire_sessions();
    CHECK(ok_json(inst->lookup({{"entity", "customers"}, {"key", "SHP-1"}}))["found"].get<bool>());

    // Lookups: by key for every entity; by idempotency key and data, as the host resolves an
    // open intent after a crash (customers, sales orders); by item and warehouse (inventory).
    for (auto [entity, key] : std::vector<std::pair<std::string, std::string>>{
             {"customers", "C-00001"}, {"items", "I-1001"}, {"product_lines", "PL-01"},
             {"sales_orders", orders["results"][0]["target_key"]}})
        CHECK(ok_json(inst->lookup({{"entity", entity}, {"key", key}}))["found"].get<bool>());
    CHECK(ok_json(inst->lookup({{"entity", "customers"}, {"idempotency_key", "px00000000000000000000000000000002"},
                                {"data", {{"NAME", "No ID Given"}}}}))["found"].get<bool>());
    CHECK(ok_json(inst->lookup({{"entity", "sales_orders"}, {"idempotency_key", "px10000000000000000000000000000002"},
                                {"data", order("#1002")}}))["found"].get<bool>());
    CHECK_FALSE(ok_json(inst->lookup({{"entity", "sales_orders"}, {"idempotency_key", "px19999999999999999999999999999999"},
                                      {"data", order("#1999")}}))["found"].get<bool>());
    CHECK(ok_json(inst->lookup({{"entity", "inventory"},
                                {"data", {{"ITEMID", "I-1002"}, {"WAREHOUSEID", "WH-ZRH"}}}}))["found"].get<bool>());
    json inv = ok_json(inst->lookup({{"entity", "inventory"}, {"data", {{"ITEMID", "I-1002"}, {"WAREHOUSEID", "WH-ZRH"}}}}));
    CHECK(ok_json(inst->lookup({{"entity", "inventory"}, {"key", inv["record"]["key"]}}))["found"].get<bool>());
    CHECK(ok_json(inst->lookup({{"entity", "ar_invoices"}, {"key", "1"}})).is_object());

    // Every request, validated here (independently of the sandbox's own check).
    auto requests = w.control().captured_requests();
    REQUIRE(requests.size() > 20);
    CHECK(validate_against_xsd(requests) == requests.size());
    std::set<std::string> kinds;
    for (const auto& body : requests)
        for (auto& k : kinds_of(body)) kinds.insert(k);
    std::cout << "intacct contract: " << requests.size() << " requests of " << kinds.size()
              << " kinds validated against api.xsd:\n";
    for (const auto& k : kinds) std::cout << "  " << k << "\n";
    size_t logins = 0;
    for (const auto& body : requests)
        if (kinds_of(body).count("login getAPISession")) ++logins;
    CHECK(logins == 3);  // two instances, and the re-login after the session expired
    for (const char* must : {"login getAPISession", "session readByQuery CUSTOMER all",
                             "session readByQuery CUSTOMER where", "session readMore resultId",
                             "session readByQuery CUSTOMER in-list fields", "session create CUSTOMER",
                             "session update CUSTOMER", "session create_sotransaction base currency",
                             "session create_sotransaction currency+exchratetype",
                             "session create_sotransaction currency+exchrate",
                             "session create_sotransaction currency+exchratedate+type",
                             "session readByQuery SODOCUMENT in-list fields",
                             "session readByQuery SODOCUMENT where",
                             "session readByQuery ITEMWAREHOUSEINFO where"}) {
        INFO(must);
        CHECK(kinds.count(must));
    }
    CHECK(kinds.size() >= 20);
}

TEST_CASE("contract: the validator refuses what the gateway refuses", "[intacct][contract]") {
    // A test that can fail: the request of issue 9 (currency straight before sotransitems),
    // and a function without its controlid.
    auto schema = plexus::sandbox::IntacctSchema::bundled();
    REQUIRE(schema);
    const std::string head =
        "<request><control><senderid>s</senderid><password>p</password><controlid>c</controlid>"
        "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation><authentication>"
        "<sessionid>x</sessionid></authentication><content>";
    const std::string tail = "</content></operation></request>";
    std::string so = "<function controlid=\"f\"><create_sotransaction><transactiontype>Sales Order"
                     "</transactiontype><datecreated><year>2024</year><month>5</month><day>2</day>"
                     "</datecreated><customerid>C</customerid><currency>EUR</currency><sotransitems>"
                     "<sotransitem><itemid>I</itemid><quantity>1</quantity></sotransitem></sotransitems>"
                     "</create_sotransaction></function>";
    CHECK_THAT(schema->validate(head + so + tail), Catch::Contains("sotransitems"));
    std::string fixed = so;
    fixed.replace(fixed.find("</currency>") + 11, 0, "<exchratetype>Intacct Daily Rate</exchratetype>");
    CHECK(schema->validate(head + fixed + tail) == "");
    CHECK(schema->validate(head + "<function><getAPISession/></function>" + tail) != "");
    CHECK_THAT(schema->validate("<request>"), Catch::Contains("not well-formed"));
}
