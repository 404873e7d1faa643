// One entity's file, seen as a log of records, with an index built once per instance.
//
// The file is log-structured: a create appends a record, and so does an update — the new
// version of the record goes to the end of the file, and the LAST occurrence of a key is the
// record's current version. Nothing is ever rewritten in place, so a crash can only leave an
// unfinished record at the very end of the file (a "torn tail"): readers ignore it, and the
// next writer cuts it off before appending.
//
// The index holds, for every record in the file (current and superseded), its byte offset,
// length, line, key, cursor value and a hash of its idempotency key — 28 bytes, the key and
// cursor text, and about 16 bytes of hash table per record, never the record's data. Data is
// read back by offset. Rows and text live in fixed-size blocks, so the index grows without
// the transient doubling of one large vector.
//
// Locks: writers hold an exclusive flock(2) on the file from the moment they bring the index
// in step with the file until their append is fsync'ed; readers hold a shared one while they
// index. So concurrent instances (other runs, other processes of the host) never see half a
// batch, and a writer always checks for conflicts against everything already in the file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entity_spec.hpp"
#include "record_format.hpp"

namespace plexus::files {

class RecordLog {
public:
    static constexpr uint32_t npos = 0xFFFFFFFFu;

    RecordLog(const EntitySpec& spec, const sdk::Host& host);
    ~RecordLog();
    RecordLog(const RecordLog&) = delete;
    RecordLog& operator=(const RecordLog&) = delete;

    const EntitySpec& spec() const { return spec_; }
    const std::string& file() const { return file_; }
    RecordFormat& format() { return *format_; }

    // Brings the index in step with the file (indexing only what was appended since the
    // last call). Returns false when the file does not exist. Throws Error(CONFIG) when it
    // cannot be opened, Error(VALIDATION) for a malformed record.
    bool refresh();

    // Records, by current version.
    size_t record_count() const { return current_count_; }
    // Current records in (cursor value, key) order, as row numbers. Rebuilt after a change.
    const std::vector<uint32_t>& read_order();
    std::string_view key(uint32_t row) const;
    std::string_view cursor(uint32_t row) const;
    uint32_t line(uint32_t row) const { return rows_[row].line; }

    // The current row of this key, or npos.
    uint32_t find(std::string_view key) const;
    // The current row of the record one of whose versions carries this idempotency key.
    uint32_t find_by_idempotency_key(std::string_view idempotency_key);
    // The idempotency key stored in a row ("" when none); reads the record.
    std::string idempotency_key(uint32_t row);

    // The stored bytes of `rows`, in the given order; neighbouring records are read together.
    void fetch(const uint32_t* rows, size_t count, std::vector<std::string>& out);
    // The data of one row (without the idempotency field).
    json read(uint32_t row);
    json decode(uint32_t row, std::string_view bytes) { return format_->decode(bytes, line(row)); }

    // ---- writing: begin_write(), append() any number of times, end_write() ----

    // Takes the exclusive lock, creates the file if needed (Error(CONFIG) naming the path
    // when its directory is missing), brings the index in step and cuts off a torn tail.
    void begin_write();
    void end_write() noexcept;
    bool has_records() const { return !rows_.empty(); }

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

private:
#pragma pack(push, 4)
    struct Row {
        uint64_t offset;  // where the record starts in the file
        uint32_t sized;   // its bytes, terminator included; the top bit: superseded (a later
                          // row has the same key)
        uint32_t line;    // the line it starts on (1-based)
        uint32_t text;    // in text_: the key's bytes, then the cursor value's
        uint16_t key_length;
        uint16_t cursor_length;
        uint32_t idempotency_hash;  // 0: no idempotency key

        static constexpr uint32_t kSuperseded = 0x80000000u;
        uint32_t length() const { return sized & ~kSuperseded; }
        bool superseded() const { return sized & kSuperseded; }
    };
#pragma pack(pop)
    static_assert(sizeof(Row) == 28);

    // Rows in blocks of 32768 (896 KiB each).
    class RowBlocks {
    public:
        Row& operator[](size_t i) { return blocks_[i >> kShift][i & kMask]; }
        const Row& operator[](size_t i) const { return blocks_[i >> kShift][i & kMask]; }
        size_t size() const { return size_; }
        bool empty() const { return size_ == 0; }
        void push_back(const Row& row) {
            if ((size_ & kMask) == 0) blocks_.emplace_back(new Row[kMask + 1]);
            (*this)[size_++] = row;
        }
        void clear() {
            blocks_.clear();
            size_ = 0;
        }

    private:
        static constexpr size_t kShift = 15, kMask = (size_t{1} << kShift) - 1;
        std::vector<std::unique_ptr<Row[]>> blocks_;
        size_t size_ = 0;
    };

    // Keys and cursor values in 1 MiB blocks; a key and its cursor value never straddle two.
    class TextBlocks {
    public:
        // Stores `a` then `b`; returns where.
        uint32_t add(std::string_view a, std::string_view b) {
            const size_t n = a.size() + b.size();
            if (blocks_.empty() || used_ + n > kBlock) {
                blocks_.emplace_back(new char[kBlock]);
                used_ = 0;
            }
            char* p = blocks_.back().get() + used_;
            std::copy(a.begin(), a.end(), p);
            std::copy(b.begin(), b.end(), p + a.size());
            const uint64_t at = (uint64_t{blocks_.size() - 1} << kShift) | used_;
            used_ += n;
            return static_cast<uint32_t>(at);
        }
        std::string_view view(uint32_t at, size_t length) const {
            return {blocks_[at >> kShift].get() + (at & (kBlock - 1)), length};
        }
        // Offsets are 32 bits: at most 4096 blocks.
        bool full() const { return blocks_.size() >= (size_t{1} << (32 - kShift)); }
        void clear() {
            blocks_.clear();
            used_ = 0;
        }

    private:
        static constexpr size_t kShift = 20, kBlock = size_t{1} << kShift;
        std::vector<std::unique_ptr<char[]>> blocks_;
        size_t used_ = 0;
    };

    struct Slot {
        uint32_t row_plus_one = 0;  // 0: empty
        uint32_t hash = 0;
    };

    bool open_file(bool for_write);
    void close_file() noexcept;
    void lock(int operation);
    void unlock() noexcept;
    void sync_with_file();
    void reset_index();
    void scan_to(uint64_t size);
    void add_row(uint64_t offset, size_t length, uint32_t line, const KeyFields& kf);
    void pread_exact(char* out, size_t size, uint64_t offset);
    void put_key(std::string_view key, uint32_t row);
    void grow_slots();
    static uint32_t hash_text(std::string_view s);

    const EntitySpec& spec_;
    const sdk::Host& host_;
    std::string file_;
    std::unique_ptr<RecordFormat> format_;

    int fd_ = -1;
    bool writable_ = false;
    bool created_ = false;  // this instance created the file: fsync the directory once
    bool locked_ = false;
    uint64_t device_ = 0, inode_ = 0;  // identity of the file the index describes

    uint64_t indexed_end_ = 0;  // the index covers [0, indexed_end_): whole records only
    uint32_t line_at_end_ = 1;  // the line number at indexed_end_
    uint64_t file_size_ = 0;    // as last seen; beyond indexed_end_ lies a torn tail
    uint64_t warned_torn_at_ = UINT64_MAX;

    RowBlocks rows_;
    TextBlocks text_;
    std::vector<Slot> slots_;  // open addressing: key → current row
    size_t slots_used_ = 0;
    size_t current_count_ = 0;

    std::vector<uint32_t> order_;
    bool order_valid_ = false;
    std::vector<std::pair<uint32_t, uint32_t>> by_idempotency_;  // (hash, row), sorted
    bool by_idempotency_valid_ = false;
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

}  // namespace plexus::files
