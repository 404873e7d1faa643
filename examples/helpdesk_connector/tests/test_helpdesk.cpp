// Unit tests of the helpdesk connector against the SDK's fake host (<plexus/testing.hpp>):
// scripted HTTP exchanges, a clock the test sets, captured logs. No host, no network.
// Plain C++ (no test framework) so that it builds anywhere the SDK does; use your own.
#include "helpdesk_connector.hpp"

#include <plexus/testing.hpp>

#include <iostream>

namespace sdk = plexus::sdk;
using plexus::sdk::json;
using plexus::sdk::testing::FakeHost;
using helpdesk::HelpdeskConnector;

static int failures = 0;
#define EXPECT(cond)                                                                         \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            ++failures;                                                                      \
            std::cerr << __FILE__ << ":" << __LINE__ << ": expected " #cond "\n";            \
        }                                                                                    \
    } while (0)

static const json kSettings{{"base_url", "https://acme.helpdesk.example"}, {"api_token", "t0k"}};
static const std::string kApi = "https://acme.helpdesk.example/api";

static json ticket(int id, const std::string& updated_at) {
    return {{"id", id}, {"subject", "s" + std::to_string(id)}, {"status", "open"},
            {"requester_email", "a@example.com"}, {"external_id", ""}, {"updated_at", updated_at}};
}

// Pages follow the (updated_at, id) cursor; tickets sharing a timestamp are not lost; an
// empty page keeps the cursor.
static void reads_pages_with_a_tie_safe_cursor() {
    FakeHost fake;
    fake.expect("GET", kApi + "/tickets?limit=2")
        .header("Authorization", "Bearer t0k")
        .reply_json(200, {{"tickets", {ticket(1, "2024-05-01T08:00:01Z"), ticket(2, "2024-05-01T08:00:01Z")}},
                          {"has_more", true}});
    fake.expect("GET", kApi + "/tickets?limit=2&since=2024-05-01T08%3A00%3A01Z&after=2")
        .reply_json(200, {{"tickets", json::array()}, {"has_more", false}});
    HelpdeskConnector c(fake.host(), kSettings);
    sdk::ReadRequest r;
    r.entity = "tickets";
    r.limit = 2;
    auto page = c.read(r);
    EXPECT(page.records.size() == 2);
    EXPECT(page.records[1].key == "2");
    EXPECT(page.has_more);
    r.cursor = page.next_cursor;
    auto empty = c.read(r);
    EXPECT(empty.records.empty());
    EXPECT(empty.next_cursor == *r.cursor);  // never "": the host would keep no position
    EXPECT(fake.logged("read 2 ticket(s)", PLEXUS_LOG_DEBUG));
    fake.verify();
}

// A create carries the idempotency key as external_id, never retried by the host; the
// lookup after a crash finds it by that key.
static void creates_with_the_idempotency_key_and_finds_it_again() {
    FakeHost fake;
    fake.expect("POST", kApi + "/tickets")
        .json_body({{"subject", "Hello"}, {"external_id", "px0123456789abcdef0123456789abcd"}})
        .reply_json(201, ticket(9, "2024-05-02T00:00:00Z"));
    fake.expect("GET", kApi + "/tickets?external_id=px0123456789abcdef0123456789abcd")
        .reply_json(200, {{"tickets", {ticket(9, "2024-05-02T00:00:00Z")}}});
    auto c = fake.connect<HelpdeskConnector>(kSettings);  // through the C ABI, as the host does
    sdk::WriteItem w;
    w.idempotency_key = "px0123456789abcdef0123456789abcd";
    w.data = {{"subject", "Hello"}};
    auto results = c.write("tickets", {w});
    EXPECT(results.size() == 1 && results[0].status == PLEXUS_OK && results[0].target_key == "9");
    EXPECT(results[0].cursor == "2024-05-02T00:00:00Z");
    EXPECT(fake.requests().at(0).no_retry);
    sdk::LookupRequest l;
    l.entity = "tickets";
    l.idempotency_key = w.idempotency_key;
    auto found = c.lookup(l);
    EXPECT(found.found && found.record.key == "9" && found.matches == 1);
    fake.verify();
}

// Per-record refusals are results; a 429 after the host's retries ends the run (thrown).
static void maps_statuses() {
    FakeHost fake;
    fake.expect("POST", kApi + "/tickets").reply(422, R"({"error":"a ticket needs a subject"})");
    fake.expect("GET", kApi + "/tickets?limit=10").reply(429, "", {{"Retry-After", "30"}});
    auto c = fake.connect<HelpdeskConnector>(kSettings);
    sdk::WriteItem w;
    w.idempotency_key = "px1";
    w.data = json::object();
    auto results = c.write("tickets", {w});
    EXPECT(results.at(0).status == PLEXUS_ERR_VALIDATION);
    sdk::ReadRequest r;
    r.entity = "tickets";
    r.limit = 10;
    try {
        c.read(r);
        EXPECT(!"a 429 should have been thrown");
    } catch (const sdk::Error& e) {
        EXPECT(e.status() == PLEXUS_ERR_RATE_LIMIT);
    }
    try {
        sdk::ReadRequest invoices;
        invoices.entity = "invoices";
        c.read(invoices);
        EXPECT(!"an unknown entity should have been refused");
    } catch (const sdk::Error& e) {
        EXPECT(e.status() == PLEXUS_ERR_CONFIG);
    }
    fake.verify();
}

// check() warns when the token expires within a week — by the host's clock, which the test sets.
static void check_warns_of_an_expiring_token() {
    FakeHost fake;
    const int64_t day = 24LL * 3600 * 1000;
    fake.expect("GET", kApi + "/me")
        .reply_json(200, {{"agent", "x"}, {"token_expires_at_ms", FakeHost::kStartMs + 30 * day}})
        .repeatedly();
    HelpdeskConnector c(fake.host(), kSettings);
    c.check();
    EXPECT(!fake.logged("expires", PLEXUS_LOG_WARN));
    fake.advance(25 * day);
    c.check();
    EXPECT(fake.logged("expires in 120 h", PLEXUS_LOG_WARN));
    fake.verify();
}

// The fake host itself: a request nobody scripted fails the call and the test, clearly.
static void an_unexpected_request_fails_clearly() {
    FakeHost fake;
    fake.expect("GET", kApi + "/me").reply(200, "{}");
    HelpdeskConnector c(fake.host(), kSettings);
    sdk::ReadRequest r;
    r.entity = "tickets";
    try {
        c.read(r);
        EXPECT(!"the unexpected request should have failed");
    } catch (const sdk::Error& e) {
        EXPECT(std::string(e.what()).find("unexpected request: GET " + kApi + "/tickets?limit=500") !=
               std::string::npos);
    }
    auto problems = fake.problems();
    EXPECT(problems.size() == 2);  // the unexpected GET, and /me never asked
    bool threw = false;
    try {
        fake.verify();
    } catch (const std::logic_error&) {
        threw = true;
    }
    EXPECT(threw);
}

int main() {
    reads_pages_with_a_tie_safe_cursor();
    creates_with_the_idempotency_key_and_finds_it_again();
    maps_statuses();
    check_warns_of_an_expiring_token();
    an_unexpected_request_fails_clearly();
    if (failures) {
        std::cerr << failures << " expectation(s) failed\n";
        return 1;
    }
    std::cout << "helpdesk connector unit tests: ok\n";
    return 0;
}
