#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/redactor.hpp"
#include "http/http_client.hpp"
#include "http/rate_governor.hpp"

using plexus::HttpClient;
using plexus::HttpRequestSpec;
using plexus::HttpResult;
using plexus::ManualClock;
using plexus::RateGovernor;
using plexus::RetryPolicy;
using plexus::SystemClock;

namespace {

// An httplib server on 127.0.0.1, on a port the OS picks, serving in a background thread.
class TestServer {
public:
    explicit TestServer(
        std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
        : server_(std::move(server)) {}

    httplib::Server& routes() { return *server_; }

    void start() {
        REQUIRE(server_->is_valid());
        port_ = server_->bind_to_any_port("127.0.0.1");
        REQUIRE(port_ > 0);
        thread_ = std::thread([this] { server_->listen_after_bind(); });
        for (int i = 0; i < 500 && !server_->is_running(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        REQUIRE(server_->is_running());
    }

    ~TestServer() {
        stopping = true;
        if (thread_.joinable()) {
            server_->stop();
            thread_.join();
        }
    }

    std::string url(const std::string& path, const std::string& scheme = "http") const {
        return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
    }
    int port() const { return port_; }

    std::atomic<bool> stopping{false};  // slow handlers return early once set

private:
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
};

// A loopback port nothing listens on: bound, read, released.
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

RetryPolicy fast_policy(int max_attempts = 3) {
    RetryPolicy p;
    p.max_attempts = max_attempts;
    p.base_backoff_ms = 1;
    p.max_backoff_ms = 5;
    p.default_timeout_ms = 2000;
    p.max_retry_after_ms = 3000;
    return p;
}

HttpRequestSpec get(const std::string& url) {
    HttpRequestSpec r;
    r.method = "GET";
    r.url = url;
    return r;
}

const std::function<bool()> kNever = [] { return false; };

}  // namespace

TEST_CASE("http 200 passes through with status, headers and body", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Post("/echo", [&](const httplib::Request& req, httplib::Response& res) {
        ++hits;
        res.set_header("X-Reply", "yes");
        res.set_header("X-Seen-Token", req.get_header_value("X-Token"));
        res.set_content("got:" + req.body + ":" + req.get_param_value("q"), "text/plain");
    });
    server.start();

    HttpClient client(SystemClock::instance(), fast_policy());
    HttpRequestSpec req;
    req.method = "POST";
    req.url = server.url("/echo?q=a%2Bb");
    req.headers = {{"X-Token", "abc123"}, {"Content-Type", "application/json"}};
    req.body = R"({"k":1})";
    const HttpResult r = client.send(req, nullptr, kNever);
    REQUIRE(r.got_response);
    CHECK(r.status == 200);
    CHECK(r.attempts == 1);
    CHECK(r.body == R"(got:{"k":1}:a+b)");
    CHECK(r.error.empty());
    CHECK_FALSE(r.cancelled);
    auto header = [&](const std::string& name) {
        for (const auto& [k, v] : r.headers)
            if (k == name) return v;
        return std::string("<absent>");
    };
    CHECK(header("X-Reply") == "yes");
    CHECK(header("X-Seen-Token") == "abc123");
    CHECK(hits == 1);
}

TEST_CASE("http keeps connections alive and reuses them", "[http]") {
    TestServer server;
    std::vector<int> ports;
    std::mutex m;
    server.routes().Get("/p", [&](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(m);
        ports.push_back(req.remote_port);
        res.set_content("ok", "text/plain");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy());
    for (int i = 0; i < 3; ++i)
        REQUIRE(client.send(get(server.url("/p")), nullptr, kNever).status == 200);
    REQUIRE(ports.size() == 3);
    CHECK(ports[0] == ports[1]);
    CHECK(ports[1] == ports[2]);
}

TEST_CASE("http retries 503 until a 200", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
        if (++hits <= 2) {
            res.status = 503;
            res.set_content("busy", "text/plain");
        } else {
            res.set_content("fine", "text/plain");
        }
    });
    server.start();
    ManualClock clock;
    HttpClient client(clock, fast_policy(5));
    const HttpResult r = client.send(get(server.url("/flaky")), nullptr, kNever);
    CHECK(r.got_response);
    CHECK(r.status == 200);
    CHECK(r.body == "fine");
    CHECK(r.attempts == 3);
    CHECK(hits == 3);
    CHECK(clock.total_slept_ms() <= 1 + 2);  // full jitter within base * 2^n
}

TEST_CASE("http returns the last response when 5xx persists", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get("/down", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        res.status = 500;
        res.set_content("broken #" + std::to_string(hits.load()), "text/plain");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy(3));
    const HttpResult r = client.send(get(server.url("/down")), nullptr, kNever);
    CHECK(r.got_response);
    CHECK(r.status == 500);
    CHECK(r.body == "broken #3");
    CHECK(r.attempts == 3);
    CHECK(hits == 3);
}

TEST_CASE("http backoff grows exponentially and is capped", "[http]") {
    TestServer server;
    server.routes().Get("/down",
                        [](const httplib::Request&, httplib::Response& res) { res.status = 502; });
    server.start();
    ManualClock clock;
    RetryPolicy p = fast_policy(6);
    p.base_backoff_ms = 100;
    p.max_backoff_ms = 250;
    HttpClient client(clock, p);
    const HttpResult r = client.send(get(server.url("/down")), nullptr, kNever);
    CHECK(r.attempts == 6);
    CHECK(r.status == 502);
    // caps per retry: 100, 200, 250, 250, 250
    CHECK(clock.total_slept_ms() <= 100 + 200 + 250 * 3);
}

TEST_CASE("http honours a 429's Retry-After", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    std::string retry_after;
    server.routes().Get("/limited", [&](const httplib::Request&, httplib::Response& res) {
        if (hits++ == 0) {
            res.status = 429;
            if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
        } else {
            res.set_content("ok", "text/plain");
        }
    });
    server.start();

    SECTION("fractional seconds, on the real clock, pausing the governor") {
        retry_after = "0.05";
        HttpClient client(SystemClock::instance(), fast_policy());
        RateGovernor governor(0, 0, SystemClock::instance());
        const auto start = std::chrono::steady_clock::now();
        const HttpResult r = client.send(get(server.url("/limited")), &governor, kNever);
        const auto elapsed = std::chrono::steady_clock::now() - start;
        CHECK(r.status == 200);
        CHECK(r.attempts == 2);
        CHECK(elapsed >= std::chrono::milliseconds(50));
        CHECK(elapsed < std::chrono::milliseconds(1500));
        CHECK(governor.stats().pauses == 1);
    }
    SECTION("whole seconds") {
        retry_after = "2";
        ManualClock clock;
        HttpClient client(clock, fast_policy());
        CHECK(client.send(get(server.url("/limited")), nullptr, kNever).status == 200);
        CHECK(clock.total_slept_ms() == 2000);
    }
    SECTION("absent: one second") {
        ManualClock clock;
        HttpClient client(clock, fast_policy());
        CHECK(client.send(get(server.url("/limited")), nullptr, kNever).status == 200);
        CHECK(clock.total_slept_ms() == 1000);
    }
    SECTION("an HTTP date") {
        retry_after = "Wed, 15 Nov 2023 00:00:00 GMT";
        ManualClock clock(1'700'006'400'000 - 2500);
        HttpClient client(clock, fast_policy());
        CHECK(client.send(get(server.url("/limited")), nullptr, kNever).status == 200);
        CHECK(clock.total_slept_ms() == 2500);
    }
    SECTION("capped at max_retry_after_ms") {
        retry_after = "86400";
        ManualClock clock;
        HttpClient client(clock, fast_policy());  // cap 3000
        RateGovernor governor(10, 1, clock);
        CHECK(client.send(get(server.url("/limited")), &governor, kNever).status == 200);
        CHECK(clock.total_slept_ms() == 3000);
        CHECK(governor.stats().pauses == 1);
    }
    SECTION("no retry left: the 429 itself is returned") {
        retry_after = "1";
        ManualClock clock;
        HttpClient client(clock, fast_policy(1));
        const HttpResult r = client.send(get(server.url("/limited")), nullptr, kNever);
        CHECK(r.got_response);
        CHECK(r.status == 429);
        CHECK(r.attempts == 1);
        CHECK(clock.total_slept_ms() == 0);
    }
}

TEST_CASE("http Retry-After values parse", "[http]") {
    using plexus::parse_retry_after_ms;
    const int64_t now = 1'700'006'400'000;  // Wed, 15 Nov 2023 00:00:00 GMT
    CHECK(parse_retry_after_ms("120", now) == 120'000);
    CHECK(parse_retry_after_ms(" 2.0 ", now) == 2000);
    CHECK(parse_retry_after_ms("0.05", now) == 50);
    CHECK(parse_retry_after_ms("0", now) == 0);
    CHECK(parse_retry_after_ms("Wed, 15 Nov 2023 00:00:30 GMT", now) == 30'000);
    CHECK(parse_retry_after_ms("Wednesday, 15-Nov-23 00:00:30 GMT", now) == 30'000);
    CHECK(parse_retry_after_ms("Wed Nov 15 00:00:30 2023", now) == 30'000);
    CHECK(parse_retry_after_ms("Tue, 14 Nov 2023 00:00:00 GMT", now) == 0);  // past
    CHECK_FALSE(parse_retry_after_ms("", now));
    CHECK_FALSE(parse_retry_after_ms("-5", now));
    CHECK_FALSE(parse_retry_after_ms("soon", now));
    CHECK_FALSE(parse_retry_after_ms("12abc", now));
    CHECK_FALSE(parse_retry_after_ms("Wed, 31 Feb 2023 00:00:00 GMT", now));
}

TEST_CASE("http retries a timeout, then reports the error", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        for (int i = 0; i < 40 && !server.stopping; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        res.set_content("late", "text/plain");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy(2));
    HttpRequestSpec req = get(server.url("/slow"));
    req.timeout_ms = 100;
    const auto start = std::chrono::steady_clock::now();
    const HttpResult r = client.send(req, nullptr, kNever);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
    CHECK_FALSE(r.got_response);
    CHECK(r.attempts == 2);
    CHECK(hits == 2);
    CHECK(r.error.find("timed out after 100 ms") != std::string::npos);
    CHECK(r.error.find("GET http://127.0.0.1:" + std::to_string(server.port()) + "/slow") == 0);
}

TEST_CASE("http connection refused is retried and reported without secrets", "[http]") {
    const int port = closed_port();
    plexus::global_redactor().add("path-secret-7f3a9c");
    ManualClock clock;
    HttpClient client(clock, fast_policy(3));
    HttpRequestSpec req;
    req.method = "POST";
    req.url = "http://127.0.0.1:" + std::to_string(port) +
              "/bot/path-secret-7f3a9c/send?access_token=query-secret-1234#frag";
    req.headers = {{"Authorization", "Bearer header-secret-5678"}};
    req.body = "body-secret-9012";
    const HttpResult r = client.send(req, nullptr, kNever);
    CHECK_FALSE(r.got_response);
    CHECK_FALSE(r.cancelled);
    CHECK_FALSE(r.invalid_request);
    CHECK(r.attempts == 3);
    INFO(r.error);
    CHECK(r.error.find("could not connect") != std::string::npos);
    CHECK(r.error.find("POST http://127.0.0.1:" + std::to_string(port) + "/bot/***/send") == 0);
    CHECK(r.error.find("gave up after 3 attempts") != std::string::npos);
    for (const char* secret : {"query-secret-1234", "access_token", "header-secret-5678",
                               "body-secret-9012", "path-secret-7f3a9c", "frag"}) {
        CHECK(r.error.find(secret) == std::string::npos);
    }
}

TEST_CASE("http makes one attempt with no_retry or a 4xx", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get("/busy", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        res.status = 503;
    });
    server.routes().Get("/bad", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        res.status = 400;
        res.set_content("{\"error\":\"bad\"}", "application/json");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy(5));

    SECTION("no_retry") {
        HttpRequestSpec req = get(server.url("/busy"));
        req.no_retry = true;
        const HttpResult r = client.send(req, nullptr, kNever);
        CHECK(r.got_response);
        CHECK(r.status == 503);
        CHECK(r.attempts == 1);
        CHECK(hits == 1);
    }
    SECTION("404") {
        const HttpResult r = client.send(get(server.url("/missing")), nullptr, kNever);
        CHECK(r.status == 404);
        CHECK(r.attempts == 1);
    }
    SECTION("400 with its body") {
        const HttpResult r = client.send(get(server.url("/bad")), nullptr, kNever);
        CHECK(r.status == 400);
        CHECK(r.body == "{\"error\":\"bad\"}");
        CHECK(r.attempts == 1);
        CHECK(hits == 1);
    }
}

TEST_CASE("http rejects malformed requests without sending them", "[http]") {
    HttpClient client(SystemClock::instance(), fast_policy());
    for (const char* url :
         {"", "not a url", "ftp://127.0.0.1/x", "http://", "http:///path", "http://127.0.0.1:0/",
          "http://127.0.0.1:99999/", "http://127.0.0.1:8x/", "http://user:pw-secret-42@127.0.0.1/",
          "http://[::1/", "http://ex ample/"}) {
        INFO(url);
        const HttpResult r = client.send(get(url), nullptr, kNever);
        CHECK(r.invalid_request);
        CHECK_FALSE(r.got_response);
        CHECK(r.attempts == 0);
        CHECK(r.error.find("malformed URL") != std::string::npos);
        CHECK(r.error.find("pw-secret-42") == std::string::npos);
    }
    HttpRequestSpec req = get("http://127.0.0.1:1/");
    req.headers = {{"X-Evil", "a\r\nInjected: yes"}};
    CHECK(client.send(req, nullptr, kNever).invalid_request);
    req.headers = {{"Bad Name", "v"}};
    CHECK(client.send(req, nullptr, kNever).invalid_request);
    req.headers.clear();
    req.method = "GE T";
    CHECK(client.send(req, nullptr, kNever).invalid_request);
}

TEST_CASE("http stops when cancelled", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    std::atomic<bool> cancel{false};
    server.routes().Get("/busy", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        cancel = true;
        res.status = 503;
    });
    server.start();
    ManualClock clock;
    RetryPolicy p = fast_policy(5);
    p.base_backoff_ms = 10'000;
    p.max_backoff_ms = 10'000;
    HttpClient client(clock, p);
    auto is_cancelled = [&] { return cancel.load(); };

    SECTION("during the backoff") {
        const HttpResult r = client.send(get(server.url("/busy")), nullptr, is_cancelled);
        CHECK(r.cancelled);
        CHECK_FALSE(r.got_response);
        CHECK(r.attempts == 1);
        CHECK(hits == 1);
        CHECK(clock.total_slept_ms() <= HttpClient::kSleepSliceMs);
    }
    SECTION("before the first attempt") {
        cancel = true;
        const HttpResult r = client.send(get(server.url("/busy")), nullptr, is_cancelled);
        CHECK(r.cancelled);
        CHECK(r.attempts == 0);
        CHECK(hits == 0);
    }
    SECTION("while waiting for the governor") {
        RateGovernor governor(1, 1, clock);
        REQUIRE(governor.acquire(kNever));
        int calls = 0;
        const HttpResult r =
            client.send(get(server.url("/busy")), &governor, [&] { return ++calls > 3; });
        CHECK(r.cancelled);
        CHECK(hits == 0);
    }
}

TEST_CASE("http takes a token from the governor for every attempt", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get("/x", [&](const httplib::Request&, httplib::Response& res) {
        res.status = ++hits < 3 ? 500 : 200;
    });
    server.start();
    ManualClock clock;
    RateGovernor governor(10, 1, clock);
    RetryPolicy p = fast_policy(5);
    p.base_backoff_ms = 0;
    HttpClient client(clock, p);
    const HttpResult r = client.send(get(server.url("/x")), &governor, kNever);
    CHECK(r.status == 200);
    CHECK(governor.stats().acquired == 3);
    CHECK(clock.total_slept_ms() == 200);  // two refills at 10 rps
}

TEST_CASE("http is safe to use from many threads", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get("/n", [&](const httplib::Request& req, httplib::Response& res) {
        ++hits;
        res.set_content(req.get_param_value("i"), "text/plain");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy());
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                const std::string id = std::to_string(t * 100 + i);
                const HttpResult r = client.send(get(server.url("/n?i=" + id)), nullptr, kNever);
                if (r.status != 200 || r.body != id) ++wrong;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong == 0);
    CHECK(hits == 40);
}

TEST_CASE("http delivers compressed bodies decoded", "[http]") {
    TestServer server;
    std::string accept_encoding;
    const std::string text(20000, 'a');
    server.routes().Get("/big", [&](const httplib::Request& req, httplib::Response& res) {
        accept_encoding = req.get_header_value("Accept-Encoding");
        res.set_content(text, "text/plain");
    });
    // gzip of "hello compressed world " x 20, as a server that compresses on its own sends it
    static const char gzipped[] =
        "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xce\xcf\x2d"
        "\x28\x4a\x2d\x2e\x4e\x4d\x51\x28\xcf\x2f\xca\x49\x51\xc8\x18\x15\x1e\x7a\xc2\x00"
        "\xb8\x60\xeb\x90\xcc\x01\x00\x00";
    server.routes().Get("/gz", [&](const httplib::Request&, httplib::Response& res) {
        res.set_header("Content-Encoding", "gzip");
        res.set_content(std::string(gzipped, sizeof(gzipped) - 1), "application/octet-stream");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy());
    auto check_headers = [](const HttpResult& r) {
        for (const auto& [k, v] : r.headers) {
            CHECK(k != "Content-Encoding");
            if (k == "Content-Length") CHECK(v == std::to_string(r.body.size()));
        }
    };

    const HttpResult big = client.send(get(server.url("/big")), nullptr, kNever);
    REQUIRE(big.status == 200);
    CHECK(accept_encoding.find("gzip") != std::string::npos);
    CHECK(big.body == text);
    check_headers(big);

    const HttpResult gz = client.send(get(server.url("/gz")), nullptr, kNever);
    REQUIRE(gz.status == 200);
    std::string expected;
    for (int i = 0; i < 20; ++i) expected += "hello compressed world ";
    CHECK(gz.body == expected);
    check_headers(gz);
}

// ---- TLS ---------------------------------------------------------------------------------

namespace {

// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
struct SelfSignedCert {
    std::filesystem::path dir, cert, key;

    explicit SelfSignedCert(const char* subject_alt_names = "IP:127.0.0.1,DNS:localhost") {
        dir = std::filesystem::temp_directory_path() /
              ("plexus-http-test-" + std::to_string(::getpid()) + "-" +
               std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        std::filesystem::create_directories(dir);
        cert = dir / "cert.pem";
        key = dir / "key.pem";

        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        REQUIRE(pkey);
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
        X509_EXTENSION* san =
            X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, subject_alt_names);
        REQUIRE(san);
        X509_add_ext(x, san, -1);
        X509_EXTENSION_free(san);
        REQUIRE(X509_sign(x, pkey, EVP_sha256()) > 0);

        BIO* b = BIO_new_file(cert.c_str(), "w");
        PEM_write_bio_X509(b, x);
        BIO_free(b);
        b = BIO_new_file(key.c_str(), "w");
        PEM_write_bio_PrivateKey(b, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        BIO_free(b);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~SelfSignedCert() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

}  // namespace

TEST_CASE("http verifies TLS certificates", "[http]") {
    SelfSignedCert cert;
    TestServer server(std::make_unique<httplib::SSLServer>(cert.cert.c_str(), cert.key.c_str()));
    std::atomic<int> hits{0};
    server.routes().Get("/secure", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        res.set_content("secret stuff", "text/plain");
    });
    server.start();

    SECTION("trusted through the configured CA bundle") {
        HttpClient client(SystemClock::instance(), fast_policy(), cert.cert.string());
        const HttpResult r = client.send(get(server.url("/secure", "https")), nullptr, kNever);
        INFO(r.error);
        CHECK(r.status == 200);
        CHECK(r.body == "secret stuff");
    }
    SECTION("refused against the system store, and not retried") {
        HttpClient client(SystemClock::instance(), fast_policy());
        const HttpResult r = client.send(get(server.url("/secure", "https")), nullptr, kNever);
        CHECK_FALSE(r.got_response);
        CHECK(r.attempts == 1);
        CHECK(hits == 0);
        INFO(r.error);
        CHECK(r.error.find("certificate verification failed") != std::string::npos);
    }
    SECTION("a certificate from another authority is refused") {
        SelfSignedCert other;
        HttpClient client(SystemClock::instance(), fast_policy(), other.cert.string());
        const HttpResult r = client.send(get(server.url("/secure", "https")), nullptr, kNever);
        CHECK_FALSE(r.got_response);
        CHECK(r.attempts == 1);
        CHECK(hits == 0);
    }
}

TEST_CASE("http refuses a certificate that does not name the host", "[http]") {
    SelfSignedCert cert("DNS:example.invalid");
    TestServer server(std::make_unique<httplib::SSLServer>(cert.cert.c_str(), cert.key.c_str()));
    std::atomic<int> hits{0};
    server.routes().Get("/secure", [&](const httplib::Request&, httplib::Response& res) {
        ++hits;
        res.set_content("secret stuff", "text/plain");
    });
    server.start();
    HttpClient client(SystemClock::instance(), fast_policy(), cert.cert.string());
    const HttpResult r = client.send(get(server.url("/secure", "https")), nullptr, kNever);
    INFO(r.error);
    CHECK_FALSE(r.got_response);
    CHECK(r.attempts == 1);
    CHECK(hits == 0);
    CHECK(r.error.find("not valid for 127.0.0.1") != std::string::npos);
}

TEST_CASE("http tells why it waits: each retry and its delay, without secrets", "[http]") {
    TestServer server;
    std::atomic<int> hits{0};
    server.routes().Get(R"(/limited/.*)", [&](const httplib::Request&, httplib::Response& res) {
        const int n = hits++;
        if (n == 0) {
            res.status = 429;
            res.set_header("Retry-After", "1");
        } else if (n == 1) {
            res.status = 503;
        } else {
            res.set_content("ok", "text/plain");
        }
    });
    server.start();
    ManualClock clock;
    HttpClient client(clock, fast_policy(5));
    std::vector<std::string> notes;
    const HttpResult r =
        client.send(get(server.url("/limited/x?apikey=query-secret-4711")), nullptr, kNever,
                    [&](const std::string& n) { notes.push_back(n); });
    CHECK(r.status == 200);
    REQUIRE(notes.size() == 2);
    CHECK(notes[0].find("HTTP 429 with Retry-After \"1\": retrying in 1000 ms (attempt 2 of 5)") !=
          std::string::npos);
    CHECK(notes[0].find("GET http://127.0.0.1:" + std::to_string(server.port()) + "/limited/x") == 0);
    CHECK(notes[1].find("HTTP 503: retrying in ") != std::string::npos);
    CHECK(notes[1].find("(attempt 3 of 5)") != std::string::npos);
    for (const auto& n : notes) CHECK(n.find("query-secret-4711") == std::string::npos);

    SECTION("a refused connection says so") {
        const int port = closed_port();
        notes.clear();
        client.send(get("http://127.0.0.1:" + std::to_string(port) + "/"), nullptr, kNever,
                    [&](const std::string& n) { notes.push_back(n); });
        REQUIRE(notes.size() == 4);  // five attempts, four waits
        CHECK(notes[0].find("could not connect") != std::string::npos);
    }
}
