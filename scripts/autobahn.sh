#!/usr/bin/env bash
# RFC 6455 conformance: runs the Autobahn|Testsuite fuzzing client (wstest -m fuzzingclient, from
# the official crossbario/autobahn-testsuite Docker image) against the server's /echo route.
#
# Every case runs: 1 to 10 test RFC 6455 (there are no groups 8 and 11), 12.* and 13.* the
# permessage-deflate extension (RFC 7692), which /echo speaks as the chat does.
# See docs/conformance.md for the results and what they mean.
#
# Usage: scripts/autobahn.sh [ws|wss|both]        (make autobahn runs it with no argument: ws)
#   AUTOBAHN_IMAGE     the suite's image (default crossbario/autobahn-testsuite)
#   AUTOBAHN_PORT      port of the ws:// server (default 9001); wss:// uses the next one
#   AUTOBAHN_HOST      how the container reaches the server (default 127.0.0.1, with the host's
#                      network); on Docker Desktop set host.docker.internal
#   AUTOBAHN_TIMEOUT   seconds the suite may take per run (default 1800)
#   AUTOBAHN_CASES     the cases to run, a comma list of the suite's patterns (default *, every
#                      case); '12.*,13.*' runs permessage-deflate alone
#
# Steps: build the release binary; for each scheme start it from a scratch directory with
# ECHO_ENDPOINT=true (wss:// gets a self-signed certificate there, which wstest does not check),
# run wstest in the container, write the report to target/autobahn/<scheme>/ (index.html, with
# the server's log beside it: how each connection ended), print a summary by case group, stop
# the server.
# Exit status: 0 when no case FAILED, 1 when some did, 2 when the run itself could not be done.
set -euo pipefail

die() { echo "autobahn: $*" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${AUTOBAHN_IMAGE:-crossbario/autobahn-testsuite}
port=${AUTOBAHN_PORT:-9001}
target_host=${AUTOBAHN_HOST:-127.0.0.1}
timeout_secs=${AUTOBAHN_TIMEOUT:-1800}
cases=${AUTOBAHN_CASES:-*}
case ${1:-ws} in
  ws) schemes=(ws) ;;
  wss) schemes=(wss) ;;
  both) schemes=(ws wss) ;;
  *) die "usage: $0 [ws|wss|both]" ;;
esac
[[ $port =~ ^[0-9]+$ && $timeout_secs =~ ^[1-9][0-9]*$ ]] ||
  die "AUTOBAHN_PORT and AUTOBAHN_TIMEOUT must be numbers"
[[ $cases =~ ^[0-9.*]+(,[0-9.*]+)*$ ]] ||
  die "AUTOBAHN_CASES must be a comma list of case patterns such as 12.*,13.*"
# The same list as JSON strings: 12.*,13.* -> "12.*", "13.*".
cases_json=\"${cases//,/\", \"}\"

# 1. Docker: installed, and its engine answering.
command -v docker >/dev/null ||
  die "docker is not installed; install Docker (https://docs.docker.com/get-docker/) and try again"
docker info >/dev/null 2>&1 ||
  die "the Docker engine is not running or not reachable ('docker info' failed): start it (systemctl start docker, or Docker Desktop), or give your user access to it (the docker group)"
command -v python3 >/dev/null || die "python3 is needed to summarise the report"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "autobahn: pulling $image" >&2
  docker pull "$image" >&2 || die "cannot pull $image"
fi

# 2. The server.
echo "autobahn: building the release binary" >&2
(cd "$root" && cargo build --release --quiet) || die "cargo build --release failed"
bin=$root/target/release/websocketchat
out=$root/target/autobahn
mkdir -p "$out/config"

server_pid='' scratch='' container=''
cleanup() {
  [[ -n $container ]] && docker rm -f "$container" >/dev/null 2>&1 || true
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [[ -n $scratch ]] && rm -rf "$scratch"
  server_pid='' scratch='' container=''
}
trap cleanup EXIT

# Starts the server for one scheme on $1 and waits until it listens.
start_server() {
  local scheme=$1 port=$2 log=$3 tls=false listen=127.0.0.1
  [[ $scheme == wss ]] && tls=true
  # A container that does not share the host's network reaches us from outside loopback.
  [[ $target_host == 127.0.0.1 ]] || listen=0.0.0.0
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use; set AUTOBAHN_PORT to a free one"
  fi
  scratch=$(mktemp -d)
  # A clean environment and an empty directory: no .env and no exported setting changes the run.
  (cd "$scratch" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    ECHO_ENDPOINT=true COMPRESSION_MAX_BYTES_PER_SEC=1073741824 BACKEND_TLS=$tls HOST=$listen \
    PORT=$port LOG_LEVEL=info "$bin") \
    >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "the server exited at start"; }
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  die "the server did not start listening within 10 s (log: $log)"
}

# Prints the summary of one report; exit status 1 when a case failed.
summarise() {
  python3 - "$1" "$2" <<'EOF'
import collections, json, sys

index, label = sys.argv[1], sys.argv[2]
results = json.load(open(index))["websocketchat"]
KINDS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
GROUPS = {1: "framing", 2: "ping/pong", 3: "reserved bits", 4: "opcodes", 5: "fragmentation",
          6: "UTF-8", 7: "close handling", 9: "limits/performance", 10: "misc",
          12: "deflate: payloads", 13: "deflate: parameters"}

def verdict(result):
    # As the HTML report colours a case: a failed or unclean close fails it, a close with the
    # wrong code (or one the client had to finish) makes an OK case at best non-strict.
    behavior, close = result["behavior"], result["behaviorClose"]
    if behavior not in KINDS or behavior == "FAILED" or close in ("FAILED", "UNCLEAN"):
        return "FAILED"
    if behavior == "OK" and close in ("WRONG CODE", "FAILED BY CLIENT"):
        return "NON-STRICT"
    return behavior

def key(case):
    return [int(part) for part in case.split(".")]

by_group = collections.defaultdict(collections.Counter)
odd = collections.defaultdict(list)
for case in sorted(results, key=key):
    kind = verdict(results[case])
    by_group[key(case)[0]][kind] += 1
    if kind != "OK":
        odd[kind].append(case)
print("%-24s %5s %10s %13s %13s %6s" % ("group", *KINDS))
for group in sorted(by_group):
    counts = by_group[group]
    name = "%d %s" % (group, GROUPS.get(group, ""))
    print("%-24s %5d %10d %13d %13d %6d" % (name, *(counts[k] for k in KINDS)))
for kind in KINDS[1:]:
    if odd[kind]:
        print("%s: %s" % (kind, " ".join(odd[kind])))
total = collections.Counter(verdict(r) for r in results.values())
print("autobahn %s: %d ok, %d non-strict, %d informational, %d unimplemented, %d failed"
      % (label, *(total[k] for k in KINDS)))
sys.exit(1 if total["FAILED"] else 0)
EOF
}

# 3. One run per scheme.
status=0
for scheme in "${schemes[@]}"; do
  scheme_port=$port
  [[ $scheme == wss ]] && scheme_port=$((port + 1))
  url="$scheme://$target_host:$scheme_port/echo"
  report=$out/$scheme
  rm -rf "$report" && mkdir -p "$report"
  start_server "$scheme" "$scheme_port" "$report/server.log"
  cat >"$out/config/fuzzingclient-$scheme.json" <<EOF
{
  "outdir": "/reports",
  "servers": [{"agent": "websocketchat", "url": "$url"}],
  "cases": [$cases_json],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
EOF
  network=(--network host)
  [[ $target_host == 127.0.0.1 ]] || network=(--add-host host.docker.internal:host-gateway)
  container=websocketchat-autobahn-$$-$scheme
  echo "autobahn: running cases $cases against $url (report: $report/index.html)" >&2
  rc=0
  timeout "$timeout_secs" docker run --rm --name "$container" "${network[@]}" \
    --user "$(id -u):$(id -g)" -e HOME=/tmp \
    -v "$out/config:/config:ro" -v "$report:/reports" \
    "$image" wstest -m fuzzingclient -s "/config/fuzzingclient-$scheme.json" \
    >"$report/wstest.log" 2>&1 || rc=$?
  cleanup
  if [[ $rc -eq 124 ]]; then
    die "wstest did not finish within ${timeout_secs}s (log: $report/wstest.log)"
  fi
  [[ -f $report/index.json ]] ||
    { tail -20 "$report/wstest.log" >&2; die "wstest exited $rc without a report"; }
  summarise "$report/index.json" "$scheme://" || status=1
done
exit $status
