#include "export/export_sink.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace plexus {
namespace {

std::string reason(int err) { return std::strerror(err); }

}  // namespace

FileSink::FileSink(std::filesystem::path path) : path_(std::move(path)) {
    const std::filesystem::path dir = path_.has_parent_path() ? path_.parent_path() : ".";
    part_ = dir / ("." + path_.filename().string() + "." + std::to_string(getpid()) + ".part");
    std::error_code ec;
    if (std::filesystem::is_directory(path_, ec))
        throw std::runtime_error("cannot write " + path_.string() + ": it is a directory");
    file_ = std::fopen(part_.c_str(), "wb");
    if (!file_) throw std::runtime_error("cannot write " + path_.string() + ": " + reason(errno));
}

FileSink::~FileSink() {
    if (file_) std::fclose(file_);
    if (!committed_) {
        std::error_code ec;
        std::filesystem::remove(part_, ec);
    }
}

void FileSink::write(std::string_view bytes) {
    if (!file_) throw std::runtime_error("cannot write " + path_.string() + ": already closed");
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
        throw std::runtime_error("cannot write " + path_.string() + ": " + reason(errno));
}

void FileSink::commit() {
    if (!file_) throw std::runtime_error("cannot write " + path_.string() + ": already closed");
    std::FILE* f = file_;
    file_ = nullptr;
    const bool flushed = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    const int flush_errno = errno;
    if (std::fclose(f) != 0 || !flushed)
        throw std::runtime_error("cannot write " + path_.string() + ": " +
                                 reason(flushed ? errno : flush_errno));
    std::error_code ec;
    std::filesystem::rename(part_, path_, ec);
    if (ec) throw std::runtime_error("cannot write " + path_.string() + ": " + ec.message());
    committed_ = true;
}

}  // namespace plexus
