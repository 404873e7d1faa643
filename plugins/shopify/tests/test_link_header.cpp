// The Link header parser (src/wire.cpp) on the shapes Shopify sends and on what an HTTP
// client may make of them: cpp-httplib 0.11 hands header values over percent-decoded, so the
// fields=id%2Ctitle of a next link arrives as fields=id,title. Splitting the header on commas
// then lost rel="next" and paging stopped after the first page (issue 9).
#include "src/wire.hpp"

#include <catch2/catch.hpp>

using namespace plexus::shopify;

namespace {
const std::string kBase = "https://plexus-sandbox.myshopify.com/admin/api/2024-04/products.json";
}

TEST_CASE("link header: next and previous as Shopify sends them", "[link]") {
    const std::string header = "<" + kBase + "?limit=250&page_info=eyJsYXN0X2lkIjo0fQ>; rel=\"previous\", <" + kBase +
                               "?limit=250&page_info=eyJsYXN0X2lkIjo5fQ>; rel=\"next\"";
    auto links = parse_link_header(header);
    REQUIRE(links.size() == 2);
    CHECK(links[0].rel == "previous");
    CHECK(links[1].rel == "next");
    CHECK(links[1].url == kBase + "?limit=250&page_info=eyJsYXN0X2lkIjo5fQ");
    CHECK(link_page_info(header, "next") == std::optional<std::string>("eyJsYXN0X2lkIjo5fQ"));
    CHECK(link_page_info(header, "previous") == std::optional<std::string>("eyJsYXN0X2lkIjo0fQ"));
}

TEST_CASE("link header: fields with encoded and with decoded commas", "[link]") {
    // As Shopify sends it (%2C) …
    const std::string encoded = "<" + kBase + "?limit=250&fields=id%2Ctitle%2Cvariants&page_info=abc1>; rel=\"previous\", <" +
                                kBase + "?limit=250&fields=id%2Ctitle%2Cvariants&page_info=def2>; rel=\"next\"";
    CHECK(link_page_info(encoded, "next") == std::optional<std::string>("def2"));
    // … and as cpp-httplib 0.11 hands it over: the old parser found no rel="next" here.
    const std::string decoded = "<" + kBase + "?limit=250&fields=id,title,variants&page_info=abc1>; rel=\"previous\", <" +
                                kBase + "?limit=250&fields=id,title,variants&page_info=def2>; rel=\"next\"";
    auto links = parse_link_header(decoded);
    REQUIRE(links.size() == 2);
    CHECK(links[1].url == kBase + "?limit=250&fields=id,title,variants&page_info=def2");
    CHECK(link_page_info(decoded, "next") == std::optional<std::string>("def2"));
    CHECK(link_page_info(decoded, "previous") == std::optional<std::string>("abc1"));
    CHECK(query_param(links[1].url, "fields") == std::optional<std::string>("id,title,variants"));
    // The first page: only a next link, whose page_info comes first in the query.
    const std::string first = "<" + kBase + "?page_info=def2&fields=id,title&limit=250>; rel=\"next\"";
    CHECK(link_page_info(first, "next") == std::optional<std::string>("def2"));
    CHECK_FALSE(link_page_info(first, "previous"));
}

TEST_CASE("link header: the last page has no next", "[link]") {
    const std::string last = "<" + kBase + "?limit=250&fields=id,title&page_info=abc1>; rel=\"previous\"";
    CHECK_FALSE(link_page_info(last, "next"));
    CHECK_FALSE(link_page_info("", "next"));
    // A next link without page_info is no page to follow.
    CHECK_FALSE(link_page_info("<" + kBase + "?limit=250>; rel=\"next\"", "next"));
}

TEST_CASE("link header: spacing, case, quoting and rel lists", "[link]") {
    // No blank after the comma, blanks around ';' and '=', REL in capitals, an unquoted rel.
    const std::string tight = "<" + kBase + "?page_info=a,b>;rel=previous,<" + kBase + "?page_info=c>  ;  REL = \"NEXT\"";
    CHECK(link_page_info(tight, "next") == std::optional<std::string>("c"));
    CHECK(link_page_info(tight, "previous") == std::optional<std::string>("a,b"));
    // A quoted parameter holding a comma and a semicolon, and a rel listing two types.
    const std::string quoted = "<" + kBase + "?page_info=x1>; title=\"one, two; three\"; rel=\"prev previous\", <" + kBase +
                               "?page_info=y2>; rel=\"next last\"";
    auto links = parse_link_header(quoted);
    REQUIRE(links.size() == 2);
    CHECK(links[0].rel == "prev previous");
    CHECK(link_page_info(quoted, "next") == std::optional<std::string>("y2"));
    CHECK(link_page_info(quoted, "previous") == std::optional<std::string>("x1"));
    // Garbage before and between entries is skipped.
    CHECK(link_page_info("junk, <" + kBase + "?page_info=z3>; rel=\"next\"", "next") == std::optional<std::string>("z3"));
    // An unterminated URL gives nothing rather than a wrong page.
    CHECK_FALSE(link_page_info("<" + kBase + "?page_info=z3; rel=\"next\"", "next"));
}

TEST_CASE("link header: page_info is percent-decoded once, '+' kept, re-encoded for the request", "[link]") {
    // Encoded in the header (as sent) or already decoded (as cpp-httplib hands it over): the
    // same token either way.
    CHECK(link_page_info("<" + kBase + "?page_info=ab%2Bc%2Fd>; rel=\"next\"", "next") == std::optional<std::string>("ab+c/d"));
    CHECK(link_page_info("<" + kBase + "?page_info=ab+c/d>; rel=\"next\"", "next") == std::optional<std::string>("ab+c/d"));
    CHECK(url_encode("ab+c/d") == "ab%2Bc%2Fd");
    CHECK(url_encode("eyJsYXN0X2lkIjo5fQ") == "eyJsYXN0X2lkIjo5fQ");
}
