// The scheduler's persistent state (enable flags, anchors) kept in the store, so both
// survive a restart of `plexus serve`.
#pragma once

#include "scheduler/scheduler.hpp"
#include "store/store.hpp"

namespace plexus {

class StoreSchedulerState final : public SchedulerState {
public:
    explicit StoreSchedulerState(Store& store) : store_(store) {}
    std::optional<bool> enabled(const std::string& process_id) override {
        return store_.process_enabled(process_id);
    }
    void set_enabled(const std::string& process_id, bool enabled, const std::string& actor,
                     int64_t now_ms) override {
        store_.set_process_enabled(process_id, enabled, actor, now_ms);
    }
    std::optional<int64_t> anchor_ms(const std::string& process_id) override {
        return store_.schedule_anchor(process_id);
    }
    void set_anchor_ms(const std::string& process_id, int64_t ms) override {
        store_.set_schedule_anchor(process_id, ms);
    }
    bool ever_succeeded(const std::string& process_id) override {
        for (const char* status : {run_status::succeeded, run_status::succeeded_with_failures}) {
            RunQuery q;
            q.process_id = process_id;
            q.status = status;
            q.limit = 1;
            if (!store_.runs(q).empty()) return true;
        }
        return false;
    }

private:
    Store& store_;
};

}  // namespace plexus
