// The system simulators built into this binary (see app/CMakeLists.txt).
#pragma once

#include "sandbox/sandbox.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace plexus::sandbox {

struct SandboxFactory {
    std::string id;
    std::unique_ptr<Sandbox> (*make)(uint32_t seed, SeedSize size);
};

const std::vector<SandboxFactory>& sandbox_factories();

}  // namespace plexus::sandbox
