// Notifications of failed runs and of new failed records, by e-mail (SMTP from the host) and
// by webhook, batched into a digest: at most one message per channel per `digest_minutes`,
// listing everything since the last one. docs/design/008-attention-and-notifications.md.
//
// Durable: what needs telling is judged from the runs table (Store::scan_runs_for_notification),
// and what each channel has sent is stored, so a restart neither loses an event nor sends it
// again. The one window left: a crash after the server took a message and before "sent" was
// stored; that message is sent again after the restart, marked as possibly repeated.
//
// Settings are stored in the database and edited in the portal by admins (docs/api.md,
// "Notifications"); the SMTP password and the webhook URL are sealed with the hub's secret
// key, write-only in the API, and added to the log redactor. Thread-safe.
#pragma once

#include "notify/delivery.hpp"
#include "secrets/secret_box.hpp"
#include "service/connection_admin.hpp"
#include "service/operations.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace plexus::notify {

struct NotifySettings {
    bool email_enabled = false;
    EmailServer email;  // password: in memory only, opened from the store
    bool webhook_enabled = false;
    std::string webhook_url;  // a secret (see the file comment)
    double digest_minutes = 15;
    std::string portal_url;  // links in messages; empty: the address serve listens on
};

class Notifier {
public:
    // `default_portal_url`: "http://127.0.0.1:8080/" — links point there unless the settings
    // name another address. `key` null: secrets cannot be stored (the API says so).
    Notifier(Operations& ops, std::shared_ptr<const SecretKey> key, std::string default_portal_url);
    ~Notifier();  // stop()
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    // Where links point when the settings name no portal address (known once the portal
    // has bound its port). Call before start().
    void set_default_portal_url(std::string url) { default_portal_url_ = std::move(url); }

    // Channels written in the configuration file `file` ("notifications", resolved: see
    // resolve_notifications): each one written there replaces the stored one and is read-only
    // in the portal; the rest stay the portal's. Its secrets go to the redactor. Call before
    // start().
    void set_file_channels(NotificationsConfig resolved, std::string file);

    // The loop on its own thread: looks for new events every `tick_ms` and sends what is due.
    void start(int64_t tick_ms = 1000);
    void stop();
    // Look now (after a run finished, or a settings change).
    void wake();

    // GET /api/notifications: settings without secrets ("password_set", "url_set", the
    // webhook's host) and each channel's state.
    nlohmann::json view();
    // PUT /api/notifications: validates (errors by field), stores, audits.
    ConnectionWrite update(const nlohmann::json& body, const std::string& actor);
    // POST /api/notifications/test: a test message through `channel` ("email", "webhook" or
    // "" for every enabled one) with the stored settings; audited notifications.test.
    nlohmann::json test(const std::string& channel, const std::string& actor);
    // Channels whose last send failed: [{"channel", "error", "at"}] (the attention view).
    nlohmann::json failing_channels();

    // One pass of the loop (tests call it directly).
    void tick();

private:
    NotifySettings load();         // stored, with the file's channels over them
    NotifySettings load_stored();  // as stored by the portal
    NotifySettings with_file(NotifySettings s) const;
    std::string compose_text(const std::vector<NotifyEvent>& events, int64_t more,
                             bool maybe_repeated, const std::string& base, std::string& subject,
                             nlohmann::json& structured);
    Delivery deliver(const std::string& channel, const NotifySettings& s, const std::string& subject,
                     const std::string& text, const nlohmann::json& structured);
    std::string base_url(const NotifySettings& s) const;

    Operations& ops_;
    std::shared_ptr<const SecretKey> key_;
    std::string default_portal_url_;
    NotificationsConfig file_;  // the file's channels (set before start, then read only)
    std::string file_name_;

    std::mutex mutex_;  // settings_, and one tick at a time
    NotifySettings settings_;
    bool loaded_ = false;
    std::string load_error_;

    std::mutex loop_mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool woken_ = false;
    std::thread thread_;
    int64_t next_prune_ms_ = 0;
    std::atomic<bool> busy_{false};  // the last tick found the database locked
    static constexpr int64_t k_busy_backoff_ms = 15000;
};

}  // namespace plexus::notify
