#!/usr/bin/env bash
#  up.sh - start the system locally, on loopback, and show one order's journey
#
#    scripts/up.sh      install missing packages, build build/, start what is
#                       down, place a demo order and show what happened to it
#    scripts/down.sh    stop it again
#
#  What it starts: a private PostgreSQL cluster in .run/pg (kept across runs)
#  with the databases evbus_order, evbus_inventory and evbus_billing, and the
#  three services from build/, detached, each with .run/NAME.pid and
#  .run/NAME.log (NAME = order-service, inventory-service, billing-service).
#  It waits (bounded, UP_READY_TIMEOUT seconds, default 60) until every
#  service's /readyz answers 200; on timeout, or when a service exits, it
#  prints the tail of that service's log and exits 1.
#
#  Ports, on 127.0.0.1 (defaults from docs/http-api.md; each service's replay
#  socket binds its PUB port + 1). Override them in the environment:
#    ORDER_HTTP_PORT=8080       ORDER_PUB_PORT=5560       (replay 5561)
#    INVENTORY_HTTP_PORT=8081   INVENTORY_PUB_PORT=5570   (replay 5571)
#    BILLING_HTTP_PORT=8082     BILLING_PUB_PORT=5580     (replay 5581)
#
#  The demo, after the services are ready: the SKUs SKU-1 (100 units), SKU-2
#  (50) and SKU-3 (0) are set with `ordersctl stock set`, but only those
#  inventory does not know yet, so a second run never resets stock. Then one
#  new order (2 x SKU-1, 1 x SKU-2, customer "demo") is placed with a fresh
#  W3C traceparent, up.sh waits until the order service shows it
#  PAYMENT_STARTED, and prints its history, the stock, the payment and
#  billing's log line for its trace id.
#
#  Running it again: whatever runs is reused (no second copy), a service that
#  is gone (crashed, killed) is started again, a service whose binary the
#  build replaced is restarted, and one more demo order is placed (so SKU-1
#  goes down by 2 and SKU-2 by 1 per run).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

ORDER_HTTP_PORT=${ORDER_HTTP_PORT:-8080}
INVENTORY_HTTP_PORT=${INVENTORY_HTTP_PORT:-8081}
BILLING_HTTP_PORT=${BILLING_HTTP_PORT:-8082}
ORDER_PUB_PORT=${ORDER_PUB_PORT:-5560}
INVENTORY_PUB_PORT=${INVENTORY_PUB_PORT:-5570}
BILLING_PUB_PORT=${BILLING_PUB_PORT:-5580}
UP_READY_TIMEOUT=${UP_READY_TIMEOUT:-60}
#  How long the demo order may take to reach PAYMENT_STARTED, in seconds.
DEMO_TIMEOUT=30
#  Lines of a failing service's log to show.
LOG_TAIL=30

SERVICES=(order inventory billing)
#  Size of each service's log before this run started it, so that a failure
#  shows only what this start wrote.
declare -A LOG_OFFSET=()
PG_DIR=$EVBUS_RUN/pg
CTL=$EVBUS_ROOT/build/tools/ordersctl

#  ---------------------------------------------------------------------
#  Ports

#  The HTTP or PUB port of a service: http_port order -> $ORDER_HTTP_PORT.
http_port() {
    local var=${1^^}_HTTP_PORT
    echo "${!var}"
}

pub_port() {
    local var=${1^^}_PUB_PORT
    echo "${!var}"
}

#  Die unless the settings from the environment make sense.
check_settings() {
    local name var port all=()
    for name in "${SERVICES[@]}"; do
        for var in "${name^^}_HTTP_PORT" "${name^^}_PUB_PORT"; do
            port=${!var}
            if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65534)); then
                die "$var=$port is not a TCP port (1-65534)"
            fi
            all+=("$port")
        done
        all+=("$(($(pub_port "$name") + 1))")
    done
    [ "$(printf '%s\n' "${all[@]}" | sort -u | wc -l)" -eq ${#all[@]} ] ||
        die "two services would share a port: ${all[*]} (PUB ports take the next port for replay)"
    [[ $UP_READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
        die "UP_READY_TIMEOUT=$UP_READY_TIMEOUT is not a number of seconds"
}

#  Die unless nothing listens on the ports a service is about to bind.
check_ports_free() {
    local name=$1 port var owner
    for port in "$(http_port "$name")" "$(pub_port "$name")" $(($(pub_port "$name") + 1)); do
        owner=$(ss -ltnpH "sport = :$port" |
            sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1)
        if ss -ltnH "sport = :$port" | grep -q .; then
            var=${name^^}_HTTP_PORT
            [ "$port" = "$(http_port "$name")" ] || var=${name^^}_PUB_PORT
            die "port $port, which $name-service needs, is taken${owner:+ by $owner};" \
                "free it or choose another with $var=..."
        fi
    done
}

#  ---------------------------------------------------------------------
#  Services

#  Before anything starts: restart a service whose binary the build replaced,
#  and check the ports of every service that is not running.
prepare_service() {
    local name=$1
    [ -x "$EVBUS_ROOT/build/$name/$name-service" ] ||
        die "build/$name/$name-service was not built"
    if pidfile_stale "$name-service"; then
        log "$name-service runs a binary the build has replaced; restarting it"
        stop_pidfiles 20 "$name-service"
    fi
    if [ -z "$(pidfile_pid "$name-service")" ]; then
        check_ports_free "$name"
        LOG_OFFSET[$name]=$(stat -c %s "$EVBUS_RUN/$name-service.log" 2>/dev/null || echo 0)
    fi
}

#  Start a service unless it runs; PUBLISHERS are the streams it subscribes to.
start_service() {
    local name=$1 publishers=$2
    start_pidfile "$name-service" "$EVBUS_ROOT/build/$name/$name-service" \
        --http-addr "127.0.0.1:$(http_port "$name")" \
        --pub-endpoint "tcp://127.0.0.1:$(pub_port "$name")" \
        --publishers "$publishers" \
        --database-url "$(pg_dsn "$PG_DIR" "evbus_$name")"
}

#  Print why a service is not up (its /readyz answer and its log) and exit 1.
fail_service() {
    local name=$1 why=$2 body
    body=$(http_get 127.0.0.1 "$(http_port "$name")" /readyz | sed -n '/^\r\{0,1\}$/,$p' |
        tr -d '\r\n' || true)
    log "error: $name-service $why${body:+; /readyz says $body}"
    log "last lines of $EVBUS_RUN/$name-service.log (this start only):"
    tail -c "+$((${LOG_OFFSET[$name]:-0} + 1))" "$EVBUS_RUN/$name-service.log" |
        tail -n "$LOG_TAIL" >&2 || true
    log "whatever still runs is left running; scripts/down.sh stops it"
    exit 1
}

#  Wait until every service answers /readyz with 200; fail fast when one exits.
wait_ready() {
    local deadline=$((SECONDS + UP_READY_TIMEOUT)) name pending
    log "waiting up to ${UP_READY_TIMEOUT}s for /readyz of ${SERVICES[*]}"
    while :; do
        pending=()
        for name in "${SERVICES[@]}"; do
            [ -n "$(pidfile_pid "$name-service")" ] || fail_service "$name" "has exited"
            http_ready 127.0.0.1 "$(http_port "$name")" || pending+=("$name")
        done
        [ ${#pending[@]} -gt 0 ] || return 0
        if ((SECONDS >= deadline)); then
            fail_service "${pending[0]}" "is not ready after ${UP_READY_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

#  ---------------------------------------------------------------------
#  Demo

#  Set the stock of the demo SKUs that inventory does not know yet.
seed_stock() {
    local spec sku available err
    for spec in SKU-1:100 SKU-2:50 SKU-3:0; do
        sku=${spec%%:*}
        available=${spec#*:}
        if err=$("$CTL" stock get "$sku" 2>&1 >/dev/null); then
            log "stock of $sku already set; kept"
        elif [[ $err == *" 404 not_found"* ]]; then
            "$CTL" stock set "$sku" "$available" >/dev/null || die "could not set the stock of $sku"
            log "stock of $sku set to $available"
        else
            die "could not read the stock of $sku: $err"
        fi
    done
}

#  The value of a top-level string field in ordersctl's pretty JSON.
json_field() {
    grep -o "^  \"$1\": \"[^\"]*\"" | head -n 1 | cut -d '"' -f 4
}

now_ms() {
    local us=${EPOCHREALTIME//[!0-9]/}
    echo $((us / 1000))
}

#  Place the demo order; sets ORDER_ID, TRACE_ID and ELAPSED_MS.
place_demo_order() {
    local traceparent json status started deadline
    TRACE_ID=$(random_hex 16)
    traceparent=00-$TRACE_ID-$(random_hex 8)-01
    started=$(now_ms)
    json=$("$CTL" create --json --customer demo --currency EUR --traceparent "$traceparent" \
        --item SKU-1:2:19.99 --item SKU-2:1:5.50) || die "the demo order was not accepted"
    ORDER_ID=$(json_field orderId <<<"$json")
    [ -n "$ORDER_ID" ] || die "no orderId in the answer: $json"
    log "demo order $ORDER_ID placed (trace $TRACE_ID); waiting for PAYMENT_STARTED"
    deadline=$((SECONDS + DEMO_TIMEOUT))
    while :; do
        json=$("$CTL" get "$ORDER_ID" --json) || die "cannot read the demo order back"
        status=$(json_field status <<<"$json")
        case $status in
            PAYMENT_STARTED | REJECTED | CANCELLED) break ;;
        esac
        if ((SECONDS >= deadline)); then
            "$CTL" get "$ORDER_ID" >&2 || true
            die "the demo order is still $status after ${DEMO_TIMEOUT}s; see .run/*.log"
        fi
        sleep 0.1
    done
    ELAPSED_MS=$(($(now_ms) - started))
    DEMO_STATUS=$status
}

#  Show a command as the user would type it from the work tree, then its output.
show() {
    printf '\n$ %s\n' "$*" | sed "s|$EVBUS_ROOT/||"
    "$@"
}

print_journey() {
    printf '\n==> The demo order\n'
    printf 'Order %s for customer demo, trace id %s:\n' "$ORDER_ID" "$TRACE_ID"
    printf '%s %d ms after it was placed.\n' "$DEMO_STATUS" "$ELAPSED_MS"
    if [ "$DEMO_STATUS" != PAYMENT_STARTED ]; then
        printf 'Not enough stock for it: many runs have used up SKU-1 or SKU-2 (see below).\n'
    fi
    show "$CTL" get "$ORDER_ID" || true
    show "$CTL" stock get || true
    show "$CTL" payment get "$ORDER_ID" || true
    printf '\n$ grep %s .run/billing-service.log\n' "$TRACE_ID"
    if wait_until 5 grep -q "$TRACE_ID" "$EVBUS_RUN/billing-service.log"; then
        grep "$TRACE_ID" "$EVBUS_RUN/billing-service.log"
    else
        printf '(no line with the trace id yet)\n'
    fi
}

print_next() {
    local name
    printf '\n==> Running (each service also serves /healthz, /readyz and /metrics)\n'
    for name in "${SERVICES[@]}"; do
        printf '  %-18s http://127.0.0.1:%-5s  pid %-7s  log .run/%s-service.log\n' \
            "$name-service" "$(http_port "$name")" "$(pidfile_pid "$name-service")" "$name"
    done
    printf '  %-18s psql "%s"\n' PostgreSQL "$(pg_dsn "$PG_DIR" evbus_order)"
    printf '\n==> What next\n'
    if [ "$ORDER_URL $INVENTORY_URL $BILLING_URL" != \
        "http://127.0.0.1:8080 http://127.0.0.1:8081 http://127.0.0.1:8082" ]; then
        printf '  export ORDER_URL=%s INVENTORY_URL=%s BILLING_URL=%s\n' \
            "$ORDER_URL" "$INVENTORY_URL" "$BILLING_URL"
    fi
    cat <<EOF
  build/tools/ordersctl --help                # every command; ordersctl COMMAND --help for one
  build/tools/ordersctl list --customer demo  # the demo orders, newest first
  build/tools/ordersctl create --customer c-1 --currency EUR --item SKU-1:1:19.99
  build/tools/ordersctl create --customer c-1 --currency EUR --item SKU-3:1:5   # no stock: REJECTED
  build/tools/ordersctl cancel ORDER_ID       # inventory releases the stock, billing voids the payment
  grep $TRACE_ID .run/*.log   # the demo order in all three logs
  scripts/up.sh     # again: reuses what runs, starts what is missing, places one more demo order
  scripts/down.sh   # stops the services and PostgreSQL; data stays in .run/ (rm -rf .run forgets it)
EOF
}

#  ---------------------------------------------------------------------

check_settings
ensure_packages
build_tree build
[ -x "$CTL" ] || die "$CTL was not built"

mkdir -p "$EVBUS_RUN"
chmod 0755 "$EVBUS_RUN" # postgres must reach .run/pg
pg_start "$PG_DIR"
for name in "${SERVICES[@]}"; do
    pg_create_db "$PG_DIR" "evbus_$name"
done

for name in "${SERVICES[@]}"; do
    prepare_service "$name"
done
#  Order hears inventory and billing; inventory and billing hear order.
start_service order "tcp://127.0.0.1:$INVENTORY_PUB_PORT,tcp://127.0.0.1:$BILLING_PUB_PORT"
start_service inventory "tcp://127.0.0.1:$ORDER_PUB_PORT"
start_service billing "tcp://127.0.0.1:$ORDER_PUB_PORT"
wait_ready
log "all services ready"

#  ordersctl finds the services through these (overriding the caller's).
export ORDER_URL=http://127.0.0.1:$ORDER_HTTP_PORT
export INVENTORY_URL=http://127.0.0.1:$INVENTORY_HTTP_PORT
export BILLING_URL=http://127.0.0.1:$BILLING_HTTP_PORT
seed_stock
place_demo_order
print_journey
print_next
