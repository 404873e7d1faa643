// The connector against the OHIP sandbox, through the real host: postings made once whatever
// happens (lost answers, a crash between post and commit, retries), cancellations and payment
// resets reversed exactly once, tokens renewed, OHIP's throttle honoured, secrets kept out of
// logs and errors. "Posted once" is counted by the sandbox (postings per reference).
#include "ohip_wire.hpp"
#include "opera_fixture.hpp"

#include <chrono>
#include <regex>
#include <thread>

using namespace opera_test;
using plexus::opera::decode_target_key;

namespace {

const std::string kKey = "px0123456789abcdef0123456789abcd";

size_t count(World& w, const std::string& ref) { return w.control().postings_with_reference(ref); }

// Postings carrying `ref` with a positive (or negative) amount.
size_t count_signed(World& w, const std::string& ref, bool positive) {
    size_t n = 0;
    for (const auto& p : w.control().postings())
        if (p["reference"] == ref && (p["transactionAmount"].get<double>() > 0) == positive) ++n;
    return n;
}

}  // namespace

TEST_CASE("check verifies the PM reservation, the cashier and the configured codes", "[opera][connector]") {
    World w;
    CHECK(w.instance()->check().ok());
    auto fails = [&](json patch, const std::string& expect) {
        json s = w.settings();
        s.update(patch);
        auto r = w.instance(s)->check();
        INFO(r.text);
        CHECK(r.status == PLEXUS_ERR_CONFIG);
        CHECK_THAT(r.text, Catch::Contains(expect));
    };
    fails({{"pm_reservation_id", plexus::sandbox::kOperaReservedReservation}}, "is Reserved");
    fails({{"pm_reservation_id", "123"}}, "not found");
    fails({{"cashier_id", plexus::sandbox::kOperaOtherCashier}}, "cashier 7");
    fails({{"transaction_codes", {"7010", "9999"}}}, "9999");
    fails({{"payment_methods", {"EG", "CHQ"}}}, "CHQ");
    // The app key is checked before anything is sent.
    json bad = w.settings();
    bad["app_key"] = "41ECD082-8997-4C69-AF34-2F72B83645FF";
    CHECK_THROWS_WITH(w.instance(bad), Catch::Contains("app_key is not a lower-case UUID v4"));
}

TEST_CASE("a charge set is posted once, in one call, each line under its own reference", "[opera][connector]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());  // the token is fetched here
    const auto before = w.control().requests();
    json r = write_one(*inst, "charges", create(kKey, sale()));
    INFO(r.dump());
    REQUIRE(r["status"] == PLEXUS_OK);
    // A new sale costs one search (its first reference, in one 30-day window) and one POST.
    CHECK(w.control().requests() - before == 2);
    auto tk = decode_target_key(r["target_key"]);
    REQUIRE(tk);
    CHECK(tk->key == kKey);
    CHECK(tk->generations == 1);
    CHECK(count(w, kKey + "-C1-1") == 1);
    CHECK(count(w, kKey + "-C1-2") == 1);
    CHECK(w.control().postings().size() == 2);
    CHECK(w.control().balance(plexus::sandbox::kOperaPmReservation) == Approx(525.0));
    // The same create again (a replay): looked up, nothing posted.
    json again = write_one(*inst, "charges", create(kKey, sale()));
    CHECK(again["target_key"] == r["target_key"]);
    CHECK(w.control().postings().size() == 2);
    // Its cancellation: the generation probe (C1-1, C2-1), the lines (C1-2, C1-3), their
    // reversals (C1-1-R, C1-2-R), then one POST.
    const auto before_cancel = w.control().requests();
    json c = write_one(*inst, "charges", update(kKey, r["target_key"], sale(true)));
    CHECK(c["status"] == PLEXUS_OK);
    CHECK(w.control().requests() - before_cancel == 7);
    CHECK(w.control().postings().size() == 4);
    json restore = write_one(*inst, "charges", update(kKey, c["target_key"], sale()));
    REQUIRE(restore["status"] == PLEXUS_OK);
    r = restore;
    CHECK(w.control().postings().size() == 6);
    // An update that changes the posted lines is refused, nothing posted.
    json changed = sale();
    changed["lines"][0]["price"] = 450.0;
    json refused = write_one(*inst, "charges", update(kKey, r["target_key"], changed));
    CHECK(refused["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(refused["message"].get<std::string>(), Catch::Contains("differ from those posted"));
    CHECK(w.control().postings().size() == 6);
    // Bad input: a clear error naming the field, nothing posted.
    json bad = sale();
    bad["lines"][1].erase("price");
    json b = write_one(*inst, "charges", create("px-bad", bad));
    CHECK(b["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(b["message"].get<std::string>(), Catch::Contains("lines[1]: price"));
    json unknown = sale();
    unknown["lines"][0]["transaction_code"] = "9999";
    json u = write_one(*inst, "charges", create("px-unknown", unknown));
    CHECK(u["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(u["message"].get<std::string>(), Catch::Contains("HTTP 400") && Catch::Contains("9999"));
    CHECK(w.control().postings().size() == 6);
}

TEST_CASE("a create whose answer was lost, or that a crash interrupted, is adopted, not posted twice",
          "[opera][connector]") {
    World w;
    {
        // The answer is lost (502 after OPERA posted): the connector looks and adopts.
        auto inst = w.instance();
        w.control().lose_answers_after_executing(1);
        json r = write_one(*inst, "charges", create(kKey, sale()));
        INFO(r.dump());
        CHECK(r["status"] == PLEXUS_OK);
        CHECK(count(w, kKey + "-C1-1") == 1);
        CHECK(count(w, kKey + "-C1-2") == 1);
    }
    // The hub crashed after the post, before recording it: the next run asks by idempotency
    // key (open intent) and adopts; a create sent anyway posts nothing.
    auto next = w.instance();
    json found = ok_json(next->lookup({{"entity", "charges"}, {"idempotency_key", kKey}, {"data", sale()}}));
    REQUIRE(found["found"] == true);
    CHECK(found["matches"] == 1);
    auto tk = decode_target_key(found["record"]["key"]);
    REQUIRE(tk);
    CHECK(tk->generations == 1);
    json again = write_one(*next, "charges", create(kKey, sale()));
    CHECK(again["target_key"] == found["record"]["key"]);
    CHECK(w.control().postings().size() == 2);
    CHECK_FALSE(ok_json(next->lookup({{"entity", "charges"}, {"idempotency_key", "px-never"}, {"data", sale()}}))["found"]);
    // A gateway that refuses (503 before posting): looked up, then posted once.
    w.control().refuse_posts(1);
    json r2 = write_one(*next, "charges", create("px-second", sale()));
    CHECK(r2["status"] == PLEXUS_OK);
    CHECK(count(w, "px-second-C1-1") == 1);
}

TEST_CASE("cancelling a sale reverses exactly the original lines, once", "[opera][connector]") {
    World w;
    auto inst = w.instance();
    json r = write_one(*inst, "charges", create(kKey, sale()));
    REQUIRE(r["status"] == PLEXUS_OK);
    // The cancelled record's lines need not match: the reversal copies what OPERA holds.
    json cancelled = sale(true);
    cancelled["lines"] = json::array({{{"transaction_code", "7030"}, {"price", 1.0}}});
    w.control().lose_answers_after_executing(1);  // and the reversal's answer is lost
    json c = write_one(*inst, "charges", update(kKey, r["target_key"], cancelled));
    INFO(c.dump());
    REQUIRE(c["status"] == PLEXUS_OK);
    CHECK(count(w, kKey + "-C1-1-R") == 1);
    CHECK(count(w, kKey + "-C1-2-R") == 1);
    CHECK(w.control().balance(plexus::sandbox::kOperaPmReservation) == Approx(0.0));
    for (const auto& p : w.control().postings())
        if (p["reference"] == kKey + "-C1-2-R") {
            CHECK(p["transactionCode"] == "7020");
            CHECK(p["quantity"] == -2);
            CHECK(p["price"]["amount"] == 12.5);
        }
    // Retried (the update sent again, by another instance after a crash): nothing more.
    auto later = w.instance();
    json again = write_one(*later, "charges", update(kKey, r["target_key"], cancelled));
    CHECK(again["status"] == PLEXUS_OK);
    json again2 = write_one(*later, "charges", update(kKey, c["target_key"], cancelled));
    CHECK(again2["status"] == PLEXUS_OK);
    CHECK(w.control().postings().size() == 4);
    // Paid again after an invoice reset: a new generation under new references.
    json back = write_one(*later, "charges", update(kKey, c["target_key"], sale()));
    REQUIRE(back["status"] == PLEXUS_OK);
    CHECK(decode_target_key(back["target_key"])->generations == 2);
    CHECK(count(w, kKey + "-C2-1") == 1);
    CHECK(count(w, kKey + "-C2-2") == 1);
    CHECK(w.control().balance(plexus::sandbox::kOperaPmReservation) == Approx(525.0));
    // A target key whose postings OPERA no longer shows: refused, nothing posted.
    json missing = write_one(*later, "charges", update("px-gone", "px-gone@" + plexus::opera::date_of_ms(0 + w.clock.now_ms()) + "#1", sale(true)));
    CHECK(missing["status"] == PLEXUS_ERR_VALIDATION);
    CHECK_THAT(missing["message"].get<std::string>(), Catch::Contains("shows no posting"));
    CHECK(w.control().postings().size() == 6);
}

TEST_CASE("payments: paid posts once, unpaid reverses exactly that payment, paid again posts anew",
          "[opera][connector]") {
    World w;
    auto inst = w.instance();
    json p = write_one(*inst, "payments", create(kKey, payment(true)));
    REQUIRE(p["status"] == PLEXUS_OK);
    CHECK(count_signed(w, kKey + "-P1", true) == 1);
    json same = write_one(*inst, "payments", update(kKey, p["target_key"], payment(true)));
    CHECK(same["status"] == PLEXUS_OK);
    CHECK(w.control().postings().size() == 1);
    // Reset to unpaid, the reversal's answer lost, then sent again: reversed once.
    w.control().lose_answers_after_executing(1);
    json u = write_one(*inst, "payments", update(kKey, p["target_key"], payment(false)));
    INFO(u.dump());
    REQUIRE(u["status"] == PLEXUS_OK);
    json u2 = write_one(*inst, "payments", update(kKey, u["target_key"], payment(false)));
    CHECK(u2["status"] == PLEXUS_OK);
    CHECK(count_signed(w, kKey + "-P1", false) == 1);
    CHECK(w.control().balance(plexus::sandbox::kOperaPmReservation) == Approx(0.0));
    // Paid again: a new payment under a distinct reference, once.
    json again = write_one(*inst, "payments", update(kKey, u2["target_key"], payment(true)));
    REQUIRE(again["status"] == PLEXUS_OK);
    json again2 = write_one(*inst, "payments", update(kKey, again["target_key"], payment(true)));
    CHECK(again2["status"] == PLEXUS_OK);
    CHECK(count_signed(w, kKey + "-P2", true) == 1);
    CHECK(w.control().postings().size() == 3);
    CHECK(w.control().balance(plexus::sandbox::kOperaPmReservation) == Approx(-525.0));
    // A different amount while paid is refused.
    json other = write_one(*inst, "payments", update(kKey, again2["target_key"], payment(true, 500)));
    CHECK(other["status"] == PLEXUS_ERR_VALIDATION);
    // Created unpaid: nothing posted; paid later: posted once.
    json unpaid = write_one(*inst, "payments", create("px-inv", payment(false)));
    REQUIRE(unpaid["status"] == PLEXUS_OK);
    CHECK(w.control().postings().size() == 3);
    CHECK(ok_json(inst->lookup({{"entity", "payments"}, {"key", unpaid["target_key"]}}))["found"] == true);
    json paid = write_one(*inst, "payments", update("px-inv", unpaid["target_key"], payment(true, 80)));
    CHECK(paid["status"] == PLEXUS_OK);
    CHECK(count(w, "px-inv-P1") == 1);
    // lookup by target key and by idempotency key
    json lk = ok_json(inst->lookup({{"entity", "payments"}, {"key", paid["target_key"]}}));
    CHECK(lk["found"] == true);
    json li = ok_json(inst->lookup({{"entity", "payments"}, {"idempotency_key", kKey}, {"data", payment(true)}}));
    CHECK(li["found"] == true);
    CHECK(decode_target_key(li["record"]["key"])->generations == 2);
}

TEST_CASE("reversals of a posting named by its reference are posted once", "[opera][connector]") {
    World w;
    auto inst = w.instance();
    REQUIRE(write_one(*inst, "charges", create(kKey, sale()))["status"] == PLEXUS_OK);
    REQUIRE(write_one(*inst, "payments", create(kKey, payment(true)))["status"] == PLEXUS_OK);
    for (int i = 0; i < 2; ++i) {
        json r = write_one(*inst, "reversals", create("px-rev-" + std::to_string(i), {{"reference", kKey + "-C1-2"}}));
        CHECK(r["status"] == PLEXUS_OK);
        CHECK(r["target_key"] == kKey + "-C1-2-R");
        json pr = write_one(*inst, "reversals", create("px-revp-" + std::to_string(i), {{"reference", kKey + "-P1"}}));
        CHECK(pr["status"] == PLEXUS_OK);
    }
    CHECK(count(w, kKey + "-C1-2-R") == 1);
    CHECK(count_signed(w, kKey + "-P1", false) == 1);
    json none = write_one(*inst, "reversals", create("px-rev-x", {{"reference", "no-such-reference"}}));
    CHECK(none["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(ok_json(inst->lookup({{"entity", "reversals"}, {"key", kKey + "-C1-2-R"}}))["found"] == true);
}

TEST_CASE("reads: transaction codes, payment methods, postings in pages", "[opera][connector]") {
    World w;
    auto inst = w.instance();
    json codes = ok_json(inst->read_page({{"entity", "transaction_codes"}, {"limit", 100}}));
    CHECK(codes["records"].size() == 7);
    json methods = ok_json(inst->read_page({{"entity", "payment_methods"}, {"limit", 100}}));
    CHECK(methods["records"].size() == 7);  // the inactive one left out
    for (int i = 0; i < 3; ++i)
        REQUIRE(write_one(*inst, "charges", create("px-read-" + std::to_string(i), sale()))["status"] == PLEXUS_OK);
    std::vector<json> seen;
    json cursor = nullptr;
    for (int guard = 0; guard < 20; ++guard) {
        json page = ok_json(inst->read_page({{"entity", "postings"}, {"limit", 4}, {"cursor", cursor}}));
        for (auto& r : page["records"]) seen.push_back(r);
        cursor = page["next_cursor"];
        if (!page["has_more"].get<bool>()) break;
    }
    CHECK(seen.size() == 6);
    // Caught up: the next run returns only what is new.
    REQUIRE(write_one(*inst, "charges", create("px-read-9", sale()))["status"] == PLEXUS_OK);
    json later = ok_json(inst->read_page({{"entity", "postings"}, {"limit", 100}, {"cursor", cursor}}));
    CHECK(later["records"].size() == 2);
    CHECK(ok_json(inst->lookup({{"entity", "postings"}, {"key", "px-read-9-C1-1"}}))["found"] == true);
    CHECK(ok_json(inst->lookup({{"entity", "transaction_codes"}, {"key", "7030"}}))["found"] == true);
}

TEST_CASE("an expired token is renewed without failing a call", "[opera][connector]") {
    World w;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    const auto issued = w.control().tokens_issued();
    // Revoked early (the gateway answers 401): renewed once, the write succeeds.
    w.control().expire_tokens();
    json r = write_one(*inst, "charges", create(kKey, sale()));
    CHECK(r["status"] == PLEXUS_OK);
    CHECK(w.control().tokens_issued() == issued + 1);
    CHECK(count(w, kKey + "-C1-1") == 1);
    // A short lifetime: renewed before it ends, no 401 needed.
    w.control().set_token_ttl_s(1);
    w.control().expire_tokens();
    REQUIRE(inst->check().ok());
    const auto before = w.control().tokens_issued();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    REQUIRE(inst->check().ok());
    CHECK(w.control().tokens_issued() == before + 1);
}

TEST_CASE("OHIP's 50 requests per second: the connector stays under it, and above it delays are not errors",
          "[opera][connector]") {
    World w;
    {
        auto inst = w.instance();  // the manifest's governor: 40/s
        for (int i = 0; i < 70; ++i)
            REQUIRE(ok_json(inst->read_page({{"entity", "transaction_codes"}, {"limit", 10}}))["records"].size() == 7);
        CHECK(w.control().throttled() == 0);
    }
    // Without the governor the sandbox delays the excess by a second; every call still succeeds.
    plexus::RateGovernor unlimited{1000, 1000, w.clock};
    auto fast = w.instance(w.settings(), &unlimited);
    w.control().set_throttle_limit(10);
    for (int i = 0; i < 12; ++i)
        REQUIRE(ok_json(fast->read_page({{"entity", "transaction_codes"}, {"limit", 10}}))["records"].size() == 7);
    CHECK(w.control().throttled() > 0);
}

TEST_CASE("secrets and tokens never reach logs or error messages", "[opera][connector]") {
    World w;
    LogCapture logs;
    auto inst = w.instance();
    REQUIRE(inst->check().ok());
    write_one(*inst, "charges", create(kKey, sale()));
    w.control().expire_tokens();
    write_one(*inst, "payments", create(kKey, payment(true)));
    json bad_line = sale();
    bad_line["lines"][0]["transaction_code"] = "9999";
    json failed = write_one(*inst, "charges", create("px-bad", bad_line));
    // A wrong secret: authentication fails, clearly, without the secret.
    json s = w.settings();
    s["client_secret"] = "wrong-secret-value";
    auto wrong = w.instance(s)->check();
    CHECK(wrong.status == PLEXUS_ERR_AUTH);
    CHECK_THAT(wrong.text, Catch::Contains("HTTP 401"));
    std::string all = logs.text() + failed.dump() + wrong.text;
    CHECK(all.find(plexus::sandbox::kOperaClientSecret) == std::string::npos);
    CHECK(all.find("wrong-secret-value") == std::string::npos);
    CHECK(all.find(plexus::opera::base64(std::string(plexus::sandbox::kOperaClientId) + ":" +
                                         plexus::sandbox::kOperaClientSecret)) == std::string::npos);
    for (const auto& t : w.control().tokens()) CHECK(all.find(t) == std::string::npos);
    CHECK_THAT(logs.text(), Catch::Contains("renewing the token"));
    // warnings[] of a success answer are logged.
    json r = write_one(*inst, "reversals", create("px-rev", {{"reference", kKey + "-C1-1"}}));
    CHECK(r["status"] == PLEXUS_OK);
    CHECK_THAT(logs.text(), Catch::Contains("OHIP warning") && Catch::Contains("NEGATIVE_POSTING"));
}
