#!/usr/bin/env bash
# test_studio.sh — `getmusic studio` as a server: its options, then the JSON
# API and its abuse over real sockets (tests/studio_api.py, Python standard
# library): uploads, generation, versions as MIDI/WAV/PNG/JSON, errors, Host
# and Origin checks, body and header limits, junk, 200 concurrent requests,
# clients that vanish mid-upload and mid-download, a generation cancelled
# halfway, bounded queue and store, resident memory under the stated bound;
# finally Ctrl-C stops it cleanly. Skips when built without libmicrohttpd.
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

expect 0 "studio --help" -- "$GM" studio --help
expect 1 "studio bad port" -- "$GM" studio --port 70000
expect 1 "studio unknown option" -- "$GM" studio --frob
expect 1 "studio missing model" -- "$GM" studio --model "$tmp/nope.gguf"
expect 1 "studio bad host" -- "$GM" studio --host no.such.host.invalid --port 0

export TMPDIR=$tmp
"$GM" studio --port 0 > "$tmp/url" 2> "$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
case "$url" in http://127.0.0.1:*/) ok ;; *) bad "studio printed '$url' (log: $(cat "$tmp/log"))" ;; esac
port=${url#http://127.0.0.1:}; port=${port%/}
grep -q "Ctrl-C" "$tmp/log" && ok || bad "studio does not say how to stop"
ls -d "$tmp"/getmusic-studio-* >/dev/null 2>&1 && ok || bad "no private render folder"
expect 1 "a second studio on the same port" -- "$GM" studio --port "$port"
"$GM" studio --host 0.0.0.0 --port 0 > /dev/null 2> "$tmp/log2" &
pid2=$!
sleep 1
grep -q "warning" "$tmp/log2" && ok || bad "--host 0.0.0.0 prints no warning"
kill -INT $pid2; wait $pid2

out=$("$PY" tests/studio_api.py 127.0.0.1 "$port" "$pid" "$GM" 2>&1); api_rc=$?
printf '%s\n' "$out" | grep -v '^ok:' >&2
pass=$((pass + $(printf '%s\n' "$out" | grep -c '^ok:')))
fail=$((fail + $(printf '%s\n' "$out" | grep -c '^FAIL:')))
printf '%s\n' "$out" | grep -q '^ok:' || bad "tests/studio_api.py ran no check"
# A check that raised (the server gone, a reply without the field asked for)
# ends the script before its later checks: that is a failure too.
[ "$api_rc" -eq 0 ] || printf '%s\n' "$out" | grep -q '^FAIL:' || bad "tests/studio_api.py stopped early (exit $api_rc)"

kill -INT $pid
wait $pid; rc=$?
pid=
[ "$rc" -eq 0 ] && ok || bad "Ctrl-C: exit $rc"
ls -d "$tmp"/getmusic-studio-* >/dev/null 2>&1 && bad "the render folder was left behind" || ok
finish test_studio
