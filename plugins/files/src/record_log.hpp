// One entity's file, seen as a log of records.
//
// The file is log-structured: a create appends a record, and so does an update — the new
// version of the record goes to the end of the file, and the LAST occurrence of a key is the
// record's current version. Nothing is ever rewritten in place, so a crash can only leave an
// unfinished record at the very end of the file (a "torn tail"): readers ignore it, and the
// next writer cuts it off before appending.
//
// Writers and lookups need "where is the current version of key K": a KeyIndex (key_index.hpp)
// from key hashes to locations, built by the first write or lookup of the instance and kept
// in step with what is appended, with memory bounded independently of the file's size. The
// index holds no keys: every hit is checked by reading the record. Lookups by idempotency
// key use a second KeyIndex, built on the first such lookup. Reads in (cursor, key) order
// are served by a ReadPlan (read_plan.hpp), which scans the file through scan() below.
//
// Locks: writers hold an exclusive flock(2) on the file from the moment they bring the index
// in step with the file until their append is fsync'ed; readers hold a shared one while they
// index. So concurrent instances (other runs, other processes of the host) never see half a
// batch, and a writer always checks for conflicts against everything already in the file.
#pragma once

#include <sys/file.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entity_spec.hpp"
#include "key_index.hpp"
#include "record_format.hpp"

namespace plexus::files {

class RecordLog {
public:
    RecordLog(const EntitySpec& spec, const sdk::Host& host);
    ~RecordLog();
    RecordLog(const RecordLog&) = delete;
    RecordLog& operator=(const RecordLog&) = delete;

    const EntitySpec& spec() const { return spec_; }
    const std::string& file() const { return file_; }
    const sdk::Host& host() const { return host_; }
    RecordFormat& format() { return *format_; }

    // Brings the key index in step with the file (indexing only what was appended since the
    // last call). Returns false when the file does not exist. Throws Error(CONFIG) when it
    // cannot be opened, Error(VALIDATION) for a malformed record.
    bool refresh();

    // A record found by a lookup: where it is, its bytes and its key fields.
    struct Found {
        Location at;
        std::string bytes;
        KeyFields fields;
    };
    // The current version of this key. Needs refresh() or begin_write() first.
    std::optional<Found> find(std::string_view key);
    // The current version of the record one of whose versions carries this idempotency key.
    std::optional<Found> find_by_idempotency_key(std::string_view idempotency_key);

    // ---- scanning, for the ReadPlan ----

    // Opens the file for reading if it is not open. False when it does not exist.
    bool open_for_reading();
    void lock_shared() { lock(LOCK_SH); }
    void unlock() noexcept;
    // The size of the open file now.
    uint64_t current_size();
    // Bumped by every append: a reader's snapshot of the file is then out of date.
    uint64_t generation() const { return generation_; }

    struct ScanEnd {
        uint64_t offset;  // after the last record (or skipped line) taken
        uint32_t line;    // the line there
        bool torn;        // stopped at an unfinished record at the end of [from, to)
    };
    // Reads the records in [from, to) of the open file, which begins at line `line` and at a
    // record boundary, with `format` (whose header state must match `from`), calling
    // on_record(const Location&, const KeyFields&, std::string_view bytes) for each; it
    // returns false to stop after that record. `chunk`: bytes read at a time.
    template <class F>
    ScanEnd scan(RecordFormat& format, uint64_t from, uint32_t line, uint64_t to, size_t chunk,
                 F&& on_record);

    // The stored bytes of records at these locations, in the given order; neighbouring
    // records are read together.
    void fetch(const Location* at, size_t count, std::vector<std::string>& out);

    // ---- writing: begin_write(), append() any number of times, end_write() ----

    // Takes the exclusive lock, creates the file if needed (Error(CONFIG) naming the path
    // when its directory is missing), brings the index in step and cuts off a torn tail.
    void begin_write();
    void end_write() noexcept;
    bool has_records() const { return record_count_ > 0; }

    struct NewRecord {
        std::string key;
        std::string cursor;
        std::string idempotency_key;
        size_t offset = 0;  // within the appended bytes
        size_t length = 0;
    };
    // Appends `bytes` (whole records, `records` among them) at the end of the file, or in
    // place of its content when `restart` (the file then holds no records: a CSV header is
    // being rewritten), fsyncs, and indexes the records. Durable when it returns.
    // Throws Error(TRANSIENT) when the write or the fsync fails; the file is then cut back.
    void append(std::string_view bytes, const std::vector<NewRecord>& records, bool restart);

    void pread_exact(char* out, size_t size, uint64_t offset);

private:
    bool open_file(bool for_write);
    void close_file() noexcept;
    void lock(int operation);
    void sync_with_file();
    void reset_index();
    void add_record(const Location& at, const KeyFields& kf);
    void check_limits(size_t length, uint32_t line, const KeyFields& kf) const;

    const EntitySpec& spec_;
    const sdk::Host& host_;
    std::string file_;
    std::unique_ptr<RecordFormat> format_;  // the writers' and lookups' (its CSV header state
                                            // follows indexed_end_)

    int fd_ = -1;
    bool writable_ = false;
    bool created_ = false;  // this instance created the file: fsync the directory once
    bool locked_ = false;
    uint64_t device_ = 0, inode_ = 0;  // identity of the file the index describes

    uint64_t indexed_end_ = 0;  // the index covers [0, indexed_end_): whole records only
    uint32_t line_at_end_ = 1;  // the line number at indexed_end_
    uint64_t file_size_ = 0;    // as last seen; beyond indexed_end_ lies a torn tail
    uint64_t warned_torn_at_ = UINT64_MAX;
    uint64_t record_count_ = 0;  // records (all versions) in [0, indexed_end_)
    uint64_t generation_ = 0;

    KeyIndex keys_;                    // hash of the key → location, every version
    std::unique_ptr<KeyIndex> by_idempotency_;  // hash of the idempotency key → location;
                                                // made by the first lookup that needs it
    std::vector<Location> candidates_;
    std::string read_buffer_;
};

// Holds a RecordLog's write lock for a scope.
class WriteSession {
public:
    explicit WriteSession(RecordLog& log) : log_(log) { log_.begin_write(); }
    ~WriteSession() { log_.end_write(); }
    WriteSession(const WriteSession&) = delete;
    WriteSession& operator=(const WriteSession&) = delete;

private:
    RecordLog& log_;
};

// ---------------------------------------------------------------- RecordLog::scan

template <class F>
RecordLog::ScanEnd RecordLog::scan(RecordFormat& format, uint64_t from, uint32_t line,
                                   uint64_t to, size_t chunk, F&& on_record) {
    std::string buf;
    size_t head = 0;  // buf[head] is at file offset buf_offset + head
    uint64_t buf_offset = from;
    uint64_t at = from;
    KeyFields kf;
    size_t until_cancel_check = 65536;

    auto fill = [&] {
        if (head) {
            buf.erase(0, head);
            buf_offset += head;
            head = 0;
        }
        const uint64_t end = buf_offset + buf.size();
        const size_t want =
            static_cast<size_t>(std::min<uint64_t>(std::max(chunk, buf.size()), to - end));
        const size_t old = buf.size();
        buf.resize(old + want);
        pread_exact(buf.data() + old, want, end);
    };

    for (;;) {
        const std::string_view view(buf.data() + head, buf.size() - head);
        const bool at_eof = buf_offset + buf.size() >= to;
        if (view.empty()) {
            if (at_eof) return {at, line, false};
            fill();
            continue;
        }
        const ScanResult r = format.scan(view, at_eof, line, kf);
        if (r.status == ScanStatus::incomplete && !at_eof) {
            fill();
            continue;
        }
        if (r.status == ScanStatus::torn || r.status == ScanStatus::incomplete)
            return {at, line, true};
        bool go_on = true;
        if (r.status == ScanStatus::record) {
            check_limits(r.length, line, kf);
            const Location loc{at, static_cast<uint32_t>(r.length), line};
            go_on = on_record(loc, static_cast<const KeyFields&>(kf), view.substr(0, r.length));
        }
        line += static_cast<uint32_t>(std::count(view.begin(), view.begin() + r.length, '\n'));
        at += r.length;
        head += r.length;
        if (!go_on) return {at, line, false};
        if (--until_cancel_check == 0) {
            until_cancel_check = 65536;
            if (host_.cancelled())
                throw sdk::Error(PLEXUS_ERR_CANCELLED, "reading " + file_ + " was cancelled");
        }
    }
}

}  // namespace plexus::files
