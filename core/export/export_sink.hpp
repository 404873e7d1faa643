// Where an export's bytes go: a byte stream written in order, in pieces. The portal's HTTP
// handler implements it over a chunked response; the CLI and the benchmark use FileSink.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace plexus {

class ExportSink {
public:
    virtual ~ExportSink() = default;

    // The next piece of the file (never empty), in order. Called on the exporting thread
    // only; `bytes` is valid during the call only. Throw to abort the export (a client that
    // went away, a full disk): export_outcomes() cleans up and rethrows.
    virtual void write(std::string_view bytes) = 0;
};

// Writes to a file without ever leaving a half-written one at `path`: the bytes go to a
// hidden temporary file next to it ("<dir>/.<name>.<pid>.part"), which commit() renames onto
// `path` (replacing what was there). Destroyed without commit() — the export failed — the
// temporary file is removed and `path` is untouched.
class FileSink final : public ExportSink {
public:
    // Opens the temporary file. Throws std::runtime_error naming `path` and the system's
    // reason when it cannot be created (no such directory, no permission).
    explicit FileSink(std::filesystem::path path);
    ~FileSink() override;
    FileSink(const FileSink&) = delete;
    FileSink& operator=(const FileSink&) = delete;

    void write(std::string_view bytes) override;  // throws std::runtime_error on a write error
    // Flushes, syncs and renames onto `path`. Throws std::runtime_error naming `path`.
    void commit();

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    std::filesystem::path part_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

}  // namespace plexus
