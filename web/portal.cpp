#include "web/portal.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "notify/attention.hpp"
#include "service/connection_admin.hpp"
#include "service/mapping_admin.hpp"
#include "web/assets.hpp"
#include "web/auth.hpp"
#include "web/connection_threads.hpp"
#include "web/export_stream.hpp"
#include "web/request_framing.hpp"
#include "web/strict_json.hpp"

#include <httplib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <functional>
#include <regex>
#include <set>

namespace plexus::web {
namespace {

using nlohmann::json;

// A request turned down with a status and a reason (docs/api.md, "Conventions").
struct ApiError {
    int status;
    std::string code;
    std::string message;
};

ApiError bad_request(std::string m) { return {400, "bad_request", std::move(m)}; }
ApiError not_found(std::string m) { return {404, "not_found", std::move(m)}; }

const char* k_session_cookie = "plexus_session";

struct Ctx {
    const httplib::Request& req;
    httplib::Response& res;
    std::smatch match;
    std::optional<Session> session;
    json body;  // POST/PUT/PATCH: the body, a JSON object (checked before the handler runs)
    std::string actor() const { return session ? session->user_name : ""; }
};

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
    send_json(res, e.status,
              {{"error", {{"status", e.status}, {"code", e.code},
                          {"message", global_redactor().redact(e.message)}}}});
}

// The request body as a JSON object; 415 / 400 otherwise. An empty body is refused: a
// request that means "nothing to say" sends {} (docs/api.md), so an empty or cut-off body
// can never be taken for an instruction such as "no schedule".
json body_object(const httplib::Request& req, const std::string& text) {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/json", 0) != 0)
        throw ApiError{415, "unsupported_media_type",
                       "send the body as JSON with Content-Type: application/json"};
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        throw bad_request("the body is empty; send a JSON object ({} when there is nothing to say)");
    StrictJson parsed = parse_strict_json(text);
    if (!parsed.error.empty()) throw bad_request("the body is " + (parsed.error.rfind("not", 0) == 0 ? parsed.error : "refused: " + parsed.error));
    if (!parsed.value.is_object()) throw bad_request("the body must be a JSON object");
    return std::move(parsed.value);
}

// The body's "source_keys": an array of at most 10000 strings (replay, dismiss, restore).
// `too_many` is the refusal past that bound.
std::vector<std::string> source_keys_field(const json& b, const std::string& too_many) {
    if (!b.contains("source_keys") || !b["source_keys"].is_array())
        throw bad_request("\"source_keys\" must be an array of strings");
    std::vector<std::string> keys;
    for (const auto& k : b["source_keys"]) {
        if (!k.is_string()) throw bad_request("\"source_keys\" must be an array of strings");
        keys.push_back(k.get<std::string>());
    }
    if (keys.size() > 10000) throw bad_request(too_many);
    return keys;
}

std::string string_field(const json& j, const char* name, bool required) {
    if (!j.contains(name)) {
        if (required) throw bad_request(std::string("\"") + name + "\" is missing");
        return "";
    }
    if (!j[name].is_string()) throw bad_request(std::string("\"") + name + "\" must be a string");
    return j[name].get<std::string>();
}

std::optional<std::string> param(const httplib::Request& req, const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    std::string v = req.get_param_value(name);
    if (v.empty()) return std::nullopt;
    return v;
}

int64_t int_param(const httplib::Request& req, const char* name, int64_t def, int64_t min,
                  int64_t max) {
    auto v = param(req, name);
    if (!v) return def;
    try {
        size_t used = 0;
        long long n = std::stoll(*v, &used);
        if (used != v->size()) throw std::invalid_argument("trailing");
        if (n < min || n > max) throw std::out_of_range("range");
        return n;
    } catch (const std::exception&) {
        throw bad_request(std::string("query parameter ") + name + "=\"" + *v +
                          "\" must be a whole number from " + std::to_string(min) + " to " +
                          std::to_string(max));
    }
}

std::optional<int64_t> time_param(const httplib::Request& req, const char* name) {
    auto v = param(req, name);
    if (!v) return std::nullopt;
    auto ms = parse_time_ms(*v);
    if (!ms)
        throw bad_request(std::string("query parameter ") + name + "=\"" + *v +
                          "\" is not a time; use 2024-05-01 or 2024-05-01T10:00:00Z");
    return ms;
}

json run_json(const RunRecord& r, Operations& ops) {
    RunCounts counts = r.counts;
    json live_view = nullptr;  // pages, rate and why it waits, while it runs here
    if (r.status == run_status::running) {
        if (auto live = ops.live_run(r.process_id); live && live->run_id == r.id) {
            counts = live->counts;
            live_view = ops.live_json(*live);
        }
    }
    return {{"id", r.id},
            {"live", live_view},
            {"process", r.process_id},
            {"trigger", r.trigger},
            {"status", r.status},
            {"message", global_redactor().redact(r.message)},
            {"started", time_or_null(r.started_ms)},
            {"finished", time_or_null(r.finished_ms)},
            {"duration_ms", r.finished_ms > 0 ? json(r.finished_ms - r.started_ms) : json(nullptr)},
            {"counts", counts_json(counts)}};
}

// `j` with secret values masked in every string (keys included) and every number whose text
// holds one: record data comes from a connector, which may echo its own token in a field
// (issue 10, row 9). Done on the values, not on the serialised text, so a mask can never
// cut through JSON syntax.
void redact_json(json& j) {
    const SecretRedactor& r = global_redactor();
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        if (r.contains_secret(s)) j = r.redact(s);
    } else if (j.is_number()) {
        if (r.contains_secret(j.dump())) j = std::string(SecretRedactor::kMask);
    } else if (j.is_array()) {
        for (auto& v : j) redact_json(v);
    } else if (j.is_object()) {
        bool key_has_secret = false;
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (r.contains_secret(it.key())) key_has_secret = true;
            redact_json(it.value());
        }
        if (key_has_secret) {
            json copy = json::object();
            for (auto it = j.begin(); it != j.end(); ++it) copy[r.redact(it.key())] = it.value();
            j = std::move(copy);
        }
    }
}

json outcome_json(const RecordOutcome& o) {
    return {{"id", o.id},
            {"run_id", o.run_id},
            {"process", o.process_id},
            {"source_key", o.source_key},
            {"target_key", o.target_key},
            {"action", o.action},
            {"error_class", o.error_class},
            {"message", global_redactor().redact(o.message)},
            {"attempts", o.attempts},
            {"started", time_or_null(o.started_ms)},
            {"finished", time_or_null(o.finished_ms)}};
}

// What a failed attempt sent and got back (docs/api.md, "Failed records"). The payload is
// JSON when it was kept whole, else the text kept (cut at 64 KiB); masked again with the
// secrets known now.
json attempt_json(const FailedAttempt& a) {
    const SecretRedactor& r = global_redactor();
    json payload = nullptr;
    bool truncated = false;
    if (a.payload) {
        truncated = a.payload_bytes > static_cast<int64_t>(a.payload->size());
        json parsed = truncated ? json() : json::parse(*a.payload, nullptr, false);
        if (!truncated && !parsed.is_discarded()) {
            redact_json(parsed);
            payload = std::move(parsed);
        } else {
            payload = r.redact(*a.payload);
        }
    }
    return {{"sent", a.payload.has_value()},
            {"operation", a.operation.empty() ? json(nullptr) : json(a.operation)},
            {"payload", payload},
            {"payload_bytes", a.payload_bytes},
            {"payload_truncated", truncated},
            {"note", r.redact(a.note)},
            {"answer", r.redact(a.answer)}};
}

const std::set<std::string> k_actions = {"created", "updated", "unchanged", "failed"};
const std::set<std::string> k_error_classes = {"auth", "rate_limit", "validation", "conflict",
                                               "transient", "plugin", "mapping", "dependency"};
const std::set<std::string> k_run_statuses = {"running", "succeeded", "succeeded_with_failures", "partial", "failed",
                                              "abandoned"};

// The outcome filters shared by /api/outcomes, /api/runs/{id}/outcomes and /api/export.
OutcomeQuery outcome_query(const httplib::Request& req, Operations& ops) {
    OutcomeQuery q;
    if (auto p = param(req, "process")) {
        if (!ops.has_process(*p)) throw bad_request("no process \"" + *p + "\"");
        q.process_id = *p;
    }
    if (param(req, "run")) q.run_id = int_param(req, "run", 0, 1, INT64_MAX);
    if (auto a = param(req, "action")) {
        if (!k_actions.count(*a))
            throw bad_request("action \"" + *a + "\" is none of created, updated, unchanged, failed");
        q.action = *a;
    }
    if (auto c = param(req, "error_class")) {
        if (!k_error_classes.count(*c))
            throw bad_request("error_class \"" + *c +
                              "\" is none of auth, rate_limit, validation, conflict, transient, "
                              "plugin, mapping, dependency");
        q.error_class = *c;
    }
    if (auto t = param(req, "text")) {
        if (t->size() > 200) throw bad_request("text is longer than 200 characters");
        q.text = *t;
    }
    q.started_from_ms = time_param(req, "from");
    q.started_to_ms = time_param(req, "to");
    return q;
}

// Outcome ids one filtered page searches at most. A filter that matches rarely (a text, a
// rare error class) would otherwise read a whole run of millions for one page; with the
// bound a page answers in milliseconds and may hold fewer items than asked, with
// `next_after` saying where the search goes on (docs/api.md).
constexpr int64_t k_search_window = 50000;

json outcome_page(Operations& ops, OutcomeQuery q, const httplib::Request& req) {
    q.limit = int_param(req, "limit", 100, 1, 500);
    q.after_id = int_param(req, "after", 0, 0, INT64_MAX);
    q.offset = 0;
    const bool filtered = q.action || q.error_class || q.text;
    if (filtered) q.max_id = q.after_id + k_search_window;
    // One more than asked tells whether there is a next page.
    OutcomeQuery probe = q;
    probe.limit = q.limit + 1;
    auto rows = ops.store().outcomes(probe);
    json items = json::array();
    const size_t n = std::min<size_t>(rows.size(), static_cast<size_t>(q.limit));
    for (size_t i = 0; i < n; ++i) items.push_back(outcome_json(rows[i]));
    json next = nullptr;
    if (rows.size() > n) next = rows[n - 1].id;
    else if (filtered && *q.max_id < ops.store().last_outcome_id(q))
        next = *q.max_id;  // nothing more in this window; the search goes on after it
    return {{"items", items}, {"next_after", next}, {"limit", q.limit}};
}

void send_op(Ctx&, const OpResult& r, const std::function<void()>& on_ok) {
    switch (r.status) {
        case OpStatus::ok: on_ok(); return;
        case OpStatus::not_found: throw not_found(r.message);
        case OpStatus::conflict: throw ApiError{409, "conflict", r.message};
        case OpStatus::invalid: throw bad_request(r.message);
    }
}

json user_json(const User& u) {
    return {{"name", u.name}, {"role", u.role}, {"created", time_or_null(u.created_ms)}};
}

std::string cookie_value(const httplib::Request& req, const std::string& name) {
    const std::string header = req.get_header_value("Cookie");
    size_t pos = 0;
    while (pos < header.size()) {
        size_t end = header.find(';', pos);
        if (end == std::string::npos) end = header.size();
        std::string part = header.substr(pos, end - pos);
        part.erase(0, part.find_first_not_of(' '));
        if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
        pos = end + 1;
    }
    return "";
}

// "Basic base64(name:password)" → name, password.
bool basic_credentials(const httplib::Request& req, std::string& name, std::string& password) {
    const std::string h = req.get_header_value("Authorization");
    if (h.rfind("Basic ", 0) != 0) return false;
    static const std::string chars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -8;
    for (size_t i = 6; i < h.size(); ++i) {
        char ch = h[i];
        if (ch == '=') break;
        size_t d = chars.find(ch);
        if (d == std::string::npos) return false;
        val = (val << 6) + static_cast<int>(d);
        bits += 6;
        if (bits >= 0) {
            out.push_back(static_cast<char>((val >> bits) & 0xFF));
            bits -= 8;
        }
    }
    size_t colon = out.find(':');
    if (colon == std::string::npos) return false;
    name = out.substr(0, colon);
    password = out.substr(colon + 1);
    return true;
}

// 400 with the problems by field (docs/api.md, "Connections"), or the status of the write.
void send_connection_write(Ctx& c, const ConnectionWrite& w, int ok_status) {
    if (w.status == OpStatus::ok) {
        send_json(c.res, ok_status, w.view);
        return;
    }
    const int status = w.status == OpStatus::not_found ? 404
                       : w.status == OpStatus::conflict ? 409
                                                        : 400;
    const char* code = status == 404 ? "not_found" : status == 409 ? "conflict" : "bad_request";
    std::string message = w.message;
    json errors = json::array();
    for (const auto& e : w.errors) {
        errors.push_back({{"field", e.field}, {"message", global_redactor().redact(e.message)}});
        if (message.empty()) message = e.field + ": " + e.message;
        else if (w.message.empty()) message += "; " + e.field + ": " + e.message;
    }
    send_json(c.res, status,
              {{"error", {{"status", status}, {"code", code},
                          {"message", global_redactor().redact(message)}}},
               {"errors", errors}});
}

}  // namespace

struct Portal::Impl {
    using Handler = std::function<void(Ctx&)>;
    struct Route {
        std::string method;
        std::regex pattern;
        int min_rank;  // 0: no session needed
        Handler handler;
    };

    Operations& ops;
    PortalOptions options;
    ConnectionAdmin connections;
    MappingAdmin mappings;  // add_mapping_routes()
    httplib::Server server;
    std::vector<Route> routes;
    int bound_port = 0;
    int listen_socket = -1;  // set by the socket options callback when binding
    std::string export_dir;

    // Failed logins per user name in the last k_login_window_ms: past k_login_failures the
    // name is refused (429) until the window has passed, so a password cannot be guessed
    // at the speed of the server. Bounded in size; a success clears the name.
    static constexpr int k_login_failures = 5;
    static constexpr int64_t k_login_window_ms = 15 * 60 * 1000;
    std::mutex login_mutex;
    std::map<std::string, std::deque<int64_t>> login_failures;

    // Seconds until `name` may try again; 0 when it may now.
    int64_t login_blocked_s(const std::string& name, int64_t now) {
        std::lock_guard<std::mutex> lock(login_mutex);
        auto it = login_failures.find(name);
        if (it == login_failures.end()) return 0;
        auto& q = it->second;
        while (!q.empty() && q.front() <= now - k_login_window_ms) q.pop_front();
        if (q.empty()) {
            login_failures.erase(it);
            return 0;
        }
        if (static_cast<int>(q.size()) < k_login_failures) return 0;
        return (q.front() + k_login_window_ms - now + 999) / 1000;
    }
    void login_failed(const std::string& name, int64_t now) {
        std::lock_guard<std::mutex> lock(login_mutex);
        if (login_failures.size() > 10000) {
            for (auto it = login_failures.begin(); it != login_failures.end();) {
                if (it->second.empty() || it->second.back() <= now - k_login_window_ms)
                    it = login_failures.erase(it);
                else
                    ++it;
            }
            if (login_failures.size() > 10000) login_failures.clear();
        }
        login_failures[name].push_back(now);
    }
    void login_succeeded(const std::string& name) {
        std::lock_guard<std::mutex> lock(login_mutex);
        login_failures.erase(name);
    }

    Impl(Operations& o, PortalOptions opt)
        : ops(o), options(std::move(opt)), connections(o, options.secret_key), mappings(o.hub()) {
        export_dir = options.data_dir + "/exports";
        // Connections and their timeouts (docs/design/005-bounded-portal.md): a thread per
        // connection up to max_connections; a connection that says nothing for
        // keep_alive_timeout_s, or stalls a read for read_timeout_s, is closed.
        server.set_payload_max_length(options.max_body);
        server.set_read_timeout(static_cast<time_t>(options.read_timeout_s), 0);
        server.set_write_timeout(300, 0);
        server.set_keep_alive_timeout(static_cast<time_t>(options.keep_alive_timeout_s));
        server.set_keep_alive_max_count(100);
        const size_t max_connections = options.max_connections;
        server.new_task_queue = [max_connections] {
            return new ConnectionThreads(max_connections);
        };
        // httplib's default also sets SO_REUSEPORT, which lets a second hub bind the same
        // port and take half of the connections (issue 10, row 6). SO_REUSEADDR alone still
        // allows a restart while old connections sit in TIME_WAIT, and refuses a port that
        // another socket listens on.
        server.set_socket_options([this](int sock) {
            int yes = 1;
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            // A connection that sends nothing never reaches the portal: the kernel wakes
            // accept() only once its first bytes arrive, and drops it silently when none
            // come before its SYN-ACK retries run out (about 30-60 s; a deferral longer
            // than the retries means "never accept a silent connection"). httplib's wait
            // for a first request polls every 10 ms: 2,000 silent connections in that wait
            // kept both cores busy, and a deferral shorter than the retries only moved that
            // storm to its end (docs/design/005-bounded-portal.md).
            int defer_s = 120;
            setsockopt(sock, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
            listen_socket = sock;
        });
        // Body framing before anything else: no byte of a refused body is read, and the
        // answer does not depend on a session (issue 10, row 4).
        server.set_pre_routing_handler([this](const httplib::Request& req,
                                              httplib::Response& res) {
            auto refusal = body_framing_refusal(req, options.max_body);
            if (!refusal) return httplib::Server::HandlerResponse::Unhandled;
            security_headers(res);
            send_error(res, {refusal->status, refusal->code, refusal->message});
            answer_and_close(req, res);
            return httplib::Server::HandlerResponse::Handled;
        });
        server.set_expect_100_continue_handler([this](const httplib::Request& req,
                                                      httplib::Response& res) {
            auto refusal = body_framing_refusal(req, options.max_body);
            if (!refusal) return 100;
            security_headers(res);
            send_error(res, {refusal->status, refusal->code, refusal->message});
            answer_and_close(req, res);
            return refusal->status;
        });
        auto dispatch_fn = [this](const httplib::Request& req, httplib::Response& res) {
            dispatch(req, res, "");
        };
        // Bodies are read here, never by httplib into req.body: the reader stops at
        // max_body, whether the body comes with a Content-Length or chunked.
        auto read_then_dispatch = [this](const httplib::Request& req, httplib::Response& res,
                                         const httplib::ContentReader& reader) {
            std::string body;
            const BodyRead read = read_body(reader, options.max_body, body);
            if (read != BodyRead::complete) {
                security_headers(res);
                if (read == BodyRead::too_large)
                    send_error(res, {413, "too_large",
                                     "the request body is over the limit of " +
                                         std::to_string(options.max_body) + " bytes"});
                else
                    send_error(res, {400, "bad_request",
                                     "the request body could not be read (cut off, or bad "
                                     "chunked encoding)"});
                answer_and_close(req, res);
                return;
            }
            dispatch(req, res, body);
        };
        for (const char* pattern : {R"(/.*)"}) {
            server.Get(pattern, dispatch_fn);
            server.Post(pattern, read_then_dispatch);
            server.Put(pattern, read_then_dispatch);
            server.Delete(pattern, read_then_dispatch);
            server.Patch(pattern, read_then_dispatch);
            server.Options(pattern, dispatch_fn);
        }
        server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
            if (!res.body.empty()) return;
            if (res.status == 413)
                send_error(res, {413, "too_large", "the request body is too large"});
            else if (res.status >= 400)
                send_error(res, {res.status, res.status == 404 ? "not_found" : "bad_request",
                                 "the request was refused (HTTP " + std::to_string(res.status) +
                                     ")"});
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
                log_line(LogLevel::error, LogTags{}, "portal: " + global_redactor().redact(what));
                send_error(res, {500, "internal", "internal error; see the server log"});
            });
        add_routes();
    }

    void route(const std::string& method, const std::string& pattern, int rank, Handler h) {
        routes.push_back(Route{method, std::regex(pattern), rank, std::move(h)});
    }

    static void security_headers(httplib::Response& res) {
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("X-Frame-Options", "DENY");
        res.set_header("Referrer-Policy", "no-referrer");
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                       "base-uri 'none'; form-action 'self'");
    }

    void dispatch(const httplib::Request& req, httplib::Response& res, const std::string& body) {
        security_headers(res);
        try {
            const bool api = req.path.rfind("/api/", 0) == 0 || req.path == "/metrics";
            if (!api) {
                serve_static(req, res);
                return;
            }
            res.set_header("Cache-Control", "no-store");
            // Find the route: path first (404), then method (405).
            const Route* found = nullptr;
            bool path_known = false;
            std::smatch m;
            for (const Route& r : routes) {
                if (!std::regex_match(req.path, m, r.pattern)) continue;
                path_known = true;
                if (r.method == req.method) {
                    found = &r;
                    break;
                }
            }
            if (!found) {
                if (path_known) throw ApiError{405, "method_not_allowed",
                                               req.method + " is not allowed on " + req.path};
                throw not_found("no such API endpoint: " + req.path);
            }
            std::regex_match(req.path, m, found->pattern);
            Ctx c{req, res, m, std::nullopt, json()};
            if (found->min_rank > 0) {
                c.session = authenticate(req, res, req.path == "/metrics");
                if (!c.session)
                    throw ApiError{401, "unauthenticated", "log in first"};
                if (req.method != "GET" && !c.session->token_hash.empty()) {
                    const std::string sent = req.get_header_value("X-CSRF-Token");
                    if (sent.empty() || !same(sent, c.session->csrf_token))
                        throw ApiError{403, "csrf",
                                       "missing or wrong X-CSRF-Token header; reload the page"};
                }
                if (role_rank(c.session->role) < found->min_rank)
                    throw ApiError{403, "forbidden",
                                   "the role " + c.session->role + " may not do this"};
            }
            if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")
                c.body = body_object(req, body);
            found->handler(c);
        } catch (const ApiError& e) {
            send_error(res, e);
        } catch (const StoreBusyError& e) {
            // Another process holds the database's lock past the busy timeout: this request
            // fails, the hub carries on (issue 10, row 7).
            log_line(LogLevel::warn, LogTags{},
                     "portal: " + req.method + " " + req.path + ": " +
                         global_redactor().redact(e.what()));
            res.set_header("Retry-After", "5");
            send_error(res, {503, "unavailable",
                             "the database is locked by another process; nothing was changed, "
                             "try again in a few seconds"});
        } catch (const std::exception& e) {
            log_line(LogLevel::error, LogTags{},
                     "portal: " + req.method + " " + req.path + ": " +
                         global_redactor().redact(e.what()));
            send_error(res, {500, "internal", "internal error; see the server log"});
        }
    }

    // The session of the cookie (renewed), or for /metrics of HTTP Basic credentials.
    std::optional<Session> authenticate(const httplib::Request& req, httplib::Response& res,
                                        bool allow_basic) {
        Store& store = ops.store();
        const int64_t now = ops.hub().clock().now_ms();
        const std::string token = cookie_value(req, k_session_cookie);
        if (!token.empty() && token.size() <= 128) {
            const std::string h = token_hash(token);
            if (auto s = store.session(h, now)) {
                // Renew the idle expiry at most once a minute (a write per request is waste).
                if (now - s->last_seen_ms > 60000) {
                    int64_t expires = std::min(s->created_ms + options.session_ttl_ms,
                                               now + options.session_idle_ms);
                    store.touch_session(h, now, expires);
                }
                return s;
            }
            clear_cookie(res);
        }
        if (allow_basic) {
            std::string name, password;
            if (basic_credentials(req, name, password)) {
                auto u = store.user(name);
                if (u && !u->disabled && verify_password(u->password_hash, password)) {
                    Session s;
                    s.user_id = u->id;
                    s.user_name = u->name;
                    s.role = u->role;
                    return s;  // token_hash empty: no CSRF for Basic (GET only anyway)
                }
                if (!u) verify_dummy(password);
            }
        }
        return std::nullopt;
    }

    void set_cookie(httplib::Response& res, const std::string& token) {
        std::string c = std::string(k_session_cookie) + "=" + token +
                        "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                        std::to_string(options.session_ttl_ms / 1000);
        if (options.secure_cookie) c += "; Secure";
        res.set_header("Set-Cookie", c);
    }

    void clear_cookie(httplib::Response& res) {
        std::string c = std::string(k_session_cookie) +
                        "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
        if (options.secure_cookie) c += "; Secure";
        res.set_header("Set-Cookie", c);
    }

    void serve_static(const httplib::Request& req, httplib::Response& res) {
        if (req.method != "GET" && req.method != "HEAD") {
            send_error(res, {405, "method_not_allowed", req.method + " is not allowed here"});
            return;
        }
        std::string path = req.path;
        if (path == "/" || path.empty()) path = "/index.html";
        const Asset* a = path.size() > 1 ? find_asset(std::string_view(path).substr(1)) : nullptr;
        if (!a) {
            res.status = 404;
            res.set_content("not found", "text/plain; charset=utf-8");
            return;
        }
        res.set_header("Cache-Control", "no-cache");
        res.set_content(reinterpret_cast<const char*>(a->data), a->size,
                        std::string(a->content_type));
    }

    // --- the routes -------------------------------------------------------------------------

    void add_routes() {
        constexpr int anyone = 0, support = 1, operator_ = 2, admin = 3;
        const std::string id = R"(([A-Za-z0-9._:@-]{1,200}))";

        route("GET", "/api/health", anyone, [](Ctx& c) {
            send_json(c.res, 200, {{"status", "ok"}, {"version", PLEXUS_VERSION_TEXT}});
        });

        // --- sessions ---
        route("POST", "/api/login", anyone, [this](Ctx& c) { login(c); });
        route("POST", "/api/logout", support, [this](Ctx& c) {
            ops.store().delete_session(c.session->token_hash);
            clear_cookie(c.res);
            c.res.status = 204;
        });
        route("GET", "/api/session", support, [](Ctx& c) {
            send_json(c.res, 200,
                      {{"user", {{"name", c.session->user_name}, {"role", c.session->role}}},
                       {"csrf_token", c.session->csrf_token}});
        });

        // --- processes ---
        route("GET", "/api/processes", support,
              [this](Ctx& c) { send_json(c.res, 200, ops.processes_view()); });
        route("GET", "/api/processes/" + id, support, [this](Ctx& c) {
            send_json(c.res, 200, process_or_404(c.match[1]));
        });
        for (bool enable : {true, false}) {
            route("POST", "/api/processes/" + id + (enable ? "/enable" : "/disable"), operator_,
                  [this, enable](Ctx& c) {
                      const std::string pid = c.match[1];
                      send_op(c, ops.set_enabled(pid, enable, c.actor()),
                              [&] { send_json(c.res, 200, ops.process_view(pid)); });
                  });
        }
        route("PUT", "/api/processes/" + id + "/schedule", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            for (auto it = b.begin(); it != b.end(); ++it)
                if (it.key() != "cron" && it.key() != "interval" && it.key() != "timezone")
                    throw bad_request("unknown field \"" + it.key() +
                                      "\"; a schedule has cron, interval and timezone");
            ScheduleEdit e{string_field(b, "cron", false), string_field(b, "interval", false),
                           string_field(b, "timezone", false)};
            send_op(c, ops.set_schedule(pid, e, c.actor()),
                    [&] { send_json(c.res, 200, ops.process_view(pid)); });
        });
        // A first sync: every enabled process once, in dependency order (docs/api.md).
        route("POST", "/api/run-all", operator_, [this](Ctx& c) {
            std::vector<std::string> order;
            const OpResult r = ops.run_all("run-all", false, c.actor(), &order);
            send_op(c, r, [&] {
                send_json(c.res, order.empty() ? 200 : 202,
                          {{"accepted", !order.empty()}, {"order", order},
                           {"message", r.message}});
            });
        });
        // Groups: a panel per group of processes (docs/api.md, "Groups").
        route("GET", "/api/groups", support,
              [this](Ctx& c) { send_json(c.res, 200, ops.groups_view()); });
        for (bool enable : {true, false}) {
            route("POST", "/api/groups/" + id + (enable ? "/enable" : "/disable"), operator_,
                  [this, enable](Ctx& c) {
                      send_op(c, ops.set_group_enabled(c.match[1], enable, c.actor()),
                              [&] { send_json(c.res, 200, ops.groups_view()); });
                  });
        }
        route("POST", "/api/groups/" + id + "/actions/" + id, operator_, [this](Ctx& c) {
            json& b = c.body;
            for (auto it = b.begin(); it != b.end(); ++it)
                if (it.key() != "from")
                    throw bad_request("unknown field \"" + it.key() + "\"; an action takes only \"from\"");
            std::vector<std::string> started;
            send_op(c, ops.run_group_action(c.match[1], c.match[2], string_field(b, "from", false),
                                            c.actor(), &started),
                    [&] { send_json(c.res, 202, {{"accepted", true}, {"started", started}}); });
        });
        route("GET", "/api/run-all", support,
              [this](Ctx& c) { send_json(c.res, 200, {{"run_all", ops.run_all_view()}}); });
        route("POST", "/api/processes/" + id + "/run", operator_, [this](Ctx& c) {
            send_op(c, ops.run_now(c.match[1], c.actor()),
                    [&] { send_json(c.res, 202, {{"accepted", true}}); });
        });
        // The failed queue: waiting records, or (state=dismissed) those an operator took out.
        route("GET", "/api/processes/" + id + "/failed", support, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            const int64_t limit = int_param(c.req, "limit", 50, 1, 500);
            const int64_t offset = int_param(c.req, "offset", 0, 0, INT64_MAX);
            FailedState state = FailedState::waiting;
            if (auto s = param(c.req, "state")) {
                if (*s == "dismissed") state = FailedState::dismissed;
                else if (*s != "waiting")
                    throw bad_request("state \"" + *s + "\" is neither waiting nor dismissed");
            }
            json items = json::array();
            for (const auto& f : ops.store().failed_records(pid, limit, offset, state)) {
                json record = json::parse(f.record_json, nullptr, false);
                if (!record.is_discarded()) redact_json(record);
                json item = {{"source_key", f.source_key},
                             {"error_class", f.error_class},
                             {"message", global_redactor().redact(f.message)},
                             {"attempts", f.attempts},
                             {"first_failed", time_or_null(f.first_failed_ms)},
                             {"last_failed", time_or_null(f.last_failed_ms)},
                             {"record", record.is_discarded() ? json(nullptr) : record}};
                if (f.dismissed_ms) {
                    item["dismissed"] = time_or_null(f.dismissed_ms);
                    item["dismissed_by"] = f.dismissed_by;
                    item["dismiss_reason"] = global_redactor().redact(f.dismiss_reason);
                }
                items.push_back(std::move(item));
            }
            send_json(c.res, 200,
                      {{"items", items},
                       {"state", state == FailedState::dismissed ? "dismissed" : "waiting"},
                       {"total", ops.store().failed_count(pid, state)},
                       {"dismissed_total", ops.store().failed_count(pid, FailedState::dismissed)},
                       {"limit", limit},
                       {"offset", offset}});
        });
        route("POST", "/api/processes/" + id + "/replay", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            std::optional<std::vector<std::string>> keys;
            if (b.contains("source_keys"))
                keys = source_keys_field(b, "at most 10000 source_keys at once; replay all with {}");
            int64_t n = 0;
            send_op(c, ops.replay(pid, keys, c.actor(), &n), [&] {
                send_json(c.res, 202, {{"accepted", true}, {"records", n}});
            });
        });
        route("POST", "/api/processes/" + id + "/dismiss", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            for (auto it = b.begin(); it != b.end(); ++it)
                if (it.key() != "source_keys" && it.key() != "reason")
                    throw bad_request("unknown field \"" + it.key() + "\"; send source_keys and reason");
            const auto keys = source_keys_field(b, "at most 10000 source_keys at once");
            int64_t n = 0;
            send_op(c, ops.dismiss_failed(pid, keys, string_field(b, "reason", true), c.actor(), &n),
                    [&] { send_json(c.res, 200, {{"dismissed", n}}); });
        });
        // Dismissed records back into the queue (docs/api.md).
        route("POST", "/api/processes/" + id + "/restore", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            for (auto it = b.begin(); it != b.end(); ++it)
                if (it.key() != "source_keys")
                    throw bad_request("unknown field \"" + it.key() + "\"; send source_keys");
            const auto keys = source_keys_field(b, "at most 10000 source_keys at once");
            int64_t n = 0;
            send_op(c, ops.restore_failed(pid, keys, c.actor(), &n),
                    [&] { send_json(c.res, 200, {{"restored", n}}); });
        });
        route("POST", "/api/processes/" + id + "/reconcile", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            bool adopt = false;
            if (b.contains("adopt")) {
                if (!b["adopt"].is_boolean()) throw bad_request("\"adopt\" must be true or false");
                adopt = b["adopt"].get<bool>();
            }
            send_op(c, ops.start_reconcile(pid, adopt, c.actor()),
                    [&] { send_json(c.res, 202, {{"accepted", true}}); });
        });
        route("GET", "/api/processes/" + id + "/reconcile", support, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            send_json(c.res, 200, ops.reconcile_view(pid));
        });
        route("POST", "/api/processes/" + id + "/rewind", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            const std::string to = string_field(b, "to", true);
            send_op(c, ops.rewind(pid, to, c.actor()),
                    [&] { send_json(c.res, 200, ops.process_view(pid)); });
        });

        // --- runs and outcomes ---
        route("GET", "/api/runs", support, [this](Ctx& c) {
            RunQuery q;
            if (auto p = param(c.req, "process")) q.process_id = *p;
            if (auto s = param(c.req, "status")) {
                if (!k_run_statuses.count(*s))
                    throw bad_request("status \"" + *s +
                                      "\" is none of running, succeeded, succeeded_with_failures, partial, failed, abandoned");
                q.status = *s;
            }
            q.started_from_ms = time_param(c.req, "from");
            q.started_to_ms = time_param(c.req, "to");
            q.limit = int_param(c.req, "limit", 50, 1, 500);
            q.offset = int_param(c.req, "offset", 0, 0, INT64_MAX);
            json items = json::array();
            for (const auto& r : ops.store().runs(q)) items.push_back(run_json(r, ops));
            send_json(c.res, 200, {{"items", items}, {"total", ops.store().run_count(q)},
                                   {"limit", q.limit}, {"offset", q.offset}});
        });
        route("GET", R"(/api/runs/(\d{1,18}))", support, [this](Ctx& c) {
            auto r = ops.store().run(std::stoll(c.match[1]));
            if (!r) throw not_found("no run " + std::string(c.match[1]));
            send_json(c.res, 200, run_json(*r, ops));
        });
        route("GET", R"(/api/runs/(\d{1,18})/outcomes)", support, [this](Ctx& c) {
            const int64_t run_id = std::stoll(c.match[1]);
            if (!ops.store().run(run_id)) throw not_found("no run " + std::to_string(run_id));
            OutcomeQuery q = outcome_query(c.req, ops);
            q.run_id = run_id;
            send_json(c.res, 200, outcome_page(ops, q, c.req));
        });
        // One outcome, and for a failure what its attempt sent and what the target answered.
        route("GET", R"(/api/outcomes/(\d{1,18}))", support, [this](Ctx& c) {
            const int64_t oid = std::stoll(c.match[1]);
            auto o = ops.store().outcome(oid);
            if (!o) throw not_found("no record outcome " + std::string(c.match[1]));
            json v = outcome_json(*o);
            v["attempt"] = nullptr;
            if (auto a = ops.store().failed_attempt(oid)) v["attempt"] = attempt_json(*a);
            send_json(c.res, 200, v);
        });
        route("GET", "/api/outcomes", support, [this](Ctx& c) {
            send_json(c.res, 200, outcome_page(ops, outcome_query(c.req, ops), c.req));
        });
        route("GET", "/api/export", support, [this](Ctx& c) { export_outcomes(c); });

        // --- audit, connections, plugins ---
        route("GET", "/api/audit", support, [this](Ctx& c) {
            const int64_t limit = int_param(c.req, "limit", 50, 1, 500);
            const int64_t offset = int_param(c.req, "offset", 0, 0, INT64_MAX);
            json items = json::array();
            for (const auto& a : ops.store().audit_log(limit, offset)) {
                json detail = json::parse(a.detail, nullptr, false);
                if (detail.is_discarded()) detail = global_redactor().redact(a.detail);
                else redact_json(detail);
                items.push_back({{"id", a.id}, {"at", iso_utc(a.at_ms)}, {"actor", a.actor},
                                 {"action", a.action}, {"subject", a.subject},
                                 {"detail", detail.is_discarded() ? json(a.detail) : detail}});
            }
            send_json(c.res, 200, {{"items", items}, {"limit", limit}, {"offset", offset}});
        });
        // Connections: the file's (read-only) and the portal's (secrets sealed in the store,
        // write-only: core/service/connection_admin.hpp).
        route("GET", "/api/connections", support,
              [this](Ctx& c) { send_json(c.res, 200, connections.connections_view()); });
        route("POST", "/api/connections", admin, [this](Ctx& c) {
            send_connection_write(c, connections.create(c.body, c.actor()), 201);
        });
        route("GET", "/api/connections/" + id, support, [this](Ctx& c) {
            const std::string cid = c.match[1];
            auto v = connections.connection_view(cid);
            if (!v) throw not_found("no connection \"" + cid + "\"");
            send_json(c.res, 200, *v);
        });
        route("PUT", "/api/connections/" + id, admin, [this](Ctx& c) {
            send_connection_write(c, connections.update(c.match[1], c.body, c.actor()), 200);
        });
        route("DELETE", "/api/connections/" + id, admin, [this](Ctx& c) {
            send_op(c, connections.remove(c.match[1], c.actor()), [&] { c.res.status = 204; });
        });
        route("GET", "/api/plugins/" + id + "/settings-schema", support, [this](Ctx& c) {
            const std::string pid = c.match[1];
            auto v = connections.settings_schema(pid);
            if (!v) throw not_found("no installed connector \"" + pid + "\"");
            send_json(c.res, 200, *v);
        });
        route("POST", "/api/connections/" + id + "/test", admin, [this](Ctx& c) {
            const std::string cid = c.match[1];
            if (!connections.exists(cid)) throw not_found("no connection \"" + cid + "\"");
            ConnectionTest t = connections.test(cid, c.actor());
            json j = {{"ok", t.ok}, {"message", t.message}, {"duration_ms", t.duration_ms}};
            if (!t.ok) j["error_class"] = t.error_class;
            send_json(c.res, 200, j);
        });
        route("GET", "/api/plugins", support, [this](Ctx& c) {
            json v = ops.plugins_view();
            for (auto& l : v["loaded"]) l.erase("manifest");
            send_json(c.res, 200, v);
        });

        // --- webhook inbox (docs/design/007-webhook-inbox.md) ---
        // Lists carry no bodies. One event's body (it may hold personal data: a customer's
        // name, an e-mail) is read on its own, with secret values masked, and the reading is
        // audited — the same rule as a failed record's data (any logged-in role may read it).
        route("GET", "/api/inbox", support,
              [this](Ctx& c) { send_json(c.res, 200, ops.inbox().view()); });
        route("GET", "/api/inbox/" + id, support, [this](Ctx& c) {
            const std::string cid = c.match[1];
            const int64_t limit = int_param(c.req, "limit", 50, 1, 500);
            const int64_t before = int_param(c.req, "before", 0, 0, INT64_MAX);
            auto v = ops.inbox().connection_view(cid, before, limit);
            if (!v) throw not_found("connection \"" + cid + "\" takes no webhooks");
            send_json(c.res, 200, *v);
        });
        route("GET", "/api/inbox/" + id + R"(/events/(\d{1,18}))", support, [this](Ctx& c) {
            const std::string cid = c.match[1];
            const int64_t seq = std::stoll(c.match[2]);
            auto v = ops.inbox().event_view(cid, seq);
            if (!v) throw not_found("no event " + std::to_string(seq) + " of \"" + cid + "\"");
            redact_json((*v)["body"]);
            ops.store().audit(AuditEntry{0, ops.hub().clock().now_ms(), c.actor(), "inbox.view_event",
                                         cid, json{{"seq", seq}}.dump()});
            send_json(c.res, 200, *v);
        });

        // --- users ---
        route("GET", "/api/users", admin, [this](Ctx& c) {
            json items = json::array();
            for (const auto& u : ops.store().users()) items.push_back(user_json(u));
            send_json(c.res, 200, {{"items", items}});
        });
        route("POST", "/api/users", admin, [this](Ctx& c) {
            json& b = c.body;
            const std::string name = string_field(b, "name", true);
            const std::string password = string_field(b, "password", true);
            const std::string role = string_field(b, "role", true);
            if (!valid_user_name(name))
                throw bad_request("a user name is 1 to 64 of A-Z a-z 0-9 . _ @ -");
            if (!valid_role(role))
                throw bad_request("role \"" + role + "\" is none of support, operator, admin");
            if (auto p = password_problem(password); !p.empty()) throw bad_request(p);
            User u;
            u.name = name;
            u.role = role;
            u.password_hash = hash_password(password);
            if (!ops.store().add_user(u, c.actor(), ops.hub().clock().now_ms()))
                throw ApiError{409, "conflict", "a user \"" + name + "\" exists already"};
            send_json(c.res, 201, user_json(*ops.store().user(name)));
        });
        route("PUT", "/api/users/" + id, admin, [this](Ctx& c) {
            const std::string name = c.match[1];
            if (!ops.store().user(name)) throw not_found("no user \"" + name + "\"");
            json& b = c.body;
            std::optional<std::string> role, hash;
            if (b.contains("role")) {
                role = string_field(b, "role", true);
                if (!valid_role(*role))
                    throw bad_request("role \"" + *role + "\" is none of support, operator, admin");
                if (name == c.actor() && *role != "admin")
                    throw ApiError{409, "conflict", "you cannot take the admin role from yourself"};
            }
            if (b.contains("password")) {
                const std::string p = string_field(b, "password", true);
                if (auto problem = password_problem(p); !problem.empty()) throw bad_request(problem);
                hash = hash_password(p);
            }
            if (!role && !hash) throw bad_request("give a role, a password or both");
            ops.store().update_user(name, role, hash, c.actor(), ops.hub().clock().now_ms());
            send_json(c.res, 200, user_json(*ops.store().user(name)));
        });
        route("DELETE", "/api/users/" + id, admin, [this](Ctx& c) {
            const std::string name = c.match[1];
            if (name == c.actor())
                throw ApiError{409, "conflict", "you cannot delete yourself"};
            if (!ops.store().delete_user(name, c.actor(), ops.hub().clock().now_ms()))
                throw not_found("no user \"" + name + "\"");
            c.res.status = 204;
        });

        // --- metrics ---
        route("GET", "/metrics", support, [this](Ctx& c) {
            c.res.set_content(metrics_text(ops), "text/plain; version=0.0.4; charset=utf-8");
        });

        add_mapping_routes();
        add_words_routes();
        add_attention_routes();
    }

    // --- mappings and the dry run (docs/api.md, "Mappings"; s6-map) -------------------------

    void send_mapping_write(Ctx& c, const MappingWrite& w) {
        if (w.status == OpStatus::ok) {
            send_json(c.res, 200, w.view);
            return;
        }
        const int status = w.status == OpStatus::not_found ? 404 : w.status == OpStatus::conflict ? 409 : 400;
        const char* code = status == 404 ? "not_found" : status == 409 ? "conflict" : "bad_request";
        json errors = json::array();
        std::string message = w.message;
        for (const auto& e : w.errors) {
            errors.push_back({{"field", e.field}, {"path", e.path},
                              {"message", global_redactor().redact(e.message)}});
            if (w.errors.size() == 1 && message.empty()) message = e.message;
        }
        send_json(c.res, status,
                  {{"error", {{"status", status}, {"code", code},
                              {"message", global_redactor().redact(message)}}},
                   {"errors", errors}});
    }

    void add_mapping_routes() {
        constexpr int support = 1, operator_ = 2;
        const std::string id = R"(([A-Za-z0-9._:@-]{1,200}))";
        route("GET", "/api/processes/" + id + "/mapping", support, [this](Ctx& c) {
            auto v = mappings.view(c.match[1]);
            if (!v) throw not_found("no process \"" + std::string(c.match[1]) + "\"");
            send_json(c.res, 200, *v);
        });
        route("PUT", "/api/processes/" + id + "/mapping", operator_, [this](Ctx& c) {
            send_mapping_write(c, mappings.save(c.match[1], c.body, c.actor()));
        });
        route("GET", "/api/processes/" + id + "/mapping/versions", support, [this](Ctx& c) {
            auto v = mappings.versions(c.match[1]);
            if (!v) throw not_found("no process \"" + std::string(c.match[1]) + "\"");
            send_json(c.res, 200, *v);
        });
        route("POST", "/api/processes/" + id + "/mapping/revert", operator_, [this](Ctx& c) {
            send_mapping_write(c, mappings.revert(c.match[1], c.body, c.actor()));
        });
        // The dry run: nothing is written (core/engine/preview.hpp).
        route("POST", "/api/processes/" + id + "/preview", operator_, [this](Ctx& c) {
            const std::string pid = c.match[1];
            process_or_404(pid);
            json& b = c.body;
            for (auto it = b.begin(); it != b.end(); ++it)
                if (it.key() != "source" && it.key() != "limit" && it.key() != "record" &&
                    it.key() != "mapping")
                    throw bad_request("unknown field \"" + it.key() +
                                      "\"; a preview takes source, limit, record and mapping");
            PreviewOptions o;
            if (b.contains("source")) o.source = string_field(b, "source", true);
            if (b.contains("limit")) {
                if (!b["limit"].is_number_integer()) throw bad_request("\"limit\" must be a whole number from 1 to 100");
                o.limit = b["limit"].get<int64_t>();
            }
            if (b.contains("record")) o.record = b["record"];
            if (b.contains("mapping") && !b["mapping"].is_null()) {
                // A draft being edited: the same checks as a save, nothing stored.
                MappingWrite w;
                w.errors = mappings.check(pid, b["mapping"]);
                if (!w.errors.empty()) {
                    w.status = OpStatus::invalid;
                    w.message = "the mapping has " + std::to_string(w.errors.size()) + " problem(s); nothing was previewed";
                    send_mapping_write(c, w);
                    return;
                }
                o.mapping = b["mapping"];
            }
            PreviewReport r;
            try {
                r = preview(ops.hub(), pid, o);
            } catch (const std::invalid_argument& e) {
                throw bad_request(e.what());
            } catch (const std::runtime_error& e) {
                throw ApiError{502, "connector", global_redactor().redact(e.what())};
            }
            ops.store().audit(AuditEntry{0, ops.hub().clock().now_ms(), c.actor(), "mapping.preview", pid,
                                         json{{"source", o.source}, {"limit", o.limit},
                                              {"draft", !o.mapping.is_null()}}.dump()});
            json out = preview_json(r);
            redact_json(out);
            send_json(c.res, 200, out);
        });
    }

    // Look up a record through a connection, and test a connection's form before it is
    // saved (issue 13; docs/api.md, "Connections").
    void add_words_routes() {
        constexpr int support = 1, admin = 3;
        const std::string id = R"(([A-Za-z0-9._:@-]{1,200}))";
        route("POST", "/api/connections/test", admin, [this](Ctx& c) {
            ConnectionTest t = connections.test_unsaved(c.body, c.actor());
            json j = {{"ok", t.ok}, {"message", global_redactor().redact(t.message)},
                      {"duration_ms", t.duration_ms}};
            if (!t.ok) j["error_class"] = t.error_class;
            send_json(c.res, 200, j);
        });
        route("POST", "/api/connections/" + id + "/lookup", support, [this](Ctx& c) {
            ConnectionLookup l = connections.lookup(c.match[1], c.body, c.actor());
            if (l.status == OpStatus::invalid) throw bad_request(l.message);
            if (l.status == OpStatus::not_found) {
                send_json(c.res, 404,
                          {{"error", {{"status", 404}, {"code", "not_found"},
                                      {"not_found", l.not_found},
                                      {"message", global_redactor().redact(l.message)}}}});
                return;
            }
            if (l.status != OpStatus::ok) {
                // The connector failed: 502, with its error class and its own words (which
                // name the HTTP status it got, when it got one); a key it refuses as
                // malformed: 422.
                const int status = l.error_class == "validation" ? 422 : 502;
                send_json(c.res, status,
                          {{"error", {{"status", status},
                                      {"code", status == 422 ? "rejected" : "connector_error"},
                                      {"error_class", l.error_class},
                                      {"message", global_redactor().redact(l.message)}}}});
                return;
            }
            json record = l.record;
            redact_json(record);
            send_json(c.res, 200, {{"found", true}, {"record", record}, {"duration_ms", l.duration_ms}});
        });
    }

    // --- attention and notifications (docs/api.md, "Attention", "Notifications") ---------
    void add_attention_routes() {
        constexpr int support = 1, admin = 3;
        route("GET", "/api/attention", support, [this](Ctx& c) {
            send_json(c.res, 200, notify::attention_view(ops, options.notifier));
        });
        auto notifier = [this]() -> notify::Notifier& {
            if (!options.notifier)
                throw ApiError{503, "unavailable", "notifications are sent by plexus serve only"};
            return *options.notifier;
        };
        route("GET", "/api/notifications", support,
              [notifier](Ctx& c) { send_json(c.res, 200, notifier().view()); });
        route("PUT", "/api/notifications", admin, [notifier](Ctx& c) {
            send_connection_write(c, notifier().update(c.body, c.actor()), 200);
        });
        route("POST", "/api/notifications/test", admin, [notifier](Ctx& c) {
            json& b = c.body;
            for (auto it = b.begin(); it != b.end(); ++it)
                if (it.key() != "channel")
                    throw bad_request("unknown field \"" + it.key() + "\"; a test takes only \"channel\"");
            const std::string channel = string_field(b, "channel", false);
            if (!channel.empty() && channel != "email" && channel != "webhook")
                throw bad_request("channel \"" + channel + "\" is none of email, webhook");
            send_json(c.res, 200, notifier().test(channel, c.actor()));
        });
    }

    // httplib listens with a backlog of 5: a burst of connections (or an attacker's idle
    // ones) overflowed it and new clients waited for SYN retries. listen() again on the
    // bound socket only raises the backlog (capped by net.core.somaxconn).
    void deepen_backlog() {
        if (listen_socket >= 0) ::listen(listen_socket, 4096);
    }

    json process_or_404(const std::string& pid) {
        if (!ops.has_process(pid)) throw not_found("no process \"" + pid + "\"");
        return ops.process_view(pid);
    }

    void login(Ctx& c) {
        // CSRF on login: JSON only (a cross-site form cannot send it) and a same-origin Origin.
        json& b = c.body;
        const std::string origin = c.req.get_header_value("Origin");
        if (!origin.empty()) {
            const std::string host = c.req.get_header_value("Host");
            if (origin != "http://" + host && origin != "https://" + host)
                throw ApiError{403, "csrf", "login from another site (Origin " + origin + ") refused"};
        }
        const std::string name = string_field(b, "name", true);
        const std::string password = string_field(b, "password", true);
        Store& store = ops.store();
        const int64_t now = ops.hub().clock().now_ms();
        const std::string who = name.substr(0, 64);
        if (int64_t wait_s = login_blocked_s(who, now); wait_s > 0) {
            c.res.set_header("Retry-After", std::to_string(wait_s));
            throw ApiError{429, "too_many_requests",
                           "too many failed logins for this user; try again in " +
                               std::to_string((wait_s + 59) / 60) + " minute(s)"};
        }
        auto u = name.size() <= 64 ? store.user(name) : std::nullopt;
        const bool ok = u && !u->disabled && verify_password(u->password_hash, password);
        if (!u) verify_dummy(password);
        if (!ok) {
            login_failed(who, now);
            log_line(LogLevel::warn, LogTags{}, "portal: failed login for user \"" +
                                                    (valid_user_name(name) ? name : "?") + "\"");
            throw ApiError{401, "unauthenticated", "wrong user name or password"};
        }
        login_succeeded(who);
        store.purge_sessions(now);
        const std::string token = random_token();
        Session s;
        s.token_hash = token_hash(token);
        s.user_id = u->id;
        s.csrf_token = random_token();
        s.created_ms = now;
        s.last_seen_ms = now;
        s.expires_ms = now + std::min(options.session_ttl_ms, options.session_idle_ms);
        store.create_session(s);
        store.audit(AuditEntry{0, now, u->name, "user.login", u->name, "{}"});
        set_cookie(c.res, token);
        send_json(c.res, 200, {{"user", {{"name", u->name}, {"role", u->role}}},
                               {"csrf_token", s.csrf_token}});
    }

    void export_outcomes(Ctx& c) {
        const std::string format = param(c.req, "format").value_or("");
        if (format != "xlsx" && format != "csv")
            throw bad_request("format must be xlsx or csv");
        OutcomeQuery q = outcome_query(c.req, ops);
        if (q.run_id && !ops.store().run(*q.run_id)) throw not_found("no run " + std::to_string(*q.run_id));
        json detail = {{"format", format}};
        if (q.run_id) detail["run"] = *q.run_id;
        if (q.process_id) detail["process"] = *q.process_id;
        ops.store().audit(AuditEntry{0, ops.hub().clock().now_ms(), c.actor(), "logs.export",
                                     q.process_id.value_or(""), detail.dump()});
        stream_export(ops.store(), q, format, export_dir, c.res);
    }
};

Portal::Portal(Operations& ops, PortalOptions options)
    : impl_(std::make_unique<Impl>(ops, std::move(options))) {}

Portal::~Portal() { stop(); }

bool Portal::bind(std::string& error) {
    if (impl_->options.port == 0) {
        impl_->bound_port = impl_->server.bind_to_any_port(impl_->options.host);
        if (impl_->bound_port <= 0) {
            error = "cannot listen on " + impl_->options.host + " (any port)";
            return false;
        }
        impl_->deepen_backlog();
        return true;
    }
    if (!impl_->server.bind_to_port(impl_->options.host, impl_->options.port)) {
        const int why = errno;
        error = "cannot listen on " + impl_->options.host + ":" +
                std::to_string(impl_->options.port) + ": " +
                (why == EADDRINUSE
                     ? std::string("the port is in use (is another plexus serve running?); "
                                   "stop it or choose another port with --listen")
                     : why == EADDRNOTAVAIL ? std::string("not an address of this host")
                                            : std::string(std::strerror(why)));
        return false;
    }
    impl_->bound_port = impl_->options.port;
    impl_->deepen_backlog();
    return true;
}

int Portal::port() const { return impl_->bound_port; }

void Portal::serve() { impl_->server.listen_after_bind(); }

void Portal::stop() {
    if (impl_->server.is_running()) impl_->server.stop();
}

}  // namespace plexus::web
