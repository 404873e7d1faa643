// The connector through the real loader and host services against the Intacct sandbox.
#include "intacct_fixture.hpp"

#include <set>
#include <thread>

using namespace intacct_test;

TEST_CASE("reads all customers in pages and resumes from a stored cursor", "[intacct]") {
    World w;
    std::string cursor;
    int pages = 0;
    {
        auto inst = w.instance();
        auto records = read_all(*inst, "customers", cursor, 50, &pages);
        CHECK(records.size() == w.control().count("CUSTOMER"));
        CHECK(records.size() == 200);
        CHECK(pages >= 4);
        std::set<std::string> keys;
        std::string last;
        for (const auto& r : records) {
            keys.insert(r["key"].get<std::string>());
            CHECK(r["cursor"].get<std::string>() >= last);
            last = r["cursor"].get<std::string>();
        }
        CHECK(keys.size() == 200);
        CHECK(records.front()["data"].contains("DISPLAYCONTACT"));
    }
    // Someone edits two customers in Intacct; a new instance (a later run) reads only those.
    REQUIRE(w.control().touch("CUSTOMER", "C-00007", "NAME", "Zoë Ångström-Müller"));
    REQUIRE(w.control().touch("CUSTOMER", "C-00150", "STATUS", "inactive"));
    {
        auto inst = w.instance();
        std::string c2 = cursor;
        auto changed = read_all(*inst, "customers", c2);
        REQUIRE(changed.size() == 2);
        std::set<std::string> keys{changed[0]["key"], changed[1]["key"]};
        CHECK(keys == std::set<std::string>{"C-00007", "C-00150"});
        CHECK(changed[0]["data"]["NAME"].get<std::string>().size() > 0);
        // And nothing again after that (ties at the last second are skipped by RECORDNO).
        auto again = read_all(*w.instance(), "customers", c2);
        CHECK(again.empty());
    }
}

TEST_CASE("resumes mid-query in a new instance without the resultId", "[intacct]") {
    World w;
    auto a = w.instance();
    json page = ok_json(a->read_page({{"entity", "customers"}, {"limit", 60}, {"cursor", nullptr}}));
    REQUIRE(page["has_more"].get<bool>());
    std::string cursor = page["next_cursor"];
    // A restart: the resultId is not trusted; the new instance re-queries from the resume
    // point, so every customer is still delivered (some twice — at least once).
    auto b = w.instance();
    auto rest = read_all(*b, "customers", cursor, 60);
    std::set<std::string> keys;
    for (auto& r : page["records"]) keys.insert(r["key"].get<std::string>());
    for (auto& r : rest) keys.insert(r["key"].get<std::string>());
    CHECK(keys.size() == 200);
}

TEST_CASE("reads AR invoices with number, date, state, total and amount due", "[intacct]") {
    World w;
    auto inst = w.instance();
    std::string cursor;
    auto records = read_all(*inst, "ar_invoices", cursor, 100);
    REQUIRE(records.size() == 150);
    std::set<std::string> states;
    for (const auto& r : records) {
        const auto& d = r["data"];
        CHECK(d.contains("RECORDID"));
        CHECK(d.contains("WHENCREATED"));
        CHECK(d.contains("TOTALENTERED"));
        CHECK(d.contains("TOTALDUE"));
        states.insert(d["STATE"].get<std::string>());
    }
    CHECK(states == std::set<std::string>{"Paid", "Partially Paid", "Posted"});
    json one = ok_json(inst->lookup({{"entity", "ar_invoices"}, {"key", records[3]["key"]}}));
    CHECK(one["found"].get<bool>());
    CHECK(one["record"]["data"]["RECORDID"] == records[3]["data"]["RECORDID"]);
}

TEST_CASE("items and product lines read", "[intacct]") {
    World w;
    auto inst = w.instance();
    std::string c1, c2;
    CHECK(read_all(*inst, "items", c1, 100).size() == 150);
    CHECK(read_all(*inst, "product_lines", c2, 100).size() == 10);
}

TEST_CASE("a batch of customer creates in one request with per-record outcomes", "[intacct]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    uint64_t before = w.control().requests();
    json batch{{"entity", "customers"},
               {"records",
                {{{"op", "create"}, {"idempotency_key", "k1"},
                  {"data", {{"CUSTOMERID", "SHOP-1"}, {"NAME", "Anna Muster"},
                            {"DISPLAYCONTACT", {{"PRINTAS", "Anna Muster"}, {"EMAIL1", "anna@example.ch"}}}}}},
                 {{"op", "create"}, {"idempotency_key", "k2"},
                  {"data", {{"CUSTOMERID", "SHOP-2"}}}},  // no NAME: refused
                 {{"op", "create"}, {"idempotency_key", "k3"},
                  {"data", {{"CUSTOMERID", "C-00001"}, {"NAME", "Taken"}}}},  // exists
                 {{"op", "create"}, {"idempotency_key", "k4"},
                  {"data", {{"CUSTOMERID", "SHOP-4"}, {"NAME", "Łukasz Żak"}}}}}}};
    json reply = ok_json(inst->write_batch(batch));
    // One request with the four creates; one looking the failed create (SHOP-2) up by its
    // reference — a failure is never trusted to mean "not created" (README "Idempotency");
    // one reading the written customers' WHENMODIFIED.
    CHECK(w.control().requests() - before == 3);
    auto& r = reply["results"];
    REQUIRE(r.size() == 4);
    CHECK(r[0]["status"] == PLEXUS_OK);
    CHECK(r[0]["target_key"] == "SHOP-1");
    CHECK(r[1]["status"] == PLEXUS_ERR_VALIDATION);
    // Per-record errors name the record and carry Intacct's error number.
    CHECK_THAT(r[1]["message"].get<std::string>(),
               Catch::StartsWith("customer SHOP-2: BL01001973") && Catch::Contains("NAME"));
    CHECK(r[2]["status"] == PLEXUS_ERR_CONFLICT);
    CHECK_THAT(r[2]["message"].get<std::string>(),
               Catch::StartsWith("customer C-00001: BL34000061") && Catch::Contains("already exists"));
    CHECK(r[3]["status"] == PLEXUS_OK);
    CHECK(w.control().count("CUSTOMER") == 202);

    json found = ok_json(inst->lookup({{"entity", "customers"}, {"key", "SHOP-4"}}));
    REQUIRE(found["found"].get<bool>());
    CHECK(found["record"]["data"]["NAME"] == "Łukasz Żak");

    // Update, then read back.
    json upd{{"entity", "customers"},
             {"records", {{{"op", "update"}, {"idempotency_key", "k4"}, {"target_key", "SHOP-4"},
                           {"data", {{"NAME", "Łukasz Żak-Nowak"}}}}}}};
    json ur = ok_json(inst->write_batch(upd));
    CHECK(ur["results"][0]["status"] == PLEXUS_OK);
    found = ok_json(inst->lookup({{"entity", "customers"}, {"idempotency_key", "k4"},
                                  {"data", {{"CUSTOMERID", "SHOP-4"}}}}));
    CHECK(found["record"]["data"]["NAME"] == "Łukasz Żak-Nowak");
}

TEST_CASE("batch_size splits writes into several requests", "[intacct]") {
    World w;
    json s = w.settings();
    s["batch_size"] = 2;
    auto inst = w.instance(s);
    REQUIRE(inst->check().ok());
    json batch{{"entity", "customers"}, {"records", json::array()}};
    for (int i = 0; i < 5; ++i)
        batch["records"].push_back({{"op", "create"}, {"idempotency_key", "b" + std::to_string(i)},
                                    {"data", {{"CUSTOMERID", "B-" + std::to_string(i)}, {"NAME", "B"}}}});
    uint64_t before = w.control().requests();
    json reply = ok_json(inst->write_batch(batch));
    // Three write requests (2 + 2 + 1), then one read of the five customers' WHENMODIFIED.
    CHECK(w.control().requests() - before == 4);
    for (auto& r : reply["results"]) CHECK(r["status"] == PLEXUS_OK);
}

namespace {
json order_batch(const std::string& ref) {
    return {{"entity", "sales_orders"},
            {"records",
             {{{"op", "create"}, {"idempotency_key", "order-" + ref},
               {"data", {{"customerid", "C-00003"}, {"referenceno", ref}, {"datecreated", "2024-05-02"},
                         {"lines", {{{"itemid", "I-1001"}, {"quantity", 2}, {"price", 12.5}},
                                    {{"itemid", "I-1002"}, {"quantity", 1}}}}}}}}}};
}
}  // namespace

TEST_CASE("a sales order with lines is created and found by its reference", "[intacct]") {
    World w;
    auto inst = w.instance();
    json reply = ok_json(inst->write_batch(order_batch("#1001")));
    REQUIRE(reply["results"][0]["status"] == PLEXUS_OK);
    std::string key = reply["results"][0]["target_key"];
    CHECK_THAT(key, Catch::StartsWith("Sales Order-SO"));
    json found = ok_json(inst->lookup({{"entity", "sales_orders"}, {"idempotency_key", "order-#1001"},
                                       {"data", {{"referenceno", "#1001"}}}}));
    REQUIRE(found["found"].get<bool>());
    CHECK(found["record"]["key"] == key);
    CHECK(found["record"]["data"]["CUSTVENDID"] == "C-00003");
    json by_key = ok_json(inst->lookup({{"entity", "sales_orders"}, {"key", key}}));
    CHECK(by_key["found"].get<bool>());
    json none = ok_json(inst->lookup({{"entity", "sales_orders"}, {"idempotency_key", "x"},
                                      {"data", {{"referenceno", "#9999"}}}}));
    CHECK_FALSE(none["found"].get<bool>());

    // A bad item is that record's validation failure.
    json bad = order_batch("#1002");
    bad["records"][0]["data"]["lines"][0]["itemid"] = "NOPE";
    json br = ok_json(inst->write_batch(bad));
    CHECK(br["results"][0]["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(br["results"][0]["message"].get<std::string>(), Catch::Contains("NOPE"));
}

TEST_CASE("an answer lost after Intacct ran the request creates nothing twice", "[intacct]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    // Intacct runs the create, the answer is lost (HTTP 502); the host sends the very same
    // request again. uniqueid=true: Intacct refuses the repeated function controlid (its real
    // error is not public; the sandbox's is invented), and the connector, not trusting any
    // failure to mean "not created", finds the order by its reference and adopts it.
    w.control().lose_answers_after_executing(1);
    json first = ok_json(inst->write_batch(order_batch("#2001")));
    CHECK(first["results"][0]["status"] == PLEXUS_OK);
    CHECK_THAT(first["results"][0]["target_key"].get<std::string>(), Catch::StartsWith("Sales Order-SO"));
    CHECK(w.control().count("SODOCUMENT") == 1);

    // The same for a customer whose mapping gives no CUSTOMERID: the connector derives one
    // from the idempotency key and finds it by that.
    const std::string key = "px0123456789abcdef0123456789abcd";
    json cust{{"entity", "customers"},
              {"records", {{{"op", "create"}, {"idempotency_key", key}, {"data", {{"NAME", "Renée"}}}}}}};
    w.control().lose_answers_after_executing(1);
    json c = ok_json(inst->write_batch(cust));
    CHECK(c["results"][0]["status"] == PLEXUS_OK);
    CHECK(c["results"][0]["target_key"] == "PX0123456789ABCDEF01");
    CHECK(c["results"][0].contains("cursor"));
    CHECK(w.control().count("CUSTOMER") == 201);

    // After a crash the host resolves its open intents by lookup(idempotency key): found.
    json found = ok_json(w.instance()->lookup(
        {{"entity", "customers"}, {"idempotency_key", key}, {"data", {{"NAME", "Renée"}}}}));
    REQUIRE(found["found"].get<bool>());
    CHECK(found["record"]["key"] == "PX0123456789ABCDEF01");
    json order = ok_json(w.instance()->lookup({{"entity", "sales_orders"},
                                               {"idempotency_key", "order-#2001"},
                                               {"data", order_batch("#2001")["records"][0]["data"]}}));
    REQUIRE(order["found"].get<bool>());
    CHECK(order["record"]["key"] == first["results"][0]["target_key"]);
    // An order whose mapping gives no referenceno carries the idempotency key as reference.
    json anon = order_batch("#2002");
    anon["records"][0]["data"].erase("referenceno");
    anon["records"][0]["idempotency_key"] = key;
    json a = ok_json(inst->write_batch(anon));
    REQUIRE(a["results"][0]["status"] == PLEXUS_OK);
    json by_key = ok_json(w.instance()->lookup({{"entity", "sales_orders"}, {"idempotency_key", key},
                                                {"data", anon["records"][0]["data"]}}));
    REQUIRE(by_key["found"].get<bool>());
    CHECK(by_key["record"]["data"]["PONUMBER"] == key);
}

TEST_CASE("a wrong user password is one clear authentication error", "[intacct]") {
    World w;
    json s = w.settings();
    s["user_password"] = "Wrong-Secret-123";
    auto inst = w.instance(s);
    uint64_t before = w.control().requests();
    auto r = inst->read_page({{"entity", "customers"}, {"limit", 10}, {"cursor", nullptr}});
    CHECK(r.status == PLEXUS_ERR_AUTH);
    CHECK_THAT(r.text, Catch::Contains("XL03000006 Sign-in information is incorrect"));
    CHECK(r.text.find("Wrong-Secret-123") == std::string::npos);
    CHECK(w.control().requests() - before == 1);

    json s2 = w.settings();
    s2["sender_password"] = "Bad-Sender-456";
    auto r2 = w.instance(s2)->check();
    CHECK(r2.status == PLEXUS_ERR_AUTH);
    CHECK_THAT(r2.text, Catch::Contains("sender"));
    CHECK(r2.text.find("Bad-Sender-456") == std::string::npos);
}

TEST_CASE("with 30% server errors everything still completes", "[intacct]") {
    World w;
    plexus::sandbox::Faults f;
    f.error_rate = 0.3;
    w.server.sandbox().faults().set(f);
    auto inst = w.instance();
    std::string cursor;
    auto records = read_all(*inst, "customers", cursor, 40);
    CHECK(records.size() == 200);
    json reply = ok_json(inst->write_batch(order_batch("#3001")));
    CHECK(reply["results"][0]["status"] == PLEXUS_OK);
    CHECK(w.control().count("SODOCUMENT") == 1);
}

TEST_CASE("malformed answers and 429 bursts are retried", "[intacct]") {
    World w;
    plexus::sandbox::Faults f;
    f.malformed_rate = 0.2;
    f.burst_429_every = 4;
    f.burst_429_length = 2;
    w.server.sandbox().faults().set(f);
    auto inst = w.instance();
    std::string cursor;
    CHECK(read_all(*inst, "customers", cursor, 50).size() == 200);
}

TEST_CASE("the concurrent-request limit throttles and the connector backs off", "[intacct]") {
    World w;
    w.control().set_work_delay_ms(60);
    std::vector<std::thread> threads;
    std::atomic<int> complete{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            auto inst = w.instance();
            std::string cursor;
            std::vector<json> out;
            for (int guard = 0; guard < 100; ++guard) {
                json req{{"entity", "customers"}, {"limit", 100}};
                req["cursor"] = cursor.empty() ? json(nullptr) : json(cursor);
                auto r = inst->read_page(req);
                if (!r.ok()) return;
                json page = json::parse(r.text);
                for (auto& x : page["records"]) out.push_back(x);
                cursor = page["next_cursor"];
                if (!page["has_more"].get<bool>()) break;
            }
            if (out.size() == 200) ++complete;
        });
    for (auto& t : threads) t.join();
    CHECK(w.control().throttled() > 0);
    CHECK(complete == 4);
}

TEST_CASE("throttling (HTTP 429, GW-0010): the connector backs off past the host's retries", "[intacct][throttle]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    // A burst starts at every burst_429_every-th request: with 12 requests served so far and
    // every = 13, requests 13..20 are throttled and the next burst is far away (26).
    while (w.control().requests() < 12)
        ok_json(inst->lookup({{"entity", "customers"}, {"key", "C-00001"}}));
    // The next 8 requests are throttled: more than the host's 5 attempts of one exchange, so
    // the connector's own back-off has to carry the read through.
    uint64_t n = w.control().requests();
    plexus::sandbox::Faults f;
    f.burst_429_every = static_cast<int>(n + 1);
    f.burst_429_length = 8;
    w.server.sandbox().faults().set(f);
    json page = ok_json(inst->read_page({{"entity", "customers"}, {"limit", 10}, {"cursor", nullptr}}));
    CHECK(page["records"].size() == 10);
    CHECK(w.control().requests() - n == 9);
}

TEST_CASE("throttling that does not stop ends the call with a rate-limit error", "[intacct][throttle]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    plexus::sandbox::Faults f;
    f.burst_429_every = 1;
    f.burst_429_length = 1000000;
    w.server.sandbox().faults().set(f);
    uint64_t n = w.control().requests();
    auto r = inst->read_page({{"entity", "customers"}, {"limit", 10}, {"cursor", nullptr}});
    CHECK(r.status == PLEXUS_ERR_RATE_LIMIT);
    CHECK_THAT(r.text, Catch::Contains("GW-0010"));
    CHECK(r.text.find("sandbox_sender_pw") == std::string::npos);
    // Bounded: the host's attempts times the connector's (5 × 5).
    CHECK(w.control().requests() - n == 25);
}
