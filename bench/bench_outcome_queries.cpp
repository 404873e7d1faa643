// Benchmark: the run-detail page's queries with 1,000,000 record outcomes stored.
//   build/bin/bench_outcome_queries [N=1000000] [--db FILE]
// Fills a store (one run of N outcomes, 2% failed in four error classes, plus a second
// process's run), then times each filter the portal offers — the exact Store::outcomes call
// GET /api/runs/{id}/outcomes makes (a page of 100, plus one to know if there is more) —
// first page and a deep keyset page. Target (issue 4): every filtered page under 50 ms.
// Run by hand; see docs/performance.md.
#include "store/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

using namespace plexus;
namespace fs = std::filesystem;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void fill(Store& store, const std::string& process, int64_t n, int64_t run_id) {
    const char* classes[] = {"validation", "transient", "mapping", "conflict"};
    const int64_t page = 5000;
    for (int64_t i = 0; i < n; i += page) {
        PageCommit pc;
        pc.process_id = process;
        pc.run_id = run_id;
        pc.now_ms = 1700000000000 + i;
        for (int64_t j = i; j < std::min(n, i + page); ++j) {
            RecordOutcome o;
            o.source_key = "order-" + std::to_string(j);
            o.started_ms = pc.now_ms;
            o.finished_ms = pc.now_ms + 3;
            if (j % 50 == 7) {
                o.action = action::failed;
                o.error_class = classes[(j / 50) % 4];
                o.message = "HTTP 422: customer " + std::to_string(j % 997) + " email is invalid";
                pc.counts.failed++;
            } else {
                o.action = (j % 3 == 0) ? action::updated : action::created;
                o.target_key = "SO-" + std::to_string(j);
                pc.counts.created++;
            }
            pc.outcomes.push_back(std::move(o));
        }
        pc.counts.read = static_cast<int64_t>(pc.outcomes.size());
        store.commit_page(pc);
    }
}

}  // namespace

int main(int argc, char** argv) {
    int64_t n = 1000000;
    std::string db;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--db" && i + 1 < argc) db = argv[++i];
        else n = std::stoll(a);
    }
    const bool reuse = !db.empty() && fs::exists(db);
    if (db.empty()) db = (fs::temp_directory_path() / ("plexus-bench-q-" + std::to_string(getpid()) + ".db")).string();
    auto store = open_sqlite_store(db);
    int64_t run = 0;
    if (!reuse) {
        auto t0 = std::chrono::steady_clock::now();
        run = store->begin_run("orders", "manual", 1700000000000);
        fill(*store, "orders", n, run);
        store->finish_run(run, run_status::succeeded, "", 1700000900000);
        int64_t other = store->begin_run("customers", "manual", 1700001000000);
        fill(*store, "customers", n / 10, other);
        store->finish_run(other, run_status::succeeded, "", 1700001100000);
        std::printf("filled %lld + %lld outcomes in %.1f s (%s)\n", static_cast<long long>(n),
                    static_cast<long long>(n / 10), ms_since(t0) / 1000, db.c_str());
    } else {
        RunQuery q;
        q.process_id = "orders";
        run = store->runs(q).at(0).id;
    }

    struct Case {
        const char* name;
        OutcomeQuery q;
    };
    // As the portal asks (web/portal.cpp, outcome_page): a page of 100 plus one, and a
    // filtered page searches at most 50,000 ids past `after`.
    auto base = [&] {
        OutcomeQuery q;
        q.run_id = run;
        q.limit = 101;
        return q;
    };
    std::vector<Case> cases;
    cases.push_back({"run, no filter", base()});
    { auto q = base(); q.action = "failed"; cases.push_back({"run, action=failed", q}); }
    { auto q = base(); q.error_class = "conflict"; cases.push_back({"run, error_class=conflict", q}); }
    { auto q = base(); q.text = "order-99999"; cases.push_back({"run, text=order-99999", q}); }
    { auto q = base(); q.text = "no such text"; cases.push_back({"run, text matching nothing", q}); }
    { auto q = base(); q.action = "failed"; q.text = "customer 42 "; cases.push_back({"run, failed + text", q}); }
    { OutcomeQuery q; q.process_id = "orders"; q.action = "failed"; q.limit = 101; cases.push_back({"process, action=failed", q}); }
    { auto q = base(); q.after_id = n * 9 / 10; cases.push_back({"run, deep page (after 90%)", q}); }
    { auto q = base(); q.action = "failed"; q.after_id = n * 9 / 10; cases.push_back({"run, failed, deep page", q}); }

    std::printf("%-32s %8s %8s %8s %6s\n", "query (page of 100)", "best ms", "median", "worst", "rows");
    bool all_ok = true;
    for (auto& c : cases) {
        std::vector<double> t;
        size_t rows = 0;
        if (c.q.action || c.q.error_class || c.q.text) c.q.max_id = c.q.after_id + 50000;
        for (int i = 0; i < 7; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            rows = store->outcomes(c.q).size();
            if (c.q.max_id && rows < 101) (void)store->last_outcome_id(c.q);
            t.push_back(ms_since(t0));
        }
        std::sort(t.begin(), t.end());
        std::printf("%-32s %8.2f %8.2f %8.2f %6zu\n", c.name, t.front(), t[t.size() / 2], t.back(), rows);
        if (t[t.size() / 2] >= 50) all_ok = false;
    }
    std::printf("target: every median under 50 ms: %s\n", all_ok ? "met" : "MISSED");
    return 0;
}
