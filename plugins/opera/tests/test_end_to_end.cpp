// e-guma sales from a JSON Lines file to OPERA through the real engine (Hub, SyncEngine, the
// SQLite store), with the processes of sample.json: charges and payments, a posting that OPERA
// makes only after the gateway gave up (the write fails, its intent stays open, the next run
// adopts it by lookup — the engine's crash path, without killing anything), a cancellation,
// an invoice reset to unpaid and paid again. The sandbox counts postings per reference:
// nothing is posted twice, nothing reversed twice, and the PM folio ends balanced.
#include "config/config.hpp"
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"
#include "opera_fixture.hpp"
#include "store/store.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

using namespace opera_test;
namespace fs = std::filesystem;

namespace {

json sale_line(const std::string& id, const std::string& updated, const std::string& status,
               const std::string& invoice, const json& lines, const std::string& method, double amount) {
    return {{"id", id}, {"updated_at", updated}, {"status", status}, {"invoice", invoice}, {"lines", lines},
            {"payment", {{"method", method}, {"amount", amount}}}};
}

void append(const fs::path& file, const std::vector<json>& sales) {
    std::ofstream out(file, std::ios::app);
    for (const auto& s : sales) out << s.dump() << "\n";
}

}  // namespace

TEST_CASE("end to end: e-guma sales through the engine, posted once through a late posting, "
          "a cancellation and an invoice reset", "[opera][e2e]") {
    World w;
    const fs::path dir = fs::temp_directory_path() / ("opera-e2e-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "import");
    const fs::path sales = dir / "import" / "eguma_sales.jsonl";
    const json vouchers = json::array({{{"kind", "voucher"}, {"amount", 500}, {"quantity", 1}, {"text", "Vouchers 10 x CHF 50"}},
                                       {{"kind", "product"}, {"amount", "12.50"}, {"quantity", 2}, {"text", "Mugs"}}});
    const json tickets = json::array({{{"kind", "ticket"}, {"amount", 30}, {"quantity", 3}, {"text", "Concert"}},
                                      {{"kind", "shipping"}, {"amount", 8.5}, {"text", "Post"}}});
    const json invoice_sale = json::array({{{"kind", "voucher"}, {"amount", 200}, {"quantity", 1}, {"text", "Voucher"}}});
    append(sales, {sale_line("1001", "2026-12-01T10:00:00Z", "completed", "paid", vouchers, "online", 525),
                   sale_line("1002", "2026-12-01T11:00:00Z", "completed", "paid", tickets, "online", 98.5),
                   sale_line("1003", "2026-12-01T12:00:00Z", "invoice_unpaid", "unpaid", invoice_sale, "invoice", 200)});

    // The sample configuration, pointed at this sandbox and directory.
    json config = json::parse(std::ifstream(std::string(OPERA_SOURCE_DIR) + "/sample.json"), nullptr, true, true);
    config["connections"]["shop"]["settings"]["directory"] = (dir / "import").string();
    config["connections"]["opera"]["settings"] = w.settings();
    // In this process (no worker executable in a test binary).
    config["connections"]["shop"]["isolation"] = "none";
    config["connections"]["opera"]["isolation"] = "none";
    plexus::PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    auto store = plexus::open_sqlite_store((dir / "plexus.db").string());
    auto run = [&](const std::string& process, bool replay = false) {
        std::vector<plexus::ConfigError> errors;
        plexus::Config c = plexus::parse_config(config.dump(), "sample.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        plexus::Hub hub(std::move(c), registry, *store, plexus::SystemClock::instance());
        plexus::SyncEngine engine(hub);
        auto summary = replay ? engine.replay(process) : engine.run(process);
        UNSCOPED_INFO(process << ": " << summary.status << " " << summary.message);
        return summary;
    };

    // Run 1: OPERA makes the first sale's posting 1.5 s after the gateway answered 502; the
    // connector looks after 1 s, does not see it and does not post again: that record fails
    // (transient), its intent stays open.
    w.control().delay_postings(1, 1500);
    auto first = run("sales-eguma-opera");
    CHECK(first.counts.read == 3);
    CHECK(first.counts.failed == 1);
    CHECK(first.counts.created == 2);
    CHECK(w.control().postings().size() == 2);  // 1002's two lines; 1003 is unpaid: nothing
    std::this_thread::sleep_for(std::chrono::milliseconds(1600));
    // Run 2: the open intent is resolved by lookup: found, adopted, not posted again.
    auto second = run("sales-eguma-opera");
    INFO(second.message);
    plexus::OutcomeQuery q;
    q.text = "adopted";
    CHECK(store->outcomes(q).size() == 1);
    const auto postings_after_adoption = w.control().postings().size();
    CHECK(postings_after_adoption == 4);
    // A replay of the failed record finds it in the ledger: nothing posted.
    run("sales-eguma-opera", true);
    CHECK(w.control().postings().size() == postings_after_adoption);

    auto pay = run("payments-eguma-opera");
    CHECK(pay.counts.created == 3);
    CHECK(w.control().postings().size() == postings_after_adoption + 2);  // 1003 unpaid: nothing

    // 1001 cancelled and its invoice reset; 1003's invoice paid.
    append(sales, {sale_line("1001", "2026-12-02T09:00:00Z", "cancelled", "unpaid", vouchers, "online", 525),
                   sale_line("1003", "2026-12-02T10:00:00Z", "completed", "paid", invoice_sale, "invoice", 200)});
    auto third = run("sales-eguma-opera");
    CHECK(third.counts.updated == 2);
    auto pay2 = run("payments-eguma-opera");
    CHECK(pay2.counts.updated == 2);
    // Nothing new: nothing sent.
    const auto requests = w.control().requests();
    CHECK(run("sales-eguma-opera").counts.read == 0);
    CHECK(w.control().requests() <= requests + 2);  // at most a token and nothing else

    // 1003 reset to unpaid, then paid again.
    append(sales, {sale_line("1003", "2026-12-03T10:00:00Z", "invoice_unpaid", "unpaid", invoice_sale, "invoice", 200)});
    CHECK(run("sales-eguma-opera").counts.updated == 1);
    CHECK(run("payments-eguma-opera").counts.updated == 1);
    append(sales, {sale_line("1003", "2026-12-04T10:00:00Z", "completed", "paid", invoice_sale, "invoice", 200)});
    CHECK(run("sales-eguma-opera").counts.updated == 1);
    CHECK(run("payments-eguma-opera").counts.updated == 1);

    // Every charge and reversal reference once; every payment reference paid once and
    // reversed at most once; the PM folio balances (charges 98.5 + 200, payments the same).
    std::map<std::string, int> charges, paid, reversed;
    for (const auto& p : w.control().postings()) {
        const std::string ref = p["reference"];
        if (p["transactionType"] == "Payment") (p["transactionAmount"].get<double>() > 0 ? paid : reversed)[ref]++;
        else charges[ref]++;
    }
    for (const auto& [ref, n] : charges) {
        INFO(ref);
        CHECK(n == 1);
    }
    for (const auto& [ref, n] : paid) {
        INFO(ref);
        CHECK(n == 1);
    }
    for (const auto& [ref, n] : reversed) {
        INFO(ref);
        CHECK(n == 1);
    }
    CHECK(charges.size() == 2 + 2 + 2 + 1 + 1 + 1);  // 1002; 1001 + reversals; 1003 gen 1, its reversal, gen 2
    CHECK(paid.size() == 4);                        // 1001-P1, 1002-P1, 1003-P1, 1003-P2
    CHECK(reversed.size() == 2);                    // 1001-P1, 1003-P1
    CHECK(w.control().balance(plexus::sandbox::kOperaPmReservation) == Approx(0.0));
    fs::remove_all(dir);
}
