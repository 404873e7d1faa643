// Secret redaction by value: every log line, record outcome, error, export and API response
// passes through a SecretRedactor before it leaves the process (ARCHITECTURE.md, "Host
// services").
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace plexus {

// Replaces every occurrence of a known secret value with "***".
//
// Each secret is registered in the forms it is likely to appear in text the process writes:
// as is, URL-encoded (a token in a query string or form body) and JSON-escaped (a token inside
// a serialised request or configuration). Overlapping or nested occurrences of different
// secrets are merged into one "***", so no fragment of either survives.
//
// Secrets shorter than kMinSecretLength are ignored: a one-, two- or three-character "secret"
// ("1", "no", "abc") occurs by accident in almost every message, and redacting it would destroy
// the log line while protecting nothing (it is trivially guessable anyway).
//
// Threading: add() and redact() may be called concurrently from any thread. All patterns are
// compiled into one immutable Aho-Corasick matcher, rebuilt at most once after any number of
// add() calls (by the first redact() that follows them) and shared by every later call;
// redact() scans the text once, in time linear in its length whatever the number of secrets,
// and copies it unchanged when no secret is present.
class SecretRedactor {
public:
    static constexpr std::size_t kMinSecretLength = 4;
    static constexpr std::string_view kMask = "***";

    SecretRedactor();
    ~SecretRedactor();
    SecretRedactor(const SecretRedactor&) = delete;
    SecretRedactor& operator=(const SecretRedactor&) = delete;

    // Registers a secret (and its URL-encoded and JSON-escaped forms). Secrets shorter than
    // kMinSecretLength are ignored; adding a secret twice is harmless. Cheap: the matcher is
    // rebuilt (in time linear in the total length of all patterns) by the next redact().
    void add(std::string secret);

    // `text` with every occurrence of every registered form replaced by kMask.
    std::string redact(std::string_view text) const;

    // True when `text` contains a registered form (no copy made).
    bool contains_secret(std::string_view text) const;

    // Number of distinct patterns (all forms of all secrets) currently registered.
    std::size_t pattern_count() const;

    class Matcher;  // implementation detail, public only so the .cpp can name it

private:
    std::shared_ptr<const Matcher> current() const;

    mutable std::shared_mutex mutex_;
    std::vector<std::string> patterns_;               // sorted, unique; guarded by mutex_
    mutable std::shared_ptr<const Matcher> matcher_;  // built from patterns_ unless dirty_;
                                                      // immutable once built; guarded by mutex_
    mutable std::atomic<bool> dirty_{false};          // patterns_ changed since matcher_ was built;
                                                      // set and cleared under the exclusive lock
    std::atomic<bool> empty_{true};  // lets redact() skip the lock when nothing is set
};

// The process-wide redactor every output path uses. Never destroyed (so logging during static
// destruction still redacts).
SecretRedactor& global_redactor();

}  // namespace plexus
