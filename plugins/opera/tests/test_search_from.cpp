// A create for a record whose postings are older than the default search span (28 days): with
// `search_from` (the source's date) the connector finds them and posts nothing again — the
// replay of a record that failed long after its posting landed, or a re-created ledger entry.
#include "opera_fixture.hpp"

#include <ctime>

using namespace opera_test;

namespace {
std::string days_ago(int days) {
    const std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}
}  // namespace

TEST_CASE("a create with search_from finds postings older than 28 days and posts nothing again",
          "[opera][connector]") {
    World w;
    auto inst = w.instance();
    const std::string old_day = days_ago(40);
    // The hotel's business date 40 days back: the sale and its payment posted then.
    w.control().set_business_date(old_day);
    json charge = sale();
    charge["search_from"] = old_day + "T09:58:00Z";  // a timestamp is cut to its date
    json pay = payment(true);
    pay["search_from"] = old_day;
    json c1 = write_one(*inst, "charges", create("px-old-sale", charge));
    REQUIRE(c1["status"] == PLEXUS_OK);
    json p1 = write_one(*inst, "payments", create("px-old-sale", pay));
    REQUIRE(p1["status"] == PLEXUS_OK);
    CHECK(c1["target_key"] == "px-old-sale@" + old_day + "#1");
    w.control().set_business_date(days_ago(0));

    // Forty days later the same records are created again (the ledger does not know them):
    // found through search_from, adopted, nothing posted.
    const size_t before = w.control().postings().size();
    json c2 = write_one(*inst, "charges", create("px-old-sale", charge));
    REQUIRE(c2["status"] == PLEXUS_OK);
    CHECK(c2["target_key"] == "px-old-sale@" + old_day + "#1");
    json p2 = write_one(*inst, "payments", create("px-old-sale", pay));
    REQUIRE(p2["status"] == PLEXUS_OK);
    CHECK(w.control().postings().size() == before);
    CHECK(w.control().postings_with_reference("px-old-sale-C1-1") == 1);
    CHECK(w.control().postings_with_reference("px-old-sale-P1") == 1);

    // The lookup of an interrupted create (the engine passes the record's data) finds them too.
    json found = ok_json(inst->lookup({{"entity", "charges"}, {"idempotency_key", "px-old-sale"}, {"data", charge}}));
    CHECK(found["found"] == true);
    CHECK(found["record"]["key"] == "px-old-sale@" + old_day + "#1");

    // A search_from that is not a date, or later than the default span, changes nothing.
    json odd = sale();
    odd["search_from"] = "yesterday";
    json c3 = write_one(*inst, "charges", create("px-new-sale", odd));
    REQUIRE(c3["status"] == PLEXUS_OK);
    CHECK(w.control().postings_with_reference("px-new-sale-C1-1") == 1);
}
