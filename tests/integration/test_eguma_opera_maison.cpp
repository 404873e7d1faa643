// Maison redemptions and organisation vouchers redeemed as own, e-guma → OPERA Cloud (seed
// 000) through a real `plexus serve` with config/eguma-opera.json: the e-guma sandbox pushes
// the signed redemption events to the hub's webhook listener, and the two redemption processes
// post each redemption once as a charge (transaction code per booking) and a payment (one
// OPERA payment method per booking). Counted through the OHIP sandbox's own API: each posting
// once; a second run from outside writes nothing; a redemption cancelled in e-guma, and a
// sale cancelled with its redemption, reverse exactly their charge and payment, once; and
// `plexus reconcile` finds the ledger clean. The decision: plugins/opera/README.md, "Maison
// and organisation redemptions".
#include "hardening_support.hpp"

#include "engine/payload_hash.hpp"
#include "plugins/eguma/sandbox/eguma_sandbox.hpp"
#include "plugins/opera/sandbox/opera_sandbox.hpp"

#include <cmath>
#include <thread>

using namespace plexus::test;
namespace sb = plexus::sandbox;

namespace {

const char* k_sales = "voucher-sales-eguma-opera";
const char* k_sale_payments = "voucher-payments-eguma-opera";
const char* k_charges = "voucher-redemptions-eguma-opera";
const char* k_payments = "voucher-redemption-payments-eguma-opera";
const char* k_secret = "whsec_EGUMA_MAISON_TEST_4242";

template <class F>
bool eventually(F&& f, int ms = 20000) {
    for (int waited = 0; waited < ms; waited += 100) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return f();
}

struct MaisonHub {
    sb::SandboxServer eguma_server{sb::make_eguma_sandbox(23)};
    sb::SandboxServer opera_server{sb::make_opera_sandbox(23)};
    TempDir dir;
    pid_t pid = -1;
    int hooks_port = 0;
    std::string log;

    MaisonHub() {
        json config = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "config" / "eguma-opera.json"));
        config["hooks"] = {{"listen", "127.0.0.1:0"}};
        config["connections"]["eguma"]["settings"]["base_url"] = eguma_server.base_url();
        config["connections"]["opera"]["settings"]["gateway_url"] = opera_server.base_url();
        // Only the inbox's events trigger runs (the schedule is the safety net).
        for (auto& p : config["processes"]) p["schedule"] = {{"interval", "1h"}};
        write_file(dir.path() / "plexus.json", config.dump(2));
        setenv("EGUMA_API_KEY", sb::kEgumaKeyOutlet1, 1);
        setenv("EGUMA_WEBHOOK_SECRET", k_secret, 1);
        setenv("OPERA_CLIENT_SECRET", sb::kOperaClientSecret, 1);
    }
    ~MaisonHub() { stop(); }

    sb::EgumaSandbox& eguma() { return static_cast<sb::EgumaSandbox&>(eguma_server.sandbox()); }

    std::vector<std::string> args(const std::string& command, const std::string& process = {}) const {
        std::vector<std::string> a{command};
        if (!process.empty()) a.push_back(process);
        for (const auto& c : {std::string("--config"), dir.str("plexus.json"), std::string("--data"), dir.str("var"),
                              std::string("--plugin-dir"), std::string(PLEXUS_PLUGIN_DIR)})
            a.push_back(c);
        return a;
    }

    void start() {
        log = dir.str("serve.log");
        auto a = args("serve");
        a.insert(a.end(), {"--listen", "127.0.0.1:0"});
        pid = spawn_plexus(a, log);
        REQUIRE(pid > 0);
        std::regex hooks(R"(hooks: http://127\.0\.0\.1:(\d+)/hooks/)");
        for (int i = 0; i < 600 && hooks_port == 0; ++i) {
            std::smatch m;
            const std::string text = read_file(log);
            if (std::regex_search(text, m, hooks)) hooks_port = std::stoi(m[1]);
            int status = 0;
            INFO(text);
            REQUIRE(waitpid(pid, &status, WNOHANG) == 0);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        INFO(read_file(log));
        REQUIRE(hooks_port > 0);
        eguma().set_hook("http://127.0.0.1:" + std::to_string(hooks_port) + "/hooks/eguma", k_secret);
    }
    void stop() {
        if (pid <= 0) return;
        kill(pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        pid = -1;
    }

    json shop(const json& request) {
        std::string error;
        json sale = eguma().sales_action(request, error);
        INFO(request.dump() << ": " << error);
        REQUIRE(error.empty());
        return sale;
    }

    // Every posting OPERA holds (GET /_sandbox/opera/postings) whose reference starts with
    // `prefix`.
    std::vector<json> postings(const std::string& prefix) const {
        httplib::Client c("127.0.0.1", opera_server.port());
        auto r = c.Get("/_sandbox/opera/postings");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        std::vector<json> out;
        const json all = json::parse(r->body);  // kept: a range-for over a temporary's member dangles
        for (const auto& p : all["postings"])
            if (p.value("reference", "").rfind(prefix, 0) == 0) out.push_back(p);
        return out;
    }
    size_t all_postings() const { return postings("").size(); }
};

int64_t cents(const json& posting) { return std::llround(posting["transactionAmount"].get<double>() * 100); }

// What OPERA holds for one redemption: its charge (and the charge's reversal), its payment
// (and the payment's reversal).
struct Booked {
    std::vector<json> charge, charge_reversal, payment, payment_reversal;
};

Booked booked(const MaisonHub& h, const std::string& redemption_id) {
    Booked b;
    const std::string ck = plexus::idempotency_key(k_charges, redemption_id);
    const std::string pk = plexus::idempotency_key(k_payments, redemption_id);
    for (const auto& p : h.postings(ck + "-")) (p["reference"] == ck + "-C1-1-R" ? b.charge_reversal : b.charge).push_back(p);
    for (const auto& p : h.postings(pk + "-")) (cents(p) < 0 ? b.payment_reversal : b.payment).push_back(p);
    return b;
}

// The web-shop order's own postings (the sales processes, triggered by the same events):
// its charge and its payment of `amount` cents, each once — or, cancelled, each reversed once.
// The counts below are taken only once these have settled too, since serve posts them on its
// own schedule beside the redemptions.
bool sale_exactly(const MaisonHub& h, const std::string& sale_id, int64_t amount, bool cancelled, std::string& why) {
    std::ostringstream out;
    const auto charges = h.postings(plexus::idempotency_key(k_sales, sale_id) + "-");
    const auto payments = h.postings(plexus::idempotency_key(k_sale_payments, sale_id) + "-");
    auto net = [](const std::vector<json>& ps) {
        int64_t s = 0;
        for (const auto& p : ps) s += cents(p);
        return s;
    };
    const size_t want = cancelled ? 2 : 1;
    const int64_t want_net = cancelled ? 0 : amount;
    if (charges.size() != want || net(charges) != want_net)
        out << charges.size() << " sale charges netting " << net(charges) << " cents; ";
    if (payments.size() != want || net(payments) != want_net)
        out << payments.size() << " sale payments netting " << net(payments) << " cents; ";
    why = out.str();
    return why.empty();
}

// Exactly one charge of `amount` cents under `code` with its reference, one payment of the
// same amount under `method`; reversed (each once) or not at all.
bool exactly(const Booked& b, const std::string& code, const std::string& method, int64_t amount, bool reversed,
             std::string& why) {
    std::ostringstream out;
    if (b.charge.size() != 1) out << b.charge.size() << " charges; ";
    else {
        if (b.charge[0]["transactionCode"] != code) out << "charge code " << b.charge[0]["transactionCode"] << "; ";
        if (cents(b.charge[0]) != amount) out << "charge " << cents(b.charge[0]) << " cents; ";
    }
    if (b.payment.size() != 1) out << b.payment.size() << " payments; ";
    else {
        if (b.payment[0]["transactionCode"] != method) out << "payment method " << b.payment[0]["transactionCode"] << "; ";
        if (cents(b.payment[0]) != amount) out << "payment " << cents(b.payment[0]) << " cents; ";
    }
    const size_t want = reversed ? 1 : 0;
    if (b.charge_reversal.size() != want) out << b.charge_reversal.size() << " charge reversals; ";
    else if (reversed && cents(b.charge_reversal[0]) != -amount) out << "charge reversal " << cents(b.charge_reversal[0]) << "; ";
    if (b.payment_reversal.size() != want) out << b.payment_reversal.size() << " payment reversals; ";
    else if (reversed && cents(b.payment_reversal[0]) != -amount) out << "payment reversal " << cents(b.payment_reversal[0]) << "; ";
    why = out.str();
    return why.empty();
}

}  // namespace

TEST_CASE("e-guma → OPERA through serve: Maison and organisation redemptions booked once, "
          "a cancelled redemption reversed once",
          "[eguma][opera][serve][maison]") {
    MaisonHub h;
    h.start();

    // A Maison redemption and an organisation voucher redeemed as own (each e-guma's own
    // record), and a web-shop order with a Maison redemption on it.
    const json maison = h.shop({{"action", "maison"}, {"voucher_code", sb::kEgumaVoucher50},
                                {"amount_in_cents", 12000}, {"payment_method", "Maison Bar"}});
    const json organisation = h.shop({{"action", "organisation"}, {"voucher_code", "ORG0RG0RG0RG"}, {"amount_in_cents", 8050}});
    const json order = h.shop({{"action", "sale"}, {"status", "paid"},
                               {"lines", {{{"kind", "voucher"}, {"item_id", "V50"}, {"name", "Wertgutschein CHF 50"},
                                           {"unit_price_in_cents", 5000}, {"quantity", 1}}}}});
    const json order_red = h.shop({{"action", "maison"}, {"sale_id", order["id"]}, {"voucher_code", "PR0M0MA1S0N1"},
                                   {"amount_in_cents", 3000}});
    const std::string m_id = maison["redemptions"][0]["redemption_id"];
    const std::string o_id = organisation["redemptions"][0]["redemption_id"];
    const std::string r_id = order_red["redemptions"][0]["redemption_id"];
    REQUIRE(h.eguma().wait_delivered(10000));

    std::string why;
    auto all_booked = [&](bool m_reversed, bool r_reversed) {
        std::string w1, w2, w3, w4;
        const bool ok = exactly(booked(h, m_id), "7050", "MA", 12000, m_reversed, w1) &
                        exactly(booked(h, o_id), "7060", "OV", 8050, false, w2) &
                        exactly(booked(h, r_id), "7050", "MA", 3000, r_reversed, w3) &
                        sale_exactly(h, order["id"], 5000, r_reversed, w4);
        why = m_id + ": " + w1 + " " + o_id + ": " + w2 + " " + r_id + ": " + w3 + " sale " +
              order["id"].get<std::string>() + ": " + w4 + " OPERA holds:";
        for (const auto& p : h.postings(""))
            why += " " + p.value("reference", "") + " " + p["transactionCode"].get<std::string>() + " " +
                   std::to_string(cents(p)) + ";";
        return ok;
    };
    {
        const bool settled = eventually([&] { return all_booked(false, false); });
        INFO(why);
        INFO(read_file(h.log));
        REQUIRE(settled);
    }
    CHECK(booked(h, m_id).charge[0]["remark"] == "Voucher " + std::string(sb::kEgumaVoucher50) + " (Maison Bar)");

    // A second run of both processes from outside: nothing is written.
    size_t before = h.all_postings();
    for (const char* process : {k_charges, k_payments}) {
        auto r = run_plexus(h.args("run", process));
        INFO(r.out);
        CHECK(r.exit_code == 0);
    }
    CHECK(h.all_postings() == before);
    CHECK(all_booked(false, false));

    // The Maison redemption is cancelled in e-guma, and the order with its redemption is
    // cancelled: each charge and payment reversed once, the organisation one untouched.
    h.shop({{"action", "cancel_redemption"}, {"sale_id", maison["id"]}, {"redemption_id", m_id}});
    h.shop({{"action", "cancel"}, {"sale_id", order["id"]}});
    REQUIRE(h.eguma().wait_delivered(10000));
    {
        const bool settled = eventually([&] { return all_booked(true, true); });
        INFO(why);
        INFO(read_file(h.log));
        REQUIRE(settled);
    }
    // The same event again (e-guma retries) and further runs: still nothing twice.
    h.shop({{"action", "cancel_redemption"}, {"sale_id", maison["id"]}, {"redemption_id", m_id}});
    REQUIRE(h.eguma().wait_delivered(10000));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    h.stop();
    before = h.all_postings();
    for (const char* process : {k_charges, k_payments}) {
        auto r = run_plexus(h.args("run", process));
        INFO(r.out);
        CHECK(r.exit_code == 0);
    }
    CHECK(h.all_postings() == before);
    INFO(why);
    CHECK(all_booked(true, true));

    // The ledger agrees with OPERA.
    for (const char* process : {k_charges, k_payments}) {
        auto a = h.args("reconcile", process);
        a.insert(a.end(), {"--format", "json"});
        auto r = run_plexus(a);
        INFO(process << ": " << r.out);
        CHECK(r.exit_code == 0);
        const auto brace = r.out.find('{');
        REQUIRE(brace != std::string::npos);
        const json report = json::parse(r.out.substr(brace), nullptr, false);
        REQUIRE(report.is_object());
        CHECK(report["status"] == "clean");
        CHECK(report["ledger_entries"] == 3);
    }
}
