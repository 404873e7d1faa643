#include "notify/notifier.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "notify/reasons.hpp"
#include "secrets/stored_connections.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace plexus::notify {
namespace {

using nlohmann::json;

constexpr const char* k_email = "email";
constexpr const char* k_webhook = "webhook";
constexpr const char* k_password = "smtp_password";
constexpr const char* k_url = "webhook_url";
constexpr size_t k_max_listed = 50;  // events listed in one message; the rest are counted
constexpr int64_t k_keep_ms = 30LL * 24 * 3600 * 1000;  // sent events kept this long

std::string context(const char* name) { return secret_context(kNotifySecretsOwner, name); }

bool plausible_address(const std::string& a) { return plausible_email_address(a); }

std::string status_words(const RunRecord& r) {
    if (r.status == run_status::failed) return "failed";
    if (r.status == run_status::partial) return "stopped before the end";
    if (r.status == run_status::abandoned) return "was cut off when the hub stopped";
    return "finished";
}

}  // namespace

Notifier::Notifier(Operations& ops, std::shared_ptr<const SecretKey> key, std::string default_portal_url)
    : ops_(ops), key_(std::move(key)), default_portal_url_(std::move(default_portal_url)) {}

Notifier::~Notifier() { stop(); }

void Notifier::start(int64_t tick_ms) {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this, tick_ms] {
        std::unique_lock<std::mutex> l(loop_mutex_);
        while (!stop_) {
            l.unlock();
            tick();
            l.lock();
            // While another process holds the database, each tick's write would wait the
            // store's busy timeout and hold up this host's other writers: wait longer.
            // A wake (a run ended) does not cut that wait short.
            const bool busy = busy_.exchange(false);
            const int64_t wait = busy ? std::max<int64_t>(tick_ms, k_busy_backoff_ms) : tick_ms;
            cv_.wait_for(l, std::chrono::milliseconds(wait),
                         [this, busy] { return stop_ || (woken_ && !busy); });
            woken_ = false;
        }
    });
}

void Notifier::stop() {
    {
        std::lock_guard<std::mutex> lock(loop_mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Notifier::wake() {
    {
        std::lock_guard<std::mutex> lock(loop_mutex_);
        woken_ = true;
    }
    cv_.notify_all();
}

void Notifier::set_file_channels(NotificationsConfig resolved, std::string file) {
    if (!resolved.email.password.empty()) global_redactor().add(resolved.email.password);
    if (!resolved.webhook.url.empty()) global_redactor().add(resolved.webhook.url);
    std::lock_guard<std::mutex> lock(mutex_);
    file_ = std::move(resolved);
    file_name_ = std::move(file);
    loaded_ = false;
}

NotifySettings Notifier::with_file(NotifySettings s) const {
    if (file_.email.present) {
        const NotifyEmailFile& e = file_.email;
        s.email_enabled = e.enabled;
        s.email.server = e.server;
        s.email.port = e.port;
        s.email.security = e.security;
        s.email.from = e.from;
        s.email.to = e.to;
        s.email.username = e.username;
        s.email.password = e.password;
    }
    if (file_.webhook.present) {
        s.webhook_enabled = file_.webhook.enabled;
        s.webhook_url = file_.webhook.url;
    }
    if (file_.digest_minutes) s.digest_minutes = *file_.digest_minutes;
    if (file_.portal_url) s.portal_url = *file_.portal_url;
    return s;
}

NotifySettings Notifier::load() { return with_file(load_stored()); }

// Settings from the store, secrets opened (and given to the redactor, so no log line,
// error or API answer can carry them).
NotifySettings Notifier::load_stored() {
    NotifySettingsRow row = ops_.store().notify_settings();
    NotifySettings s;
    json j = json::parse(row.settings_json, nullptr, false);
    if (!j.is_object()) j = json::object();
    const json e = j.value("email", json::object());
    s.email_enabled = e.value("enabled", false);
    s.email.server = e.value("server", "");
    s.email.port = e.value("port", 587);
    s.email.security = e.value("security", "starttls");
    s.email.from = e.value("from", "");
    s.email.to = e.value("to", std::vector<std::string>{});
    s.email.username = e.value("username", "");
    const json w = j.value("webhook", json::object());
    s.webhook_enabled = w.value("enabled", false);
    s.digest_minutes = j.value("digest_minutes", 15.0);
    s.portal_url = j.value("portal_url", "");
    for (const auto& secret : row.secrets) {
        if (!key_) throw SecretError("notifications: the secret key is not loaded, so the " +
                                     secret.name + " cannot be opened");
        std::string value = key_->open(context(secret.name.c_str()), secret.sealed);
        global_redactor().add(value);
        if (secret.name == k_password) s.email.password = value;
        else if (secret.name == k_url) s.webhook_url = value;
    }
    return s;
}

std::string Notifier::base_url(const NotifySettings& s) const {
    std::string b = s.portal_url.empty() ? default_portal_url_ : s.portal_url;
    if (b.empty()) b = "http://127.0.0.1:8080/";
    if (b.back() != '/') b += '/';
    return b;
}

json Notifier::view() {
    NotifySettings s;
    std::string load_error;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!loaded_) {
            try {
                settings_ = load();
                loaded_ = true;
            } catch (const std::exception& e) {
                load_error_ = global_redactor().redact(e.what());
            }
        }
        s = settings_;
        load_error = load_error_;
    }
    json v;
    v["email"] = {{"enabled", s.email_enabled},
                  {"server", s.email.server},
                  {"port", s.email.port},
                  {"security", s.email.security},
                  {"from", s.email.from},
                  {"to", s.email.to},
                  {"username", s.email.username},
                  {"password_set", !s.email.password.empty()}};
    v["webhook"] = {{"enabled", s.webhook_enabled},
                    {"url_set", !s.webhook_url.empty()},
                    {"url_host", s.webhook_url.empty() ? json(nullptr) : json(url_origin(s.webhook_url))}};
    // Where each part comes from: the configuration file (read-only here) or the portal.
    const auto origin = [&](bool from_file, const std::string& path) {
        return from_file ? json{{"origin", "file"}, {"file", file_name_}, {"json_path", path}, {"read_only", true}}
                         : json{{"origin", "portal"}, {"read_only", false}};
    };
    v["email"].update(origin(file_.email.present, file_.email.json_path));
    v["webhook"].update(origin(file_.webhook.present, file_.webhook.json_path));
    v["file_settings"] = json::array();
    if (file_.digest_minutes) v["file_settings"].push_back("digest_minutes");
    if (file_.portal_url) v["file_settings"].push_back("portal_url");
    if (file_.present()) v["file"] = file_name_;
    v["digest_minutes"] = s.digest_minutes;
    v["portal_url"] = s.portal_url;
    v["links_to"] = base_url(s);
    v["secrets_can_be_stored"] = key_ != nullptr;
    v["error"] = load_error.empty() ? json(nullptr) : json(load_error);
    Store& store = ops_.store();
    const int64_t window = static_cast<int64_t>(std::llround(s.digest_minutes * 60000.0));
    json status = json::object();
    for (const char* ch : {k_email, k_webhook}) {
        const NotifyChannelState st = store.notify_channel(ch);
        const int64_t pending = store.notify_events_count_after(st.sent_through);
        const bool enabled = ch == std::string(k_email) ? s.email_enabled : s.webhook_enabled;
        const int64_t last = std::max(st.last_sent_ms, st.last_error_ms);
        json next = nullptr;
        if (enabled && pending > 0)
            next = iso_utc(last > 0 ? std::max(last + window, ops_.hub().clock().now_ms())
                                    : ops_.hub().clock().now_ms());
        status[ch] = {{"enabled", enabled},
                      {"pending", pending},
                      {"last_sent", time_or_null(st.last_sent_ms)},
                      {"last_error", st.last_error.empty() ? json(nullptr) : json(st.last_error)},
                      {"last_error_at", time_or_null(st.last_error_ms)},
                      {"next_send", next}};
    }
    v["status"] = status;
    return v;
}

json Notifier::failing_channels() {
    json out = json::array();
    bool email = false, webhook = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        email = settings_.email_enabled;
        webhook = settings_.webhook_enabled;
    }
    for (const char* ch : {k_email, k_webhook}) {
        if (!(ch == std::string(k_email) ? email : webhook)) continue;
        const NotifyChannelState st = ops_.store().notify_channel(ch);
        if (!st.last_error.empty())
            out.push_back({{"channel", ch}, {"error", st.last_error}, {"at", time_or_null(st.last_error_ms)}});
    }
    return out;
}

ConnectionWrite Notifier::update(const json& body, const std::string& actor) {
    ConnectionWrite w;
    auto fail = [&](const std::string& field, const std::string& message) {
        w.errors.push_back(FieldError{field, message});
    };
    NotifySettings cur;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            cur = load_stored();
        } catch (const std::exception& e) {
            w.status = OpStatus::conflict;
            w.message = global_redactor().redact(e.what());
            return w;
        }
    }
    NotifySettings next = cur;
    std::string password_change = "kept", url_change = "kept";
    for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "email" && it.key() != "webhook" && it.key() != "digest_minutes" &&
            it.key() != "portal_url")
            fail(it.key(), "unknown setting; notifications have email, webhook, digest_minutes and portal_url");
    // What the configuration file sets is changed there, not here.
    const auto from_file = [&](const char* key, bool written, const std::string& path) {
        if (written && body.contains(key))
            fail(key, "set in the configuration file " + file_name_ + " (" + path +
                          "); change it there and restart plexus serve");
    };
    from_file("email", file_.email.present, file_.email.json_path);
    from_file("webhook", file_.webhook.present, file_.webhook.json_path);
    from_file("digest_minutes", file_.digest_minutes.has_value(), "/notifications/digest_minutes");
    from_file("portal_url", file_.portal_url.has_value(), "/notifications/portal_url");
    if (!w.errors.empty()) {
        w.status = OpStatus::invalid;
        return w;
    }
    if (body.contains("email")) {
        const json& e = body["email"];
        if (!e.is_object()) fail("email", "must be an object");
        else {
            for (auto it = e.begin(); it != e.end(); ++it) {
                const std::string k = it.key(), f = "email." + k;
                const json& v = it.value();
                if (k == "enabled") {
                    if (!v.is_boolean()) fail(f, "must be true or false");
                    else next.email_enabled = v.get<bool>();
                } else if (k == "server" || k == "from" || k == "username") {
                    if (!v.is_string()) { fail(f, "must be text"); continue; }
                    std::string t = v.get<std::string>();
                    t.erase(0, t.find_first_not_of(" \t"));
                    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
                    if (t.find_first_of("\r\n") != std::string::npos) { fail(f, "must be one line"); continue; }
                    if (k == "server") {
                        if (t.find_first_of(" /:@") != std::string::npos && t.find(':') == std::string::npos)
                            fail(f, "give the server's host name only, e.g. smtp.example.com (the port is a field of its own)");
                        next.email.server = t;
                    } else if (k == "from") {
                        if (!t.empty() && !plausible_address(t)) fail(f, "\"" + t + "\" is not an e-mail address");
                        next.email.from = t;
                    } else {
                        next.email.username = t;
                    }
                } else if (k == "port") {
                    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65535)
                        fail(f, "must be a port number from 1 to 65535 (587 for STARTTLS, 465 for TLS)");
                    else next.email.port = v.get<int>();
                } else if (k == "security") {
                    const std::string t = v.is_string() ? v.get<std::string>() : "";
                    if (t != "starttls" && t != "tls" && t != "none")
                        fail(f, "must be starttls, tls or none");
                    else next.email.security = t;
                } else if (k == "to") {
                    std::vector<std::string> to;
                    json list = v;
                    if (v.is_string()) {  // "a@x, b@y" as typed in one field
                        list = json::array();
                        std::string t = v.get<std::string>();
                        size_t pos = 0;
                        while (pos <= t.size()) {
                            size_t end = t.find_first_of(",;\n", pos);
                            if (end == std::string::npos) end = t.size();
                            std::string one = t.substr(pos, end - pos);
                            one.erase(0, one.find_first_not_of(" \t\r"));
                            while (!one.empty() && std::isspace(static_cast<unsigned char>(one.back()))) one.pop_back();
                            if (!one.empty()) list.push_back(one);
                            pos = end + 1;
                        }
                    }
                    if (!list.is_array()) { fail(f, "must be a list of e-mail addresses"); continue; }
                    for (const auto& a : list) {
                        if (!a.is_string() || !plausible_address(a.get<std::string>()))
                            fail(f, (a.is_string() ? "\"" + a.get<std::string>() + "\"" : a.dump()) +
                                        " is not an e-mail address");
                        else to.push_back(a.get<std::string>());
                    }
                    if (to.size() > 50) fail(f, "at most 50 recipients (use a mailing list)");
                    next.email.to = to;
                } else if (k == "password") {
                    if (v.is_null() || (v.is_string() && v.get<std::string>().empty())) {
                        next.email.password.clear();
                        password_change = "removed";
                    } else if (!v.is_string()) {
                        fail(f, "must be text (null removes it)");
                    } else {
                        next.email.password = v.get<std::string>();
                        password_change = "changed";
                    }
                } else if (k != "password_set") {
                    fail(f, "unknown setting");
                }
            }
        }
    }
    if (body.contains("webhook")) {
        const json& e = body["webhook"];
        if (!e.is_object()) fail("webhook", "must be an object");
        else {
            for (auto it = e.begin(); it != e.end(); ++it) {
                const std::string k = it.key(), f = "webhook." + k;
                const json& v = it.value();
                if (k == "enabled") {
                    if (!v.is_boolean()) fail(f, "must be true or false");
                    else next.webhook_enabled = v.get<bool>();
                } else if (k == "url") {
                    if (v.is_null() || (v.is_string() && v.get<std::string>().empty())) {
                        next.webhook_url.clear();
                        url_change = "removed";
                    } else if (!v.is_string() || (v.get<std::string>().rfind("https://", 0) != 0 &&
                                                  v.get<std::string>().rfind("http://", 0) != 0) ||
                               v.get<std::string>().find_first_of(" \r\n") != std::string::npos) {
                        fail(f, "must be the webhook's address, starting with https://");
                    } else {
                        next.webhook_url = v.get<std::string>();
                        url_change = "changed";
                    }
                } else if (k != "url_set" && k != "url_host") {
                    fail(f, "unknown setting");
                }
            }
        }
    }
    if (body.contains("digest_minutes")) {
        const json& v = body["digest_minutes"];
        if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1440 || !std::isfinite(v.get<double>()))
            fail("digest_minutes", "must be a number of minutes from 0 (each as it comes) to 1440 (daily)");
        else next.digest_minutes = v.get<double>();
    }
    if (body.contains("portal_url")) {
        const json& v = body["portal_url"];
        const std::string t = v.is_string() ? v.get<std::string>() : "";
        if (!v.is_string() || (!t.empty() && t.rfind("https://", 0) != 0 && t.rfind("http://", 0) != 0))
            fail("portal_url", "must be the portal's address as people open it, e.g. https://plexus.example.com/ (empty: the address serve listens on)");
        else next.portal_url = t;
    }
    if (next.email_enabled) {
        if (next.email.server.empty()) fail("email.server", "is needed to send e-mail");
        if (next.email.from.empty()) fail("email.from", "is needed to send e-mail");
        if (next.email.to.empty()) fail("email.to", "give at least one recipient");
    }
    if (next.webhook_enabled && next.webhook_url.empty())
        fail("webhook.url", "is needed to post to a webhook");
    if ((password_change == "changed" || url_change == "changed") && !key_)
        w.message = "secrets cannot be stored: the hub has no secret key";
    if (!w.errors.empty() || !w.message.empty()) {
        w.status = w.errors.empty() ? OpStatus::conflict : OpStatus::invalid;
        return w;
    }
    NotifySettingsRow row;
    row.settings_json = json{{"email", {{"enabled", next.email_enabled},
                                        {"server", next.email.server},
                                        {"port", next.email.port},
                                        {"security", next.email.security},
                                        {"from", next.email.from},
                                        {"to", next.email.to},
                                        {"username", next.email.username}}},
                             {"webhook", {{"enabled", next.webhook_enabled}}},
                             {"digest_minutes", next.digest_minutes},
                             {"portal_url", next.portal_url}}
                            .dump();
    if (!next.email.password.empty())
        row.secrets.push_back(SealedSecret{k_password, key_->seal(context(k_password), next.email.password), key_->id()});
    if (!next.webhook_url.empty())
        row.secrets.push_back(SealedSecret{k_url, key_->seal(context(k_url), next.webhook_url), key_->id()});
    std::vector<std::string> skip;
    if (next.email_enabled && !cur.email_enabled) skip.push_back(k_email);
    if (next.webhook_enabled && !cur.webhook_enabled) skip.push_back(k_webhook);
    json detail = json::parse(row.settings_json);
    detail["email"]["password"] = password_change;
    detail["webhook"]["url"] = url_change;
    if (!next.webhook_url.empty()) detail["webhook"]["host"] = url_origin(next.webhook_url);
    ops_.store().save_notify_settings(row, skip, actor, ops_.hub().clock().now_ms(), detail.dump());
    if (!next.email.password.empty()) global_redactor().add(next.email.password);
    if (!next.webhook_url.empty()) global_redactor().add(next.webhook_url);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        settings_ = with_file(next);
        loaded_ = true;
        load_error_.clear();
    }
    wake();
    w.view = view();
    return w;
}

Delivery Notifier::deliver(const std::string& channel, const NotifySettings& s,
                           const std::string& subject, const std::string& text,
                           const json& structured) {
    Delivery d;
    if (channel == k_email) {
        d = send_email(s.email, subject, text);
    } else {
        json body = {{"text", text}};
        if (!structured.is_null()) body["plexus"] = structured;
        d = post_webhook(s.webhook_url, body.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    d.error = global_redactor().redact(d.error);
    return d;
}

json Notifier::test(const std::string& channel, const std::string& actor) {
    NotifySettings s;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            settings_ = load();
            loaded_ = true;
        } catch (const std::exception& e) {
            return {{"results", json::array({{{"channel", channel.empty() ? "all" : channel},
                                              {"ok", false},
                                              {"message", global_redactor().redact(e.what())}}})}};
        }
        s = settings_;
    }
    std::vector<std::string> channels;
    if (channel.empty()) {
        if (s.email_enabled) channels.push_back(k_email);
        if (s.webhook_enabled) channels.push_back(k_webhook);
    } else {
        channels.push_back(channel);
    }
    json results = json::array();
    const std::string base = base_url(s);
    const std::string text = "This is a test message from Plexus (" + base +
                             "). Notifications of failed runs and failed records will arrive "
                             "like this.";
    for (const auto& ch : channels) {
        Delivery d;
        if (ch == k_email && s.email.server.empty())
            d.error = "e-mail is not set up: save a server, a sender and a recipient first";
        else if (ch == k_webhook && s.webhook_url.empty())
            d.error = "the webhook is not set up: save its address first";
        else
            d = deliver(ch, s, "Plexus: test message", text, json{{"test", true}});
        results.push_back({{"channel", ch}, {"ok", d.ok}, {"message", d.ok ? "sent" : d.error}});
        json detail = {{"channel", ch}, {"ok", d.ok}};
        if (!d.ok) detail["error"] = d.error;
        ops_.store().audit(AuditEntry{0, ops_.hub().clock().now_ms(), actor, "notifications.test", ch,
                                      detail.dump()});
    }
    if (channels.empty())
        results.push_back({{"channel", "all"}, {"ok", false},
                           {"message", "no channel is switched on: switch on e-mail or the webhook, or name one"}});
    return {{"results", results}};
}

std::string Notifier::compose_text(const std::vector<NotifyEvent>& events, int64_t more,
                                   bool maybe_repeated, const std::string& base,
                                   std::string& subject, json& structured) {
    Store& store = ops_.store();
    std::string text;
    json list = json::array();
    std::string first_name;
    for (const auto& ev : events) {
        auto run = store.run(ev.run_id);
        const ProcessConfig* p = ops_.hub().config().process(ev.process_id);
        const std::string name = p && !p->name.empty() ? p->name : ev.process_id;
        if (first_name.empty()) first_name = name;
        json item = {{"process", ev.process_id}, {"process_name", name}, {"run_id", ev.run_id}};
        if (!run) {
            text += "\u2022 " + name + ": run " + std::to_string(ev.run_id) + " (no longer in the history)\n\n";
            list.push_back(item);
            continue;
        }
        const bool run_failed = run->status == run_status::failed || run->status == run_status::partial;
        const std::string when = iso_utc(run->finished_ms > 0 ? run->finished_ms : run->started_ms);
        text += "\u2022 " + name + ": run " + std::to_string(run->id) + " " + status_words(*run);
        if (run->counts.failed > 0)
            text += (run_failed ? ", and " : ", but ") + std::to_string(run->counts.failed) +
                    (run->counts.failed == 1 ? " record failed" : " records failed");
        text += " (" + when + ").\n";
        item["status"] = run->status;
        item["finished"] = when;
        item["failed_records"] = run->counts.failed;
        if (run_failed && !run->message.empty()) {
            const std::string reason = global_redactor().redact(run->message);
            text += "  Reason: " + reason + "\n";
            item["reason"] = reason;
        }
        json reasons = json::array();
        if (run->counts.failed > 0) {
            auto grouped = group_reasons(store.run_failure_reasons(run->id, 200), 3);
            std::string line;
            for (const auto& g : grouped) {
                const std::string r = global_redactor().redact(g.count == 1 ? g.example : g.reason);
                line += (line.empty() ? "" : "; ") + r + " (" + std::to_string(g.count) + ")";
                reasons.push_back({{"reason", r}, {"error_class", g.error_class}, {"count", g.count}});
            }
            if (!line.empty()) text += "  Commonest reasons: " + line + "\n";
        }
        item["reasons"] = reasons;
        const std::string run_link = base + "#/runs/" + std::to_string(run->id);
        text += "  The run: " + run_link + "\n";
        item["link"] = run_link;
        if (run->counts.failed > 0) {
            const std::string failed_link = base + "#/failed/" + ev.process_id;
            text += "  Failed records: " + failed_link + "\n";
            item["failed_records_link"] = failed_link;
        }
        text += "\n";
        list.push_back(item);
    }
    if (more > 0)
        text += "\u2026 and " + std::to_string(more) + " more; see " + base + "#/processes\n\n";
    const int64_t total = static_cast<int64_t>(events.size()) + more;
    if (total == 1) {
        const json& only = list[0];
        const bool failed = only.value("status", "") == run_status::failed ||
                            only.value("status", "") == run_status::partial;
        subject = "Plexus: " + first_name + (failed ? " \u2014 a run failed"
                                                    : " \u2014 records failed");
    } else {
        subject = "Plexus: " + std::to_string(total) + " runs need attention";
    }
    std::string head = "Plexus: what needs attention";
    if (total > 1) head += " (" + std::to_string(total) + " runs since the last message)";
    head += "\n\n";
    std::string foot = "Everything that needs action: " + base + "#/processes\n";
    if (maybe_repeated)
        foot += "(This message may repeat one sent just before the hub stopped.)\n";
    structured = {{"events", list}, {"more", more}, {"portal", base}};
    return head + text + foot;
}

void Notifier::tick() {
    static std::mutex tick_mutex;  // one tick at a time, the loop's or a test's
    std::lock_guard<std::mutex> one(tick_mutex);
    NotifySettings s;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!loaded_) {
            try {
                settings_ = load();
                loaded_ = true;
                load_error_.clear();
            } catch (const std::exception& e) {
                const std::string m = global_redactor().redact(e.what());
                if (m != load_error_) log_line(LogLevel::error, LogTags{}, "notifications: " + m);
                load_error_ = m;
                return;
            }
        }
        s = settings_;
    }
    try {
        Store& store = ops_.store();
        const int64_t now = ops_.hub().clock().now_ms();
        store.scan_runs_for_notification(now);
        const int64_t window = static_cast<int64_t>(std::llround(s.digest_minutes * 60000.0));
        std::vector<std::string> enabled;
        for (const char* ch : {k_email, k_webhook}) {
            const bool on = ch == std::string(k_email) ? s.email_enabled : s.webhook_enabled;
            if (!on) continue;
            enabled.push_back(ch);
            const NotifyChannelState st = store.notify_channel(ch);
            auto events = store.notify_events_after(st.sent_through, k_max_listed);
            if (events.empty()) continue;
            const int64_t last = std::max(st.last_sent_ms, st.last_error_ms);
            if (last > 0 && now < last + window) continue;
            const int64_t pending = store.notify_events_count_after(st.sent_through);
            const int64_t through = pending > static_cast<int64_t>(events.size())
                                        ? store.notify_last_event_id()
                                        : events.back().id;
            std::string subject;
            json structured;
            const std::string text =
                compose_text(events, pending - static_cast<int64_t>(events.size()),
                             st.sending_through > st.sent_through, base_url(s), subject, structured);
            store.notify_mark_sending(ch, through);
            const Delivery d = deliver(ch, s, subject, text, structured);
            if (d.ok) {
                store.notify_mark_sent(ch, through, ops_.hub().clock().now_ms());
                log_line(LogLevel::info, LogTags{},
                         std::string("notifications: ") + ch + ": sent " + std::to_string(pending) +
                             (pending == 1 ? " run" : " runs"));
            } else {
                store.notify_mark_failed(ch, d.error, ops_.hub().clock().now_ms());
                log_line(LogLevel::warn, LogTags{},
                         std::string("notifications: ") + ch + ": not sent: " + d.error);
            }
        }
        if (now >= next_prune_ms_) {
            next_prune_ms_ = now + 3600 * 1000;
            store.prune_notify_events(now - k_keep_ms, enabled);
        }
    } catch (const StoreBusyError& e) {
        busy_ = true;
        log_line(LogLevel::warn, LogTags{},
                 std::string("notifications: ") + global_redactor().redact(e.what()) +
                     " (tried again in " + std::to_string(k_busy_backoff_ms / 1000) + " s)");
    } catch (const std::exception& e) {
        log_line(LogLevel::warn, LogTags{},
                 std::string("notifications: ") + global_redactor().redact(e.what()));
    }
}

}  // namespace plexus::notify
