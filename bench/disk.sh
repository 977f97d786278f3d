#!/usr/bin/env bash
# What the store (issue 15) takes on disk: a fresh server as bench/run.sh starts it (HISTORY_DIR
# under the results folder, HISTORY_FSYNC=round), one client sending DISK_MESSAGES messages of
# DISK_SIZE characters into the default room, then `du -b` of the HISTORY_DIR: empty, after the
# messages, and after the server stopped (SIGTERM). Prints one line per figure and bytes per
# 1,000 messages.
#
#   DISK_MESSAGES=1000   messages sent (100 a second)
#   DISK_SIZE=40         characters of each message's text
#   DISK_NICKNAME=carolina  the sender's nickname
#   DISK_ENV="HISTORY_SIZE=1000"  more settings for the server (default: none beyond the bench's)
source "$(dirname "$0")/lib.sh"

MESSAGES=${DISK_MESSAGES:-1000}
SIZE=${DISK_SIZE:-40}
NICKNAME=${DISK_NICKNAME:-carolina}
RATE=100

build
SERVER_EXTRA_ENV=${DISK_ENV:-}
start_server ours plain
store="$SERVER_DIR/history"
empty=$(du -sb "$store" | cut -f1)
taskset -c "$GEN_CORE" "$BENCH_BIN" --url "$(server_url)" --server-pid "$SERVER_PID" --json \
    --mode chat --clients 1 --senders 1 --names shared --nickname "$NICKNAME" --rate "$RATE" \
    --duration "$(awk -v n="$MESSAGES" -v r="$RATE" 'BEGIN { print n / r }')" --size "$SIZE" \
    --grace 2 >"$OUT/disk-run.json" || die "the generator failed: $(cat "$OUT/disk-run.json")"
running=$(du -sb "$store" | cut -f1)
# Stopped by hand, so that the folder outlives the server for the last count.
dir=$SERVER_DIR
SERVER_DIR=""
stop_server
stopped=$(du -sb "$store" | cut -f1)
files=$(cd "$store" && ls -l)
rm -rf "$dir"

run=$(cat "$OUT/disk-run.json")
per_1000() { awk -v b="$1" -v e="$empty" -v n="$MESSAGES" 'BEGIN { printf "%.0f", (b - e) * 1000 / n }'; }
echo "## bench/disk.sh: $MESSAGES messages of $SIZE characters from one client ($NICKNAME) into one room"
echo ""
echo "- run: $(summary "$run"); sent $(jget "$run" sent) of $(jget "$run" planned)"
echo "- server: HISTORY_FSYNC=$SERVER_FSYNC, ${SERVER_ENV[*]} ${SERVER_EXTRA_ENV}"
echo "- du -b of HISTORY_DIR: empty $empty bytes; after the messages $running bytes; after SIGTERM $stopped bytes"
echo "- per 1,000 messages (less the empty store): $(per_1000 "$running") bytes while running, $(per_1000 "$stopped") bytes after the stop"
echo "- files after the stop:"
sed 's/^/    /' <<<"$files"
