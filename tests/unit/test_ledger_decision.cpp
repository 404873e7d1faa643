// Ledger decisions and the fingerprints they rest on.
#include "engine/ledger_decision.hpp"
#include "engine/payload_hash.hpp"

#include <catch2/catch.hpp>

using namespace plexus;
using json = nlohmann::json;

TEST_CASE("no ledger entry means create", "[ledger]") {
    Decision d = decide(nullptr, "abc");
    CHECK(d.what == WriteDecision::create);
    CHECK(d.target_key.empty());
}

TEST_CASE("the same payload as last written means unchanged", "[ledger]") {
    LedgerEntry e{"C1", "T9", payload_hash(json{{"a", 1}}), 0, ""};
    Decision d = decide(&e, payload_hash(json{{"a", 1}}));
    CHECK(d.what == WriteDecision::unchanged);
    CHECK(d.target_key == "T9");
}

TEST_CASE("a different payload means update of the linked record", "[ledger]") {
    LedgerEntry e{"C1", "T9", payload_hash(json{{"a", 1}}), 0, ""};
    Decision d = decide(&e, payload_hash(json{{"a", 2}}));
    CHECK(d.what == WriteDecision::update);
    CHECK(d.target_key == "T9");
}

TEST_CASE("payload hashes ignore key order and see every value", "[ledger]") {
    json a = json::parse(R"({"email":"z@x.ch","name":"Zoë","lines":[{"qty":1,"sku":"A"}]})");
    json b = json::parse(R"({"lines":[{"sku":"A","qty":1}],"name":"Zoë","email":"z@x.ch"})");
    CHECK(payload_hash(a) == payload_hash(b));
    CHECK(payload_hash(a).size() == 32);
    json c = a;
    c["lines"][0]["qty"] = 2;
    CHECK(payload_hash(a) != payload_hash(c));
    json d = a;
    d["lines"][0]["qty"] = "1";  // a string is not the number
    CHECK(payload_hash(a) != payload_hash(d));
    CHECK(payload_hash_of_text(canonical_text(a)) == payload_hash(a));
}

TEST_CASE("idempotency keys are stable per process and source record", "[ledger]") {
    CHECK(idempotency_key("orders", "1001") == idempotency_key("orders", "1001"));
    CHECK(idempotency_key("orders", "1001") != idempotency_key("orders", "1002"));
    CHECK(idempotency_key("orders", "1001") != idempotency_key("refunds", "1001"));
    // No ambiguity where process id and key meet.
    CHECK(idempotency_key("ab", "c") != idempotency_key("a", "bc"));
    auto k = idempotency_key("orders", "1001");
    CHECK(k.size() == 32);
    CHECK(k.rfind("px", 0) == 0);
    // Persisted in intents and targets: this value must never change.
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
