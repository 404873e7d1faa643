#include "scheduler/scheduler.hpp"

#include <date/date.h>

#include <algorithm>
#include <exception>

namespace plexus {
namespace {

std::string iso(int64_t ms) {
    using namespace std::chrono;
    date::sys_seconds s{duration_cast<seconds>(milliseconds{ms})};
    return date::format("%FT%TZ", s);
}

}  // namespace

const char* to_string(RunNowResult r) {
    switch (r) {
        case RunNowResult::started: return "started";
        case RunNowResult::already_running: return "already_running";
        case RunNowResult::unknown_process: return "unknown_process";
        case RunNowResult::stopping: return "stopping";
    }
    return "?";
}

// --- MemorySchedulerState -------------------------------------------------------------------

std::optional<bool> MemorySchedulerState::enabled(const std::string& process_id) {
    std::lock_guard lock(mutex_);
    auto it = enabled_.find(process_id);
    if (it == enabled_.end()) return std::nullopt;
    return it->second;
}

void MemorySchedulerState::set_enabled(const std::string& process_id, bool enabled,
                                       const std::string& /*actor*/, int64_t /*now_ms*/) {
    std::lock_guard lock(mutex_);
    enabled_[process_id] = enabled;
}

std::optional<int64_t> MemorySchedulerState::anchor_ms(const std::string& process_id) {
    std::lock_guard lock(mutex_);
    auto it = anchors_.find(process_id);
    if (it == anchors_.end()) return std::nullopt;
    return it->second;
}

void MemorySchedulerState::set_anchor_ms(const std::string& process_id, int64_t ms) {
    std::lock_guard lock(mutex_);
    anchors_[process_id] = ms;
}

// --- Scheduler ------------------------------------------------------------------------------

Scheduler::Scheduler(Clock& clock, SchedulerState& state, RunFn run, SchedulerLogFn log,
                     SchedulerOptions options)
    : clock_(clock), state_(state), run_(std::move(run)), log_(std::move(log)), options_(options) {
    if (options_.workers == 0) options_.workers = 1;
    if (options_.max_sleep_ms < 1) options_.max_sleep_ms = 1;
    workers_.reserve(options_.workers);
    for (size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::emit(std::vector<LogLine>& lines) {
    if (log_)
        for (const auto& l : lines) log_(l.level, l.id, l.message);
    lines.clear();
}

void Scheduler::schedule_locked(Entry& e, std::optional<int64_t> due) {
    ++e.generation;
    e.next_due = due;
    if (due) heap_.push(HeapItem{*due, e.generation, e.id});
    compact_heap_locked();
    wake_ = true;
    loop_cv_.notify_all();
}

void Scheduler::compact_heap_locked() {
    // Stale items (older generations) are dropped when popped; rebuild when they dominate.
    if (heap_.size() <= 2 * entries_.size() + 64) return;
    std::vector<HeapItem> items;
    items.reserve(entries_.size());
    for (const auto& [id, e] : entries_)
        if (e.next_due) items.push_back(HeapItem{*e.next_due, e.generation, id});
    heap_ = decltype(heap_)(std::greater<HeapItem>(), std::move(items));
}

bool Scheduler::add(const ScheduledProcess& p, std::string& error) {
    if (p.id.empty()) {
        error = "the process id is empty";
        return false;
    }
    auto schedule = Schedule::parse(p.cron, p.interval, p.timezone, error);
    if (!schedule) return false;
    const bool enabled = state_.enabled(p.id).value_or(p.enabled);
    const std::optional<int64_t> anchor = state_.anchor_ms(p.id);
    const int64_t now = clock_.now_ms();
    std::vector<LogLine> logs;
    {
        std::lock_guard lock(mutex_);
        Entry& e = entries_[p.id];
        e.id = p.id;
        e.schedule = std::move(*schedule);
        e.enabled = enabled;
        e.anchor = anchor;
        e.prerequisites = p.prerequisites;
        std::optional<int64_t> due;
        if (enabled && !e.schedule.manual_only()) {
            if (anchor) {
                due = next_fire_ms(e.schedule, *anchor, *anchor);  // may have passed: catch-up
            } else if (e.schedule.interval) {
                const int64_t base = p.created_ms.value_or(now);
                due = next_fire_ms(e.schedule, base, base);
            } else {
                due = next_fire_ms(e.schedule, now, now);
            }
            if (!due)
                logs.push_back({"warn", p.id, e.schedule.describe() + " never fires"});
            else if (*due <= now)
                logs.push_back({"info", p.id,
                                "due at " + iso(*due) + " while the scheduler was down; one "
                                "catch-up run follows"});
        }
        schedule_locked(e, due);
    }
    emit(logs);
    return true;
}

bool Scheduler::remove(const std::string& process_id) {
    std::lock_guard lock(mutex_);
    return entries_.erase(process_id) > 0;  // its heap items are now stale
}

bool Scheduler::set_prerequisites(const std::string& process_id,
                                  std::vector<std::string> prerequisites) {
    std::vector<LogLine> logs;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(process_id);
        if (it == entries_.end()) return false;
        if (it->second.prerequisites == prerequisites) return true;
    }
    {
        // Whether the new prerequisites have succeeded, asked before the lock is taken.
        const std::vector<std::string> yes = ever_succeeded(prerequisites);
        std::lock_guard lock(mutex_);
        succeeded_.insert(yes.begin(), yes.end());
    }
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(process_id);
        if (it == entries_.end()) return false;
        Entry& e = it->second;
        if (e.prerequisites == prerequisites) return true;
        std::string names;
        for (const auto& q : prerequisites) names += (names.empty() ? "" : ", ") + q;
        logs.push_back({"info", process_id,
                        "prerequisites now: " + (names.empty() ? std::string("none") : names) +
                            " (its mapping in force changed)"});
        e.prerequisites = std::move(prerequisites);
        if (e.held && e.enabled && !stopping_ && !running_.count(process_id) &&
            waiting_for_locked(e).empty() &&
            std::find(run_all_pending_.begin(), run_all_pending_.end(), process_id) ==
                run_all_pending_.end()) {
            e.held = false;
            start_locked(e, "schedule");
            logs.push_back({"info", process_id,
                            "released: no prerequisite it waited for is left"});
        }
    }
    emit(logs);
    return true;
}

std::vector<std::string> Scheduler::waiting_for_locked(const Entry& e) const {
    std::vector<std::string> out;
    for (const auto& q : e.prerequisites)
        if (!succeeded_.count(q)) out.push_back(q);
    return out;
}

std::vector<std::string> Scheduler::ever_succeeded(const std::vector<std::string>& ids) {
    std::vector<std::string> yes;
    for (const auto& q : ids) {
        bool y = true;
        try {
            y = state_.ever_succeeded(q);
        } catch (const std::exception&) {
            y = true;  // a store that cannot answer must not stop the schedule
        }
        if (y) yes.push_back(q);
    }
    return yes;
}

void Scheduler::refresh_succeeded() {
    std::vector<std::string> unknown;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, e] : entries_)
            for (const auto& q : e.prerequisites)
                if (!succeeded_.count(q) &&
                    std::find(unknown.begin(), unknown.end(), q) == unknown.end())
                    unknown.push_back(q);
    }
    if (unknown.empty()) return;
    const std::vector<std::string> yes = ever_succeeded(unknown);
    if (yes.empty()) return;
    std::lock_guard lock(mutex_);
    succeeded_.insert(yes.begin(), yes.end());
}

void Scheduler::store_anchors(std::vector<LogLine>& logs, bool now) {
    std::lock_guard one(anchor_store_mutex_);
    std::unordered_map<std::string, int64_t> anchors;
    {
        std::lock_guard lock(mutex_);
        if (pending_anchors_.empty()) return;
        if (!now && clock_.now_ms() < anchor_retry_at_ms_) return;
        anchors.swap(pending_anchors_);
    }
    // The stored anchor only serves catch-up after downtime: a store that cannot write it
    // now must not stop the schedule, nor the host (issue 10, row 7); it is kept and tried
    // again later.
    std::string failure;
    std::unordered_map<std::string, int64_t> unsaved;
    for (const auto& [id, at] : anchors) {
        if (!failure.empty()) {
            unsaved.emplace(id, at);
            continue;
        }
        try {
            state_.set_anchor_ms(id, at);
        } catch (const std::exception& ex) {
            failure = ex.what();
            unsaved.emplace(id, at);
        }
    }
    if (failure.empty()) return;
    std::lock_guard lock(mutex_);
    for (const auto& [id, at] : unsaved) pending_anchors_.emplace(id, at);  // newer ones win
    anchor_retry_at_ms_ = clock_.now_ms() + options_.anchor_retry_ms;
    logs.push_back({"error", "",
                    "could not store the schedule's anchor of " + std::to_string(unsaved.size()) +
                        " process(es), tried again in " +
                        std::to_string(options_.anchor_retry_ms / 1000) + " s: " + failure});
}

void Scheduler::start_locked(Entry& e, const std::string& trigger) {
    running_.insert(e.id);
    ++e.started;
    jobs_.push_back(Job{e.id, trigger});
    work_cv_.notify_one();
}

size_t Scheduler::tick() {
    refresh_succeeded();
    std::vector<LogLine> logs;
    size_t started = 0;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return 0;
        const int64_t now = clock_.now_ms();
        while (!heap_.empty() && heap_.top().due <= now) {
            HeapItem item = heap_.top();
            heap_.pop();
            auto it = entries_.find(item.id);
            if (it == entries_.end() || it->second.generation != item.generation) continue;
            Entry& e = it->second;
            if (!e.enabled) continue;
            // Every due time up to now is dealt with by this one decision.
            const std::optional<int64_t> following = next_fire_ms(e.schedule, item.due, item.due);
            const bool missed_more = following && *following <= now;
            const std::vector<std::string> waiting = waiting_for_locked(e);
            if (run_all_member_locked(e.id)) {
                // Run all in order runs it (or is running it) once, in its order: a scheduled
                // run now would only run it twice, perhaps before its prerequisites.
                logs.push_back({"info", e.id,
                                "the run due at " + iso(item.due) +
                                    " is left to run all in order, which runs it in its turn"});
            } else if (!waiting.empty()) {
                if (!e.held) {
                    std::string names;
                    for (const auto& q : waiting) names += (names.empty() ? "" : ", ") + q;
                    logs.push_back({"info", e.id,
                                    "held: waits for the first successful run of " + names +
                                        " (it runs as soon as that has finished)"});
                }
                e.held = true;
            } else if (running_.count(e.id)) {
                ++e.skipped;
                ++skipped_total_;
                logs.push_back({"warn", e.id,
                                "skipped the run due at " + iso(item.due) +
                                    ": the previous run is still running"});
            } else {
                e.held = false;
                start_locked(e, "schedule");
                ++started;
                if (missed_more)
                    logs.push_back({"info", e.id,
                                    "catch-up: due times from " + iso(item.due) +
                                        " were missed; running once now"});
            }
            e.anchor = now;
            pending_anchors_[e.id] = now;  // stored below, without the lock
            // Cron: the first due time after now; interval: keep the phase of the slot.
            schedule_locked(e, next_fire_ms(e.schedule, now, item.due));
        }
    }
    store_anchors(logs);
    emit(logs);
    return started;
}

void Scheduler::wake() {
    std::lock_guard lock(mutex_);
    wake_ = true;
    loop_cv_.notify_all();
}

void Scheduler::run_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const int64_t now = clock_.now_ms();
        // Drop stale items so the top is a real due time.
        while (!heap_.empty()) {
            const HeapItem& top = heap_.top();
            auto it = entries_.find(top.id);
            if (it != entries_.end() && it->second.generation == top.generation &&
                it->second.enabled)
                break;
            heap_.pop();
        }
        if (!heap_.empty() && heap_.top().due <= now) {
            lock.unlock();
            try {
                tick();
            } catch (const std::exception& ex) {
                // Nothing escapes the scheduler's thread (that would end the host).
                std::vector<LogLine> logs{{"error", "", std::string("scheduler: ") + ex.what()}};
                emit(logs);
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            lock.lock();
            continue;
        }
        int64_t wait = options_.max_sleep_ms;
        if (!heap_.empty()) wait = std::min(wait, heap_.top().due - now);
        wake_ = false;
        loop_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait, 1)),
                          [this] { return stopping_ || wake_; });
    }
}

RunNowResult Scheduler::run_now(const std::string& process_id, const std::string& trigger) {
    std::vector<LogLine> logs;
    RunNowResult result;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(process_id);
        if (stopping_) {
            result = RunNowResult::stopping;
        } else if (it == entries_.end()) {
            result = RunNowResult::unknown_process;
        } else if (running_.count(process_id)) {
            result = RunNowResult::already_running;
            logs.push_back({"info", process_id,
                            "run now (" + trigger + ") refused: a run is already going"});
        } else {
            start_locked(it->second, trigger);
            result = RunNowResult::started;
        }
    }
    emit(logs);
    return result;
}

bool Scheduler::run_all_member_locked(const std::string& id) const {
    if (!run_all_ || !run_all_->active) return false;
    return run_all_started_.count(id) ||
           std::find(run_all_pending_.begin(), run_all_pending_.end(), id) != run_all_pending_.end() ||
           std::find(run_all_retry_.begin(), run_all_retry_.end(), id) != run_all_retry_.end();
}

std::vector<std::string> Scheduler::batch_prerequisites_locked(const std::string& id) const {
    std::vector<std::string> out;
    auto it = entries_.find(id);
    if (it == entries_.end() || !run_all_) return out;
    const auto& order = run_all_->order;
    for (const auto& q : it->second.prerequisites)
        if (std::find(order.begin(), order.end(), q) != order.end()) out.push_back(q);
    return out;
}

void Scheduler::advance_run_all_locked(std::vector<LogLine>& logs) {
    if (!run_all_ || !run_all_->active) return;
    RunAllStatus& b = *run_all_;
    // Starts the members whose prerequisites completed; drops those whose did not.
    auto pass = [&] {
        for (auto it = run_all_pending_.begin(); it != run_all_pending_.end();) {
            const std::string id = *it;
            std::string blocked;
            bool ready = true;
            for (const auto& q : batch_prerequisites_locked(id)) {
                if (auto nb = b.not_succeeded.find(q); nb != b.not_succeeded.end()) {
                    blocked = q;
                    break;
                }
                if (std::find(b.succeeded.begin(), b.succeeded.end(), q) == b.succeeded.end())
                    ready = false;
            }
            if (!blocked.empty()) {
                b.not_succeeded[id] = "not run: " + blocked + " did not complete";
                logs.push_back({"warn", id, "run all: not run, because " + blocked +
                                                " did not complete its run"});
                it = run_all_pending_.erase(it);
                continue;
            }
            if (!ready || running_.count(id) || stopping_) {
                ++it;
                continue;
            }
            auto e = entries_.find(id);
            if (e == entries_.end()) {  // removed meanwhile
                b.not_succeeded[id] = "not run: the process was removed";
                it = run_all_pending_.erase(it);
                continue;
            }
            e->second.held = false;  // this run is the one a held due time waited for
            start_locked(e->second, b.trigger);
            run_all_started_.insert(id);
            RunAllTry& t = run_all_tries_[id];
            ++t.tries;
            t.ends_at_start = run_ends_;
            it = run_all_pending_.erase(it);
        }
    };
    pass();
    if (!run_all_retry_.empty() && run_all_started_.empty() && running_.empty()) {
        // Skipped members wait for a run here to end; none is going, and none ended since
        // they started trying (else they would be pending again), so another host (or a
        // command) holds their leases: give up on them, and on what depends on them.
        for (const auto& id : run_all_retry_) {
            b.not_succeeded[id] = "skipped: another run of it, or of a process it shares "
                                  "records with, was going";
            logs.push_back({"warn", id, "run all: not run, because it was " + b.not_succeeded[id]});
        }
        run_all_retry_.clear();
        pass();
    }
    if (run_all_pending_.empty() && run_all_started_.empty() && run_all_retry_.empty()) {
        b.active = false;
        b.finished_ms = clock_.now_ms();
        logs.push_back({"info", "",
                        "run all (" + b.trigger + ") finished: " +
                            std::to_string(b.succeeded.size()) + " of " +
                            std::to_string(b.order.size()) + " process(es) completed" +
                            (b.not_succeeded.empty()
                                 ? ""
                                 : "; " + std::to_string(b.not_succeeded.size()) +
                                       " did not (see each one's log)")});
    }
}

bool Scheduler::run_all(const std::vector<std::string>& order, const std::string& trigger,
                        std::string& error) {
    std::vector<LogLine> logs;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            error = "the scheduler is stopping";
            return false;
        }
        if (run_all_ && run_all_->active) {
            error = "a run of all processes (" + run_all_->trigger + ") is still going";
            return false;
        }
        if (order.empty()) {
            error = "no process to run";
            return false;
        }
        for (const auto& id : order)
            if (!entries_.count(id)) {
                error = "unknown process \"" + id + "\"";
                return false;
            }
        run_all_ = RunAllStatus{};
        run_all_->active = true;
        run_all_->trigger = trigger;
        run_all_->started_ms = clock_.now_ms();
        run_all_->order = order;
        run_all_pending_ = order;
        run_all_started_.clear();
        run_all_retry_.clear();
        run_all_retry_noted_.clear();
        run_all_tries_.clear();
        std::string names;
        for (const auto& id : order) names += (names.empty() ? "" : ", ") + id;
        logs.push_back({"info", "", "run all (" + trigger + "): " + names});
        advance_run_all_locked(logs);
    }
    emit(logs);
    return true;
}

std::optional<RunAllStatus> Scheduler::run_all_status() const {
    std::lock_guard lock(mutex_);
    return run_all_;
}

bool Scheduler::set_enabled(const std::string& process_id, bool enabled, const std::string& actor) {
    const int64_t now = clock_.now_ms();
    std::vector<LogLine> logs;
    {
        std::lock_guard lock(mutex_);
        if (!entries_.count(process_id)) return false;
    }
    // The operator's choice is stored first, without the lock (it may wait for a locked
    // database); when it cannot be, nothing changes and the caller hears why.
    state_.set_enabled(process_id, enabled, actor, now);
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(process_id);
        if (it == entries_.end()) return false;
        Entry& e = it->second;
        if (e.enabled == enabled) return true;
        e.enabled = enabled;
        if (enabled) {
            // A fresh start: the disabled period is not downtime, nothing to catch up.
            e.anchor = now;
            pending_anchors_[process_id] = now;
            schedule_locked(e, next_fire_ms(e.schedule, now, now));
        } else {
            schedule_locked(e, std::nullopt);
        }
        logs.push_back({"info", process_id,
                        std::string(enabled ? "enabled" : "disabled") +
                            (actor.empty() ? "" : " by " + actor)});
    }
    if (enabled) store_anchors(logs, true);
    emit(logs);
    return true;
}

std::optional<bool> Scheduler::enabled(const std::string& process_id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(process_id);
    if (it == entries_.end()) return std::nullopt;
    return it->second.enabled;
}

ScheduleStatus Scheduler::status_locked(const Entry& e) const {
    ScheduleStatus s;
    s.id = e.id;
    s.schedule = e.schedule.describe();
    s.enabled = e.enabled;
    s.running = running_.count(e.id) > 0;
    if (e.enabled && !stopping_) s.next_run_ms = e.next_due;
    s.anchor_ms = e.anchor;
    s.started = e.started;
    s.skipped = e.skipped;
    if (e.held) s.waiting_for = waiting_for_locked(e);
    if (run_all_ && run_all_->active) {
        if (run_all_started_.count(e.id)) {
            s.run_all = "running";
        } else if (std::find(run_all_retry_.begin(), run_all_retry_.end(), e.id) !=
                   run_all_retry_.end()) {
            s.run_all = "waiting for another run to end";
        } else if (std::find(run_all_pending_.begin(), run_all_pending_.end(), e.id) !=
                   run_all_pending_.end()) {
            std::string waits;
            for (const auto& q : batch_prerequisites_locked(e.id))
                if (std::find(run_all_->succeeded.begin(), run_all_->succeeded.end(), q) ==
                    run_all_->succeeded.end())
                    waits += (waits.empty() ? "" : ", ") + q;
            s.run_all = waits.empty() ? "queued" : "waiting for " + waits;
        }
    }
    return s;
}

std::optional<int64_t> Scheduler::next_run(const std::string& process_id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(process_id);
    if (it == entries_.end()) return std::nullopt;
    return status_locked(it->second).next_run_ms;
}

std::optional<ScheduleStatus> Scheduler::status(const std::string& process_id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(process_id);
    if (it == entries_.end()) return std::nullopt;
    return status_locked(it->second);
}

std::vector<ScheduleStatus> Scheduler::statuses() const {
    std::vector<ScheduleStatus> out;
    {
        std::lock_guard lock(mutex_);
        out.reserve(entries_.size());
        for (const auto& [id, e] : entries_) out.push_back(status_locked(e));
    }
    std::sort(out.begin(), out.end(),
              [](const ScheduleStatus& a, const ScheduleStatus& b) { return a.id < b.id; });
    return out;
}

bool Scheduler::running(const std::string& process_id) const {
    std::lock_guard lock(mutex_);
    return running_.count(process_id) > 0;
}

size_t Scheduler::running_count() const {
    std::lock_guard lock(mutex_);
    return running_.size();
}

int64_t Scheduler::skipped_count() const {
    std::lock_guard lock(mutex_);
    return skipped_total_;
}

int64_t Scheduler::skipped_count(const std::string& process_id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(process_id);
    return it == entries_.end() ? 0 : it->second.skipped;
}

void Scheduler::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_cv_.wait(lock, [this] { return running_.empty(); });
}

bool Scheduler::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

void Scheduler::stop() {
    std::lock_guard stop_lock(stop_mutex_);
    if (stopped_) return;
    std::vector<LogLine> logs;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        cancel_.store(true);
        for (const Job& job : jobs_) {
            running_.erase(job.id);
            logs.push_back({"info", job.id, "not started: the scheduler is stopping"});
        }
        jobs_.clear();
        if (run_all_ && run_all_->active) {
            for (const auto& id : run_all_pending_) run_all_->not_succeeded[id] = "not run: stopping";
            for (const auto& id : run_all_retry_) run_all_->not_succeeded[id] = "not run: stopping";
            run_all_pending_.clear();
            run_all_started_.clear();
            run_all_retry_.clear();
            run_all_->active = false;
            run_all_->finished_ms = clock_.now_ms();
        }
        quit_workers_ = true;
        size_t going = running_.size();
        if (going)
            logs.push_back({"info", "",
                            "stopping: waiting for " + std::to_string(going) + " running run" +
                                (going == 1 ? "" : "s") + " to finish"});
    }
    emit(logs);
    loop_cv_.notify_all();
    work_cv_.notify_all();
    idle_cv_.notify_all();
    for (auto& t : workers_)
        if (t.joinable()) t.join();
    workers_.clear();
    std::vector<LogLine> last;
    store_anchors(last, true);  // those a failed write kept, once more
    emit(last);
    stopped_ = true;
}

void Scheduler::worker() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            work_cv_.wait(lock, [this] { return quit_workers_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // quitting and nothing queued
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        RunResult result;
        std::vector<LogLine> logs;
        try {
            result = run_(job.id, job.trigger, &cancel_);
        } catch (const std::exception& e) {
            result.status = "failed";
            result.message = e.what();
            logs.push_back({"error", job.id, "the run threw: " + std::string(e.what())});
        } catch (...) {
            result.status = "failed";
            logs.push_back({"error", job.id, "the run threw an unknown exception"});
        }
        const bool skipped = result.status == "skipped";
        if (skipped) {
            // A member of "run all" skipped for a shared lease is retried when another run
            // ends: say so once, not one warning per retry.
            bool run_all_member = false, first_retry = true;
            {
                std::lock_guard lock(mutex_);
                run_all_member = run_all_ && run_all_->active && run_all_started_.count(job.id);
                if (run_all_member) first_retry = run_all_retry_noted_.insert(job.id).second;
            }
            const std::string why = "another run of the process is going" +
                                    (result.message.empty() ? "" : ": " + result.message);
            if (!run_all_member)
                logs.push_back({"warn", job.id, "skipped (" + job.trigger + "): " + why});
            else if (first_retry)
                logs.push_back({"info", job.id,
                                "run all: waiting, " + why +
                                    "; it starts when that run ends"});
        }
        emit(logs);  // before the run counts as ended: wait_idle() callers see the log
        if (result.status == "succeeded" || result.status == "succeeded_with_failures")
            refresh_succeeded();  // what the held processes wait for, asked without the lock
        {
            std::lock_guard lock(mutex_);
            running_.erase(job.id);
            if (skipped) {
                ++skipped_total_;
                auto it = entries_.find(job.id);
                if (it != entries_.end()) ++it->second.skipped;
            }
            const bool reached_end =
                result.status == "succeeded" || result.status == "succeeded_with_failures";
            if (!skipped) ++run_ends_;  // it held its leases and has let them go
            if (run_all_ && run_all_->active) {
                // Another run ended: members skipped earlier may run now.
                if (!skipped && !run_all_retry_.empty()) {
                    run_all_pending_.insert(run_all_pending_.begin(), run_all_retry_.begin(),
                                            run_all_retry_.end());
                    run_all_retry_.clear();
                }
                if (run_all_started_.erase(job.id)) {
                    if (reached_end) {
                        run_all_->succeeded.push_back(job.id);
                    } else if (skipped) {
                        const RunAllTry t = run_all_tries_[job.id];
                        if (t.tries >= options_.run_all_max_tries) {
                            run_all_->not_succeeded[job.id] =
                                "skipped " + std::to_string(t.tries) +
                                " times: another run of it, or of a process it shares records "
                                "with, was going each time";
                            logs.push_back({"warn", job.id,
                                            "run all: not run, because it was " +
                                                run_all_->not_succeeded[job.id]});
                        } else if (run_ends_ != t.ends_at_start) {
                            // A run ended while this try went on: perhaps the one it
                            // conflicted with, whose end came in before this skip and so
                            // found no one to wake. Try again now.
                            run_all_pending_.insert(run_all_pending_.begin(), job.id);
                        } else {
                            run_all_retry_.push_back(job.id);
                        }
                    } else {
                        run_all_->not_succeeded[job.id] =
                            result.status.empty() ? "failed" : result.status;
                    }
                }
            }
            if (reached_end && succeeded_.insert(job.id).second && !stopping_) {
                // A first success releases the processes held for it.
                for (auto& [id, e] : entries_) {
                    if (!e.held || !e.enabled || running_.count(id)) continue;
                    if (!waiting_for_locked(e).empty()) continue;
                    if (std::find(run_all_pending_.begin(), run_all_pending_.end(), id) !=
                        run_all_pending_.end())
                        continue;  // the run-all starts it (once)
                    e.held = false;
                    start_locked(e, "schedule");
                    logs.push_back({"info", id, "released: " + job.id +
                                                    " has completed its first successful run"});
                }
            }
            advance_run_all_locked(logs);
        }
        emit(logs);
        idle_cv_.notify_all();
    }
}

}  // namespace plexus
