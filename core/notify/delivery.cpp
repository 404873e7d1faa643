#include "notify/delivery.hpp"

#include <curl/curl.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>

namespace plexus::notify {
namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Easy {
    CURL* h = nullptr;
    curl_slist* list = nullptr;
    char error[CURL_ERROR_SIZE] = {0};
    Easy() {
        global_init();
        h = curl_easy_init();
        if (h) {
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        }
    }
    ~Easy() {
        if (list) curl_slist_free_all(list);
        if (h) curl_easy_cleanup(h);
    }
    std::string describe(CURLcode code) const {
        std::string s = curl_easy_strerror(code);
        if (error[0] && std::strstr(error, s.c_str()) == nullptr) s += " (" + std::string(error) + ")";
        else if (error[0]) s = error;
        return s;
    }
};

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -6;
    for (unsigned char c : in) {
        val = (val << 8) + c;
        bits += 8;
        while (bits >= 0) {
            out.push_back(t[(val >> bits) & 0x3F]);
            bits -= 6;
        }
    }
    if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return out;
}

// Header values may not carry line breaks (a header injection through a process name).
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\r' || c == '\n') c = ' ';
    return s;
}

std::string rfc5322_date() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

struct Upload {
    std::string data;
    size_t pos = 0;
};

size_t read_upload(char* buffer, size_t size, size_t n, void* user) {
    auto* u = static_cast<Upload*>(user);
    const size_t room = size * n;
    const size_t left = u->data.size() - u->pos;
    const size_t take = left < room ? left : room;
    std::memcpy(buffer, u->data.data() + u->pos, take);
    u->pos += take;
    return take;
}

size_t collect(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<std::string*>(user);
    if (s->size() < 2000) s->append(data, size * n);
    return size * n;
}

std::string crlf(const std::string& text) {
    std::string out;
    out.reserve(text.size() + text.size() / 40);
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') continue;
        if (text[i] == '\n') out += "\r\n";
        else out.push_back(text[i]);
    }
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
    return out;
}

}  // namespace

std::string encode_header(const std::string& text) {
    const std::string t = one_line(text);
    bool ascii = true;
    for (unsigned char c : t) ascii = ascii && c < 0x80;
    if (ascii) return t;
    return "=?UTF-8?B?" + base64(t) + "?=";
}

std::string url_origin(const std::string& url) {
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos) return "(not a URL)";
    size_t end = url.find_first_of("/?#", scheme + 3);
    std::string host = url.substr(0, end);
    // user:password@host → host
    const size_t at = host.find('@', scheme + 3);
    if (at != std::string::npos) host = url.substr(0, scheme + 3) + host.substr(at + 1);
    return host;
}

Delivery send_email(const EmailServer& s, const std::string& subject, const std::string& body) {
    Delivery d;
    const std::string where = "SMTP server " + s.server + ":" + std::to_string(s.port);
    if (s.server.empty() || s.to.empty() || s.from.empty()) {
        d.error = "e-mail is not set up: it needs a server, a sender and at least one recipient";
        return d;
    }
    Easy e;
    if (!e.h) {
        d.error = "cannot start libcurl";
        return d;
    }
    const std::string scheme = s.security == "tls" ? "smtps://" : "smtp://";
    const std::string url = scheme + s.server + ":" + std::to_string(s.port);
    curl_easy_setopt(e.h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e.h, CURLOPT_USE_SSL,
                     s.security == "none" ? static_cast<long>(CURLUSESSL_NONE)
                                          : static_cast<long>(CURLUSESSL_ALL));
    if (!s.username.empty()) {
        curl_easy_setopt(e.h, CURLOPT_USERNAME, s.username.c_str());
        curl_easy_setopt(e.h, CURLOPT_PASSWORD, s.password.c_str());
    }
    const std::string from = "<" + one_line(s.from) + ">";
    curl_easy_setopt(e.h, CURLOPT_MAIL_FROM, from.c_str());
    std::string to_header;
    for (const auto& r : s.to) {
        e.list = curl_slist_append(e.list, ("<" + one_line(r) + ">").c_str());
        to_header += (to_header.empty() ? "" : ", ") + one_line(r);
    }
    curl_easy_setopt(e.h, CURLOPT_MAIL_RCPT, e.list);
    std::random_device rd;
    const std::string message_id =
        "<plexus." + std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) +
        "." + std::to_string(rd()) + "@" + one_line(s.server) + ">";
    Upload up;
    up.data = "Date: " + rfc5322_date() + "\r\nFrom: " + one_line(s.from) + "\r\nTo: " + to_header +
              "\r\nSubject: " + encode_header(subject) + "\r\nMessage-ID: " + message_id +
              "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n\r\n" +
              crlf(body);
    curl_easy_setopt(e.h, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(e.h, CURLOPT_READDATA, &up);
    curl_easy_setopt(e.h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e.h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e.h, CURLOPT_TIMEOUT, static_cast<long>(s.timeout_s));
    const CURLcode rc = curl_easy_perform(e.h);
    if (rc == CURLE_OK) {
        d.ok = true;
        return d;
    }
    long code = 0;
    curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &code);
    d.error = where + ": " + e.describe(rc);
    if (code > 0) d.error += " (the server answered " + std::to_string(code) + ")";
    if (rc == CURLE_LOGIN_DENIED) d.error += "; check the user name and password";
    else if (rc == CURLE_USE_SSL_FAILED)
        d.error += "; the server does not offer STARTTLS: choose TLS (port 465) or, on a trusted "
                   "network only, no encryption";
    return d;
}

Delivery post_webhook(const std::string& url, const std::string& json_body, int timeout_s) {
    Delivery d;
    const std::string where = "webhook " + url_origin(url);
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        d.error = "the webhook address must start with https:// (or http://)";
        return d;
    }
    Easy e;
    if (!e.h) {
        d.error = "cannot start libcurl";
        return d;
    }
    std::string answer;
    curl_easy_setopt(e.h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e.h, CURLOPT_PROTOCOLS_STR, "http,https");
    e.list = curl_slist_append(e.list, "Content-Type: application/json");
    curl_easy_setopt(e.h, CURLOPT_HTTPHEADER, e.list);
    curl_easy_setopt(e.h, CURLOPT_POSTFIELDS, json_body.c_str());
    curl_easy_setopt(e.h, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
    curl_easy_setopt(e.h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e.h, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(e.h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e.h, CURLOPT_TIMEOUT, static_cast<long>(timeout_s));
    const CURLcode rc = curl_easy_perform(e.h);
    if (rc != CURLE_OK) {
        d.error = where + ": " + e.describe(rc);
        return d;
    }
    long code = 0;
    curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        std::string text = answer.substr(0, 200);
        for (char& c : text)
            if (c == '\r' || c == '\n') c = ' ';
        d.error = where + " answered HTTP " + std::to_string(code) + (text.empty() ? "" : ": " + text);
        return d;
    }
    d.ok = true;
    return d;
}

}  // namespace plexus::notify
