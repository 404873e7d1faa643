// Plexus connector SDK — header-only C++ layer over <plexus/sdk.h>.
//
// A partner writes one class derived from plexus::sdk::Connector and one line:
//
//     PLEXUS_EXPORT_CONNECTOR(MyConnector)
//
// The class provides three static members — `id`, `version`, `manifest` (JSON text) — a
// constructor `MyConnector(plexus::sdk::Host&, const nlohmann::json& settings)`, and
// overrides of the operations its entities support. Optionally a static
// `nlohmann::json describe_entities(const nlohmann::json& settings)` when the entity list
// depends on settings.
//
// The macro generates the C descriptor and `noexcept` trampolines: an exception thrown by
// the class never crosses into the host; plexus::sdk::Error becomes its status, anything
// else PLEXUS_ERR_PLUGIN, with the exception's text as the message.
//
// Contract of each operation (who calls, when, what may be kept) is in docs/sdk.md.
#pragma once

#include <plexus/json_text.hpp>
#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace plexus::sdk {

using json = nlohmann::json;

// Throw to report a specific status: throw Error(PLEXUS_ERR_VALIDATION, "sku is empty").
class Error : public std::runtime_error {
public:
    Error(plexus_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    plexus_status status() const noexcept { return status_; }

private:
    plexus_status status_;
};

inline plexus_str to_str(std::string_view s) noexcept { return plexus_str{s.data(), s.size()}; }
inline std::string_view from_str(plexus_str s) noexcept {
    return s.data ? std::string_view(s.data, s.size) : std::string_view();
}
inline void sink_write(const plexus_sink* sink, std::string_view s) noexcept {
    if (sink && sink->write) sink->write(sink->ctx, s.data(), s.size());
}
inline plexus_sink string_sink(std::string& target) noexcept {
    return plexus_sink{&target, [](void* ctx, const char* data, size_t size) {
                           static_cast<std::string*>(ctx)->append(data, size);
                       }};
}

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    uint32_t timeout_ms = 0;  // 0: the host's default
    bool no_retry = false;
};

struct HttpResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // First header with this name (case-insensitive), or empty.
    std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (k.size() != name.size()) continue;
            bool same = true;
            for (size_t i = 0; i < k.size() && same; ++i)
                same = std::tolower(static_cast<unsigned char>(k[i])) ==
                       std::tolower(static_cast<unsigned char>(name[i]));
            if (same) return v;
        }
        return {};
    }
};

// The host's services, as given to the connector's constructor. Valid for the instance's life.
class Host {
public:
    explicit Host(const plexus_host_api* api) : api_(api) {}

    void log(plexus_log_level level, std::string_view message) const {
        if (has(offsetof(plexus_host_api, log)) && api_->log)
            api_->log(api_->host_ctx, level, to_str(message));
    }
    void debug(std::string_view m) const { log(PLEXUS_LOG_DEBUG, m); }
    void info(std::string_view m) const { log(PLEXUS_LOG_INFO, m); }
    void warn(std::string_view m) const { log(PLEXUS_LOG_WARN, m); }
    void error(std::string_view m) const { log(PLEXUS_LOG_ERROR, m); }

    // Performs the request through the host (retries, TLS, rate governor). Throws Error when
    // no response could be had; any HTTP status is returned, for the connector to interpret.
    HttpResponse http(const HttpRequest& request) const {
        if (!has(offsetof(plexus_host_api, http)) || !api_->http)
            throw Error(PLEXUS_ERR_PLUGIN, "the host offers no HTTP client");
        std::string header_block;
        for (const auto& [k, v] : request.headers) header_block += k + ": " + v + "\r\n";
        plexus_http_request req{};
        req.struct_size = sizeof(req);
        req.method = to_str(request.method);
        req.url = to_str(request.url);
        req.headers = to_str(header_block);
        req.body = to_str(request.body);
        req.timeout_ms = request.timeout_ms;
        req.flags = request.no_retry ? PLEXUS_HTTP_NO_RETRY : 0u;
        HttpResponse response;
        plexus_http_response_sink rs{&response, [](void* ctx, int32_t status, plexus_str headers,
                                                   plexus_str body) {
                                         auto* r = static_cast<HttpResponse*>(ctx);
                                         r->status = status;
                                         r->body.assign(from_str(body));
                                         parse_headers(from_str(headers), r->headers);
                                     }};
        std::string err;
        plexus_sink es = string_sink(err);
        plexus_status st = api_->http(api_->host_ctx, &req, &rs, &es);
        if (st != PLEXUS_OK) throw Error(st, err.empty() ? "HTTP request failed" : err);
        return response;
    }

    int64_t now_ms() const {
        return has(offsetof(plexus_host_api, now_ms)) && api_->now_ms ? api_->now_ms(api_->host_ctx)
                                                                      : 0;
    }
    bool cancelled() const {
        return has(offsetof(plexus_host_api, cancelled)) && api_->cancelled &&
               api_->cancelled(api_->host_ctx) != 0;
    }
    void rate_observe(double used, double capacity) const {
        if (has(offsetof(plexus_host_api, rate_observe)) && api_->rate_observe)
            api_->rate_observe(api_->host_ctx, used, capacity);
    }

    static void parse_headers(std::string_view block,
                              std::vector<std::pair<std::string, std::string>>& out) {
        size_t pos = 0;
        while (pos < block.size()) {
            size_t end = block.find('\n', pos);
            if (end == std::string_view::npos) end = block.size();
            std::string_view line = block.substr(pos, end - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            size_t colon = line.find(':');
            if (colon != std::string_view::npos) {
                std::string_view value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
                out.emplace_back(std::string(line.substr(0, colon)), std::string(value));
            }
            pos = end + 1;
        }
    }

private:
    // A field is present when the host's table is large enough to hold it.
    bool has(size_t offset) const {
        return api_ && api_->struct_size >= offset + sizeof(void*);
    }
    const plexus_host_api* api_;
};

// One record as a source returns it.
struct Record {
    std::string key;     // the record's identity in its system (stable)
    std::string cursor;  // its position for incremental reads, e.g. updated_at
    json data;           // the record itself (a JSON object)
    // Optional, instead of `data`: the record as the text of one JSON object (UTF-8), for a
    // connector that holds it as text already (a line of a JSON Lines file). When not empty
    // it is sent as it is — never parsed nor re-serialised on this side — and `data` is
    // ignored. Invalid text makes the host refuse the whole page as malformed. (Initialised
    // here so that Record{key, cursor, data} stays warning-free in partners' code.)
    std::string data_json = {};
};

// One event that the hub's webhook inbox received for this connection (see docs/sdk.md,
// "Entities fed by webhooks"). Its signature was verified and its id de-duplicated before it
// was stored; `seq` orders the connection's events and never repeats.
struct InboxEvent {
    int64_t seq = 0;
    std::string id;           // the sender's event id
    std::string topic;        // the sender's event type, e.g. "orders/create"
    std::string received_at;  // ISO 8601, UTC, when the hub stored it
    json body;                // the event's JSON body as sent
};

struct ReadRequest {
    std::string entity;
    std::optional<std::string> cursor;  // opaque, as returned in a previous ReadPage; none: start
    std::optional<std::string> since;   // ISO 8601; start at records changed at or after it
    size_t limit = 500;                 // at most this many records in the page
    json filter = json::object();       // the process's source filter, as configured
    // Only for an entity declared `"inbox": true`: the stored events after the cursor (whose
    // text is the decimal seq of the last event consumed, see inbox_cursor()), oldest first,
    // at most `limit`. `events_more`: more are stored after these.
    std::vector<InboxEvent> events = {};
    bool events_more = false;
};

// The cursor of an inbox-fed entity: the seq of the last event consumed, in decimal.
inline std::string inbox_cursor(int64_t seq) { return std::to_string(seq); }

struct ReadPage {
    std::vector<Record> records;
    std::string next_cursor;  // where the next page starts; stored by the host with the outcomes
    bool has_more = false;    // true: call again with next_cursor in this run
};

enum class WriteOp { Create, Update };

struct WriteItem {
    WriteOp op = WriteOp::Create;
    std::string idempotency_key;  // stable for (process, source record); same on a retry
    std::string target_key;       // for Update: the key the ledger knows
    json data;                    // the mapped record
    // Only for a connector class that declares `static constexpr bool accepts_data_json =
    // true`: the mapped record as the host sent it, the text of one valid JSON object
    // (checked), viewing the request — valid until write() returns. `data` is then left
    // null (parse data_json when you need it). Empty when the record's data is not an
    // object: `data` holds it as usual.
    std::string_view data_json = {};
    // A previous attempt of this very write may still reach the target: the host (or its run)
    // died after sending it, before the outcome was stored, or it failed without an answer.
    // Before reading the target's state to decide what to send, allow for a request of that
    // attempt still in flight (e.g. wait as long as the API may hold a request, then look).
    // Set on an Update whose earlier attempt was interrupted, and on a Create whose earlier
    // attempt was interrupted but whose lookup found nothing. Absent on the wire: false.
    bool interrupted = false;
};

struct WriteResult {
    plexus_status status = PLEXUS_OK;
    std::string target_key;  // on success: the key of the record in the target
    std::string message;     // on failure: what was wrong, for the operator
    // On success, optional: the record's cursor value right after this write (e.g. the
    // updated_at the API returned). Lets the reverse process of a two-way sync recognise the
    // record as our own write when it reads it back, instead of syncing it back again.
    std::string cursor;

    static WriteResult ok(std::string key, std::string cursor = {}) {
        return {PLEXUS_OK, std::move(key), {}, std::move(cursor)};
    }
    static WriteResult failed(plexus_status s, std::string msg) {
        return {s, {}, std::move(msg), {}};
    }
};

struct LookupRequest {
    std::string entity;
    std::optional<std::string> key;              // find by the record's own key (source side)
    std::optional<std::string> idempotency_key;  // find what a create with this key made
    json data = json::object();                  // the mapped record (its natural key fields)
};

struct LookupResult {
    bool found = false;
    Record record;  // key always; cursor and data when the connector has them
    // How many target records matched, when the connector can tell (0: not said). More than
    // one record carrying one idempotency key is a duplicate: `plexus reconcile` reports it.
    int64_t matches = 0;
};

// Base class of a connector instance. One instance serves one run; the host calls it from
// one thread at a time. Override what the manifest's capabilities promise.
class Connector {
public:
    virtual ~Connector() = default;
    virtual void check() {}
    virtual ReadPage read(const ReadRequest&) {
        throw Error(PLEXUS_ERR_PLUGIN, "this connector does not read");
    }
    virtual std::vector<WriteResult> write(const std::string& /*entity*/,
                                           const std::vector<WriteItem>&) {
        throw Error(PLEXUS_ERR_PLUGIN, "this connector does not write");
    }
    virtual LookupResult lookup(const LookupRequest&) {
        throw Error(PLEXUS_ERR_PLUGIN, "this connector does not look up");
    }
};

namespace detail {

namespace detail_json = nlohmann::detail;

inline json parse_object(plexus_str s, const char* what) {
    json j = json::parse(from_str(s), nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw Error(PLEXUS_ERR_PLUGIN, std::string("malformed ") + what + " from the host");
    return j;
}

inline std::optional<std::string> opt_string(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return it->get<std::string>();
}

inline json record_to_json(Record&& r) {
    json j = json::object();
    j["key"] = std::move(r.key);
    j["cursor"] = std::move(r.cursor);
    if (!r.data_json.empty()) {
        j["data"] = json::parse(r.data_json, nullptr, false);
        if (j["data"].is_discarded())
            throw Error(PLEXUS_ERR_PLUGIN, "a record's data_json is not valid JSON");
    } else {
        j["data"] = std::move(r.data);
    }
    return j;
}

// Appends `value` as JSON text (invalid UTF-8 replaced, as everywhere on the wire).
inline void append_json(std::string& out, const json& value) {
    detail_json::serializer<json> s(detail_json::output_adapter<char>(out), ' ',
                                    json::error_handler_t::replace);
    s.dump(value, false, false, 0);
}

// The read_page reply, written straight to text: each record's data goes in as the
// connector's own text when it gave one (Record::data_json), or serialised once — never
// built into a second document first. A page is the hot path of every sync.
inline std::string page_to_text(ReadPage&& page) {
    size_t size = 64 + page.next_cursor.size();
    for (const auto& r : page.records)
        size += 48 + r.key.size() + r.cursor.size() + (r.data_json.empty() ? 256 : r.data_json.size());
    std::string out;
    out.reserve(size);
    out += "{\"records\":[";
    bool first = true;
    for (auto& r : page.records) {
        out += first ? "{\"key\":" : ",{\"key\":";
        first = false;
        append_json(out, json(std::move(r.key)));
        out += ",\"cursor\":";
        append_json(out, json(std::move(r.cursor)));
        out += ",\"data\":";
        if (!r.data_json.empty())
            out += r.data_json;
        else
            append_json(out, r.data);
        out += '}';
    }
    out += "],\"next_cursor\":";
    append_json(out, json(std::move(page.next_cursor)));
    out += page.has_more ? ",\"has_more\":true}" : ",\"has_more\":false}";
    return out;
}

template <typename F>
plexus_status guarded(const plexus_sink* err, F&& f) noexcept {
    try {
        f();
        return PLEXUS_OK;
    } catch (const Error& e) {
        sink_write(err, e.what());
        return e.status();
    } catch (const std::exception& e) {
        sink_write(err, e.what());
        return PLEXUS_ERR_PLUGIN;
    } catch (...) {
        sink_write(err, "unknown exception in connector");
        return PLEXUS_ERR_PLUGIN;
    }
}

template <typename T, typename = void>
struct accepts_data_json : std::false_type {};
template <typename T>
struct accepts_data_json<T, std::void_t<decltype(T::accepts_data_json)>>
    : std::bool_constant<T::accepts_data_json> {};

// Takes a write request apart with the JSON text scanner, leaving each record's data as
// text (WriteItem::data_json). False when the request is not exactly the documented
// shape — the caller then parses it as a document, which reports any problem as before.
inline bool scan_write_request(std::string_view request, std::string& entity,
                               std::vector<WriteItem>& items) {
    namespace jt = json_text;
    bool shape = true, have_records = false;
    // A name is compared as written: one spelt with escapes sends the request down the
    // document path.
    auto plain = [&](std::string_view name) {
        if (name.find('\\') != std::string_view::npos) shape = false;
        return name;
    };
    const bool valid = jt::for_each_member(request, [&](std::string_view n, std::string_view v) {
        const std::string_view name = plain(n);
        if (name == "\"entity\"") {
            if (v.front() != '"') shape = false;
            else entity = jt::string_value(v);
        } else if (name == "\"records\"") {
            have_records = true;
            items.clear();
            if (v.front() != '[') {
                shape = false;
                return;
            }
            jt::for_each_element(v, [&](std::string_view record) {
                if (record.front() != '{') {
                    shape = false;
                    return;
                }
                WriteItem w;
                bool has_data = false;
                jt::for_each_member(record, [&](std::string_view rn, std::string_view rv) {
                    const std::string_view field = plain(rn);
                    const bool text = rv.front() == '"';
                    if (field == "\"op\"") {
                        if (!text) shape = false;
                        else w.op = jt::string_value(rv) == "update" ? WriteOp::Update : WriteOp::Create;
                    } else if (field == "\"idempotency_key\"") {
                        if (!text) shape = false;
                        else w.idempotency_key = jt::string_value(rv);
                    } else if (field == "\"target_key\"") {
                        if (!text) shape = false;
                        else w.target_key = jt::string_value(rv);
                    } else if (field == "\"interrupted\"") {
                        if (rv == "true") w.interrupted = true;
                        else if (rv != "false") shape = false;
                    } else if (field == "\"data\"") {
                        has_data = true;
                        w.data_json = rv.front() == '{' ? rv : std::string_view();
                        w.data = w.data_json.empty() ? json::parse(rv) : json();
                    }
                });
                if (!has_data) w.data = json::object();
                items.push_back(std::move(w));
            });
        }
    });
    return valid && shape && have_records;
}

template <typename T, typename = void>
struct has_describe : std::false_type {};
template <typename T>
struct has_describe<T, std::void_t<decltype(T::describe_entities(std::declval<const json&>()))>>
    : std::true_type {};

struct Instance {
    std::unique_ptr<Host> host;
    std::unique_ptr<Connector> connector;
};

template <typename C>
struct Trampolines {
    static plexus_status create(const plexus_host_api* api, plexus_str settings, void** instance,
                                const plexus_sink* error) noexcept {
        return guarded(error, [&] {
            json s = parse_object(settings, "settings");
            auto inst = std::make_unique<Instance>();
            inst->host = std::make_unique<Host>(api);
            inst->connector = std::make_unique<C>(*inst->host, s);
            *instance = inst.release();
        });
    }
    static void destroy(void* instance) noexcept { delete static_cast<Instance*>(instance); }
    static Connector& self(void* instance) { return *static_cast<Instance*>(instance)->connector; }

    static plexus_status check(void* instance, const plexus_sink* out) noexcept {
        return guarded(out, [&] { self(instance).check(); });
    }
    static plexus_status read_page(void* instance, plexus_str request,
                                   const plexus_sink* out) noexcept {
        return guarded(out, [&] {
            json j = parse_object(request, "read request");
            ReadRequest r;
            r.entity = j.value("entity", "");
            r.cursor = opt_string(j, "cursor");
            r.since = opt_string(j, "since");
            r.limit = j.value("limit", size_t{500});
            if (j.contains("filter") && j["filter"].is_object()) r.filter = j["filter"];
            if (auto ev = j.find("events"); ev != j.end() && ev->is_array()) {
                r.events.reserve(ev->size());
                for (auto& e : *ev) {
                    if (!e.is_object()) continue;
                    InboxEvent x;
                    x.seq = e.value("seq", int64_t{0});
                    x.id = e.value("id", "");
                    x.topic = e.value("topic", "");
                    x.received_at = e.value("received_at", "");
                    if (auto b = e.find("body"); b != e.end()) x.body = std::move(*b);
                    r.events.push_back(std::move(x));
                }
                r.events_more = j.value("events_more", false);
            }
            sink_write(out, page_to_text(self(instance).read(r)));
        });
    }
    static plexus_status write_batch(void* instance, plexus_str request,
                                     const plexus_sink* out) noexcept {
        return guarded(out, [&] {
            std::vector<WriteItem> items;
            std::string entity;
            bool scanned = false;
            if constexpr (accepts_data_json<C>::value)
                scanned = scan_write_request(from_str(request), entity, items);
            if (!scanned) {
                json j = parse_object(request, "write request");
                items.clear();
                auto& records = j.at("records");
                items.reserve(records.size());
                for (auto& r : records) {
                    WriteItem w;
                    w.op = r.value("op", "create") == "update" ? WriteOp::Update : WriteOp::Create;
                    w.idempotency_key = r.value("idempotency_key", "");
                    w.target_key = r.value("target_key", "");
                    if (auto i = r.find("interrupted"); i != r.end() && i->is_boolean())
                        w.interrupted = i->get<bool>();
                    // Whatever arrived, moved not copied; the connector judges a non-object.
                    if (auto d = r.find("data"); d != r.end()) w.data = std::move(*d);
                    else w.data = json::object();
                    items.push_back(std::move(w));
                }
                entity = j.value("entity", "");
            }
            auto results = self(instance).write(entity, items);
            if (results.size() != items.size())
                throw Error(PLEXUS_ERR_PLUGIN, "connector returned " +
                                                   std::to_string(results.size()) +
                                                   " results for " + std::to_string(items.size()) +
                                                   " records");
            json reply{{"results", json::array()}};
            for (const auto& r : results) {
                json o{{"status", static_cast<int>(r.status)}};
                if (r.status == PLEXUS_OK) {
                    o["target_key"] = r.target_key;
                    if (!r.cursor.empty()) o["cursor"] = r.cursor;
                } else {
                    o["message"] = r.message;
                }
                reply["results"].push_back(std::move(o));
            }
            sink_write(out, reply.dump(-1, ' ', false, json::error_handler_t::replace));
        });
    }
    static plexus_status lookup(void* instance, plexus_str request,
                                const plexus_sink* out) noexcept {
        return guarded(out, [&] {
            json j = parse_object(request, "lookup request");
            LookupRequest r;
            r.entity = j.value("entity", "");
            r.key = opt_string(j, "key");
            r.idempotency_key = opt_string(j, "idempotency_key");
            if (j.contains("data") && j["data"].is_object()) r.data = j["data"];
            LookupResult res = self(instance).lookup(r);
            json reply{{"found", res.found}};
            if (res.found) reply["record"] = record_to_json(std::move(res.record));
            if (res.matches > 0) reply["matches"] = res.matches;
            sink_write(out, reply.dump(-1, ' ', false, json::error_handler_t::replace));
        });
    }
    static plexus_status describe(plexus_str settings, const plexus_sink* out) noexcept {
        if constexpr (has_describe<C>::value) {
            return guarded(out, [&] {
                json s = parse_object(settings, "settings");
                json entities = C::describe_entities(s);
                sink_write(out, entities.dump());
            });
        } else {
            (void)settings;
            (void)out;
            return PLEXUS_ERR_PLUGIN;
        }
    }

    static const plexus_connector_v1* descriptor() noexcept {
        static const plexus_connector_v1 d = {
            sizeof(plexus_connector_v1),
            PLEXUS_ABI_MAJOR,
            PLEXUS_ABI_MINOR,
            C::id,
            C::version,
            C::manifest,
            &create,
            &destroy,
            &check,
            &read_page,
            &write_batch,
            &lookup,
            has_describe<C>::value ? &describe : nullptr,
        };
        return &d;
    }
};

}  // namespace detail
}  // namespace plexus::sdk

// Export `ConnectorClass` as this library's connector. Use once per library, at namespace scope.
#define PLEXUS_EXPORT_CONNECTOR(ConnectorClass)                                                 \
    extern "C" PLEXUS_EXPORT const plexus_connector_v1* plexus_connector_entry_v1(void) {      \
        return ::plexus::sdk::detail::Trampolines<ConnectorClass>::descriptor();               \
    }
