#!/usr/bin/env bash
#  up.sh - start the system locally, on loopback, and show one order's journey
#
#    scripts/up.sh             install missing packages, build build/, start what
#                              is down, place a demo order and show what happened
#    scripts/up.sh --bridged   the same, plus RabbitMQ and the broker shim, so
#                              .NET MassTransit services take part (below)
#    scripts/down.sh           stop it again (all of it, bridged or not)
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
#  Bridged mode (--bridged) adds a private RabbitMQ node in .run/rabbit (kept
#  across runs; AMQP on 127.0.0.1:RABBIT_PORT, default 5672, user guest with
#  password guest, which RabbitMQ accepts from loopback only; its Erlang
#  distribution and epmd on free loopback ports) and the broker shim
#  (build/broker-shim/broker-shim, database evbus_shim, .run/broker-shim.pid
#  and .log), with these ports:
#    SHIM_HTTP_PORT=8083        SHIM_PUB_PORT=5590        (replay 5591)
#    RABBIT_PORT=5672           RABBIT_MANAGEMENT_PORT=   (empty: no management
#                               plugin; e.g. 15672 serves its UI on loopback)
#  The shim subscribes to all three services and publishes their events to
#  RabbitMQ as MassTransit does (exchange Contracts:OrderCreatedEvent, ...);
#  order, inventory and billing also subscribe to the shim, so what .NET
#  publishes reaches them. RabbitMQ's ports and plugin are set when the node
#  starts: a running node is kept as it is (scripts/down.sh first to change
#  them).
#
#  The demo, after the services are ready: the SKUs SKU-1 (100 units), SKU-2
#  (50) and SKU-3 (0) are set with `ordersctl stock set`, but only those
#  inventory does not know yet, so a second run never resets stock. Then one
#  new order (2 x SKU-1, 1 x SKU-2, customer "demo") is placed with a fresh
#  W3C traceparent, up.sh waits until the order service shows it
#  PAYMENT_STARTED, and prints its history, the stock, the payment and
#  billing's log line for its trace id. Bridged, it also prints the
#  MassTransit envelope of the order's OrderCreated as a queue bound to
#  Contracts:OrderCreatedEvent received it (a queue of its own, deleted
#  afterwards, and by RabbitMQ after 60 s unused should up.sh be interrupted).
#
#  Running it again: whatever runs is reused (no second copy), a service that
#  is gone (crashed, killed) is started again, a service whose binary the
#  build replaced, or which runs with other options than this run would give
#  it (ports, or the publishers it subscribes to), is restarted, and one more
#  demo order is placed (so SKU-1 goes down by 2 and SKU-2 by 1 per run).
#  `scripts/up.sh --bridged` on a standalone system adds RabbitMQ and the shim
#  and restarts the three services to subscribe to the shim. Plain
#  `scripts/up.sh` while the shim or RabbitMQ of .run/ runs keeps the system
#  bridged (it says so): it reuses what runs and never stops anything;
#  scripts/down.sh, then scripts/up.sh, gives a standalone system again.
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
SHIM_HTTP_PORT=${SHIM_HTTP_PORT:-8083}
SHIM_PUB_PORT=${SHIM_PUB_PORT:-5590}
RABBIT_PORT=${RABBIT_PORT:-5672}
RABBIT_MANAGEMENT_PORT=${RABBIT_MANAGEMENT_PORT:-}
UP_READY_TIMEOUT=${UP_READY_TIMEOUT:-60}
#  How long the demo order may take to reach PAYMENT_STARTED, in seconds.
DEMO_TIMEOUT=30
#  Lines of a failing service's log to show.
LOG_TAIL=30

#  The services this run starts; --bridged adds the shim.
SERVICES=(order inventory billing)
BRIDGED=false
#  Size of each service's log before this run started it, so that a failure
#  shows only what this start wrote.
declare -A LOG_OFFSET=()
PG_DIR=$EVBUS_RUN/pg
RABBIT_DIR=$EVBUS_RUN/rabbit
CTL=$EVBUS_ROOT/build/tools/ordersctl
#  The shim's URL of RabbitMQ (from RABBIT_DIR/amqp.url, once it runs).
AMQP_URL=""
#  The exchange of OrderCreated that the demo watches (the shim's default map).
DEMO_EXCHANGE=Contracts:OrderCreatedEvent
#  How long the demo's OrderCreated may take to reach RabbitMQ, in seconds.
DEMO_RABBIT_TIMEOUT=10

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

#  Die unless PORT (the value of variable VAR) is a TCP port.
check_port_value() {
    local var=$1 port=$2
    if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65534)); then
        die "$var=$port is not a TCP port (1-65534)"
    fi
}

#  Die unless the settings from the environment make sense.
check_settings() {
    local name var all=()
    for name in "${SERVICES[@]}"; do
        for var in "${name^^}_HTTP_PORT" "${name^^}_PUB_PORT"; do
            check_port_value "$var" "${!var}"
            all+=("${!var}")
        done
        all+=("$(($(pub_port "$name") + 1))")
    done
    if $BRIDGED; then
        check_port_value RABBIT_PORT "$RABBIT_PORT"
        all+=("$RABBIT_PORT")
        if [ -n "$RABBIT_MANAGEMENT_PORT" ]; then
            check_port_value RABBIT_MANAGEMENT_PORT "$RABBIT_MANAGEMENT_PORT"
            all+=("$RABBIT_MANAGEMENT_PORT")
        fi
    fi
    [ "$(printf '%s\n' "${all[@]}" | sort -u | wc -l)" -eq ${#all[@]} ] ||
        die "two servers would share a port: ${all[*]} (PUB ports take the next port for replay)"
    [[ $UP_READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
        die "UP_READY_TIMEOUT=$UP_READY_TIMEOUT is not a number of seconds"
}

#  Die if something listens on PORT, which WHO needs (VAR chooses another).
check_port_free() {
    local port=$1 who=$2 var=$3 owner
    if ss -ltnH "sport = :$port" | grep -q .; then
        owner=$(ss -ltnpH "sport = :$port" |
            sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1)
        die "port $port, which $who needs, is taken${owner:+ by $owner};" \
            "free it or choose another with $var=..."
    fi
}

#  Die unless nothing listens on the ports a service is about to bind.
check_ports_free() {
    local name=$1 var=${1^^}_PUB_PORT
    check_port_free "$(http_port "$name")" "$(process_name "$name")" "${name^^}_HTTP_PORT"
    check_port_free "$(pub_port "$name")" "$(process_name "$name")" "$var"
    check_port_free $(($(pub_port "$name") + 1)) "$(process_name "$name") (replay)" "$var"
}

#  ---------------------------------------------------------------------
#  Services

#  A service's process (its pid file and log in .run/) and its binary.
process_name() {
    if [ "$1" = shim ]; then
        echo broker-shim
    else
        echo "$1-service"
    fi
}

binary() {
    if [ "$1" = shim ]; then
        echo "$EVBUS_ROOT/build/broker-shim/broker-shim"
    else
        echo "$EVBUS_ROOT/build/$1/$1-service"
    fi
}

#  The PUB endpoints a service subscribes to: order hears inventory and
#  billing, inventory and billing hear order; bridged, the three also hear the
#  shim (what .NET publishes), and the shim hears all three.
publishers() {
    local name=$1 peers=() peer list
    case $name in
        order) peers=(inventory billing) ;;
        inventory | billing) peers=(order) ;;
        shim) peers=(order inventory billing) ;;
    esac
    if $BRIDGED && [ "$name" != shim ]; then
        peers+=(shim)
    fi
    list=$(for peer in "${peers[@]}"; do printf 'tcp://127.0.0.1:%s,' "$(pub_port "$peer")"; done)
    echo "${list%,}"
}

#  The command line that starts a service, into the array COMMAND.
service_command() {
    local name=$1
    COMMAND=("$(binary "$name")"
        --http-addr "127.0.0.1:$(http_port "$name")"
        --pub-endpoint "tcp://127.0.0.1:$(pub_port "$name")"
        --publishers "$(publishers "$name")"
        --database-url "$(pg_dsn "$PG_DIR" "evbus_$name")")
    if [ "$name" = shim ]; then
        COMMAND+=(--rabbitmq-url "$AMQP_URL")
    fi
}

#  Whether a service runs with the command line this run would start it with.
runs_as_wanted() {
    local name=$1 pid
    pid=$(pidfile_pid "$(process_name "$name")")
    service_command "$name"
    [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" = "$(printf '%s\n' "${COMMAND[@]}")" ]
}

#  Before anything starts: restart the services whose binary the build
#  replaced or whose options differ from this run's, and check the ports of
#  every service that is not running.
prepare_services() {
    local name process restart=()
    for name in "${SERVICES[@]}"; do
        process=$(process_name "$name")
        [ -x "$(binary "$name")" ] || die "$(binary "$name") was not built"
        if pidfile_stale "$process"; then
            log "$process runs a binary the build has replaced; restarting it"
            restart+=("$process")
        elif [ -n "$(pidfile_pid "$process")" ] && ! runs_as_wanted "$name"; then
            log "$process runs with other options (ports or publishers); restarting it"
            restart+=("$process")
        fi
    done
    if [ ${#restart[@]} -gt 0 ]; then
        stop_pidfiles 20 "${restart[@]}"
    fi
    for name in "${SERVICES[@]}"; do
        process=$(process_name "$name")
        if [ -z "$(pidfile_pid "$process")" ]; then
            check_ports_free "$name"
            LOG_OFFSET[$name]=$(stat -c %s "$EVBUS_RUN/$process.log" 2>/dev/null || echo 0)
        fi
    done
}

#  Start a service unless it runs.
start_service() {
    local name=$1
    service_command "$name"
    start_pidfile "$(process_name "$name")" "${COMMAND[@]}"
}

#  Print why a service is not up (its /readyz answer and its log) and exit 1.
fail_service() {
    local name=$1 why=$2 body process
    process=$(process_name "$name")
    body=$(http_get 127.0.0.1 "$(http_port "$name")" /readyz | sed -n '/^\r\{0,1\}$/,$p' |
        tr -d '\r\n' || true)
    log "error: $process $why${body:+; /readyz says $body}"
    log "last lines of $EVBUS_RUN/$process.log (this start only):"
    tail -c "+$((${LOG_OFFSET[$name]:-0} + 1))" "$EVBUS_RUN/$process.log" |
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
            [ -n "$(pidfile_pid "$(process_name "$name")")" ] || fail_service "$name" "has exited"
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
#  Bridged mode: RabbitMQ

#  Start (or reuse) the node in RABBIT_DIR; sets AMQP_URL.
start_rabbit() {
    local port
    if [ -z "$(rabbit_pid "$RABBIT_DIR")" ]; then
        check_port_free "$RABBIT_PORT" RabbitMQ RABBIT_PORT
        if [ -n "$RABBIT_MANAGEMENT_PORT" ]; then
            check_port_free "$RABBIT_MANAGEMENT_PORT" "RabbitMQ's management plugin" \
                RABBIT_MANAGEMENT_PORT
        fi
    fi
    EVBUS_RABBIT_PORT=$RABBIT_PORT EVBUS_RABBIT_GUEST=on \
        EVBUS_RABBIT_MANAGEMENT_PORT=$RABBIT_MANAGEMENT_PORT rabbit_start "$RABBIT_DIR"
    AMQP_URL=$(cat "$RABBIT_DIR/amqp.url")
    port=$(amqp_port)
    if [ "$port" != "$RABBIT_PORT" ]; then
        log "RabbitMQ keeps running on port $port; RABBIT_PORT=$RABBIT_PORT applies after scripts/down.sh"
    fi
    if [ -n "$RABBIT_MANAGEMENT_PORT" ] && ! management_up; then
        log "RabbitMQ runs without the management plugin; RABBIT_MANAGEMENT_PORT applies after scripts/down.sh"
    fi
}

#  The AMQP port of AMQP_URL.
amqp_port() {
    local port=${AMQP_URL##*:}
    echo "${port%%/*}"
}

#  Whether RabbitMQ's management plugin listens on RABBIT_MANAGEMENT_PORT.
management_up() {
    [ -n "$RABBIT_MANAGEMENT_PORT" ] &&
        ss -ltnpH "sport = :$RABBIT_MANAGEMENT_PORT" | grep -q "pid=$(rabbit_pid "$RABBIT_DIR"),"
}

#  demo_queue bind|take: the demo's own queue on RabbitMQ, bound to the
#  exchange of OrderCreated as a MassTransit receive endpoint is (python3-pika,
#  a client other than the shim's; Debian's python3, which has it, even when
#  another python3 comes first on PATH). bind declares it (x-expires: RabbitMQ
#  deletes it after 60 s unused); take waits for the demo order's message,
#  prints it (AMQP properties and the envelope) and deletes the queue.
demo_queue() {
    /usr/bin/python3 - "$1" "$AMQP_URL" "$DEMO_QUEUE" "$DEMO_EXCHANGE" "${ORDER_ID:-}" \
        "$DEMO_RABBIT_TIMEOUT" <<'EOF'
import json
import sys
import time

import pika

mode, url, queue, exchange, order_id, timeout = sys.argv[1:7]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
if mode == "bind":
    # As MassTransit declares a message type's exchange: fanout, durable.
    channel.exchange_declare(exchange, "fanout", durable=True)
    channel.queue_declare(queue, arguments={"x-expires": 60000})
    channel.queue_bind(queue, exchange)
    sys.exit(0)
deadline = time.monotonic() + float(timeout)
for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.5):
    if time.monotonic() >= deadline:
        sys.exit(1)
    try:
        envelope = json.loads(body) if method else None
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or \
            (envelope.get("message") or {}).get("orderId") != order_id:
        continue  # nothing yet, or an order placed by someone else meanwhile
    headers = {name: value.decode() if isinstance(value, bytes) else value
               for name, value in (properties.headers or {}).items()}
    print("exchange %s, content_type %s, delivery_mode %s (%s), message_id %s"
          % (method.exchange, properties.content_type, properties.delivery_mode,
             "persistent" if properties.delivery_mode == 2 else "transient",
             properties.message_id))
    print("headers %s" % json.dumps(headers))
    print(json.dumps(envelope, indent=2, ensure_ascii=False))
    break
channel.cancel()
channel.queue_delete(queue)
connection.close()
EOF
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
    if $BRIDGED; then
        printf '\n==> The demo order on RabbitMQ\n'
        printf 'Its OrderCreated, as a queue bound to the exchange %s received it\n' "$DEMO_EXCHANGE"
        printf '(what a MassTransit consumer of Contracts.OrderCreatedEvent gets):\n'
        if [ -n "$DEMO_RABBIT" ]; then
            printf '%s\n' "$DEMO_RABBIT"
        else
            printf '(nothing within %ss: see .run/broker-shim.log)\n' "$DEMO_RABBIT_TIMEOUT"
        fi
    fi
}

print_next() {
    local name process
    printf '\n==> Running (each service also serves /healthz, /readyz and /metrics)\n'
    for name in "${SERVICES[@]}"; do
        process=$(process_name "$name")
        printf '  %-18s http://127.0.0.1:%-5s  pid %-7s  log .run/%s.log\n' \
            "$process" "$(http_port "$name")" "$(pidfile_pid "$process")" "$process"
    done
    printf '  %-18s psql "%s"\n' PostgreSQL "$(pg_dsn "$PG_DIR" evbus_order)"
    if $BRIDGED; then
        printf '  %-18s %s  pid %s  log .run/rabbit/log\n' RabbitMQ "$AMQP_URL" \
            "$(rabbit_pid "$RABBIT_DIR")"
        if management_up; then
            printf '  %-18s http://127.0.0.1:%s (guest/guest)\n' "management UI" \
                "$RABBIT_MANAGEMENT_PORT"
        fi
    fi
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
EOF
    if $BRIDGED; then
        cat <<EOF
  # a .NET MassTransit service on this machine: host localhost:$(amqp_port), guest/guest (README.md,
  # "Bridged mode"); it receives every event above and what it publishes reaches the services
  scripts/up.sh --bridged   # again: reuses what runs, starts what is missing, one more demo order
  scripts/down.sh   # stops the services, the shim, RabbitMQ and PostgreSQL; data stays in .run/
EOF
    else
        cat <<'EOF'
  scripts/up.sh     # again: reuses what runs, starts what is missing, places one more demo order
  scripts/up.sh --bridged   # adds RabbitMQ and the broker shim (.NET MassTransit services)
  scripts/down.sh   # stops the services and PostgreSQL; data stays in .run/ (rm -rf .run forgets it)
EOF
    fi
}

#  ---------------------------------------------------------------------

case $# in
    0) ;;
    1)
        case $1 in
            --bridged) BRIDGED=true ;;
            -h | --help)
                sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,2\}//;p}' "${BASH_SOURCE[0]}"
                exit 0
                ;;
            *) die "unknown argument '$1' (usage: scripts/up.sh [--bridged])" ;;
        esac
        ;;
    *) die "too many arguments (usage: scripts/up.sh [--bridged])" ;;
esac
if ! $BRIDGED && { [ -n "$(pidfile_pid broker-shim)" ] || [ -n "$(rabbit_pid "$RABBIT_DIR")" ]; }; then
    log "the broker shim or RabbitMQ of .run/ runs: staying bridged" \
        "(scripts/down.sh, then scripts/up.sh, for a standalone system)"
    BRIDGED=true
fi
if $BRIDGED; then
    SERVICES+=(shim)
fi
DEMO_QUEUE=evbus-up-demo-$(random_hex 4)
DEMO_RABBIT=""

check_settings
ensure_packages
build_tree build
[ -x "$CTL" ] || die "$CTL was not built"

mkdir -p "$EVBUS_RUN"
chmod 0755 "$EVBUS_RUN" # postgres and rabbitmq must reach .run/pg and .run/rabbit
pg_start "$PG_DIR"
for name in "${SERVICES[@]}"; do
    pg_create_db "$PG_DIR" "evbus_$name"
done
if $BRIDGED; then
    start_rabbit
fi

prepare_services
for name in "${SERVICES[@]}"; do
    start_service "$name"
done
wait_ready
log "all services ready"

#  ordersctl finds the services through these (overriding the caller's).
export ORDER_URL=http://127.0.0.1:$ORDER_HTTP_PORT
export INVENTORY_URL=http://127.0.0.1:$INVENTORY_HTTP_PORT
export BILLING_URL=http://127.0.0.1:$BILLING_HTTP_PORT
seed_stock
if $BRIDGED; then
    demo_queue bind || die "could not bind a queue to $DEMO_EXCHANGE on RabbitMQ ($AMQP_URL)"
fi
place_demo_order
if $BRIDGED; then
    DEMO_RABBIT=$(demo_queue take) || true
fi
print_journey
print_next
if $BRIDGED && [ -z "$DEMO_RABBIT" ]; then
    die "the demo order's OrderCreated did not reach RabbitMQ within ${DEMO_RABBIT_TIMEOUT}s"
fi
