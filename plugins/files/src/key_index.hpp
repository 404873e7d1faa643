// A map from 64-bit hashes (of keys, or of idempotency keys) to where records sit in the file,
// with memory bounded independently of the number of records.
//
// Layout (log-structured, like the data file it indexes):
//  - a batch in memory: the newest entries, at most sort_chunk_entries() (65,536: 1.5 MiB
//    plus a 0.5 MiB hash table);
//  - sorted runs in temp files (external_sort.hpp): when the batch is full it is sorted by
//    (hash, offset) and written out as a run of fixed 24-byte entries; two runs are merged
//    whenever the older is not larger than the newer, so there are at most log2(N / batch)
//    runs. A run is searched with a few pread(2)s (interpolation search: hashes are uniform);
//  - a Bloom filter over every hash (10 bits and 7 probes per entry, about 1% false
//    positives), so that a hash that is not there — every create of a new key — costs no I/O.
//    It starts at 16 KiB and doubles (rebuilt from the runs) as entries are added, up to
//    kMaxBloomBytes (4 MiB, enough for 3.3M entries at 1%); past that it stops growing and
//    false positives, which cost a run search each, become more frequent.
//
// Hashes are not unique: the index yields candidate locations and the caller checks each by
// reading the record (a lookup reads the record anyway). Entries are never removed: a key's
// newest entry (highest offset) is its current version.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "external_sort.hpp"

namespace plexus::files {

// Where a record sits in its file.
struct Location {
    uint64_t offset = 0;  // its first byte
    uint32_t length = 0;  // its bytes, terminator included
    uint32_t line = 0;    // the line it starts on (1-based)
};

uint64_t hash_key(std::string_view text);

class KeyIndex {
public:
    static constexpr size_t kMaxBloomBytes = 4 << 20;

    explicit KeyIndex(size_t batch_entries = sort_chunk_entries());
    ~KeyIndex();

    // Entries must be added in increasing offset order.
    void add(uint64_t hash, const Location& at);
    // The locations of the entries with this hash, newest first (usually none or one).
    void find(uint64_t hash, std::vector<Location>& out);
    void clear();
    uint64_t size() const { return count_; }
    size_t runs() const { return runs_.size(); }

private:
    struct Entry {
        uint64_t hash;
        uint64_t offset;
        uint32_t length;
        uint32_t line;
    };
    static_assert(sizeof(Entry) == 24);
    struct Run {
        std::unique_ptr<TempFile> file;  // Entry[count], sorted by (hash, offset)
        uint64_t count = 0;
    };

    void spill();
    void merge_last_two();
    void search_run(const Run& run, uint64_t hash, std::vector<Location>& out);
    bool bloom_maybe(uint64_t hash) const;
    void bloom_set(uint64_t hash);
    void grow_bloom();

    size_t batch_entries_;
    std::vector<Entry> batch_;
    std::vector<uint32_t> slots_;  // open addressing over batch_: index + 1, 0 = empty
    std::vector<Run> runs_;
    std::vector<uint64_t> bloom_;  // a power of two of bits
    uint64_t count_ = 0;
    std::vector<Entry> window_;  // scratch for run searches
};

}  // namespace plexus::files
