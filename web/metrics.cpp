// Prometheus text exposition (format 0.0.4) of what the store knows about runs.
#include "web/portal.hpp"

#include <map>
#include <sstream>

namespace plexus::web {
namespace {

// A label value escaped as the exposition format asks (\\, \", \n).
std::string label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string number(double v) {
    std::ostringstream o;
    o.precision(12);
    o << v;
    return o.str();
}

}  // namespace

std::string metrics_text(Operations& ops) {
    std::ostringstream o;
    Store& store = ops.store();
    const auto stats = store.run_stats();

    o << "# HELP plexus_runs_total Runs of a process by final status (running: still going).\n"
         "# TYPE plexus_runs_total counter\n";
    for (const auto& s : stats)
        for (const auto& [status, n] : s.runs_by_status)
            o << "plexus_runs_total{process=\"" << label(s.process_id) << "\",status=\""
              << label(status) << "\"} " << n << "\n";

    // Counted by the process a record belongs to, whichever run handled it (a dependency pull
    // handles records of another process), so they agree with the outcomes and the queue.
    o << "# HELP plexus_records_total Records of a process handled by any run, by action.\n"
         "# TYPE plexus_records_total counter\n";
    {
        std::map<std::string, std::map<std::string, int64_t>> per;
        for (const auto& p : ops.hub().config().processes)
            for (const char* a : {"created", "updated", "unchanged", "failed"}) per[p.id][a] = 0;
        for (const auto& c : store.record_counts()) per[c.process_id][c.action] += c.n;
        for (const auto& [process, actions] : per)
            for (const auto& [action, n] : actions)
                o << "plexus_records_total{process=\"" << label(process) << "\",action=\""
                  << label(action) << "\"} " << n << "\n";
    }

    o << "# HELP plexus_failed_records Records of a process waiting in the failed queue.\n"
         "# TYPE plexus_failed_records gauge\n";
    for (const auto& p : ops.hub().config().processes)
        o << "plexus_failed_records{process=\"" << label(p.id) << "\"} "
          << store.failed_count(p.id) << "\n";

    o << "# HELP plexus_run_duration_seconds Duration of finished runs.\n"
         "# TYPE plexus_run_duration_seconds histogram\n";
    const auto& bounds = run_duration_buckets_s();
    for (const auto& s : stats) {
        const std::string p = label(s.process_id);
        for (size_t i = 0; i < bounds.size(); ++i)
            o << "plexus_run_duration_seconds_bucket{process=\"" << p << "\",le=\""
              << number(bounds[i]) << "\"} "
              << (i < s.duration_buckets.size() ? s.duration_buckets[i] : 0) << "\n";
        o << "plexus_run_duration_seconds_bucket{process=\"" << p << "\",le=\"+Inf\"} "
          << s.finished << "\n";
        o << "plexus_run_duration_seconds_sum{process=\"" << p << "\"} "
          << number(s.duration_sum_s) << "\n";
        o << "plexus_run_duration_seconds_count{process=\"" << p << "\"} " << s.finished << "\n";
    }

    o << "# HELP plexus_running_runs Runs going on now.\n"
         "# TYPE plexus_running_runs gauge\n"
      << "plexus_running_runs " << ops.running_count() << "\n";

    o << "# HELP plexus_process_enabled 1 when the process runs on its schedule.\n"
         "# TYPE plexus_process_enabled gauge\n";
    for (const auto& st : ops.scheduler().statuses())
        o << "plexus_process_enabled{process=\"" << label(st.id) << "\"} " << (st.enabled ? 1 : 0)
          << "\n";

    // The webhook inbox: what waits for its readers (an alert when it nears max_pending
    // means a reader is disabled or failing), and what is kept.
    const auto inbox = ops.inbox().view();
    o << "# HELP plexus_inbox_events Webhook events stored per connection: pending (not yet "
         "consumed by every reader) or stored (all kept).\n"
         "# TYPE plexus_inbox_events gauge\n";
    for (const auto& item : inbox["items"]) {
        const std::string c = label(item.value("connection", ""));
        o << "plexus_inbox_events{connection=\"" << c << "\",state=\"pending\"} "
          << item.value("pending", int64_t{0}) << "\n"
          << "plexus_inbox_events{connection=\"" << c << "\",state=\"stored\"} "
          << item.value("stored", int64_t{0}) << "\n";
    }
    return o.str();
}

}  // namespace plexus::web
