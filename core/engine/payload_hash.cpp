#include "engine/payload_hash.hpp"

#include <openssl/evp.h>

namespace plexus {

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

std::string payload_hash(const nlohmann::json& payload) {
    return sha256_hex(payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
        .substr(0, 32);
}

std::string idempotency_key(std::string_view process_id, std::string_view source_key) {
    std::string material;
    material.reserve(process_id.size() + source_key.size() + 1);
    material.append(process_id).push_back('\0');
    material.append(source_key);
    return "px" + sha256_hex(material).substr(0, 30);
}

}  // namespace plexus
