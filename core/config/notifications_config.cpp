#include "config/notifications_config.hpp"

#include <algorithm>
#include <cmath>

namespace plexus {
namespace {

using json = nlohmann::json;

const std::vector<std::string> k_top = {"email", "webhook", "digest_minutes", "portal_url"};
const std::vector<std::string> k_email = {"enabled", "server", "port",     "security",
                                          "from",    "to",     "username", "password"};
const std::vector<std::string> k_webhook = {"enabled", "url"};

struct Errors {
    const std::string& file;
    std::vector<ConfigError>& list;
    void operator()(const std::string& path, const std::string& message) {
        list.push_back(ConfigError{file, path, message});
    }
};

void unknown_keys(const json& obj, const std::string& path, const std::vector<std::string>& known,
                  const std::string& where, Errors& error) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        if (std::find(known.begin(), known.end(), it.key()) != known.end() || is_comment_key(it.key()))
            continue;
        error(path + "/" + json_pointer_segment(it.key()),
              "unknown key \"" + it.key() + "\" in " + where + suggestion(it.key(), known, "keys"));
    }
}

// A text member; `secret`: its value is never quoted in a message.
bool text(const json& obj, const char* key, const std::string& path, std::string& out,
          bool secret, Errors& error) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return false;
    if (!it->is_string()) {
        error(path + "/" + key, std::string("\"") + key + "\" must be a string, got " + describe_type(*it) +
                                    (secret ? "" : " (" + quote_value(*it) + ")"));
        return false;
    }
    out = it->get<std::string>();
    return true;
}

bool flag(const json& obj, const std::string& path, bool& out, Errors& error) {
    auto it = obj.find("enabled");
    if (it == obj.end()) return false;
    if (!it->is_boolean()) {
        error(path + "/enabled", "\"enabled\" must be true or false, got " + quote_value(*it));
        return false;
    }
    out = it->get<bool>();
    return true;
}

std::string trimmed(std::string t) {
    t.erase(0, t.find_first_not_of(" \t"));
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
    return t;
}

// "${NAME}" → the variable's text (error when unset); anything else as written.
bool resolve(std::string& value, const std::string& path, const std::string& what, bool secret,
             const Environment& env, Errors& error, std::vector<std::string>* secrets) {
    const std::string var = env_reference_name(value);
    if (!var.empty()) {
        std::optional<std::string> got = env ? env(var) : std::nullopt;
        if (!got) {
            error(path, "environment variable " + var + " (" + what +
                            ") is not set; set it in the environment Plexus starts in" +
                            (secret ? "" : " or write the value here"));
            return false;
        }
        value = *got;
    }
    if (secret && secrets && !value.empty()) secrets->push_back(value);
    return true;
}

}  // namespace

bool plausible_email_address(const std::string& a) {
    const size_t at = a.find('@');
    return at != std::string::npos && at > 0 && at + 1 < a.size() && a.size() <= 254 &&
           a.find('@', at + 1) == std::string::npos &&
           a.find_first_of(" \t\r\n<>,;\"") == std::string::npos;
}

void parse_notifications(const json& value, const std::string& file, NotificationsConfig& out,
                         std::vector<ConfigError>& errors) {
    Errors error{file, errors};
    const std::string path = "/notifications";
    if (!value.is_object()) {
        error(path, "\"notifications\" must be an object {\"email\": {…}, \"webhook\": {…}}, got " +
                        describe_type(value));
        return;
    }
    unknown_keys(value, path, k_top, "\"notifications\"", error);
    if (auto e = value.find("email"); e != value.end()) {
        const std::string p = path + "/email";
        NotifyEmailFile& m = out.email;
        if (!e->is_object()) {
            error(p, "\"email\" must be an object {\"server\", \"port\", \"security\", \"from\", "
                     "\"to\", \"username\", \"password\"}, got " + describe_type(*e));
        } else {
            m.present = true;
            unknown_keys(*e, p, k_email, "\"notifications/email\"", error);
            flag(*e, p, m.enabled, error);
            if (!text(*e, "server", p, m.server, false, error) && !e->contains("server"))
                error(p, "missing \"server\": the SMTP server's host name, e.g. \"smtp.example.com\"");
            text(*e, "from", p, m.from, false, error);
            if (!e->contains("from")) error(p, "missing \"from\": the sender's address, e.g. \"plexus@example.com\"");
            text(*e, "username", p, m.username, false, error);
            text(*e, "password", p, m.password, true, error);
            if (auto v = e->find("port"); v != e->end()) {
                if (!v->is_number_integer() || v->get<int64_t>() < 1 || v->get<int64_t>() > 65535)
                    error(p + "/port", "\"port\" must be a port number from 1 to 65535 (587 for "
                                       "STARTTLS, 465 for TLS), got " + quote_value(*v));
                else
                    m.port = v->get<int>();
            }
            if (auto v = e->find("security"); v != e->end()) {
                const std::string t = v->is_string() ? v->get<std::string>() : "";
                if (t != "starttls" && t != "tls" && t != "none")
                    error(p + "/security", "\"security\" must be \"starttls\", \"tls\" or \"none\", got " +
                                               quote_value(*v));
                else
                    m.security = t;
            }
            if (auto v = e->find("to"); v == e->end()) {
                error(p, "missing \"to\": the recipients, e.g. [\"ops@example.com\"]");
            } else if (v->is_string()) {
                m.to.push_back(v->get<std::string>());
            } else if (!v->is_array() || v->empty()) {
                error(p + "/to", "\"to\" must be a non-empty array of e-mail addresses, got " + describe_type(*v));
            } else if (v->size() > 50) {
                error(p + "/to", "at most 50 recipients (use a mailing list)");
            } else {
                for (size_t i = 0; i < v->size(); ++i) {
                    if (!(*v)[i].is_string())
                        error(p + "/to/" + std::to_string(i),
                              "a recipient must be a string, got " + describe_type((*v)[i]));
                    else
                        m.to.push_back((*v)[i].get<std::string>());
                }
            }
        }
    }
    if (auto w = value.find("webhook"); w != value.end()) {
        const std::string p = path + "/webhook";
        NotifyWebhookFile& h = out.webhook;
        if (!w->is_object()) {
            error(p, "\"webhook\" must be an object {\"url\": \"${PLEXUS_WEBHOOK_URL}\"}, got " + describe_type(*w));
        } else {
            h.present = true;
            unknown_keys(*w, p, k_webhook, "\"notifications/webhook\"", error);
            flag(*w, p, h.enabled, error);
            if (!text(*w, "url", p, h.url, true, error) && !w->contains("url"))
                error(p, "missing \"url\": the webhook's address, best as \"${PLEXUS_WEBHOOK_URL}\" "
                         "(a Slack or Teams webhook address is a credential)");
        }
    }
    if (auto v = value.find("digest_minutes"); v != value.end()) {
        if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < 0 ||
            v->get<double>() > 1440)
            error(path + "/digest_minutes",
                  "\"digest_minutes\" must be a number of minutes from 0 (each as it comes) to 1440 "
                  "(daily), got " + quote_value(*v));
        else
            out.digest_minutes = v->get<double>();
    }
    if (auto v = value.find("portal_url"); v != value.end()) {
        std::string t;
        if (text(value, "portal_url", path, t, false, error)) out.portal_url = t;
    }
}

NotificationsConfig resolve_notifications(const NotificationsConfig& written, const Environment& env,
                                          const std::string& file, std::vector<ConfigError>& errors,
                                          std::vector<std::string>* secrets) {
    Errors error{file, errors};
    NotificationsConfig r = written;
    if (r.email.present) {
        NotifyEmailFile& m = r.email;
        const std::string& p = m.json_path;
        if (resolve(m.server, p + "/server", "the SMTP server", false, env, error, secrets)) {
            m.server = trimmed(m.server);
            if (m.server.empty())
                error(p + "/server", "\"server\" is empty; give the SMTP server's host name");
            else if (m.server.find_first_of(" /:@\r\n") != std::string::npos)
                error(p + "/server", "give the server's host name only, e.g. smtp.example.com (the port "
                                     "is \"port\"), got " + quote_value(m.server));
        }
        if (resolve(m.from, p + "/from", "the sender", false, env, error, secrets)) {
            m.from = trimmed(m.from);
            if (!plausible_email_address(m.from))
                error(p + "/from", quote_value(m.from) + " is not an e-mail address");
        }
        for (size_t i = 0; i < m.to.size(); ++i) {
            const std::string ip = p + "/to" + (written.email.to.size() == 1 && i == 0 ? "" : "/" + std::to_string(i));
            if (!resolve(m.to[i], ip, "a recipient", false, env, error, secrets)) continue;
            m.to[i] = trimmed(m.to[i]);
            if (!plausible_email_address(m.to[i]))
                error(ip, quote_value(m.to[i]) + " is not an e-mail address");
        }
        if (resolve(m.username, p + "/username", "the SMTP user", false, env, error, secrets))
            m.username = trimmed(m.username);
        resolve(m.password, p + "/password", "the SMTP password", true, env, error, secrets);
        if (!m.password.empty() && m.username.empty())
            error(p, "\"password\" is given without \"username\"; give both, or neither for a server "
                     "that takes mail without logging in");
    }
    if (r.webhook.present) {
        NotifyWebhookFile& h = r.webhook;
        const std::string p = h.json_path + "/url";
        if (resolve(h.url, p, "the webhook's address", true, env, error, secrets)) {
            // The address is a credential: only its scheme is described, never the value.
            if ((h.url.rfind("https://", 0) != 0 && h.url.rfind("http://", 0) != 0) ||
                h.url.find_first_of(" \r\n") != std::string::npos)
                error(p, "\"url\" must be the webhook's address, starting with https://");
        }
    }
    if (r.portal_url) {
        std::string& t = *r.portal_url;
        if (resolve(t, "/notifications/portal_url", "the portal's address", false, env, error, secrets) &&
            !t.empty() && t.rfind("https://", 0) != 0 && t.rfind("http://", 0) != 0)
            error("/notifications/portal_url",
                  "\"portal_url\" must be the portal's address as people open it, e.g. "
                  "https://plexus.example.com/, got " + quote_value(t));
    }
    return r;
}

}  // namespace plexus
