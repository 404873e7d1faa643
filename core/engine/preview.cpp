#include "engine/preview.hpp"

#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "engine/ledger_decision.hpp"
#include "engine/payload_hash.hpp"
#include "engine/source_record.hpp"
#include "inbox/webhook_inbox.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>

namespace plexus {
namespace {

using json = nlohmann::json;

void redact_values(json& j) {
    if (j.is_string()) {
        const std::string& s = j.get_ref<const std::string&>();
        if (global_redactor().contains_secret(s)) j = global_redactor().redact(s);
    } else if (j.is_array() || j.is_object()) {
        for (auto& v : j) redact_values(v);
    }
}

// Equal as the target would hold them: 12.5 and "12.50" are the same amount.
bool same_value(const json& a, const json& b) {
    if (a == b) return true;
    auto number = [](const json& v) -> std::optional<double> {
        if (v.is_number()) return v.get<double>();
        if (v.is_string()) {
            const std::string& s = v.get_ref<const std::string&>();
            if (s.empty()) return std::nullopt;
            try {
                size_t used = 0;
                double d = std::stod(s, &used);
                if (used == s.size()) return d;
            } catch (...) {
            }
        }
        return std::nullopt;
    };
    auto x = number(a), y = number(b);
    if (x && y) return std::fabs(*x - *y) < 1e-9;
    if (a.is_string() && b.is_string()) return false;
    if ((a.is_null() && b.is_string() && b.get_ref<const std::string&>().empty()) ||
        (b.is_null() && a.is_string() && a.get_ref<const std::string&>().empty()))
        return true;
    return false;
}

class Previewer {
public:
    Previewer(Hub& hub, const CompiledProcess& compiled, const Mapping& mapping,
              const PreviewOptions& o)
        : hub_(hub), store_(hub.store()), cfg_(*compiled.config), compiled_(compiled),
          mapping_(mapping), options_(o) {
        for (const auto& other : hub.config().processes)
            if (other.id != cfg_.id && other.target.connection == cfg_.source.connection &&
                other.target.entity == cfg_.source.entity &&
                other.source.connection == cfg_.target.connection &&
                other.source.entity == cfg_.target.entity)
                reverse_.push_back(other.id);
    }

    std::vector<SourceRecord> read(bool from_start, bool& more, std::string& message) {
        auto source = hub_.open(cfg_.source.connection, tags(), options_.cancel);
        CursorState state;
        if (!from_start) state = store_.cursor(cfg_.id);
        json request{{"entity", cfg_.source.entity},
                     {"cursor", state.cursor ? json(*state.cursor) : json(nullptr)},
                     {"since", state.since ? json(*state.since) : json(nullptr)},
                     {"limit", options_.limit},
                     {"filter", cfg_.source.filter}};
        bool inbox = false;
        if (const ConnectionConfig* conn = hub_.config().connection(cfg_.source.connection))
            if (const json* m = hub_.registry().manifest(conn->connector))
                inbox = is_inbox_entity(*m, cfg_.source.entity);
        if (inbox) {
            // Events received by webhook: read from the store, never marked consumed here.
            const auto after = from_start ? std::optional<int64_t>(0) : parse_inbox_cursor(state.cursor);
            if (!after) throw std::runtime_error("the last change seen of " + cfg_.source.entity +
                                                 " is not an event number; read from the start instead");
            int64_t since_ms = 0;
            if (!from_start && !state.cursor && state.since)
                since_ms = parse_time_ms(*state.since).value_or(0);
            auto rows = store_.inbox_events_after(cfg_.source.connection, *after, since_ms,
                                                  options_.limit + 1);
            const bool more_events = static_cast<int64_t>(rows.size()) > options_.limit;
            if (more_events) rows.resize(static_cast<size_t>(options_.limit));
            json events = json::array();
            for (auto& e : rows) {
                json body = json::parse(e.body, nullptr, false);
                events.push_back({{"seq", e.seq}, {"id", e.event_id}, {"topic", e.topic},
                                  {"received_at", iso_utc(e.received_ms)},
                                  {"body", body.is_discarded() ? json(e.body) : body}});
            }
            request["events"] = std::move(events);
            request["events_more"] = more_events;
        }
        CallResult r = source->read_page(request);
        if (!r.ok())
            throw std::runtime_error("reading " + cfg_.source.entity + " failed (" +
                                     status_name(r.status) + "): " +
                                     global_redactor().redact(r.text));
        json reply = json::parse(r.text, nullptr, false);
        if (!reply.is_object() || !reply.contains("records") || !reply["records"].is_array())
            throw std::runtime_error("the source connector's page reply is malformed");
        std::vector<SourceRecord> out;
        for (auto& j : reply["records"]) {
            if (static_cast<int64_t>(out.size()) >= options_.limit) {
                more = true;
                break;
            }
            out.push_back(SourceRecord::from_json(std::move(j)));
        }
        if (reply.value("has_more", false)) more = true;
        if (out.empty())
            message = from_start ? "the source has no records to show"
                                 : "nothing new since the last run";
        return out;
    }

    std::vector<PreviewItem> decide_all(const std::vector<SourceRecord>& recs) {
        return cfg_.mode == "aggregate" ? aggregate_items(recs) : record_items(recs);
    }

private:
    LogTags tags() const { return LogTags{cfg_.id, 0, {}, {}}; }

    RefResolver resolver() {
        return [this](const std::string& proc, const std::string& k) -> std::optional<std::string> {
            auto e = store_.ledger_find(proc, k);
            return e ? std::optional<std::string>(e->target_key) : std::nullopt;
        };
    }

    ConnectorInstance& target() {
        if (!target_) target_ = hub_.open(cfg_.target.connection, tags(), options_.cancel);
        return *target_;
    }

    // The target's lookup; nullopt when it could not answer (`why` set). After a refusal
    // that will not change (not supported, bad request) it is not asked again.
    std::optional<json> lookup(const json& request, std::string& why) {
        if (!lookup_problem_.empty()) {
            why = lookup_problem_;
            return std::nullopt;
        }
        CallResult r = target().lookup(request);
        if (r.status == PLEXUS_ERR_NOT_FOUND) return json{{"found", false}};
        if (!r.ok()) {
            why = "the target could not be asked (" + std::string(status_name(r.status)) + "): " +
                  global_redactor().redact(r.text);
            if (r.status != PLEXUS_ERR_TRANSIENT && r.status != PLEXUS_ERR_RATE_LIMIT)
                lookup_problem_ = why;
            return std::nullopt;
        }
        json reply = json::parse(r.text, nullptr, false);
        if (!reply.is_object()) {
            why = "the target's lookup reply is malformed";
            return std::nullopt;
        }
        return reply;
    }

    // The fields of `mapped` whose values differ from the target record `key`'s; null when
    // the target cannot say.
    json changed_fields(const json& mapped, const std::string& key, std::string& note) {
        std::string why;
        auto reply = lookup(json{{"entity", cfg_.target.entity}, {"key", key}}, why);
        if (!reply) {
            note = why;
            return nullptr;
        }
        if (!reply->value("found", false)) {
            note = "the target no longer has " + key + "; the update will say so";
            return nullptr;
        }
        const json data = SourceRecord::from_json(reply->value("record", json::object())).data;
        json changed = json::array();
        size_t compared = 0;
        for (const auto& [name, value] : mapped.items()) {
            auto it = data.find(name);
            if (it == data.end()) continue;
            ++compared;
            if (!same_value(value, *it)) changed.push_back(name);
        }
        if (compared == 0) {
            note = "the target names its fields differently; which fields changed is not known";
            return nullptr;
        }
        return changed;
    }

    // The key each dependency takes from the record, in cfg_.dependencies' order; throws as
    // key_at does (a run fails the record for it).
    std::vector<std::string> dependency_keys(const SourceRecord& rec) const {
        std::vector<std::string> keys;
        for (const auto& dep : cfg_.dependencies) keys.push_back(key_at(rec.data, dep.key_path));
        return keys;
    }

    std::string dependency_note(const std::vector<std::string>& keys) {
        std::string note;
        for (size_t i = 0; i < cfg_.dependencies.size(); ++i) {
            const auto& dep = cfg_.dependencies[i];
            const std::string& k = keys[i];
            if (k.empty() || store_.ledger_find(dep.process, k)) continue;
            note += (note.empty() ? "" : "; ") + std::string("needs ") + dep.key_path + " " + k +
                    " from process " + dep.process + " first (a run sends it before this record)";
        }
        return note;
    }

    std::vector<PreviewItem> record_items(const std::vector<SourceRecord>& recs) {
        std::vector<PreviewItem> out;
        RefResolver refs = resolver();
        for (const auto& rec : recs) {
            if (options_.cancel && options_.cancel->load()) break;
            PreviewItem it;
            it.source_key = rec.key;
            json mapped;
            std::vector<std::string> dep_keys;
            try {
                // As a run does: the dependencies' keys first (a path that cannot be read
                // fails the record), then the mapping.
                dep_keys = dependency_keys(rec);
                mapped = mapping_.apply(rec.data, refs);
            } catch (const MappingError& e) {
                it.action = "error";
                it.field = e.field;
                it.message = e.problem;
                out.push_back(std::move(it));
                continue;
            } catch (const std::exception& e) {
                it.action = "error";
                it.message = global_redactor().redact(e.what());
                out.push_back(std::move(it));
                continue;
            }
            const std::string hash = payload_hash(mapped);
            std::string note = dependency_note(dep_keys);
            auto add_note = [&](const std::string& n) {
                if (!n.empty()) note += (note.empty() ? "" : "; ") + n;
            };
            std::optional<LedgerEntry> known = store_.ledger_find(cfg_.id, rec.key);
            // Two-way sync: the reverse process's own write is not sent back.
            for (const auto& rp : reverse_) {
                auto e = store_.ledger_find_by_target(rp, rec.key);
                if (!e) continue;
                if (!rec.cursor.empty() && e->target_cursor == rec.cursor) {
                    it.action = "skip";
                    it.target_key = e->source_key;
                    add_note("written by process " + rp + "; not sent back");
                } else if (!known) {
                    known = LedgerEntry{rec.key, e->source_key, {}, 0, {}};
                }
                break;
            }
            if (it.action.empty()) {
                Decision d = decide(known ? &*known : nullptr, hash);
                if (d.what == WriteDecision::unchanged) {
                    it.action = "skip";
                    it.target_key = d.target_key;
                    add_note("unchanged since it was last sent");
                } else if (d.what == WriteDecision::update) {
                    it.action = "update";
                    it.target_key = d.target_key;
                    std::string why;
                    it.changed_fields = changed_fields(mapped, d.target_key, why);
                    add_note(why);
                } else {
                    std::string why;
                    auto reply = lookup(json{{"entity", cfg_.target.entity},
                                             {"idempotency_key", idempotency_key(cfg_.id, rec.key)},
                                             {"data", mapped}},
                                        why);
                    std::string found;
                    if (reply && reply->value("found", false))
                        found = SourceRecord::from_json(reply->value("record", json::object())).key;
                    if (!found.empty()) {
                        it.action = "update";
                        it.target_key = found;
                        add_note("the target already has this record (" + found +
                                 "): a run links to it and updates it");
                        std::string why2;
                        it.changed_fields = changed_fields(mapped, found, why2);
                    } else {
                        it.action = "create";
                        if (!reply) add_note(why + "; taken as new");
                    }
                }
            }
            redact_values(mapped);
            it.payload = std::move(mapped);
            it.message = std::move(note);
            out.push_back(std::move(it));
        }
        return out;
    }

    std::vector<PreviewItem> aggregate_items(const std::vector<SourceRecord>& recs) {
        std::vector<PreviewItem> out;
        RefResolver refs = resolver();
        std::vector<json> mapped;
        std::vector<const SourceRecord*> members;
        for (const auto& rec : recs) {
            if (auto e = store_.ledger_find(cfg_.id, rec.key)) {
                PreviewItem it;
                it.source_key = rec.key;
                it.action = "skip";
                it.target_key = e->target_key;
                it.message = "already part of an earlier posting";
                out.push_back(std::move(it));
                continue;
            }
            try {
                mapped.push_back(mapping_.apply(rec.data, refs));
                members.push_back(&rec);
            } catch (const MappingError& e) {
                PreviewItem it;
                it.source_key = rec.key;
                it.action = "error";
                it.field = e.field;
                it.message = e.problem;
                out.push_back(std::move(it));
            }
        }
        std::vector<AggregateGroup> groups;
        try {
            groups = aggregate(compiled_.aggregate, mapped);
        } catch (const MappingError& e) {
            for (const SourceRecord* m : members) {
                PreviewItem it;
                it.source_key = m->key;
                it.action = "error";
                it.field = e.field;
                it.message = "cannot be summed: " + e.problem;
                out.push_back(std::move(it));
            }
            return out;
        }
        for (auto& g : groups) {
            PreviewItem it;
            it.source_key = g.group_key;
            it.action = "create";
            for (size_t m : g.members) it.members.push_back(members[m]->key);
            it.message = "one posting summing " + std::to_string(g.members.size()) + " record(s)";
            redact_values(g.record);
            it.payload = std::move(g.record);
            out.push_back(std::move(it));
        }
        return out;
    }

    Hub& hub_;
    Store& store_;
    const ProcessConfig& cfg_;
    const CompiledProcess& compiled_;
    const Mapping& mapping_;
    const PreviewOptions& options_;
    std::vector<std::string> reverse_;
    std::unique_ptr<ConnectorInstance> target_;
    std::string lookup_problem_;
};

}  // namespace

PreviewReport preview(Hub& hub, const std::string& process_id, const PreviewOptions& o) {
    const CompiledProcess& compiled = hub.process(process_id);  // throws for an unknown one
    const std::string& s = o.source;
    if (s != "read" && s != "new" && s != "failed" && s != "record")
        throw std::invalid_argument("source \"" + s +
                                    "\" is none of read, new, failed, record");
    if (o.limit < 1 || o.limit > 100)
        throw std::invalid_argument("limit must be from 1 to 100");
    PreviewReport report;
    report.process_id = process_id;
    report.source = s;
    report.mapping_version = compiled.mapping_version;
    Mapping draft;
    const Mapping* mapping = compiled.mapping.get();
    if (!o.mapping.is_null()) {
        std::vector<ConfigError> errors;
        draft = Mapping::compile(o.mapping, hub.config().lookup_tables, hub.config().file,
                                 compiled.config->json_path + "/mapping", errors);
        if (!errors.empty())
            throw std::invalid_argument("the mapping is not valid: " + errors.front().json_path +
                                        ": " + errors.front().message);
        mapping = &draft;
        report.mapping_version = -1;
    }
    Previewer p(hub, compiled, *mapping, o);
    std::vector<SourceRecord> recs;
    if (s == "read" || s == "new") {
        recs = p.read(s == "read", report.more, report.message);
    } else if (s == "failed") {
        for (const auto& f : hub.store().failed_records(process_id, o.limit + 1, 0)) {
            if (static_cast<int64_t>(recs.size()) >= o.limit) {
                report.more = true;
                break;
            }
            SourceRecord r = SourceRecord::from_json(json::parse(f.record_json, nullptr, false));
            if (r.key.empty()) r.key = f.source_key;
            recs.push_back(std::move(r));
        }
        if (recs.empty()) report.message = "no records wait for a retry";
    } else {
        if (!o.record.is_object())
            throw std::invalid_argument("record must be a JSON object: the record's fields, or "
                                        "{\"key\": …, \"data\": {…}}");
        SourceRecord r;
        if (o.record.contains("data") && o.record["data"].is_object()) {
            r = SourceRecord::from_json(o.record);
        } else {
            r.data = o.record;
        }
        const auto k = o.record.find("key");
        if (r.key.empty() || (k != o.record.end() && k->is_null())) r.key = "(pasted)";
        recs.push_back(std::move(r));
    }
    report.items = p.decide_all(recs);
    return report;
}

nlohmann::json preview_json(const PreviewReport& r) {
    json items = json::array();
    json counts = {{"create", 0}, {"update", 0}, {"skip", 0}, {"error", 0}};
    for (const auto& it : r.items) {
        json j = {{"key", it.source_key}, {"action", it.action}};
        if (!it.target_key.empty()) j["target_key"] = it.target_key;
        j["payload"] = it.payload;
        if (it.action == "update") j["changed_fields"] = it.changed_fields;
        if (!it.field.empty()) j["field"] = it.field;
        j["message"] = it.message;
        if (!it.members.empty()) j["members"] = it.members;
        items.push_back(std::move(j));
        if (counts.contains(it.action)) counts[it.action] = counts[it.action].get<int64_t>() + 1;
    }
    json out = {{"process", r.process_id},
                {"source", r.source},
                {"mapping_version", r.mapping_version < 0 ? json("draft") : json(r.mapping_version)},
                {"counts", counts},
                {"items", items},
                {"more", r.more}};
    if (!r.message.empty()) out["message"] = r.message;
    return out;
}

}  // namespace plexus
