// Secrets at rest: the key that encrypts the secret settings of connections created in the
// portal, and sealing/opening one value with it (libsodium's crypto_secretbox_easy:
// XSalsa20-Poly1305, a fresh random nonce per value). docs/configuration.md, "Secret key".
//
// Persisted formats (never change them; add a new prefix instead):
// - the key file: the 32-byte key in standard base64 with padding, one line, mode 0600;
//   the environment variable PLEXUS_SECRET_KEY holds the same text;
// - a sealed value: "sb1:" + base64(nonce (24 bytes) || secretbox of (context '\0' value)).
//   The context (e.g. "connection/shop/api_key") is sealed with the value and checked when
//   opening, so a sealed value copied to another connection or setting does not open;
// - a key id: the first 8 bytes of BLAKE2b(key) in hex (16 characters). It names a key in
//   the store and in messages without revealing it.
#pragma once

#include <array>
#include <optional>
#include <stdexcept>
#include <string>

namespace plexus {

// A secret that cannot be opened, a key that cannot be read or made: what, where, what to do.
class SecretError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class SecretKey {
public:
    static constexpr size_t kSize = 32;

    // A new random key.
    static SecretKey generate();
    // The key from its base64 text (surrounding white space ignored). Throws SecretError
    // saying where it came from (`origin`, e.g. the file name) when it is not 32 bytes.
    static SecretKey from_base64(const std::string& text, const std::string& origin);

    std::string to_base64() const;
    // The key's id (see the file comment).
    std::string id() const;
    // Where the key came from: a file path or "environment variable PLEXUS_SECRET_KEY".
    const std::string& origin() const { return origin_; }

    // Encrypts `value` bound to `context`; a fresh nonce each time.
    std::string seal(const std::string& context, const std::string& value) const;
    // Decrypts what seal() made with this key and the same context. Throws SecretError
    // naming the context (never a value) when the text is not a sealed value, was sealed
    // with another key, was altered or belongs to another context.
    std::string open(const std::string& context, const std::string& sealed) const;

    ~SecretKey();
    SecretKey(const SecretKey&) = default;
    SecretKey& operator=(const SecretKey&) = default;

private:
    SecretKey() = default;
    std::array<unsigned char, kSize> key_{};
    std::string origin_;
};

// The name of the environment variable that may hold the key.
inline constexpr const char* kSecretKeyEnv = "PLEXUS_SECRET_KEY";

// Where the key of a database lives by default: "secret.key" beside it.
std::string default_secret_key_file(const std::string& data_dir);

// The key for a hub, in this order:
// 1. `env_value` (the value of PLEXUS_SECRET_KEY) when given and not empty;
// 2. the file `key_file` when it exists (refused when group or others may read it);
// 3. when `create` is true, a new key written to `key_file` with mode 0600 (created
//    exclusively: a concurrent start cannot overwrite it); `created` is set.
// Throws SecretError saying what and where otherwise (no file and create false, unreadable
// file, wrong length, loose permissions).
SecretKey load_secret_key(const std::string& key_file, const std::optional<std::string>& env_value,
                          bool create, bool* created = nullptr);

// Writes `key` to `path` with mode 0600, refusing to overwrite an existing file.
void write_secret_key_file(const SecretKey& key, const std::string& path);

}  // namespace plexus
