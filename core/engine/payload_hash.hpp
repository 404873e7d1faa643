// Stable fingerprints: the ledger's payload hash and the idempotency key of a create.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace plexus {

// Hex SHA-256 (first 128 bits) of the payload's canonical JSON (object keys sorted, which
// nlohmann::json guarantees, no whitespace). Persisted in the ledger: changing this
// function makes every record look changed once.
std::string payload_hash(const nlohmann::json& payload);
// The same, from the payload's canonical text (payload.dump()) when the caller has it.
std::string payload_hash_of_text(std::string_view canonical_json);
// The canonical text payload_hash() hashes.
std::string canonical_text(const nlohmann::json& payload);

// "px" + 30 hex digits derived from (process id, source key): the same on every retry and
// after a restart, different for every process and record. Persisted in intents and sent
// to targets (Intacct controlid, the files connector's _plexus_idempotency_key).
std::string idempotency_key(std::string_view process_id, std::string_view source_key);

std::string sha256_hex(std::string_view data);

}  // namespace plexus
