#include "csv.hpp"

namespace plexus::files::csv {

RecordScan parse_record(std::string_view buf, char delimiter, bool at_eof,
                        std::vector<std::string>& fields) {
    enum class State { field_start, unquoted, quoted, after_quote } state = State::field_start;
    fields.clear();
    std::string current;
    auto emit = [&] {
        fields.push_back(std::move(current));
        current.clear();
    };
    RecordScan scan;
    const size_t n = buf.size();
    for (size_t i = 0; i < n; ++i) {
        const char c = buf[i];
        if (state == State::quoted) {
            // Copy everything up to the next quote in one go.
            const size_t q = buf.find('"', i);
            if (q == std::string_view::npos) {
                current.append(buf.substr(i));
                i = n;
                break;
            }
            current.append(buf.substr(i, q - i));
            i = q;
            state = State::after_quote;
            continue;
        }
        if (state == State::after_quote && c == '"') {  // a doubled quote inside quotes
            current.push_back('"');
            state = State::quoted;
            continue;
        }
        if (c == delimiter) {
            emit();
            state = State::field_start;
            continue;
        }
        if (c == '\n' || (c == '\r' && i + 1 < n && buf[i + 1] == '\n')) {
            emit();
            scan.status = Status::complete;
            scan.length = i + (c == '\r' ? 2 : 1);
            scan.terminated = true;
            return scan;
        }
        if (c == '\r' && i + 1 == n) {
            if (!at_eof) return scan;  // incomplete: a CRLF may be split across reads
            continue;                  // a lone CR at the very end: ignore it
        }
        if (state == State::after_quote) {
            scan.status = Status::malformed;
            scan.error_at = i;
            scan.problem = std::string("a quoted field is followed by '") + c +
                           "' instead of a delimiter or the end of the line";
            return scan;
        }
        if (state == State::field_start && c == '"') {
            state = State::quoted;
            continue;
        }
        current.push_back(c);
        state = State::unquoted;
    }
    if (!at_eof || state == State::quoted) return scan;  // incomplete
    emit();
    scan.status = Status::complete;
    scan.length = n;
    scan.terminated = false;
    return scan;
}

void append_field(std::string& out, std::string_view value, char delimiter, bool force_quotes) {
    bool needs_quotes = force_quotes;
    for (char c : value) {
        if (c == delimiter || c == '"' || c == '\n' || c == '\r') {
            needs_quotes = true;
            break;
        }
    }
    if (!needs_quotes) {
        out.append(value);
        return;
    }
    out.push_back('"');
    for (char c : value) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
}

}  // namespace plexus::files::csv
