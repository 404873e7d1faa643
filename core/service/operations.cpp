#include "service/operations.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "common/time_text.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace plexus {
namespace {

using nlohmann::json;

constexpr const char* k_mask = "\u2022\u2022\u2022\u2022\u2022\u2022";

std::optional<ScheduleEdit> parse_edit(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    ScheduleEdit e;
    e.cron = j.value("cron", "");
    e.interval = j.value("interval", "");
    e.timezone = j.value("timezone", "");
    return e;
}

void log_scheduler(const std::string& level, const std::string& process_id, const std::string& m) {
    LogLevel l = level == "error"   ? LogLevel::error
                 : level == "warn"  ? LogLevel::warn
                 : level == "debug" ? LogLevel::debug
                                    : LogLevel::info;
    log_line(l, LogTags{process_id, 0, {}, {}}, m);
}

}  // namespace

json counts_json(const RunCounts& c) {
    return {{"read", c.read},
            {"created", c.created},
            {"updated", c.updated},
            {"unchanged", c.unchanged},
            {"failed", c.failed},
            {"recovered", c.recovered}};
}

json time_or_null(int64_t ms) { return ms > 0 ? json(iso_utc(ms)) : json(nullptr); }

namespace {
// "1.5 s", "12 s", "2 min 5 s": a wait as an operator reads it.
std::string seconds_text(int64_t ms) {
    if (ms < 10'000) {
        const int64_t tenths = (ms + 50) / 100;
        return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
    }
    const int64_t s = (ms + 500) / 1000;
    if (s < 120) return std::to_string(s) + " s";
    return std::to_string(s / 60) + " min" + (s % 60 ? " " + std::to_string(s % 60) + " s" : "");
}
}  // namespace

std::string describe_wait(const WaitReason& w, const std::string& connector_name) {
    // "Shopify (Admin REST API)" -> "Shopify": the system's name, not the API's.
    std::string name = connector_name.substr(0, connector_name.find(" ("));
    if (name.empty()) name = !w.connector.empty() ? w.connector : w.connection;
    const std::string whose = name.empty() ? "the connection's" : name + "'s";
    switch (w.kind) {
        case WaitReason::Kind::none:
            return {};
        case WaitReason::Kind::rate_limit:
            return "waiting " + seconds_text(w.ms) + " for " + whose +
                   (w.api_said ? " rate limit (it asked to slow down)" : " rate limit");
        case WaitReason::Kind::retry: {
            std::string why = w.status ? "HTTP " + std::to_string(w.status)
                                       : "a connection error" +
                                             (w.error.empty() ? std::string() : " (" + w.error + ")");
            return "retrying after " + why + (name.empty() ? "" : " from " + name) + " in " +
                   seconds_text(w.ms) + " (attempt " + std::to_string(w.attempt) + " of " +
                   std::to_string(w.max_attempts) + ")";
        }
        case WaitReason::Kind::other_run: {
            // The lease's words without the pid and host: "process products is held by run
            // of products".
            std::string holder = w.holder.substr(0, w.holder.find(" (pid "));
            return "waiting for the other run" + (holder.empty() ? std::string() : ": " + holder);
        }
    }
    return {};
}

json reconcile_json(const ReconcileReport& r) {
    json findings = json::array();
    for (const auto& f : r.findings)
        findings.push_back({{"kind", f.kind},
                            {"source_key", f.source_key},
                            {"target_key", f.target_key},
                            {"detail", f.detail},
                            {"adopted", f.adopted}});
    return {{"process", r.process_id},      {"status", r.status},
            {"message", r.message},         {"ledger_entries", r.ledger_entries},
            {"open_intents", r.open_intents}, {"failed_records", r.failed_records},
            {"adopted", r.adopted},         {"findings", findings}};
}

Operations::Operations(Hub& hub, SchedulerOptions options)
    : hub_(hub),
      engine_(hub),
      state_(hub.store()),
      scheduler_(
          hub.clock(), state_,
          [this](const std::string& id, const std::string& trigger,
                 const std::atomic<bool>* cancel) { return execute(id, trigger, cancel); },
          log_scheduler, options),
      inbox_(hub, [this](const std::vector<std::string>& ids) { request_event_runs(ids); }) {
    // A ref() added to (or removed from) a mapping in the portal changes what the process
    // waits for at once, not at the next start (issue 13).
    hub_.set_mapping_listener([this](const std::string& id) {
        try {
            scheduler_.set_prerequisites(id, hub_.prerequisites(id));
        } catch (const std::exception& e) {
            log_line(LogLevel::error, LogTags{id, 0, {}, {}},
                     std::string("could not update the prerequisites: ") + e.what());
        }
    });
    for (const auto& p : hub_.config().processes) {
        ScheduleEdit edit{p.schedule.cron, p.schedule.interval, p.schedule.timezone};
        if (auto stored = hub_.store().schedule_override(p.id)) {
            if (auto e = parse_edit(*stored)) edit = *e;
        }
        ScheduledProcess sp = scheduled(p);
        sp.cron = edit.cron;
        sp.interval = edit.interval;
        sp.timezone = edit.timezone;
        std::string error;
        if (!scheduler_.add(sp, error))
            throw std::runtime_error("process " + p.id + ": schedule: " + error);
        schedules_[p.id] = edit;
    }
}

Operations::~Operations() {
    hub_.set_mapping_listener({});
    stop();
}

ScheduledProcess Operations::scheduled(const ProcessConfig& p) const {
    // Prerequisites from the mapping in force (a ref() added in the portal counts).
    return ScheduledProcess{p.id,      p.schedule.cron, p.schedule.interval, p.schedule.timezone,
                            p.enabled, std::nullopt,    hub_.prerequisites(p.id)};
}

void Operations::start() {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    if (loop_.joinable()) return;
    // Runs a crash or a store error left "running" are closed before anything else starts.
    try {
        engine_.close_orphaned_runs();
    } catch (const std::exception& e) {
        log_line(LogLevel::error, LogTags{}, std::string("could not close orphaned runs: ") + e.what());
    }
    loop_ = std::thread([this] { scheduler_.run_loop(); });
    events_ = std::thread([this] { event_loop(); });
    try {
        if (auto behind = inbox_.readers_behind(); !behind.empty()) request_event_runs(behind);
    } catch (const std::exception& e) {
        log_line(LogLevel::error, LogTags{}, std::string("webhook inbox: ") + e.what());
    }
}

void Operations::request_event_runs(const std::vector<std::string>& process_ids) {
    {
        std::lock_guard<std::mutex> lock(events_mutex_);
        for (const auto& id : process_ids)
            if (has_process(id) && scheduler_.enabled(id).value_or(false)) event_requests_.insert(id);
    }
    events_cv_.notify_one();
}

// Starts the requested event runs; a process whose run is still going (or queued) keeps its
// request and is tried again shortly, so an event that arrived after that run read its page
// is read by the next one.
void Operations::event_loop() {
    std::unique_lock<std::mutex> lock(events_mutex_);
    while (!events_stop_) {
        if (event_requests_.empty())
            events_cv_.wait(lock, [this] { return events_stop_ || !event_requests_.empty(); });
        else
            events_cv_.wait_for(lock, std::chrono::milliseconds(200));
        if (events_stop_) break;
        std::vector<std::string> ids(event_requests_.begin(), event_requests_.end());
        lock.unlock();
        std::vector<std::string> done;
        for (const auto& id : ids) {
            const RunNowResult r = scheduler_.run_now(id, "event");
            if (r != RunNowResult::already_running) done.push_back(id);
        }
        lock.lock();
        for (const auto& id : done) event_requests_.erase(id);
    }
}

void Operations::stop() {
    stopping_.store(true);
    {
        std::lock_guard<std::mutex> lock(events_mutex_);
        events_stop_ = true;
    }
    events_cv_.notify_all();
    {
        std::lock_guard<std::mutex> lock(loop_mutex_);
        if (events_.joinable()) events_.join();
    }
    scheduler_.stop();
    std::vector<std::thread> reconciles;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        reconciles.swap(reconcile_threads_);
    }
    for (auto& t : reconciles)
        if (t.joinable()) t.join();
    std::lock_guard<std::mutex> lock(loop_mutex_);
    if (loop_.joinable()) loop_.join();
}

bool Operations::has_process(const std::string& process_id) const {
    return hub_.config().process(process_id) != nullptr;
}

RunResult Operations::execute(const std::string& process_id, const std::string& trigger,
                              const std::atomic<bool>* cancel) {
    RunOptions options;
    options.trigger = trigger;
    options.cancel = cancel;
    const bool replay = trigger == "replay";
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (replay) {
            auto it = pending_replays_.find(process_id);
            if (it != pending_replays_.end()) {
                if (!it->second.empty()) options.replay_keys = std::move(it->second);
                pending_replays_.erase(it);
            }
        }
        live_[process_id] = LiveRun{0, trigger, hub_.clock().now_ms(), 0, {}, {}, 0};
    }
    // This run's own observer: overlapping runs each keep their own wait.
    options.on_wait = [this, process_id](const WaitReason& w) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = live_.find(process_id);
        if (it == live_.end()) return;
        if (w.kind == WaitReason::Kind::none) {
            it->second.waiting.reset();
            return;
        }
        it->second.waiting = w;
        it->second.waiting_since_ms = hub_.clock().now_ms();
    };
    options.on_progress = [this](const RunProgress& p) {
        std::lock_guard<std::mutex> lock(mutex_);
        LiveRun& l = live_[p.process_id];
        l.run_id = p.run_id;
        l.pages = p.pages;
        l.counts = p.counts;
    };
    RunSummary s;
    try {
        s = replay ? engine_.replay(process_id, options) : engine_.run(process_id, options);
    } catch (const std::exception& e) {
        s.status = run_status::failed;
        s.message = global_redactor().redact(e.what());
        log_line(LogLevel::error, LogTags{process_id, 0, {}, {}}, s.message);
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        live_.erase(process_id);
    }
    return RunResult{s.status, s.message, s.run_id};
}

std::optional<LiveRun> Operations::live_run(const std::string& process_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(process_id);
    if (it == live_.end()) return std::nullopt;
    return it->second;
}

json Operations::live_json(const LiveRun& live) const {
    const int64_t now = hub_.clock().now_ms();
    const int64_t elapsed = std::max<int64_t>(0, now - live.started_ms);
    json v = {{"run_id", live.run_id},
              {"trigger", live.trigger},
              {"pages", live.pages},
              {"counts", counts_json(live.counts)},
              {"started", iso_utc(live.started_ms)},
              {"elapsed_ms", elapsed}};
    // Records read per second so far, one decimal; null in the first second (no rate yet).
    v["records_per_second"] =
        elapsed >= 1000 ? json(std::round(static_cast<double>(live.counts.read) * 10000.0 /
                                          static_cast<double>(elapsed)) / 10.0)
                        : json(nullptr);
    if (live.waiting) {
        const WaitReason& w = *live.waiting;
        std::string name;
        if (!w.connector.empty())
            if (const json* m = hub_.registry().manifest(w.connector))
                name = m->value("name", "");
        static const char* kinds[] = {"none", "rate_limit", "retry", "other_run"};
        v["waiting"] = {{"kind", kinds[static_cast<int>(w.kind)]},
                        {"reason", global_redactor().redact(describe_wait(w, name))},
                        {"since", iso_utc(live.waiting_since_ms)},
                        {"expected_ms", w.ms},
                        {"connection", w.connection.empty() ? json(nullptr) : json(w.connection)}};
        if (w.kind == WaitReason::Kind::retry) {
            v["waiting"]["attempt"] = w.attempt;
            v["waiting"]["max_attempts"] = w.max_attempts;
            if (w.status) v["waiting"]["status"] = w.status;
        }
    } else {
        v["waiting"] = nullptr;
    }
    return v;
}

size_t Operations::running_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.size();
}

json Operations::process_view(const std::string& process_id) {
    const ProcessConfig* cfg = hub_.config().process(process_id);
    if (!cfg) return nullptr;
    json v;
    v["id"] = cfg->id;
    v["name"] = cfg->name.empty() ? cfg->id : cfg->name;
    v["source"] = {{"connection", cfg->source.connection}, {"entity", cfg->source.entity}};
    v["target"] = {{"connection", cfg->target.connection}, {"entity", cfg->target.entity}};
    v["mode"] = cfg->mode;
    ScheduleEdit edit;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        edit = schedules_[cfg->id];
    }
    auto status = scheduler_.status(cfg->id);
    v["schedule"] = {{"cron", edit.cron},
                     {"interval", edit.interval},
                     {"timezone", edit.timezone},
                     {"description", status ? status->schedule : ""}};
    v["enabled"] = status ? status->enabled : cfg->enabled;
    if (auto live = live_run(cfg->id)) {
        v["running"] = live_json(*live);
    } else if (status && status->running) {
        v["running"] = {{"run_id", 0}, {"trigger", ""}, {"pages", 0},
                        {"counts", counts_json({})}, {"started", nullptr},
                        {"elapsed_ms", 0}, {"records_per_second", nullptr},
                        {"waiting", nullptr}};
    } else {
        v["running"] = nullptr;
    }
    v["next_run"] = status && status->next_run_ms ? json(iso_utc(*status->next_run_ms)) : json(nullptr);
    // Scheduled runs held until these processes complete a first successful run.
    v["waiting_for"] = status ? json(status->waiting_for) : json::array();
    // Its place in a run-all going now: "queued", "waiting for …", "running"; or null.
    v["run_all"] = status && !status->run_all.empty() ? json(status->run_all) : json(nullptr);
    if (auto last = hub_.store().last_run(cfg->id)) {
        v["last_run"] = {{"id", last->id},
                         {"status", last->status},
                         {"trigger", last->trigger},
                         {"message", last->message},
                         {"started", time_or_null(last->started_ms)},
                         {"finished", time_or_null(last->finished_ms)},
                         {"counts", counts_json(last->counts)}};
    } else {
        v["last_run"] = nullptr;
    }
    v["failed_count"] = hub_.store().failed_count(cfg->id);
    v["dismissed_count"] = hub_.store().failed_count(cfg->id, FailedState::dismissed);
    json deps = json::array();
    for (const auto& d : cfg->dependencies) deps.push_back(d.process);
    v["dependencies"] = deps;
    return v;
}

json Operations::processes_view() {
    json items = json::array();
    std::vector<std::string> ids;
    for (const auto& p : hub_.config().processes) ids.push_back(p.id);
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) items.push_back(process_view(id));
    return {{"items", items}, {"run_all", run_all_view()}};
}

OpResult Operations::set_enabled(const std::string& process_id, bool enabled,
                                 const std::string& actor) {
    if (!scheduler_.set_enabled(process_id, enabled, actor))
        return {OpStatus::not_found, "no process \"" + process_id + "\""};
    return OpResult::ok();
}

OpResult Operations::set_schedule(const std::string& process_id, const ScheduleEdit& edit,
                                  const std::string& actor) {
    const ProcessConfig* cfg = hub_.config().process(process_id);
    if (!cfg) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    if (!edit.cron.empty() && !edit.interval.empty())
        return {OpStatus::invalid, "give either cron or interval, not both"};
    // Validate first, so a bad edit is neither stored nor given to the live scheduler.
    {
        std::string error;
        if (!Schedule::parse(edit.cron, edit.interval, edit.timezone, error))
            return {OpStatus::invalid, error};
    }
    ScheduledProcess sp = scheduled(*cfg);
    sp.cron = edit.cron;
    sp.interval = edit.interval;
    sp.timezone = edit.timezone;
    const json stored = {{"cron", edit.cron}, {"interval", edit.interval}, {"timezone", edit.timezone}};
    hub_.store().set_schedule_override(process_id, stored.dump(), actor, hub_.clock().now_ms());
    std::string error;
    if (!scheduler_.add(sp, error)) return {OpStatus::invalid, error};
    std::lock_guard<std::mutex> lock(mutex_);
    schedules_[process_id] = edit;
    return OpResult::ok();
}

OpResult Operations::run_now(const std::string& process_id, const std::string& actor) {
    if (!has_process(process_id)) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    RunNowResult r = scheduler_.run_now(process_id, "manual");
    if (r == RunNowResult::already_running)
        return {OpStatus::conflict, "process " + process_id + " is already running"};
    if (r == RunNowResult::stopping) return {OpStatus::conflict, "the hub is shutting down"};
    if (r == RunNowResult::unknown_process)
        return {OpStatus::not_found, "no process \"" + process_id + "\""};
    hub_.store().audit(AuditEntry{0, hub_.clock().now_ms(), actor, "process.run", process_id, "{}"});
    return OpResult::ok();
}

OpResult Operations::run_all(const std::string& trigger, bool only_new, const std::string& actor,
                             std::vector<std::string>* order_out,
                             const std::vector<std::string>* subset) {
    if (stopping_.load()) return {OpStatus::conflict, "the hub is shutting down"};
    std::vector<std::string> order;
    for (const auto& id : hub_.dependency_order()) {  // the mappings in force
        if (subset) {
            if (std::find(subset->begin(), subset->end(), id) == subset->end()) continue;
        } else if (!scheduler_.enabled(id).value_or(false)) {
            continue;
        }
        if (only_new) {
            bool done = true;
            try {
                done = state_.ever_succeeded(id);
            } catch (const std::exception&) {
                done = true;
            }
            if (done) continue;
        }
        order.push_back(id);
    }
    if (order_out) *order_out = order;
    if (order.empty())
        return {OpStatus::ok, only_new ? "every enabled process has completed a run already"
                                       : "no enabled process"};
    std::string error;
    if (!scheduler_.run_all(order, trigger, error)) return {OpStatus::conflict, error};
    if (!actor.empty())
        hub_.store().audit(AuditEntry{0, hub_.clock().now_ms(), actor, "process.run_all", "",
                                      json{{"order", order}}.dump()});
    return OpResult::ok();
}

json Operations::groups_view() {
    json items = json::array();
    for (const auto& g : hub_.config().groups) {
        int64_t enabled = 0;
        json running = json::array();
        for (const auto& id : g.processes) {
            if (auto st = scheduler_.status(id)) {
                enabled += st->enabled ? 1 : 0;
                if (st->running) running.push_back(id);
            }
        }
        json actions = json::array();
        for (const auto& a : g.actions) {
            json v = {{"id", a.id}, {"label", a.label}};
            if (!a.run.empty()) {
                v["run"] = a.run;
                v["from"] = a.from.empty() ? json(nullptr) : json(a.from);
                v["from_default"] = a.from_default.empty() ? json(nullptr) : json(a.from_default);
            } else {
                v["run_all"] = a.run_all;
            }
            actions.push_back(v);
        }
        items.push_back({{"id", g.id},
                         {"name", g.name},
                         {"description", g.description},
                         {"processes", g.processes},
                         {"active", enabled == static_cast<int64_t>(g.processes.size())},
                         {"enabled_count", enabled},
                         {"running", running},
                         {"actions", actions}});
    }
    return {{"items", items}};
}

OpResult Operations::set_group_enabled(const std::string& group_id, bool enabled,
                                       const std::string& actor) {
    const GroupConfig* g = hub_.config().group(group_id);
    if (!g) return {OpStatus::not_found, "no group \"" + group_id + "\""};
    hub_.store().audit(AuditEntry{0, hub_.clock().now_ms(), actor,
                                  enabled ? "group.enable" : "group.disable", group_id,
                                  json{{"processes", g->processes}}.dump()});
    for (const auto& id : g->processes) scheduler_.set_enabled(id, enabled, actor);
    return OpResult::ok();
}

OpResult Operations::run_group_action(const std::string& group_id, const std::string& action_id,
                                      const std::string& from_text, const std::string& actor,
                                      std::vector<std::string>* started) {
    const GroupConfig* g = hub_.config().group(group_id);
    if (!g) return {OpStatus::not_found, "no group \"" + group_id + "\""};
    const GroupAction* a = nullptr;
    for (const auto& x : g->actions)
        if (x.id == action_id) a = &x;
    if (!a) return {OpStatus::not_found, "group " + group_id + " has no action \"" + action_id + "\""};
    if (stopping_.load()) return {OpStatus::conflict, "the hub is shutting down"};
    if (!a->run_all.empty()) {
        std::vector<std::string> order;
        OpResult r = run_all("action:" + a->id, false, "", &order, &a->run_all);
        if (r.status != OpStatus::ok) return r;
        if (started) *started = order;
        hub_.store().audit(AuditEntry{0, hub_.clock().now_ms(), actor, "group.action", group_id,
                                      json{{"action", a->id}, {"order", order}}.dump()});
        return r;
    }
    std::string from = a->from == "ask" ? from_text : a->from;
    if (a->from == "ask" && from.empty())
        return {OpStatus::invalid, "\"" + a->label + "\" needs the time to read again from, "
                                   "e.g. {\"from\": \"2024-05-01\"}"};
    if (scheduler_.running(a->run))
        return {OpStatus::conflict, "process " + a->run + " is already running"};
    if (!from.empty()) {
        OpResult r = rewind(a->run, from, actor);
        if (r.status != OpStatus::ok) return r;
    }
    RunNowResult r = scheduler_.run_now(a->run, "action:" + a->id);
    if (r == RunNowResult::already_running)
        return {OpStatus::conflict, "process " + a->run + " is already running"};
    if (r != RunNowResult::started) return {OpStatus::conflict, "the hub is shutting down"};
    if (started) *started = {a->run};
    hub_.store().audit(AuditEntry{0, hub_.clock().now_ms(), actor, "group.action", group_id,
                                  json{{"action", a->id}, {"process", a->run},
                                       {"from", from.empty() ? json(nullptr) : json(from)}}.dump()});
    return OpResult::ok();
}

json Operations::run_all_view() const {
    auto st = scheduler_.run_all_status();
    if (!st) return nullptr;
    json ns = json::object();
    for (const auto& [id, why] : st->not_succeeded) ns[id] = why;
    return {{"active", st->active},
            {"trigger", st->trigger},
            {"started", iso_utc(st->started_ms)},
            {"finished", st->finished_ms ? json(iso_utc(*st->finished_ms)) : json(nullptr)},
            {"order", st->order},
            {"succeeded", st->succeeded},
            {"not_succeeded", ns}};
}

OpResult Operations::start_reconcile(const std::string& process_id, bool adopt,
                                     const std::string& actor) {
    if (!has_process(process_id)) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    if (stopping_.load()) return {OpStatus::conflict, "the hub is shutting down"};
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ReconcileState& st = reconciles_[process_id];
        if (st.running)
            return {OpStatus::conflict, "a reconciliation of " + process_id + " is already going"};
        st.running = true;
        st.checked = 0;
        st.started_ms = hub_.clock().now_ms();
        hub_.store().audit(AuditEntry{0, st.started_ms, actor, "process.reconcile", process_id,
                                      json{{"adopt", adopt}}.dump()});
        reconcile_threads_.emplace_back([this, process_id, adopt, actor] {
            ReconcileOptions o;
            o.adopt = adopt;
            o.actor = actor;
            o.cancel = &stopping_;
            o.on_progress = [this, process_id](int64_t checked) {
                std::lock_guard<std::mutex> l(mutex_);
                reconciles_[process_id].checked = checked;
            };
            ReconcileReport report;
            try {
                report = engine_.reconcile(process_id, o);
            } catch (const std::exception& e) {
                report.process_id = process_id;
                report.status = "failed";
                report.message = global_redactor().redact(e.what());
            }
            std::lock_guard<std::mutex> l(mutex_);
            ReconcileState& done = reconciles_[process_id];
            done.running = false;
            done.report = std::move(report);
        });
    }
    return OpResult::ok();
}

json Operations::reconcile_view(const std::string& process_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    json v{{"running", false}, {"checked", 0}, {"started", nullptr}, {"report", nullptr}};
    auto it = reconciles_.find(process_id);
    if (it == reconciles_.end()) return v;
    v["running"] = it->second.running;
    v["checked"] = it->second.checked;
    v["started"] = time_or_null(it->second.started_ms);
    if (it->second.report) v["report"] = reconcile_json(*it->second.report);
    return v;
}

OpResult Operations::replay(const std::string& process_id,
                            const std::optional<std::vector<std::string>>& keys,
                            const std::string& actor, int64_t* records) {
    if (!has_process(process_id)) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    Store& store = hub_.store();
    int64_t n = 0;
    if (keys) {
        if (keys->empty()) return {OpStatus::invalid, "source_keys is empty"};
        for (const auto& k : *keys) {
            auto f = store.failed_record(process_id, k);
            if (!f)
                return {OpStatus::invalid, "source key \"" + k + "\" is not in the failed queue of " +
                                               process_id};
            if (f->dismissed_ms)
                return {OpStatus::invalid, "source key \"" + k + "\" of " + process_id +
                                               " was dismissed; restore it to replay it"};
        }
        n = static_cast<int64_t>(keys->size());
    } else {
        n = store.failed_count(process_id);
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_replays_[process_id] = keys ? *keys : std::vector<std::string>{};
    }
    RunNowResult r = scheduler_.run_now(process_id, "replay");
    if (r != RunNowResult::started) {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_replays_.erase(process_id);
        if (r == RunNowResult::already_running)
            return {OpStatus::conflict, "process " + process_id + " is already running"};
        return {OpStatus::conflict, std::string("cannot replay now: ") + to_string(r)};
    }
    json detail = {{"records", n}};
    if (keys) detail["source_keys"] = *keys;
    store.audit(AuditEntry{0, hub_.clock().now_ms(), actor, "process.replay", process_id,
                           detail.dump()});
    if (records) *records = n;
    return OpResult::ok();
}

OpResult Operations::dismiss_failed(const std::string& process_id,
                                    const std::vector<std::string>& keys, const std::string& reason,
                                    const std::string& actor, int64_t* dismissed) {
    if (!has_process(process_id)) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    if (keys.empty()) return {OpStatus::invalid, "source_keys is empty: name the records to dismiss"};
    if (reason.find_first_not_of(" \t\r\n") == std::string::npos)
        return {OpStatus::invalid, "give a reason: it is kept in the audit log for whoever looks next"};
    if (reason.size() > 1000) return {OpStatus::invalid, "the reason is longer than 1000 characters"};
    Store& store = hub_.store();
    for (const auto& k : keys) {
        auto f = store.failed_record(process_id, k);
        if (!f)
            return {OpStatus::invalid,
                    "source key \"" + k + "\" is not in the failed queue of " + process_id};
        if (f->dismissed_ms)
            return {OpStatus::invalid, "source key \"" + k + "\" of " + process_id +
                                           " is dismissed already (by " + f->dismissed_by + ")"};
    }
    if (scheduler_.running(process_id))
        return {OpStatus::conflict, "process " + process_id +
                                        " is running; dismiss its records when the run has ended"};
    const int64_t n = store.dismiss_failed(
        process_id, keys, reason,
        AuditEntry{0, hub_.clock().now_ms(), actor, "failed.dismiss", process_id,
                   json{{"records", keys.size()}, {"source_keys", keys}, {"reason", reason}}.dump()});
    if (dismissed) *dismissed = n;
    return OpResult::ok();
}

OpResult Operations::restore_failed(const std::string& process_id,
                                    const std::vector<std::string>& keys, const std::string& actor,
                                    int64_t* restored) {
    if (!has_process(process_id)) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    if (keys.empty()) return {OpStatus::invalid, "source_keys is empty: name the records to restore"};
    Store& store = hub_.store();
    for (const auto& k : keys) {
        auto f = store.failed_record(process_id, k);
        if (!f || !f->dismissed_ms)
            return {OpStatus::invalid, "source key \"" + k + "\" is not among the dismissed records of " +
                                           process_id};
    }
    if (scheduler_.running(process_id))
        return {OpStatus::conflict, "process " + process_id +
                                        " is running; restore its records when the run has ended"};
    const int64_t n = store.restore_failed(
        process_id, keys,
        AuditEntry{0, hub_.clock().now_ms(), actor, "failed.restore", process_id,
                   json{{"records", keys.size()}, {"source_keys", keys}}.dump()});
    if (restored) *restored = n;
    return OpResult::ok();
}

OpResult Operations::rewind(const std::string& process_id, const std::string& to_text,
                            const std::string& actor) {
    if (!has_process(process_id)) return {OpStatus::not_found, "no process \"" + process_id + "\""};
    auto ms = parse_time_ms(to_text);
    if (!ms)
        return {OpStatus::invalid, "\"" + to_text +
                                       "\" is not a time; use 2024-05-01 or 2024-05-01T10:00:00Z"};
    hub_.store().rewind_cursor(process_id, iso_utc(*ms), actor, hub_.clock().now_ms());
    return OpResult::ok();
}

json Operations::connections_view() const {
    json items = json::array();
    for (const auto& c : hub_.config().connections) {
        std::set<std::string> secret;
        if (const json* m = hub_.registry().manifest(c.connector)) {
            if (m->contains("settings") && (*m)["settings"].is_array())
                for (const auto& s : (*m)["settings"])
                    if (s.value("secret", false)) secret.insert(s.value("name", ""));
        }
        json settings = json::object();
        for (auto it = c.settings.begin(); it != c.settings.end(); ++it) {
            if (secret.count(it.key())) settings[it.key()] = k_mask;
            else if (it->is_string()) settings[it.key()] = global_redactor().redact(it->get<std::string>());
            else settings[it.key()] = *it;
        }
        json processes = json::array();
        for (const auto& p : hub_.config().processes)
            if (p.source.connection == c.id || p.target.connection == c.id) processes.push_back(p.id);
        items.push_back({{"id", c.id},
                         {"connector", c.connector},
                         {"settings", settings},
                         {"processes", processes}});
    }
    return {{"items", items}};
}

bool Operations::has_connection(const std::string& connection_id) const {
    for (const auto& c : hub_.config().connections)
        if (c.id == connection_id) return true;
    return false;
}

ConnectionTest Operations::test_connection(const std::string& connection_id,
                                           const std::string& actor) {
    return test_connection(
        connection_id,
        [&] { return hub_.open(connection_id, LogTags{{}, 0, {}, connection_id}, nullptr); }, actor);
}

ConnectionTest Operations::test_connection(
    const std::string& connection_id,
    const std::function<std::unique_ptr<ConnectorInstance>()>& open, const std::string& actor) {
    ConnectionTest t;
    const auto started = std::chrono::steady_clock::now();
    try {
        auto instance = open();
        CallResult r = instance->check();
        t.ok = r.ok();
        if (t.ok) {
            json j = json::parse(r.text, nullptr, false);
            t.message = j.is_object() && j.contains("message") && j["message"].is_string()
                            ? j["message"].get<std::string>()
                            : "connected";
        } else {
            t.error_class = status_name(r.status);
            t.message = r.text;
        }
    } catch (const std::exception& e) {
        t.ok = false;
        t.error_class = "plugin";
        t.message = e.what();
    }
    t.message = global_redactor().redact(t.message);
    t.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    json detail = {{"ok", t.ok}};
    if (!t.ok) detail["error_class"] = t.error_class;
    hub_.store().audit(AuditEntry{0, hub_.clock().now_ms(), actor, "connection.test",
                                  connection_id, detail.dump()});
    // Kept in the store (migration 13), so a failed test still asks for attention after a
    // restart; the next test replaces it. A store that cannot write (a read-only database)
    // does not turn the test's answer into an error.
    try {
        hub_.store().record_connection_test(ConnectionTestRow{
            connection_id, t.ok, t.ok ? std::string() : t.error_class, t.message, t.duration_ms,
            hub_.clock().now_ms()});
    } catch (const std::exception& e) {
        log_line(LogLevel::warn, LogTags{{}, 0, {}, connection_id},
                 global_redactor().redact(std::string("the connection test was not recorded: ") + e.what()));
    }
    return t;
}

json Operations::connection_tests() const {
    json out = json::object();
    for (const auto& row : hub_.store().connection_tests())
        out[row.connection_id] = {{"ok", row.ok},
                                  {"message", row.message},
                                  {"error_class", row.error_class},
                                  {"duration_ms", row.duration_ms},
                                  {"at", iso_utc(row.tested_ms)}};
    return out;
}

json Operations::plugins_view() const {
    json loaded = json::array();
    for (const auto& c : hub_.registry().connectors()) {
        json d = PluginRegistry::describe(*c);
        loaded.push_back(d);
    }
    json refused = json::array();
    for (const auto& r : hub_.registry().refused())
        refused.push_back({{"path", r.path}, {"reason", r.reason}});
    return {{"loaded", loaded}, {"refused", refused}};
}

}  // namespace plexus
