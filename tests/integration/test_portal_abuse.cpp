// The portal under hostile requests (issue 10, rows 3, 4, 5 and 9), against a real
// `plexus serve`: bodies over the limit refused before they are read (Content-Length or
// chunked, before authentication), bodies without a length refused, empty, malformed and
// duplicate-key bodies refused without a change, idle and slowloris connections that do not
// starve /api/health, and secret values masked in failed records' data.
#include "hardening_support.hpp"

#include <atomic>
#include <vector>

using namespace plexus::test;

namespace {

const char* k_login_head =
    "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

std::string chunk(const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
}

json error_of(const std::string& response) {
    const size_t body = response.find("\r\n\r\n");
    if (body == std::string::npos) return nullptr;
    json j = json::parse(response.substr(body + 4), nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"] : json(nullptr);
}

json schedule_of(const PortalLogin& s) {
    auto r = s.hub.client().Get("/api/processes/customers", s.headers());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return json::parse(r->body)["schedule"];
}

}  // namespace

TEST_CASE("portal abuse: a body over the limit is refused with 413 before it is read and before login",
          "[portal][abuse]") {
    ServedHub hub;
    REQUIRE(hub.start());

    SECTION("Content-Length of 400 MB, of which the server never gets more than a few bytes") {
        int fd = connect_loopback(hub.port);
        REQUIRE(fd >= 0);
        REQUIRE(send_text(fd, std::string(k_login_head) + "Content-Length: 419430400\r\n\r\n{\"name\":"));
        // The old server read (and dropped) the whole announced body before answering: with
        // the body never coming, no answer within the timeout.
        const std::string answer = receive_until_close(fd, 5000);
        ::close(fd);
        INFO(answer);
        CHECK(status_of(answer) == 413);
        CHECK(error_of(answer)["code"] == "too_large");
        CHECK(answer.find("Connection: close") != std::string::npos);
    }
    SECTION("chunked: the reading stops at the limit, whatever follows") {
        int fd = connect_loopback(hub.port);
        REQUIRE(fd >= 0);
        REQUIRE(send_text(fd, std::string(k_login_head) + "Transfer-Encoding: chunked\r\n\r\n" +
                                  chunk(std::string(40 * 1024, 'x')) + chunk(std::string(40 * 1024, 'y'))));
        // No terminating chunk: the old server waited for the rest (it would read 400 MB).
        const std::string answer = receive_until_close(fd, 5000);
        ::close(fd);
        INFO(answer);
        CHECK(status_of(answer) == 413);
        CHECK(error_of(answer)["code"] == "too_large");
    }
    SECTION("chunked PUT of a schedule without a session: 413, not read, not 401") {
        int fd = connect_loopback(hub.port);
        REQUIRE(fd >= 0);
        REQUIRE(send_text(fd, "PUT /api/processes/customers/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                  chunk(std::string(70 * 1024, ' '))));
        const std::string answer = receive_until_close(fd, 5000);
        ::close(fd);
        INFO(answer);
        CHECK(status_of(answer) == 413);
    }
    // The server is fine afterwards.
    auto r = hub.client().Get("/api/health");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("portal abuse: bodies without a length, empty, malformed or with duplicate keys change nothing",
          "[portal][abuse]") {
    ServedHub hub;
    hub.add_user("otto", "operator");
    REQUIRE(hub.start());
    PortalLogin otto = log_in(hub, "otto");
    auto c = hub.client();
    auto put_schedule = [&](const std::string& body) {
        auto r = c.Put("/api/processes/customers/schedule", otto.headers(), body, "application/json");
        REQUIRE(r);
        return *r;
    };
    REQUIRE(put_schedule(R"({"interval":"1h"})").status == 200);
    REQUIRE(schedule_of(otto)["interval"] == "1h");

    SECTION("an empty PUT is a 400, and the process keeps its schedule (not manual-only)") {
        auto r = put_schedule("");
        INFO(r.body);
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("empty"));
    }
    SECTION("a body of blanks, a cut-off body, a non-object") {
        CHECK(put_schedule("  \r\n").status == 400);
        CHECK(put_schedule(R"({"interval":)").status == 400);
        CHECK(put_schedule(R"("1h")").status == 400);
    }
    SECTION("duplicate keys are refused, at any depth") {
        auto r = put_schedule(R"({"interval":"2h","interval":""})");
        INFO(r.body);
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("twice"));
        auto login = c.Post("/api/login", R"({"name":"otto","name":"x","password":"otto-password-123"})",
                            "application/json");
        REQUIRE(login);
        CHECK(login->status == 400);
        auto replay = c.Post("/api/processes/customers/replay", otto.headers(),
                             R"({"source_keys":[{"a":1,"a":2}]})", "application/json");
        REQUIRE(replay);
        CHECK(replay->status == 400);
    }
    SECTION("a POST without Content-Length and not chunked: 411 before the body is read") {
        int fd = connect_loopback(hub.port);
        REQUIRE(fd >= 0);
        REQUIRE(send_text(fd, std::string(k_login_head) + "\r\n{\"name\":\"otto\"}"));
        // The old server read until the connection's end, which this client never sends.
        const std::string answer = receive_until_close(fd, 5000);
        ::close(fd);
        INFO(answer);
        CHECK(status_of(answer) == 411);
        CHECK(error_of(answer)["code"] == "length_required");
    }
    SECTION("Transfer-Encoding other than chunked, or with Content-Length: 400") {
        for (const char* framing : {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n"}) {
            int fd = connect_loopback(hub.port);
            REQUIRE(fd >= 0);
            REQUIRE(send_text(fd, std::string(k_login_head) + framing + "\r\n{}"));
            const std::string answer = receive_until_close(fd, 5000);
            ::close(fd);
            INFO(framing << answer);
            CHECK(status_of(answer) == 400);
        }
    }
    SECTION("a chunked body within the limit is read and answered as any other (docs/api.md)") {
        int fd = connect_loopback(hub.port);
        REQUIRE(fd >= 0);
        const std::string body = R"({"interval":"3h"})";
        REQUIRE(send_text(fd, "PUT /api/processes/customers/schedule HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\nContent-Type: application/json\r\nCookie: " +
                                  otto.cookie + "\r\nX-CSRF-Token: " + otto.csrf +
                                  "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body.substr(0, 5)) +
                                  chunk(body.substr(5)) + "0\r\n\r\n"));
        const std::string answer = receive_until_close(fd, 5000);
        ::close(fd);
        INFO(answer);
        CHECK(status_of(answer) == 200);
        CHECK(schedule_of(otto)["interval"] == "3h");
        REQUIRE(put_schedule(R"({"interval":"1h"})").status == 200);
    }
    CHECK(schedule_of(otto)["interval"] == "1h");
}

TEST_CASE("portal abuse: 2,000 idle and 300 slowloris connections leave /api/health answering",
          "[portal][abuse]") {
    allow_open_files(8192);
    ServedHub hub;
    REQUIRE(hub.start());
    std::vector<int> idle, slow;
    for (int i = 0; i < 2000; ++i) {
        int fd = connect_loopback(hub.port);
        if (fd >= 0) idle.push_back(fd);
    }
    for (int i = 0; i < 300; ++i) {
        int fd = connect_loopback(hub.port);
        if (fd < 0) continue;
        send_text(fd, "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        slow.push_back(fd);
    }
    CHECK(idle.size() == 2000);
    CHECK(slow.size() == 300);
    // The slow ones go on sending a header line a byte at a time, never ending it.
    std::atomic<bool> done{false};
    std::thread drip([&] {
        while (!done) {
            for (int fd : slow) ::send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    });
    // Each probe on a fresh connection must be answered within 1 s (the issue's bar; with
    // httplib's 8 workers it took minutes).
    int answered = 0;
    for (int i = 0; i < 5; ++i) {
        httplib::Client probe("127.0.0.1", hub.port);
        probe.set_connection_timeout(1, 0);
        probe.set_read_timeout(1, 0);
        probe.set_write_timeout(1, 0);
        auto r = probe.Get("/api/health");
        if (r && r->status == 200) ++answered;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    done = true;
    drip.join();
    for (int fd : idle) ::close(fd);
    for (int fd : slow) ::close(fd);
    CHECK(answered == 5);
    CHECK(hub.alive());
}

TEST_CASE("portal abuse: secret values in a failed record's data are masked in the API",
          "[portal][abuse]") {
    // A source record carrying the Shopify connection's token in a field, and failing to map.
    json leak = {{"id", "LEAK"},
                 {"credit", "not a number"},
                 {"note", std::string("token=") + k_hardening_secret},
                 {"nested", {{"k", json::array({k_hardening_secret})}}},
                 {"updated_at", "2024-05-01T11:00:00Z"}};
    ServedHub hub("", std::vector<json>{leak});
    hub.add_user("sue", "support");
    hub.add_user("otto", "operator");
    REQUIRE(hub.start());
    PortalLogin otto = log_in(hub, "otto");
    auto c = hub.client();
    auto run = c.Post("/api/processes/customers/run", otto.headers(), "{}", "application/json");
    REQUIRE(run);
    REQUIRE(run->status == 202);
    json failed;
    for (int i = 0; i < 200; ++i) {
        auto r = c.Get("/api/processes/customers/failed", otto.headers());
        REQUIRE(r);
        failed = json::parse(r->body);
        if (failed["total"] == 2) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(failed["total"] == 2);
    PortalLogin sue = log_in(hub, "sue");
    auto r = c.Get("/api/processes/customers/failed", sue.headers());
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->body.find(k_hardening_secret) == std::string::npos);
    bool seen = false;
    const json page = json::parse(r->body);
    for (const auto& item : page["items"]) {
        if (item["source_key"] != "LEAK") continue;
        seen = true;
        CHECK(item["record"]["data"]["note"] == "token=***");
        CHECK(item["record"]["data"]["nested"]["k"][0] == "***");
        CHECK(item["record"]["data"]["id"] == "LEAK");
    }
    CHECK(seen);
}
