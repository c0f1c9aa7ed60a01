#!/usr/bin/env bash
#  bench.sh - build and run the benchmarks of bench/ with everything they need
#
#    scripts/bench.sh bus_live               the live path against raw ZeroMQ
#    scripts/bench.sh bus_durable            the durable path against PostgreSQL's own
#                                            commit rates (private PostgreSQL)
#    scripts/bench.sh e2e                    orders/s and latency through the three services
#                                            against PostgreSQL's commit rate (private
#                                            PostgreSQL, services on free loopback ports)
#    scripts/bench.sh shim                   events/s and latency from order-service's commit
#                                            through the broker shim to a RabbitMQ consumer,
#                                            against plain RabbitMQ publish-to-consume (private
#                                            PostgreSQL and RabbitMQ, services on free ports)
#    scripts/bench.sh all                    all four, one after the other
#    scripts/bench.sh bus_live --events 500000   extra arguments go to the program
#
#  Steps: print the machine; install missing packages; configure and build
#  build-bench/ (Release, no sanitizers; BENCH_BUILD overrides the directory)
#  with only the benchmark programs; for bus_durable, e2e and shim start a
#  private PostgreSQL on loopback in a temporary directory with the default
#  durable settings (fsync and synchronous_commit on), for shim a private
#  RabbitMQ node too, and stop them (and the services) and remove the
#  directory however the run ends; run the program, whose output ends with
#  one JSON line. Exits non-zero if a program failed. See bench/README.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

BENCH_BUILD=${BENCH_BUILD:-$EVBUS_ROOT/build-bench}

usage() {
    echo "usage: scripts/bench.sh bus_live|bus_durable|e2e|shim|all [PROGRAM ARGS..]" >&2
    exit 2
}

print_machine() {
    local cpu memory
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    memory=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "machine: $(nproc) cores (nproc), CPU ${cpu:-unknown}, memory $memory," \
        "kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    #  Other work on the machine moves every figure: say how busy it is.
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

build_bench() {
    log "building $BENCH_BUILD (Release, no sanitizers)"
    cmake -S "$EVBUS_ROOT" -B "$BENCH_BUILD" --log-level=WARNING \
        -DCMAKE_BUILD_TYPE=Release -DENABLE_SANITIZERS=OFF
    cmake --build "$BENCH_BUILD" -j "$(nproc)" --target bench_bus_live bench_bus_durable \
        bench_e2e bench_shim order-service inventory-service billing-service broker-shim
}

run_dir=""
service_pids=()

#  Stop what one benchmark started (services, RabbitMQ, PostgreSQL) and
#  remove its directory. Returns 1 if a server did not stop cleanly.
stop_started() {
    local rc=0
    if [ ${#service_pids[@]} -gt 0 ]; then
        #  SIGCONT first: bench_shim may have left the shim stopped (SIGSTOP).
        kill -CONT "${service_pids[@]}" 2>/dev/null || true
        kill -TERM "${service_pids[@]}" 2>/dev/null || true
        wait_until 15 s_all_gone "${service_pids[@]}" || kill -KILL "${service_pids[@]}" 2>/dev/null || true
        service_pids=()
    fi
    if [ -n "$run_dir" ]; then
        (rabbit_stop "$run_dir/rabbit") || rc=1
        (pg_stop "$run_dir/pg") || rc=1
        rm -rf "$run_dir"
        run_dir=""
    fi
    return $rc
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    stop_started || rc=1
    exit "$rc"
}

#  A private PostgreSQL for one benchmark in a new run_dir, durable as in
#  production (fsync and synchronous_commit on; more settings in
#  EVBUS_PG_EXTRA), with the databases named; prints its settings.
s_bench_pg() {
    local dsn db
    run_dir=$(mktemp -d "${TMPDIR:-/tmp}/evbus-bench.XXXXXX")
    chmod 0711 "$run_dir" # postgres and rabbitmq must reach their subdirectories
    EVBUS_PG_FSYNC=on pg_start "$run_dir/pg"
    for db in "$@"; do
        pg_create_db "$run_dir/pg" "$db"
    done
    dsn=$(pg_dsn "$run_dir/pg")
    echo "postgres: $(psql -X -q -tA "$dsn" -c 'SHOW server_version') with" \
        "fsync=$(psql -X -q -tA "$dsn" -c 'SHOW fsync')," \
        "synchronous_commit=$(psql -X -q -tA "$dsn" -c 'SHOW synchronous_commit')," \
        "shared_buffers=$(psql -X -q -tA "$dsn" -c 'SHOW shared_buffers')"
}

#  s_service_start NAME BINARY [VAR=value..]: a service in the background
#  with that environment (and LOG_LEVEL=warn), its output in
#  $run_dir/NAME.log; its pid is the last of service_pids.
s_service_start() {
    local name=$1 binary=$2
    shift 2
    env "$@" LOG_LEVEL=warn "$binary" >"$run_dir/$name.log" 2>&1 &
    service_pids+=($!)
}

#  Wait until every HTTP port given answers /readyz, or die with the logs.
s_services_ready() {
    local port
    for port in "$@"; do
        wait_until 60 http_ready 127.0.0.1 "$port" ||
            { tail -n 20 "$run_dir"/*.log >&2; die "not ready: 127.0.0.1:$port"; }
    done
}

run_live() {
    "$BENCH_BUILD/bench/bench_bus_live" "$@"
}

run_durable() {
    s_bench_pg
    TEST_PG_DSN=$(pg_dsn "$run_dir/pg") "$BENCH_BUILD/bench/bench_bus_durable" "$@"
}

#  A PUB port p whose replay port p + 1 is free as well.
s_port_pair() {
    local port
    while :; do
        port=$(free_port "$@")
        if [ "$(free_port_check $((port + 1)))" = free ]; then
            echo "$port"
            return 0
        fi
    done
}

free_port_check() {
    if ss -ltnH "sport = :$1" | grep -q .; then echo taken; else echo free; fi
}

#  Start the three services on free loopback ports with their own databases
#  in the benchmark's cluster, wait for /readyz, then run bench_e2e.
run_e2e() {
    local name http pub pids=() urls=() ports=() order_pub inventory_pub billing_pub
    EVBUS_PG_EXTRA="track_commit_timestamp = on" s_bench_pg \
        evbus_order evbus_inventory evbus_billing bench_base
    order_pub=$(s_port_pair)
    inventory_pub=$(s_port_pair "$order_pub" $((order_pub + 1)))
    billing_pub=$(s_port_pair "$order_pub" $((order_pub + 1)) "$inventory_pub" $((inventory_pub + 1)))
    declare -A pub=([order]=$order_pub [inventory]=$inventory_pub [billing]=$billing_pub)
    declare -A subscribes=(
        [order]="tcp://127.0.0.1:$inventory_pub,tcp://127.0.0.1:$billing_pub"
        [inventory]="tcp://127.0.0.1:$order_pub" [billing]="tcp://127.0.0.1:$order_pub")
    for name in order inventory billing; do
        http=$(free_port "${pub[@]}" $((order_pub + 1)) $((inventory_pub + 1)) $((billing_pub + 1)))
        urls+=("http://127.0.0.1:$http")
        ports+=("$http")
        s_service_start "$name" "$BENCH_BUILD/$name/$name-service" HTTP_ADDR="127.0.0.1:$http" \
            DATABASE_URL="$(pg_dsn "$run_dir/pg" "evbus_$name")" \
            PUB_ENDPOINT="tcp://127.0.0.1:${pub[$name]}" PUBLISHERS="${subscribes[$name]}"
        pids+=("$name-service=${service_pids[-1]}")
    done
    s_services_ready "${ports[@]}"
    "$BENCH_BUILD/bench/bench_e2e" --order-url "${urls[0]}" --inventory-url "${urls[1]}" \
        --order-db "$(pg_dsn "$run_dir/pg" evbus_order)" \
        --inventory-db "$(pg_dsn "$run_dir/pg" evbus_inventory)" \
        --billing-db "$(pg_dsn "$run_dir/pg" evbus_billing)" \
        --base-db "$(pg_dsn "$run_dir/pg" bench_base)" --pids "$(IFS=,; echo "${pids[*]}")" "$@"
}

#  Start order-service and broker-shim (subscribed to order-service) on free
#  loopback ports, with their own databases in the benchmark's cluster
#  (track_commit_timestamp on: bench_shim reads each event's commit time)
#  and a private RabbitMQ node, wait for /readyz, then run bench_shim.
#  SHIM_CONSUME=none: the benchmark's RabbitMQ side only consumes, so the
#  shim binds no queue of its own (which would store every message twice).
run_shim() {
    local url order_pub shim_pub order_http shim_http
    EVBUS_PG_EXTRA="track_commit_timestamp = on" s_bench_pg evbus_order evbus_shim
    rabbit_start "$run_dir/rabbit"
    echo "rabbitmq: rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server)" \
        "(private node, default settings)"
    url=$(cat "$run_dir/rabbit/amqp.url")
    order_pub=$(s_port_pair)
    shim_pub=$(s_port_pair "$order_pub" $((order_pub + 1)))
    order_http=$(free_port "$order_pub" $((order_pub + 1)) "$shim_pub" $((shim_pub + 1)))
    shim_http=$(free_port "$order_pub" $((order_pub + 1)) "$shim_pub" $((shim_pub + 1)) "$order_http")
    s_service_start order "$BENCH_BUILD/order/order-service" HTTP_ADDR="127.0.0.1:$order_http" \
        DATABASE_URL="$(pg_dsn "$run_dir/pg" evbus_order)" \
        PUB_ENDPOINT="tcp://127.0.0.1:$order_pub" PUBLISHERS=""
    s_service_start shim "$BENCH_BUILD/broker-shim/broker-shim" HTTP_ADDR="127.0.0.1:$shim_http" \
        DATABASE_URL="$(pg_dsn "$run_dir/pg" evbus_shim)" \
        PUB_ENDPOINT="tcp://127.0.0.1:$shim_pub" PUBLISHERS="tcp://127.0.0.1:$order_pub" \
        RABBITMQ_URL="$url" SHIM_CONSUME=none
    s_services_ready "$order_http" "$shim_http"
    "$BENCH_BUILD/bench/bench_shim" --amqp-url "$url" --order-url "http://127.0.0.1:$order_http" \
        --order-db "$(pg_dsn "$run_dir/pg" evbus_order)" --shim-url "http://127.0.0.1:$shim_http" \
        --shim-pid "${service_pids[-1]}" "$@"
}

[ $# -ge 1 ] || usage
name=$1
shift
case $name in
    bus_live | bus_durable | e2e | shim) ;;
    all) [ $# -eq 0 ] || usage ;;
    *) usage ;;
esac

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

print_machine
ensure_packages
build_bench
case $name in
    bus_live) run_live "$@" ;;
    bus_durable) run_durable "$@" ;;
    e2e) run_e2e "$@" ;;
    shim) run_shim "$@" ;;
    all)
        run_live
        run_durable
        stop_started
        run_e2e
        stop_started
        run_shim
        ;;
esac
