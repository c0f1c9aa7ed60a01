#!/usr/bin/env bash
#  bench.sh - build and run the benchmarks of bench/ with everything they need
#
#    scripts/bench.sh bus_live               the live path against raw ZeroMQ
#    scripts/bench.sh bus_durable            the durable path against PostgreSQL's own
#                                            commit rates (private PostgreSQL)
#    scripts/bench.sh all                    both, one after the other
#    scripts/bench.sh bus_live --events 500000   extra arguments go to the program
#
#  Steps: print the machine; install missing packages; configure and build
#  build-bench/ (Release, no sanitizers; BENCH_BUILD overrides the directory)
#  with only the benchmark programs; for bus_durable start a private
#  PostgreSQL on loopback in a temporary directory with the default durable
#  settings (fsync and synchronous_commit on) and stop it and remove the
#  directory however the run ends; run the program, whose output ends with
#  one JSON line. Exits non-zero if a program failed. See bench/README.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

BENCH_BUILD=${BENCH_BUILD:-$EVBUS_ROOT/build-bench}

usage() {
    echo "usage: scripts/bench.sh bus_live|bus_durable|all [PROGRAM ARGS..]" >&2
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
    cmake --build "$BENCH_BUILD" -j "$(nproc)" --target bench_bus_live bench_bus_durable
}

run_dir=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$run_dir" ]; then
        (pg_stop "$run_dir/pg") || rc=1
        rm -rf "$run_dir"
        run_dir=""
    fi
    exit "$rc"
}

run_live() {
    "$BENCH_BUILD/bench/bench_bus_live" "$@"
}

run_durable() {
    local dsn
    run_dir=$(mktemp -d "${TMPDIR:-/tmp}/evbus-bench.XXXXXX")
    chmod 0711 "$run_dir" # postgres must reach its subdirectory
    EVBUS_PG_FSYNC=on pg_start "$run_dir/pg"
    dsn=$(pg_dsn "$run_dir/pg")
    echo "postgres: $(psql -X -q -tA "$dsn" -c 'SHOW server_version') with" \
        "fsync=$(psql -X -q -tA "$dsn" -c 'SHOW fsync')," \
        "synchronous_commit=$(psql -X -q -tA "$dsn" -c 'SHOW synchronous_commit')," \
        "shared_buffers=$(psql -X -q -tA "$dsn" -c 'SHOW shared_buffers')"
    TEST_PG_DSN=$dsn "$BENCH_BUILD/bench/bench_bus_durable" "$@"
}

[ $# -ge 1 ] || usage
name=$1
shift
case $name in
    bus_live | bus_durable) ;;
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
    all)
        run_live
        run_durable
        ;;
esac
