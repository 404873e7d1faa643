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

void RecordLog::sync_with_file() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
        throw Error(PLEXUS_ERR_TRANSIENT, "stat of " + file_ + ": " + errno_text(errno));
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size < indexed_end_) {
        host_.info("files: " + file_ + " shrank (it was rewritten); indexing it afresh");
        reset_index();
    }
    file_size_ = size;
    if (size > indexed_end_) scan_to(size);
}

void RecordLog::reset_index() {
    format_->reset();
    indexed_end_ = 0;
    line_at_end_ = 1;
    file_size_ = 0;
    rows_.clear();
    text_.clear();
    slots_.clear();
    slots_used_ = current_count_ = 0;
    order_.clear();
    order_valid_ = false;
    by_idempotency_.clear();
    by_idempotency_valid_ = false;
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

void RecordLog::scan_to(uint64_t size) {
    const auto started = std::chrono::steady_clock::now();
    const size_t rows_before = rows_.size();
    std::string buf;
    size_t head = 0;  // buf[head] is at file offset buf_offset + head
    uint64_t buf_offset = indexed_end_;
    KeyFields kf;
    size_t until_cancel_check = 65536;

    auto fill = [&] {
        if (head) {
            buf.erase(0, head);
            buf_offset += head;
            head = 0;
        }
        const uint64_t at = buf_offset + buf.size();
        const size_t want =
            static_cast<size_t>(std::min<uint64_t>(std::max(kScanChunk, buf.size()), size - at));
        const size_t old = buf.size();
        buf.resize(old + want);
        pread_exact(buf.data() + old, want, at);
    };

    for (;;) {
        const std::string_view view(buf.data() + head, buf.size() - head);
        const bool at_eof = buf_offset + buf.size() >= size;
        if (view.empty()) {
            if (at_eof) break;
            fill();
            continue;
        }
        const ScanResult r = format_->scan(view, at_eof, line_at_end_, kf);
        if (r.status == ScanStatus::incomplete && !at_eof) {
            fill();
            continue;
        }
        if (r.status == ScanStatus::torn || r.status == ScanStatus::incomplete) break;
        if (r.status == ScanStatus::record) add_row(indexed_end_, r.length, line_at_end_, kf);
        line_at_end_ +=
            static_cast<uint32_t>(std::count(view.begin(), view.begin() + r.length, '\n'));
        indexed_end_ += r.length;
        head += r.length;
        if (--until_cancel_check == 0) {
            until_cancel_check = 65536;
            if (host_.cancelled())
                throw Error(PLEXUS_ERR_CANCELLED, "indexing " + file_ + " was cancelled");
        }
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    host_.debug("files: indexed " + file_ + ": " + std::to_string(rows_.size() - rows_before) +
                " records read, " + std::to_string(current_count_) + " current, up to byte " +
                std::to_string(indexed_end_) + " (" + std::to_string(ms) + " ms)");
}

uint32_t RecordLog::hash_text(std::string_view s) {
    const uint64_t h = std::hash<std::string_view>{}(s);
    return static_cast<uint32_t>(h ^ (h >> 32));
}

void RecordLog::add_row(uint64_t offset, size_t length, uint32_t line, const KeyFields& kf) {
    auto too_long = [&](const char* what) {
        throw Error(PLEXUS_ERR_VALIDATION, file_ + ":" + std::to_string(line) + ": " + what +
                                               " is longer than 65535 bytes");
    };
    if (kf.key.size() > 0xFFFF) too_long("the key");
    if (kf.cursor.size() > 0xFFFF) too_long("the cursor value");
    if (length >= Row::kSuperseded)
        throw Error(PLEXUS_ERR_VALIDATION,
                    file_ + ":" + std::to_string(line) + ": a record larger than 2 GiB");
    if (text_.full() || rows_.size() >= npos - 1)
        throw Error(PLEXUS_ERR_PLUGIN, file_ + " is too large to index (over 4 GiB of keys)");
    Row row{};
    row.offset = offset;
    row.sized = static_cast<uint32_t>(length);
    row.line = line;
    row.text = text_.add(kf.key, kf.cursor);
    row.key_length = static_cast<uint16_t>(kf.key.size());
    row.cursor_length = static_cast<uint16_t>(kf.cursor.size());
    row.idempotency_hash = kf.idempotency_key.empty() ? 0 : (hash_text(kf.idempotency_key) | 1u);
    rows_.push_back(row);
    const auto index = static_cast<uint32_t>(rows_.size() - 1);
    put_key(key(index), index);
    order_valid_ = false;
    by_idempotency_valid_ = false;
}

void RecordLog::grow_slots() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(1024, old.size() * 2), Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
        if (!s.row_plus_one) continue;
        size_t i = s.hash & mask;
        while (slots_[i].row_plus_one) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

void RecordLog::put_key(std::string_view k, uint32_t row) {
    if ((slots_used_ + 1) * 10 > slots_.size() * 7) grow_slots();
    const uint32_t h = hash_text(k);
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot& s = slots_[i];
        if (!s.row_plus_one) {
            s = Slot{row + 1, h};
            ++slots_used_;
            ++current_count_;
            return;
        }
        if (s.hash == h && key(s.row_plus_one - 1) == k) {
            rows_[s.row_plus_one - 1].sized |= Row::kSuperseded;
            s.row_plus_one = row + 1;
            return;
        }
    }
}

uint32_t RecordLog::find(std::string_view k) const {
    if (slots_.empty()) return npos;
    const uint32_t h = hash_text(k);
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const Slot& s = slots_[i];
        if (!s.row_plus_one) return npos;
        if (s.hash == h && key(s.row_plus_one - 1) == k) return s.row_plus_one - 1;
    }
}

std::string_view RecordLog::key(uint32_t row) const {
    const Row& r = rows_[row];
    return text_.view(r.text, r.key_length);
}

std::string_view RecordLog::cursor(uint32_t row) const {
    const Row& r = rows_[row];
    return text_.view(r.text, r.key_length + r.cursor_length).substr(r.key_length);
}

const std::vector<uint32_t>& RecordLog::read_order() {
    if (order_valid_) return order_;
    order_.clear();
    order_.reserve(current_count_);
    for (uint32_t i = 0; i < rows_.size(); ++i)
        if (!rows_[i].superseded()) order_.push_back(i);
    auto before = [this](uint32_t a, uint32_t b) {
        const auto ca = cursor(a), cb = cursor(b);
        if (ca != cb) return ca < cb;
        return key(a) < key(b);
    };
    if (!std::is_sorted(order_.begin(), order_.end(), before))
        std::sort(order_.begin(), order_.end(), before);
    order_valid_ = true;
    return order_;
}

uint32_t RecordLog::find_by_idempotency_key(std::string_view idempotency_key) {
    if (idempotency_key.empty()) return npos;
    if (!by_idempotency_valid_) {
        by_idempotency_.clear();
        for (uint32_t i = 0; i < rows_.size(); ++i)
            if (rows_[i].idempotency_hash)
                by_idempotency_.emplace_back(rows_[i].idempotency_hash, i);
        std::sort(by_idempotency_.begin(), by_idempotency_.end());
        by_idempotency_valid_ = true;
    }
    const uint32_t h = hash_text(idempotency_key) | 1u;
    auto lo = std::lower_bound(by_idempotency_.begin(), by_idempotency_.end(),
                               std::make_pair(h, uint32_t{0}));
    auto hi =
        std::upper_bound(by_idempotency_.begin(), by_idempotency_.end(), std::make_pair(h, npos));
    for (auto it = hi; it != lo;) {  // newest first
        --it;
        if (this->idempotency_key(it->second) == idempotency_key) return find(key(it->second));
    }
    return npos;
}

std::string RecordLog::idempotency_key(uint32_t row) {
    if (!rows_[row].idempotency_hash) return {};
    std::vector<std::string> bytes;
    fetch(&row, 1, bytes);
    return format_->extract(bytes[0], line(row)).idempotency_key;
}

// ---------------------------------------------------------------- reading records

void RecordLog::fetch(const uint32_t* rows, size_t count, std::vector<std::string>& out) {
    out.assign(count, std::string());
    std::vector<size_t> by_offset(count);
    std::iota(by_offset.begin(), by_offset.end(), size_t{0});
    std::sort(by_offset.begin(), by_offset.end(),
              [&](size_t a, size_t b) { return rows_[rows[a]].offset < rows_[rows[b]].offset; });
    for (size_t a = 0; a < count;) {
        const Row& first = rows_[rows[by_offset[a]]];
        const uint64_t start = first.offset;
        uint64_t end = first.offset + first.length();
        size_t b = a + 1;
        for (; b < count; ++b) {
            const Row& r = rows_[rows[by_offset[b]]];
            if (r.offset > end + kFetchGap || r.offset + r.length() - start > kFetchSpan) break;
            end = std::max<uint64_t>(end, r.offset + r.length());
        }
        read_buffer_.resize(static_cast<size_t>(end - start));
        pread_exact(read_buffer_.data(), read_buffer_.size(), start);
        for (size_t k = a; k < b; ++k) {
            const Row& r = rows_[rows[by_offset[k]]];
            out[by_offset[k]].assign(read_buffer_, static_cast<size_t>(r.offset - start),
                                     r.length());
        }
        a = b;
    }
    if (read_buffer_.capacity() > kFetchSpan * 2) std::string().swap(read_buffer_);
}

json RecordLog::read(uint32_t row) {
    std::vector<std::string> bytes;
    fetch(&row, 1, bytes);
    return decode(row, bytes[0]);
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
    for (const NewRecord& r : records) {
        line += static_cast<uint32_t>(
            std::count(bytes.begin() + counted, bytes.begin() + r.offset, '\n'));
        counted = r.offset;
        kf.key = r.key;
        kf.cursor = r.cursor;
        kf.idempotency_key = r.idempotency_key;
        add_row(start + r.offset, r.length, line, kf);
    }
    line += static_cast<uint32_t>(std::count(bytes.begin() + counted, bytes.end(), '\n'));
    line_at_end_ = line;
    indexed_end_ = file_size_ = start + bytes.size();
}

}  // namespace plexus::files
