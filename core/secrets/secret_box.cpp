#include "secrets/secret_box.hpp"

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace plexus {
namespace {

constexpr const char* kSealedPrefix = "sb1:";

void ensure_sodium() {
    static const int r = sodium_init();
    if (r < 0) throw SecretError("libsodium could not be initialised");
}

std::string to_b64(const unsigned char* data, size_t n) {
    std::string out(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_ORIGINAL);
    out.resize(std::strlen(out.c_str()));
    return out;
}

// nullopt when `text` is not standard base64.
std::optional<std::vector<unsigned char>> from_b64(const std::string& text) {
    std::vector<unsigned char> out(text.size());
    size_t n = 0;
    const char* end = nullptr;
    if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size())
        return std::nullopt;
    out.resize(n);
    return out;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

SecretKey::~SecretKey() { sodium_memzero(key_.data(), key_.size()); }

SecretKey SecretKey::generate() {
    ensure_sodium();
    SecretKey k;
    crypto_secretbox_keygen(k.key_.data());
    k.origin_ = "a new key";
    return k;
}

SecretKey SecretKey::from_base64(const std::string& text, const std::string& origin) {
    ensure_sodium();
    auto bytes = from_b64(trim(text));
    if (!bytes || bytes->size() != kSize) {
        if (bytes) sodium_memzero(bytes->data(), bytes->size());
        throw SecretError(origin + ": not a secret key: expected " + std::to_string(kSize) +
                          " bytes in base64 (44 characters, as plexus writes "
                          "a key file)");
    }
    SecretKey k;
    std::memcpy(k.key_.data(), bytes->data(), kSize);
    sodium_memzero(bytes->data(), bytes->size());
    k.origin_ = origin;
    return k;
}

std::string SecretKey::to_base64() const { return to_b64(key_.data(), key_.size()); }

std::string SecretKey::id() const {
    ensure_sodium();
    unsigned char h[8];
    crypto_generichash(h, sizeof h, key_.data(), key_.size(), nullptr, 0);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : h) {
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
    return out;
}

std::string SecretKey::seal(const std::string& context, const std::string& value) const {
    ensure_sodium();
    std::string plain = context;
    plain.push_back('\0');
    plain += value;
    std::vector<unsigned char> out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                   plain.size());
    randombytes_buf(out.data(), crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out.data() + crypto_secretbox_NONCEBYTES,
                          reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                          out.data(), key_.data());
    sodium_memzero(plain.data(), plain.size());
    return kSealedPrefix + to_b64(out.data(), out.size());
}

std::string SecretKey::open(const std::string& context, const std::string& sealed) const {
    ensure_sodium();
    const std::string prefix = kSealedPrefix;
    if (sealed.rfind(prefix, 0) != 0)
        throw SecretError(context + ": the stored value is not a sealed secret (no \"sb1:\")");
    auto bytes = from_b64(sealed.substr(prefix.size()));
    if (!bytes || bytes->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        throw SecretError(context + ": the stored sealed secret is damaged");
    const size_t n = bytes->size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    std::string plain(n, '\0');
    if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                   bytes->data() + crypto_secretbox_NONCEBYTES,
                                   bytes->size() - crypto_secretbox_NONCEBYTES, bytes->data(),
                                   key_.data()) != 0)
        throw SecretError(context + ": cannot decrypt the stored secret with the key from " +
                          origin_ + " (key id " + id() +
                          "): it was sealed with another key or altered. Use the key the "
                          "database was written with (docs/configuration.md, \"Secret key\"), "
                          "or enter the secret again in the portal");
    const size_t zero = plain.find('\0');
    if (zero == std::string::npos || plain.compare(0, zero, context) != 0) {
        sodium_memzero(plain.data(), plain.size());
        throw SecretError(context + ": the stored secret belongs to another setting (" +
                          (zero == std::string::npos ? std::string("unknown") : plain.substr(0, zero)) +
                          "); enter the secret again in the portal");
    }
    std::string value = plain.substr(zero + 1);
    sodium_memzero(plain.data(), plain.size());
    return value;
}

std::string default_secret_key_file(const std::string& data_dir) {
    return (data_dir.empty() ? std::string(".") : data_dir) + "/secret.key";
}

void write_secret_key_file(const SecretKey& key, const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        throw SecretError(path + ": cannot create the secret key file: " + std::strerror(errno));
    ::fchmod(fd, 0600);  // whatever the umask
    const std::string text = key.to_base64() + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        throw SecretError(path + ": cannot write the secret key file: " + std::strerror(saved));
    }
}

SecretKey load_secret_key(const std::string& key_file, const std::optional<std::string>& env_value,
                          bool create, bool* created) {
    if (created) *created = false;
    if (env_value && !trim(*env_value).empty())
        return SecretKey::from_base64(*env_value, std::string("environment variable ") + kSecretKeyEnv);
    struct stat st {};
    if (::stat(key_file.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) throw SecretError(key_file + ": the secret key file is not a file");
        if (st.st_mode & 077)
            throw SecretError(key_file + ": the secret key file may be read by others (mode " +
                              [&] {
                                  char b[8];
                                  std::snprintf(b, sizeof b, "%04o", st.st_mode & 07777);
                                  return std::string(b);
                              }() +
                              "); run: chmod 600 " + key_file);
        std::ifstream in(key_file, std::ios::binary);
        if (!in) throw SecretError(key_file + ": cannot read the secret key file: " + std::strerror(errno));
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        SecretKey k = SecretKey::from_base64(text, key_file);
        sodium_memzero(text.data(), text.size());
        return k;
    }
    if (errno != ENOENT)
        throw SecretError(key_file + ": cannot read the secret key file: " + std::strerror(errno));
    if (!create)
        throw SecretError(key_file + ": no secret key file (and " + kSecretKeyEnv +
                          " is not set); `plexus serve` creates one on first start");
    SecretKey k = SecretKey::generate();
    try {
        write_secret_key_file(k, key_file);
    } catch (const SecretError&) {
        // Another process created it meanwhile: use theirs.
        if (::stat(key_file.c_str(), &st) == 0) return load_secret_key(key_file, env_value, false);
        throw;
    }
    if (created) *created = true;
    return SecretKey::from_base64(k.to_base64(), key_file);
}

}  // namespace plexus
