#include "external_sort.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <plexus/connector.hpp>

namespace plexus::files {
namespace {

using sdk::Error;

[[noreturn]] void io_error(const char* what, int err) {
    throw Error(PLEXUS_ERR_TRANSIENT,
                std::string("files: ") + what + " a temp file: " + std::strerror(err));
}

}  // namespace

size_t sort_chunk_entries() {
    static const size_t chunk = [] {
        if (const char* env = std::getenv("PLEXUS_FILES_SORT_CHUNK")) {
            char* end = nullptr;
            const unsigned long long v = std::strtoull(env, &end, 10);
            if (end != env && *end == '\0' && v >= 2 && v <= (1u << 24)) return size_t(v);
        }
        return size_t{65536};
    }();
    return chunk;
}

// ---------------------------------------------------------------- TempFile

TempFile::TempFile() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "plexus-files-index-XXXXXX").string();
    fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd_ < 0) io_error("creating", errno);
    ::unlink(pattern.c_str());  // the descriptor keeps it; nothing survives us
}

TempFile::~TempFile() {
    if (fd_ >= 0) ::close(fd_);
}

void TempFile::write_at(const char* data, size_t size, uint64_t offset) {
    while (size > 0) {
        const ssize_t n = ::pwrite(fd_, data, size, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            io_error("writing", errno);
        }
        data += n;
        size -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
}

size_t TempFile::read_at(char* out, size_t size, uint64_t offset) const {
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            io_error("reading", errno);
        }
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    return done;
}

// ---------------------------------------------------------------- TempWriter / TempReader

void TempWriter::put(std::string_view bytes) {
    if (buffer_.size() + bytes.size() > kBuffer) flush();
    if (bytes.size() > kBuffer) {
        file_.write_at(bytes.data(), bytes.size(), written_);
        written_ += bytes.size();
        return;
    }
    buffer_.append(bytes);
}

void TempWriter::put_entry(std::string_view entry) {
    char length[4];
    const auto n = static_cast<uint32_t>(entry.size());
    for (int i = 0; i < 4; ++i) length[i] = static_cast<char>(n >> (24 - 8 * i));
    put(std::string_view(length, 4));
    put(entry);
}

uint64_t TempWriter::flush() {
    if (!buffer_.empty()) {
        file_.write_at(buffer_.data(), buffer_.size(), written_);
        written_ += buffer_.size();
        buffer_.clear();
    }
    return written_;
}

bool TempReader::next(std::string_view& entry) {
    auto have = [&] { return buffer_.size() - head_; };
    auto ensure = [&](size_t n) {
        if (have() >= n) return true;
        buffer_.erase(0, head_);
        head_ = 0;
        const size_t want =
            static_cast<size_t>(std::min<uint64_t>(std::max(kBuffer, n) - buffer_.size(), end_ - pos_));
        const size_t old = buffer_.size();
        buffer_.resize(old + want);
        const size_t got = file_->read_at(buffer_.data() + old, want, pos_);
        buffer_.resize(old + got);
        pos_ += got;
        return have() >= n;
    };
    if (!ensure(4)) return false;
    const auto n = static_cast<size_t>(get_be(buffer_.data() + head_, 4));
    if (!ensure(4 + n))
        throw Error(PLEXUS_ERR_PLUGIN, "files: a temp index file ends in the middle of an entry");
    entry = std::string_view(buffer_.data() + head_ + 4, n);
    head_ += 4 + n;
    return true;
}

// ---------------------------------------------------------------- ExternalSorter

ExternalSorter::ExternalSorter(Less less, size_t chunk_entries)
    : less_(less), chunk_entries_(std::max<size_t>(chunk_entries, 2)) {}

ExternalSorter::~ExternalSorter() = default;

void ExternalSorter::add_in_order(std::string_view entry) {
    if (finished_ || in_order_ended_)
        throw Error(PLEXUS_ERR_PLUGIN, "files: ExternalSorter::add_in_order after add or finish");
    if (!in_order_) {
        file_ = std::make_unique<TempFile>();
        in_order_ = std::make_unique<TempWriter>(*file_);  // from offset 0 of the new file
    }
    in_order_->put_entry(entry);
    ++count_;
}

void ExternalSorter::end_in_order() {
    if (in_order_ended_) return;
    in_order_ended_ = true;
    if (!in_order_) return;
    file_end_ = in_order_->flush();
    in_order_.reset();
    runs_.emplace_back(0, file_end_);
}

void ExternalSorter::add(std::string_view entry) {
    if (finished_) throw Error(PLEXUS_ERR_PLUGIN, "files: ExternalSorter::add after finish");
    end_in_order();
    if (arena_.size() + entry.size() > UINT32_MAX) spill();
    chunk_.emplace_back(static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(entry.size()));
    arena_.append(entry);
    ++count_;
    if (chunk_.size() >= chunk_entries_) spill();
}

void ExternalSorter::sort_chunk() {
    const char* base = arena_.data();
    std::sort(chunk_.begin(), chunk_.end(), [&](const auto& a, const auto& b) {
        return less_(std::string_view(base + a.first, a.second),
                     std::string_view(base + b.first, b.second));
    });
}

void ExternalSorter::spill() {
    if (chunk_.empty()) return;
    sort_chunk();
    if (!file_) file_ = std::make_unique<TempFile>();
    // Runs share one file, one after the other: [u32 length, bytes] per entry.
    std::string bytes;
    bytes.reserve(arena_.size() + 4 * chunk_.size());
    uint64_t begin = file_end_;
    auto flush = [&] {
        file_->write_at(bytes.data(), bytes.size(), file_end_);
        file_end_ += bytes.size();
        bytes.clear();
    };
    for (const auto& [at, n] : chunk_) {
        put_u32(bytes, n);
        bytes.append(arena_, at, n);
        if (bytes.size() >= (1 << 20)) flush();
    }
    flush();
    runs_.emplace_back(begin, file_end_);
    chunk_.clear();
    arena_.clear();
    if (arena_.capacity() > (64u << 20)) std::string().swap(arena_);
    if (runs_.size() >= kMaxRuns) merge_runs();
}

// A k-way merge over the runs and, at the end, the in-memory chunk.
class ExternalSorter::Merge final : public ExternalSorter::Reader {
public:
    explicit Merge(const ExternalSorter& s) : s_(s) {
        for (const auto& [b, e] : s.runs_) readers_.emplace_back(*s.file_, b, e);
        sources_.resize(readers_.size() + 1);
        for (size_t i = 0; i < sources_.size(); ++i)
            if (advance(i)) heap_.push_back(i);
        std::make_heap(heap_.begin(), heap_.end(), greater());
    }

    bool next(std::string_view& entry) override {
        if (pending_ != npos) {  // the source last returned moves on only now
            if (advance(pending_)) {
                heap_.push_back(pending_);
                std::push_heap(heap_.begin(), heap_.end(), greater());
            }
            pending_ = npos;
        }
        if (heap_.empty()) return false;
        std::pop_heap(heap_.begin(), heap_.end(), greater());
        pending_ = heap_.back();
        heap_.pop_back();
        entry = sources_[pending_];
        return true;
    }

private:
    static constexpr size_t npos = size_t(-1);
    struct Greater {
        const Merge* m;
        bool operator()(size_t a, size_t b) const {
            return m->s_.less_(m->sources_[b], m->sources_[a]);
        }
    };
    Greater greater() const { return Greater{this}; }
    bool advance(size_t i) {
        if (i < readers_.size()) return readers_[i].next(sources_[i]);
        if (chunk_pos_ >= s_.chunk_.size()) return false;
        const auto& [at, n] = s_.chunk_[chunk_pos_++];
        sources_[i] = std::string_view(s_.arena_.data() + at, n);
        return true;
    }

    const ExternalSorter& s_;
    std::vector<TempReader> readers_;
    std::vector<std::string_view> sources_;  // each source's current entry
    std::vector<size_t> heap_;
    size_t chunk_pos_ = 0;
    size_t pending_ = npos;
};

void ExternalSorter::merge_runs() {
    // Merge every run into one, in a new file (the old one is dropped with its runs).
    auto merged = std::make_unique<TempFile>();
    uint64_t end = 0;
    {
        std::vector<std::pair<uint32_t, uint32_t>> chunk;  // keep the chunk out of the merge
        std::string arena;
        chunk.swap(chunk_);
        arena.swap(arena_);
        TempWriter out(*merged);
        {
            Merge m(*this);
            std::string_view e;
            while (m.next(e)) out.put_entry(e);
        }
        end = out.flush();
        chunk.swap(chunk_);
        arena.swap(arena_);
    }
    file_ = std::move(merged);
    file_end_ = end;
    runs_.assign(1, {0, end});
}

void ExternalSorter::finish() {
    if (finished_) return;
    end_in_order();
    finished_ = true;
    sort_chunk();  // the last chunk stays in memory, sorted
}

std::unique_ptr<ExternalSorter::Reader> ExternalSorter::reader() const {
    if (!finished_) throw Error(PLEXUS_ERR_PLUGIN, "files: ExternalSorter::reader before finish");
    return std::make_unique<Merge>(*this);
}

}  // namespace plexus::files
