#include "read_plan.hpp"

#include <cstring>

#include "key_index.hpp"

namespace plexus::files {
namespace {

constexpr size_t kServeChunk = 64 << 10;  // bytes read at a time while serving pages
constexpr size_t kBuildChunk = 1 << 20;   // … and while taking the snapshot
constexpr size_t kBatch = 512;            // records queued at a time
// While a file is in order, its read-order entries go to a temp file as they come, in case
// the order breaks later (then they need no sort and no second scan). Beyond this many
// (4,194,304 with the default chunk), an ordered prefix is scanned again instead, should the
// order break: a long ordered file does not fill the temp directory for nothing.
uint64_t max_in_order_entries() { return 64 * static_cast<uint64_t>(sort_chunk_entries()); }

// Is `p` before (cursor, key)?
bool before(const ReadPosition& p, std::string_view cursor, std::string_view key) {
    if (p.cursor != cursor) return std::string_view(p.cursor) < cursor;
    return std::string_view(p.key) < key;
}

// Entries of the duplicate search: the key's hash (u64), the key's bytes, then the record's
// offset (u64), integers big-endian. Ordered by hash, key, offset: a key's versions come
// together, oldest first. The hash first makes nearly every comparison one of two integers
// (keys often share long prefixes); it is only a sort order, never taken for the key.
void key_entry(std::string& out, std::string_view key, uint64_t offset) {
    out.clear();
    put_u64(out, hash_key(key));
    out.append(key);
    put_u64(out, offset);
}
std::string_view key_of_entry(std::string_view e) { return e.substr(8, e.size() - 16); }
bool key_entry_less(std::string_view a, std::string_view b) {
    const uint64_t ha = get_be(a.data(), 8), hb = get_be(b.data(), 8);
    if (ha != hb) return ha < hb;
    const int c = key_of_entry(a).compare(key_of_entry(b));
    if (c != 0) return c < 0;
    return std::memcmp(a.data() + a.size() - 8, b.data() + b.size() - 8, 8) < 0;
}

// Entries of the read order of an unordered file:
//   u16 cursor length, cursor, u16 key length, key, u64 offset, u32 length, u32 line
// (integers big-endian), ordered by (cursor, key, offset).
void cursor_entry(std::string& out, const KeyFields& kf, const Location& at) {
    out.clear();
    put_u16(out, static_cast<uint16_t>(kf.cursor.size()));
    out.append(kf.cursor);
    put_u16(out, static_cast<uint16_t>(kf.key.size()));
    out.append(kf.key);
    put_u64(out, at.offset);
    put_u32(out, at.length);
    put_u32(out, at.line);
}
struct CursorEntry {
    std::string_view cursor, key;
    Location at;
};
CursorEntry parse_cursor_entry(std::string_view e) {
    CursorEntry r;
    const auto cl = static_cast<size_t>(get_be(e.data(), 2));
    r.cursor = e.substr(2, cl);
    const auto kl = static_cast<size_t>(get_be(e.data() + 2 + cl, 2));
    r.key = e.substr(4 + cl, kl);
    const char* p = e.data() + 4 + cl + kl;
    r.at = Location{get_be(p, 8), static_cast<uint32_t>(get_be(p + 8, 4)),
                    static_cast<uint32_t>(get_be(p + 12, 4))};
    return r;
}
bool cursor_entry_less(std::string_view a, std::string_view b) {
    // Called O(n log n) times: compare the fields in place.
    const auto ac = static_cast<size_t>(get_be(a.data(), 2));
    const auto bc = static_cast<size_t>(get_be(b.data(), 2));
    if (const int c = a.substr(2, ac).compare(b.substr(2, bc)); c != 0) return c < 0;
    const auto ak = static_cast<size_t>(get_be(a.data() + 2 + ac, 2));
    const auto bk = static_cast<size_t>(get_be(b.data() + 2 + bc, 2));
    if (const int c = a.substr(4 + ac, ak).compare(b.substr(4 + bc, bk)); c != 0) return c < 0;
    return std::memcmp(a.data() + 4 + ac + ak, b.data() + 4 + bc + bk, 8) < 0;  // the offset
}

bool bytes_less(std::string_view a, std::string_view b) { return a < b; }

}  // namespace

ReadPlan::ReadPlan(RecordLog& log) : log_(log) {}
ReadPlan::~ReadPlan() = default;

bool ReadPlan::build(const ReadPosition& start) {
    if (!log_.open_for_reading()) return false;
    format_ = RecordFormat::make(log_.spec());
    generation_ = log_.generation();
    ordered_ = true;
    queue_.clear();
    merge_.reset();
    superseded_reader_.reset();

    ExternalSorter versions(key_entry_less);
    by_cursor_ = std::make_unique<ExternalSorter>(cursor_entry_less);
    std::string prev_cursor, prev_key, entry;
    bool any = false, resume_found = false;
    // The ordered prefix whose read-order entries went in as they came: [first record,
    // in_order_end), all of it unless capped.
    const uint64_t max_in_order = max_in_order_entries();
    uint64_t in_order = 0;
    bool in_order_capped = false;
    uint64_t in_order_end = 0;
    uint32_t in_order_end_line = 0;
    uint64_t break_offset = 0;  // where the order broke
    uint32_t break_line = 0;
    uint64_t size = 0;
    RecordLog::ScanEnd end{};

    // The streaming pass, under a shared lock: writers never leave half a batch in it.
    log_.lock_shared();
    try {
        size = log_.current_size();
        end = log_.scan(*format_, 0, 1, size, kBuildChunk,
                        [&](const Location& at, const KeyFields& kf, std::string_view) {
                            if (!any) {
                                first_record_ = at.offset;
                                first_line_ = at.line;
                            }
                            key_entry(entry, kf.key, at.offset);
                            versions.add(entry);
                            if (ordered_) {
                                if (any && !(prev_cursor < kf.cursor ||
                                             (prev_cursor == kf.cursor && prev_key < kf.key))) {
                                    ordered_ = false;
                                    break_offset = at.offset;
                                    break_line = at.line;
                                } else {
                                    prev_cursor = kf.cursor;
                                    prev_key = kf.key;
                                    if (!resume_found && before(start, kf.cursor, kf.key)) {
                                        resume_found = true;
                                        resume_offset_ = at.offset;
                                        resume_line_ = at.line;
                                    }
                                    if (in_order < max_in_order) {
                                        cursor_entry(entry, kf, at);
                                        by_cursor_->add_in_order(entry);
                                        ++in_order;
                                    } else if (!in_order_capped) {
                                        in_order_capped = true;
                                        in_order_end = at.offset;
                                        in_order_end_line = at.line;
                                    }
                                }
                            }
                            if (!ordered_) {  // from the break on; the rest comes later
                                cursor_entry(entry, kf, at);
                                by_cursor_->add(entry);
                            }
                            any = true;
                            return true;
                        });
    } catch (...) {
        log_.unlock();
        throw;
    }
    log_.unlock();
    end_ = end.offset;
    if (!any) {
        first_record_ = end_;
        first_line_ = end.line;
    }
    if (!resume_found) {
        resume_offset_ = end_;
        resume_line_ = end.line;
    }
    if (size > end_)
        log_.host().warn("files: ignoring " + std::to_string(size - end_) + " bytes at the end of " +
                         log_.file() + " (line " + std::to_string(end.line) +
                         "): an unfinished record left by an interrupted write; the next write "
                         "to the file removes it");

    // Superseded versions: all but the last of each key's, by offset.
    versions.finish();
    superseded_ = std::make_unique<ExternalSorter>(bytes_less);
    {
        auto reader = versions.reader();
        std::string_view e;
        std::string prev;
        bool have = false;
        while (reader->next(e)) {
            if (have && key_of_entry(e) == key_of_entry(prev))
                superseded_->add(std::string_view(prev).substr(prev.size() - 8));
            prev.assign(e);
            have = true;
        }
    }
    superseded_->finish();
    current_records_ = versions.size() - superseded_->size();

    if (ordered_) {
        by_cursor_.reset();
    } else {
        if (superseded_->size() == 0) {
            // The records before the break are in already, as the first run — but for those
            // past the cap, which are read again.
            if (in_order_capped) sort_by_cursor(in_order_end, in_order_end_line, break_offset, false);
        } else {
            // Start over, leaving out the superseded versions.
            by_cursor_ = std::make_unique<ExternalSorter>(cursor_entry_less);
            sort_by_cursor(first_record_, first_line_, end_, true);
        }
        by_cursor_->finish();
    }
    (void)break_line;

    log_.host().debug("files: read plan for " + log_.file() + ": " +
                      std::to_string(current_records_) + " current records, " +
                      std::to_string(superseded_->size()) + " superseded, " +
                      (ordered_ ? std::string("in (cursor, key) order: streaming")
                                : "not in (cursor, key) order: sorted in " +
                                      std::to_string(by_cursor_->runs()) + " on-disk runs"));

    // Serve from `start`.
    restart();
    if (ordered_) {
        scan_offset_ = resume_offset_;
        scan_line_ = resume_line_;
        at_ = start;
    } else {
        seek(start);
    }
    return true;
}

void ReadPlan::sort_by_cursor(uint64_t from, uint32_t line, uint64_t to, bool filter) {
    if (filter) {
        superseded_reader_ = superseded_->reader();
        superseded_primed_ = false;
    }
    std::string entry;
    log_.scan(*format_, from, line, to, kBuildChunk,
              [&](const Location& at, const KeyFields& kf, std::string_view) {
                  if (filter && superseded(at.offset)) return true;
                  cursor_entry(entry, kf, at);
                  by_cursor_->add(entry);
                  return true;
              });
}

bool ReadPlan::superseded(uint64_t offset) {
    // The reader yields the superseded offsets in increasing order; records are asked about
    // in increasing offset order too.
    while (!superseded_primed_ || next_superseded_ < offset) {
        std::string_view e;
        next_superseded_ = superseded_reader_->next(e) ? get_be(e.data(), 8) : UINT64_MAX;
        superseded_primed_ = true;
    }
    return next_superseded_ == offset;
}

void ReadPlan::restart() {
    queue_.clear();
    exhausted_ = false;
    skipping_ = false;
    at_ = ReadPosition{};
    if (ordered_) {
        scan_offset_ = first_record_;
        scan_line_ = first_line_;
        superseded_reader_ = superseded_->reader();
        superseded_primed_ = false;
    } else {
        merge_ = by_cursor_->reader();
    }
}

void ReadPlan::seek(const ReadPosition& position) {
    if (position.cursor == at_.cursor && position.key == at_.key) return;
    restart();
    skip_ = position;
    skipping_ = true;
    at_ = position;
}

ReadPlan::Item* ReadPlan::peek() {
    if (queue_.empty() && !exhausted_) {
        if (ordered_)
            refill_ordered();
        else
            refill_sorted();
    }
    return queue_.empty() ? nullptr : &queue_.front();
}

void ReadPlan::pop() {
    at_.cursor = std::move(queue_.front().cursor);
    at_.key = std::move(queue_.front().key);
    queue_.pop_front();
}

void ReadPlan::refill_ordered() {
    size_t n = 0;
    const RecordLog::ScanEnd e = log_.scan(
        *format_, scan_offset_, scan_line_, end_, kServeChunk,
        [&](const Location& at, const KeyFields& kf, std::string_view bytes) {
            if (superseded(at.offset)) return true;
            if (skipping_) {
                if (!before(skip_, kf.cursor, kf.key)) return true;
                skipping_ = false;
            }
            queue_.push_back(Item{kf.key, kf.cursor, at.line, std::string(bytes)});
            return ++n < kBatch;
        });
    scan_offset_ = e.offset;
    scan_line_ = e.line;
    if (scan_offset_ >= end_ || e.torn) exhausted_ = true;
}

void ReadPlan::refill_sorted() {
    std::vector<Location> at;
    std::string_view e;
    while (at.size() < kBatch) {
        if (!merge_->next(e)) {
            exhausted_ = true;
            break;
        }
        const CursorEntry c = parse_cursor_entry(e);
        if (skipping_) {
            if (!before(skip_, c.cursor, c.key)) continue;
            skipping_ = false;
        }
        queue_.push_back(Item{std::string(c.key), std::string(c.cursor), c.at.line, {}});
        at.push_back(c.at);
    }
    std::vector<std::string> bytes;
    log_.fetch(at.data(), at.size(), bytes);
    for (size_t i = 0; i < at.size(); ++i)
        queue_[queue_.size() - at.size() + i].bytes = std::move(bytes[i]);
}

}  // namespace plexus::files
