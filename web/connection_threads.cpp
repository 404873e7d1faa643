#include "web/connection_threads.hpp"

#include "common/logging.hpp"

namespace plexus::web {

ConnectionThreads::ConnectionThreads(size_t max_threads, std::chrono::milliseconds idle_exit)
    : max_threads_(max_threads > 0 ? max_threads : 1), idle_exit_(idle_exit) {}

ConnectionThreads::~ConnectionThreads() { shutdown(); }

void ConnectionThreads::join_finished_locked(std::vector<std::thread>& out) {
    for (const auto& id : finished_) {
        auto it = threads_.find(id);
        if (it == threads_.end()) continue;
        out.push_back(std::move(it->second));
        threads_.erase(it);
    }
    finished_.clear();
}

void ConnectionThreads::enqueue(std::function<void()> fn) {
    std::vector<std::thread> done;
    {
        std::lock_guard<std::mutex> lock(mu_);
        join_finished_locked(done);
        jobs_.push_back(std::move(fn));
        if (idle_ >= jobs_.size() || threads_.size() >= max_threads_) {
            work_cv_.notify_one();
        } else {
            try {
                std::thread t([this] { work(); });
                threads_.emplace(t.get_id(), std::move(t));
            } catch (const std::system_error& e) {
                // Out of threads (RLIMIT_NPROC, memory): the connection waits for a free one.
                log_line(LogLevel::warn, LogTags{},
                         std::string("portal: cannot start a connection thread: ") + e.what());
                work_cv_.notify_one();
            }
        }
    }
    for (auto& t : done) t.join();
}

void ConnectionThreads::work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        if (jobs_.empty()) {
            if (stopping_) return;
            ++idle_;
            const bool woke = work_cv_.wait_for(lock, idle_exit_,
                                                [this] { return stopping_ || !jobs_.empty(); });
            --idle_;
            if (!woke) {
                // Idle long enough: leave, to be joined by the next enqueue or shutdown.
                finished_.push_back(std::this_thread::get_id());
                return;
            }
            continue;
        }
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        try {
            job();
        } catch (...) {
            // httplib's handlers catch their own; nothing may end a worker silently.
            log_line(LogLevel::error, LogTags{}, "portal: a connection ended with an exception");
        }
        lock.lock();
    }
}

void ConnectionThreads::shutdown() {
    std::map<std::thread::id, std::thread> all;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
        work_cv_.notify_all();
        all.swap(threads_);
        finished_.clear();
    }
    for (auto& [id, t] : all)
        if (t.joinable()) t.join();
}

}  // namespace plexus::web
