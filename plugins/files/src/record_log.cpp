#include "record_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>

namespace plexus::files {
namespace {

namespace fs = std::filesystem;
using sdk::Error;

constexpr size_t kScanChunk = 1 << 20;    // bytes read at a time while indexing
constexpr uint64_t kFetchGap = 64 << 10;  // records this close are read in one go …
constexpr uint64_t kFetchSpan = 4 << 20;  // … up to this many bytes per read

std::string errno_text(int err) { return std::strerror(err); }

void fsync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        throw Error(PLEXUS_ERR_TRANSIENT, "opening " + dir.string() + ": " + errno_text(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0)
        throw Error(PLEXUS_ERR_TRANSIENT, "fsync of " + dir.string() + ": " + errno_text(err));
}

}  // namespace

RecordLog::RecordLog(const EntitySpec& spec, const sdk::Host& host)
    : spec_(spec), host_(host), file_(spec.file.string()), format_(RecordFormat::make(spec)) {}

RecordLog::~RecordLog() { close_file(); }

// ---------------------------------------------------------------- the file

bool RecordLog::open_file(bool for_write) {
    if (fd_ >= 0 && (writable_ || !for_write)) return true;
    bool created = false;
    int fd = ::open(file_.c_str(), (for_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && for_write) {
        fd = ::open(file_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0)
            created = true;
        else if (errno == EEXIST)
            fd = ::open(file_.c_str(), O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) {
        const int err = errno;
        const fs::path dir = spec_.file.parent_path();
        if (err == ENOENT || err == ENOTDIR) {
            if (!for_write) return false;
            throw Error(PLEXUS_ERR_CONFIG, "cannot create " + file_ + ": the directory " +
                                               dir.string() + " does not exist");
        }
        throw Error(PLEXUS_ERR_CONFIG, std::string("cannot open ") + file_ +
                                           (for_write ? " for writing: " : ": ") + errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(PLEXUS_ERR_CONFIG, file_ + " is not a regular file");
    }
    close_file();
    fd_ = fd;
    writable_ = for_write;
    created_ = created_ || created;
    if (static_cast<uint64_t>(st.st_dev) != device_ || static_cast<uint64_t>(st.st_ino) != inode_) {
        reset_index();
        device_ = st.st_dev;
        inode_ = st.st_ino;
    }
    return true;
}

void RecordLog::close_file() noexcept {
    if (fd_ >= 0) ::close(fd_);  // releases the flock too
    fd_ = -1;
    writable_ = false;
    locked_ = false;
}

void RecordLog::lock(int operation) {
    while (::flock(fd_, operation) != 0) {
        if (errno == EINTR) continue;
        throw Error(PLEXUS_ERR_TRANSIENT, "locking " + file_ + ": " + errno_text(errno));
    }
    locked_ = true;
}

void RecordLog::unlock() noexcept {
    if (locked_ && fd_ >= 0) ::flock(fd_, LOCK_UN);
    locked_ = false;
}

// Is the open file still the one at the path? (It may have been replaced or removed.)
static bool same_file(int fd, const std::string& path) {
    struct stat a {
    }, b{};
    if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0) return false;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool RecordLog::refresh() {
    for (int attempt = 0; attempt < 8; ++attempt) {
        if (!open_file(false)) {
            reset_index();
            device_ = inode_ = 0;
            return false;
        }
        lock(LOCK_SH);
        if (!same_file(fd_, file_)) {
            close_file();
            continue;
        }
        try {
            sync_with_file();
        } catch (...) {
            unlock();
            throw;
        }
        unlock();
        if (file_size_ > indexed_end_ && warned_torn_at_ != indexed_end_) {
            warned_torn_at_ = indexed_end_;
            host_.warn("files: ignoring " + std::to_string(file_size_ - indexed_end_) +
                       " bytes at the end of " + file_ + " (line " + std::to_string(line_at_end_) +
                       "): an unfinished record left by an interrupted write; the next write "
                       "to the file removes it");
        }
        return true;
    }
    throw Error(PLEXUS_ERR_TRANSIENT, file_ + " keeps being replaced while it is read");
}

void RecordLog::begin_write() {
    for (int attempt = 0;; ++attempt) {
        if (attempt == 8)
            throw Error(PLEXUS_ERR_TRANSIENT, file_ + " keeps being replaced while it is written");
        open_file(true);
        lock(LOCK_EX);
        if (same_file(fd_, file_)) break;
        close_file();
    }
    try {
        sync_with_file();
        if (file_size_ > indexed_end_) {
            host_.warn("files: removing " + std::to_string(file_size_ - indexed_end_) +
                       " bytes at the end of " + file_ + " (line " + std::to_string(line_at_end_) +
                       "): an unfinished record left by an interrupted write");
            if (::ftruncate(fd_, static_cast<off_t>(indexed_end_)) != 0)
                throw Error(PLEXUS_ERR_TRANSIENT, "truncating " + file_ + ": " + errno_text(errno));
            file_size_ = indexed_end_;
            warned_torn_at_ = UINT64_MAX;
        }
    } catch (...) {
        unlock();
        throw;
    }
}

void RecordLog::end_write() noexcept { unlock(); }

void RecordLog::reset_index() {
    format_->reset();
    indexed_end_ = 0;
    line_at_end_ = 1;
    file_size_ = 0;
    record_count_ = 0;
    keys_.clear();
    by_idempotency_.reset();
    ++generation_;
}

bool RecordLog::open_for_reading() { return open_file(false); }

uint64_t RecordLog::current_size() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
        throw Error(PLEXUS_ERR_TRANSIENT, "stat of " + file_ + ": " + errno_text(errno));
    return static_cast<uint64_t>(st.st_size);
}

void RecordLog::pread_exact(char* out, size_t size, uint64_t offset) {
    while (size > 0) {
        const ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(PLEXUS_ERR_TRANSIENT, "reading " + file_ + ": " + errno_text(errno));
        }
        if (n == 0)
            throw Error(PLEXUS_ERR_TRANSIENT,
                        file_ +
                            " changed while it was read (it is shorter than expected); "
                            "the next run reads it afresh");
        out += n;
        size -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
}

// ---------------------------------------------------------------- indexing

void RecordLog::sync_with_file() {
    const uint64_t size = current_size();
    if (size < indexed_end_) {
        host_.info("files: " + file_ + " shrank (it was rewritten); indexing it afresh");
        reset_index();
    }
    file_size_ = size;
    if (size <= indexed_end_) return;
    const auto started = std::chrono::steady_clock::now();
    const uint64_t before = record_count_;
    const ScanEnd end = scan(*format_, indexed_end_, line_at_end_, size, kScanChunk,
                             [&](const Location& at, const KeyFields& kf, std::string_view) {
                                 add_record(at, kf);
                                 return true;
                             });
    indexed_end_ = end.offset;
    line_at_end_ = end.line;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    host_.debug("files: indexed " + file_ + ": " + std::to_string(record_count_ - before) +
                " records read, up to byte " + std::to_string(indexed_end_) + " (" +
                std::to_string(ms) + " ms, " + std::to_string(keys_.runs()) +
                " on-disk runs)");
}

void RecordLog::check_limits(size_t length, uint32_t line, const KeyFields& kf) const {
    auto too_long = [&](const char* what) {
        throw Error(PLEXUS_ERR_VALIDATION, file_ + ":" + std::to_string(line) + ": " + what +
                                               " is longer than 65535 bytes");
    };
    if (kf.key.size() > 0xFFFF) too_long("the key");
    if (kf.cursor.size() > 0xFFFF) too_long("the cursor value");
    if (length >= 0x80000000u)
        throw Error(PLEXUS_ERR_VALIDATION,
                    file_ + ":" + std::to_string(line) + ": a record larger than 2 GiB");
}

void RecordLog::add_record(const Location& at, const KeyFields& kf) {
    keys_.add(hash_key(kf.key), at);
    if (by_idempotency_ && !kf.idempotency_key.empty())
        by_idempotency_->add(hash_key(kf.idempotency_key), at);
    ++record_count_;
}

std::optional<RecordLog::Found> RecordLog::find(std::string_view key) {
    // Candidates come newest first: the first whose key matches is the current version.
    keys_.find(hash_key(key), candidates_);
    for (const Location& at : candidates_) {
        Found f;
        f.at = at;
        f.bytes.resize(at.length);
        pread_exact(f.bytes.data(), at.length, at.offset);
        f.fields = format_->extract(f.bytes, at.line);
        if (f.fields.key == key) return f;
    }
    return std::nullopt;
}

std::optional<RecordLog::Found> RecordLog::find_by_idempotency_key(
    std::string_view idempotency_key) {
    if (idempotency_key.empty()) return std::nullopt;
    if (!by_idempotency_) {
        // Only resolving intents after a crash and following up conflicts look records up by
        // idempotency key: index them on the first such lookup, with one pass over the file.
        // (This needs a format whose CSV header state is that of the file's start.)
        auto index = std::make_unique<KeyIndex>();
        auto format = RecordFormat::make(spec_);
        scan(*format, 0, 1, indexed_end_, kScanChunk,
             [&](const Location& at, const KeyFields& kf, std::string_view) {
                 if (!kf.idempotency_key.empty()) index->add(hash_key(kf.idempotency_key), at);
                 return true;
             });
        by_idempotency_ = std::move(index);
    }
    std::vector<Location> candidates;
    by_idempotency_->find(hash_key(idempotency_key), candidates);
    for (const Location& at : candidates) {
        std::string bytes(at.length, '\0');
        pread_exact(bytes.data(), at.length, at.offset);
        KeyFields kf = format_->extract(bytes, at.line);
        if (kf.idempotency_key == idempotency_key) return find(kf.key);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------- reading records

void RecordLog::fetch(const Location* at, size_t count, std::vector<std::string>& out) {
    out.resize(count);
    std::vector<size_t> by_offset(count);
    std::iota(by_offset.begin(), by_offset.end(), size_t{0});
    std::sort(by_offset.begin(), by_offset.end(),
              [&](size_t a, size_t b) { return at[a].offset < at[b].offset; });
    for (size_t a = 0; a < count;) {
        const Location& first = at[by_offset[a]];
        const uint64_t start = first.offset;
        uint64_t end = first.offset + first.length;
        size_t b = a + 1;
        for (; b < count; ++b) {
            const Location& r = at[by_offset[b]];
            if (r.offset > end + kFetchGap || r.offset + r.length - start > kFetchSpan) break;
            end = std::max<uint64_t>(end, r.offset + r.length);
        }
        read_buffer_.resize(static_cast<size_t>(end - start));
        pread_exact(read_buffer_.data(), read_buffer_.size(), start);
        for (size_t k = a; k < b; ++k) {
            const Location& r = at[by_offset[k]];
            out[by_offset[k]].assign(read_buffer_, static_cast<size_t>(r.offset - start),
                                     r.length);
        }
        a = b;
    }
    if (read_buffer_.capacity() > kFetchSpan * 2) std::string().swap(read_buffer_);
}

// ---------------------------------------------------------------- appending

void RecordLog::append(std::string_view bytes, const std::vector<NewRecord>& records,
                       bool restart) {
    if (!locked_ || !writable_) throw Error(PLEXUS_ERR_PLUGIN, "append outside a write session");
    if (bytes.empty()) return;
    uint64_t base = file_size_;
    std::string_view prefix;
    if (restart) {
        base = 0;
    } else if (base > 0) {
        char last = '\n';
        pread_exact(&last, 1, base - 1);
        if (last != '\n') prefix = "\n";  // the last record was typed without a line break
    }

    auto fail = [&](const std::string& what, int err) {
        // Cut the file back to what it was, so that nothing unacknowledged stays, and read
        // the file afresh next time.
        if (!restart) (void)!::ftruncate(fd_, static_cast<off_t>(base));
        reset_index();
        device_ = inode_ = 0;
        throw Error(PLEXUS_ERR_TRANSIENT, what + " " + file_ + ": " + errno_text(err));
    };
    auto write_all = [&](std::string_view data, uint64_t offset) {
        while (!data.empty()) {
            const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("writing", errno);
            }
            data.remove_prefix(static_cast<size_t>(n));
            offset += static_cast<uint64_t>(n);
        }
    };
    if (restart && ::ftruncate(fd_, 0) != 0) fail("truncating", errno);
    write_all(prefix, base);
    write_all(bytes, base + prefix.size());
    if (::fdatasync(fd_) != 0) fail("fsync of", errno);
    if (created_) {
        fsync_directory(spec_.file.parent_path());
        created_ = false;
    }

    // Index what is now durable.
    if (restart) {
        indexed_end_ = 0;
        line_at_end_ = 1;
    }
    const uint64_t start = base + prefix.size();
    uint32_t line = line_at_end_ + static_cast<uint32_t>(prefix.size());
    size_t counted = 0;
    KeyFields kf;
    if (restart) {
        // The file held no records; its header was rewritten: read it afresh next time.
        reset_index();
        device_ = inode_ = 0;
        ++generation_;
        return;
    }
    for (const NewRecord& r : records) {
        line += static_cast<uint32_t>(
            std::count(bytes.begin() + counted, bytes.begin() + r.offset, '\n'));
        counted = r.offset;
        kf.key = r.key;
        kf.cursor = r.cursor;
        kf.idempotency_key = r.idempotency_key;
        add_record(Location{start + r.offset, static_cast<uint32_t>(r.length), line}, kf);
    }
    ++generation_;
    line += static_cast<uint32_t>(std::count(bytes.begin() + counted, bytes.end(), '\n'));
    line_at_end_ = line;
    indexed_end_ = file_size_ = start + bytes.size();
}

}  // namespace plexus::files
