// Benchmark: export N record outcomes to xlsx and to CSV through the real store and export.
//   build/bin/bench_export N [--keep DIR]
// Fills a fresh store with N outcomes (10 runs of one process; 1 in 10 failed with a
// message holding commas and quotes), then exports all of them to xlsx, all to CSV, and a
// 10% time window to CSV. Each step runs in its own child process, so the peak RSS printed
// is that step's alone. Targets (issue 4): N = 1,000,000 in under 30 s and under 100 MB per
// format. Run by hand; see docs/performance.md.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include "export/outcome_export.hpp"
#include "store/store.hpp"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

constexpr int64_t k_t0 = 1714557600000;  // 2024-05-01T10:00:00Z
constexpr int64_t k_step_ms = 37;        // between two records' start times

void fill(const fs::path& db, long n) {
    auto store = open_sqlite_store(db.string());
    const long runs = 10;
    const long per_run = (n + runs - 1) / runs;
    long done = 0;
    char key[32], target[32], message[160];
    for (long r = 0; r < runs && done < n; ++r) {
        const int64_t run = store->begin_run("orders", "schedule", k_t0 + done * k_step_ms);
        for (long in_run = 0; in_run < per_run && done < n;) {
            PageCommit page;
            page.process_id = "orders";
            page.run_id = run;
            page.now_ms = k_t0 + done * k_step_ms;
            for (int i = 0; i < 5000 && in_run < per_run && done < n; ++i, ++in_run, ++done) {
                RecordOutcome o;
                std::snprintf(key, sizeof key, "O%09ld", done);
                o.source_key = key;
                o.started_ms = k_t0 + done * k_step_ms;
                o.finished_ms = o.started_ms + 5 + done % 200;
                if (done % 10 == 0) {
                    o.action = action::failed;
                    o.error_class =
                        done % 20 == 0 ? error_class::validation : error_class::transient;
                    std::snprintf(message, sizeof message,
                                  "record %s: field email: \"customer%ld@example\" is not an "
                                  "e-mail address, see order lines 1, 2",
                                  key, done % 5000);
                    o.message = message;
                    o.attempts = 3;
                } else {
                    o.action = done % 3 == 0 ? action::updated : action::created;
                    std::snprintf(target, sizeof target, "SO-%08ld", done);
                    o.target_key = target;
                }
                page.outcomes.push_back(std::move(o));
            }
            store->commit_page(page);
        }
        store->finish_run(run, run_status::succeeded, "", k_t0 + done * k_step_ms);
    }
}

struct Step {
    double wall = 0;
    double cpu = 0;
    double peak_mb = 0;
    int status = 0;
};

double seconds(const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; }

// Runs `f` in a child process; its wall time, CPU time and peak RSS.
Step in_child(const std::function<int()>& f) {
    std::cout.flush();
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        int rc = 1;
        try {
            rc = f();
        } catch (const std::exception& e) {
            std::cerr << "bench_export: " << e.what() << "\n";
        }
        std::cout.flush();
        _exit(rc);
    }
    int status = 0;
    struct rusage ru {};
    wait4(pid, &status, 0, &ru);
    Step s;
    s.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.cpu = seconds(ru.ru_utime) + seconds(ru.ru_stime);
    s.peak_mb = ru.ru_maxrss / 1024.0;
    s.status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    return s;
}

int export_to(const fs::path& dir, const OutcomeQuery& q, ExportFormat fmt, const fs::path& out,
              long expected) {
    auto store = open_sqlite_store((dir / "plexus.db").string());
    FileSink sink(out);
    ExportOptions options;
    options.work_dir = dir.string();
    ExportResult r = export_outcomes(*store, q, fmt, sink, options);
    sink.commit();
    std::printf("  rows=%lld sheets=%d size=%.1fMB\n", static_cast<long long>(r.rows), r.sheets,
                r.bytes / 1e6);
    return expected < 0 || r.rows == expected ? 0 : 1;
}

void report(const char* what, long n, const Step& s) {
    std::printf("%-22s N=%ld wall=%.2fs rows/s=%.0f cpu=%.2fs peak_rss=%.1fMB%s\n", what, n, s.wall,
                n / s.wall, s.cpu, s.peak_mb, s.status == 0 ? "" : "  FAILED");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: bench_export N [--keep DIR]\n";
        return 64;
    }
    const long n = std::stol(argv[1]);
    std::string keep;
    for (int i = 2; i + 1 < argc; i += 2)
        if (std::string(argv[i]) == "--keep") keep = argv[i + 1];
    const fs::path dir = keep.empty() ? fs::temp_directory_path() /
                                            ("plexus-bench-export-" + std::to_string(getpid()))
                                      : fs::path(keep);
    fs::remove_all(dir);
    fs::create_directories(dir);

    Step filled = in_child([&] {
        fill(dir / "plexus.db", n);
        return 0;
    });
    report("fill store", n, filled);

    Step xlsx = in_child([&] {
        return export_to(dir, OutcomeQuery{}, ExportFormat::xlsx, dir / "outcomes.xlsx", n);
    });
    report("export all, xlsx", n, xlsx);

    Step csv = in_child(
        [&] { return export_to(dir, OutcomeQuery{}, ExportFormat::csv, dir / "outcomes.csv", n); });
    report("export all, csv", n, csv);

    // The middle tenth by start time, within the process.
    OutcomeQuery window;
    window.process_id = "orders";
    window.started_from_ms = k_t0 + (n * 45 / 100) * k_step_ms;
    window.started_to_ms = k_t0 + (n * 55 / 100) * k_step_ms;
    const long in_window = n * 55 / 100 - n * 45 / 100;
    Step windowed = in_child(
        [&] { return export_to(dir, window, ExportFormat::csv, dir / "window.csv", in_window); });
    report("export 10% by time, csv", in_window, windowed);

    const bool ok =
        filled.status == 0 && xlsx.status == 0 && csv.status == 0 && windowed.status == 0;
    if (keep.empty()) fs::remove_all(dir);
    return ok ? 0 : 1;
}
