#!/usr/bin/env bash
# make bench-compare: scenarios (a) to (d), (c-tls), (g), (h) and (j) against our server and
# against two reference servers, in the same run, same pinning, same generator, and prints our
# figures as ratios to theirs (the references have no rooms: (g) is ours alone, "—" for them; the
# Go hub serves no wss://: (c-tls) is ours and Bun's):
#   - a Go server in the shape of gorilla/websocket's chat example (bench/reference/gorilla-hub);
#   - Bun's built-in WebSocket server (uWebSockets inside, publish/subscribe in native code),
#     the fastest we know of (bench/reference/bun/server.js).
#
# Needs Debian's golang-go and golang-github-gorilla-websocket-dev (installed with apt-get when
# missing and running as root), and Bun: the npm package `bun` (its binary), installed with npm
# into target/bench/bun/ when missing (BENCH_BUN_BIN=path uses another binary). Same knobs as
# bench/run.sh: BENCH_RUNS, BENCH_QUICK, BENCH_ONLY (a b c ctls d g h j), BENCH_RATES, BENCH_BISECT,
# BENCH_BUDGET (here 3600 s by default: three servers), BENCH_PEERS ("gorilla bun").
BENCH_BUDGET=${BENCH_BUDGET:-3600}
source "$(dirname "$0")/lib.sh"

ONLY=${BENCH_ONLY:-"a b c ctls d g h j"}
want() { [[ " $ONLY " == *" $1 "* ]]; }
PEERS=${BENCH_PEERS:-"gorilla bun"}
peer() { [[ " $PEERS " == *" $1 "* ]]; }
ALL="ours $PEERS"

GOPATH_DEBIAN=/usr/share/gocode
if peer gorilla && { ! command -v go >/dev/null || [ ! -d "$GOPATH_DEBIAN/src/github.com/gorilla/websocket" ]; }; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing golang-go and golang-github-gorilla-websocket-dev"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            golang-go golang-github-gorilla-websocket-dev >&2 || die "apt-get install failed"
    else
        die "needs golang-go and golang-github-gorilla-websocket-dev (apt-get install them)"
    fi
fi

# Bun: the npm package `bun` ships the binary (its postinstall puts the platform's build in
# place); kept in target/bench/bun/, away from the project's own files.
BUN_BIN=${BENCH_BUN_BIN:-"$ROOT/target/bench/bun/node_modules/.bin/bun"}
if peer bun && ! "$BUN_BIN" --version >/dev/null 2>&1; then
    if ! command -v npm >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            log "installing npm"
            apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >&2 \
                || die "apt-get install npm failed"
        else
            die "needs npm (to install Bun: npm install bun@1) or BENCH_BUN_BIN"
        fi
    fi
    log "installing Bun: npm install bun@1 in target/bench/bun"
    mkdir -p "$ROOT/target/bench/bun"
    (cd "$ROOT/target/bench/bun" && timeout 600 npm install --no-audit --no-fund --silent bun@1) >&2 \
        || die "npm install bun@1 failed"
    "$BUN_BIN" --version >/dev/null 2>&1 || die "no working bun at $BUN_BIN after npm install"
fi

check_cores
raise_fd_limit
build
if peer gorilla; then
    GO_BIN="$ROOT/target/bench/gorilla-hub"
    log "building the reference: GO111MODULE=off GOPATH=$GOPATH_DEBIAN go build"
    (cd "$ROOT/bench/reference/gorilla-hub" \
        && GO111MODULE=off GOPATH=$GOPATH_DEBIAN go build -o "$GO_BIN" main.go) >&2 \
        || die "building the reference server failed"
fi
peer bun && log "Bun: $BUN_BIN, version $("$BUN_BIN" --version)"
log "results: $OUT"
log ""

# The machine's memory moves by itself (other work, the page cache): measure that first.
want c && memavail_drift start
# (a) alternates: round r runs ours, then each peer, so that every server's runs see the same
# minutes (its latencies move more from one quarter of an hour to the next than the servers differ).
if want a; then
    log "(a) fanout: 1,000 clients (joining at 200/s), 10 senders x 10 msg/s, ${DUR_A} s; ours and $PEERS in turn"
    for k in $ALL; do : >"$OUT/$k.a.jsonl"; done
    for r in $(seq 1 "$RUNS"); do
        for k in $ALL; do
            run_once "$k" plain "${A_ARGS[@]}" --duration "$DUR_A"
            echo "$LINE" >>"$OUT/$k.a.jsonl"
            log "  ($k a) run $r/$RUNS: $(summary "$LINE")"
        done
    done
    for k in $ALL; do a_figures "$OUT/$k.a.jsonl" "$k"; done
fi
for s in b c ctls d g h j; do
    if want "$s"; then
        "scenario_$s" ours ours
        case "$s" in
            # The references have no rooms.
            g) continue ;;
            # The Go hub serves no wss://; Bun does, with the certificate our server makes.
            ctls) peer bun && scenario_ctls bun bun; continue ;;
        esac
        for k in $PEERS; do "scenario_$s" "$k" "$k"; done
    fi
done
want c && memavail_drift end

# ratio OURS THEIRS: ours / theirs, two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        # n/a also when the reference is near zero (a ratio to noise means nothing).
        if (a == "" || b == "" || a == "n/a" || b == "n/a" || (b < 0 ? -b : b) < 0.05) { print "n/a"; exit }
        printf "%.2f", a / b }'
}
kib_to_mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "n/a") print "n/a"; else printf "%.1f", k / 1024 }'; }

# A figure that the generator may have limited: "generator-bound" instead of the number when
# the generator's core was near full (see gen_bound in lib.sh).
GB="generator-bound"
bounded() { # value-text bound-flag gen-util
    if [ "$2" = yes ]; then echo "$GB (generator CPU $(fmt "$3" 2))"; else echo "$1"; fi
}
bratio() { # ours theirs ours-bound theirs-bound
    if [ "$3" = yes ] || [ "$4" = yes ]; then echo "n/a ($GB)"; else ratio "$1" "$2"; fi
}
# row LABEL BETTER CELL... : one cell per server (ours first), then ours / each peer.
row() {
    local label=$1 better=$2
    shift 2
    local line="| $label |" c
    for c in "$@"; do line+=" $c |"; done
    echo "$line $better |"
}
header() {
    local line="| scenario, figure (median of $RUNS; range) | ours |" sep="|---|---|" k
    for k in $PEERS; do line+=" $k |"; sep+="---|"; done
    for k in $PEERS; do line+=" ours / $k |"; sep+="---|"; done
    echo "$line better |"
    echo "$sep---|"
}
# cells KEY FORMAT: the figure R[<server>.KEY] for each server, then ratios; FORMAT is a
# command that formats one value; BOUNDKEY (optional) names the bound flag's key.
cells() {
    local key=$1 format=$2 boundkey=${3:-} genkey=${4:-} k out=()
    for k in $ALL; do
        local v=${R[$k.$key]:-}
        if [ -n "$boundkey" ]; then
            out+=("$(bounded "$($format "$v")" "${R[$k.$boundkey]:-no}" "${R[$k.$genkey]:-}")")
        else
            out+=("$($format "$v")")
        fi
    done
    for k in $PEERS; do
        if [ -n "$boundkey" ]; then
            out+=("$(bratio "${R[ours.$key]:-}" "${R[$k.$key]:-}" "${R[ours.$boundkey]:-no}" "${R[$k.$boundkey]:-no}")")
        else
            out+=("$(ratio "${R[ours.$key]:-}" "${R[$k.$key]:-}")")
        fi
    done
    printf '%s\n' "${out[@]}"
}
text_cells() { # KEY...: the same text for each server from several keys joined with " / "; "—"
    local k key out=() # for a server the scenario did not run on
    for k in $ALL; do
        local t=""
        [ -n "${R[$k.$1]+set}" ] || t="—"
        [ "$t" = "—" ] || for key in "$@"; do t+="${t:+ / }${R[$k.$key]:-n/a}"; done
        out+=("$t")
    done
    for k in $PEERS; do out+=(""); done
    printf '%s\n' "${out[@]}"
}
ms() { echo "$(fmt "$1" 2) ms"; }
kib() { echo "$(fmt "$1" 1) KiB"; }
secs() { echo "$(fmt "$1" 2) s"; }
num() { fmt "$1" 2; }
mib() { echo "$(kib_to_mib "$1") MiB"; }
mibf() { echo "$(fmt "$1" 1) MiB"; }
th() { thousands "$1"; }
plain() { echo "${1:-n/a}"; }
emit() { # LABEL BETTER < cells
    local label=$1 better=$2 cs=()
    mapfile -t cs
    row "$label" "$better" "${cs[@]}"
}
ours_only() { # FORMAT KEY...: our figure (several joined with " / "), "—" for each peer, no ratio
    local format=$1 k t=""
    shift
    for k in "$@"; do t+="${t:+ / }$($format "${R[ours.$k]:-}")"; done
    local out=("$t")
    for k in $PEERS; do out+=("—"); done
    for k in $PEERS; do out+=(""); done
    printf '%s\n' "${out[@]}"
}
with_range() { # KEY RANGEKEY FORMAT: "value (range)"; "—" and no ratio for a server not run
    local k out=()
    for k in $ALL; do
        if [ -n "${R[$k.$1]+set}" ]; then out+=("$($3 "${R[$k.$1]}") (${R[$k.$2]:-n/a})"); else out+=("—"); fi
    done
    for k in $PEERS; do
        if [ -n "${R[$k.$1]+set}" ]; then out+=("$(ratio "${R[ours.$1]:-}" "${R[$k.$1]}")"); else out+=(""); fi
    done
    printf '%s\n' "${out[@]}"
}

{
    header
    if want a; then
        cells a.p50 ms a.bound a.gen | emit "(a) fanout 1,000 clients, 10 x 10 msg/s: p50" lower
        cells a.p99 ms a.bound a.gen | emit "(a) fanout: p99" lower
        text_cells a.p99range | emit "(a) fanout: p99 range over the runs" ""
        text_cells a.lost a.dup a.ooo | emit "(a) fanout: lost / duplicated / out of order (worst run)" none
        cells a.cpu num | emit "(a) fanout: server CPU seconds for ${DUR_A} s" lower
        cells a.gen num | emit "(a) fanout: generator CPU (share of its core)" ""
    fi
    if want b; then
        cells b.best th b.bound b.gen_util | emit "(b) saturation, 200 clients: best deliveries/s with p99 < 100 ms, no loss" higher
        text_cells b.best_rate | emit "(b) at msg/s per sender" ""
        cells b.gen_util num | emit "(b) generator CPU at that step" ""
        text_cells b.stop | emit "(b) where the ramp stopped" ""
    fi
    if want c; then
        with_range c.per_conn c.range kib | emit "(c) idle 5,000, one nickname, clients read everything: server RSS per connection" lower
        with_range c.machine c.machine_range kib | emit "(c) idle 5,000, one nickname: machine memory per connection (MemAvailable)" lower
        with_range c.kernel c.kernel_range kib | emit "(c) … of which kernel memory per connection (KernelStack + SUnreclaim + PageTables, both ends)" lower
        cells c.kstack kib | emit "(c) … … of which kernel stacks (KernelStack)" lower
        cells c.gen_rss kib | emit "(c) … of which the generator's own RSS per connection" ""
        cells c.threads plain | emit "(c) server threads with 5,000 connections" ""
        with_range cd.per_conn cd.range kib | emit "(c) idle 5,000, distinct nicknames, clients read everything, joins settled ≥ 6 s: server RSS per connection (goal ≤ 12 KiB)" lower
        text_cells cd.frames | emit "(c) … frames the 5,000 clients read" ""
        with_range cd.machine cd.machine_range kib | emit "(c) idle 5,000, distinct nicknames: machine memory per connection" lower
        with_range cd.kernel cd.kernel_range kib | emit "(c) … of which kernel memory per connection" lower
        text_cells c10.held | emit "(c) idle 10,000: connections held (fewest of the runs)" all
        echo "| MemAvailable drift with no connections, 15 s, per connection of 5,000: median / largest, before and after the runs | $(fmt "${R[drift.start.med]:-}" 2) / $(fmt "${R[drift.start.max]:-}" 2) KiB; $(fmt "${R[drift.end.med]:-}" 2) / $(fmt "${R[drift.end.max]:-}" 2) KiB |$(for k in $PEERS $PEERS; do printf ' |'; done) noise |"
    fi
    if want ctls; then
        with_range ctls.per_conn ctls.range kib | emit "(c-tls) idle 2,000 over wss://, distinct nicknames, clients read everything: server RSS per connection (goal ≤ 16 KiB)" lower
        text_cells ctls.held | emit "(c-tls) connections held (fewest of the runs, of 2,000)" all
    fi
    if want d; then
        cells d.p99 ms | emit "(d) slow consumers: healthy p99" lower
        cells d.growth mib | emit "(d) slow consumers: RSS growth" lower
        text_cells d.closed | emit "(d) slow consumers: stalled clients closed (of 5)" all
    fi
    if want h; then
        cells h.p50 ms h.bound h.gen | emit "(h) 10,000 clients, 10 x 10 msg/s: p50" lower
        cells h.p99 ms h.bound h.gen | emit "(h) p99" lower
        text_cells h.p99range | emit "(h) p99 range over the runs" ""
        text_cells h.lost h.dup h.ooo | emit "(h) lost / duplicated / out of order (worst run)" none
        cells h.delivered th | emit "(h) deliveries/s" higher
        cells h.cpu_util num | emit "(h) server CPU (share of its core)" lower
        cells h.gen num | emit "(h) generator CPU (share of its core)" ""
    fi
    if want g; then
        ours_only ms g.p50 | emit "(g) rooms, 1,000 clients in 100 rooms of 10, one sender per room x 10 msg/s: p50" lower
        ours_only ms g.p99 | emit "(g) rooms: p99" lower
        ours_only plain g.p99range | emit "(g) rooms: p99 range over the runs" ""
        ours_only ms g.room_p99 | emit "(g) rooms: p99 of the worst room" lower
        ours_only plain g.lost g.dup g.ooo g.foreign | emit "(g) rooms: lost / duplicated / out of order / foreign (worst run)" none
        ours_only num g.cpu | emit "(g) rooms: server CPU seconds for ${DUR_A} s" lower
        ours_only num g.gen | emit "(g) rooms: generator CPU (share of its core)" ""
    fi
    if want j; then
        cells j.all_s secs j.gen_bound j.gen | emit "(j) join storm, 5,000 distinct at once: until every client has its connect frames" lower
        text_cells j.all_range | emit "(j) … range over the runs (s)" ""
        cells j.frames th | emit "(j) presence frames received, all clients" lower
        cells j.mib mibf | emit "(j) presence bytes received" lower
        cells j.peak mib | emit "(j) server peak RSS during the storm" lower
        text_cells j.closed | emit "(j) clients closed during the storm (worst run)" none
    fi
} >"$OUT/compare.md"

{
    echo ""
    echo "## make bench-compare"
    echo ""
    machine
    echo "- every server on core $SERVER_CORE, one after the other, scenario by scenario ((a) in rounds: ours, then each peer, $RUNS times); generator on core $GEN_CORE"
    echo "- ours with its store, as it ships; the references keep nothing on disk"
    store_note
    [ -n "$BUN_BIN" ] && peer bun && echo "- Bun $("$BUN_BIN" --version) (npm package bun)"
    echo "- \"$GB\": the generator's core was at least $(fmt "$GEN_BOUND" 2) busy in the median run, so the figure is the generator's, not the server's"
    echo "- total time: $(elapsed)"
    echo ""
    cat "$OUT/compare.md"
    echo ""
    echo "Raw results: $OUT"
}
