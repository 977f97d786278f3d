#!/usr/bin/env bash
# make bench-compare: scenarios (a) to (d) against our server and against a reference server in
# the shape of gorilla/websocket's chat example (bench/reference/gorilla-hub), in the same run,
# same pinning, same generator; prints our figures as ratios to the reference.
#
# Needs Debian's golang-go and golang-github-gorilla-websocket-dev (installed with apt-get when
# missing and running as root). Same knobs as bench/run.sh: BENCH_RUNS, BENCH_QUICK, BENCH_ONLY
# (a b c d), BENCH_RATES.
source "$(dirname "$0")/lib.sh"

ONLY=${BENCH_ONLY:-"a b c d"}
want() { [[ " $ONLY " == *" $1 "* ]]; }

GOPATH_DEBIAN=/usr/share/gocode
if ! command -v go >/dev/null || [ ! -d "$GOPATH_DEBIAN/src/github.com/gorilla/websocket" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing golang-go and golang-github-gorilla-websocket-dev"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            golang-go golang-github-gorilla-websocket-dev >&2 || die "apt-get install failed"
    else
        die "needs golang-go and golang-github-gorilla-websocket-dev (apt-get install them)"
    fi
fi

check_cores
raise_fd_limit
build
GO_BIN="$ROOT/target/bench/gorilla-hub"
log "building the reference: GO111MODULE=off GOPATH=$GOPATH_DEBIAN go build"
(cd "$ROOT/bench/reference/gorilla-hub" \
    && GO111MODULE=off GOPATH=$GOPATH_DEBIAN go build -o "$GO_BIN" main.go) >&2 \
    || die "building the reference server failed"
log "results: $OUT"
log ""

for s in a b c d; do
    if want "$s"; then
        "scenario_$s" ours ours
        "scenario_$s" gorilla gorilla
    fi
done

# ratio OURS THEIRS: ours / theirs, two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) { print "n/a"; exit }
        printf "%.2f", a / b }'
}
row() { # label ours theirs ratio-of better-is
    echo "| $1 | $2 | $3 | $4 | $5 |"
}
kib_to_mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "n/a") print "n/a"; else printf "%.1f", k / 1024 }'; }

{
    echo "| scenario, figure (median of $RUNS) | ours | gorilla hub | ours / gorilla | better |"
    echo "|---|---|---|---|---|"
    if want a; then
        row "(a) fanout 1,000 clients: p50" "$(fmt "${R[ours.a.p50]}" 2) ms" "$(fmt "${R[gorilla.a.p50]}" 2) ms" "$(ratio "${R[ours.a.p50]}" "${R[gorilla.a.p50]}")" "lower"
        row "(a) fanout 1,000 clients: p99" "$(fmt "${R[ours.a.p99]}" 2) ms" "$(fmt "${R[gorilla.a.p99]}" 2) ms" "$(ratio "${R[ours.a.p99]}" "${R[gorilla.a.p99]}")" "lower"
        row "(a) fanout: lost / duplicated / out of order" "${R[ours.a.lost]} / ${R[ours.a.dup]} / ${R[ours.a.ooo]}" "${R[gorilla.a.lost]} / ${R[gorilla.a.dup]} / ${R[gorilla.a.ooo]}" "" "none"
        row "(a) fanout: server CPU seconds for ${DUR_A} s" "$(fmt "${R[ours.a.cpu]}" 2)" "$(fmt "${R[gorilla.a.cpu]}" 2)" "$(ratio "${R[ours.a.cpu]}" "${R[gorilla.a.cpu]}")" "lower"
    fi
    if want b; then
        row "(b) saturation: best deliveries/s with p99 < 100 ms, no loss" "$(thousands "${R[ours.b.best]}") (at ${R[ours.b.best_rate]}/s per sender)" "$(thousands "${R[gorilla.b.best]}") (at ${R[gorilla.b.best_rate]}/s per sender)" "$(ratio "${R[ours.b.best]}" "${R[gorilla.b.best]}")" "higher"
        row "(b) where the ramp stopped" "${R[ours.b.stop]}" "${R[gorilla.b.stop]}" "" ""
    fi
    if want c; then
        row "(c) idle 5,000: RSS per connection" "$(fmt "${R[ours.c.per_conn]}" 1) KiB" "$(fmt "${R[gorilla.c.per_conn]}" 1) KiB" "$(ratio "${R[ours.c.per_conn]}" "${R[gorilla.c.per_conn]}")" "lower"
        row "(c) idle 10,000: connections held" "${R[ours.c10.held]}" "${R[gorilla.c10.held]}" "" "all"
    fi
    if want d; then
        row "(d) slow consumers: healthy p99" "$(fmt "${R[ours.d.p99]}" 2) ms" "$(fmt "${R[gorilla.d.p99]}" 2) ms" "$(ratio "${R[ours.d.p99]}" "${R[gorilla.d.p99]}")" "lower"
        row "(d) slow consumers: RSS growth" "$(kib_to_mib "${R[ours.d.growth]}") MiB" "$(kib_to_mib "${R[gorilla.d.growth]}") MiB" "$(ratio "${R[ours.d.growth]}" "${R[gorilla.d.growth]}")" "lower"
        row "(d) slow consumers: stalled clients closed (of 5)" "${R[ours.d.closed]} (1013 sent: ${R[ours.d.c1013]})" "${R[gorilla.d.closed]}" "" "all"
    fi
} >"$OUT/compare.md"

{
    echo ""
    echo "## make bench-compare"
    echo ""
    machine
    echo "- both servers on core $SERVER_CORE, one after the other; generator on core $GEN_CORE"
    echo "- total time: $(elapsed)"
    echo ""
    cat "$OUT/compare.md"
    echo ""
    echo "Raw results: $OUT"
}
