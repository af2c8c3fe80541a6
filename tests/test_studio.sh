#!/usr/bin/env bash
# test_studio.sh — `getmusic studio` as a server: its options, then the JSON
# API and its abuse over real sockets (tests/studio_api.py, Python standard
# library): uploads, generation, versions as MIDI/WAV/PNG/JSON, errors, Host
# and Origin checks, body and header limits, junk, 200 concurrent requests,
# clients that vanish mid-upload and mid-download, a generation cancelled
# halfway, bounded queue and store, resident memory under the stated bound,
# uploads the library refuses (4xx, nothing stored), Range requests, the
# per-track audio, slow-header clients dropped; then Ctrl-C stops it cleanly,
# and a second server on the same data folder has the songs and versions
# back. Every server here uses a temporary --data (and XDG_DATA_HOME points
# into the temporary folder too), never the user's. Skips when built without
# libmicrohttpd.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
PY=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
. tests/lib.sh
if "$GM" studio --port 0 --model /nonexistent.gguf 2>&1 | grep -q "no HTTP server"; then
  echo "SKIP: getmusic built without libmicrohttpd (install libmicrohttpd-dev): studio not tested" >&2
  echo "test_studio: 0 passed, 0 failed, 1 skipped"; exit 0
fi
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_DATA_HOME=$tmp/xdg

expect 0 "studio --help" -- "$GM" studio --help
expect 1 "studio bad port" -- "$GM" studio --port 70000
expect 1 "studio unknown option" -- "$GM" studio --frob
expect 1 "studio missing model" -- "$GM" studio --model "$tmp/nope.gguf" --data none
expect 1 "studio bad host" -- "$GM" studio --host no.such.host.invalid --port 0 --data none
expect 1 "studio bad header timeout" -- "$GM" studio --header-timeout 0 --data none
: > "$tmp/file"
expect 1 "studio --data on a file" -- "$GM" studio --port 0 --data "$tmp/file"
[ ! -e "$XDG_DATA_HOME" ] && ok || bad "a refused start made the default data folder"

export TMPDIR=$tmp
data=$tmp/data
"$GM" studio --port 0 --data "$data" --header-timeout 2 > "$tmp/url" 2> "$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
case "$url" in http://127.0.0.1:*/) ok ;; *) bad "studio printed '$url' (log: $(cat "$tmp/log"))" ;; esac
port=${url#http://127.0.0.1:}; port=${port%/}
grep -q "Ctrl-C" "$tmp/log" && ok || bad "studio does not say how to stop"
grep -q "songs kept in $data" "$tmp/log" && ok || bad "studio does not say where songs are kept"
ls -d "$tmp"/getmusic-studio-* >/dev/null 2>&1 && ok || bad "no private render folder"
expect 1 "a second studio on the same port" -- "$GM" studio --port "$port" --data none
"$GM" studio --host 0.0.0.0 --port 0 --data none > /dev/null 2> "$tmp/log2" &
pid2=$!
sleep 1
grep -q "warning" "$tmp/log2" && ok || bad "--host 0.0.0.0 prints no warning"
kill -INT $pid2; wait $pid2

# studio_api.py's ok/FAIL lines counted; a run that raised (the server
# gone, a reply without the field asked for) ends before its later checks:
# that is a failure too.
run_api() {
  out=$("$PY" tests/studio_api.py 127.0.0.1 "$port" "$pid" "$GM" "$@" 2>&1); api_rc=$?
  printf '%s\n' "$out" | grep -v '^ok:' >&2
  pass=$((pass + $(printf '%s\n' "$out" | grep -c '^ok:')))
  fail=$((fail + $(printf '%s\n' "$out" | grep -c '^FAIL:')))
  printf '%s\n' "$out" | grep -q '^ok:' || bad "tests/studio_api.py $* ran no check"
  [ "$api_rc" -eq 0 ] || printf '%s\n' "$out" | grep -q '^FAIL:' || bad "tests/studio_api.py $* stopped early (exit $api_rc)"
}
run_api --state "$tmp/state.json"

kill -INT $pid
wait $pid; rc=$?
pid=
[ "$rc" -eq 0 ] && ok || bad "Ctrl-C: exit $rc"
ls -d "$tmp"/getmusic-studio-* >/dev/null 2>&1 && bad "the render folder was left behind" || ok
[ ! -e "$XDG_DATA_HOME" ] && ok || bad "a server with --data wrote to the default data folder"

# The same data folder again: the songs and versions are back. A damaged
# entry beside them (a truncated version, a song record that is not JSON, a
# stray folder) is skipped with a message, never a crash.
n=$(ls -d "$data"/[0-9]* | wc -l)
[ "$n" -eq 8 ] && ok || bad "the data folder holds $n songs, not the 8 the store keeps"
mkdir -p "$data/999999" "$data/stray"
echo '{"id": 999999, "name": ' > "$data/999999/song.json"
rm -f "$tmp/url"
"$GM" studio --port 0 --data "$data" > "$tmp/url" 2> "$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
port=${url#http://127.0.0.1:}; port=${port%/}
grep -q "skipped $data/999999/song.json" "$tmp/log" && ok || bad "a damaged song record is not reported: $(cat "$tmp/log")"
grep -q "ignored $data/stray" "$tmp/log" && ok || bad "a stray folder is not reported"
run_api --restarted "$tmp/state.json"
kill -INT $pid
wait $pid; rc=$?
pid=
[ "$rc" -eq 0 ] && ok || bad "Ctrl-C after the restart: exit $rc"
finish test_studio
