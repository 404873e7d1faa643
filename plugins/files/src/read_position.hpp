// The read position the connector hands the host as `next_cursor`.
//
// The host stores it with a page's outcomes and gives it back on the next call — maybe to a
// new instance after a restart, maybe to a newer version of this connector — so this format
// is persisted and must stay readable:
//
//   {"c":"<cursor value>","k":"<key>"}    just after the record (c, k), in (cursor value, key)
//                                         order, both compared as byte strings
//   {"k":"<key>"}                         the same, for an entity without a cursor field
//
// Keys are never empty, so {"c":"","k":""} and {"k":""} are the start; the connector hands
// out those rather than "" (which the engine reads as "keep the previous cursor"), and
// accepts "" from the host as the start too. A read with `since` and no cursor starts at
// (since, ""): every record whose cursor value is at or after `since`.
//
// A position is a pair of values, not a place in the file, so it survives appends, updates
// (an updated record is appended with its new cursor value and moves to its new place in
// the order) and re-indexing.
#pragma once

#include <string>
#include <string_view>

namespace plexus::files {

struct ReadPosition {
    std::string cursor;  // "" and "": the start
    std::string key;
};

std::string encode_position(const ReadPosition& position, bool with_cursor);

// Throws plexus::sdk::Error(PLEXUS_ERR_PLUGIN) for text this connector did not make.
// `shape_matches` is false when the position was made while the entity was configured
// with(out) a cursor field; the caller then starts over.
ReadPosition decode_position(std::string_view text, bool with_cursor, bool& shape_matches);

}  // namespace plexus::files
