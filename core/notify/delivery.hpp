// Delivering one notification: an e-mail over SMTP from the host, or a JSON POST to a
// webhook (Slack's and Teams' incoming webhooks both read its "text"). Both through libcurl
// (Debian's libcurl4-openssl-dev): smtp:// with optional STARTTLS, smtps://, https://, with
// certificates verified. docs/operations.md, "Notifications".
//
// Errors say what failed and where (server and port, or the webhook's host), never a
// password nor a webhook URL's path (a Slack or Teams webhook URL is itself a credential).
#pragma once

#include <string>
#include <vector>

namespace plexus::notify {

struct EmailServer {
    std::string server;                 // host name or address
    int port = 587;
    std::string security = "starttls";  // "starttls" (required), "tls" (smtps), "none"
    std::string username;               // empty: no AUTH
    std::string password;
    std::string from;
    std::vector<std::string> to;
    int timeout_s = 20;
};

struct Delivery {
    bool ok = false;
    std::string error;  // when not ok: what went wrong, for the admin
};

// Sends a text/plain UTF-8 message with `subject` and `body` (lines end in \n or \r\n).
Delivery send_email(const EmailServer& server, const std::string& subject, const std::string& body);

// POSTs `json_body` to `url` (http:// or https://) with Content-Type application/json; ok on
// any 2xx answer.
Delivery post_webhook(const std::string& url, const std::string& json_body, int timeout_s = 20);

// "https://hooks.slack.com" of a URL: what may be shown of it.
std::string url_origin(const std::string& url);

// A subject line as RFC 2047 encoded-word when it is not plain ASCII.
std::string encode_header(const std::string& text);

}  // namespace plexus::notify
