// Mappings administered in the portal (docs/api.md, "Mappings"; docs/operations.md,
// "Mappings in the portal and the dry run"; issue 13).
//
// A process's mapping comes from the configuration file ("version 0") until an operator
// saves one in the portal: every save is stored as the next version (core/store
// mapping_versions), audited ("mapping.edit"), and put in force for the runs that start
// afterwards (Hub::use_mapping); a run going on keeps the mapping it started with. A revert
// stores the chosen older version's mapping again as a new version ("mapping.revert"), so
// history only grows; reverting to version 0 goes back to the file's mapping.
//
// A save is validated exactly as `plexus check-config` validates the file (the whole
// configuration, with this mapping in place): on any problem nothing is stored and the
// problems come back by field. Thread-safe.
#pragma once

#include "engine/preview.hpp"
#include "service/operations.hpp"

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace plexus {

struct MappingWrite {
    OpStatus status = OpStatus::ok;
    std::string message;
    // By target field: "field" is the top-level target field ("" for the whole mapping),
    // "path" the JSON pointer inside the mapping ("/lines/fields/qty").
    struct Problem {
        std::string field;
        std::string path;
        std::string message;
    };
    std::vector<Problem> errors;
    nlohmann::json view;  // ok: as view() shows it
};

class MappingAdmin {
public:
    explicit MappingAdmin(Hub& hub) : hub_(hub) {}

    // {"process", "name", "mode", "source": {"kind": "file"|"portal", "version", "file",
    //  "by", "at"}, "problem"?, "rows": [{"field", "kind", "expression"?, "spec"}],
    //  "mapping": {...}, "functions": [...]}; nullopt for an unknown process.
    std::optional<nlohmann::json> view(const std::string& process_id);
    // {"items": [{"version", "by", "at", "note", "current", "mapping"}]}, newest first, the
    // file's version 0 last.
    std::optional<nlohmann::json> versions(const std::string& process_id);

    // body: {"mapping": {target field: spec}, "note"?: text}.
    MappingWrite save(const std::string& process_id, const nlohmann::json& body,
                      const std::string& actor);
    // body: {"version": N}.
    MappingWrite revert(const std::string& process_id, const nlohmann::json& body,
                        const std::string& actor);

    // The problems `spec` would have as the process's mapping (empty: valid).
    std::vector<MappingWrite::Problem> check(const std::string& process_id,
                                             const nlohmann::json& spec) const;

private:
    MappingWrite put(const std::string& process_id, const nlohmann::json& spec, bool file,
                     const std::string& actor, const std::string& note,
                     const std::string& audit_action, nlohmann::json audit_detail);

    Hub& hub_;
    std::mutex write_mutex_;  // one save at a time: the stored order is the order in force
};

}  // namespace plexus
