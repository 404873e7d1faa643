// The SDK's REST helpers (sdk/include/plexus/rest.hpp): encoding, Link headers, pagers, the
// tie-safe cursor, times, statuses from HTTP answers, JSON Patch.
#include <plexus/rest.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

namespace rest = plexus::sdk::rest;
using plexus::sdk::Error;
using plexus::sdk::HttpResponse;
using plexus::sdk::json;

namespace {
HttpResponse answer(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
}
plexus_status thrown_status(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.status();
    }
    return PLEXUS_OK;
}
}  // namespace

TEST_CASE("rest: percent-encoding keeps only the unreserved set, byte by byte") {
    CHECK(rest::url_encode("AZaz09-._~") == "AZaz09-._~");
    CHECK(rest::url_encode("a b&c=d/e?f#g+h%") == "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25");
    CHECK(rest::url_encode("Zoë €") == "Zo%C3%AB%20%E2%82%AC");
    CHECK(rest::url_encode(std::string("\0x", 2)) == "%00x");
    CHECK(rest::url_decode("Zo%C3%AB%20a+b") == "Zoë a+b");
    CHECK(rest::url_decode("a+b", true) == "a b");
    CHECK(rest::url_decode("100%") == "100%");      // a lone '%' stays
    CHECK(rest::url_decode("%zz%4") == "%zz%4");    // not two hex digits
    CHECK(rest::url_decode(rest::url_encode("ü/ä?=&")) == "ü/ä?=&");
}

TEST_CASE("rest: a query keeps its order and repeated names, and parses back") {
    rest::Query q;
    q.add("limit", 50).add("status", "open now").add("ids", "1").add("ids", "2").add_if("since", std::nullopt)
        .add_if("empty", std::string());
    CHECK(q.str() == "limit=50&status=open%20now&ids=1&ids=2");
    CHECK(q.to("https://x.example/api/t") == "https://x.example/api/t?limit=50&status=open%20now&ids=1&ids=2");
    CHECK(q.to("https://x.example/api/t?a=1").rfind("https://x.example/api/t?a=1&limit=50", 0) == 0);
    CHECK(rest::Query().to("https://x.example/") == "https://x.example/");
    auto back = rest::Query::parse(q.to("https://x.example/api/t") + "#frag");
    REQUIRE(back.params().size() == 4);
    CHECK(back.params()[3] == std::make_pair(std::string("ids"), std::string("2")));
    CHECK(back.get("status") == "open now");
    CHECK(rest::query_param("https://x/p?page_info=ab%3D&limit=5", "page_info") == "ab=");
    CHECK(rest::query_param("https://x/p?flag&x=1", "flag") == "");
    CHECK_FALSE(rest::query_param("https://x/p", "x"));
    CHECK(rest::describe("GET", "https://x.example:8443/api/tickets?email=a%40b.c#x") == "GET /api/tickets");
    CHECK(rest::describe("POST", "/api/v1/x?key=1") == "POST /api/v1/x");
    CHECK(rest::origin("HTTPS://X.example:8443/a?b") == "https://x.example:8443");
}

TEST_CASE("rest: Link headers with several links, several rels, spaces and commas in URLs") {
    const std::string h =
        " <https://s.example/p?page_info=A%3D&fields=id,title> ; rel=\"previous\",\t"
        "<https://s.example/p?page_info=B>;rel=\"next last\"; title=\"a, b; c\" , <bad";
    auto links = rest::parse_link_header(h);
    REQUIRE(links.size() == 2);
    CHECK(links[0].url == "https://s.example/p?page_info=A%3D&fields=id,title");
    CHECK(links[0].has_rel("previous"));
    CHECK(links[1].has_rel("NEXT"));
    CHECK(links[1].has_rel("last"));
    CHECK_FALSE(links[1].has_rel("nex"));
    CHECK(rest::link_url(h, "next") == "https://s.example/p?page_info=B");
    CHECK(rest::link_param(h, "previous", "page_info") == "A=");
    CHECK_FALSE(rest::link_url(h, "first"));
    CHECK_FALSE(rest::link_url("", "next"));
    // Only the first rel of an entry counts (RFC 8288 §3.3); unquoted rel works too.
    CHECK(rest::parse_link_header("<u>; rel=next; rel=prev")[0].rel == "next");
}

TEST_CASE("rest: the tie-safe cursor neither skips nor repeats records sharing a timestamp") {
    // Five records, three sharing 10:00:01, read two at a time by an API that filters
    // "updated at or after T" (so a page boundary falls inside the tie).
    const std::vector<std::pair<std::string, std::string>> all = {
        {"2024-05-01T10:00:00Z", "1"}, {"2024-05-01T10:00:01Z", "2"}, {"2024-05-01T10:00:01Z", "3"},
        {"2024-05-01T10:00:01Z", "4"}, {"2024-05-01T10:00:02Z", "5"}};
    std::vector<std::string> read;
    std::string stored;  // what the host keeps between calls
    for (int call = 0; call < 10; ++call) {
        plexus::sdk::ReadRequest req;
        if (!stored.empty()) req.cursor = stored;
        auto c = rest::TieCursor::from(req);
        size_t taken = 0;
        for (const auto& [at, key] : all) {  // the API: at >= c.at, in order
            if (at < c.at || !c.is_new(at, key) || taken == 2) continue;
            read.push_back(key);
            c.advance(at, key);
            ++taken;
        }
        const std::string next = c.encode();
        CHECK_FALSE(next.empty());
        if (taken == 0) {
            CHECK(next == stored);  // an empty page keeps its place
            break;
        }
        stored = next;
    }
    CHECK(read == std::vector<std::string>{"1", "2", "3", "4", "5"});
    auto back = rest::TieCursor::decode(stored);
    CHECK(back.at == "2024-05-01T10:00:02Z");
    CHECK(back.last_key() == "5");
    CHECK(rest::TieCursor().encode() == R"({"at":"","keys":[]})");
    CHECK(thrown_status([] { rest::TieCursor::decode("page=3"); }) == PLEXUS_ERR_CONFIG);
    CHECK(thrown_status([] { rest::TieCursor::decode(R"({"at":1})"); }) == PLEXUS_ERR_CONFIG);
    // A rewind: since, normalised to the cursor's form.
    plexus::sdk::ReadRequest rewind;
    rewind.since = "2024-05-01T12:00:01+02:00";
    CHECK(rest::TieCursor::from(rewind, [](const std::string& t) { return rest::utc_time(t); }).at ==
          "2024-05-01T10:00:01Z");
    rewind.since = "yesterday";
    CHECK(thrown_status([&] { rest::TieCursor::from(rewind, [](const std::string& t) { return rest::utc_time(t); }); }) ==
          PLEXUS_ERR_CONFIG);
    // Ordering: time first, then the key — numerically when both are numbers.
    CHECK(rest::compare_position("2024-05-01T10:00:01Z", "9", "2024-05-01T10:00:01Z", "10") < 0);
    CHECK(rest::compare_position("2024-05-01T10:00:01Z", "b", "2024-05-01T10:00:01Z", "a") > 0);
    CHECK(rest::compare_position("2024-05-01T10:00:00Z", "z", "2024-05-01T10:00:01Z", "a") < 0);
    CHECK(rest::compare_position("t", "7", "t", "7") == 0);
}

TEST_CASE("rest: ISO 8601 times parse, normalise and format at any precision") {
    const auto a = rest::parse_time("2024-05-01T12:00:00-04:00");
    REQUIRE(a);
    CHECK(rest::format_time(*a) == "2024-05-01T16:00:00Z");
    CHECK(rest::parse_time("2024-05-01 16:00:00.999Z") == a);  // fractions cut at seconds
    CHECK(rest::format_time(*rest::parse_time("2023-07-03 14:28:00.1234567Z", 10'000'000), 10'000'000) ==
          "2023-07-03T14:28:00.1234567Z");
    CHECK(rest::format_time(*rest::parse_time("2024-02-29T23:59:59.5Z", 1000), 1000) == "2024-02-29T23:59:59.500Z");
    CHECK_FALSE(rest::parse_time("2024-05-01T10:00:00"));      // no zone: ambiguous
    CHECK(rest::parse_time("2024-05-01T10:00:00", 1, true));   // unless UTC is assumed
    CHECK_FALSE(rest::parse_time("2024-05-01"));
    CHECK(rest::format_time(*rest::parse_time("2024-05-01", 1, true)) == "2024-05-01T00:00:00Z");
    CHECK_FALSE(rest::parse_time("2024-13-01T00:00:00Z"));
    CHECK_FALSE(rest::parse_time("2024-05-01T10:00:00+0200"));
    CHECK_FALSE(rest::parse_time("2024-05-01T10:00:00.Z"));
    CHECK(rest::format_time(-1) == "1969-12-31T23:59:59Z");
    CHECK(rest::utc_time("2024-05-01T02:00:00+02:00") == "2024-05-01T00:00:00Z");
}

TEST_CASE("rest: calendar dates to day numbers and back, across leap years and before 1970") {
    CHECK(rest::days_from_civil(1970, 1, 1) == 0);
    CHECK(rest::days_from_civil(2000, 3, 1) == 11017);
    CHECK(rest::days_from_civil(1969, 12, 31) == -1);
    CHECK(rest::days_from_civil(2024, 2, 30) == rest::days_from_civil(2024, 3, 1));  // counts on
    const auto leap = rest::civil_from_days(rest::days_from_civil(2024, 2, 29));
    CHECK((leap.year == 2024 && leap.month == 2 && leap.day == 29));
    const auto before = rest::civil_from_days(-719468);  // 0000-03-01, the algorithm's epoch
    CHECK((before.year == 0 && before.month == 3 && before.day == 1));
    // Every day of 1899–2101 (both century rules) goes round the two ways.
    for (int64_t day = rest::days_from_civil(1899, 1, 1); day <= rest::days_from_civil(2101, 12, 31); ++day) {
        const auto c = rest::civil_from_days(day);
        REQUIRE(rest::days_from_civil(c.year, c.month, c.day) == day);
        REQUIRE(rest::parse_date(rest::format_date(day)) == day);
    }
    CHECK(rest::format_date(rest::days_from_civil(1900, 2, 28) + 1) == "1900-03-01");  // no 29th
    CHECK(rest::format_date(rest::days_from_civil(2000, 2, 28) + 1) == "2000-02-29");
    CHECK(rest::parse_date("2024-05-01") == rest::days_from_civil(2024, 5, 1));
    CHECK(rest::format_date(-1) == "1969-12-31");
    for (const char* bad : {"2024-5-01", "2024-05-01T00:00:00Z", " 2024-05-01", "2024-13-01", "2024-00-10",
                            "2024-05-00", "2024-05-32", "2024/05/01", "2024-0a-01", ""})
        CHECK_FALSE(rest::parse_date(bad));
}

TEST_CASE("rest: page-number and offset pagers end as the API says, and never store an empty cursor") {
    auto p = rest::PageNumber::from(std::nullopt, 2);
    rest::Query q;
    p.add_to(q, "page", "per_page");
    CHECK(q.str() == "page=1&per_page=2");
    p.next(2, 3);  // page 1 of 3
    CHECK(p.has_more());
    CHECK(p.page == 2);
    auto resumed = rest::PageNumber::from(p.encode(), 2);
    CHECK(resumed.page == 2);
    resumed.next(2, 2);  // page 2 of 2
    CHECK_FALSE(resumed.has_more());
    plexus::sdk::ReadPage page;
    rest::finish(page, resumed);
    CHECK_FALSE(page.has_more);
    CHECK_FALSE(page.next_cursor.empty());
    // Without a total: a short page ends, or only an empty page does.
    auto s = rest::PageNumber::from(std::nullopt, 10);
    s.next(9);
    CHECK_FALSE(s.has_more());
    auto e = rest::PageNumber::from(std::nullopt, 10, 0);
    e.next(9, std::nullopt, rest::PageEnd::Empty);
    CHECK(e.has_more());
    CHECK(e.page == 1);
    e.next(0, std::nullopt, rest::PageEnd::Empty);
    CHECK_FALSE(e.has_more());
    CHECK(thrown_status([] { rest::PageNumber::from(std::string(R"({"offset":3})"), 10); }) == PLEXUS_ERR_CONFIG);

    auto o = rest::Offset::from(std::nullopt, 100);
    o.next(100, 250);
    o.next(100, 250);
    CHECK(o.offset == 200);
    CHECK(o.has_more());
    o = rest::Offset::from(o.encode(), 100);
    rest::Query oq;
    o.add_to(oq);
    CHECK(oq.str() == "offset=200&limit=100");
    o.next(50, 250);
    CHECK_FALSE(o.has_more());
}

TEST_CASE("rest: token and Link pagers follow the API, keep their scope and refuse loops") {
    auto t = rest::Token::from(std::nullopt, "status=open");
    rest::Query q;
    t.add_to(q, "cursor");
    CHECK(q.empty());  // the first page has no token
    t.next(std::string("abc"));
    CHECK(t.has_more());
    auto again = rest::Token::from(t.encode(), "status=open");
    CHECK(again.token == "abc");
    CHECK(rest::Token::from(t.encode(), "status=closed").token.empty());  // another filter: start over
    CHECK(thrown_status([&] { again.next(std::string("abc")); }) == PLEXUS_ERR_TRANSIENT);
    again.next(std::nullopt);
    CHECK_FALSE(again.has_more());
    CHECK_FALSE(again.encode().empty());

    auto l = rest::LinkNext::from(std::nullopt, "https://api.example/v1/items?limit=2");
    l.next("<https://api.example/v1/items?limit=2&page_info=X>; rel=\"next\"");
    CHECK(l.url == "https://api.example/v1/items?limit=2&page_info=X");
    l.next("</v1/items?limit=2&page_info=Y>; rel=next");  // relative: same origin
    CHECK(l.url == "https://api.example/v1/items?limit=2&page_info=Y");
    auto stored = rest::LinkNext::from(l.encode(), "https://api.example/v1/items?limit=2");
    CHECK(stored.url == l.url);
    CHECK(thrown_status([&] { l.next("<https://evil.example/steal>; rel=next"); }) == PLEXUS_ERR_TRANSIENT);
    CHECK(thrown_status([&] { rest::LinkNext::from(std::string(R"({"next":"https://evil.example/x"})"),
                                                   "https://api.example/v1/items"); }) == PLEXUS_ERR_CONFIG);
    l.next("<https://api.example/v1/items?page_info=W>; rel=\"previous\"");
    CHECK_FALSE(l.has_more());
}

TEST_CASE("rest: HTTP statuses map to the SDK's, with a message that names the call and hides secrets") {
    CHECK(rest::status_of(200) == PLEXUS_OK);
    CHECK(rest::status_of(204) == PLEXUS_OK);
    CHECK(rest::status_of(401) == PLEXUS_ERR_AUTH);
    CHECK(rest::status_of(403) == PLEXUS_ERR_AUTH);
    CHECK(rest::status_of(404) == PLEXUS_ERR_NOT_FOUND);
    CHECK(rest::status_of(409) == PLEXUS_ERR_CONFLICT);
    CHECK(rest::status_of(422) == PLEXUS_ERR_VALIDATION);
    CHECK(rest::status_of(400) == PLEXUS_ERR_VALIDATION);
    CHECK(rest::status_of(429) == PLEXUS_ERR_RATE_LIMIT);
    CHECK(rest::status_of(503) == PLEXUS_ERR_TRANSIENT);
    CHECK(rest::status_of(408) == PLEXUS_ERR_TRANSIENT);
    CHECK(rest::status_of(301) == PLEXUS_ERR_CONFIG);
    CHECK(rest::status_of(415) == PLEXUS_ERR_PLUGIN);

    auto f = rest::failure(answer(422, R"({"errors":{"subject":["can't be blank"],"base":["no"]}})"),
                           "POST /api/tickets", "Helpdesk");
    CHECK(f.status == PLEXUS_ERR_VALIDATION);
    CHECK(f.message == "Helpdesk answered HTTP 422 to POST /api/tickets: no; subject: can't be blank");
    CHECK(f.result().status == PLEXUS_ERR_VALIDATION);

    // 429 with and without Retry-After (seconds, or an HTTP date by the host's clock).
    auto with = rest::failure(answer(429, "", {{"retry-after", "30"}}), "GET /t");
    CHECK(with.status == PLEXUS_ERR_RATE_LIMIT);
    CHECK(with.retry_after_s == 30);
    CHECK(with.message.find("wait 30 s") != std::string::npos);
    auto without = rest::failure(answer(429, "slow down"), "GET /t");
    CHECK_FALSE(without.retry_after_s);
    CHECK(without.message.find("no Retry-After") != std::string::npos);
    CHECK(without.message.find("slow down") != std::string::npos);
    const int64_t now_ms = *rest::parse_time("2015-10-21T07:27:00Z") * 1000;
    CHECK(rest::retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now_ms) == 60);
    CHECK_FALSE(rest::retry_after_s("soon"));

    // Secrets in the body are not echoed: JSON members by name, Bearer and key=value in text.
    auto auth = rest::failure(answer(401, R"({"message":"invalid token","access_token":"s3cr3t","nested":{"password":"pw1"}})"),
                              "GET /api/me");
    CHECK(auth.status == PLEXUS_ERR_AUTH);
    CHECK(auth.message.find("invalid token") != std::string::npos);
    CHECK(auth.message.find("credentials were refused") != std::string::npos);
    const std::string ex = rest::excerpt(R"({"access_token":"s3cr3t","nested":{"password":"pw1"},"ok":1})");
    CHECK(ex.find("s3cr3t") == std::string::npos);
    CHECK(ex.find("pw1") == std::string::npos);
    CHECK(ex.find("\"ok\":1") != std::string::npos);
    const std::string text = rest::excerpt("denied for Authorization: Bearer abc.def api_key=k123&x=1");
    CHECK(text.find("abc.def") == std::string::npos);
    CHECK(text.find("k123") == std::string::npos);
    CHECK(text.find("x=1") != std::string::npos);
    const std::string long_body(500, 'x');
    CHECK(rest::excerpt(long_body, 20) == std::string(20, 'x') + "…");
    CHECK(rest::excerpt("\xC3\xA9\xC3\xA9", 3) == "\xC3\xA9…");  // cut at a whole character

    CHECK(rest::error_detail(R"({"title":"Bad","detail":"Name is required","errors":{"Name":["required"]}})") ==
          "Bad — Name is required; Name: required");
    CHECK(rest::error_detail(R"({"error":"invalid_client","error_description":"unknown key"})") ==
          "invalid_client — unknown key");
    CHECK(rest::error_detail("<html>") == "");
    CHECK(rest::failure(answer(302, "", {{"Location", "https://login.example/sso?t=1"}}), "GET /x").message.find(
              "login.example/sso") != std::string::npos);
    CHECK(rest::failure(answer(201, "{}"), "POST /x").ok());
    CHECK(thrown_status([] { rest::expect_ok(answer(500, "oops"), "GET /x"); }) == PLEXUS_ERR_TRANSIENT);
    CHECK(thrown_status([] { rest::parse_json(answer(200, "[1]"), "GET /x"); }) == PLEXUS_ERR_TRANSIENT);
    CHECK(rest::parse_json(answer(200, "[1]"), "GET /x", "the API", true).is_array());
    CHECK(rest::stops_run(PLEXUS_ERR_RATE_LIMIT));
    CHECK_FALSE(rest::stops_run(PLEXUS_ERR_VALIDATION));
    auto r = rest::per_record("SKU 1", [] () -> plexus::sdk::WriteResult { throw Error(PLEXUS_ERR_VALIDATION, "bad"); });
    CHECK(r.message == "SKU 1: bad");
    CHECK(thrown_status([] { rest::per_record("x", []() -> plexus::sdk::WriteResult { throw Error(PLEXUS_ERR_AUTH, "no"); }); }) ==
          PLEXUS_ERR_AUTH);
}

TEST_CASE("rest: JSON Patch of nested objects and arrays, partial patches and merge patches") {
    const json from = {{"name", "A"}, {"a/b", 1}, {"tags", {"x", "y", "z"}},
                       {"address", {{"city", "Bern"}, {"zip", "3000"}}}, {"old", true}};
    const json to = {{"name", "A"}, {"a/b", 2}, {"tags", {"x", "q"}},
                     {"address", {{"city", "Zürich"}, {"zip", "3000"}, {"line2", "c/o"}}}};
    const json ops = rest::json_patch(from, to);
    CHECK(ops == json::parse(R"([
        {"op":"remove","path":"/old"},
        {"op":"replace","path":"/a~1b","value":2},
        {"op":"replace","path":"/address/city","value":"Zürich"},
        {"op":"add","path":"/address/line2","value":"c/o"},
        {"op":"replace","path":"/tags/1","value":"q"},
        {"op":"remove","path":"/tags/2"}])"));
    CHECK(from.patch(ops) == to);  // applying it gives `to`
    CHECK(rest::json_patch(from, from).empty());
    // Arrays that grow; a type change replaces.
    const json grow = rest::json_patch(json{{"l", {1}}, {"v", {{"k", 1}}}}, json{{"l", {1, 2, 3}}, {"v", "now text"}});
    CHECK(json({{"l", {1}}, {"v", {{"k", 1}}}}).patch(grow) == json({{"l", {1, 2, 3}}, {"v", "now text"}}));
    // Partial: only what `to` names.
    const json partial = rest::json_patch(from, json{{"name", "B"}, {"address", {{"zip", "8000"}}}}, rest::PatchMode::Partial);
    CHECK(partial == json::parse(R"([{"op":"replace","path":"/address/zip","value":"8000"},
                                      {"op":"replace","path":"/name","value":"B"}])"));
    CHECK(rest::replace_ops(json{{"Name", "x"}, {"Stock", 3}}) ==
          json::parse(R"([{"op":"replace","path":"/Name","value":"x"},{"op":"replace","path":"/Stock","value":3}])"));
    const json merge = rest::merge_patch(from, to);
    CHECK(merge == json::parse(R"({"old":null,"a/b":2,"tags":["x","q"],"address":{"city":"Zürich","line2":"c/o"}})"));
    json applied = from;
    applied.merge_patch(merge);
    CHECK(applied == to);
    CHECK(rest::merge_patch(from, from) == json::object());
    CHECK(rest::pointer_token("a~b/c") == "a~0b~1c");
}
