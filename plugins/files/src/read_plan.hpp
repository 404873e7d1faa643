// Serving an entity's current records in (cursor value, key) order, with memory bounded
// independently of the file's size.
//
// build() takes a snapshot of the file (its complete records when the instance first reads)
// in one streaming pass, under a shared lock, that:
//  - checks whether the records already come in strictly increasing (cursor value, key)
//    order — exports and append-only logs usually do — keeping only the previous pair;
//  - feeds (key hash, key, offset) of every record to an external sort (external_sort.hpp),
//    whose merge finds the superseded versions (all but the last occurrence of a key); their
//    offsets are sorted too, and skipped while serving. Usually there are none;
//  - writes the read-order entries (below) of the records as they come while the order
//    holds, so that when it breaks the prefix before the break is a sorted run already
//    (neither sorted nor scanned again).
// Then:
//  - ordered file (the streaming path): pages are read by scanning the file from a byte
//    offset, kept in the plan between pages, so a run reads the file once. build() notes,
//    for the position it was built for (the stored cursor of a new instance), the offset of
//    the first record after it, so a new instance does not scan again to find its place.
//  - unordered file: (cursor, key, offset, length, line) of every current record goes
//    through a second external sort, whose runs are merged lazily as pages are requested;
//    records are then read by offset, neighbours together.
// A position that is not where the last page ended (a rewind, `since`) restarts the scan or
// the merge from the start and skips up to it: once per instance in practice.
//
// Memory: one sort chunk (sort_chunk_entries(), 65,536 entries of key, cursor and 16 bytes)
// and a 64 KiB buffer per merged run, at most 16 runs — whatever the file's size. Temp files
// go to the system temp directory and are unlinked at once (see external_sort.hpp).
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "external_sort.hpp"
#include "read_position.hpp"
#include "record_log.hpp"

namespace plexus::files {

class ReadPlan {
public:
    // A record to hand out: its key, cursor value, line and stored bytes.
    struct Item {
        std::string key;
        std::string cursor;
        uint32_t line = 0;
        std::string bytes;
    };

    explicit ReadPlan(RecordLog& log);
    ~ReadPlan();

    // Takes the snapshot; `start` is the position the first page will be read from.
    // Returns false when the file does not exist.
    bool build(const ReadPosition& start);
    // The generation of the log the snapshot was taken at (see RecordLog::generation()).
    uint64_t generation() const { return generation_; }

    // Makes the next records those after `position`.
    void seek(const ReadPosition& position);
    // The next record, or nullptr at the end; pop() moves past it.
    Item* peek();
    void pop();
    // Where serving stands: after this (cursor value, key).
    const ReadPosition& position() const { return at_; }

    RecordFormat& format() { return *format_; }
    uint64_t records() const { return current_records_; }
    bool ordered() const { return ordered_; }

private:
    void restart();
    void refill();
    void refill_ordered();
    void refill_sorted();
    bool superseded(uint64_t offset);  // consumes the superseded offsets up to `offset`
    void sort_by_cursor(uint64_t from, uint32_t line, uint64_t to, bool filter);

    RecordLog& log_;
    std::unique_ptr<RecordFormat> format_;  // the plan's own: its CSV header is the file's
    uint64_t generation_ = 0;

    // The snapshot.
    uint64_t first_record_ = 0;  // offset and line of the first record (after a CSV header)
    uint32_t first_line_ = 1;
    uint64_t end_ = 0;  // complete records end here
    bool ordered_ = true;
    uint64_t current_records_ = 0;
    std::unique_ptr<ExternalSorter> superseded_;  // u64 offsets, big-endian
    std::unique_ptr<ExternalSorter> by_cursor_;   // unordered files only

    // Where serving stands: the queue holds the next records, all after `at_`.
    ReadPosition at_;
    std::deque<Item> queue_;
    bool exhausted_ = false;  // nothing after the queue
    // Ordered path: the file offset and line after the last record queued.
    uint64_t scan_offset_ = 0;
    uint32_t scan_line_ = 1;
    // Unordered path: the merge.
    std::unique_ptr<ExternalSorter::Reader> merge_;
    // The superseded offsets, read alongside (ordered path and sort_by_cursor).
    std::unique_ptr<ExternalSorter::Reader> superseded_reader_;
    uint64_t next_superseded_ = UINT64_MAX;
    bool superseded_primed_ = false;  // next_superseded_ is read
    // seek(): records up to this position are skipped as they come.
    ReadPosition skip_;
    bool skipping_ = false;

    // From build(): where the first record after the start position is (ordered path).
    uint64_t resume_offset_ = 0;
    uint32_t resume_line_ = 1;
};

}  // namespace plexus::files
