// A fresh directory under the system's temporary directory, removed with everything in it
// when the object goes. Included as "tests/support/temp_dir.hpp" by the unit and the
// integration tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace plexus::test {

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "plexus-test") {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                (prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(rd()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // The directory, or `child` inside it.
    std::string str(const std::string& child = {}) const { return child.empty() ? path_.string() : (path_ / child).string(); }

private:
    std::filesystem::path path_;
};

}  // namespace plexus::test
