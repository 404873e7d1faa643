#include "inbox/webhook_inbox.hpp"

#include "common/logging.hpp"
#include "common/time_text.hpp"
#include "engine/hub.hpp"

#include <algorithm>
#include <climits>
#include <set>

namespace plexus {
namespace {

using nlohmann::json;

json time_or_null_ms(int64_t ms) { return ms > 0 ? json(iso_utc(ms)) : json(nullptr); }

}  // namespace

bool is_inbox_entity(const json& manifest, const std::string& entity) {
    auto it = manifest.find("entities");
    if (it == manifest.end() || !it->is_array()) return false;
    for (const auto& e : *it)
        if (e.is_object() && e.value("name", "") == entity) return e.value("inbox", false);
    return false;
}

std::optional<int64_t> parse_inbox_cursor(const std::optional<std::string>& cursor) {
    if (!cursor || cursor->empty()) return 0;
    if (cursor->size() > 18 || cursor->find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    return std::stoll(*cursor);
}

WebhookInbox::WebhookInbox(Hub& hub, TriggerFn trigger) : hub_(hub), trigger_(std::move(trigger)) {
    const Config& cfg = hub_.config();
    for (const auto& cc : cfg.connections) {
        auto loaded = hub_.registry().find(cc.connector);
        if (!loaded || !loaded->webhooks) continue;
        Connection c;
        c.id = cc.id;
        c.connector = cc.connector;
        c.spec = *loaded->webhooks;
        c.secret_set = !hub_.setting_text(cc.id, c.spec.secret_setting).empty();
        for (const auto& p : cfg.processes) {
            if (p.source.connection != cc.id) continue;
            c.sources.emplace_back(p.id, p.source.entity);
            if (is_inbox_entity(loaded->manifest, p.source.entity)) c.readers.push_back(p.id);
        }
        connections_.push_back(std::move(c));
    }
}

const HooksConfig& WebhookInbox::options() const { return hub_.config().hooks; }

const WebhookInbox::Connection* WebhookInbox::find(const std::string& connection_id) const {
    for (const auto& c : connections_)
        if (c.id == connection_id) return &c;
    return nullptr;
}

bool WebhookInbox::accepts(const std::string& connection_id) const {
    const Connection* c = find(connection_id);
    return c && c->secret_set;
}

std::vector<std::string> WebhookInbox::triggered(const Connection& c, const std::string& topic) const {
    const std::vector<std::string> entities = c.spec.entities_for(topic);
    std::vector<std::string> out;
    for (const auto& [pid, entity] : c.sources)
        if (std::find(entities.begin(), entities.end(), entity) != entities.end()) out.push_back(pid);
    return out;
}

void WebhookInbox::log_refusal(const std::string& connection_id, const std::string& reason,
                               int64_t now_ms) {
    int64_t unlogged = 0;
    {
        std::lock_guard<std::mutex> lock(refusals_mutex_);
        RefusalLog& r = refusals_[connection_id];
        if (r.last_ms != 0 && now_ms - r.last_ms < 10'000) {
            ++r.unlogged;
            return;
        }
        unlogged = r.unlogged;
        r = RefusalLog{now_ms, 0};
    }
    log_line(LogLevel::warn, LogTags{{}, 0, {}, connection_id},
             "webhook refused: " + reason +
                 (unlogged > 0 ? " (and " + std::to_string(unlogged) +
                                     " more refusal(s) not logged in the last 10 s)"
                               : std::string()));
}

int64_t WebhookInbox::consumed_through(const std::string& connection_id) const {
    const Connection* c = find(connection_id);
    if (!c || c->readers.empty()) return INT64_MAX;
    int64_t low = INT64_MAX;
    for (const auto& pid : c->readers) {
        // A cursor that is not a seq (it cannot be one written by a run; a rewind clears it)
        // counts as nothing consumed: nothing is pruned or counted as consumed past it.
        const auto seq = parse_inbox_cursor(hub_.store().cursor(pid).cursor).value_or(0);
        low = std::min(low, seq);
    }
    return low;
}

WebhookAnswer WebhookInbox::receive(const std::string& connection_id, const HeaderLookup& header,
                                    const std::string& body) {
    const LogTags tags{{}, 0, {}, connection_id};
    const Connection* c = find(connection_id);
    if (!c || !c->secret_set) return {404, "no webhooks for this connection"};
    const std::string secret = hub_.setting_text(connection_id, c->spec.secret_setting);
    const int64_t now_ms = hub_.clock().now_ms();
    const WebhookCheck check = verify_webhook(c->spec, secret, header, body, now_ms / 1000);
    if (!check.ok) {
        // The reason names what failed, never a value: safe to log, not to answer.
        log_refusal(connection_id, check.reason, now_ms);
        return {401, "signature not valid"};
    }
    json parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return {400, "the body is not JSON"};
    std::string error;
    auto identity = webhook_identity(c->spec, header, parsed, error);
    if (!identity) {
        log_refusal(connection_id, error, now_ms);
        return {400, error};
    }
    InboxEventRow row;
    row.connection_id = connection_id;
    row.event_id = identity->id;
    row.topic = identity->topic;
    row.body = body;
    row.received_ms = now_ms;
    const InboxInsert result =
        hub_.store().insert_inbox_event(row, consumed_through(connection_id), options().max_pending);
    if (result == InboxInsert::full) {
        log_line(LogLevel::warn, tags,
                 "webhook refused: the inbox holds " + std::to_string(options().max_pending) +
                     " unconsumed events (hooks.max_pending); the sender will retry");
        return {503, "inbox full; retry later"};
    }
    if (result == InboxInsert::duplicate) return {200, "duplicate", row.seq, true};
    log_line(LogLevel::debug, tags,
             "webhook event " + row.event_id + " (" + row.topic + ") stored as " +
                 std::to_string(row.seq));
    if (auto ids = triggered(*c, row.topic); !ids.empty() && trigger_) trigger_(ids);
    return {200, "stored", row.seq, false};
}

std::vector<std::string> WebhookInbox::readers_behind() const {
    std::vector<std::string> out;
    for (const auto& c : connections_) {
        if (c.readers.empty()) continue;
        const int64_t last = hub_.store().inbox_counts(c.id, INT64_MAX).last_seq;
        for (const auto& pid : c.readers)
            if (parse_inbox_cursor(hub_.store().cursor(pid).cursor).value_or(0) < last) out.push_back(pid);
    }
    return out;
}

int64_t WebhookInbox::prune() {
    const int64_t before =
        hub_.clock().now_ms() - static_cast<int64_t>(options().retention_days * 86'400'000.0);
    int64_t n = 0;
    for (const auto& c : connections_) n += hub_.store().prune_inbox(c.id, consumed_through(c.id), before);
    return n;
}

std::vector<std::string> WebhookInbox::describe() const {
    std::vector<std::string> out;
    for (const auto& c : connections_) {
        if (!c.secret_set) {
            out.push_back("connection " + c.id + ": webhooks refused (404): its setting \"" +
                          c.spec.secret_setting + "\" is not set");
            continue;
        }
        std::string readers;
        for (const auto& r : c.readers) readers += (readers.empty() ? "" : ", ") + r;
        out.push_back("connection " + c.id + ": webhooks at /hooks/" + c.id +
                      (readers.empty() ? std::string(" (events trigger runs)")
                                       : " (read by " + readers + ")"));
    }
    return out;
}

json WebhookInbox::view() const {
    json items = json::array();
    for (const auto& c : connections_) {
        const int64_t through = consumed_through(c.id);
        const InboxCounts n = hub_.store().inbox_counts(c.id, through);
        json topics = json::object();
        for (const auto& [topic, entities] : c.spec.topics) {
            json processes = json::array();
            for (const auto& [pid, entity] : c.sources)
                if (std::find(entities.begin(), entities.end(), entity) != entities.end())
                    processes.push_back(pid);
            topics[topic] = {{"entities", entities}, {"processes", processes}};
        }
        items.push_back({{"connection", c.id},
                         {"connector", c.connector},
                         {"accepting", c.secret_set},
                         {"path", "/hooks/" + c.id},
                         {"readers", c.readers},
                         {"topics", topics},
                         {"stored", n.stored},
                         {"pending", c.readers.empty() ? 0 : n.pending},
                         {"consumed", c.readers.empty() ? n.stored : n.stored - n.pending},
                         {"max_pending", options().max_pending},
                         {"last_received", time_or_null_ms(n.last_received_ms)}});
    }
    return {{"listening", !options().listen.empty()},
            {"max_body_bytes", options().max_body_bytes},
            {"retention_days", options().retention_days},
            {"items", items}};
}

std::optional<json> WebhookInbox::connection_view(const std::string& connection_id,
                                                  int64_t before_seq, int64_t limit) const {
    const Connection* c = find(connection_id);
    if (!c) return std::nullopt;
    const int64_t through = consumed_through(c->id);
    Store& store = hub_.store();
    auto rows = store.inbox_latest(c->id, before_seq, limit + 1);
    const bool more = static_cast<int64_t>(rows.size()) > limit;
    if (more) rows.resize(static_cast<size_t>(limit));
    std::vector<InboxRead> reads;
    if (!rows.empty()) reads = store.inbox_reads(c->id, rows.back().seq - 1, rows.front().seq);
    json items = json::array();
    for (const auto& r : rows) {
        json consumed_by = json::array();
        for (const auto& read : reads)
            if (read.after_seq < r.seq && r.seq <= read.through_seq)
                consumed_by.push_back({{"process", read.process_id},
                                       {"run_id", read.run_id},
                                       {"at", time_or_null_ms(read.at_ms)}});
        std::string status = c->readers.empty() ? "trigger_only"
                             : r.seq <= through   ? "consumed"
                                                  : "pending";
        items.push_back({{"seq", r.seq},
                         {"id", r.event_id},
                         {"topic", r.topic},
                         {"received", time_or_null_ms(r.received_ms)},
                         {"status", status},
                         {"triggers", triggered(*c, r.topic)},
                         {"consumed_by", consumed_by}});
    }
    const InboxCounts n = store.inbox_counts(c->id, through);
    return json{{"connection", c->id},
                {"connector", c->connector},
                {"accepting", c->secret_set},
                {"readers", c->readers},
                {"stored", n.stored},
                {"pending", c->readers.empty() ? 0 : n.pending},
                {"items", items},
                {"next_before", more ? json(rows.back().seq) : json(nullptr)},
                {"limit", limit}};
}

std::optional<json> WebhookInbox::event_view(const std::string& connection_id, int64_t seq) const {
    if (!find(connection_id)) return std::nullopt;
    auto e = hub_.store().inbox_event(connection_id, seq);
    if (!e) return std::nullopt;
    json body = json::parse(e->body, nullptr, false);
    return json{{"seq", e->seq},
                {"id", e->event_id},
                {"topic", e->topic},
                {"received", time_or_null_ms(e->received_ms)},
                {"body", body.is_discarded() ? json(e->body) : body}};
}

}  // namespace plexus
