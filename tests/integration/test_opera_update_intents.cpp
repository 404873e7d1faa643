// A cancelled sale's reversal in OPERA when the `plexus run` that sent it is SIGKILLed while
// OHIP still holds the request (docs/design/010-update-intents.md). OHIP delays requests above
// its rate limit instead of refusing them, so a POST can take effect after its sender is gone.
// A loopback proxy in front of the OHIP sandbox holds the reversal's POST for three seconds
// (and forwards it then, whoever is still listening), the test kills the run as soon as the
// POST arrives and runs again at once. The second run finds the update's open intent and
// sends it marked interrupted; the connector waits in_doubt_ms before it reads OPERA's state,
// sees the late reversal and posts nothing. Counted through the sandbox's own API: each
// charge line reversed exactly once.
#include "support.hpp"

#include "plugins/opera/sandbox/opera_sandbox.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <sys/wait.h>

#include <atomic>
#include <map>
#include <thread>

using namespace plexus::test;
namespace sb = plexus::sandbox;

namespace {

// Forwards everything to `upstream`; the next POST to a path ending in "/charges" after arm()
// is held `hold_ms` first, then forwarded even though its client may be gone.
class HoldingProxy {
public:
    HoldingProxy(int upstream, int hold_ms) : upstream_(upstream), hold_ms_(hold_ms) {
        const auto forward = [this](const httplib::Request& q, httplib::Response& r) {
            ++in_flight_;
            const bool charges = q.method == "POST" && q.path.size() >= 8 &&
                                 q.path.compare(q.path.size() - 8, 8, "/charges") == 0;
            if (charges && armed_.exchange(false)) {
                held_ = true;
                std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms_));
            }
            httplib::Client c("127.0.0.1", upstream_);
            c.set_read_timeout(30, 0);
            httplib::Request f;
            f.method = q.method;
            f.path = q.target;
            for (const auto& [k, v] : q.headers)
                if (k != "Host" && k != "Content-Length" && k != "REMOTE_ADDR" && k != "REMOTE_PORT" &&
                    k != "LOCAL_ADDR" && k != "LOCAL_PORT")
                    f.headers.emplace(k, v);
            f.body = q.body;
            if (auto res = c.send(f)) {
                r.status = res->status;
                for (const auto& [k, v] : res->headers)
                    if (k != "Content-Length" && k != "Transfer-Encoding" && k != "Connection") r.set_header(k, v);
                r.body = res->body;
            } else {
                r.status = 502;
            }
            --in_flight_;
        };
        server_.Get(".*", forward);
        server_.Post(".*", forward);
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ~HoldingProxy() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    void arm() { armed_ = true; }
    bool held() const { return held_; }
    bool idle() const { return in_flight_ == 0; }

private:
    int upstream_, hold_ms_, port_ = 0;
    httplib::Server server_;
    std::thread thread_;
    std::atomic<bool> armed_{false}, held_{false};
    std::atomic<int> in_flight_{0};
};

}  // namespace

TEST_CASE("opera: a reversal held by OHIP past the SIGKILL of its plexus run is not posted again by the next run",
          "[opera][intents]") {
    sb::SandboxServer opera{sb::make_opera_sandbox(7)};
    auto& control = dynamic_cast<sb::OperaSandboxControl&>(opera.sandbox());
    HoldingProxy proxy(opera.port(), 3000);
    TempDir dir;
    fs::create_directories(dir.path() / "import");
    json config = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "plugins" / "opera" / "sample.json"), nullptr, true, true);
    config["connections"]["shop"]["settings"]["directory"] = dir.str("import");
    auto& s = config["connections"]["opera"]["settings"];
    s["gateway_url"] = proxy.url();
    s["in_doubt_ms"] = 4500;  // longer than the proxy holds the POST
    config["processes"].erase(1);  // the charges only
    write_file(dir.path() / "plexus.json", config.dump(2));
    setenv("OPERA_CLIENT_SECRET", sb::kOperaClientSecret, 1);
    const std::vector<std::string> args{"run", "sales-eguma-opera", "--log-level", "info", "--config", dir.str("plexus.json"),
                                        "--data", dir.str("var"), "--plugin-dir", PLEXUS_PLUGIN_DIR};
    const auto sale = [](const std::string& status, const std::string& at) {
        return json{{"id", "1001"}, {"updated_at", at}, {"status", status}, {"invoice", "paid"},
                    {"lines", {{{"kind", "voucher"}, {"amount", 500}, {"quantity", 1}, {"text", "Vouchers 10 x CHF 50"}},
                               {{"kind", "product"}, {"amount", 12.5}, {"quantity", 2}, {"text", "Mugs"}}}},
                    {"payment", {{"method", "online"}, {"amount", 525}}}};
    };
    const fs::path sales = dir.path() / "import" / "eguma_sales.jsonl";
    write_jsonl(sales, {sale("completed", "2026-12-01T10:00:00Z")});
    auto first = run_plexus(args);
    INFO(first.out);
    REQUIRE(first.exit_code == 0);
    REQUIRE(control.postings().size() == 2);

    // Cancelled: the run sends the reversal of both lines; OHIP holds it; the run is killed.
    write_jsonl(sales, {sale("completed", "2026-12-01T10:00:00Z"), sale("cancelled", "2026-12-02T10:00:00Z")});
    proxy.arm();
    const std::string log = dir.str("killed.log");
    const pid_t pid = spawn_plexus(args, log);
    REQUIRE(pid > 0);
    for (int i = 0; i < 300 && !proxy.held(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    INFO(read_file(log));
    REQUIRE(proxy.held());
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    CHECK(control.postings().size() == 2);  // the reversal has not landed yet

    // At once the next run: the held reversal lands while it runs.
    auto next = run_plexus(args);
    INFO(next.out);
    CHECK(next.exit_code == 0);
    for (int i = 0; i < 100 && !proxy.idle(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(proxy.idle());

    std::map<std::string, int> charges, reversals;
    double balance = 0;
    for (const auto& p : control.postings()) {
        const std::string ref = p["reference"];
        balance += p["transactionAmount"].get<double>();
        if (ref.size() > 2 && ref.compare(ref.size() - 2, 2, "-R") == 0) reversals[ref.substr(0, ref.size() - 2)]++;
        else charges[ref]++;
    }
    REQUIRE(charges.size() == 2);
    for (const auto& [ref, n] : charges) {
        INFO(ref);
        CHECK(n == 1);
        CHECK(reversals[ref] == 1);
    }
    CHECK(reversals.size() == 2);
    CHECK(std::abs(balance) < 0.005);
    // The second run took the interrupted path (not a lucky timing).
    CHECK(next.out.find("write(s) of an interrupted run; waiting 4500 ms") != std::string::npos);
}
