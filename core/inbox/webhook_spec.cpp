#include "inbox/webhook_spec.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace plexus {
namespace {

using nlohmann::json;

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

const EVP_MD* digest_of(const std::string& algorithm) {
    if (algorithm == "hmac-sha256") return EVP_sha256();
    if (algorithm == "hmac-sha1") return EVP_sha1();
    if (algorithm == "hmac-sha512") return EVP_sha512();
    return nullptr;
}

// Reads {"header": "…"} or {"json": "/pointer"} at `path`.
bool parse_field(const json& v, const std::string& path, bool allow_json, WebhookField& out,
                 std::string& error) {
    if (!v.is_object()) {
        error = path + ": must be an object {\"header\": NAME}" +
                std::string(allow_json ? " or {\"json\": \"/json/pointer\"}" : "");
        return false;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& k = it.key();
        if (k == "header" || (allow_json && k == "json")) {
            if (!it->is_string() || it->get<std::string>().empty()) {
                error = path + "/" + k + ": must be a non-empty string";
                return false;
            }
            continue;
        }
        error = path + "/" + k + ": unknown key " + in_quotes(k) + "; known: header" +
                (allow_json ? ", json" : "");
        return false;
    }
    out.header = v.value("header", "");
    out.json_pointer = allow_json ? v.value("json", "") : "";
    if (out.header.empty() == out.json_pointer.empty()) {
        error = path + ": give exactly one of \"header\"" + std::string(allow_json ? " and \"json\"" : "");
        return false;
    }
    if (!out.json_pointer.empty()) {
        try {
            json::json_pointer p(out.json_pointer);
            (void)p;
        } catch (const std::exception&) {
            error = path + "/json: " + in_quotes(out.json_pointer) +
                    " is not a JSON pointer (it starts with /, e.g. \"/id\")";
            return false;
        }
    }
    return true;
}

bool check_keys(const json& v, const std::string& path, const std::set<std::string>& known,
                std::string& error) {
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (known.count(it.key())) continue;
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        error = path + "/" + it.key() + ": unknown key " + in_quotes(it.key()) + "; known keys: " + list;
        return false;
    }
    return true;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    const size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

}  // namespace

std::vector<std::string> WebhookSpec::entities_for(const std::string& topic) const {
    if (auto it = topics.find(topic); it != topics.end()) return it->second;
    // "orders/*": every topic starting with "orders/"; the longest such prefix wins.
    const std::vector<std::string>* best = nullptr;
    size_t best_len = 0;
    for (const auto& [pattern, entities] : topics) {
        if (pattern.size() < 2 || pattern.compare(pattern.size() - 2, 2, "/*") != 0) continue;
        const size_t len = pattern.size() - 1;  // "orders/"
        if (topic.size() >= len && topic.compare(0, len, pattern, 0, len) == 0 && len > best_len) {
            best = &entities;
            best_len = len;
        }
    }
    if (best) return *best;
    if (auto it = topics.find("*"); it != topics.end()) return it->second;
    return {};
}

std::optional<WebhookSpec> parse_webhook_spec(const json& w, const json& settings,
                                              const json& entities, bool dynamic_entities,
                                              std::string& error) {
    const std::string root = "/webhooks";
    if (!w.is_object()) {
        error = root + ": must be an object (secret_setting, signature, event_id, topics …)";
        return std::nullopt;
    }
    if (!check_keys(w, root, {"secret_setting", "signature", "timestamp", "event_id", "topic", "topics"},
                    error))
        return std::nullopt;
    WebhookSpec spec;

    // secret_setting: a declared setting marked secret.
    if (!w.contains("secret_setting") || !w["secret_setting"].is_string() ||
        w["secret_setting"].get<std::string>().empty()) {
        error = root + "/secret_setting: missing; name the secret setting that holds the shared secret";
        return std::nullopt;
    }
    spec.secret_setting = w["secret_setting"].get<std::string>();
    const json* declared = nullptr;
    if (settings.is_array())
        for (const auto& s : settings)
            if (s.is_object() && s.value("name", "") == spec.secret_setting) declared = &s;
    if (!declared) {
        error = root + "/secret_setting: " + in_quotes(spec.secret_setting) +
                " is not one of the manifest's settings";
        return std::nullopt;
    }
    if (!declared->value("secret", false)) {
        error = root + "/secret_setting: the setting " + in_quotes(spec.secret_setting) +
                " is not marked \"secret\": true (a shared secret must never be shown)";
        return std::nullopt;
    }

    // signature
    const std::string sp = root + "/signature";
    if (!w.contains("signature") || !w["signature"].is_object()) {
        error = sp + ": missing; an object {\"header\", \"algorithm\", \"encoding\", \"prefix\", \"signed\"}";
        return std::nullopt;
    }
    const json& sig = w["signature"];
    if (!check_keys(sig, sp, {"header", "algorithm", "encoding", "prefix", "signed"}, error))
        return std::nullopt;
    for (const char* k : {"header", "algorithm", "encoding", "prefix", "signed"}) {
        if (sig.contains(k) && !sig[k].is_string()) {
            error = sp + "/" + k + ": must be a string";
            return std::nullopt;
        }
    }
    spec.signature_header = sig.value("header", "");
    if (spec.signature_header.empty()) {
        error = sp + "/header: missing; the request header carrying the signature";
        return std::nullopt;
    }
    spec.algorithm = sig.value("algorithm", spec.algorithm);
    if (!digest_of(spec.algorithm)) {
        error = sp + "/algorithm: " + in_quotes(spec.algorithm) +
                " is not supported; use hmac-sha256 (or hmac-sha1, hmac-sha512)";
        return std::nullopt;
    }
    spec.encoding = sig.value("encoding", spec.encoding);
    if (spec.encoding != "hex" && spec.encoding != "base64") {
        error = sp + "/encoding: " + in_quotes(spec.encoding) + " is not hex or base64";
        return std::nullopt;
    }
    spec.prefix = sig.value("prefix", "");
    spec.signed_part = sig.value("signed", spec.signed_part);
    if (spec.signed_part != "body" && spec.signed_part != "timestamp.body") {
        error = sp + "/signed: " + in_quotes(spec.signed_part) + " is not body or timestamp.body";
        return std::nullopt;
    }

    // timestamp
    if (w.contains("timestamp")) {
        const std::string tp = root + "/timestamp";
        const json& t = w["timestamp"];
        if (!t.is_object()) {
            error = tp + ": must be an object {\"header\": NAME, \"tolerance_s\": SECONDS}";
            return std::nullopt;
        }
        if (!check_keys(t, tp, {"header", "tolerance_s"}, error)) return std::nullopt;
        if (!t.contains("header") || !t["header"].is_string() || t["header"].get<std::string>().empty()) {
            error = tp + "/header: missing; the request header carrying the Unix time in seconds";
            return std::nullopt;
        }
        spec.timestamp_header = t["header"].get<std::string>();
        if (t.contains("tolerance_s")) {
            if (!t["tolerance_s"].is_number_integer() || t["tolerance_s"].get<int64_t>() < 1 ||
                t["tolerance_s"].get<int64_t>() > 86400) {
                error = tp + "/tolerance_s: must be a whole number of seconds from 1 to 86400";
                return std::nullopt;
            }
            spec.tolerance_s = t["tolerance_s"].get<int64_t>();
        }
    }
    if (spec.signed_part == "timestamp.body" && spec.timestamp_header.empty()) {
        error = root + "/timestamp: missing; \"signed\": \"timestamp.body\" needs the timestamp's header";
        return std::nullopt;
    }

    // event_id (required: de-duplication), topic (optional)
    if (!w.contains("event_id")) {
        error = root + "/event_id: missing; where the event's id is ({\"header\": …} or {\"json\": …})";
        return std::nullopt;
    }
    if (!parse_field(w["event_id"], root + "/event_id", true, spec.event_id, error)) return std::nullopt;
    if (w.contains("topic") && !parse_field(w["topic"], root + "/topic", true, spec.topic, error))
        return std::nullopt;

    // topics → entities
    const std::string pp = root + "/topics";
    if (!w.contains("topics") || !w["topics"].is_object() || w["topics"].empty()) {
        error = pp + ": missing or empty; an object topic (or \"*\") → [entity, …]";
        return std::nullopt;
    }
    std::set<std::string> names;
    if (entities.is_array())
        for (const auto& e : entities)
            if (e.is_object()) names.insert(e.value("name", ""));
    for (auto it = w["topics"].begin(); it != w["topics"].end(); ++it) {
        const std::string path = pp + "/" + it.key();
        if (!it->is_array() || it->empty()) {
            error = path + ": must be a non-empty array of entity names";
            return std::nullopt;
        }
        std::vector<std::string> list;
        for (size_t i = 0; i < it->size(); ++i) {
            const json& e = (*it)[i];
            if (!e.is_string() || e.get<std::string>().empty()) {
                error = path + "/" + std::to_string(i) + ": must be an entity name";
                return std::nullopt;
            }
            if (!dynamic_entities && !names.count(e.get<std::string>())) {
                error = path + "/" + std::to_string(i) + ": " + in_quotes(e.get<std::string>()) +
                        " is not one of the manifest's entities";
                return std::nullopt;
            }
            list.push_back(e.get<std::string>());
        }
        if (spec.topic.empty() && it.key() != "*") {
            error = path + ": a topic other than \"*\" needs /webhooks/topic (where the event's topic is)";
            return std::nullopt;
        }
        spec.topics[it.key()] = std::move(list);
    }
    return spec;
}

std::string webhook_hmac(const std::string& algorithm, const std::string& key,
                         const std::string& message) {
    const EVP_MD* md = digest_of(algorithm);
    if (!md) return {};
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(md, key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len))
        return {};
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string hex_encode(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::optional<std::string> hex_decode(const std::string& text) {
    if (text.size() % 2) return std::nullopt;
    auto val = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size() / 2);
    for (size_t i = 0; i < text.size(); i += 2) {
        const int hi = val(text[i]), lo = val(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

std::string base64_encode(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(std::max(n, 0)));
    return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
    if (text.empty() || text.size() % 4) return std::nullopt;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool pad = c == '=' && i + 2 >= text.size();
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || pad))
            return std::nullopt;
    }
    std::string out(3 * text.size() / 4, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    size_t len = static_cast<size_t>(n);
    // EVP_DecodeBlock counts padding as zero bytes.
    if (text.size() >= 1 && text[text.size() - 1] == '=') --len;
    if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
    out.resize(len);
    return out;
}

WebhookCheck verify_webhook(const WebhookSpec& spec, const std::string& secret,
                            const HeaderLookup& header, const std::string& body, int64_t now_s) {
    if (secret.empty()) return {false, "the connection has no webhook secret configured"};
    auto sent = header(spec.signature_header);
    if (!sent || trim(*sent).empty()) return {false, "missing signature header"};
    std::string value = trim(*sent);
    if (!spec.prefix.empty()) {
        // The prefix is case-insensitive ("sha256=" / "SHA256="); without it the value is refused.
        if (value.size() < spec.prefix.size() ||
            lower(value.substr(0, spec.prefix.size())) != lower(spec.prefix))
            return {false, "signature header lacks its prefix"};
        value = value.substr(spec.prefix.size());
    }
    auto given = spec.encoding == "hex" ? hex_decode(value) : base64_decode(value);
    if (!given) return {false, "signature header is not " + spec.encoding};

    std::string message;
    if (spec.signed_part == "timestamp.body") {
        auto ts = header(spec.timestamp_header);
        const std::string t = ts ? trim(*ts) : std::string();
        if (t.empty() || t.size() > 12 || t.find_first_not_of("0123456789") != std::string::npos)
            return {false, "missing or malformed timestamp header"};
        const int64_t when = std::stoll(t);
        if (when > now_s + spec.tolerance_s || when < now_s - spec.tolerance_s)
            return {false, "stale timestamp (outside the " + std::to_string(spec.tolerance_s) +
                               " s tolerance)"};
        message.reserve(t.size() + 1 + body.size());
        message.append(t).append(1, '.').append(body);
    } else if (!spec.timestamp_header.empty()) {
        // A timestamp that is not signed still bounds the replay window when present.
        if (auto ts = header(spec.timestamp_header)) {
            const std::string t = trim(*ts);
            if (t.empty() || t.size() > 12 || t.find_first_not_of("0123456789") != std::string::npos)
                return {false, "malformed timestamp header"};
            const int64_t when = std::stoll(t);
            if (when > now_s + spec.tolerance_s || when < now_s - spec.tolerance_s)
                return {false, "stale timestamp (outside the " + std::to_string(spec.tolerance_s) +
                                   " s tolerance)"};
        }
    }
    const std::string expected =
        webhook_hmac(spec.algorithm, secret, spec.signed_part == "body" ? body : message);
    // Constant time over the digest's length: the comparison takes as long whichever byte
    // differs, so a sender cannot find the signature byte by byte.
    if (expected.empty() || given->size() != expected.size() ||
        CRYPTO_memcmp(given->data(), expected.data(), expected.size()) != 0)
        return {false, "signature mismatch"};
    return {true, {}};
}

std::optional<WebhookIdentity> webhook_identity(const WebhookSpec& spec, const HeaderLookup& header,
                                                const json& body, std::string& error) {
    auto read = [&](const WebhookField& f) -> std::optional<std::string> {
        if (!f.header.empty()) {
            auto v = header(f.header);
            if (!v) return std::nullopt;
            std::string t = trim(*v);
            if (t.empty()) return std::nullopt;
            return t;
        }
        try {
            const json& v = body.at(json::json_pointer(f.json_pointer));
            if (v.is_string()) return v.get<std::string>();
            if (v.is_number_integer()) return v.dump();
        } catch (const std::exception&) {
        }
        return std::nullopt;
    };
    WebhookIdentity out;
    auto id = read(spec.event_id);
    if (!id || id->empty()) {
        error = "the event has no id (" +
                (spec.event_id.header.empty() ? "body " + spec.event_id.json_pointer
                                              : "header " + spec.event_id.header) +
                ")";
        return std::nullopt;
    }
    if (id->size() > 200) {
        error = "the event id is longer than 200 characters";
        return std::nullopt;
    }
    out.id = *id;
    if (!spec.topic.empty()) out.topic = read(spec.topic).value_or("");
    if (out.topic.size() > 200) {
        error = "the event topic is longer than 200 characters";
        return std::nullopt;
    }
    return out;
}

}  // namespace plexus
