#!/usr/bin/env bash
#  down.sh - stop what scripts/up.sh started; data in .run/ is kept
#
#  The services first: every process with a pid file in .run/ (order-service,
#  inventory-service, billing-service, and broker-shim after
#  `scripts/up.sh --bridged`) gets SIGTERM, all at once; each has DOWN_TIMEOUT
#  seconds (default 20) to finish its work in flight and exit (the services
#  themselves wait at most 10 s for requests in flight), then SIGKILL. A
#  service whose binary a rebuild replaced is still found. Then RabbitMQ if
#  one was started in .run/rabbit (bridged mode; with the epmd it started),
#  then PostgreSQL (.run/pg). Safe to run when nothing is up.
#  `rm -rf .run` afterwards forgets the data too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

DOWN_TIMEOUT=${DOWN_TIMEOUT:-20}
[[ $DOWN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "DOWN_TIMEOUT=$DOWN_TIMEOUT is not a number of seconds"

shopt -s nullglob
names=()
for pidfile in "$EVBUS_RUN"/*.pid; do
    names+=("$(basename "$pidfile" .pid)")
done
if [ ${#names[@]} -gt 0 ]; then
    stop_pidfiles "$DOWN_TIMEOUT" "${names[@]}"
fi
rabbit_stop "$EVBUS_RUN/rabbit"
pg_stop "$EVBUS_RUN/pg"
log "stopped"
