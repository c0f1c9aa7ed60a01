#!/usr/bin/env bash
#  test.sh - the whole test suite, on a fresh Debian 12 machine or a used one
#
#    scripts/test.sh                           everything: both builds, all tests but benchmarks
#    scripts/test.sh -R svc_money              extra arguments go to ctest (here: one test)
#    TEST_BUILDS=build scripts/test.sh -L unit only the normal build, only unit tests
#
#  Steps: install missing packages; check the format of every C file that is
#  tracked or new (not ignored); configure and build build/ (RelWithDebInfo)
#  and build-asan/ (Debug, ASan + UBSan) and the libFuzzer targets in
#  build-fuzz/ (clang; each fuzzer runs for a bounded time); start a private PostgreSQL and
#  RabbitMQ on loopback in a temporary directory; run ctest in each build with
#  TEST_PG_DSN and TEST_AMQP_URL set; stop the servers and remove the
#  directory however the run ends. Exits non-zero if anything failed.
#  TEST_BUILDS (default "build build-asan build-fuzz") picks the builds. Runs from any
#  directory; running it twice is safe.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

TEST_BUILDS=${TEST_BUILDS:-build build-asan build-fuzz}
started=$SECONDS

#  Fail with the list of C files that clang-format would change.
check_format() {
    local files=() bad=() file
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h')
    else
        mapfile -t files < <(find . -name '*.[ch]' -not -path './build*' -not -path './.run/*')
    fi
    for file in "${files[@]}"; do
        if [ -f "$file" ] && ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
            bad+=("$file")
        fi
    done
    if [ ${#bad[@]} -gt 0 ]; then
        log "these files are not formatted as .clang-format says:"
        printf '    %s\n' "${bad[@]}" >&2
        log "fix with: clang-format -i ${bad[*]}"
        return 1
    fi
    log "format: ${#files[@]} C files checked"
}

run_dir=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$run_dir" ]; then
        #  Subshells: a failing stop (die exits) must not skip the next one.
        #  First the nodes of tests that died before their teardown (a
        #  crash, a ctest timeout): the tests make their directories here.
        local node
        for node in "$run_dir"/tmp/*/rabbit; do
            [ -d "$node" ] || continue
            (rabbit_stop "$node") || rc=1
        done
        (rabbit_stop "$run_dir/rabbit") || rc=1
        (pg_stop "$run_dir/pg") || rc=1
        rm -rf "$run_dir"
    fi
    exit "$rc"
}

#  run_ctest BUILD [ARGS..]: the tests of one build, sanitizer options for ASan.
run_ctest() {
    local build=$1
    shift
    if [ "$build" = build-fuzz ]; then
        #  The fuzz build runs its fuzzers only, each for a bounded time.
        ctest --test-dir "$build" --output-on-failure --no-tests=error -L fuzz
    elif [ "$build" = build-asan ]; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ctest --test-dir "$build" --output-on-failure --no-tests=error -LE bench -j2 "$@"
    else
        ctest --test-dir "$build" --output-on-failure --no-tests=error -LE bench -j2 "$@"
    fi
}

ensure_packages
check_format
for build in $TEST_BUILDS; do
    build_tree "$build"
done
#  Offline checks of deploy/ (kustomize, compose, systemd units, image drift).
bash deploy/check.sh

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/evbus-test.XXXXXX")
chmod 0711 "$run_dir" # postgres and rabbitmq must reach their subdirectories
#  The tests' own temporary directories (and servers) go under it too, so
#  cleanup finds whatever a crashed test left.
mkdir -m 0711 "$run_dir/tmp"
pg_start "$run_dir/pg"
rabbit_start "$run_dir/rabbit"
TEST_PG_DSN=$(pg_dsn "$run_dir/pg")
TEST_AMQP_URL=$(cat "$run_dir/rabbit/amqp.url")
TMPDIR=$run_dir/tmp
export TEST_PG_DSN TEST_AMQP_URL TMPDIR

failed=0
summary=()
for build in $TEST_BUILDS; do
    log "testing $build"
    build_started=$SECONDS
    if run_ctest "$build" "$@"; then
        result=passed
    else
        result=FAILED
        failed=1
    fi
    summary+=("$(printf '%-12s %-7s %4ds' "$build" "$result" $((SECONDS - build_started)))")
done

log "summary (${TEST_BUILDS// /, }; total $((SECONDS - started))s):"
printf '    %s\n' "${summary[@]}" >&2
exit $failed
