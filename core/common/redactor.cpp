#include "common/redactor.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

namespace plexus {

namespace {

constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";

bool is_unreserved(unsigned char c) {  // RFC 3986 §2.3
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// Percent-encoding as encoders in the wild do it. `keep` lists characters left as they are in
// addition to the unreserved set (JavaScript's encodeURIComponent keeps !'()*); `plus_space`
// writes a space as '+' (application/x-www-form-urlencoded).
std::string url_encode(std::string_view s, const char* hex, std::string_view keep,
                       bool plus_space) {
    std::string out;
    out.reserve(s.size() * 3);
    for (unsigned char c : s) {
        if (is_unreserved(c) || keep.find(static_cast<char>(c)) != std::string_view::npos) {
            out += static_cast<char>(c);
        } else if (c == ' ' && plus_space) {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
    return out;
}

// JSON string escaping as nlohmann::json::dump() writes it (the project's serialiser), with
// variants for serialisers that also escape '/' or write \u00XX in upper case.
std::string json_escape(std::string_view s, bool escape_slash, const char* hex) {
    std::string out;
    out.reserve(s.size() + 8);
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '/':
                out += escape_slash ? "\\/" : "/";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out;
}

std::vector<std::string> forms_of(const std::string& secret) {
    std::vector<std::string> forms{secret};
    for (bool plus : {false, true}) {
        forms.push_back(url_encode(secret, kHexUpper, {}, plus));
        forms.push_back(url_encode(secret, kHexLower, {}, plus));
        forms.push_back(url_encode(secret, kHexUpper, "!'()*", plus));
    }
    forms.push_back(json_escape(secret, false, kHexLower));
    forms.push_back(json_escape(secret, true, kHexLower));
    forms.push_back(json_escape(secret, false, kHexUpper));
    return forms;
}

}  // namespace

// Aho-Corasick automaton over bytes. States are trie nodes; node 0 is the root. The root's
// transitions are a dense table (the scanner sits in the root for almost every byte of text
// without secrets); other nodes keep their children as a sorted slice of a flat edge array and
// fall back along failure links. longest_[s] is the length of the longest pattern that is a
// suffix of the string spelled by s, so one lookup per byte yields the match to mask.
class SecretRedactor::Matcher {
public:
    explicit Matcher(const std::vector<std::string>& patterns) {
        // 1. Build the trie with per-node child lists.
        std::vector<std::vector<std::pair<unsigned char, int32_t>>> children(1);
        std::vector<uint32_t> own_len(1, 0);
        for (const auto& p : patterns) {
            int32_t node = 0;
            for (unsigned char c : p) {
                auto& kids = children[node];
                auto it = std::find_if(kids.begin(), kids.end(),
                                       [c](const auto& e) { return e.first == c; });
                if (it != kids.end()) {
                    node = it->second;
                } else {
                    const auto next = static_cast<int32_t>(children.size());
                    kids.emplace_back(c, next);
                    children.emplace_back();
                    own_len.push_back(0);
                    node = next;
                }
            }
            own_len[node] = std::max<uint32_t>(own_len[node], static_cast<uint32_t>(p.size()));
        }

        // 2. Flatten children into sorted edge slices.
        const std::size_t n = children.size();
        edge_begin_.assign(n + 1, 0);
        for (std::size_t i = 0; i < n; ++i) {
            std::sort(children[i].begin(), children[i].end());
            edge_begin_[i + 1] = edge_begin_[i] + static_cast<uint32_t>(children[i].size());
        }
        edge_label_.reserve(edge_begin_[n]);
        edge_target_.reserve(edge_begin_[n]);
        for (const auto& kids : children) {
            for (const auto& [label, target] : kids) {
                edge_label_.push_back(label);
                edge_target_.push_back(target);
            }
        }
        root_.fill(0);
        for (const auto& [label, target] : children[0]) root_[label] = target;

        // 3. Failure links and longest-suffix-match lengths, breadth first so a node's
        //    failure target (always shallower) is complete before the node is.
        fail_.assign(n, 0);
        longest_.assign(n, 0);
        std::deque<int32_t> queue;
        for (const auto& [label, target] : children[0]) {
            (void)label;
            longest_[target] = own_len[target];
            queue.push_back(target);
        }
        while (!queue.empty()) {
            const int32_t u = queue.front();
            queue.pop_front();
            for (uint32_t e = edge_begin_[u]; e < edge_begin_[u + 1]; ++e) {
                const int32_t v = edge_target_[e];
                fail_[v] = step(fail_[u], edge_label_[e]);
                longest_[v] = std::max(own_len[v], longest_[fail_[v]]);
                queue.push_back(v);
            }
        }
    }

    // Calls on_match(begin, end) for every position where a pattern ends, with the longest
    // such pattern; `end` strictly increases between calls.
    template <class F>
    void scan(std::string_view text, F&& on_match) const {
        int32_t state = 0;
        const std::size_t size = text.size();
        const auto* data = reinterpret_cast<const unsigned char*>(text.data());
        for (std::size_t i = 0; i < size; ++i) {
            state = step(state, data[i]);
            if (const uint32_t len = longest_[state]; len != 0) on_match(i + 1 - len, i + 1);
        }
    }

private:
    int32_t child(int32_t node, unsigned char c) const {
        const auto first = edge_label_.begin() + edge_begin_[node];
        const auto last = edge_label_.begin() + edge_begin_[node + 1];
        const auto it = std::lower_bound(first, last, c);
        if (it == last || *it != c) return -1;
        return edge_target_[static_cast<std::size_t>(it - edge_label_.begin())];
    }

    int32_t step(int32_t state, unsigned char c) const {
        while (state != 0) {
            if (const int32_t next = child(state, c); next >= 0) return next;
            state = fail_[state];
        }
        return root_[c];
    }

    std::array<int32_t, 256> root_{};
    std::vector<uint32_t> edge_begin_;
    std::vector<unsigned char> edge_label_;
    std::vector<int32_t> edge_target_;
    std::vector<int32_t> fail_;
    std::vector<uint32_t> longest_;
};

SecretRedactor::SecretRedactor() = default;
SecretRedactor::~SecretRedactor() = default;

void SecretRedactor::add(std::string secret) {
    if (secret.size() < kMinSecretLength) return;
    std::unique_lock lock(mutex_);
    bool changed = false;
    for (auto& form : forms_of(secret)) {
        auto it = std::lower_bound(patterns_.begin(), patterns_.end(), form);
        if (it == patterns_.end() || *it != form) {
            patterns_.insert(it, std::move(form));
            changed = true;
        }
    }
    if (!changed) return;
    dirty_.store(true, std::memory_order_release);
    empty_.store(false, std::memory_order_release);
}

std::shared_ptr<const SecretRedactor::Matcher> SecretRedactor::current() const {
    if (empty_.load(std::memory_order_acquire)) return nullptr;
    if (dirty_.load(std::memory_order_acquire)) {
        std::unique_lock lock(mutex_);
        if (dirty_.load(std::memory_order_relaxed)) {  // another reader may have rebuilt it
            matcher_ = std::make_shared<const Matcher>(patterns_);
            dirty_.store(false, std::memory_order_release);
        }
        return matcher_;
    }
    std::shared_lock lock(mutex_);
    return matcher_;
}

std::string SecretRedactor::redact(std::string_view text) const {
    const auto matcher = current();
    if (!matcher) return std::string(text);

    // Masked ranges, merged: a later match either lies inside, overlaps or follows the ranges
    // before it (ends only grow), so overlapping secrets collapse into one mask.
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    matcher->scan(text, [&ranges](std::size_t begin, std::size_t end) {
        while (!ranges.empty() && begin <= ranges.back().first) ranges.pop_back();
        if (!ranges.empty() && begin < ranges.back().second) {
            ranges.back().second = end;
        } else {
            ranges.emplace_back(begin, end);
        }
    });
    if (ranges.empty()) return std::string(text);

    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    for (const auto& [begin, end] : ranges) {
        out.append(text.substr(pos, begin - pos));
        out.append(kMask);
        pos = end;
    }
    out.append(text.substr(pos));
    return out;
}

bool SecretRedactor::contains_secret(std::string_view text) const {
    const auto matcher = current();
    if (!matcher) return false;
    bool found = false;
    matcher->scan(text, [&found](std::size_t, std::size_t) { found = true; });
    return found;
}

std::size_t SecretRedactor::pattern_count() const {
    std::shared_lock lock(mutex_);
    return patterns_.size();
}

SecretRedactor& global_redactor() {
    static auto* instance = new SecretRedactor();  // intentionally leaked, see the header
    return *instance;
}

}  // namespace plexus
