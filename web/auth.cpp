#include "web/auth.hpp"

#include <sodium.h>

#include <cctype>
#include <mutex>
#include <stdexcept>

namespace plexus::web {
namespace {

void init() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    });
}

std::string hex(const unsigned char* p, size_t n) {
    std::string out(n * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), p, n);
    out.pop_back();
    return out;
}

}  // namespace

std::string hash_password(const std::string& password) {
    init();
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                              crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw std::runtime_error("hashing the password ran out of memory");
    return out;
}

bool verify_password(const std::string& hash, const std::string& password) {
    init();
    if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void verify_dummy(const std::string& password) {
    static const std::string dummy = hash_password("not a password of anyone");
    (void)verify_password(dummy, password);
}

std::string random_token() {
    init();
    unsigned char buf[32];
    randombytes_buf(buf, sizeof buf);
    return hex(buf, sizeof buf);
}

std::string token_hash(const std::string& token) {
    init();
    unsigned char out[32];
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(token.data()),
                       token.size(), nullptr, 0);
    return hex(out, sizeof out);
}

bool same(const std::string& a, const std::string& b) {
    init();
    if (a.size() != b.size()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

int role_rank(const std::string& role) {
    if (role == "support") return 1;
    if (role == "operator") return 2;
    if (role == "admin") return 3;
    return 0;
}

bool valid_role(const std::string& role) { return role_rank(role) > 0; }

bool valid_user_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (unsigned char c : name)
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '@' || c == '-')) return false;
    return true;
}

std::string password_problem(const std::string& password) {
    if (password.size() < 10) return "a password needs at least 10 characters";
    if (password.size() > 1024) return "a password may have at most 1024 characters";
    return "";
}

}  // namespace plexus::web
