// The portal's static files (web/static/), embedded into the binary at build time by
// web/embed_assets.cmake: served from memory, never from the file system, so a path that
// is not exactly one of them (say "../../etc/passwd") is simply not found.
#pragma once

#include <cstddef>
#include <string_view>

namespace plexus::web {

struct Asset {
    std::string_view path;          // relative to web/static, e.g. "index.html", "js/app.js"
    std::string_view content_type;  // from the extension
    const unsigned char* data;
    size_t size;
};

// The asset at exactly `path` (no leading slash), or nullptr.
const Asset* find_asset(std::string_view path);
// How many assets there are (tests).
size_t asset_count();

}  // namespace plexus::web
