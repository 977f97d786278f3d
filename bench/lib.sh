# Shared by bench/run.sh and bench/compare.sh: building, starting and stopping servers, running the
# load generator, medians, and the scenarios of the benchmark. Source it; do not run it.
#
# Every server runs pinned to one core (BENCH_SERVER_CORE, default 0) and the generator to the other
# (BENCH_GEN_CORE, default 1). Every figure is the median of BENCH_RUNS runs (default 3), each run
# against a freshly started server. BENCH_QUICK=1: one short run of each, for trying things out.
#
# Our server runs as it ships, with its store (issue 15): each server gets an empty HISTORY_DIR in
# its own folder under the results folder, on the disk the results go to (not /tmp, which may be
# memory), and HISTORY_FSYNC=round unless a scenario sets SERVER_FSYNC.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BIN="$ROOT/target/bench/wschat-bench"
SERVER_CORE=${BENCH_SERVER_CORE:-0}
GEN_CORE=${BENCH_GEN_CORE:-1}
QUICK=${BENCH_QUICK:-0}
# No new run starts after this many seconds, so that a whole script stays well under 30 minutes.
BUDGET=${BENCH_BUDGET:-1500}
if [ "$QUICK" = 1 ]; then RUNS=${BENCH_RUNS:-1}; else RUNS=${BENCH_RUNS:-3}; fi
OUT=${BENCH_OUT:-"$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$OUT"

# The limits the benchmark raises (the defaults stay as they are for everyone else). The
# per-address limits (MAX_CONNECTIONS_PER_ADDRESS and the others) stay at their defaults: the
# generator spreads its clients over loopback source addresses, 16 a piece (bench/src/source.rs).
SERVER_ENV=(RATE_LIMIT_PER_SEC=100000 MAX_MESSAGE_BYTES=65536 MAX_CONNECTIONS=20000
            HOST=127.0.0.1 PORT=0 LOG_LEVEL=warn HISTORY_SIZE=100)

SERVER_PID=""
SERVER_PORT=""
SERVER_DIR=""
# HISTORY_FSYNC for our server: round (one fdatasync per broadcaster round, the default) or off.
SERVER_FSYNC=round
SERVER_KIND=""
SERVER_TLS=0
GO_BIN=""
BUN_BIN=""
STARTED_AT=$(date +%s)
START_LOAD=$(cut -d" " -f1-3 /proc/loadavg)

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# The release binaries. The server is measured as it ships: the default build, which the Dockerfile
# and `cargo build --release` make (the Kafka client linked in; the bus is off unless a scenario
# sets KAFKA_ENABLED=true). Both are copied to target/bench/, so that another build of the
# workspace during the run cannot swap the binary under test. Cargo builds into CARGO_TARGET_DIR
# when it is set (relative to the repository), else into target/.
SERVER_BIN="$ROOT/target/bench/websocketchat"
KAFKA_SERVER_BIN=$SERVER_BIN
# BENCH_SERVER_BIN=path measures that binary instead (an older build, to compare).
build() {
    mkdir -p "$ROOT/target/bench"
    log "building: cargo build --release -p websocketchat -p websocketchat-bench (default features, as shipped)"
    (cd "$ROOT" && cargo build --release -p websocketchat -p websocketchat-bench) >&2 \
        || die "build failed"
    local target
    target=$(cd "$ROOT" && cd "${CARGO_TARGET_DIR:-target}" && pwd)
    cp "${BENCH_SERVER_BIN:-$target/release/websocketchat}" "$SERVER_BIN"
    cp "$target/release/wschat-bench" "$ROOT/target/bench/wschat-bench"
    log "server binary: PT_TLS $(tls_bytes "$SERVER_BIN") bytes per thread (readelf -lW)"
}

# tls_bytes BIN: the size of the binary's static thread-local storage block (PT_TLS MemSiz), which
# every thread of the process allocates and zeroes.
tls_bytes() {
    local size
    size=$(readelf -lW "$1" 2>/dev/null | awk '$1 == "TLS" { print $6 }')
    printf '%d' "${size:-0}"
}

# Sockets: the server and the generator each hold one per connection (10,000 in scenario c).
raise_fd_limit() {
    local hard
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -ge 20000 ]; then
        ulimit -n 20000
    else
        ulimit -n "$hard"
    fi
    log "open files: $(ulimit -n)"
}

check_cores() {
    if awk -v l="${START_LOAD%% *}" 'BEGIN { exit !(l > 1.5) }'; then
        log "warning: load average $START_LOAD: other work is running here, the figures will be noisy"
    fi
    command -v taskset >/dev/null || die "taskset is missing (Debian: util-linux)"
    command -v ss >/dev/null || die "ss is missing (Debian: iproute2)"
    if [ "$(nproc)" -lt 2 ]; then
        log "warning: $(nproc) core(s): server and generator share a core"
        GEN_CORE=$SERVER_CORE
    fi
}

# start_server ours|gorilla|bun [tls]: a fresh server in a folder of its own under the results
# folder (no .env there), which holds its log, its certificate and our server's store (history/).
start_server() {
    SERVER_KIND=$1
    SERVER_TLS=0
    [ "${2:-}" = tls ] && SERVER_TLS=1
    mkdir -p "$OUT/servers"
    SERVER_DIR=$(mktemp -d "$OUT/servers/$SERVER_KIND.XXXXXX")
    local tls_env=(BACKEND_TLS=false)
    if [ "$SERVER_TLS" = 1 ]; then
        tls_env=(BACKEND_TLS=true TLS_CERT="$SERVER_DIR/cert.pem" TLS_KEY="$SERVER_DIR/key.pem")
    fi
    case "$SERVER_KIND" in
        ours)
            (cd "$SERVER_DIR" && exec env -i PATH="$PATH" HOME="$HOME" "${SERVER_ENV[@]}" "${tls_env[@]}" \
                HISTORY_DIR="$SERVER_DIR/history" HISTORY_FSYNC="$SERVER_FSYNC" \
                ${SERVER_EXTRA_ENV:-} taskset -c "$SERVER_CORE" "${SERVER_BIN_OVERRIDE:-$SERVER_BIN}") \
                2>"$SERVER_DIR/stderr.log" &
            ;;
        gorilla)
            (cd "$SERVER_DIR" && exec taskset -c "$SERVER_CORE" "$GO_BIN" -addr 127.0.0.1:0) \
                2>"$SERVER_DIR/stderr.log" &
            ;;
        bun)
            # Bun makes no certificate: our server's `certs` command makes the one our server
            # makes for itself, and Bun serves wss:// with it (TLS_CERT, TLS_KEY).
            local bun_env=()
            if [ "$SERVER_TLS" = 1 ]; then
                bun_env=(TLS_CERT="$SERVER_DIR/cert.pem" TLS_KEY="$SERVER_DIR/key.pem")
                (cd "$SERVER_DIR" && env -i PATH="$PATH" HOME="$HOME" "${bun_env[@]}" \
                    "$SERVER_BIN" certs) >/dev/null || die "making a certificate for Bun failed"
            fi
            (cd "$SERVER_DIR" && exec env -i PATH="$PATH" HOME="$HOME" PORT=0 "${bun_env[@]}" \
                taskset -c "$SERVER_CORE" "$BUN_BIN" "$ROOT/bench/reference/bun/server.js") \
                2>"$SERVER_DIR/stderr.log" &
            ;;
        *) die "unknown server $SERVER_KIND" ;;
    esac
    SERVER_PID=$!
    SERVER_PORT=""
    local i
    for i in $(seq 1 150); do
        SERVER_PORT=$(ss -Hltnp 2>/dev/null | awk -v pid="pid=$SERVER_PID," \
            'index($0, pid) { n = split($4, a, ":"); print a[n]; exit }')
        [ -n "$SERVER_PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$SERVER_PORT" ]; then
        cat "$SERVER_DIR/stderr.log" >&2 || true
        die "the $SERVER_KIND server did not start"
    fi
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    [ -n "$SERVER_DIR" ] && rm -rf "$SERVER_DIR"
    SERVER_DIR=""
}

cleanup() {
    stop_server
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_alive() {
    [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null \
        && timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SERVER_PORT" 2>/dev/null
}

server_url() {
    if [ "$SERVER_TLS" = 1 ]; then echo "wss://127.0.0.1:$SERVER_PORT/ws"; else echo "ws://127.0.0.1:$SERVER_PORT/ws"; fi
}

# gen ARGS...: one generator run against the current server; its JSON line goes into LINE.
LINE=""
gen() {
    local extra=()
    [ "$SERVER_TLS" = 1 ] && extra=(--ca "$SERVER_DIR/cert.pem")
    # The references send a hello on connect, no history and no users list.
    case "$SERVER_KIND" in gorilla|bun) extra+=(--initial-frames 1) ;; esac
    local line
    line=$(timeout -k 5 400 taskset -c "$GEN_CORE" "$BENCH_BIN" --url "$(server_url)" \
        --server-pid "$SERVER_PID" "${extra[@]}" --json "$@") || true
    if [ -z "$line" ]; then
        line='{"error":"the generator failed or timed out"}'
    fi
    if ! server_alive; then
        line="${line%\}},\"server_died\":1}"
        log "  the server is gone after this run; its log:"
        tail -5 "$SERVER_DIR/stderr.log" >&2 || true
    fi
    # What our server's store holds after the run (apparent size, as du -b counts it).
    if [ -d "$SERVER_DIR/history" ]; then
        line="${line%\}},\"store_bytes\":$(du -sb "$SERVER_DIR/history" | cut -f1)}"
    fi
    LINE=$line
}

# run_once KIND TRANSPORT ARGS...: start a server, check it, one generator run (into LINE), stop
# it. Not in a subshell, so that the EXIT trap always knows the server to stop.
run_once() {
    local kind=$1 transport=$2
    shift 2
    if [ $(( $(date +%s) - STARTED_AT )) -ge "$BUDGET" ]; then
        LINE='{"error":"not run: the time budget (BENCH_BUDGET) is used up"}'
        return
    fi
    start_server "$kind" "$transport"
    server_alive || die "the $kind server is not answering before the run"
    gen "$@"
    stop_server
}

# jget JSON KEY: a field of the generator's flat JSON.
jget() {
    sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"
}

# median of the numbers given (empty ones ignored); n/a when none.
median() {
    printf '%s\n' "$@" | { grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' || true; } | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "n/a"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# field_median FILE KEY: the median of KEY over the JSON lines in FILE.
field_median() {
    local values=() line
    while IFS= read -r line; do values+=("$(jget "$line" "$2")"); done <"$1"
    median "${values[@]}"
}

# field_max FILE KEY / field_min FILE KEY
field_max() {
    local line
    while IFS= read -r line; do jget "$line" "$2"; done <"$1" | sort -g | tail -1
}
field_min() {
    local line
    while IFS= read -r line; do jget "$line" "$2"; done <"$1" | sort -g | head -1
}
# field_range FILE KEY [DECIMALS]: "min-max" of KEY, one decimal unless told.
field_range() {
    echo "$(fmt "$(field_min "$1" "$2")" "${3:-1}")-$(fmt "$(field_max "$1" "$2")" "${3:-1}")"
}

# fmt N [DECIMALS]: a number for the table (n/a stays n/a).
fmt() {
    case "$1" in
        ''|n/a) echo "n/a" ;;
        *) awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }' ;;
    esac
}
# thousands N: 1234567 -> 1,234,567
thousands() {
    case "$1" in
        ''|n/a) echo "n/a" ;;
        *) awk -v v="$1" 'BEGIN { s = sprintf("%.0f", v); r = "";
               while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
               print s r }' ;;
    esac
}

# repeat FILE KIND TRANSPORT LABEL ARGS...: BENCH_RUNS runs into FILE (JSON lines), with progress.
repeat() {
    local file=$1 kind=$2 transport=$3 label=$4
    shift 4
    : >"$file"
    local r
    for r in $(seq 1 "$RUNS"); do
        run_once "$kind" "$transport" "$@"
        echo "$LINE" >>"$file"
        log "  $label run $r/$RUNS: $(summary "$LINE")"
    done
}

summary() {
    local l=$1
    if [ "$(jget "$l" mode)" = idle ]; then
        echo "connected $(jget "$l" connected), held $(jget "$l" held), $(fmt "$(jget "$l" rss_per_conn_kib)" 2) KiB/conn, connect $(fmt "$(jget "$l" connect_s)" 1) s, settle $(fmt "$(jget "$l" settle_s)" 1) s, read $(jget "$l" idle_read): $(thousands "$(jget "$l" idle_frames_read)") frames, $(fmt "$(awk -v b="$(jget "$l" idle_bytes_read)" 'BEGIN { print b / 1048576 }')" 1) MiB, $(jget "$l" idle_pings_answered) pings answered$(deflate_note "$l")"
    elif [ "$(jget "$l" mode)" = api ]; then
        echo "$(fmt "$(jget "$l" posts_per_s)" 0) posts/s, p50 $(jget "$l" p50_ms) ms, p99 $(jget "$l" p99_ms) ms, max $(jget "$l" max_ms) ms, refused $(jget "$l" refused)$( [ -n "$(jget "$l" error)" ] && echo ", $(jget "$l" error)")"
    elif [ -n "$(jget "$l" mode)" ]; then
        echo "p50 $(jget "$l" p50_ms) ms, p99 $(jget "$l" p99_ms) ms, max $(jget "$l" max_ms) ms, lost $(jget "$l" lost)/$(jget "$l" expected), delivered $(thousands "$(jget "$l" delivered_per_s)")/s, server cpu $(fmt "$(jget "$l" cpu_util)" 2), rss +$(fmt "$(jget "$l" rss_growth_kib)" 0) KiB, settle $(fmt "$(jget "$l" settle_s)" 1) s, $(fmt "$(jget "$l" wire_bytes_per_delivery)" 0) bytes read per delivery$(deflate_note "$l")$( [ -n "$(jget "$l" store_bytes)" ] && echo ", store $(fmt "$(jget "$l" store_bytes)" 0) bytes")$( [ -n "$(jget "$l" server_died)" ] && echo ', SERVER DIED')"
    else
        echo "$l"
    fi
}

# deflate_note JSON: ", permessage-deflate agreed by N" for a run whose clients offered it
# (--deflate), and whether any text came back other than it was sent.
deflate_note() {
    if [ "$(jget "$1" deflate_offered)" = 1 ]; then
        echo ", permessage-deflate agreed by $(jget "$1" deflate_connections)"
    fi
    if [ "$(jget "$1" text_mismatched)" != "" ] && [ "$(jget "$1" text_mismatched)" != 0 ]; then
        echo ", $(jget "$1" text_mismatched) TEXTS NOT AS SENT"
    fi
}

# The scenarios. Each takes the server kind (ours, gorilla, bun) and a prefix for its result
# variables, and leaves its figures in R[prefix.name].
declare -A R

DUR_A=10; DUR_B=5; HOLD_C=3; HOLD_C10=10; DUR_D=10; DUR_H=10; DUR_L=10
RATES_B=${BENCH_RATES:-"10 20 40 80 160 320 640 1280 2560 5120"}
BISECT_B=${BENCH_BISECT:-2}
if [ "$QUICK" = 1 ]; then DUR_A=3; DUR_B=2; HOLD_C=1; HOLD_C10=2; DUR_D=3; DUR_H=3; DUR_L=3; fi

# gen_bound FILE [KEY]: "yes" when the generator's core was near full (median KEY, default
# gen_cpu_util, >= GEN_BOUND) during the measured window of the runs in FILE: then the generator,
# not the server, set the pace, and a latency or a rate from those runs is the generator's figure.
GEN_BOUND=0.9
gen_bound() {
    local u
    u=$(field_median "$1" "${2:-gen_cpu_util}")
    if [ "$u" != n/a ] && awk -v u="$u" -v t="$GEN_BOUND" 'BEGIN { exit !(u >= t) }'; then
        echo yes
    else
        echo no
    fi
}

# chat_figures FILE PREFIX: what every chat-mode scenario reports, as R[PREFIX.*]: latency,
# loss, order, connections, deliveries, the server's and the generator's CPU, and how long each
# waited for its core.
chat_figures() {
    local f=$1 k=$2
    R[$k.p50]=$(field_median "$f" p50_ms)
    R[$k.p99]=$(field_median "$f" p99_ms)
    R[$k.p99range]=$(field_range "$f" p99_ms)
    R[$k.max]=$(field_median "$f" max_ms)
    R[$k.lost]=$(field_max "$f" lost)
    R[$k.dup]=$(field_max "$f" duplicated)
    R[$k.ooo]=$(field_max "$f" out_of_order)
    R[$k.connected]=$(field_min "$f" connected)
    R[$k.delivered]=$(field_median "$f" delivered_per_s)
    R[$k.cpu_util]=$(field_median "$f" cpu_util)
    R[$k.gen]=$(field_median "$f" gen_cpu_util)
    R[$k.bound]=$(gen_bound "$f")
    # Seconds the broadcaster, and the generator's reading thread, were ready to run but waited
    # for their core (other work on the machine), over the sending.
    R[$k.bwait]=$(field_median "$f" broadcaster_wait_s)
    R[$k.gwait]=$(field_median "$f" gen_reader_wait_s)
}

# (a) fanout: 1,000 clients, 10 senders x 10 msg/s, 10 s.
A_ARGS=(--mode chat --clients 1000 --senders 10 --rate 10 --size 64 --grace 5 --connect-rate 200)
scenario_a() {
    local kind=$1 p=$2 transport=${3:-plain}
    local f="$OUT/$p.a.jsonl"
    log "($p) fanout: 1,000 clients (joining at 200/s), 10 senders x 10 msg/s, ${DUR_A} s, $transport"
    repeat "$f" "$kind" "$transport" "($p a)" "${A_ARGS[@]}" --duration "$DUR_A"
    a_figures "$f" "$p"
}

# a_figures FILE PREFIX: (a)'s figures from the runs in FILE, as R[PREFIX.a.*]; p50 and p99 with
# their range over the runs in hundredths (they are a few milliseconds).
a_figures() {
    local f=$1 p=$2
    chat_figures "$f" "$p.a"
    R[$p.a.p50range]=$(field_range "$f" p50_ms 2)
    R[$p.a.p99range]=$(field_range "$f" p99_ms 2)
    R[$p.a.store]=$(field_median "$f" store_bytes)
    R[$p.a.settle]=$(field_median "$f" settle_s)
    R[$p.a.settle_mib]=$(field_median "$f" settle_mib)
    R[$p.a.cpu]=$(field_median "$f" cpu_s)
    R[$p.a.cpu_range]=$(field_range "$f" cpu_s)
    R[$p.a.bcast]=$(field_median "$f" broadcaster_cpu_s)
    R[$p.a.died]=$(grep -c server_died "$f" || true)
}

# offer_pairs KIND PREFIX NAME ARGS...: BENCH_RUNS pairs of runs of the generator with ARGS, one
# with `--deflate` (the clients offer permessage-deflate) and one without, each pair in the other
# order from the last so that both ways see the same minutes; the lines go to
# $OUT/PREFIX.NAME.on.jsonl and $OUT/PREFIX.NAME.off.jsonl.
offer_pairs() {
    local kind=$1 p=$2 name=$3 r way
    shift 3
    : >"$OUT/$p.$name.on.jsonl"
    : >"$OUT/$p.$name.off.jsonl"
    for r in $(seq 1 "$RUNS"); do
        for way in $( [ $((r % 2)) = 1 ] && echo "on off" || echo "off on"); do
            local offer=()
            [ "$way" = on ] && offer=(--deflate)
            run_once "$kind" plain "$@" "${offer[@]}"
            echo "$LINE" >>"$OUT/$p.$name.$way.jsonl"
            log "  ($p $name $way) run $r/$RUNS: $(summary "$LINE")"
        done
    done
}

# (a-deflate) permessage-deflate (issue 26): (a)'s crowd and pacing with realistic chat text
# (`--text chat`: English chat lines, mostly 20 to 300 characters, some longer, each checked by
# every reader), the clients offering permessage-deflate as browsers do (`--deflate`: they inflate
# what comes compressed, and the senders compress what they send) and, in turn, offering nothing,
# against the same server at its defaults (COMPRESSION=on, COMPRESSION_MIN_BYTES=128); each pair
# of runs in the other order from the last, as (a)'s fsync pair. R[PREFIX.ad.on.*] and
# R[PREFIX.ad.off.*]: chat_figures, bytes on the wire per delivered message, the server's CPU.
scenario_adeflate() {
    local kind=$1 p=$2 r way f
    log "($p) (a) with chat text: 1,000 clients (joining at 200/s), 10 senders x 10 msg/s, ${DUR_A} s, clients offering permessage-deflate and not, in turn"
    offer_pairs "$kind" "$p" adeflate "${A_ARGS[@]}" --text chat --duration "$DUR_A"
    for way in on off; do
        f="$OUT/$p.adeflate.$way.jsonl"
        chat_figures "$f" "$p.ad.$way"
        R[$p.ad.$way.wire]=$(field_median "$f" wire_bytes_per_delivery)
        R[$p.ad.$way.wire_range]=$(field_range "$f" wire_bytes_per_delivery 0)
        R[$p.ad.$way.frame]=$(field_median "$f" frame_bytes_per_delivery)
        R[$p.ad.$way.json]=$(field_median "$f" json_bytes_per_delivery)
        R[$p.ad.$way.sent]=$(field_median "$f" sent_frame_bytes_per_message)
        R[$p.ad.$way.compressed]=$(field_median "$f" compressed_deliveries)
        R[$p.ad.$way.received]=$(field_median "$f" received)
        R[$p.ad.$way.agreed]=$(field_min "$f" deflate_connections)
        R[$p.ad.$way.agreed_max]=$(field_max "$f" deflate_connections)
        R[$p.ad.$way.mismatched]=$(field_max "$f" text_mismatched)
        R[$p.ad.$way.p50range]=$(field_range "$f" p50_ms 2)
        R[$p.ad.$way.p99range]=$(field_range "$f" p99_ms 2)
        R[$p.ad.$way.cpu]=$(field_median "$f" cpu_s)
        R[$p.ad.$way.cpu_range]=$(field_range "$f" cpu_s 2)
        R[$p.ad.$way.bcast]=$(field_median "$f" broadcaster_cpu_s)
    done
}

# (b) saturation: 200 clients, 20 senders, the rate per sender doubled until p99 >= 100 ms or a
# loss (or until the generator cannot send at the rate asked), then BENCH_BISECT halvings between
# the last rate that passed and the first that failed. The best step that passed counts.
b_step() {
    local kind=$1 p=$2 rate=$3
    local f="$OUT/$p.b.$rate.jsonl"
    repeat "$f" "$kind" plain "($p b $rate/s)" --mode chat --clients 200 --senders 20 \
        --rate "$rate" --duration "$DUR_B" --size 64 --grace 3
    local p99 lost sent planned delivered
    p99=$(field_median "$f" p99_ms)
    lost=$(field_max "$f" lost)
    sent=$(field_median "$f" sent)
    planned=$(field_median "$f" planned)
    delivered=$(field_median "$f" delivered_per_s)
    STEP_OK=0
    if [ "$p99" = n/a ] || [ -z "$lost" ] || [ "$(grep -c server_died "$f" || true)" != 0 ]; then
        STEP_WHY="at $rate/s: the run failed"
    elif awk -v s="$sent" -v p="$planned" 'BEGIN { exit !(s < 0.98 * p) }'; then
        STEP_WHY="at $rate/s: the generator could not send at that rate ($(thousands "$sent") of $(thousands "$planned"))"
    elif [ "$lost" != 0 ]; then
        STEP_WHY="at $rate/s: $lost lost (p99 $(fmt "$p99" 1) ms)"
    elif awk -v v="$p99" 'BEGIN { exit !(v >= 100) }'; then
        STEP_WHY="at $rate/s: p99 $(fmt "$p99" 1) ms, $(thousands "$delivered")/s"
    else
        STEP_OK=1
        if awk -v d="$delivered" -v b="${R[$p.b.best]}" 'BEGIN { exit !(d > b) }'; then
            R[$p.b.best]=$delivered
            R[$p.b.best_rate]=$rate
            R[$p.b.best_p99]=$p99
            R[$p.b.cpu_util]=$(field_median "$f" cpu_util)
            R[$p.b.gen_cpu]=$(field_median "$f" gen_cpu_s)
            R[$p.b.bcast_cpu]=$(field_median "$f" broadcaster_cpu_s)
            R[$p.b.gen_util]=$(field_median "$f" gen_cpu_util)
            R[$p.b.bound]=$(gen_bound "$f")
        fi
    fi
}

scenario_b() {
    local kind=$1 p=$2
    log "($p) saturation: 200 clients, 20 senders, ${DUR_B} s per step, rates per sender: $RATES_B, then $BISECT_B halvings"
    R[$p.b.best]=0; R[$p.b.best_rate]="none"; R[$p.b.best_p99]="n/a"; R[$p.b.stop]="not reached"
    R[$p.b.cpu_util]="n/a"; R[$p.b.gen_cpu]="n/a"; R[$p.b.bcast_cpu]="n/a"
    R[$p.b.gen_util]="n/a"; R[$p.b.bound]="no"
    local rate pass=0 fail="" i mid
    for rate in $RATES_B; do
        b_step "$kind" "$p" "$rate"
        if [ "$STEP_OK" = 1 ]; then pass=$rate; else fail=$rate; R[$p.b.stop]=$STEP_WHY; break; fi
    done
    [ -n "$fail" ] || return 0
    for i in $(seq 1 "$BISECT_B"); do
        mid=$(( (pass + fail) / 2 ))
        { [ "$mid" -le "$pass" ] || [ "$mid" -ge "$fail" ]; } && break
        b_step "$kind" "$p" "$mid"
        if [ "$STEP_OK" = 1 ]; then pass=$mid; else fail=$mid; R[$p.b.stop]=$STEP_WHY; fi
    done
}

# (c) idle: 5,000 connections (RSS per connection) with one shared nickname, then with distinct
# nicknames, with the bus off and, when a broker is there (BROKERS, see run.sh), on; and 10,000
# that must hold. The clients read everything the server sends them and answer its pings, from
# their connect to the end of the run, as browsers do (`--idle-read all`, the generator's default;
# issue 25); the RSS is read once the joins have settled: at least 6 s after the last connection,
# and the server quiet.
scenario_c() {
    local kind=$1 p=$2
    local f="$OUT/$p.c5k.jsonl" g="$OUT/$p.c10k.jsonl" h="$OUT/$p.c5kd.jsonl"
    log "($p) idle: 5,000 connections held ${HOLD_C} s; 10,000 held ${HOLD_C10} s"
    repeat "$f" "$kind" plain "($p c 5k)" --mode idle --clients 5000 --names shared \
        --duration "$HOLD_C" --connectors 4
    R[$p.c.per_conn]=$(field_median "$f" rss_per_conn_kib)
    R[$p.c.range]=$(field_range "$f" rss_per_conn_kib)
    R[$p.c.connect_s]=$(field_median "$f" connect_s)
    R[$p.c.machine]=$(field_median "$f" machine_per_conn_kib)
    R[$p.c.machine_range]=$(field_range "$f" machine_per_conn_kib)
    R[$p.c.gen_rss]=$(field_median "$f" gen_rss_per_conn_kib)
    R[$p.c.tcp]=$(field_median "$f" tcp_mem_per_conn_kib)
    R[$p.c.threads]=$(field_median "$f" threads_after)
    R[$p.c.kernel]=$(field_median "$f" kernel_per_conn_kib)
    R[$p.c.kernel_range]=$(field_range "$f" kernel_per_conn_kib)
    R[$p.c.kstack]=$(field_median "$f" kernel_stack_per_conn_kib)
    repeat "$h" "$kind" plain "($p c 5k distinct)" --mode idle --clients 5000 --names distinct \
        --duration "$HOLD_C" --connectors 4
    R[$p.cd.per_conn]=$(field_median "$h" rss_per_conn_kib)
    R[$p.cd.range]=$(field_range "$h" rss_per_conn_kib)
    R[$p.cd.settle]=$(field_median "$h" settle_s)
    R[$p.cd.frames]=$(field_median "$h" idle_frames_read)
    R[$p.cd.machine]=$(field_median "$h" machine_per_conn_kib)
    R[$p.cd.machine_range]=$(field_range "$h" machine_per_conn_kib)
    R[$p.cd.kernel]=$(field_median "$h" kernel_per_conn_kib)
    R[$p.cd.kernel_range]=$(field_range "$h" kernel_per_conn_kib)
    if [ "$kind" = ours ] && [ -n "${BROKERS:-}" ]; then
        local k="$OUT/$p.c5kk.jsonl"
        SERVER_EXTRA_ENV="KAFKA_ENABLED=true KAFKA_BROKERS=$BROKERS KAFKA_TOPIC=bench-c-$$-$RANDOM"
        repeat "$k" "$kind" plain "($p c 5k distinct, Kafka)" --mode idle --clients 5000 \
            --names distinct --duration "$HOLD_C" --connectors 4
        SERVER_EXTRA_ENV=""
        R[$p.ck.per_conn]=$(field_median "$k" rss_per_conn_kib)
        R[$p.ck.range]=$(field_range "$k" rss_per_conn_kib)
    fi
    repeat "$g" "$kind" plain "($p c 10k)" --mode idle --clients 10000 --names shared \
        --duration "$HOLD_C10" --connectors 4
    R[$p.c10.held]=$(field_min "$g" held)
    R[$p.c10.failed]=$(field_max "$g" failed)
    R[$p.c10.per_conn]=$(field_median "$g" rss_per_conn_kib)
}

# (c-tls) idle over wss:// (issue 25): 2,000 connections with distinct nicknames to a server that
# serves TLS (the certificate it makes, which the generator trusts with --ca), read as in (c); the
# RSS per connection once the joins have settled.
scenario_ctls() {
    local kind=$1 p=$2
    local f="$OUT/$p.ctls.jsonl"
    log "($p) idle over wss://: 2,000 connections, distinct nicknames, held ${HOLD_C} s"
    repeat "$f" "$kind" tls "($p c-tls)" --mode idle --clients 2000 --names distinct \
        --duration "$HOLD_C" --connectors 4
    R[$p.ctls.per_conn]=$(field_median "$f" rss_per_conn_kib)
    R[$p.ctls.range]=$(field_range "$f" rss_per_conn_kib)
    R[$p.ctls.settle]=$(field_median "$f" settle_s)
    R[$p.ctls.held]=$(field_min "$f" held)
    R[$p.ctls.frames]=$(field_median "$f" idle_frames_read)
}

# (c-deflate) idle memory with a browser's offer (issue 26): (c)'s 5,000 connections with distinct
# nicknames, reading everything, each offering `permessage-deflate; client_max_window_bits`
# (`--deflate`) and, in turn, offering nothing, against the same server at its defaults; each
# pair in the other order from the last. The server answers with no context takeover either
# way, so an agreed extension should keep no window per connection: the bound is 0.5 KiB more
# RSS per connection than without the offer. R[PREFIX.cdf.on.*], R[PREFIX.cdf.off.*].
scenario_cdeflate() {
    local kind=$1 p=$2 r way f
    log "($p) idle with a browser's offer: 5,000 connections, distinct nicknames, held ${HOLD_C} s, offering permessage-deflate and not, in turn"
    offer_pairs "$kind" "$p" cdeflate --mode idle --clients 5000 --names distinct \
        --duration "$HOLD_C" --connectors 4
    for way in on off; do
        f="$OUT/$p.cdeflate.$way.jsonl"
        R[$p.cdf.$way.per_conn]=$(field_median "$f" rss_per_conn_kib)
        R[$p.cdf.$way.range]=$(field_range "$f" rss_per_conn_kib 2)
        R[$p.cdf.$way.held]=$(field_min "$f" held)
        R[$p.cdf.$way.agreed]=$(field_min "$f" deflate_connections)
        R[$p.cdf.$way.frames]=$(field_median "$f" idle_frames_read)
        R[$p.cdf.$way.compressed]=$(field_median "$f" idle_compressed_frames)
        R[$p.cdf.$way.mib]=$(awk -v b="$(field_median "$f" idle_bytes_read)" 'BEGIN { print b / 1048576 }')
    done
    # The difference, run pair by run pair, and its median (the pairs share their minutes).
    local diffs=() on off
    for r in $(seq 1 "$RUNS"); do
        on=$(jget "$(sed -n "${r}p" "$OUT/$p.cdeflate.on.jsonl")" rss_per_conn_kib)
        off=$(jget "$(sed -n "${r}p" "$OUT/$p.cdeflate.off.jsonl")" rss_per_conn_kib)
        diffs+=("$(awk -v a="$on" -v b="$off" 'BEGIN { if (a == "" || b == "") print "n/a"; else print a - b }')")
    done
    R[$p.cdf.growth]=$(median "${diffs[@]}")
    R[$p.cdf.growth_runs]=$(printf '%s ' "${diffs[@]}" | sed 's/ $//')
}

# memavail_drift LABEL: how much MemAvailable moves with no connections at all, over a span as
# long as one idle run of (c) (connect, settle, hold: about 15 s), BENCH_RUNS times. Reported in
# KiB per 5,000 connections' worth, so that it reads against (c)'s per-connection figure.
memavail_drift() {
    local f="$OUT/memavail-drift.$1.txt" r a b
    : >"$f"
    for r in $(seq 1 "$RUNS"); do
        a=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
        sleep 15
        b=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
        echo $(( a - b )) >>"$f"
    done
    log "  MemAvailable drift over 15 s with no connections ($1): $(tr '\n' ' ' <"$f")KiB"
    # Median and the largest drift either way, per connection of 5,000.
    R[drift.$1.med]=$(awk '{ print $1 / 5000 }' "$f" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    R[drift.$1.max]=$(awk '{ a = $1 < 0 ? -$1 : $1; if (a > m) m = a } END { print m / 5000 }' "$f")
}

# (h) ten thousand clients: 10,000 connections (one shared nickname, opened at 1,000 a second),
# 10 senders x 10 msg/s for DUR_H s: about a million deliveries a second.
scenario_h() {
    local kind=$1 p=$2
    local f="$OUT/$p.h.jsonl"
    log "($p) 10,000 clients (joining at 1,000/s), 10 senders x 10 msg/s, ${DUR_H} s"
    repeat "$f" "$kind" plain "($p h)" --mode chat --clients 10000 --names shared --senders 10 \
        --rate 10 --duration "$DUR_H" --size 64 --grace 10 --connect-rate 1000 --connectors 4
    chat_figures "$f" "$p.h"
}

# (k) edits and reactions in the store (issue 27): 1,000 messages of 64 bytes, 10 % edited and
# 20 % reacted to, against the same without changes; the store's bytes after each (deterministic
# but for the lengths of timestamps and ids: one run each). R[PREFIX.k.*].
scenario_k() {
    local kind=$1 p=$2 way
    log "($p) the store's bytes for 1,000 messages, with 10 % edited and 20 % reacted to, and without"
    for way in 10,20 0,0; do
        run_once "$kind" plain --mode amend --messages 1000 --size 64 --amend "$way"
        log "  ($p k $way) $(jget "$LINE" edits) edits, $(jget "$LINE" reactions) reactions, store $(jget "$LINE" store_bytes) bytes"
        R[$p.k.$way]=$(jget "$LINE" store_bytes)
        R[$p.k.$way.edits]=$(jget "$LINE" edits)
        R[$p.k.$way.reactions]=$(jget "$LINE" reactions)
    done
}

# (l) the bots' HTTP API (issue 28): POST latency at 100 posts a second (10 kept-alive
# connections x 10/s, bench/src/api.rs), then the most posts a second one instance takes (8
# connections, each posting as soon as its last answer came). One bot, whose bucket
# (SERVER_ENV's RATE_LIMIT_PER_SEC) is far above both: the rate limit is not what is measured.
# R[PREFIX.l.*].
scenario_l() {
    local kind=$1 p=$2 f saved=${SERVER_EXTRA_ENV:-}
    local token=bench-token-0123456789abcdefghijklmnopqrstuvwxyz
    log "($p) the bots' API: POST at 100 posts/s, then as many as one instance takes"
    SERVER_EXTRA_ENV="$saved API_TOKENS=bench:$token"
    f="$OUT/$p.l.paced.jsonl"
    repeat "$f" "$kind" plain "($p l 100/s)" --mode api --token "$token" --senders 10 --rate 10 \
        --duration "$DUR_L"
    R[$p.l.p50]=$(field_median "$f" p50_ms)
    R[$p.l.p99]=$(field_median "$f" p99_ms)
    R[$p.l.p99range]=$(field_range "$f" p99_ms 2)
    R[$p.l.max_ms]=$(field_median "$f" max_ms)
    f="$OUT/$p.l.most.jsonl"
    repeat "$f" "$kind" plain "($p l most)" --mode api --token "$token" --senders 8 --rate 0 \
        --duration "$DUR_L"
    R[$p.l.most]=$(field_median "$f" posts_per_s)
    R[$p.l.most_range]=$(field_range "$f" posts_per_s 0)
    R[$p.l.most_p99]=$(field_median "$f" p99_ms)
    SERVER_EXTRA_ENV=$saved
}

# (g) rooms (issue 13): 1,000 clients in 100 rooms of 10, one sender per room at 10 msg/s: 1,000
# messages a second in, 10,000 deliveries a second out, for DUR_A s. Client i enters room
# r<i mod 100> once it has its welcome and leaves the default room, so the rooms are all there
# is; sender k (client k) speaks in room r<k>. Everything else as in (a) (distinct nicknames,
# joining at 200/s), so that the two read side by side: (a) is one room of 1,000 with 10 senders,
# 100 messages a second in and 100,000 deliveries out; (g) has ten times the messages and a tenth
# of the deliveries. Every client must get each message of its room once, in order, and nothing
# of another room ("foreign").
scenario_g() {
    local kind=$1 p=$2
    local f="$OUT/$p.g.jsonl"
    log "($p) rooms: 1,000 clients (joining at 200/s) in 100 rooms of 10, one sender per room x 10 msg/s, ${DUR_A} s"
    repeat "$f" "$kind" plain "($p g)" --mode chat --clients 1000 --rooms 100 --senders 100 \
        --rate 10 --duration "$DUR_A" --size 64 --grace 5 --connect-rate 200
    chat_figures "$f" "$p.g"
    R[$p.g.cpu]=$(field_median "$f" cpu_s)
    R[$p.g.cpu_range]=$(field_range "$f" cpu_s)
    R[$p.g.bcast]=$(field_median "$f" broadcaster_cpu_s)
    R[$p.g.room_p99]=$(field_median "$f" room_p99_max_ms)
    R[$p.g.rooms_lost]=$(field_max "$f" rooms_with_loss)
    R[$p.g.foreign]=$(field_max "$f" foreign)
    R[$p.g.id_ooo]=$(field_max "$f" id_out_of_order)
    R[$p.g.errors]=$(field_max "$f" error_events)
    R[$p.g.ready]=$(field_min "$f" ready_clients)
}

# (j) join storm: 5,000 clients with distinct nicknames connecting at once (8 connecting
# threads, no pacing), no messages: when every client has its connect frames (ours: hello,
# history, users; the references: hello), the presence frames and bytes every client received
# until the server went quiet, and the server's peak RSS during it.
scenario_j() {
    local kind=$1 p=$2
    local f="$OUT/$p.j.jsonl"
    log "($p) join storm: 5,000 distinct clients connecting at once"
    repeat "$f" "$kind" plain "($p j)" --mode chat --clients 5000 --names distinct --senders 0 \
        --duration 1 --grace 1 --connectors 8
    R[$p.j.ready]=$(field_min "$f" ready_clients)
    R[$p.j.all_s]=$(field_median "$f" ready_all_s)
    R[$p.j.all_range]=$(field_range "$f" ready_all_s)
    R[$p.j.p50_s]=$(field_median "$f" ready_p50_s)
    R[$p.j.frames]=$(field_median "$f" presence_frames)
    R[$p.j.mib]=$(field_median "$f" presence_mib)
    R[$p.j.settle]=$(field_median "$f" settle_s)
    R[$p.j.peak]=$(field_median "$f" rss_connect_peak_kib)
    R[$p.j.idle]=$(field_median "$f" rss_idle_kib)
    R[$p.j.closed]=$(field_max "$f" readers_closed)
    R[$p.j.code]=$(field_max "$f" reader_close_code)
    R[$p.j.gen]=$(field_median "$f" gen_connect_util)
    R[$p.j.gen_bound]=$(gen_bound "$f" gen_connect_util)
}

# (d) slow consumers: 100 clients, 5 never read (4 KiB receive buffer), 10 senders x 20 msg/s
# of 8 KiB, SEND_BUFFER_BYTES at its default (1 MiB).
scenario_d() {
    local kind=$1 p=$2
    local f="$OUT/$p.d.jsonl"
    log "($p) slow consumers: 100 clients, 5 stalled, 10 senders x 20 msg/s of 8 KiB, ${DUR_D} s"
    repeat "$f" "$kind" plain "($p d)" --mode stalled --clients 100 --stalled 5 --senders 10 \
        --rate 20 --size 8192 --duration "$DUR_D" --grace 5
    R[$p.d.p50]=$(field_median "$f" p50_ms)
    R[$p.d.p99]=$(field_median "$f" p99_ms)
    R[$p.d.lost]=$(field_max "$f" lost)
    R[$p.d.growth]=$(field_median "$f" rss_growth_kib)
    R[$p.d.closed]=$(field_min "$f" stalled_closed)
    R[$p.d.evicted]=$(field_min "$f" evicted_slow)
    R[$p.d.c1013]=$(field_min "$f" close_1013_sent)
    R[$p.d.seen1013]=$(field_min "$f" stalled_close_1013)
}

machine() {
    echo "- cores: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "- memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- $(rustc --version 2>/dev/null || echo 'rustc: not found')"
    if [ -n "$GO_BIN" ]; then echo "- $(go version 2>/dev/null)"; fi
    echo "- server source: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' with uncommitted changes in src/')"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average (1, 5, 15 min) at the start: $START_LOAD, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- runs per figure: $RUNS (median)$( [ "$QUICK" = 1 ] && echo ', QUICK (short runs)')"
}

# Where our servers keep their store, for the fsync figures: the file system under the results.
store_note() {
    echo "- store: a fresh HISTORY_DIR for every server in $OUT/servers/ ($(df -T "$OUT" | awk 'NR == 2 { print $2 " on " $1 }')), HISTORY_FSYNC=round except where a row says otherwise"
}

elapsed() {
    local s=$(( $(date +%s) - STARTED_AT ))
    printf '%dm%02ds' $((s / 60)) $((s % 60))
}
