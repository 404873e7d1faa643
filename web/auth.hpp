// Passwords, session tokens and roles of the portal (libsodium).
//
// - Passwords: argon2id via crypto_pwhash_str (libsodium's "interactive" limits: about
//   0.1 s and 64 MiB per hash), so a stolen database does not give the passwords away.
// - Session tokens: 32 random bytes, hex; the browser holds the token, the store only its
//   BLAKE2b hash. CSRF tokens: 32 random bytes, hex, one per session.
#pragma once

#include <optional>
#include <string>

namespace plexus::web {

// Throws std::runtime_error when libsodium cannot start or hashing runs out of memory.
std::string hash_password(const std::string& password);
bool verify_password(const std::string& hash, const std::string& password);
// Spends the same time as verify_password against a real hash (for unknown user names).
void verify_dummy(const std::string& password);

std::string random_token();  // 64 hex characters
std::string token_hash(const std::string& token);
// Constant-time comparison of two strings.
bool same(const std::string& a, const std::string& b);

// Roles are cumulative: support < operator < admin. 0 for an unknown role.
int role_rank(const std::string& role);
bool valid_role(const std::string& role);
// [A-Za-z0-9._@-]{1,64}
bool valid_user_name(const std::string& name);
// Empty when acceptable, else what is wrong.
std::string password_problem(const std::string& password);

}  // namespace plexus::web
