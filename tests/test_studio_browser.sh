#!/usr/bin/env bash
# test_studio_browser.sh — the studio in a real browser: starts `getmusic
# studio` on a free port and runs tests/studio_browser.mjs (headless Debian
# chromium driven by playwright-core from npm: `npm ci` installs it). The
# downloaded MIDI is checked with `getmusic info`. Skips with a message when
# chromium, node or node_modules is missing, or the build has no HTTP server.
# The server keeps its songs in a temporary --data; midway the script stops
# it and starts another on the same folder (the page must reopen the song).
# STUDIO_SHOTS=docs refreshes the README's screenshots (default: build/).
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
skip() { echo "SKIP: $*" >&2; echo "test_studio_browser: 0 passed, 0 failed, 1 skipped"; exit 0; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "no $CHROMIUM (apt install chromium): the page is not tested in a browser"
command -v node >/dev/null || skip "no node (apt install nodejs npm): the page is not tested in a browser"
[ -d node_modules/playwright-core ] || skip "no node_modules/playwright-core (run: npm ci): the page is not tested in a browser"
"$GM" studio --help >/dev/null 2>&1 || skip "getmusic has no studio command"
tmp=$(mktemp -d)
export XDG_DATA_HOME=$tmp/xdg # never the user's folder, even by mistake
pid=
trap 'touch "$tmp/done"; [ -n "$pid" ] && kill $pid 2>/dev/null; [ -s "$tmp/pid2" ] && kill "$(cat "$tmp/pid2")" 2>/dev/null; wait; rm -rf "$tmp"' EXIT
# start_server [PORT]: a studio on the test's data folder; its URL in $url.
start_server() {
  rm -f "$tmp/url"
  "$GM" studio --port "${1:-0}" --quiet --data "$tmp/data" > "$tmp/url" 2>> "$tmp/server.log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/url" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  url=$(head -n 1 "$tmp/url")
}
start_server
if grep -q "no HTTP server" "$tmp/server.log"; then skip "getmusic built without libmicrohttpd"; fi
[ -n "$url" ] || { cat "$tmp/server.log" >&2; echo "test_studio_browser: 0 passed, 1 failed"; exit 1; }
shots=${STUDIO_SHOTS:-build}
mkdir -p "$shots"
pass=0; fail=0
# The browser script asks for a restart by writing $tmp/restart: the server
# stops, another starts on the same port and data folder, and $tmp/restarted
# says so.
(
  while [ ! -e "$tmp/done" ]; do
    if [ -e "$tmp/restart" ]; then
      rm -f "$tmp/restart"
      p=$(cat "$tmp/pid"); kill -INT "$p"; while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
      port=${url##*:}; port=${port%/}
      "$GM" studio --port "$port" --quiet --data "$tmp/data" > /dev/null 2>> "$tmp/server.log" &
      echo $! > "$tmp/pid2"
      touch "$tmp/restarted"
    fi
    sleep 0.2
  done
) &
watcher=$!
echo $pid > "$tmp/pid"
out=$(CHROMIUM=$CHROMIUM node tests/studio_browser.mjs "$url" examples/melody.mid "$tmp" "$shots" 2>&1)
touch "$tmp/done"
wait $watcher
[ -s "$tmp/pid2" ] && pid=$(cat "$tmp/pid2")
printf '%s\n' "$out" | grep -E '^(ok|FAIL)' | grep FAIL >&2
pass=$(printf '%s\n' "$out" | grep -c '^ok:')
fail=$(printf '%s\n' "$out" | grep -c '^FAIL:')
if ! printf '%s\n' "$out" | grep -q -E '^(ok|FAIL):'; then printf '%s\n' "$out" >&2; fail=$((fail+1)); fi
# The download is a MIDI file the CLI reads: 16 bars, drums written (the
# example has none; it has a piano already, so that names nothing), and the
# melody track with the example's notes.
if [ -s "$tmp/studio-download.mid" ]; then
  "$GM" info --json examples/melody.mid > "$tmp/in.json" 2>&1
  "$GM" info --json "$tmp/studio-download.mid" > "$tmp/out.json" 2>&1
  if node -e '
    const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
    const cls = (i, c) => i.tracks.filter((t) => t.class === c);
    const lead = (i) => cls(i, "lead").map((t) => t.notes).join();
    process.exit(b.bars === 16 && cls(a, "drums").length === 0 && cls(b, "drums").some((t) => t.notes > 0) &&
                 cls(b, "piano").some((t) => t.notes > 0) && lead(a) !== "" && lead(a) === lead(b) ? 0 : 1);
  ' "$tmp/in.json" "$tmp/out.json"; then pass=$((pass+1))
  else fail=$((fail+1)); echo "FAIL: getmusic info --json on the download: $(cat "$tmp/out.json")" >&2; fi
else
  fail=$((fail+1)); echo "FAIL: no downloaded MIDI" >&2
fi
kill -0 $pid 2>/dev/null && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: the server died" >&2; }
echo "test_studio_browser: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
