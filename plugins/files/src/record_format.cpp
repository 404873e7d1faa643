#include "record_format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "csv.hpp"

#include <plexus/json_text.hpp>

namespace plexus::files {
namespace {

using sdk::Error;

bool is_blank(std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool type_fits(const json& v, const std::string& type) {
    if (v.is_null()) return true;
    if (type == "string" || type == "datetime") return v.is_string();
    if (type == "integer") {
        if (v.is_number_integer()) return true;
        if (!v.is_number_float()) return false;
        const double d = v.get<double>();
        return std::isfinite(d) && std::floor(d) == d;
    }
    if (type == "number") return v.is_number();
    if (type == "boolean") return v.is_boolean();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    return true;
}

std::string parse_error_text(std::string what) {
    // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error …"
    if (auto p = what.find("] "); p != std::string::npos) what.erase(0, p + 2);
    const std::string prefix = "parse error at line 1, ";
    if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
    return what;
}

// Pulls the key, cursor and idempotency key out of a JSON object without building it: the
// index of a large file is made from these three values alone.
struct KeyFieldsSax {
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    struct Value {
        const char* type = nullptr;  // nullptr: absent
        bool usable = false;         // a string or an integer
        std::string text;
    };
    enum : unsigned { kKey = 1, kCursor = 2, kIdempotency = 4 };

    std::string_view key_name;
    std::string_view cursor_name;
    Value values[3];
    int depth = 0;
    unsigned pending = 0;  // which of the three the next value at depth 1 is
    bool not_object = false;
    std::string error;

    void set(const char* type, bool usable, std::string&& text) {
        for (int b = 0; b < 3; ++b)
            if (pending & (1u << b)) values[b] = Value{type, usable, text};
        pending = 0;
    }
    bool scalar(const char* type, bool usable, std::string&& text) {
        if (depth == 0) {
            not_object = true;
            return false;
        }
        if (depth == 1 && pending) set(type, usable, std::move(text));
        return true;
    }
    bool wanted() const { return depth == 1 && pending; }

    bool null() { return scalar("null", false, {}); }
    bool boolean(bool) { return scalar("a boolean", false, {}); }
    bool number_integer(number_integer_t v) {
        return scalar("an integer", true, wanted() ? std::to_string(v) : std::string());
    }
    bool number_unsigned(number_unsigned_t v) {
        return scalar("an integer", true, wanted() ? std::to_string(v) : std::string());
    }
    bool number_float(number_float_t, const string_t&) {
        return scalar("a number with a fraction", false, {});
    }
    bool string(string_t& s) { return scalar("a string", true, std::move(s)); }
    bool binary(binary_t&) { return scalar("binary data", false, {}); }
    bool start_object(std::size_t) {
        if (wanted()) set("an object", false, {});
        ++depth;
        return true;
    }
    bool key(string_t& k) {
        if (depth == 1)
            pending = (k == key_name ? kKey : 0u) |
                      (!cursor_name.empty() && k == cursor_name ? kCursor : 0u) |
                      (k == kIdempotencyField ? kIdempotency : 0u);
        return true;
    }
    bool end_object() {
        --depth;
        return true;
    }
    bool start_array(std::size_t) {
        if (depth == 0) {
            not_object = true;
            return false;
        }
        if (wanted()) set("an array", false, {});
        ++depth;
        return true;
    }
    bool end_array() {
        --depth;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
        error = parse_error_text(ex.what());
        return false;
    }
};

class JsonLinesFormat final : public RecordFormat {
public:
    explicit JsonLinesFormat(const EntitySpec& spec) : RecordFormat(spec) {}

    ScanResult scan(std::string_view buf, bool at_eof, uint32_t line, KeyFields& out) override {
        const size_t nl = buf.find('\n');
        if (nl == std::string_view::npos && !at_eof) return {ScanStatus::incomplete, 0};
        const size_t length = nl == std::string_view::npos ? buf.size() : nl + 1;
        const std::string_view record = buf.substr(0, length);
        if (is_blank(record)) return {ScanStatus::skip, length};
        if (nl == std::string_view::npos) {
            // The last line has no line break: a record typed without one, or the beginning
            // of a record whose write was interrupted. Only the latter is malformed.
            try {
                out = extract(record, line);
            } catch (const Error&) {
                return {ScanStatus::torn, length};
            }
            return {ScanStatus::record, length};
        }
        out = extract(record, line);
        return {ScanStatus::record, length};
    }

    KeyFields extract(std::string_view record, uint32_t line) override {
        KeyFields kf;
        if (extract_fast(record, kf)) return kf;
        // Anything unusual — and every error, so that it is reported the same way — takes
        // nlohmann::json's SAX parser.
        KeyFieldsSax sax;
        sax.key_name = spec_.key_field;
        sax.cursor_name = spec_.cursor_field;
        const bool ok = json::sax_parse(record.data(), record.data() + record.size(), &sax);
        if (sax.not_object) fail(line, "not a JSON object");
        if (!ok) fail(line, "malformed JSON (" + sax.error + ")");

        const auto& key = sax.values[0];
        if (!key.type || std::string_view(key.type) == "null")
            fail(line, "no \"" + spec_.key_field + "\" (the entity's key field)");
        if (!key.usable)
            fail(line, "\"" + spec_.key_field + "\" is " + key.type +
                           "; a key must be a string or an integer");
        if (key.text.empty()) fail(line, "\"" + spec_.key_field + "\" is empty");
        kf.key = key.text;

        const auto& cursor = sax.values[1];
        if (cursor.type && !cursor.usable && std::string_view(cursor.type) != "null")
            fail(line, "\"" + spec_.cursor_field + "\" is " + cursor.type +
                           "; a cursor value must be a string or an integer");
        kf.cursor = cursor.text;
        if (sax.values[2].usable) kf.idempotency_key = sax.values[2].text;
        return kf;
    }

    // The key fields of a well-formed record with usable values, found by the SDK's JSON
    // text scanner (a fraction of the SAX parser's cost: this runs for every record of
    // every file read); false for anything else, which extract() leaves to the SAX parser.
    bool extract_fast(std::string_view record, KeyFields& kf) const {
        std::string_view key, cursor, idempotency;
        bool escaped_name = false;
        const bool ok = sdk::json_text::for_each_member(
            record, [&](std::string_view name, std::string_view value) {
                const std::string_view n = name.substr(1, name.size() - 2);
                if (n.find('\\') != std::string_view::npos) escaped_name = true;
                if (n == spec_.key_field) key = value;
                if (!spec_.cursor_field.empty() && n == spec_.cursor_field) cursor = value;
                if (n == kIdempotencyField) idempotency = value;
            });
        if (!ok || escaped_name || key.empty()) return false;
        auto k = sdk::json_text::scalar_text(key);
        if (!k || k->empty()) return false;
        kf.key = std::move(*k);
        kf.cursor.clear();
        if (!cursor.empty() && cursor != "null") {
            auto c = sdk::json_text::scalar_text(cursor);
            if (!c) return false;
            kf.cursor = std::move(*c);
        }
        kf.idempotency_key.clear();
        if (!idempotency.empty())
            if (auto i = sdk::json_text::scalar_text(idempotency)) kf.idempotency_key = std::move(*i);
        return true;
    }

    json decode(std::string_view record, uint32_t line) override {
        json j = json::parse(record.data(), record.data() + record.size(), nullptr, false);
        if (j.is_discarded()) fail(line, "malformed JSON");
        if (!j.is_object()) fail(line, "not a JSON object");
        j.erase(std::string(kIdempotencyField));
        for (const auto& f : spec_.fields) {
            auto it = j.find(f.name);
            if (it != j.end() && !type_fits(*it, f.type))
                fail(line, "\"" + f.name + "\" is " + type_name(*it) + ", expected " + f.type);
        }
        return j;
    }

    bool take_data_text(std::string& record) const override {
        if (!spec_.fields.empty()) return false;
        size_t end = record.size();
        while (end && (record[end - 1] == '\n' || record[end - 1] == '\r')) --end;
        // The text goes into the page as it is, so it must be a bare object (no byte-order
        // mark, no leading blanks), and must not carry the bookkeeping field, in any
        // spelling: a line holding any unicode escape (backslash, u) goes to decode().
        if (end < 2 || record[0] != '{' || record[end - 1] != '}') return false;
        const std::string_view text(record.data(), end);
        if (text.find(kIdempotencyField) != std::string_view::npos ||
            text.find("\\u") != std::string_view::npos)
            return false;
        record.resize(end);
        return true;
    }

    std::string begin_append(bool, const json&, bool& restart) override {
        restart = false;
        return {};
    }

    void encode(const json& data, std::string_view idempotency_key, std::string& out) override {
        encode_text(data.dump(-1, ' ', false, json::error_handler_t::replace), idempotency_key,
                    out);
    }

    void encode_text(std::string_view text, std::string_view idempotency_key,
                     std::string& out) override {
        // An object's text, maybe with blanks around it and inside.
        const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
        while (!text.empty() && blank(text.front())) text.remove_prefix(1);
        while (!text.empty() && blank(text.back())) text.remove_suffix(1);
        if (idempotency_key.empty()) {
            out += text;
        } else {
            // The bookkeeping member goes first ("_" sorts before lowercase names anyway);
            // spliced into the text rather than into a copy of the data.
            std::string_view members = text.substr(1);  // after the '{'
            while (!members.empty() && blank(members.front())) members.remove_prefix(1);
            out += "{\"";
            out += kIdempotencyField;
            out += "\":";
            out += json(std::string(idempotency_key))
                       .dump(-1, ' ', false, json::error_handler_t::replace);
            if (!members.empty() && members.front() != '}') out.push_back(',');
            out += members;
        }
        out.push_back('\n');
    }
};

class CsvFormat final : public RecordFormat {
public:
    explicit CsvFormat(const EntitySpec& spec) : RecordFormat(spec), delimiter_(spec.delimiter) {}

    void reset() override {
        columns_.clear();
        column_index_.clear();
        column_specs_.clear();
        has_header_ = header_terminated_ = false;
        key_col_ = cursor_col_ = idempotency_col_ = -1;
    }

    ScanResult scan(std::string_view buf, bool at_eof, uint32_t line, KeyFields& out) override {
        const csv::RecordScan r = csv::parse_record(buf, delimiter_, at_eof, fields_);
        if (r.status == csv::Status::incomplete) {
            if (!at_eof) return {ScanStatus::incomplete, 0};
            // A quoted field still open at the end of the file. In a file Plexus writes
            // (it has the idempotency column) that is an interrupted write.
            if (written_by_plexus() || !has_header_) return {ScanStatus::torn, buf.size()};
            fail(line, "a quoted field is never closed");
        }
        if (r.status == csv::Status::malformed) {
            if (at_eof && written_by_plexus() &&
                buf.find('\n', r.error_at) == std::string_view::npos)
                return {ScanStatus::torn, buf.size()};
            const auto newlines = std::count(buf.begin(), buf.begin() + r.error_at, '\n');
            fail(line + static_cast<uint32_t>(newlines), r.problem);
        }
        if (is_blank(buf.substr(0, r.length))) return {ScanStatus::skip, r.length};
        if (!has_header_) {
            if (r.terminated) {
                take_header(std::move(fields_), line, true);
            } else {
                try {
                    take_header(std::move(fields_), line, false);
                } catch (const Error&) {
                    return {ScanStatus::torn, r.length};
                }
            }
            return {ScanStatus::skip, r.length};
        }
        // Plexus ends every row it writes with a line break: a row without one is unfinished.
        if (!r.terminated && written_by_plexus()) return {ScanStatus::torn, r.length};
        out = key_fields(line);
        return {ScanStatus::record, r.length};
    }

    KeyFields extract(std::string_view record, uint32_t line) override {
        parse_stored(record, line);
        return key_fields(line);
    }

    json decode(std::string_view record, uint32_t line) override {
        parse_stored(record, line);
        check_width(line);
        json data = json::object();
        for (size_t i = 0; i < columns_.size(); ++i) {
            if (static_cast<int>(i) == idempotency_col_) continue;
            data[columns_[i]] = cell_value(fields_[i], column_specs_[i], line, columns_[i]);
        }
        return data;
    }

    std::string begin_append(bool has_records, const json& first, bool& restart) override {
        if (has_records) {
            if (!written_by_plexus())
                throw Error(PLEXUS_ERR_CONFIG,
                            file_ + " has no \"" + std::string(kIdempotencyField) +
                                "\" column, which Plexus needs to write to it idempotently; "
                                "write to a new file, or add the column to the header and an "
                                "empty field to every row");
            restart = false;
            return {};
        }
        // No records yet: (re)write the header. A complete header already in the file keeps
        // its columns; otherwise the declared fields, or the first record's, make them.
        std::vector<std::string> columns;
        auto add = [&](const std::string& name) {
            if (std::find(columns.begin(), columns.end(), name) == columns.end())
                columns.push_back(name);
        };
        if (has_header_ && header_terminated_) {
            columns = columns_;
        } else {
            add(spec_.key_field);
            if (!spec_.fields.empty()) {
                for (const auto& f : spec_.fields) add(f.name);
                if (spec_.has_cursor()) add(spec_.cursor_field);
            } else if (first.is_object()) {
                for (const auto& [name, value] : first.items())
                    if (name != kIdempotencyField) add(name);
            }
        }
        add(std::string(kIdempotencyField));
        reset();
        take_header(columns, 1, true);
        restart = true;
        std::string header;
        for (size_t i = 0; i < columns_.size(); ++i) {
            if (i) header.push_back(delimiter_);
            csv::append_field(header, columns_[i], delimiter_);
        }
        header.push_back('\n');
        return header;
    }

    void encode(const json& data, std::string_view idempotency_key, std::string& out) override {
        if (!has_header_) throw Error(PLEXUS_ERR_PLUGIN, file_ + ": no header to write under");
        for (const auto& [name, value] : data.items()) {
            if (name == kIdempotencyField || column_index_.count(name)) continue;
            std::string list;
            for (const auto& c : columns_)
                if (c != kIdempotencyField) list += (list.empty() ? "" : ", ") + c;
            throw Error(PLEXUS_ERR_VALIDATION, "field \"" + name + "\" is not a column of " +
                                                   file_ + " (columns: " + list + ")");
        }
        const bool single = columns_.size() == 1;
        for (size_t i = 0; i < columns_.size(); ++i) {
            if (i) out.push_back(delimiter_);
            if (static_cast<int>(i) == idempotency_col_) {
                csv::append_field(out, idempotency_key, delimiter_, single);
                continue;
            }
            auto it = data.find(columns_[i]);
            std::string text = it == data.end() ? std::string() : cell_text(*it);
            csv::append_field(out, text, delimiter_, single && text.empty());
        }
        out.push_back('\n');
    }

private:
    bool written_by_plexus() const { return idempotency_col_ >= 0; }

    void take_header(std::vector<std::string> names, uint32_t line, bool terminated) {
        if (!names.empty() && names[0].rfind("\xEF\xBB\xBF", 0) == 0) names[0].erase(0, 3);
        std::unordered_map<std::string, int> index;
        for (size_t i = 0; i < names.size(); ++i)
            if (!index.emplace(names[i], static_cast<int>(i)).second)
                fail(line, "column \"" + names[i] + "\" appears twice in the header");
        auto find = [&](const std::string& name) {
            auto it = index.find(name);
            return it == index.end() ? -1 : it->second;
        };
        const int key = find(spec_.key_field);
        if (key < 0)
            fail(line,
                 "the header has no column \"" + spec_.key_field + "\" (the entity's key field)");
        const int cursor = spec_.has_cursor() ? find(spec_.cursor_field) : -1;
        if (spec_.has_cursor() && cursor < 0)
            fail(line, "the header has no column \"" + spec_.cursor_field +
                           "\" (the entity's cursor field)");
        const int idempotency = find(std::string(kIdempotencyField));
        columns_ = std::move(names);
        column_index_ = std::move(index);
        column_specs_.clear();
        for (const auto& c : columns_) column_specs_.push_back(spec_.field(c));
        key_col_ = key;
        cursor_col_ = cursor;
        idempotency_col_ = idempotency;
        has_header_ = true;
        header_terminated_ = terminated;
    }

    void parse_stored(std::string_view record, uint32_t line) {
        if (!has_header_) fail(line, "a record before the header");
        const auto r = csv::parse_record(record, delimiter_, true, fields_);
        if (r.status == csv::Status::malformed) fail(line, r.problem);
        if (r.status != csv::Status::complete) fail(line, "a quoted field is never closed");
    }

    void check_width(uint32_t line) const {
        if (fields_.size() != columns_.size())
            fail(line, std::to_string(fields_.size()) + " fields, but the header has " +
                           std::to_string(columns_.size()) + " columns");
    }

    KeyFields key_fields(uint32_t line) {
        check_width(line);
        KeyFields kf;
        kf.key = fields_[key_col_];
        if (kf.key.empty()) fail(line, "\"" + spec_.key_field + "\" is empty");
        if (cursor_col_ >= 0) kf.cursor = fields_[cursor_col_];
        if (idempotency_col_ >= 0) kf.idempotency_key = fields_[idempotency_col_];
        return kf;
    }

    static std::string cell_text(const json& v) {
        if (v.is_null()) return {};
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
        return v.dump(-1, ' ', false, json::error_handler_t::replace);
    }

    // A cell as data: text, unless the entity declares the column with another type.
    json cell_value(std::string& text, const FieldSpec* spec, uint32_t line,
                    const std::string& column) const {
        if (!spec || spec->type == "string" || spec->type == "datetime") return std::move(text);
        if (text.empty()) return nullptr;
        const char* first = text.data();
        const char* last = text.data() + text.size();
        const std::string& type = spec->type;
        if (type == "integer" || type == "number") {
            int64_t i = 0;
            auto r = std::from_chars(first, last, i);
            if (r.ec == std::errc() && r.ptr == last) return i;
            if (type == "number") {
                double d = 0;
                auto rd = std::from_chars(first, last, d);
                if (rd.ec == std::errc() && rd.ptr == last) return d;
            }
        } else if (type == "boolean") {
            std::string t = text;
            std::transform(t.begin(), t.end(), t.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (t == "true" || t == "1") return true;
            if (t == "false" || t == "0") return false;
        } else if (type == "object" || type == "array") {
            json j = json::parse(text, nullptr, false);
            if (!j.is_discarded() && (type == "object" ? j.is_object() : j.is_array())) return j;
        } else {
            return std::move(text);
        }
        fail(line, "column \"" + column + "\": " + json(text).dump() + " is not " +
                       (type == "integer" ? "an " : "a ") + type);
    }

    char delimiter_;
    std::vector<std::string> columns_;
    std::unordered_map<std::string, int> column_index_;
    std::vector<const FieldSpec*> column_specs_;
    bool has_header_ = false;
    bool header_terminated_ = false;
    int key_col_ = -1;
    int cursor_col_ = -1;
    int idempotency_col_ = -1;
    std::vector<std::string> fields_;  // scratch: the fields of the last record parsed
};

}  // namespace

std::optional<std::string> scalar_text(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_integer()) return value.dump();
    return std::nullopt;
}

const char* type_name(const json& value) {
    switch (value.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::string:
            return "a string";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        case json::value_t::number_float:
            return "a number";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::object:
            return "an object";
        case json::value_t::array:
            return "an array";
        default:
            return "binary data";
    }
}

RecordFormat::RecordFormat(const EntitySpec& spec) : spec_(spec), file_(spec.file.string()) {}

std::unique_ptr<RecordFormat> RecordFormat::make(const EntitySpec& spec) {
    if (spec.format == FileFormat::Csv) return std::make_unique<CsvFormat>(spec);
    return std::make_unique<JsonLinesFormat>(spec);
}

void RecordFormat::fail(uint32_t line, const std::string& problem) const {
    throw Error(PLEXUS_ERR_VALIDATION, file_ + ":" + std::to_string(line) + ": " + problem);
}

void RecordFormat::encode_text(std::string_view, std::string_view, std::string&) {
    throw Error(PLEXUS_ERR_PLUGIN, "files: encode_text is for JSON Lines only");
}

void RecordFormat::validate_for_write(const json& data) const {
    if (!data.is_object())
        throw Error(PLEXUS_ERR_VALIDATION,
                    std::string("the record's data must be a JSON object, not ") + type_name(data));
    if (spec_.fields.empty()) return;
    for (const auto& [name, value] : data.items()) {
        if (name == kIdempotencyField) continue;
        const FieldSpec* f = spec_.field(name);
        if (!f) {
            if (name == spec_.key_field || name == spec_.cursor_field) continue;
            std::string declared;
            for (const auto& d : spec_.fields) declared += (declared.empty() ? "" : ", ") + d.name;
            throw Error(PLEXUS_ERR_VALIDATION, "field \"" + name +
                                                   "\" is not declared for entity " + spec_.name +
                                                   " (declared: " + declared + ")");
        }
        if (!type_fits(value, f->type))
            throw Error(PLEXUS_ERR_VALIDATION,
                        "field \"" + name + "\" is " + type_name(value) + ", expected " + f->type);
    }
}

}  // namespace plexus::files
