// Helpers shared by the integration tests: temp directories, files, running the plexus binary.
#pragma once

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;  // the process environment, handed to spawned children

namespace plexus::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("plexus-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    std::string str(const std::string& child = {}) const { return child.empty() ? path_.string() : (path_ / child).string(); }

private:
    fs::path path_;
};

inline void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every JSON object of a JSON Lines file.
inline std::vector<json> read_jsonl(const fs::path& p) {
    std::vector<json> out;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
}

struct CommandResult {
    int exit_code = -1;
    std::string out;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
    std::string r = "'";
    for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return r + "'";
}

// Runs `plexus <args>` and captures its output.
inline CommandResult run_plexus(const std::vector<std::string>& args, const std::string& env = {}) {
    std::string cmd = env + (env.empty() ? "" : " ") + shell_quote(PLEXUS_BINARY);
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>&1";
    CommandResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// Starts `plexus <args>` as a child of this process (so waitpid works), stdout and stderr
// appended to `log`. Returns its pid, or -1.
inline pid_t spawn_plexus(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> full{PLEXUS_BINARY};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, PLEXUS_BINARY, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

// A files-connector connection whose entities are JSON Lines files in `dir`.
inline json files_connection(const std::string& dir, const json& entities) {
    return json{{"connector", "files"}, {"settings", {{"directory", dir}, {"entities", entities}}}};
}

inline json jsonl_entity(const std::string& file, const std::string& key = "id",
                         const std::string& cursor = "updated_at") {
    json e{{"path", file}, {"format", "jsonl"}, {"key", key}};
    if (!cursor.empty()) e["cursor"] = cursor;
    return e;
}

inline void write_jsonl(const fs::path& p, const std::vector<json>& records) {
    std::string text;
    for (const auto& r : records) text += r.dump() + "\n";
    write_file(p, text);
}

}  // namespace plexus::test
