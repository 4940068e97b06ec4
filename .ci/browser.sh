#!/usr/bin/env bash
# Browser check: a real headless Chromium renders a finished tournament's live page.
#
#   .ci/browser.sh target/debug/crucible
#
# Runs `crucible simulate --serve 127.0.0.1:0` into a temporary database, waits for the simulation to
# end, picks a completed tournament from /v1/tournaments/history, then with Debian's chromium
# (installed when missing):
#   - dumps the DOM of /tournaments/{id} and checks it has a round section, the boss table and at
#     least one knockout pair or group member;
#   - takes a 1280x2000 screenshot into ${CI_ARTIFACTS:-target/ci-artifacts}/tournament.png and
#     checks it is a non-empty PNG.
# Any failure exits non-zero with a `browser.sh: ERROR:` line.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "browser.sh: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

bin=${1:?usage: .ci/browser.sh PATH/TO/crucible}
[ -x "$bin" ] || die "$bin is not an executable (build it first)"
sim_timeout=${BROWSER_SIM_TIMEOUT:-300}
artifacts=$(mkdir -p "${CI_ARTIFACTS:-target/ci-artifacts}" && cd "${CI_ARTIFACTS:-target/ci-artifacts}" && pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        { as_root apt-get update -q >/dev/null &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_install "${missing[@]}" || die "could not install ${missing[*]}"
fi
say "using $(chromium --version 2>/dev/null || echo 'chromium (version unknown)')"

work=$(mktemp -d)
sim_pid=
cleanup() {
    # simulate stops on SIGTERM (or Ctrl-C); SIGKILL if it has not stopped after 10 s.
    if [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null; then
        for _ in $(seq 1 20); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

say "starting the simulation (16 miners, at most ${sim_timeout} s)"
"$bin" simulate --miners 16 --db "$work/sim.db" --serve 127.0.0.1:0 --pace 3600 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
sim_log() {
    say "simulate's stdout (last lines):"; tail -n 20 "$work/sim.out" >&2
    say "simulate's stderr (last lines):"; tail -n 20 "$work/sim.err" >&2
}

url= started=$SECONDS
until grep -q 'the simulation has ended' "$work/sim.out"; do
    kill -0 "$sim_pid" 2>/dev/null || { sim_log; die "crucible simulate exited before the simulation ended"; }
    [ $((SECONDS - started)) -lt "$sim_timeout" ] || { sim_log; die "the simulation did not end within ${sim_timeout} s"; }
    sleep 1
done
url=$(grep -o 'serving the live pages and the control API on http://[^ ]*' "$work/sim.out" | head -n 1 | sed 's/.* on //')
url=${url%/}
[ -n "$url" ] || { sim_log; die "simulate never printed the URL it serves on"; }
say "simulation ended after $((SECONDS - started)) s; serving on $url"

history=$(curl -fsS --max-time 30 "$url/v1/tournaments/history") || die "GET $url/v1/tournaments/history failed"
id=$(python3 -c '
import json, sys
done = [t["tournament_id"] for t in json.load(sys.stdin)["tournaments"] if t.get("status") == "completed"]
print(done[0] if done else "")' <<<"$history") || die "could not parse /v1/tournaments/history: ${history:0:300}"
[ -n "$id" ] || die "no completed tournament in /v1/tournaments/history: ${history:0:300}"
page="$url/tournaments/$id"
say "checking $page"

# The page keeps an EventSource open, so it never reaches network idle. Chromium's default headless
# mode dumps/screenshots at the load event anyway; --timeout caps the wait for it at 10 s, and
# `timeout` is a backstop. (--virtual-time-budget hangs here: the open EventSource stalls virtual time.)
chrome() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --no-default-browser-check --hide-scrollbars --user-data-dir="$work/profile" \
        --timeout=10000 "$@" 2>>"$work/chromium.err"
}
chrome --dump-dom "$page" >"$work/dom.html" || { tail -n 20 "$work/chromium.err" >&2; die "chromium --dump-dom failed"; }
for needle in '<section class="round"' '<table class="boss">'; do
    grep -qF "$needle" "$work/dom.html" || die "the rendered DOM of $page has no $needle ($(wc -c <"$work/dom.html") bytes)"
done
grep -qE 'class="(pair|group)"' "$work/dom.html" ||
    die "the rendered DOM of $page has no class=\"pair\" or class=\"group\" element"
say "DOM ok: $(grep -o '<section class="round"' "$work/dom.html" | wc -l) rounds, $(grep -oE 'class="(pair|group)"' "$work/dom.html" | wc -l) pairs/group members"

shot="$artifacts/tournament.png"
rm -f "$shot"
chrome --screenshot="$shot" --window-size=1280,2000 "$page" >/dev/null ||
    { tail -n 20 "$work/chromium.err" >&2; die "chromium --screenshot failed"; }
[ -s "$shot" ] || die "chromium wrote no screenshot at $shot"
[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || die "$shot is not a PNG"
say "screenshot artifact: $shot"
