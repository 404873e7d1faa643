#include "worker/worker_protocol.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plexus::worker {

const char* op_name(Op op) {
    switch (op) {
        case Op::check: return "check";
        case Op::read_page: return "read_page";
        case Op::write_batch: return "write_batch";
        case Op::lookup: return "lookup";
    }
    return "call";
}

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_i64(std::string& out, int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_f64(std::string& out, double v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.append(s);
}

bool PayloadReader::take(void* out, size_t n) {
    if (data_.size() < n) return false;
    std::memcpy(out, data_.data(), n);
    data_.remove_prefix(n);
    return true;
}
bool PayloadReader::u32(uint32_t& v) { return take(&v, sizeof v); }
bool PayloadReader::i64(int64_t& v) { return take(&v, sizeof v); }
bool PayloadReader::f64(double& v) { return take(&v, sizeof v); }
bool PayloadReader::str(std::string_view& v) {
    uint32_t n = 0;
    if (!u32(n) || data_.size() < n) return false;
    v = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
}

bool write_frame(int fd, Frame type, uint8_t arg, std::string_view payload) {
    if (payload.size() >= kMaxFrame) return false;
    FrameHeader h;
    h.size = static_cast<uint32_t>(payload.size());
    h.type = static_cast<uint8_t>(type);
    h.arg = arg;
    // Header and payload in one writev: no copy of the payload into a frame buffer.
    iovec iov[2] = {{&h, sizeof h}, {const_cast<char*>(payload.data()), payload.size()}};
    int count = payload.empty() ? 1 : 2;
    iovec* v = iov;
    while (count > 0) {
        ssize_t n = ::writev(fd, v, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        size_t left = static_cast<size_t>(n);
        while (count > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            ++v;
            --count;
        }
        if (count > 0) {
            v->iov_base = static_cast<char*>(v->iov_base) + left;
            v->iov_len -= left;
        }
    }
    return true;
}

namespace {
bool read_exact(int fd, char* p, size_t n) {
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (r == 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}
}  // namespace

bool read_frame(int fd, FrameHeader& header, std::string& payload) {
    if (!read_exact(fd, reinterpret_cast<char*>(&header), sizeof header)) return false;
    if (header.size >= kMaxFrame) return false;
    // resize_and_overwrite is C++23; the zero fill of resize costs little next to the read.
    payload.resize(header.size);
    return read_exact(fd, payload.data(), header.size);
}

}  // namespace plexus::worker
