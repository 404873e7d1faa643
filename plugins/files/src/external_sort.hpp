// Bounded-memory building blocks for the files connector's indexes: anonymous temp files and
// an external merge sort of byte-string entries.
//
// Temp files are created in the system temp directory (std::filesystem::temp_directory_path(),
// i.e. $TMPDIR or /tmp) and unlinked at once: only the open descriptor keeps them, so they
// vanish when the instance is destroyed — and when the process dies, even by SIGKILL. Nothing
// is ever left behind next to the data files.
//
// Memory: an ExternalSorter holds at most one chunk of entries (sort_chunk_entries(), 65,536
// by default) plus, while merging, a 64 KiB buffer for each of at most kMaxRuns runs —
// independent of how many entries are sorted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::files {

// Entries per in-memory chunk of a sort (and per in-memory batch of a KeyIndex). 65,536 by
// default; the environment variable PLEXUS_FILES_SORT_CHUNK (a number ≥ 2) overrides it —
// tests use it to make small files take the on-disk paths.
size_t sort_chunk_entries();

// An unlinked temp file, read and written at offsets. Throws Error(TRANSIENT) on I/O errors.
class TempFile {
public:
    TempFile();
    ~TempFile();
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    void write_at(const char* data, size_t size, uint64_t offset);
    // Reads up to `size` bytes; returns how many (fewer only at the end of the file).
    size_t read_at(char* out, size_t size, uint64_t offset) const;

private:
    int fd_ = -1;
};

// Appends to a TempFile through a buffer.
class TempWriter {
public:
    explicit TempWriter(TempFile& file) : file_(file) { buffer_.reserve(kBuffer); }
    void put(std::string_view bytes);
    void put_entry(std::string_view entry);  // a u32 length, then the bytes
    // Writes what is buffered; returns the bytes written in all.
    uint64_t flush();

private:
    static constexpr size_t kBuffer = 1 << 20;
    TempFile& file_;
    std::string buffer_;
    uint64_t written_ = 0;
};

// Reads length-prefixed entries back from [begin, end) of a TempFile.
class TempReader {
public:
    TempReader(const TempFile& file, uint64_t begin, uint64_t end)
        : file_(&file), pos_(begin), end_(end) {}
    // The next entry, valid until the next call; false at the end.
    bool next(std::string_view& entry);

private:
    static constexpr size_t kBuffer = 64 << 10;
    const TempFile* file_;
    uint64_t pos_, end_;  // the file's unread range
    std::string buffer_;
    size_t head_ = 0;
};

// Sorts entries (byte strings, each at most 4 GiB) by `less`, spilling sorted runs of at most
// one chunk to a temp file. Add everything, call finish(), then read in order, as many times
// as wanted, with reader(). Stable order is not promised: make entries unique (e.g. end them
// with a file offset).
class ExternalSorter {
public:
    using Less = bool (*)(std::string_view, std::string_view);
    static constexpr size_t kMaxRuns = 16;  // more are merged into one first

    explicit ExternalSorter(Less less, size_t chunk_entries = sort_chunk_entries());
    ~ExternalSorter();

    void add(std::string_view entry);
    // Adds an entry known to be in order after the previous add_in_order() ones, before any
    // add(): such entries are written out as they come, as the first run, without being
    // sorted (a file whose prefix is already in order costs no sort for that prefix).
    void add_in_order(std::string_view entry);
    void finish();
    uint64_t size() const { return count_; }
    size_t runs() const { return runs_.size(); }

    class Reader {
    public:
        virtual ~Reader() = default;
        // The next entry in order, valid until the next call; false at the end.
        virtual bool next(std::string_view& entry) = 0;
    };
    std::unique_ptr<Reader> reader() const;

private:
    class Merge;
    void spill();
    void merge_runs();
    void sort_chunk();
    void end_in_order();

    Less less_;
    size_t chunk_entries_;
    std::string arena_;                                 // the chunk's bytes
    std::vector<std::pair<uint32_t, uint32_t>> chunk_;  // (offset, length) in arena_
    std::unique_ptr<TempFile> file_;                    // all runs, one after the other
    uint64_t file_end_ = 0;
    std::vector<std::pair<uint64_t, uint64_t>> runs_;  // [begin, end) in file_
    uint64_t count_ = 0;
    bool finished_ = false;
    std::unique_ptr<TempWriter> in_order_;  // the first run while add_in_order() writes it
    bool in_order_ended_ = false;
};

// Big-endian fixed-width integers, so that memcmp order is numeric order.
inline void put_u64(std::string& out, uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
}
inline void put_u32(std::string& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
}
inline void put_u16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}
inline uint64_t get_be(const char* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

}  // namespace plexus::files
