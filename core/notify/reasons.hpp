// Failure reasons as an operator reads them: record-specific parts of a message (numbers,
// quoted values, ids) replaced, so that "SKU 'A-1' not found" and "SKU 'B-7' not found" count
// as one reason. docs/api.md, "Attention".
#pragma once

#include "store/store.hpp"

#include <string>
#include <vector>

namespace plexus::notify {

// The message with quoted values → '…', runs of digits → #, a long hex or base64-like token
// → …, white space collapsed, cut to 200 characters.
std::string normalise_reason(const std::string& message);

// `reasons` merged by (error class, normalised message), commonest first, at most `top`.
// Each keeps one original message as an example.
struct GroupedReason {
    std::string error_class;
    std::string reason;   // normalised
    std::string example;  // one original message
    int64_t count = 0;
};
std::vector<GroupedReason> group_reasons(const std::vector<FailureReason>& reasons, size_t top);

}  // namespace plexus::notify
