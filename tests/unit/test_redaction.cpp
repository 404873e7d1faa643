#include <atomic>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/redactor.hpp"

using plexus::SecretRedactor;

TEST_CASE("redactor masks every plain occurrence of a secret", "[redaction]") {
    SecretRedactor r;
    r.add("s3cr3t-token");
    CHECK(r.redact("Authorization: Bearer s3cr3t-token") == "Authorization: Bearer ***");
    CHECK(r.redact("s3cr3t-token and again s3cr3t-token.") == "*** and again ***.");
    CHECK(r.redact("s3cr3t-tokens3cr3t-token") == "******");
    CHECK(r.redact("nothing to see") == "nothing to see");
    CHECK(r.redact("") == "");
    CHECK(r.redact("s3cr3t-toke") == "s3cr3t-toke");  // a prefix is not the secret
    CHECK(r.contains_secret("x s3cr3t-token y"));
    CHECK_FALSE(r.contains_secret("x s3cr3t y"));
}

TEST_CASE("redactor without secrets returns the text unchanged", "[redaction]") {
    SecretRedactor r;
    CHECK(r.pattern_count() == 0);
    CHECK(r.redact("a line with *** and \"quotes\"") == "a line with *** and \"quotes\"");
    CHECK_FALSE(r.contains_secret("anything"));
}

TEST_CASE("redactor masks the URL-encoded forms of a secret", "[redaction]") {
    SecretRedactor r;
    r.add("p@ss w/rd+1");
    CHECK(r.redact("GET /x?password=p%40ss%20w%2Frd%2B1&y=2") == "GET /x?password=***&y=2");
    CHECK(r.redact("password=p%40ss+w%2Frd%2B1") == "password=***");    // form encoding
    CHECK(r.redact("password=p%40ss%20w%2frd%2b1") == "password=***");  // lower-case hex
    CHECK(r.redact("raw: p@ss w/rd+1") == "raw: ***");

    SecretRedactor js;
    js.add("it's(a)*secret!");
    // encodeURIComponent keeps !'()* as they are
    CHECK(js.redact("q=it's(a)*secret!") == "q=***");
    CHECK(js.redact("q=it%27s%28a%29%2Asecret%21") == "q=***");
}

TEST_CASE("redactor masks the JSON-escaped forms of a secret", "[redaction]") {
    SecretRedactor r;
    const std::string secret = "ab\"cd\\ef/gh\n\x01";
    r.add(secret);
    const std::string json = nlohmann::json{{"token", secret}}.dump();
    CHECK(json == "{\"token\":\"ab\\\"cd\\\\ef/gh\\n\\u0001\"}");
    CHECK(r.redact(json) == "{\"token\":\"***\"}");
    CHECK(r.redact("{\"token\":\"ab\\\"cd\\\\ef\\/gh\\n\\u0001\"}") == "{\"token\":\"***\"}");
    CHECK(r.redact(secret) == "***");
}

TEST_CASE("redactor merges overlapping and nested secrets", "[redaction]") {
    SecretRedactor r;
    r.add("abcdef12");
    r.add("ef123456");
    // overlapping: no fragment of either survives
    CHECK(r.redact("xxabcdef123456yy") == "xx***yy");
    CHECK(r.redact("xxabcdef12yy ef123456") == "xx***yy ***");

    SecretRedactor nested;
    nested.add("supersecretvalue");
    nested.add("secret");
    CHECK(nested.redact("a supersecretvalue b secret c") == "a *** b *** c");
    CHECK(nested.redact("secretvalue") == "***value");

    SecretRedactor chain;  // a match that swallows several earlier ones
    chain.add("bcde");
    chain.add("fghi");
    chain.add("abcdefghij");
    CHECK(chain.redact("_abcdefghij_") == "_***_");
    CHECK(chain.redact("_bcde_fghi_") == "_***_***_");
}

TEST_CASE("redactor ignores secrets shorter than four characters", "[redaction]") {
    SecretRedactor r;
    r.add("");
    r.add("1");
    r.add("no");
    r.add("abc");
    CHECK(r.pattern_count() == 0);
    CHECK(r.redact("1 no abc 1234") == "1 no abc 1234");
    r.add("1234");
    CHECK(r.redact("1 no abc 1234") == "1 no abc ***");
}

TEST_CASE("redactor stays correct with many secrets", "[redaction]") {
    SecretRedactor r;
    for (int i = 0; i < 2000; ++i) r.add("token-" + std::to_string(i * 7919) + "-x");
    const auto before = r.pattern_count();
    r.add("token-0-x");  // duplicate: no change
    CHECK(r.pattern_count() == before);
    CHECK(r.redact("a token-7919-x b token-15838-x c token-1-x") == "a *** b *** c token-1-x");
    std::string big(100000, 'z');
    CHECK(r.redact(big) == big);
}

TEST_CASE("redactor is safe to use from many threads", "[redaction]") {
    SecretRedactor r;
    r.add("initial-secret");
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&r, &failed, t] {
            for (int i = 0; i < 200; ++i) {
                if (t == 0) r.add("later-secret-" + std::to_string(i));
                if (r.redact("x initial-secret y") != "x *** y") failed = true;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK_FALSE(failed);
    CHECK(r.redact("later-secret-199") == "***");
}

TEST_CASE("global redactor is one process-wide instance", "[redaction]") {
    CHECK(&plexus::global_redactor() == &plexus::global_redactor());
}
