#include "notify/attention.hpp"

#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "notify/notifier.hpp"
#include "notify/reasons.hpp"

#include <algorithm>

namespace plexus::notify {
namespace {

using nlohmann::json;

// Distinct failure messages read per process to find its commonest reasons: enough for any
// queue whose failures share a handful of causes; a queue of 100,000 unique messages is
// summarised from its 2,000 commonest.
constexpr int64_t k_reason_groups = 2000;

std::string plural(int64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string names_of(Operations& ops, const json& ids) {
    std::string out;
    for (const auto& id : ids) {
        const std::string s = id.get<std::string>();
        const ProcessConfig* p = ops.hub().config().process(s);
        out += (out.empty() ? "" : ", ") + (p && !p->name.empty() ? p->name : s);
    }
    return out;
}

}  // namespace

json attention_view(Operations& ops, Notifier* notifier) {
    Store& store = ops.store();
    json items = json::array();
    json counts = {{"failed_runs", 0}, {"failed_records", 0}, {"held", 0},   {"never_run", 0},
                   {"disabled", 0},    {"connections", 0},    {"notifications", 0}};
    auto add = [&](const char* kind, json item) {
        item["kind"] = kind;
        counts[kind == std::string("connection_test_failed") ? "connections"
               : kind == std::string("notification_failed") ? "notifications"
                                                             : kind] =
            counts[kind == std::string("connection_test_failed") ? "connections"
                   : kind == std::string("notification_failed") ? "notifications"
                                                                 : kind]
                .get<int64_t>() +
            1;
        items.push_back(std::move(item));
    };
    const json processes = ops.processes_view()["items"];
    json failed_runs = json::array(), failed_records = json::array(), held = json::array(),
         never = json::array(), disabled = json::array();
    for (const auto& p : processes) {
        const std::string id = p["id"];
        const std::string name = p.value("name", id);
        const bool enabled = p.value("enabled", false);
        const bool running = !p["running"].is_null();
        if (auto streak = store.failure_streak(id)) {
            const RunRecord& r = streak->latest;
            const std::string what = r.status == run_status::failed    ? "failed"
                                     : r.status == run_status::partial ? "stopped before the end"
                                                                       : "was cut off when the hub stopped";
            std::string title = name + ": ";
            if (streak->runs == 1) title += "the last run " + what;
            else
                title += "the last " + std::to_string(streak->runs) + " runs did not succeed" +
                         (streak->last_success_ms ? "" : " (none has yet)");
            json item = {{"severity", "error"},
                         {"title", title},
                         {"detail", r.message.empty() ? "run " + std::to_string(r.id) + " " + what
                                                      : global_redactor().redact(r.message)},
                         {"process", id},
                         {"process_name", name},
                         {"run_id", r.id},
                         {"count", streak->runs},
                         {"status", r.status},
                         {"at", time_or_null(r.finished_ms > 0 ? r.finished_ms : r.started_ms)},
                         {"last_success", time_or_null(streak->last_success_ms)},
                         {"link", "#/runs/" + std::to_string(r.id)},
                         {"link_label", "See run " + std::to_string(r.id)}};
            failed_runs.push_back(item);
        }
        const int64_t failed = p.value("failed_count", int64_t{0});
        if (failed > 0) {
            json reasons = json::array();
            for (const auto& g : group_reasons(store.failed_queue_reasons(id, k_reason_groups), 3))
                reasons.push_back({{"reason", global_redactor().redact(g.count == 1 ? g.example : g.reason)},
                                   {"error_class", g.error_class},
                                   {"count", g.count}});
            std::string detail;
            if (!reasons.empty())
                detail = "Commonest reason: " + reasons[0]["reason"].get<std::string>() + " (" +
                         std::to_string(reasons[0]["count"].get<int64_t>()) + ")";
            failed_records.push_back({{"severity", "warning"},
                                      {"title", name + ": " + plural(failed, "record waits", "records wait") +
                                                    " to be fixed and replayed"},
                                      {"detail", detail},
                                      {"process", id},
                                      {"process_name", name},
                                      {"count", failed},
                                      {"reasons", reasons},
                                      {"link", "#/failed/" + id},
                                      {"link_label", "Failed records"}});
        }
        if (!enabled) {
            disabled.push_back({{"severity", "info"},
                                {"title", name + " is switched off"},
                                {"detail", "It runs on no schedule until it is switched on again."},
                                {"process", id},
                                {"process_name", name},
                                {"link", "#/processes"},
                                {"link_label", "Processes"}});
            continue;
        }
        const json waiting = p.value("waiting_for", json::array());
        if (!waiting.empty() && !running) {
            held.push_back({{"severity", "info"},
                            {"title", name + " waits for " + names_of(ops, waiting)},
                            {"detail", "Its schedule starts once " + names_of(ops, waiting) +
                                           (waiting.size() == 1 ? " has" : " have") +
                                           " completed a first successful run."},
                            {"process", id},
                            {"process_name", name},
                            {"waiting_for", waiting},
                            {"link", "#/processes"},
                            {"link_label", "Processes"}});
        } else if (p["last_run"].is_null() && !running) {
            const json next = p.value("next_run", json(nullptr));
            // The time goes in "next_run" (the page says it in words, in the reader's zone),
            // never into the text.
            never.push_back({{"severity", "info"},
                             {"title", name + " has never run"},
                             {"detail", next.is_null() ? std::string("It has no schedule: start it by hand.")
                                                       : std::string("Its first run is on its schedule.")},
                             {"next_run", next},
                             {"process", id},
                             {"process_name", name},
                             {"link", "#/processes"},
                             {"link_label", "Processes"}});
        }
    }
    // Failures first (what needs action), then the notes (held, never run, switched off),
    // which the page folds into one line.
    for (auto& i : failed_runs) add("failed_runs", std::move(i));
    // Connections whose last test failed (kept in the store: a restart does not forget it;
    // the next successful test clears it).
    const json tests = ops.connection_tests();
    for (auto it = tests.begin(); it != tests.end(); ++it) {
        if (it.value().value("ok", true)) continue;
        if (!ops.has_connection(it.key()) && !store.stored_connection(it.key())) continue;
        add("connection_test_failed",
            {{"severity", "error"},
             {"title", "The connection " + it.key() + " failed its last test"},
             {"detail", global_redactor().redact(it.value().value("message", ""))},
             {"connection", it.key()},
             {"at", it.value()["at"]},
             {"link", "#/connections"},
             {"link_label", "Connections"}});
    }
    if (notifier) {
        for (const auto& c : notifier->failing_channels()) {
            const std::string ch = c["channel"];
            add("notification_failed",
                {{"severity", "error"},
                 {"title", ch == "email" ? "Notifications by e-mail cannot be sent"
                                         : "Notifications to the webhook cannot be sent"},
                 {"detail", c["error"]},
                 {"channel", ch},
                 {"at", c["at"]},
                 {"link", "#/notifications"},
                 {"link_label", "Notifications"}});
        }
    }
    for (auto& i : failed_records) add("failed_records", std::move(i));
    for (auto& i : held) add("held", std::move(i));
    for (auto& i : never) add("never_run", std::move(i));
    for (auto& i : disabled) add("disabled", std::move(i));
    int64_t failures = 0, notes = 0;
    for (auto& i : items) {
        const bool note = i["severity"] == "info";
        i["group"] = note ? "note" : "action";
        (note ? notes : failures) += 1;
    }
    return {{"all_clear", items.empty()},
            {"needs_action", failures > 0},
            {"failures", failures},
            {"notes", notes},
            {"generated", iso_utc(ops.hub().clock().now_ms())},
            {"counts", counts},
            {"items", items}};
}

}  // namespace plexus::notify
