#include "key_index.hpp"

#include <algorithm>
#include <functional>

namespace plexus::files {
namespace {

constexpr size_t kInitialBloomWords = (16 << 10) / 8;
constexpr int kProbes = 7;
constexpr uint64_t kBitsPerEntry = 10;
constexpr size_t kWindow = 4096 / sizeof(uint64_t) / 3;  // entries read per pread (~4 KiB)

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

}  // namespace

uint64_t hash_key(std::string_view text) { return mix(std::hash<std::string_view>{}(text)); }

KeyIndex::KeyIndex(size_t batch_entries) : batch_entries_(std::max<size_t>(batch_entries, 2)) {
    clear();
}

KeyIndex::~KeyIndex() = default;

void KeyIndex::clear() {
    batch_.clear();
    batch_.shrink_to_fit();
    slots_.clear();
    slots_.shrink_to_fit();
    runs_.clear();
    bloom_.assign(kInitialBloomWords, 0);
    count_ = 0;
}

// ---------------------------------------------------------------- the Bloom filter

bool KeyIndex::bloom_maybe(uint64_t hash) const {
    const uint64_t mask = bloom_.size() * 64 - 1;
    const uint64_t step = mix(hash) | 1;
    for (int i = 0; i < kProbes; ++i) {
        const uint64_t bit = (hash + i * step) & mask;
        if (!(bloom_[bit >> 6] & (uint64_t{1} << (bit & 63)))) return false;
    }
    return true;
}

void KeyIndex::bloom_set(uint64_t hash) {
    const uint64_t mask = bloom_.size() * 64 - 1;
    const uint64_t step = mix(hash) | 1;
    for (int i = 0; i < kProbes; ++i) {
        const uint64_t bit = (hash + i * step) & mask;
        bloom_[bit >> 6] |= uint64_t{1} << (bit & 63);
    }
}

void KeyIndex::grow_bloom() {
    bloom_.assign(bloom_.size() * 2, 0);
    for (const Entry& e : batch_) bloom_set(e.hash);
    for (const Run& run : runs_) {  // read each run through once
        std::vector<Entry> buf(4096);
        for (uint64_t at = 0; at < run.count; at += buf.size()) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), run.count - at));
            run.file->read_at(reinterpret_cast<char*>(buf.data()), n * sizeof(Entry),
                              at * sizeof(Entry));
            for (size_t i = 0; i < n; ++i) bloom_set(buf[i].hash);
        }
    }
}

// ---------------------------------------------------------------- adding

void KeyIndex::add(uint64_t hash, const Location& at) {
    if (slots_.empty()) slots_.assign(size_t{1} << (64 - __builtin_clzll(batch_entries_ * 2)), 0);
    batch_.push_back(Entry{hash, at.offset, at.length, at.line});
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i]) i = (i + 1) & mask;
    slots_[i] = static_cast<uint32_t>(batch_.size());
    ++count_;
    if (count_ > bloom_.size() * 64 / kBitsPerEntry && bloom_.size() * 8 < kMaxBloomBytes)
        grow_bloom();
    else
        bloom_set(hash);
    if (batch_.size() >= batch_entries_) spill();
}

void KeyIndex::spill() {
    std::sort(batch_.begin(), batch_.end(), [](const Entry& a, const Entry& b) {
        return a.hash != b.hash ? a.hash < b.hash : a.offset < b.offset;
    });
    Run run;
    run.file = std::make_unique<TempFile>();
    run.count = batch_.size();
    run.file->write_at(reinterpret_cast<const char*>(batch_.data()), batch_.size() * sizeof(Entry),
                       0);
    runs_.push_back(std::move(run));
    batch_.clear();
    std::fill(slots_.begin(), slots_.end(), 0);
    while (runs_.size() >= 2 && runs_[runs_.size() - 2].count <= runs_.back().count)
        merge_last_two();
}

void KeyIndex::merge_last_two() {
    Run& a = runs_[runs_.size() - 2];
    Run& b = runs_.back();
    Run merged;
    merged.file = std::make_unique<TempFile>();
    merged.count = a.count + b.count;
    static constexpr size_t kBuf = 2730;  // ~64 KiB of entries
    struct Source {
        const Run* run;
        std::vector<Entry> buf;
        size_t head = 0;
        uint64_t next = 0;  // the next entry of the run to read into buf
        bool fill() {
            if (head < buf.size()) return true;
            const size_t n = static_cast<size_t>(std::min<uint64_t>(kBuf, run->count - next));
            buf.resize(n);
            head = 0;
            if (!n) return false;
            run->file->read_at(reinterpret_cast<char*>(buf.data()), n * sizeof(Entry),
                               next * sizeof(Entry));
            next += n;
            return true;
        }
    } sa{&a, {}}, sb{&b, {}};
    std::vector<Entry> out;
    out.reserve(kBuf);
    uint64_t written = 0;
    auto flush = [&] {
        merged.file->write_at(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(Entry),
                              written * sizeof(Entry));
        written += out.size();
        out.clear();
    };
    for (;;) {
        const bool ha = sa.fill(), hb = sb.fill();
        if (!ha && !hb) break;
        Source* s = &sa;
        if (!ha) {
            s = &sb;
        } else if (hb) {
            const Entry& x = sa.buf[sa.head];
            const Entry& y = sb.buf[sb.head];
            if (y.hash < x.hash || (y.hash == x.hash && y.offset < x.offset)) s = &sb;
        }
        out.push_back(s->buf[s->head++]);
        if (out.size() == kBuf) flush();
    }
    flush();
    runs_.pop_back();
    runs_.back() = std::move(merged);
}

// ---------------------------------------------------------------- finding

void KeyIndex::search_run(const Run& run, uint64_t hash, std::vector<Location>& out) {
    // The first entry whose hash is >= `hash` lies in [lo, hi]. Start with a window around
    // where a uniform hash should be, then halve.
    uint64_t lo = 0, hi = run.count;
    auto read_window = [&](uint64_t from, uint64_t to) {
        window_.resize(static_cast<size_t>(to - from));
        run.file->read_at(reinterpret_cast<char*>(window_.data()), window_.size() * sizeof(Entry),
                          from * sizeof(Entry));
    };
    const auto guess = static_cast<uint64_t>(static_cast<long double>(hash) /
                                             18446744073709551616.0L * run.count);
    uint64_t center = std::min(guess, run.count ? run.count - 1 : 0);
    uint64_t first = run.count;
    while (lo < hi) {
        uint64_t from = center >= kWindow / 2 ? center - kWindow / 2 : 0;
        from = std::max(from, lo);
        const uint64_t to = std::min(from + kWindow, hi);
        if (to - from < kWindow && hi - lo >= kWindow) from = to - kWindow;
        read_window(from, to);
        if (from > lo && window_.front().hash >= hash) {
            hi = from;
        } else if (to < hi && window_.back().hash < hash) {
            lo = to;
        } else {
            auto it = std::lower_bound(window_.begin(), window_.end(), hash,
                                       [](const Entry& e, uint64_t h) { return e.hash < h; });
            first = from + static_cast<uint64_t>(it - window_.begin());
            break;
        }
        center = lo + (hi - lo) / 2;
        first = lo;  // when lo meets hi
    }
    // The entries with this hash, from `first` on (they may run past the window).
    for (uint64_t at = first; at < run.count;) {
        read_window(at, std::min(at + kWindow, run.count));
        size_t i = 0;
        for (; i < window_.size() && window_[i].hash == hash; ++i)
            out.push_back(Location{window_[i].offset, window_[i].length, window_[i].line});
        if (i < window_.size()) break;
        at += window_.size();
    }
}

void KeyIndex::find(uint64_t hash, std::vector<Location>& out) {
    out.clear();
    if (count_ == 0 || !bloom_maybe(hash)) return;
    if (!slots_.empty()) {
        const size_t mask = slots_.size() - 1;
        for (size_t i = hash & mask; slots_[i]; i = (i + 1) & mask) {
            const Entry& e = batch_[slots_[i] - 1];
            if (e.hash == hash) out.push_back(Location{e.offset, e.length, e.line});
        }
    }
    for (const Run& run : runs_) search_run(run, hash, out);
    std::sort(out.begin(), out.end(),
              [](const Location& a, const Location& b) { return a.offset > b.offset; });
}

}  // namespace plexus::files
