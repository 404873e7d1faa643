// CSV as the files connector reads and writes it (RFC 4180, with a configurable delimiter).
//
// Reading: a field may be quoted; inside quotes a doubled quote is a quote and delimiters and
// line breaks are data. A record ends at a line break (LF or CRLF) outside quotes. A quote in
// the middle of an unquoted field is taken literally; anything but a delimiter or a line
// break after a closing quote is malformed. Writing quotes exactly the fields that need it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace plexus::files::csv {

enum class Status {
    complete,    // a whole record; `length` bytes were consumed (terminator included)
    incomplete,  // the buffer ends inside the record (need more bytes, or, at the end of the
                 // file, a quoted field that is never closed)
    malformed,   // `problem` says what; `error_at` is the offending byte's position
};

struct RecordScan {
    Status status = Status::incomplete;
    size_t length = 0;
    bool terminated = false;  // the record ended with a line break (not with the end of file)
    size_t error_at = 0;
    std::string problem;
};

// Parses the record at the start of `buf` into `fields`. `at_eof`: no bytes follow `buf`.
RecordScan parse_record(std::string_view buf, char delimiter, bool at_eof,
                        std::vector<std::string>& fields);

// Appends `value` as one field, quoted when it holds the delimiter, a quote or a line break
// (or when `force_quotes`, used for an empty field that is a whole record by itself).
void append_field(std::string& out, std::string_view value, char delimiter,
                  bool force_quotes = false);

}  // namespace plexus::files::csv
