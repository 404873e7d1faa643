// What to do with a mapped record, given what the cross-reference ledger remembers.
#pragma once

#include "store/store.hpp"

#include <string>

namespace plexus {

enum class WriteDecision { create, update, unchanged };

struct Decision {
    WriteDecision what;
    std::string target_key;  // for update and unchanged: the record the ledger links to
};

// No entry: the target has never received this record → create. An entry with the same
// payload hash: the target already holds exactly this → unchanged, nothing is written.
// Otherwise → update the linked target record.
inline Decision decide(const LedgerEntry* entry, const std::string& payload_hash) {
    if (!entry) return {WriteDecision::create, {}};
    if (entry->payload_hash == payload_hash) return {WriteDecision::unchanged, entry->target_key};
    return {WriteDecision::update, entry->target_key};
}

}  // namespace plexus
