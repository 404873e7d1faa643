#include "notify/reasons.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace plexus::notify {

std::string normalise_reason(const std::string& message) {
    std::string out;
    out.reserve(message.size());
    const size_t n = message.size();
    size_t i = 0;
    auto word_char = [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; };
    while (i < n) {
        const unsigned char c = static_cast<unsigned char>(message[i]);
        if (c == '"' || c == '\'' || c == '`') {
            const size_t close = message.find(static_cast<char>(c), i + 1);
            // A quoted value is record-specific; quoted punctuation ("." as the decimal
            // point) is part of the sentence and stays.
            bool punctuation = close != std::string::npos && close - i <= 3;
            for (size_t k = i + 1; punctuation && k < close; ++k)
                punctuation = !std::isalnum(static_cast<unsigned char>(message[k]));
            if (close != std::string::npos && close - i <= 120 && !punctuation) {
                out += static_cast<char>(c);
                out += "\u2026";
                out += static_cast<char>(c);
                i = close + 1;
                continue;
            }
        }
        if (word_char(c)) {
            size_t j = i;
            bool digit = false;
            while (j < n && word_char(static_cast<unsigned char>(message[j]))) {
                digit = digit || std::isdigit(static_cast<unsigned char>(message[j]));
                ++j;
            }
            // A word with a digit in it is a value (an id, a number, a SKU), not a word.
            if (digit) out += "#";
            else out.append(message, i, j - i);
            i = j;
            continue;
        }
        if (std::isspace(c)) {
            if (!out.empty() && out.back() != ' ') out += ' ';
            ++i;
            continue;
        }
        out += static_cast<char>(c);
        ++i;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() > 200) {
        size_t cut = 200;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out = out.substr(0, cut) + "\u2026";
    }
    return out;
}

std::vector<GroupedReason> group_reasons(const std::vector<FailureReason>& reasons, size_t top) {
    std::map<std::pair<std::string, std::string>, GroupedReason> merged;
    for (const auto& r : reasons) {
        const std::string key = normalise_reason(r.message);
        GroupedReason& g = merged[{r.error_class, key}];
        if (g.count == 0) {
            g.error_class = r.error_class;
            g.reason = key;
            g.example = r.message;
        }
        g.count += r.count;
    }
    std::vector<GroupedReason> out;
    for (auto& [k, g] : merged) out.push_back(std::move(g));
    std::stable_sort(out.begin(), out.end(),
                     [](const GroupedReason& a, const GroupedReason& b) { return a.count > b.count; });
    if (out.size() > top) out.resize(top);
    return out;
}

}  // namespace plexus::notify
