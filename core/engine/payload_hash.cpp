#include "engine/payload_hash.hpp"

#include <openssl/evp.h>

namespace plexus {

std::string sha256_hex(std::string_view data) {
    // OpenSSL 3 looks the algorithm up on every implicit use, which costs more than hashing
    // a small payload: fetch it once, and keep one context per thread.
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    struct Ctx {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        ~Ctx() { EVP_MD_CTX_free(ctx); }
    };
    thread_local Ctx local;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestInit_ex(local.ctx, sha256, nullptr);
    EVP_DigestUpdate(local.ctx, data.data(), data.size());
    EVP_DigestFinal_ex(local.ctx, digest, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

std::string canonical_text(const nlohmann::json& payload) {
    return payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string payload_hash_of_text(std::string_view canonical_json) {
    return sha256_hex(canonical_json).substr(0, 32);
}

std::string payload_hash(const nlohmann::json& payload) {
    return payload_hash_of_text(canonical_text(payload));
}

std::string idempotency_key(std::string_view process_id, std::string_view source_key) {
    std::string material;
    material.reserve(process_id.size() + source_key.size() + 1);
    material.append(process_id).push_back('\0');
    material.append(source_key);
    return "px" + sha256_hex(material).substr(0, 30);
}

}  // namespace plexus
