// `plexus connector lookup` of e-guma's voucher_balance — what support staff see when they check
// a voucher (seed 001's check-balance function; the portal's connection "Look up" asks the
// same lookup()): the code as typed (dashes, lower case, a short code) answered with the code
// e-guma knows, balance, currency, status and validity; an unknown code "not found"; the API
// key nowhere in the output.
#include "support.hpp"

#include "plugins/eguma/sandbox/eguma_sandbox.hpp"

#include <catch2/catch.hpp>

using namespace plexus::test;
namespace sb = plexus::sandbox;

namespace {

json lookup(const TempDir& dir, const std::string& key, CommandResult& r) {
    r = run_plexus({"connector", "lookup", "eguma", "--settings", dir.str("eguma.json"), "--entity", "voucher_balance",
                    "--key", key, "--plugin-dir", PLEXUS_PLUGIN_DIR},
                   "EGUMA_API_KEY=" + std::string(sb::kEgumaKeyOutlet1));
    const auto brace = r.out.find('{');
    return brace == std::string::npos ? json() : json::parse(r.out.substr(brace), nullptr, false);
}

}  // namespace

TEST_CASE("plexus connector lookup shows an e-guma voucher's balance for the check-balance page",
          "[eguma][cli][lookup]") {
    sb::SandboxServer eguma(sb::make_eguma_sandbox(5));
    TempDir dir;
    write_file(dir.path() / "eguma.json",
               json{{"api_key", "${EGUMA_API_KEY}"}, {"base_url", eguma.base_url()}, {"currency", "CHF"}}.dump());
    CommandResult r;
    json a = lookup(dir, "l4fu-5lqt-kjr3", r);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    REQUIRE(a.is_object());
    CHECK(a["found"] == true);
    const json& d = a["record"]["data"];
    CHECK(d["code"] == sb::kEgumaVoucher400of500);
    CHECK(d["status"] == "redeemable");
    CHECK(d["balance"] == "400.00");
    CHECK(d["currency"] == "CHF");
    CHECK(d["valid_until"] == "2027-12-31T00:00:00");
    CHECK(r.out.find(sb::kEgumaKeyOutlet1) == std::string::npos);

    json s = lookup(dir, sb::kEgumaShortCode, r);
    INFO(r.out);
    REQUIRE(s.is_object());
    CHECK(s["record"]["data"]["code"] == sb::kEgumaVoucher50);

    json n = lookup(dir, "NOSUCHCODE00", r);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    REQUIRE(n.is_object());
    CHECK(n["found"] == false);
}
