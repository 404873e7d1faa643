// Plexus connector SDK — a fake host for connectors' unit tests (header-only).
//
//     #include <plexus/testing.hpp>
//     plexus::sdk::testing::FakeHost fake;
//     fake.expect("GET", "https://api.example.com/tickets?limit=2")
//         .reply(200, R"({"tickets": []})");
//     MyConnector c(fake.host(), settings);           // the class itself, or:
//     auto conn = fake.connect<MyConnector>(settings); // through the C ABI, as the host does
//     auto page = conn.read({...});
//     fake.verify();                                  // every expectation met, nothing unexpected
//
// What it gives the connector is what the real host gives: the same plexus_host_api table
// behind the same plexus::sdk::Host, so the code under test is the code that ships.
// - HTTP: scripted exchanges. A request is answered by the first expectation, in the order
//   declared, whose method and URL match (and body, headers when asked) and that has replies
//   left. A request no expectation matches fails the connector's http() call with
//   PLEXUS_ERR_PLUGIN and a message naming the request and what was expected, and is kept
//   for verify(). No network is touched. (The fake does no retries: a scripted 429 reaches
//   the connector as it would after the host's retries ran out.)
// - The clock: starts at 2023-11-14T22:13:20Z, moves only when the test says (advance()).
// - Logs: every line the connector logs, with its level.
// - cancelled(): what the test sets; rate_observe(): the values recorded.
// Not thread-safe (nor is a connector instance).
#pragma once

#include <plexus/connector.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace plexus::sdk::testing {

// One scripted exchange. Built with FakeHost::expect(); configure with the chained setters.
class Expectation {
public:
    Expectation(std::string method, std::string url) : method_(std::move(method)), url_(std::move(url)) {}

    // Match the body exactly.
    Expectation& body(std::string text) {
        body_ = std::move(text);
        return *this;
    }
    // Match the body as JSON (whitespace and member order do not matter).
    Expectation& json_body(const json& value) {
        json_body_ = value;
        return *this;
    }
    // Match a request header (name case-insensitive, value exact).
    Expectation& header(std::string name, std::string value) {
        headers_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    // The response. Call several times to answer successive matching requests in turn.
    Expectation& reply(int status, std::string body = {},
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
        replies_.push_back({status, std::move(headers), std::move(body)});
        return *this;
    }
    Expectation& reply_json(int status, const json& body,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
        headers.emplace_back("Content-Type", "application/json");
        return reply(status, body.dump(), std::move(headers));
    }
    // No response at all: the host's http() fails with this status (PLEXUS_ERR_TRANSIENT for
    // "timeouts after the host's retries", PLEXUS_ERR_CANCELLED …) and message.
    Expectation& fail(plexus_status status, std::string message) {
        Reply r;
        r.failure = status;
        r.body = std::move(message);
        replies_.push_back(std::move(r));
        return *this;
    }
    // Answer every matching request with the last reply, however many come (default: each
    // reply once).
    Expectation& repeatedly() {
        repeat_ = true;
        return *this;
    }

    std::string describe() const {
        std::string d = method_ + " " + url_;
        if (body_) d += " with body " + *body_;
        if (json_body_) d += " with JSON body " + json_body_->dump();
        for (const auto& [k, v] : headers_) d += " with header " + k + ": " + v;
        return d;
    }
    size_t used() const { return used_; }
    bool satisfied() const { return used_ >= replies_.size() || (repeat_ && used_ > 0); }

private:
    friend class FakeHost;
    struct Reply {
        int status = 200;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string body;
        std::optional<plexus_status> failure;
    };
    bool exhausted() const { return !repeat_ && used_ >= replies_.size(); }
    bool matches(const HttpRequest& r, std::string& near_miss) const {
        if (r.method != method_ || r.url != url_) return false;
        if (body_ && r.body != *body_) {
            near_miss = "the body differs: expected " + *body_ + ", got " + r.body;
            return false;
        }
        if (json_body_) {
            json got = json::parse(r.body, nullptr, false);
            if (got.is_discarded() || got != *json_body_) {
                near_miss = "the JSON body differs: expected " + json_body_->dump() + ", got " + r.body;
                return false;
            }
        }
        for (const auto& [k, v] : headers_) {
            HttpResponse probe;
            probe.headers = r.headers;
            if (probe.header(k) != v) {
                near_miss = "header " + k + " is \"" + probe.header(k) + "\", expected \"" + v + "\"";
                return false;
            }
        }
        return true;
    }
    const Reply& next() {
        const Reply& r = replies_[std::min(used_, replies_.size() - 1)];
        ++used_;
        return r;
    }

    std::string method_, url_;
    std::optional<std::string> body_;
    std::optional<json> json_body_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::vector<Reply> replies_;
    size_t used_ = 0;
    bool repeat_ = false;
};

struct LogLine {
    plexus_log_level level;
    std::string text;
};

// A connector created through its C descriptor, driven with the SDK's types: each call goes
// through the same trampolines and JSON documents as in the host. A non-OK status is thrown
// as plexus::sdk::Error (its status and message), as the host would see it.
class ConnectorUnderTest {
public:
    ConnectorUnderTest(const plexus_connector_v1* d, const plexus_host_api* api, const json& settings)
        : d_(d) {
        std::string text = settings.dump(), err;
        plexus_sink es = string_sink(err);
        plexus_status st = d_->create(api, to_str(text), &instance_, &es);
        if (st != PLEXUS_OK) throw Error(st, err);
    }
    ~ConnectorUnderTest() {
        if (instance_) d_->destroy(instance_);
    }
    ConnectorUnderTest(ConnectorUnderTest&& o) noexcept : d_(o.d_), instance_(std::exchange(o.instance_, nullptr)) {}
    ConnectorUnderTest(const ConnectorUnderTest&) = delete;
    ConnectorUnderTest& operator=(const ConnectorUnderTest&) = delete;
    ConnectorUnderTest& operator=(ConnectorUnderTest&&) = delete;

    void check() { call(d_->check, nullptr); }

    ReadPage read(const ReadRequest& r) {
        json req{{"entity", r.entity}, {"limit", r.limit}, {"filter", r.filter}};
        req["cursor"] = r.cursor ? json(*r.cursor) : json(nullptr);
        if (r.since) req["since"] = *r.since;
        json reply = call(d_->read_page, &req);
        ReadPage page;
        for (auto& j : reply.at("records")) page.records.push_back(record_of(j));
        page.next_cursor = reply.value("next_cursor", "");
        page.has_more = reply.value("has_more", false);
        return page;
    }

    std::vector<WriteResult> write(const std::string& entity, const std::vector<WriteItem>& items) {
        json req{{"entity", entity}, {"records", json::array()}};
        for (const auto& w : items) {
            json rec{{"op", w.op == WriteOp::Update ? "update" : "create"},
                     {"idempotency_key", w.idempotency_key},
                     {"data", w.data_json.empty() ? w.data : json::parse(w.data_json)}};
            if (!w.target_key.empty()) rec["target_key"] = w.target_key;
            if (w.interrupted) rec["interrupted"] = true;
            req["records"].push_back(std::move(rec));
        }
        json reply = call(d_->write_batch, &req);
        std::vector<WriteResult> out;
        for (const auto& r : reply.at("results")) {
            const auto st = static_cast<plexus_status>(r.value("status", 0));
            out.push_back(st == PLEXUS_OK ? WriteResult::ok(r.value("target_key", ""), r.value("cursor", ""))
                                          : WriteResult::failed(st, r.value("message", "")));
        }
        return out;
    }

    LookupResult lookup(const LookupRequest& r) {
        json req{{"entity", r.entity}, {"data", r.data}};
        if (r.key) req["key"] = *r.key;
        if (r.idempotency_key) req["idempotency_key"] = *r.idempotency_key;
        json reply = call(d_->lookup, &req);
        LookupResult out;
        out.found = reply.value("found", false);
        if (out.found) out.record = record_of(reply.at("record"));
        out.matches = reply.value("matches", int64_t{0});
        return out;
    }

private:
    static Record record_of(const json& j) {
        Record r;
        r.key = j.value("key", "");
        r.cursor = j.value("cursor", "");
        r.data = j.contains("data") ? j["data"] : json::object();
        return r;
    }
    template <typename Fn>
    json call(Fn fn, const json* request) {
        std::string out;
        plexus_sink sink = string_sink(out);
        plexus_status st;
        if constexpr (std::is_invocable_v<Fn, void*, const plexus_sink*>) {
            (void)request;
            st = fn(instance_, &sink);
            if (st != PLEXUS_OK) throw Error(st, out);
            return json::object();
        } else {
            std::string text = request->dump();
            st = fn(instance_, to_str(text), &sink);
            if (st != PLEXUS_OK) throw Error(st, out);
            json reply = json::parse(out, nullptr, false);
            if (reply.is_discarded())
                throw Error(PLEXUS_ERR_PLUGIN, "the connector's reply is not valid JSON: " + out);
            return reply;
        }
    }
    const plexus_connector_v1* d_;
    void* instance_ = nullptr;
};

class FakeHost {
public:
    static constexpr int64_t kStartMs = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

    FakeHost() {
        api_.struct_size = sizeof(plexus_host_api);
        api_.host_ctx = this;
        api_.log = [](void* ctx, plexus_log_level level, plexus_str message) {
            self(ctx).logs_.push_back({level, std::string(from_str(message))});
        };
        api_.http = [](void* ctx, const plexus_http_request* request, const plexus_http_response_sink* response,
                       const plexus_sink* error) { return self(ctx).serve(*request, response, error); };
        api_.now_ms = [](void* ctx) { return self(ctx).now_; };
        api_.cancelled = [](void* ctx) { return self(ctx).cancelled_ ? 1 : 0; };
        api_.rate_observe = [](void* ctx, double used, double capacity) {
            self(ctx).rate_observations_.emplace_back(used, capacity);
        };
        host_ = std::make_unique<Host>(&api_);
    }
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    // What a connector's constructor takes. Valid as long as this FakeHost.
    Host& host() { return *host_; }
    const plexus_host_api* api() const { return &api_; }

    // Creates `C` through its exported descriptor with these settings (as the host passes
    // them: give the defaults you rely on), so calls cross the C ABI like in production.
    template <typename C>
    ConnectorUnderTest connect(const json& settings) {
        return ConnectorUnderTest(detail::Trampolines<C>::descriptor(), &api_, settings);
    }

    // --- HTTP ---
    // A new expectation, answered in declaration order among those that match.
    Expectation& expect(std::string method, std::string url) {
        expectations_.push_back(std::make_unique<Expectation>(std::move(method), std::move(url)));
        return *expectations_.back();
    }
    // Every request the connector made, in order.
    const std::vector<HttpRequest>& requests() const { return requests_; }
    // Problems so far: requests nobody expected, and (with `complete`) expectations whose
    // replies were not all used.
    std::vector<std::string> problems(bool complete = true) const {
        std::vector<std::string> out = unexpected_;
        if (complete)
            for (const auto& e : expectations_)
                if (!e->satisfied())
                    out.push_back("expected but not requested: " + e->describe() + " (" +
                                  std::to_string(e->used()) + " of " + std::to_string(e->replies_.size()) +
                                  " replies used)");
        return out;
    }
    // Throws std::logic_error listing every problem(); use at the end of a test.
    void verify() const {
        auto p = problems();
        if (p.empty()) return;
        std::string text = "fake host: " + std::to_string(p.size()) + " problem(s):";
        for (const auto& s : p) text += "\n  " + s;
        throw std::logic_error(text);
    }

    // --- the clock, cancellation, the governor ---
    int64_t now_ms() const { return now_; }
    void set_now_ms(int64_t ms) { now_ = ms; }
    void advance(int64_t ms) { now_ += ms; }
    void cancel(bool on = true) { cancelled_ = on; }
    const std::vector<std::pair<double, double>>& rate_observations() const { return rate_observations_; }

    // --- logs ---
    const std::vector<LogLine>& logs() const { return logs_; }
    // True when a line at `level` or above contains `text`.
    bool logged(std::string_view text, plexus_log_level level = PLEXUS_LOG_DEBUG) const {
        for (const auto& l : logs_)
            if (l.level >= level && l.text.find(text) != std::string::npos) return true;
        return false;
    }
    void clear_logs() { logs_.clear(); }

private:
    static FakeHost& self(void* ctx) { return *static_cast<FakeHost*>(ctx); }

    plexus_status serve(const plexus_http_request& r, const plexus_http_response_sink* response,
                        const plexus_sink* error) {
        HttpRequest req;
        req.method = std::string(from_str(r.method));
        req.url = std::string(from_str(r.url));
        Host::parse_headers(from_str(r.headers), req.headers);
        req.body = std::string(from_str(r.body));
        req.timeout_ms = r.timeout_ms;
        req.no_retry = (r.flags & PLEXUS_HTTP_NO_RETRY) != 0;
        requests_.push_back(req);
        std::string near;
        for (auto& e : expectations_) {
            if (e->exhausted()) continue;
            std::string miss;
            if (!e->matches(req, miss)) {
                if (!miss.empty() && near.empty()) near = miss;
                continue;
            }
            const auto& reply = e->next();
            if (reply.failure) {
                sink_write(error, reply.body);
                return *reply.failure;
            }
            std::string headers;
            for (const auto& [k, v] : reply.headers) headers += k + ": " + v + "\r\n";
            if (response && response->on_response)
                response->on_response(response->ctx, reply.status, to_str(headers), to_str(reply.body));
            return PLEXUS_OK;
        }
        std::string what = "unexpected request: " + req.method + " " + req.url;
        if (!req.body.empty()) what += " with body " + req.body;
        if (!near.empty()) what += " (" + near + ")";
        else {
            std::string left;
            for (const auto& e : expectations_)
                if (!e->exhausted()) left += (left.empty() ? "" : "; ") + e->describe();
            what += left.empty() ? " (no expectation left)" : " (expected: " + left + ")";
        }
        unexpected_.push_back(what);
        sink_write(error, "fake host: " + what);
        return PLEXUS_ERR_PLUGIN;
    }

    plexus_host_api api_{};
    std::unique_ptr<Host> host_;
    std::vector<std::unique_ptr<Expectation>> expectations_;
    std::vector<HttpRequest> requests_;
    std::vector<std::string> unexpected_;
    std::vector<LogLine> logs_;
    std::vector<std::pair<double, double>> rate_observations_;
    int64_t now_ = kStartMs;
    bool cancelled_ = false;
};

}  // namespace plexus::sdk::testing
