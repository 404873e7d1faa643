// The dry run: what a run of a process would do with some records, without doing it
// (`plexus run PROCESS --dry-run`, POST /api/processes/{id}/preview; docs/operations.md,
// "Mappings in the portal and the dry run").
//
// Records come from the source connector's read (from the start of the source, or where the
// next run would start), from the process's failed queue, or are given (a pasted record).
// Each is mapped with the process's mapping (or a draft mapping being edited) through the
// same Mapping code a run uses, and the decision a run would take is worked out:
//
//   error   — the mapping fails for the record: the target field and the problem;
//   skip    — the ledger holds the same payload hash: the target already has exactly this
//             (or, in a two-way sync, the record is the other direction's own write);
//   update  — the ledger links the record to a target record and the payload changed: the
//             changed fields are those whose value differs from the target record's, read
//             with the target connector's lookup by target key (none listed when the
//             connector cannot look up or names its fields differently);
//             or the ledger knows nothing but the target connector's lookup (by the record's
//             idempotency key, and by its data where the connector matches on it, e.g. an
//             e-mail) finds the record: a run links to it and updates it;
//   create  — neither the ledger nor the target's lookup knows the record.
//
// Nothing is written: no target write, no intent, no ledger row, no outcome, no run row, no
// cursor move, no failed-queue change, no lease. Only reads: the source's read_page, the
// target's lookup, and the store's ledger, cursor, failed queue and inbox.
#pragma once

#include "engine/hub.hpp"

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace plexus {

struct PreviewOptions {
    // "read": the first `limit` records of the source, from its start;
    // "new": the first `limit` records the next run would read (after the last change seen);
    // "failed": the first `limit` records of the failed queue;
    // "record": `record` itself — {"key": …, "data": {…}} or just the record's data.
    std::string source = "read";
    int64_t limit = 10;
    nlohmann::json record;
    // A draft mapping to try instead of the one in force (already validated by the caller);
    // null: the process's mapping in force.
    nlohmann::json mapping;
    const std::atomic<bool>* cancel = nullptr;
};

struct PreviewItem {
    std::string source_key;
    std::string action;      // "create", "update", "skip", "error"
    std::string target_key;  // update / skip: the target record
    nlohmann::json payload;  // what would be sent (secret values masked); null for errors
    // update: the fields whose value differs from the target record's; null when unknown.
    nlohmann::json changed_fields;
    std::string field;    // error: the target field the mapping failed on ("" when not one)
    std::string message;  // error: what is wrong; otherwise why this action (may be "")
    std::vector<std::string> members;  // aggregate mode: the source records summed
};

struct PreviewReport {
    std::string process_id;
    std::string source;
    int64_t mapping_version = 0;  // 0: the file's; -1: a draft
    std::vector<PreviewItem> items;
    std::string message;  // e.g. "nothing new since the last run"
    bool more = false;    // the source had more records than `limit`
};

// Throws std::invalid_argument for an unknown process or bad options, std::runtime_error
// when the source cannot be read (with the connector's message, secrets masked).
PreviewReport preview(Hub& hub, const std::string& process_id, const PreviewOptions& options);

nlohmann::json preview_json(const PreviewReport& r);

}  // namespace plexus
