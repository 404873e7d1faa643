#!/usr/bin/env bash
# usage: run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/sdk" >/dev/null
test -f "$work/sdk/include/plexus/sdk.h"
test -f "$work/sdk/include/plexus/connector.hpp"

# Only the installed SDK is visible: the example is copied out of the source tree.
cp -r "$src/examples/hello_connector" "$work/hello"
cmake -S "$work/hello" -B "$work/hello/build" -DCMAKE_PREFIX_PATH="$work/sdk" >/dev/null
cmake --build "$work/hello/build" >/dev/null
test -f "$work/hello/build/libplexus_hello.so"
exports=$(nm -D --defined-only "$work/hello/build/libplexus_hello.so" | grep ' T ' | awk '{print $3}')
test "$exports" = "plexus_connector_entry_v1" || { echo "unexpected exports: $exports"; exit 1; }

mkdir -p "$work/out"
cat > "$work/plexus.json" <<JSON
{
  "connections": {
    "hello": {"connector": "hello", "settings": {"names": ["Ada", "Zoë", "Linus"], "greeting": "Grüezi"}},
    "out": {"connector": "files", "settings": {"directory": "$work/out",
            "entities": {"greetings": {"path": "greetings.jsonl", "key": "id"}}}}
  },
  "processes": [
    {"id": "greet", "name": "Greetings hello→files",
     "source": {"connection": "hello", "entity": "greetings"},
     "target": {"connection": "out", "entity": "greetings"},
     "mapping": {"id": "id", "text": "text"}}
  ]
}
JSON
plexus="$build/bin/plexus"
dirs=(--plugin-dir "$build/plugins" --plugin-dir "$work/hello/build")
"$plexus" plugins "${dirs[@]}" | grep -q "hello 1.0.0"
"$plexus" check-config "$work/plexus.json" "${dirs[@]}"
"$plexus" run greet --config "$work/plexus.json" --data "$work/var" "${dirs[@]}"
grep -q '"text":"Grüezi, Zoë!"' "$work/out/greetings.jsonl"
test "$(wc -l < "$work/out/greetings.jsonl")" -eq 3
# A second run finds nothing new.
"$plexus" run greet --config "$work/plexus.json" --data "$work/var" "${dirs[@]}" | grep -Eq "created +0"
echo "sdk out-of-tree: ok"
