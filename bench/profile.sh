#!/usr/bin/env bash
# Where the broadcaster's time goes under scenario (b): the server pinned to core 0, the generator
# on core 1 sending 200 clients x 20 senders x PROFILE_RATE msg/s, and perf sampling the
# broadcaster thread alone (cpu-clock, DWARF call graphs). Prints the top functions by self time
# and by inclusive time; the data stays in target/bench/<date>/perf.data.
#
#   PROFILE_RATE=600     messages per second per sender
#   PROFILE_SECONDS=4    seconds the broadcaster is sampled (the run lasts 12 s longer)
#   PROFILE_SCENARIO=h   scenario (h) instead: 10,000 clients (one nickname), 10 senders x 10 msg/s,
#                        sampled once every client is connected
#   PROFILE_SCENARIO=a   scenario (a) instead: 1,000 clients, 10 senders x 10 msg/s, sampled once
#                        every client is connected
#   SERVER_EXTRA_ENV="HISTORY_FSYNC=off"  settings for the server
source "$(dirname "$0")/lib.sh"

RATE=${PROFILE_RATE:-600}
SECONDS_SAMPLED=${PROFILE_SECONDS:-4}
command -v perf >/dev/null || die "perf is missing (Debian: apt-get install linux-perf)"
check_cores
raise_fd_limit
build
start_server ours plain
if [ "${PROFILE_SCENARIO:-b}" = h ]; then
    LOAD=(--clients 10000 --names shared --senders 10 --rate 10 --connect-rate 1000 --connectors 4)
    SETTLE=14 RATE=10
elif [ "${PROFILE_SCENARIO:-b}" = a ]; then
    LOAD=(--clients 1000 --senders 10 --rate 10 --connect-rate 200)
    SETTLE=9 RATE=10
else
    LOAD=(--clients 200 --senders 20 --rate "$RATE")
    SETTLE=2.5
fi
taskset -c "$GEN_CORE" "$BENCH_BIN" --url "$(server_url)" --server-pid "$SERVER_PID" --json \
    --mode chat "${LOAD[@]}" --size 64 \
    --duration $((SECONDS_SAMPLED + 12)) --grace 3 >"$OUT/profile-run.json" &
GEN=$!
sleep "$SETTLE"
TID=$(grep -l '^broadcaster$' /proc/"$SERVER_PID"/task/*/comm | head -1 | cut -d/ -f5)
[ -n "$TID" ] || die "no broadcaster thread in process $SERVER_PID"
log "sampling the broadcaster (thread $TID) for ${SECONDS_SAMPLED} s at $RATE msg/s per sender"
perf record -q -e cpu-clock -F 1999 --call-graph dwarf,32768 -t "$TID" -o "$OUT/perf.data" \
    -- sleep "$SECONDS_SAMPLED" 2>&1 | grep -v '^\[' >&2
# Then the whole server (every thread), without call graphs, for the split between threads.
perf record -q -e cpu-clock -F 999 -p "$SERVER_PID" -o "$OUT/perf-all.data" -- sleep 2 2>&1 \
    | grep -v '^\[' >&2
wait "$GEN"
stop_server
log "run: $(summary "$(cat "$OUT/profile-run.json")")"
echo "## self time (top functions of the broadcaster thread)"
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio -g none --percent-limit 0.7 \
    2>/dev/null | grep -E '^ +[0-9]'
echo
echo "## inclusive time (a function and what it calls)"
perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none --percent-limit 0.3 \
    2>/dev/null | grep -E '^ +[0-9]' | grep -vE 'inlined|call_once|catch_unwind|do_call|closure|thread_start|clone3|begin_short'
echo
echo "## the whole server: CPU by thread (conn-N threads added up)"
perf report -i "$OUT/perf-all.data" --no-children --sort comm --stdio 2>/dev/null \
    | awk '/^ +[0-9.]+%/ { name = $2; sub(/-[0-9]+$/, "-N", name); pct[name] += $1 }
           END { for (n in pct) printf "%7.2f%%  %s\n", pct[n], n }' | sort -rn
echo
echo "## the reader threads (conn-N): top functions by self time"
perf report -i "$OUT/perf-all.data" --no-children --sort comm,symbol --stdio 2>/dev/null \
    | awk '/^ +[0-9.]+%/ && $2 ~ /^conn-/ { pct = $1; $1 = ""; $2 = ""; sym[$0] += pct }
           END { for (s in sym) printf "%7.2f%% %s\n", sym[s], s }' | sort -rn | head -40

# Where an idle connection's memory goes: 2,000 idle connections, the server's mappings grouped
# by size (thread stacks are the 256 KiB anonymous ones, CONNECTION_STACK_BYTES in net/accept.rs).
echo
echo "## memory of 2,000 idle connections, by kind of mapping"
start_server ours plain
taskset -c "$GEN_CORE" "$BENCH_BIN" --url "$(server_url)" --server-pid "$SERVER_PID" --json \
    --mode idle --clients 2000 --names shared --duration 6 --connectors 4 >"$OUT/profile-idle.json" &
GEN=$!
sleep 4
awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6 }
     /^Size:/ { size = $2 }
     /^Rss:/ { key = size " KiB " name; rss[key] += $2; n[key]++ }
     END { for (k in rss) if (rss[k] >= 1024) printf "%8d KiB resident in %5d mappings of %s\n", rss[k], n[k], k }' \
    "/proc/$SERVER_PID/smaps" | sort -rn | head -8
grep -E '^(VmRSS|RssAnon|RssFile|Threads)' "/proc/$SERVER_PID/status"
wait "$GEN"
stop_server
log "idle run: $(summary "$(cat "$OUT/profile-idle.json")")"
