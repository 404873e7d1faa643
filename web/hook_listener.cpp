#include "web/hook_listener.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "store/store.hpp"
#include "web/connection_threads.hpp"
#include "web/request_framing.hpp"

#include <httplib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <regex>

namespace plexus::web {
namespace {

using nlohmann::json;

void answer(httplib::Response& res, int status, const std::string& text) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(json{{"status", text}}.dump(), "application/json");
}

const std::regex& hook_path() {
    static const std::regex p(R"(/hooks/([A-Za-z0-9._-]{1,200}))");
    return p;
}

}  // namespace

struct HookListener::Impl {
    WebhookInbox& inbox;
    HookListenerOptions options;
    httplib::Server server;
    int bound_port = 0;
    int listen_socket = -1;

    // The connection a request is for, when the path is /hooks/{id} and it takes webhooks.
    std::optional<std::string> connection_of(const httplib::Request& req) {
        std::smatch m;
        if (!std::regex_match(req.path, m, hook_path())) return std::nullopt;
        std::string id = m[1];
        if (!inbox.accepts(id)) return std::nullopt;
        return id;
    }

    Impl(WebhookInbox& i, HookListenerOptions o) : inbox(i), options(std::move(o)) {
        server.set_payload_max_length(options.max_body);
        server.set_read_timeout(static_cast<time_t>(options.read_timeout_s), 0);
        server.set_write_timeout(30, 0);
        server.set_keep_alive_timeout(static_cast<time_t>(options.keep_alive_timeout_s));
        server.set_keep_alive_max_count(100);
        server.set_tcp_nodelay(true);
        const size_t max_connections = options.max_connections;
        server.new_task_queue = [max_connections] { return new ConnectionThreads(max_connections); };
        server.set_socket_options([this](int sock) {
            int yes = 1;
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            int defer_s = 120;  // as the portal: silent connections stay in the kernel
            setsockopt(sock, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
            // httplib writes an answer's headers and body separately: with Nagle on, the body
            // waited for the sender's delayed ACK, 40 ms per event (measured: 20 events/s
            // from one sender). Accepted sockets inherit the option.
            setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
            listen_socket = sock;
        });
        // Before any byte of a body: its framing and size, then whether the path names a
        // connection taking webhooks. A refused request's body is never read.
        auto refuse_early = [this](const httplib::Request& req, httplib::Response& res) -> int {
            if (auto refusal = body_framing_refusal(req, options.max_body)) {
                answer(res, refusal->status,
                       refusal->status == 413 ? "too large" : refusal->message);
                return refusal->status;
            }
            if (!connection_of(req)) {
                answer(res, 404, "no webhooks here");
                return 404;
            }
            if (req.method != "POST") {
                answer(res, 405, "POST only");
                return 405;
            }
            return 0;
        };
        server.set_pre_routing_handler([this, refuse_early](const httplib::Request& req,
                                                            httplib::Response& res) {
            if (refuse_early(req, res) == 0) return httplib::Server::HandlerResponse::Unhandled;
            answer_and_close(req, res);
            return httplib::Server::HandlerResponse::Handled;
        });
        server.set_expect_100_continue_handler([refuse_early](const httplib::Request& req,
                                                              httplib::Response& res) {
            const int status = refuse_early(req, res);
            if (status == 0) return 100;
            answer_and_close(req, res);
            return status;
        });
        server.Post(R"(/hooks/.*)", [this](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& reader) {
            std::string body;
            const BodyRead read = read_body(reader, options.max_body, body);
            if (read != BodyRead::complete) {
                const bool too_large = read == BodyRead::too_large;
                answer(res, too_large ? 413 : 400, too_large ? "too large" : "body could not be read");
                answer_and_close(req, res);
                return;
            }
            auto id = connection_of(req);
            if (!id) {
                answer(res, 404, "no webhooks here");
                return;
            }
            HeaderLookup header = [&req](const std::string& name) -> std::optional<std::string> {
                if (!req.has_header(name.c_str())) return std::nullopt;
                return req.get_header_value(name.c_str());
            };
            WebhookAnswer a;
            try {
                a = inbox.receive(*id, header, body);
            } catch (const StoreBusyError& e) {
                log_line(LogLevel::warn, LogTags{{}, 0, {}, *id},
                         "webhook not stored: " + global_redactor().redact(e.what()));
                res.set_header("Retry-After", "5");
                a = {503, "busy; retry later"};
            }
            if (a.status == 503 && !res.has_header("Retry-After")) res.set_header("Retry-After", "30");
            answer(res, a.status, a.message);
        });
        server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
            if (!res.body.empty()) return;
            answer(res, res.status, res.status == 404 ? "no webhooks here" : "refused");
        });
        server.set_exception_handler(
            [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
                std::string what = "internal error";
                try {
                    if (ep) std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what = e.what();
                } catch (...) {
                }
                log_line(LogLevel::error, LogTags{}, "webhook listener: " + global_redactor().redact(what));
                // Not stored (the store's transaction did not commit): the sender retries.
                answer(res, 500, "internal error");
            });
    }
};

HookListener::HookListener(WebhookInbox& inbox, HookListenerOptions options)
    : impl_(std::make_unique<Impl>(inbox, std::move(options))) {}

HookListener::~HookListener() { stop(); }

bool HookListener::bind(std::string& error) {
    const auto& o = impl_->options;
    if (o.port == 0) {
        impl_->bound_port = impl_->server.bind_to_any_port(o.host);
        if (impl_->bound_port <= 0) {
            error = "cannot listen on " + o.host + " (any port)";
            return false;
        }
    } else if (!impl_->server.bind_to_port(o.host, o.port)) {
        const int why = errno;
        error = "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                (why == EADDRINUSE ? std::string("the port is in use; choose another in hooks.listen")
                                   : std::string(std::strerror(why)));
        return false;
    } else {
        impl_->bound_port = o.port;
    }
    if (impl_->listen_socket >= 0) ::listen(impl_->listen_socket, 1024);
    return true;
}

int HookListener::port() const { return impl_->bound_port; }

void HookListener::serve() { impl_->server.listen_after_bind(); }

void HookListener::stop() {
    if (impl_->server.is_running()) impl_->server.stop();
}

}  // namespace plexus::web
