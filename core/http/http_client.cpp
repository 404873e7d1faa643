#include "http/http_client.hpp"

#include <httplib.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "common/redactor.hpp"

namespace plexus {

// A parsed request URL. `display` is what error messages may show: scheme://host:port/path,
// never the query string (it may carry tokens), run through the global redactor (a path may
// carry one too: /bot<token>/sendMessage).
struct HttpClient::Target {
    bool https = false;
    std::string host;  // lower case; IPv6 without brackets
    int port = 0;
    std::string target;    // path?query as sent on the request line
    std::string pool_key;  // scheme://host:port
    std::string display;
};

struct HttpClient::Attempt {
    bool got_response = false;
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    httplib::Error error = httplib::Error::Success;
    std::string detail;  // failure description, without method or URL
};

namespace {

constexpr std::size_t kMaxDisplayedPath = 200;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// RFC 9110 token characters (method and header names).
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return std::isalnum(c) ||
               std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
    });
}

// Bytes that can never appear raw in a request target (they would break, or split, the
// request line) are percent-encoded; everything else is sent as the connector wrote it.
std::string sanitize_target(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c <= 0x20 || c >= 0x7f) {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string describe_error(httplib::Error error, int64_t timeout_ms) {
    using E = httplib::Error;
    const std::string after = std::to_string(timeout_ms) + " ms";
    switch (error) {
        case E::Connection:
            return "could not connect (connection refused, host unreachable or name not resolved)";
        case E::ConnectionTimeout:
            return "connecting timed out after " + after;
        case E::Read:
            return "no complete response (read timed out after " + after +
                   ", or the connection was closed)";
        case E::Write:
            return "could not send the request (write timed out after " + after +
                   ", or the connection was closed)";
        case E::SSLConnection:
            return "TLS handshake failed";
        case E::SSLServerVerification:
            return "TLS certificate verification failed";
        case E::SSLLoadingCerts:
            return "could not load the CA certificates";
        case E::Canceled:
            return "cancelled";
        case E::Compression:
            return "could not decompress the response body";
        default:
            return "request failed (" + httplib::to_string(error) + ")";
    }
}

// Failures worth another attempt: the network or the server may behave differently next time.
// A certificate that does not verify, or a CA bundle that does not load, will not.
bool is_retryable(httplib::Error error) {
    using E = httplib::Error;
    switch (error) {
        case E::Connection:
        case E::ConnectionTimeout:
        case E::Read:
        case E::Write:
        case E::SSLConnection:
        case E::Unknown:
            return true;
        default:
            return false;
    }
}

void split_ms(int64_t ms, time_t& sec, time_t& usec) {
    sec = static_cast<time_t>(ms / 1000);
    usec = static_cast<time_t>((ms % 1000) * 1000);
}

const std::string* find_header(const std::vector<std::pair<std::string, std::string>>& headers,
                               std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) return &value;
    }
    return nullptr;
}

// Days since 1970-01-01 of a proleptic Gregorian date; nullopt when the date does not exist.
std::optional<int64_t> days_from_civil(int y, int m, int d) {
    using namespace std::chrono;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(m)},
                             day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    return sys_days{ymd}.time_since_epoch().count();
}

int month_index(const char* name) {
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
        if (iequals(name, months[i])) return i + 1;
    }
    return 0;
}

// HTTP-date (RFC 9110 §5.6.7) in any of its three forms, as Unix epoch milliseconds.
std::optional<int64_t> parse_http_date_ms(const std::string& s) {
    char mon[4] = {};
    int day = 0, year = 0, hh = 0, mm = 0, ss = 0, consumed = 0;
    bool parsed = false;
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    if (std::sscanf(s.c_str(), "%*3[A-Za-z], %d %3[A-Za-z] %d %d:%d:%d GMT%n", &day, mon, &year,
                    &hh, &mm, &ss, &consumed) == 6 &&
        consumed == static_cast<int>(s.size())) {
        parsed = true;
    }
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    if (!parsed &&
        std::sscanf(s.c_str(), "%*[A-Za-z], %d-%3[A-Za-z]-%d %d:%d:%d GMT%n", &day, mon, &year, &hh,
                    &mm, &ss, &consumed) == 6 &&
        consumed == static_cast<int>(s.size())) {
        if (year < 100) year += year < 70 ? 2000 : 1900;
        parsed = true;
    }
    // asctime: Sun Nov  6 08:49:37 1994
    if (!parsed &&
        std::sscanf(s.c_str(), "%*3[A-Za-z] %3[A-Za-z] %d %d:%d:%d %d%n", mon, &day, &hh, &mm, &ss,
                    &year, &consumed) == 6 &&
        consumed == static_cast<int>(s.size())) {
        parsed = true;
    }
    if (!parsed) return std::nullopt;
    const int month = month_index(mon);
    if (month == 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) {
        return std::nullopt;
    }
    const auto days = days_from_civil(year, month, day);
    if (!days) return std::nullopt;
    return ((*days * 24 + hh) * 60 + mm) * 60'000LL + ss * 1000LL;
}

}  // namespace

std::optional<int64_t> parse_retry_after_ms(std::string_view value, int64_t now_ms) {
    value = trim(value);
    if (value.empty()) return std::nullopt;
    if (std::isdigit(static_cast<unsigned char>(value.front()))) {
        double seconds = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds,
                                               std::chars_format::fixed);
        if (ec == std::errc::result_out_of_range) return std::numeric_limits<int64_t>::max();
        if (ec != std::errc{} || end != value.data() + value.size() || !std::isfinite(seconds) ||
            seconds < 0) {
            return std::nullopt;
        }
        if (seconds >= 9e12) return std::numeric_limits<int64_t>::max();
        return static_cast<int64_t>(std::ceil(seconds * 1000.0));
    }
    const auto date = parse_http_date_ms(std::string(value));
    if (!date) return std::nullopt;
    return std::max<int64_t>(0, *date - now_ms);
}

std::optional<HttpClient::Target> HttpClient::parse_target(std::string_view url, std::string& why) {
    Target t;
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) {
        why = "expected an absolute URL, scheme://host[:port]/path";
        return std::nullopt;
    }
    const std::string scheme = to_lower(url.substr(0, sep));
    if (scheme != "http" && scheme != "https") {
        why = "the scheme must be http or https";
        return std::nullopt;
    }
    t.https = scheme == "https";
    std::string_view rest = url.substr(sep + 3);
    const auto authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view path_query =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

    if (authority.find('@') != std::string_view::npos) {
        why = "credentials in the URL are not supported; send an Authorization header";
        return std::nullopt;
    }
    std::string_view host;
    std::string_view port;
    bool ipv6 = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "unterminated IPv6 address";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        ipv6 = true;
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                why = "unexpected characters after the IPv6 address";
                return std::nullopt;
            }
            port = after.substr(1);
        }
        if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
            })) {
            why = "invalid IPv6 address";
            return std::nullopt;
        }
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
        if (host.empty()) {
            why = "missing host";
            return std::nullopt;
        }
        if (!std::all_of(host.begin(), host.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
                       c == '_';
            })) {
            why = "invalid character in the host name";
            return std::nullopt;
        }
    }
    t.port = t.https ? 443 : 80;
    if (!port.empty()) {
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535) {
            why = "invalid port";
            return std::nullopt;
        }
        t.port = value;
    }
    t.host = to_lower(host);

    if (const auto hash = path_query.find('#'); hash != std::string_view::npos) {
        path_query = path_query.substr(0, hash);  // fragments are never sent
    }
    std::string target = sanitize_target(path_query);
    if (target.empty() || target.front() != '/') target.insert(target.begin(), '/');
    t.target = std::move(target);

    const std::string host_part = ipv6 ? "[" + t.host + "]" : t.host;
    t.pool_key = scheme + "://" + host_part + ":" + std::to_string(t.port);
    std::string path = t.target.substr(0, t.target.find('?'));
    if (path.size() > kMaxDisplayedPath) path = path.substr(0, kMaxDisplayedPath) + "...";
    t.display = global_redactor().redact(t.pool_key + path);
    return t;
}

HttpClient::HttpClient(Clock& clock, RetryPolicy policy, std::string ca_bundle)
    : clock_(clock), policy_(policy), ca_bundle_(std::move(ca_bundle)) {}

HttpClient::~HttpClient() = default;

std::unique_ptr<httplib::ClientImpl> HttpClient::checkout(const Target& target) {
    {
        std::lock_guard lock(pool_mutex_);
        auto it = idle_.find(target.pool_key);
        if (it != idle_.end() && !it->second.empty()) {
            auto client = std::move(it->second.back());
            it->second.pop_back();
            return client;
        }
    }
    std::unique_ptr<httplib::ClientImpl> client;
    if (target.https) {
        auto tls = std::make_unique<httplib::SSLClient>(target.host, target.port);
        tls->enable_server_certificate_verification(true);
        if (!ca_bundle_.empty()) tls->set_ca_cert_path(ca_bundle_);
        client = std::move(tls);
    } else {
        client = std::make_unique<httplib::ClientImpl>(target.host, target.port);
    }
    client->set_keep_alive(true);
    client->set_url_encode(false);  // the connector's URL is sent as written (already encoded)
    client->set_follow_location(false);
    client->set_tcp_nodelay(true);
    return client;
}

void HttpClient::checkin(const std::string& key, std::unique_ptr<httplib::ClientImpl> client) {
    std::lock_guard lock(pool_mutex_);
    auto& idle = idle_[key];
    if (idle.size() < policy_.max_idle_per_host) idle.push_back(std::move(client));
}

HttpClient::Attempt HttpClient::attempt_once(
    const Target& target, const HttpRequestSpec& request,
    const std::vector<std::pair<std::string, std::string>>& headers, int64_t timeout_ms) {
    Attempt attempt;
    auto client = checkout(target);
    if (!client->is_valid()) {
        attempt.error = httplib::Error::SSLConnection;
        attempt.detail = "could not initialise TLS";
        return attempt;
    }
    time_t sec = 0, usec = 0;
    split_ms(timeout_ms, sec, usec);
    client->set_connection_timeout(sec, usec);
    client->set_read_timeout(sec, usec);
    client->set_write_timeout(sec, usec);

    httplib::Request req;
    req.method = request.method;
    req.path = target.target;
    for (const auto& [name, value] : headers) req.headers.emplace(name, value);
    if (!req.has_header("User-Agent")) req.headers.emplace("User-Agent", "plexus");
    // httplib decodes these itself (see below); saves most of the bytes of a JSON sync.
    if (!req.has_header("Accept-Encoding")) req.headers.emplace("Accept-Encoding", "gzip, deflate");
    req.body = request.body;

    auto result = client->send(req);
    if (!result) {
        attempt.error = result.error();
        attempt.detail = describe_error(attempt.error, timeout_ms);
        if (attempt.error == httplib::Error::SSLServerVerification) {
            if (auto* tls = dynamic_cast<httplib::SSLClient*>(client.get())) {
                const long code = tls->get_openssl_verify_result();
                attempt.detail += ": ";
                // The chain verified but httplib's own host check failed.
                attempt.detail += code == X509_V_OK
                                      ? "the certificate is not valid for " + target.host
                                      : X509_verify_cert_error_string(code);
                attempt.detail += ca_bundle_.empty()
                                      ? " (checked against the system CA store)"
                                      : " (checked against the configured CA bundle)";
            }
        }
        return attempt;  // the client is dropped: its connection is in an unknown state
    }
    attempt.got_response = true;
    attempt.status = result->status;
    attempt.body = std::move(result->body);
    // httplib decodes gzip/deflate/br bodies itself; drop the header so the connector does not
    // decode again, and make Content-Length describe the body it gets.
    bool decoded = false;
    for (const auto& [name, value] : result->headers) {
        if (iequals(name, "Content-Encoding")) {
            const auto v = to_lower(trim(value));
            if (v == "gzip" || v == "deflate" || v == "br") decoded = true;
        }
    }
    attempt.headers.reserve(result->headers.size());
    for (auto& [name, value] : result->headers) {
        if (decoded && iequals(name, "Content-Encoding")) continue;
        if (decoded && iequals(name, "Content-Length")) {
            attempt.headers.emplace_back(name, std::to_string(attempt.body.size()));
            continue;
        }
        attempt.headers.emplace_back(name, value);
    }
    checkin(target.pool_key, std::move(client));
    return attempt;
}

bool HttpClient::wait(int64_t ms, const std::function<bool()>& cancelled) {
    while (ms > 0) {
        if (cancelled && cancelled()) return false;
        const int64_t slice = std::min(ms, kSleepSliceMs);
        clock_.sleep_ms(slice);
        ms -= slice;
    }
    return !(cancelled && cancelled());
}

int64_t HttpClient::backoff_ms(int retry_index) {
    const int64_t max = std::max<int64_t>(0, policy_.max_backoff_ms);
    int64_t cap = std::max<int64_t>(0, policy_.base_backoff_ms);
    for (int i = 0; i < retry_index && cap < max; ++i) cap *= 2;
    cap = std::min(cap, max);
    if (cap <= 0) return 0;
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_int_distribution<int64_t>(0, cap)(rng);
}

HttpResult HttpClient::send(const HttpRequestSpec& request, RateGovernor* governor,
                            const std::function<bool()>& cancelled,
                            const std::function<void(const std::string&)>& note,
                            const WaitObserver& on_wait) {
    HttpResult result;
    // A wait announced to on_wait is over when the next attempt goes out or send() returns.
    bool announced = false;
    const std::function<void(WaitReason)> tell = [&](WaitReason w) {
        if (!on_wait) return;
        announced = w.kind != WaitReason::Kind::none;
        on_wait(w);
    };
    struct Over {
        const std::function<void(WaitReason)>& tell;
        bool& announced;
        ~Over() {
            if (announced) tell(WaitReason{});
        }
    } over{tell, announced};
    const auto is_cancelled = [&cancelled] { return cancelled && cancelled(); };
    const std::string method = is_token(request.method) ? request.method : std::string("?");

    auto invalid = [&](const std::string& why) {
        result.invalid_request = true;
        result.error = global_redactor().redact(method + ": invalid request: " + why);
        return result;
    };
    if (!is_token(request.method)) return invalid("the method must be a token such as GET");
    std::string why;
    const auto target = parse_target(request.url, why);
    if (!target) return invalid("malformed URL: " + why);
    for (std::size_t i = 0; i < request.headers.size(); ++i) {
        const auto& [name, value] = request.headers[i];
        if (!is_token(name)) {
            return invalid("header #" + std::to_string(i + 1) + " has an invalid name");
        }
        if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            return invalid("header " + name + " has a value containing CR, LF or NUL");
        }
    }

    int attempts = 0;
    const auto prefix = [&] { return method + " " + target->display + ": "; };
    const auto stop_cancelled = [&] {
        result = HttpResult{};
        result.attempts = attempts;
        result.cancelled = true;
        result.error = prefix() + "cancelled";
        return result;
    };

    const int64_t timeout_ms = request.timeout_ms > 0
                                   ? request.timeout_ms
                                   : std::max<int64_t>(1, policy_.default_timeout_ms);
    const int max_attempts = request.no_retry ? 1 : std::max(1, policy_.max_attempts);
    for (;;) {
        if (is_cancelled()) return stop_cancelled();
        if (governor) {
            const int64_t before = clock_.now_ms();
            const auto budget_wait = [&](int64_t ms, bool paused) {
                WaitReason w;
                w.kind = WaitReason::Kind::rate_limit;
                w.ms = ms;
                w.api_said = paused;
                tell(std::move(w));
            };
            if (!governor->acquire(cancelled, budget_wait)) return stop_cancelled();
            const int64_t waited = clock_.now_ms() - before;
            if (note && waited >= kSleepSliceMs)
                note(prefix() + "waited " + std::to_string(waited) +
                     " ms for the connection's rate budget");
        }
        if (is_cancelled()) return stop_cancelled();
        if (announced) tell(WaitReason{});

        Attempt attempt = attempt_once(*target, request, request.headers, timeout_ms);
        ++attempts;
        const bool last = attempts >= max_attempts;

        result = HttpResult{};
        result.attempts = attempts;
        int64_t wait_ms = 0;
        std::string reason;
        if (attempt.got_response) {
            result.got_response = true;
            result.status = attempt.status;
            result.headers = std::move(attempt.headers);
            result.body = std::move(attempt.body);
            const int status = result.status;
            if (status != 429 && (status < 500 || status > 599)) return result;
            if (last) return result;
            const std::string* retry_after = find_header(result.headers, "Retry-After");
            std::optional<int64_t> hinted;
            if (retry_after) hinted = parse_retry_after_ms(*retry_after, clock_.now_ms());
            reason = "HTTP " + std::to_string(status) +
                     (retry_after ? " with Retry-After \"" + retry_after->substr(0, 40) + "\""
                                  : std::string());
            if (status == 429) {
                wait_ms = std::min(hinted.value_or(policy_.default_retry_after_ms),
                                   policy_.max_retry_after_ms);
                // The API throttles the connection, not this request: everyone waits.
                if (governor) governor->pause_for(wait_ms);
            } else if (status == 503 && hinted) {
                wait_ms = std::min(*hinted, policy_.max_retry_after_ms);
            } else {
                wait_ms = backoff_ms(attempts - 1);
            }
        } else {
            result.error = global_redactor().redact(prefix() + attempt.detail);
            if (!is_retryable(attempt.error)) return result;
            if (last) {
                if (attempts > 1)
                    result.error += "; gave up after " + std::to_string(attempts) + " attempts";
                return result;
            }
            wait_ms = backoff_ms(attempts - 1);
            reason = attempt.detail;
        }
        if (note)
            note(global_redactor().redact(prefix() + reason + ": retrying in " +
                                          std::to_string(wait_ms) + " ms (attempt " +
                                          std::to_string(attempts + 1) + " of " +
                                          std::to_string(max_attempts) + ")"));
        if (on_wait) {
            WaitReason w;
            w.kind = WaitReason::Kind::retry;
            w.ms = wait_ms;
            w.status = result.got_response ? result.status : 0;
            if (!result.got_response) w.error = global_redactor().redact(reason);
            w.attempt = attempts + 1;
            w.max_attempts = max_attempts;
            tell(std::move(w));
        }
        if (!wait(wait_ms, cancelled)) return stop_cancelled();
    }
}

}  // namespace plexus
