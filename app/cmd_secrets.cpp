#include "app/cli.hpp"

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "secrets/stored_connections.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace plexus::cli {

std::shared_ptr<const SecretKey> load_hub_key(const Common& c, const std::string& key_file,
                                              bool create) {
    const std::string file = key_file.empty() ? default_secret_key_file(c.data_dir) : key_file;
    const char* env = std::getenv(kSecretKeyEnv);
    std::optional<std::string> env_value;
    if (env && *env) env_value = std::string(env);
    if (!env_value && !create && !std::filesystem::exists(file)) return nullptr;
    bool created = false;
    auto key = std::make_shared<const SecretKey>(load_secret_key(file, env_value, create, &created));
    if (created)
        log_warn("created the secret key " + file + " (key id " + key->id() +
                 "): it encrypts the secrets of connections created in the portal; back it up "
                 "apart from the database (docs/configuration.md, \"Secret key\")");
    return key;
}

bool load_valid_config_with_store(const Common& c, PluginRegistry& registry, Store& store,
                                  const SecretKey* key, Config& out) {
    std::vector<ConfigError> errors;
    out = load_config(c.config_file, errors);
    if (errors.empty()) {
        std::vector<std::string> warnings;
        if (key) {
            merge_stored_connections(out, store, *key, registry, errors, warnings);
        } else if (!store.stored_connections().empty()) {
            errors.push_back(ConfigError{
                "the database", "/connections",
                "holds connections created in the portal, but no secret key was found (" +
                    default_secret_key_file(c.data_dir) + " or " + kSecretKeyEnv +
                    "); give the key they were sealed with (--secret-key-file)"});
        }
        for (const auto& w : warnings) log_warn(w);
    }
    if (errors.empty()) validate_config(out, registry, system_environment(), errors);
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return errors.empty();
}

bool load_hub_config(const Common& c, PluginRegistry& registry, StoreUse use, Config& out,
                     std::unique_ptr<Store>& store) {
    store = open_store(c, use);
    std::shared_ptr<const SecretKey> key;
    try {
        key = load_hub_key(c, "", false);
    } catch (const SecretError& e) {
        std::cerr << e.what() << "\n";
        return false;
    }
    return load_valid_config_with_store(c, registry, *store, key.get(), out);
}

// plexus secrets rotate --new-key-file FILE: every stored secret re-sealed with the new key in
// one transaction; then the key file is replaced (the old one kept beside it).
int cmd_secrets(const std::vector<std::string>& args) {
    Common c;
    std::string action, key_file, new_key_file;
    po::options_description opts("options");
    add_common(opts, c, false, true, false);
    opts.add_options()("action", po::value(&action)->required(), "rotate or key-id")(
        "secret-key-file", po::value(&key_file),
        "the key the secrets are sealed with now (default: DATA/secret.key, or PLEXUS_SECRET_KEY)")(
        "new-key-file", po::value(&new_key_file),
        "rotate: the new key (created with mode 0600 when absent)");
    po::positional_options_description pos;
    pos.add("action", 1);
    po::variables_map vm;
    if (!parse("secrets", "rotate --new-key-file FILE [--secret-key-file FILE] [--data DIR] | key-id",
               opts, pos, args, vm))
        return ok;
    if (action == "key-id") {
        auto key = load_hub_key(c, key_file, false);
        if (!key) {
            std::cerr << "plexus secrets: no secret key (" << default_secret_key_file(c.data_dir)
                      << " or " << kSecretKeyEnv << ")\n";
            return run_failed;
        }
        std::cout << key->id() << "  " << key->origin() << "\n";
        return ok;
    }
    if (action != "rotate") throw po::error("unknown action \"" + action + "\"; use rotate or key-id");
    if (new_key_file.empty()) throw po::error("rotate needs --new-key-file FILE");
    require_writable_data_dir(c);
    // No serve may run meanwhile: it would seal new secrets with the old key.
    DataDirLock lock(c.data_dir);
    auto old_key = load_hub_key(c, key_file, false);
    if (!old_key) {
        std::cerr << "plexus secrets rotate: no current key (" << default_secret_key_file(c.data_dir)
                  << " or " << kSecretKeyEnv << ")\n";
        return run_failed;
    }
    bool created = false;
    const SecretKey new_key = load_secret_key(new_key_file, std::nullopt, true, &created);
    if (new_key.id() == old_key->id()) {
        std::cerr << "plexus secrets rotate: " << new_key_file << " holds the current key (id "
                  << new_key.id() << "); give a new one\n";
        return run_failed;
    }
    auto store = open_store(c, StoreUse::write);
    const int64_t n = rotate_secrets(*store, *old_key, new_key, cli_actor(), SystemClock::instance().now_ms());
    std::cout << "re-sealed " << n << " secret(s) with key " << new_key.id() << " (was "
              << old_key->id() << ")\n";
    const bool from_env = old_key->origin().rfind("environment", 0) == 0;
    const std::string current = key_file.empty() ? default_secret_key_file(c.data_dir) : key_file;
    if (from_env) {
        std::cout << "set " << kSecretKeyEnv << " to the content of " << new_key_file
                  << " before the next start\n";
        return ok;
    }
    if (std::filesystem::absolute(current) != std::filesystem::absolute(new_key_file)) {
        const std::string kept = current + ".old-" + old_key->id();
        std::filesystem::rename(current, kept);
        std::filesystem::copy_file(new_key_file, current);
        std::filesystem::permissions(current, std::filesystem::perms::owner_read |
                                                  std::filesystem::perms::owner_write);
        std::cout << current << " now holds the new key; the old one is kept as " << kept
                  << " (delete it once backups no longer need it)\n";
    }
    return ok;
}

}  // namespace plexus::cli
