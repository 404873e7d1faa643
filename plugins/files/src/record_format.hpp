// How records sit in a file: JSON Lines (one JSON object per line) or CSV (a header row,
// then one row per record). The RecordLog finds records and indexes them through this
// interface; the connector decodes and encodes record data through it.
//
// Error messages name the file and the line: `/data/customers.jsonl:17: no "id" (the key)`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entity_spec.hpp"

namespace plexus::files {

// What the index keeps of a record: its key, its cursor value and the idempotency key it
// carries (each empty when absent; a record always has a key).
struct KeyFields {
    std::string key;
    std::string cursor;
    std::string idempotency_key;
};

enum class ScanStatus {
    record,      // a record; its key fields were extracted
    skip,        // a blank line or the CSV header
    incomplete,  // the buffer ends inside a record: give me more bytes
    torn,        // at the end of the file: an unfinished record, left by an interrupted write
};

struct ScanResult {
    ScanStatus status = ScanStatus::incomplete;
    size_t length = 0;  // bytes taken (terminator included)
};

// The text form of a key or cursor value: a string as it is, an integer in decimal.
// Anything else (null, a fraction, a boolean, an object, an array) has none.
std::optional<std::string> scalar_text(const json& value);
const char* type_name(const json& value);

class RecordFormat {
public:
    virtual ~RecordFormat() = default;
    static std::unique_ptr<RecordFormat> make(const EntitySpec& spec);

    // Forget what was learnt from the file (the CSV header): the file is read afresh.
    virtual void reset() {}

    // Examines the bytes at the start of `buf`, which begins at line `line` of the file.
    // `at_eof`: nothing follows `buf`. Throws Error(PLEXUS_ERR_VALIDATION) for a malformed
    // record or one without a key.
    virtual ScanResult scan(std::string_view buf, bool at_eof, uint32_t line, KeyFields& out) = 0;

    // The key fields of one stored record (its bytes as written).
    virtual KeyFields extract(std::string_view record, uint32_t line) = 0;

    // The data of one stored record, without kIdempotencyField, checked against the
    // entity's declared field types.
    virtual json decode(std::string_view record, uint32_t line) = 0;

    // Turns the stored bytes of a record into its data as JSON text, when that needs no
    // decoding: a JSON Lines record (already checked by scan()) of an entity without
    // declared fields and without kIdempotencyField. Returns false, leaving `record` as it
    // was, when decode() is needed instead.
    virtual bool take_data_text(std::string& /*record*/) const { return false; }

    // Before records are appended to a file holding `has_records` records: returns bytes to
    // write first (a CSV header) and sets `restart` when the file's current content (which
    // then holds no records) is to be replaced. `first` is the first record to be written.
    // Throws Error(PLEXUS_ERR_CONFIG) when the file cannot take Plexus's records.
    virtual std::string begin_append(bool has_records, const json& first, bool& restart) = 0;

    // Appends one record (terminator included). An empty `idempotency_key` is not stored.
    // Throws Error(PLEXUS_ERR_VALIDATION) when the data does not fit the file.
    virtual void encode(const json& data, std::string_view idempotency_key, std::string& out) = 0;
    // The same from the text of a valid JSON object without line breaks and without
    // kIdempotencyField, for a format that stores JSON text (JSON Lines); others throw.
    virtual void encode_text(std::string_view object_text, std::string_view idempotency_key,
                             std::string& out);

    // Checks mapped data against the entity's declared fields (names and types) before it
    // is written. Throws Error(PLEXUS_ERR_VALIDATION).
    void validate_for_write(const json& data) const;

protected:
    explicit RecordFormat(const EntitySpec& spec);
    [[noreturn]] void fail(uint32_t line, const std::string& problem) const;

    const EntitySpec& spec_;
    std::string file_;  // the path, for messages
};

}  // namespace plexus::files
