// The portal's connection workers: cpp-httplib hands every accepted connection to a
// TaskQueue, and a connection holds its worker from the first byte to the close (keep-alive
// waits, slow request lines, slow bodies). httplib's own ThreadPool has a fixed 8 workers on
// this machine, so 8 silent connections starved every other client (issue 10, row 3).
//
// ConnectionThreads gives each connection a thread of its own, up to `max_threads` at once;
// connections beyond that wait in FIFO order. Idle threads are kept for a while for reuse
// and exit after `idle_exit`. See docs/design/005-bounded-portal.md for why threads rather
// than an event loop, and the limits that go with it.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus::web {

class ConnectionThreads final : public httplib::TaskQueue {
public:
    explicit ConnectionThreads(size_t max_threads,
                               std::chrono::milliseconds idle_exit = std::chrono::seconds(30));
    ~ConnectionThreads() override;

    void enqueue(std::function<void()> fn) override;
    // Runs what is queued, then waits for every thread to end.
    void shutdown() override;

private:
    void work();
    void join_finished_locked(std::vector<std::thread>& out);

    const size_t max_threads_;
    const std::chrono::milliseconds idle_exit_;
    std::mutex mu_;
    std::condition_variable work_cv_;
    std::deque<std::function<void()>> jobs_;
    std::map<std::thread::id, std::thread> threads_;
    std::vector<std::thread::id> finished_;  // exited on idleness, not yet joined
    size_t idle_ = 0;
    bool stopping_ = false;
};

}  // namespace plexus::web
