// Loopback receivers for the notification tests: an SMTP server and a webhook endpoint.
// Included as "tests/support/notify_sinks.hpp" (the source root is on every target's include
// path).
#pragma once

#include <catch2/catch.hpp>
#include <httplib.h>

#include "inbox/webhook_spec.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace plexus::test {

// A loopback SMTP server that takes every message (RFC 5321's happy path, AUTH PLAIN and
// LOGIN): enough for libcurl's client, and it keeps what it was sent.
class SmtpSink {
public:
    struct Mail {
        std::string auth;  // "user\0password" as decoded from AUTH
        std::string from;
        std::vector<std::string> to;
        std::string data;
    };

    SmtpSink() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int yes = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        REQUIRE(::listen(fd_, 16) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~SmtpSink() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::vector<Mail> mails() {
        std::lock_guard<std::mutex> l(mutex_);
        return mails_;
    }

private:
    // AUTH's base64 (RFC 4954); empty when it is not base64.
    static std::string b64decode(const std::string& in) { return plexus::base64_decode(in).value_or(""); }
    // AUTH PLAIN's "authzid\0user\0password" as "user\0password" (authzid is empty).
    static std::string plain(const std::string& in) {
        std::string auth = b64decode(in);
        if (!auth.empty() && auth[0] == '\0') auth.erase(0, 1);
        return auth;
    }
    // One line (without CRLF); false when the client went away.
    static bool read_line(int c, std::string& buffer, std::string& line) {
        for (;;) {
            size_t pos = buffer.find("\r\n");
            if (pos != std::string::npos) {
                line = buffer.substr(0, pos);
                buffer.erase(0, pos + 2);
                return true;
            }
            char chunk[4096];
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0) return false;
            ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<size_t>(n));
        }
    }
    static void say(int c, const std::string& s) { ::send(c, s.data(), s.size(), MSG_NOSIGNAL); }

    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            session(c);
            ::close(c);
        }
    }
    void session(int c) {
        std::string buffer, line;
        Mail m;
        say(c, "220 sink.test ESMTP\r\n");
        while (read_line(c, buffer, line)) {
            std::string up = line.substr(0, 4);
            for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            if (up == "EHLO") say(c, "250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n");
            else if (up == "HELO") say(c, "250 sink.test\r\n");
            else if (up == "AUTH") {
                if (line.size() > 11 && line.compare(5, 6, "PLAIN ") == 0) {
                    m.auth = plain(line.substr(11));
                    say(c, "235 ok\r\n");
                } else if (line.compare(5, 5, "PLAIN") == 0) {
                    say(c, "334 \r\n");
                    if (!read_line(c, buffer, line)) return;
                    m.auth = plain(line);
                    say(c, "235 ok\r\n");
                } else {  // LOGIN, possibly with the user name already
                    std::string user;
                    if (line.size() > 11) user = b64decode(line.substr(11));
                    else {
                        say(c, "334 VXNlcm5hbWU6\r\n");
                        if (!read_line(c, buffer, line)) return;
                        user = b64decode(line);
                    }
                    say(c, "334 UGFzc3dvcmQ6\r\n");
                    if (!read_line(c, buffer, line)) return;
                    m.auth = user + std::string(1, '\0') + b64decode(line);
                    say(c, "235 ok\r\n");
                }
            } else if (up == "MAIL") {
                m.from = line;
                say(c, "250 ok\r\n");
            } else if (up == "RCPT") {
                m.to.push_back(line);
                say(c, "250 ok\r\n");
            } else if (up == "DATA") {
                say(c, "354 go on\r\n");
                std::string data;
                for (;;) {
                    if (!read_line(c, buffer, line)) return;
                    if (line == ".") break;
                    if (!line.empty() && line[0] == '.') line.erase(0, 1);
                    data += line + "\n";
                }
                m.data = data;
                {
                    std::lock_guard<std::mutex> l(mutex_);
                    mails_.push_back(m);
                }
                say(c, "250 queued\r\n");
                m = Mail{m.auth, {}, {}, {}};
            } else if (up == "QUIT") {
                say(c, "221 bye\r\n");
                return;
            } else if (up == "RSET" || up == "NOOP") say(c, "250 ok\r\n");
            else say(c, "502 not here\r\n");
        }
    }

    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mutex_;
    std::vector<Mail> mails_;
};

// A loopback webhook endpoint at `path` keeping every POST: {Content-Type, body}.
class HookSink {
public:
    explicit HookSink(std::string path) : path_(std::move(path)) {
        server_.Post(path_, [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> l(mutex_);
            posts_.push_back({req.get_header_value("Content-Type"), req.body});
            res.set_content("ok", "text/plain");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~HookSink() {
        server_.stop();
        thread_.join();
    }
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + path_; }
    std::vector<std::pair<std::string, std::string>> posts() {
        std::lock_guard<std::mutex> l(mutex_);
        return posts_;
    }

private:
    std::string path_;
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> posts_;
};

}  // namespace plexus::test
