#include "web/request_framing.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>

namespace plexus::web {
namespace {

std::string lower_trimmed(std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool numeric_address(const sockaddr_storage& addr, socklen_t len, std::string& host, int& port) {
    char h[NI_MAXHOST];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, h, sizeof h, nullptr, 0,
                    NI_NUMERICHOST) != 0)
        return false;
    host = h;
    if (addr.ss_family == AF_INET)
        port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    else if (addr.ss_family == AF_INET6)
        port = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    else
        return false;
    return true;
}

// The socket of this process connected from remote_addr:remote_port to local_port: httplib
// does not show a handler its connection, but the pair of endpoints names it uniquely.
int find_connection_socket(const httplib::Request& req) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        int fd = -1;
        try {
            fd = std::stoi(entry.path().filename().string());
        } catch (const std::exception&) {
            continue;
        }
        struct stat st {};
        if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        sockaddr_storage local{}, peer{};
        socklen_t local_len = sizeof local, peer_len = sizeof peer;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
        std::string local_host, peer_host;
        int local_port = 0, peer_port = 0;
        if (!numeric_address(local, local_len, local_host, local_port)) continue;
        if (!numeric_address(peer, peer_len, peer_host, peer_port)) continue;
        if (local_port == req.local_port && peer_port == req.remote_port &&
            peer_host == req.remote_addr && local_host == req.local_addr)
            return fd;
    }
    return -1;
}

const char* reason(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 415: return "Unsupported Media Type";
        case 503: return "Service Unavailable";
        default: return status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

bool send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

std::optional<FramingRefusal> body_framing_refusal(const httplib::Request& req, size_t max_body) {
    const bool has_te = req.has_header("Transfer-Encoding");
    const bool has_cl = req.has_header("Content-Length");
    const bool may_have_body = req.method == "POST" || req.method == "PUT" ||
                               req.method == "PATCH" || req.method == "DELETE";
    if (has_te && has_cl)
        return FramingRefusal{400, "bad_request",
                              "send either Content-Length or Transfer-Encoding: chunked, not both"};
    if (has_te) {
        if (req.get_header_value_count("Transfer-Encoding") != 1 ||
            lower_trimmed(req.get_header_value("Transfer-Encoding")) != "chunked")
            return FramingRefusal{400, "bad_request",
                                  "Transfer-Encoding \"" + req.get_header_value("Transfer-Encoding") +
                                      "\" is not supported; send Content-Length or chunked"};
        if (!may_have_body)
            return FramingRefusal{400, "bad_request", "a " + req.method + " request has no body"};
    }
    if (has_cl) {
        const std::string first = req.get_header_value("Content-Length");
        for (size_t i = 1; i < req.get_header_value_count("Content-Length"); ++i)
            if (req.get_header_value("Content-Length", i) != first)
                return FramingRefusal{400, "bad_request", "conflicting Content-Length headers"};
        const std::string v = lower_trimmed(first);
        if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
            return FramingRefusal{400, "bad_request",
                                  "Content-Length \"" + first.substr(0, 40) + "\" is not a number"};
        const unsigned long long n = std::stoull(v);
        if (n > max_body)
            return FramingRefusal{413, "too_large",
                                  "the request body is " + std::to_string(n) +
                                      " bytes; the limit is " + std::to_string(max_body)};
        if (n > 0 && !may_have_body)
            return FramingRefusal{400, "bad_request", "a " + req.method + " request has no body"};
    }
    if (!has_te && !has_cl &&
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH"))
        return FramingRefusal{411, "length_required",
                              "send the body with Content-Length or Transfer-Encoding: chunked "
                              "(\"{}\" when there is nothing to say)"};
    if ((has_te || has_cl) && req.is_multipart_form_data())
        return FramingRefusal{415, "unsupported_media_type",
                              "send the body as JSON with Content-Type: application/json"};
    return std::nullopt;
}

bool answer_and_close(const httplib::Request& req, httplib::Response& res) {
    auto& mutable_req = const_cast<httplib::Request&>(req);
    mutable_req.set_header("Connection", "close");
    res.set_header("Connection", "close");
    const int fd = find_connection_socket(req);
    if (fd < 0) return false;

    std::string text = "HTTP/1.1 " + std::to_string(res.status) + " " +
                       reason(res.status) + "\r\n";
    for (const auto& [name, value] : res.headers) {
        if (name == "Content-Length") continue;
        text += name + ": " + value + "\r\n";
    }
    text += "Content-Length: " + std::to_string(res.body.size()) + "\r\n\r\n" + res.body;
    send_all(fd, text);
    ::shutdown(fd, SHUT_WR);

    // Lingering close: read (and drop) what the client still sends, for at most 2 s or
    // 1 MiB, so that closing with unread data (a TCP reset) does not destroy our answer
    // before the client has read it. The client stops at our answer or our FIN.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    size_t drained = 0;
    char buf[16384];
    while (drained < (1u << 20)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r <= 0) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        drained += static_cast<size_t>(n);
    }
    return true;
}

BodyRead read_body(const httplib::ContentReader& reader, size_t max_body, std::string& body) {
    bool too_large = false;
    const bool complete = reader([&](const char* data, size_t n) {
        if (body.size() + n > max_body) {
            too_large = true;
            return false;
        }
        body.append(data, n);
        return true;
    });
    if (complete) return BodyRead::complete;
    return too_large ? BodyRead::too_large : BodyRead::unreadable;
}

}  // namespace plexus::web
