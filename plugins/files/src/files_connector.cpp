#include "files_connector.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include "read_position.hpp"

#include <plexus/json_text.hpp>

namespace plexus::files {
namespace {

namespace fs = std::filesystem;
using sdk::Error;

constexpr size_t kDefaultLimit = 500;
constexpr size_t kMaxTextLength = 0xFFFF;  // keys and cursor values, as the index stores them

std::string quote(std::string_view s) { return json(std::string(s)).dump(); }

bool matches(const json& data, const json& filter) {
    for (const auto& [name, wanted] : filter.items()) {
        auto it = data.find(name);
        if (it == data.end() || *it != wanted) return false;
    }
    return true;
}

// One write_batch: checks each record against the file (and against the batch so far),
// encodes what must be written into one buffer, and appends it with a single write + fsync.
class BatchWriter {
public:
    BatchWriter(RecordLog& log) : log_(log), spec_(log.spec()), format_(log.format()) {}

    sdk::WriteResult create(const sdk::WriteItem& item) {
        if (auto done = create_as_text(item)) return std::move(*done);
        Data data(item);
        std::string key;
        auto it = data->find(spec_.key_field);
        if (it != data->end() && !it->is_null()) {
            key = text_of(*it, "key");
        } else {
            // No key in the data: the idempotency key becomes the record's key.
            if (item.idempotency_key.empty())
                throw Error(PLEXUS_ERR_VALIDATION,
                            "the record has no " + quote(spec_.key_field) +
                                " and the write no idempotency key to use as its key");
            key = item.idempotency_key;
            data.edit()[spec_.key_field] = key;
        }
        check_length(key, "key");
        format_.validate_for_write(*data);
        std::string cursor = cursor_of(*data);

        if (auto done = existing(key, item)) return std::move(*done);
        // The record's cursor as a later read returns it: the host's echo check.
        stage(key, std::string(cursor), item.idempotency_key, *data);
        return sdk::WriteResult::ok(key, std::move(cursor));
    }

    // Creating a key that exists is a conflict — unless that record was made by this very
    // create (same idempotency key): a retry, already done. None: the key is new.
    std::optional<sdk::WriteResult> existing(const std::string& key, const sdk::WriteItem& item) {
        if (auto f = staged_by_key_.find(key); f != staged_by_key_.end()) {
            if (!item.idempotency_key.empty() &&
                staged_[f->second].idempotency_key == item.idempotency_key)
                return sdk::WriteResult::ok(key);
            return conflict(key, "earlier in this batch");
        }
        if (const auto found = log_.find(key)) {
            if (!item.idempotency_key.empty() &&
                found->fields.idempotency_key == item.idempotency_key)
                return sdk::WriteResult::ok(key);
            return conflict(key, "at line " + std::to_string(found->at.line));
        }
        return std::nullopt;
    }

    // The usual create of a JSON Lines entity without declared fields, from the data's text:
    // its key and cursor are read off the text, and the text is appended as it is (with the
    // idempotency key spliced in) — what create() would write after parsing it and
    // serialising it again. None when the record needs create(): no key in the data, the
    // bookkeeping field in it, a value create() would refuse, names spelt with escapes,
    // line breaks in the text, CSV, declared fields.
    std::optional<sdk::WriteResult> create_as_text(const sdk::WriteItem& item) {
        const std::string_view text = item.data_json;
        if (text.empty() || spec_.format != FileFormat::JsonLines || !spec_.fields.empty() ||
            text.find_first_of("\r\n") != std::string_view::npos)
            return std::nullopt;
        std::string_view key_token, cursor_token;
        bool plain = true;
        sdk::json_text::for_each_member(text, [&](std::string_view name, std::string_view value) {
            const std::string_view n = name.substr(1, name.size() - 2);
            if (n.find('\\') != std::string_view::npos || n == kIdempotencyField) plain = false;
            if (n == spec_.key_field) key_token = value;
            if (spec_.has_cursor() && n == spec_.cursor_field) cursor_token = value;
        });
        if (!plain || key_token.empty() || key_token == "null") return std::nullopt;
        auto key = sdk::json_text::scalar_text(key_token);
        if (!key || key->empty() || key->size() > kMaxTextLength) return std::nullopt;
        std::string cursor;
        if (!cursor_token.empty() && cursor_token != "null") {
            auto c = sdk::json_text::scalar_text(cursor_token);
            if (!c || c->size() > kMaxTextLength) return std::nullopt;
            cursor = std::move(*c);
        }
        if (auto done = existing(*key, item)) return done;
        if (staged_.empty()) bytes_ = format_.begin_append(log_.has_records(), json(), restart_);
        const size_t offset = bytes_.size();
        format_.encode_text(text, item.idempotency_key, bytes_);
        add_staged(*key, std::string(cursor), item.idempotency_key, offset);
        return sdk::WriteResult::ok(std::move(*key), std::move(cursor));
    }

    sdk::WriteResult update(const sdk::WriteItem& item) {
        const std::string& key = item.target_key;
        if (key.empty())
            throw Error(PLEXUS_ERR_VALIDATION, "an update needs the target_key of the record");
        check_length(key, "key");
        Data data(item);
        auto it = data->find(spec_.key_field);
        const bool has_key = it != data->end() && !it->is_null();
        if (has_key) {
            const auto text = scalar_text(*it);
            if (!text || *text != key)
                throw Error(PLEXUS_ERR_VALIDATION,
                            "the update of " + quote(key) + " would change its " +
                                quote(spec_.key_field) + " to " + it->dump() +
                                "; a record's key cannot change");
        }
        format_.validate_for_write(*data);
        std::string cursor = cursor_of(*data);

        json current;
        if (auto f = staged_by_key_.find(key); f != staged_by_key_.end()) {
            const RecordLog::NewRecord& r = staged_[f->second];
            current = format_.decode(std::string_view(bytes_).substr(r.offset, r.length), 0);
        } else if (const auto found = log_.find(key)) {
            current = format_.decode(found->bytes, found->at.line);
        } else {
            // Not a bug and not the data's fault: the record vanished underneath (the file was
            // replaced or edited). CONFLICT is the host's class for that.
            throw Error(PLEXUS_ERR_CONFLICT, log_.file() + " holds no record with " +
                                                 spec_.key_field + " " + quote(key) +
                                                 " to update (was the file replaced or edited?)");
        }
        if (!has_key) {
            auto k = current.find(spec_.key_field);
            data.edit()[spec_.key_field] = k != current.end() ? *k : json(key);
        }
        if (same_content(current, *data)) return sdk::WriteResult::ok(key, std::move(cursor));
        stage(key, std::string(cursor), item.idempotency_key, *data);
        return sdk::WriteResult::ok(key, std::move(cursor));
    }

    size_t staged() const { return staged_.size(); }

    void commit() {
        if (!staged_.empty()) log_.append(bytes_, staged_, restart_);
    }

private:
    // A record's data as it will be written: the item's own, or a copy when something must
    // change (the key filled in, a stray bookkeeping field dropped) — most records need none.
    class Data {
    public:
        explicit Data(const sdk::WriteItem& item) : given_(&item.data) {
            if (!item.data_json.empty()) {  // checked JSON text: parses
                copy_ = json::parse(item.data_json);
                given_ = &*copy_;
            }
            if (!given_->is_object())
                throw Error(PLEXUS_ERR_VALIDATION,
                            std::string("the record's data must be a JSON object, not ") +
                                type_name(*given_));
            if (given_->contains(kIdempotencyField))  // the connector's own bookkeeping
                edit().erase(std::string(kIdempotencyField));
        }
        Data(const Data&) = delete;
        Data& operator=(const Data&) = delete;
        const json& operator*() const { return copy_ ? *copy_ : *given_; }
        const json* operator->() const { return &**this; }
        json& edit() {
            if (!copy_) copy_ = *given_;
            return *copy_;
        }

    private:
        const json* given_;
        std::optional<json> copy_;
    };

    std::string text_of(const json& value, const char* role) const {
        const std::string& field =
            std::string_view(role) == "key" ? spec_.key_field : spec_.cursor_field;
        auto text = scalar_text(value);
        if (!text)
            throw Error(PLEXUS_ERR_VALIDATION, quote(field) + " is " + type_name(value) + "; a " +
                                                   role + " must be a string or an integer");
        return *text;
    }

    void check_length(const std::string& text, const char* role) const {
        if (text.empty())
            throw Error(PLEXUS_ERR_VALIDATION, std::string("the ") + role + " is empty");
        if (text.size() > kMaxTextLength)
            throw Error(PLEXUS_ERR_VALIDATION,
                        std::string("the ") + role + " is longer than 65535 bytes");
    }

    std::string cursor_of(const json& data) const {
        if (!spec_.has_cursor()) return {};
        auto it = data.find(spec_.cursor_field);
        if (it == data.end() || it->is_null()) return {};
        std::string cursor = text_of(*it, "cursor value");
        if (cursor.size() > kMaxTextLength)
            throw Error(PLEXUS_ERR_VALIDATION, "the cursor value is longer than 65535 bytes");
        return cursor;
    }

    sdk::WriteResult conflict(const std::string& key, const std::string& where) const {
        return sdk::WriteResult::failed(
            PLEXUS_ERR_CONFLICT, log_.file() + " already holds a record with " + spec_.key_field +
                                     " " + quote(key) + " (" + where + ")");
    }

    bool same_content(const json& current, const json& next) {
        if (spec_.format == FileFormat::JsonLines) return current == next;
        std::string a, b;  // CSV holds text: compare what would be written
        format_.encode(current, {}, a);
        format_.encode(next, {}, b);
        return a == b;
    }

    void stage(std::string key, std::string cursor, const std::string& idempotency_key,
               const json& data) {
        if (staged_.empty()) bytes_ = format_.begin_append(log_.has_records(), data, restart_);
        const size_t offset = bytes_.size();
        try {
            format_.encode(data, idempotency_key, bytes_);
        } catch (...) {
            bytes_.resize(offset);
            throw;
        }
        add_staged(std::move(key), std::move(cursor), idempotency_key, offset);
    }

    // Notes the record encoded into bytes_ from `offset` to the end.
    void add_staged(std::string key, std::string cursor, const std::string& idempotency_key,
                    size_t offset) {
        RecordLog::NewRecord r;
        r.key = key;
        r.cursor = std::move(cursor);
        r.idempotency_key = idempotency_key;
        r.offset = offset;
        r.length = bytes_.size() - offset;
        staged_by_key_[std::move(key)] = staged_.size();
        staged_.push_back(std::move(r));
    }

    RecordLog& log_;
    const EntitySpec& spec_;
    RecordFormat& format_;
    std::string bytes_;
    bool restart_ = false;
    std::vector<RecordLog::NewRecord> staged_;
    std::unordered_map<std::string, size_t> staged_by_key_;
};

}  // namespace

const char* const FilesConnector::manifest = R"json({
  "id": "files",
  "name": "Files (JSON Lines and CSV)",
  "version": "1.0.0",
  "description": "Reads and writes JSON Lines and CSV files, one entity per configured file. Files are log-structured: creates and updates append, the last version of a key wins. Every record Plexus writes carries the write's idempotency key in the field or column _plexus_idempotency_key.",
  "settings": [
    {"name": "directory", "type": "string", "required": true, "secret": false, "default": null,
     "description": "Base directory of the entities' files (relative paths are resolved against it). It must exist and be readable and writable."},
    {"name": "entities", "type": "object", "required": true, "secret": false, "default": null,
     "description": "Entity name -> {\"path\": file, relative to directory; \"format\": \"jsonl\" or \"csv\" (default from the extension: .jsonl/.ndjson, .csv/.tsv); \"key\": the field holding the record key (default \"id\"); \"cursor\": the field for incremental reads, compared as text (optional); \"fields\": [{\"name\", \"type\"}] the records are checked against (optional; without it any field is accepted); \"delimiter\": CSV delimiter (default \",\", a tab for .tsv)}."}
  ],
  "entities": []
})json";

FilesConnector::FilesConnector(sdk::Host& host, const json& settings)
    : host_(host), settings_(parse_settings(settings)) {}

json FilesConnector::describe_entities(const json& settings) {
    return describe(parse_settings(settings));
}

RecordLog& FilesConnector::log_for(const std::string& entity) {
    auto spec = settings_.entities.find(entity);
    if (spec == settings_.entities.end()) {
        std::string known;
        for (const auto& [name, e] : settings_.entities)
            known += (known.empty() ? "" : ", ") + name;
        throw Error(PLEXUS_ERR_CONFIG, "unknown entity " + quote(entity) +
                                           "; this connection's entities are: " + known);
    }
    auto& log = logs_[entity];
    if (!log) log = std::make_unique<RecordLog>(spec->second, host_);
    return *log;
}

void FilesConnector::check() {
    const fs::path& dir = settings_.directory;
    std::error_code ec;
    if (!fs::exists(dir, ec))
        throw Error(PLEXUS_ERR_CONFIG, "the directory " + dir.string() + " does not exist");
    if (!fs::is_directory(dir, ec))
        throw Error(PLEXUS_ERR_CONFIG, dir.string() + " is not a directory");
    if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
        throw Error(PLEXUS_ERR_CONFIG,
                    "the directory " + dir.string() +
                        " is not readable and writable by Plexus: " + std::strerror(errno));
    for (const auto& [name, e] : settings_.entities) {
        const fs::path parent = e.file.parent_path();
        if (!fs::is_directory(parent, ec))
            throw Error(PLEXUS_ERR_CONFIG, "entity " + name + ": the directory " + parent.string() +
                                               " does not exist");
        if (fs::exists(e.file, ec) && ::access(e.file.c_str(), R_OK) != 0)
            throw Error(PLEXUS_ERR_CONFIG, "entity " + name + ": cannot read " + e.file.string() +
                                               ": " + std::strerror(errno));
    }
}

sdk::ReadPage FilesConnector::read(const sdk::ReadRequest& request) {
    RecordLog& log = log_for(request.entity);
    const EntitySpec& spec = log.spec();
    const bool with_cursor = spec.has_cursor();

    ReadPosition position;
    if (request.cursor && !request.cursor->empty()) {
        bool shape_matches = true;
        position = decode_position(*request.cursor, with_cursor, shape_matches);
        if (!shape_matches)
            host_.warn("files: the stored cursor of entity " + spec.name + " was made when it " +
                       (with_cursor ? "had no cursor field" : "had a cursor field") +
                       "; reading from the start");
    } else if (request.since && with_cursor) {
        position = ReadPosition{*request.since, ""};
    }

    // The first read of a run takes a snapshot of the file; later pages read that snapshot,
    // so a run's pages never move under it. A read after this instance wrote to the file
    // takes a new one.
    auto& plan = plans_[request.entity];
    if (!plan || plan->generation() != log.generation()) {
        plan = std::make_unique<ReadPlan>(log);
        if (!plan->build(position)) {
            plan.reset();
            std::error_code ec;
            const fs::path parent = spec.file.parent_path();
            throw Error(PLEXUS_ERR_CONFIG,
                        "entity " + spec.name + ": " + log.file() + " does not exist" +
                            (fs::is_directory(parent, ec)
                                 ? std::string()
                                 : " (nor does the directory " + parent.string() + ")"));
        }
    }
    plan->seek(position);

    const size_t limit = request.limit ? request.limit : kDefaultLimit;
    const bool filtered = request.filter.is_object() && !request.filter.empty();
    // With a filter, a page looks at a bounded number of records, matching or not.
    const size_t budget = filtered ? std::max<size_t>(limit * 20, 10000) : limit;

    sdk::ReadPage page;
    size_t examined = 0;
    while (page.records.size() < limit && examined < budget) {
        ReadPlan::Item* item = plan->peek();
        if (!item) break;
        ++examined;
        // Unfiltered, a stored JSON line usually goes to the host as it is: parsing it here
        // and serialising it again would only give the host the same text.
        if (!filtered && plan->format().take_data_text(item->bytes)) {
            // (key and cursor are copied: pop() moves the position to them)
            page.records.push_back(
                sdk::Record{item->key, item->cursor, {}, std::move(item->bytes)});
        } else {
            json data = plan->format().decode(item->bytes, item->line);
            if (!filtered || matches(data, request.filter))
                page.records.push_back(sdk::Record{item->key, item->cursor, std::move(data), {}});
        }
        plan->pop();  // the position moves past filtered-out records too
        if (filtered && examined % 256 == 0 && host_.cancelled())
            throw Error(PLEXUS_ERR_CANCELLED, "reading " + spec.name + " was cancelled");
    }
    page.has_more = plan->peek() != nullptr;
    position = plan->position();
    // Without a cursor field there is no "changed since": once the end is reached the
    // position goes back to the start, so the next run reads the whole file again (the
    // host's ledger skips what did not change).
    if (!with_cursor && !page.has_more) position = ReadPosition{};
    page.next_cursor = encode_position(position, with_cursor);

    host_.debug("files: read " + spec.name + " from " + log.file() + ": " +
                std::to_string(page.records.size()) + " records (" + std::to_string(examined) +
                " examined) of " + std::to_string(plan->records()) +
                (page.has_more ? ", more to come" : ", the end"));
    return page;
}

std::vector<sdk::WriteResult> FilesConnector::write(const std::string& entity,
                                                    const std::vector<sdk::WriteItem>& items) {
    RecordLog& log = log_for(entity);
    WriteSession session(log);  // exclusive lock; the index is in step with the file
    BatchWriter batch(log);
    std::vector<sdk::WriteResult> results;
    results.reserve(items.size());
    for (const auto& item : items) {
        try {
            results.push_back(item.op == sdk::WriteOp::Create ? batch.create(item)
                                                              : batch.update(item));
        } catch (const Error& e) {
            // A problem of the file or the system fails the whole batch; one of the record
            // fails only that record.
            if (e.status() == PLEXUS_ERR_CONFIG || e.status() == PLEXUS_ERR_TRANSIENT ||
                e.status() == PLEXUS_ERR_CANCELLED)
                throw;
            results.push_back(sdk::WriteResult::failed(e.status(), e.what()));
        } catch (const std::exception& e) {
            results.push_back(sdk::WriteResult::failed(PLEXUS_ERR_PLUGIN, e.what()));
        }
    }
    batch.commit();  // one write and one fsync for the whole batch
    host_.debug("files: wrote " + std::to_string(batch.staged()) + " of " +
                std::to_string(items.size()) + " records to " + log.file() + " (fsync'ed)");
    return results;
}

sdk::LookupResult FilesConnector::lookup(const sdk::LookupRequest& request) {
    RecordLog& log = log_for(request.entity);
    const EntitySpec& spec = log.spec();
    sdk::LookupResult result;
    if (!log.refresh()) return result;  // no file yet: nothing was ever written

    std::optional<RecordLog::Found> found;
    if (request.key) {
        found = log.find(*request.key);
    } else {
        if (request.idempotency_key) found = log.find_by_idempotency_key(*request.idempotency_key);
        if (!found && request.data.is_object()) {
            auto it = request.data.find(spec.key_field);
            if (it != request.data.end())
                if (auto key = scalar_text(*it)) found = log.find(*key);
        }
    }
    if (!found) return result;
    result.found = true;
    result.record = sdk::Record{found->fields.key, found->fields.cursor,
                                log.format().decode(found->bytes, found->at.line)};
    return result;
}

}  // namespace plexus::files

PLEXUS_EXPORT_CONNECTOR(plexus::files::FilesConnector)
