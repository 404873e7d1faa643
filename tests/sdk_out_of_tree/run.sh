#!/usr/bin/env bash
# usage: run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
sandbox_pid=
cleanup() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# A compiler cache when there is one: the examples compile in seconds the second time.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake --install "$build" --prefix "$work/sdk" >/dev/null
test -f "$work/sdk/include/plexus/sdk.h"
test -f "$work/sdk/include/plexus/connector.hpp"
test -f "$work/sdk/include/plexus/testing.hpp"
test -f "$work/sdk/include/plexus/rest.hpp"

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
# The kit passes it (it only reads: the write rules are skipped, not passed).
echo '{"names": ["Ada", "Zoë", "Linus"]}' > "$work/hello-settings.json"
"$plexus" connector check "$work/hello" --settings "$work/hello-settings.json" --page-size 2 > "$work/hello.txt" || {
  cat "$work/hello.txt"; echo "the hello example should conform"; exit 1; }
grep -q 'skipped write.create_lookup \[greetings\].*(no create capability)' "$work/hello.txt"
echo "sdk out-of-tree: hello ok"

# --- The helpdesk example: a REST connector, its unit tests against the fake host
# (<plexus/testing.hpp>), the conformance kit against its sandbox, a process. ---
cp -r "$src/examples/helpdesk_connector" "$work/helpdesk"
cmake -S "$work/helpdesk" -B "$work/helpdesk/build" -DCMAKE_PREFIX_PATH="$work/sdk" "${launcher[@]}" >/dev/null
cmake --build "$work/helpdesk/build" >/dev/null
ctest --test-dir "$work/helpdesk/build" --output-on-failure >/dev/null
# The deliberately broken variant (HELPDESK_BROKEN): the kit must fail it.
cmake -S "$work/helpdesk" -B "$work/broken" -DCMAKE_PREFIX_PATH="$work/sdk" -DHELPDESK_BROKEN=ON "${launcher[@]}" >/dev/null
cmake --build "$work/broken" --target plexus_helpdesk >/dev/null

token="sandbox-token-$RANDOM$RANDOM"
python3 "$work/helpdesk/sandbox/helpdesk_sandbox.py" --port-file "$work/port" --token "$token" >/dev/null &
sandbox_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
export HELPDESK_TOKEN="$token"
cat > "$work/check.json" <<JSON
{"base_url": "http://127.0.0.1:$port", "api_token": "\${HELPDESK_TOKEN}"}
JSON

# The kit passes the example, every rule run (none skipped).
"$plexus" connector check "$work/helpdesk" --settings "$work/check.json" --page-size 2 > "$work/report.txt" || {
  cat "$work/report.txt"; echo "the helpdesk example should conform"; exit 1; }
grep -q "CONFORMS" "$work/report.txt"
for rule in read.pages read.cursor_forward read.empty_page_cursor write.create_lookup write.crash_adopt \
            write.update_idempotent errors.status; do
  grep -Eq "^  pass +$rule" "$work/report.txt" || { cat "$work/report.txt"; echo "rule $rule did not pass"; exit 1; }
done
"$plexus" connector check "$work/helpdesk" --settings "$work/check.json" --format json |
  python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["conforms"] and r["failed"] == 0 and r["skipped"] == 0, r'

# The broken variant fails, each problem said with what to fix.
if "$plexus" connector check "$work/broken/libplexus_helpdesk.so" --folder "$work/helpdesk" \
     --settings "$work/check.json" > "$work/broken.txt"; then
  cat "$work/broken.txt"; echo "the broken example should fail the kit"; exit 1
fi
grep -q 'DOES NOT CONFORM' "$work/broken.txt"
grep -q 'the manifest says "1.0.1", the class' "$work/broken.txt"
grep -q 'the empty page returned next_cursor "": return the cursor you were given' "$work/broken.txt"
grep -q 'lookup by idempotency key .* did not find' "$work/broken.txt"
# A README that forgets a setting.
cp -r "$work/helpdesk" "$work/nodoc"
sed -i 's/api_token/the token/g' "$work/nodoc/README.md"
if "$plexus" connector check "$work/helpdesk/build/libplexus_helpdesk.so" --folder "$work/nodoc" > "$work/nodoc.txt"; then
  echo "a README without api_token should fail"; exit 1
fi
grep -q 'README.md does not mention: api_token' "$work/nodoc.txt"
# Nothing but loopback or a --sandbox URL is reached while checking.
echo '{"base_url": "https://helpdesk.invalid", "api_token": "x-secret-value"}' > "$work/prod.json"
if "$plexus" connector check "$work/helpdesk" --settings "$work/prod.json" > "$work/prod.txt"; then
  echo "a non-sandbox URL should be refused"; exit 1
fi
grep -q 'refused a request to https://helpdesk.invalid' "$work/prod.txt"

# One call at a time, as JSON; a refused token is an error whose secret is redacted.
"$plexus" connector read "$work/helpdesk" --settings "$work/check.json" --entity tickets --limit 2 |
  python3 -c 'import json,sys; p=json.load(sys.stdin); assert len(p["records"]) == 2 and p["has_more"], p'
"$plexus" connector lookup "$work/helpdesk" --settings "$work/check.json" --entity tickets --key 3 |
  python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["found"] and r["record"]["key"] == "3", r'
echo "{\"base_url\": \"http://127.0.0.1:$port\", \"api_token\": \"wrong-token-$RANDOM$RANDOM\"}" > "$work/wrong.json"
wrong=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' "$work/wrong.json")
if "$plexus" connector check-connection "$work/helpdesk" --settings "$work/wrong.json" > "$work/auth.txt" 2>&1; then
  echo "a wrong token should fail check-connection"; exit 1
fi
grep -q '"status": "auth"' "$work/auth.txt"
grep -q 'invalid token: \*\*\*' "$work/auth.txt"
if grep -q "$wrong" "$work/auth.txt"; then echo "the secret leaked:"; cat "$work/auth.txt"; exit 1; fi

# Every shipped connector passes the static rules.
for d in "$src"/plugins/*/; do
  "$plexus" connector check "$d" --plugin-dir "$build/plugins" > "$work/shipped.txt" || {
    cat "$work/shipped.txt"; echo "shipped connector $d does not conform"; exit 1; }
done

# A process with it: requests from a JSON Lines file become tickets, exactly once.
mkdir -p "$work/import"
for i in 1 2 3; do
  echo "{\"id\":\"r$i\",\"subject\":\" Request $i \",\"email\":\"Req$i@Example.com\",\"received_at\":\"2024-06-0${i}T09:00:00Z\"}"
done > "$work/import/requests.jsonl"
python3 - "$src/examples/helpdesk_connector/sample.json" "$work/helpdesk.json" "$port" "$work/import" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["connections"]["desk"]["settings"]["base_url"] = "http://127.0.0.1:" + sys.argv[3]
c["connections"]["inbox"]["settings"]["directory"] = sys.argv[4]
json.dump(c, open(sys.argv[2], "w"))
PY
hd_dirs=(--plugin-dir "$work/helpdesk/build")
"$plexus" run requests-to-tickets --config "$work/helpdesk.json" --data "$work/var2" "${hd_dirs[@]}" | grep -Eq "created +3"
"$plexus" run requests-to-tickets --config "$work/helpdesk.json" --data "$work/var2" "${hd_dirs[@]}" | grep -Eq "created +0"
# Each request is one ticket, mapped (trimmed subject, lower-case e-mail).
"$plexus" connector read "$work/helpdesk" --settings "$work/check.json" --entity tickets --limit 100 |
  python3 -c '
import json, sys
tickets = [r["data"] for r in json.load(sys.stdin)["records"]]
for i in (1, 2, 3):
    mine = [t for t in tickets if t["subject"] == "Request %d" % i]
    assert len(mine) == 1 and mine[0]["requester_email"] == "req%d@example.com" % i, (i, mine)
'
echo "sdk out-of-tree: ok"
