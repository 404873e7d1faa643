// Runs the contract checker (tests/contract/openapi_check.py, Debian's python3) over the
// exchanges a sandbox recorded, from a C++ test. Header-only; a test target gets it with
// plexus_use_contract_check(<target>) (top-level CMakeLists.txt), which also defines
// PLEXUS_CONTRACT_CHECKER.
//
//   sandbox.record_exchanges(dir + "/opera.jsonl");
//   ... run the connector against the sandbox ...
//   auto r = plexus::contract::check({spec_dir + "/csh.json", spec_dir + "/oauth.json"},
//                                    dir + "/opera.jsonl", {"--relax", "date-maxlength"});
//   INFO(r.report);
//   CHECK(r.exit_code == 0);
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#ifndef PLEXUS_CONTRACT_CHECKER
#error "link the test with plexus_use_contract_check(<target>) to define PLEXUS_CONTRACT_CHECKER"
#endif

namespace plexus::contract {

struct Result {
    int exit_code = -1;  // 0: every exchange valid; 1: violations; 2: unusable input
    std::string report;  // the checker's output (stdout and stderr): one line per violation
};

inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

inline Result check(const std::vector<std::string>& specs, const std::string& exchanges,
                    const std::vector<std::string>& options = {}) {
    std::string cmd = "/usr/bin/python3 " + shell_quote(PLEXUS_CONTRACT_CHECKER);
    for (const auto& s : specs) cmd += " --spec " + shell_quote(s);
    for (const auto& o : options) cmd += " " + shell_quote(o);
    cmd += " --exchanges " + shell_quote(exchanges) + " 2>&1";
    Result r;
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) {
        r.report = "cannot run " + cmd;
        return r;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.report.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace plexus::contract
