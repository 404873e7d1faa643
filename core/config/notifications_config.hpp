// Notification channels provisioned in the configuration file (docs/configuration.md,
// "notifications"; issue 13): the same e-mail and webhook channels the portal's Notifications
// page sets, written by an operator who provisions hubs from files. A channel written in the
// file is the file's: `plexus serve` uses it as written, and the portal shows it read-only
// with the file and JSON path it comes from (as it does for the file's connections). A
// channel the file leaves out stays the portal's.
//
//   "notifications": {
//     "email":   {"server": "smtp.example.com", "port": 587, "security": "starttls",
//                 "from": "plexus@example.com", "to": ["ops@example.com"],
//                 "username": "plexus", "password": "${PLEXUS_SMTP_PASSWORD}"},
//     "webhook": {"url": "${PLEXUS_WEBHOOK_URL}"},
//     "digest_minutes": 15, "portal_url": "https://plexus.example.com/"
//   }
//
// Every text value may be "${NAME}", read from the environment at start; the SMTP password
// and the webhook URL (itself a credential for Slack and Teams) are secrets: never in an
// error message, redacted from every log line.
#pragma once

#include "config/settings.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace plexus {

struct NotifyEmailFile {
    bool present = false;  // written in the file
    bool enabled = true;   // "enabled": false keeps it written but off
    std::string server;
    int port = 587;
    std::string security = "starttls";  // "starttls", "tls" or "none"
    std::string from;
    std::vector<std::string> to;
    std::string username;
    std::string password;  // as written ("${ENV}") until resolved
    std::string json_path = "/notifications/email";
};

struct NotifyWebhookFile {
    bool present = false;
    bool enabled = true;
    std::string url;  // as written ("${ENV}") until resolved
    std::string json_path = "/notifications/webhook";
};

struct NotificationsConfig {
    NotifyEmailFile email;
    NotifyWebhookFile webhook;
    std::optional<double> digest_minutes;  // written: the file's, read-only in the portal
    std::optional<std::string> portal_url;
    bool present() const {
        return email.present || webhook.present || digest_minutes.has_value() || portal_url.has_value();
    }
};

// Reads the "notifications" object of a configuration document: types, ranges, choices,
// unknown and missing keys, each error with `file` and its JSON path. Values stay as written.
void parse_notifications(const nlohmann::json& value, const std::string& file,
                         NotificationsConfig& out, std::vector<ConfigError>& errors);

// The channels with every "${NAME}" read from `env`, and the values checked as the portal
// checks them (addresses, the webhook's scheme, the server's host name). Errors name the file,
// the JSON path and the variable, never a secret's value. The resolved secrets are appended
// to `secrets` (when given) for the redactor.
NotificationsConfig resolve_notifications(const NotificationsConfig& written, const Environment& env,
                                          const std::string& file, std::vector<ConfigError>& errors,
                                          std::vector<std::string>* secrets = nullptr);

// A plausible e-mail address: one @ with text on both sides, no spaces or list separators.
bool plausible_email_address(const std::string& address);

}  // namespace plexus
