// What needs action, for the portal's landing page (GET /api/attention, docs/api.md,
// "Attention"): runs that failed and were not followed by a successful run of the same
// process, failed records per process with their commonest reasons, processes held by a
// dependency, never run or switched off, connections whose last test failed, and
// notification channels that cannot send. Each item says what is wrong in operator words
// and links to the page where it is put right.
#pragma once

#include "service/operations.hpp"

#include <nlohmann/json.hpp>

namespace plexus::notify {

class Notifier;

// {"all_clear": bool, "needs_action": bool, "failures": n, "notes": n, "generated": time,
// "counts": {kind: n}, "items": [item]}; an item: {"kind", "severity" ("error", "warning",
// "info"), "group" ("action": a failure, or "note": held, never run, switched off), "title",
// "detail", "process", "process_name", "connection", "run_id", "count", "reasons", "at",
// "next_run", "link", "link_label"} (fields that do not apply are absent). Items come
// failures first (failed runs, failed connection tests, notifications that cannot be sent,
// failed records), then the notes. Times are ISO 8601 UTC fields, never inside the text.
// `notifier` may be null (no notification items).
nlohmann::json attention_view(Operations& ops, Notifier* notifier);

}  // namespace plexus::notify
