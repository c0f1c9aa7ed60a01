#!/usr/bin/env bash
#  down.sh - stop what scripts/up.sh started; data in .run/ is kept
#
#  Our processes first (every .run/NAME.pid gets SIGTERM, and SIGKILL if it
#  has not exited after 10 s), then RabbitMQ if one was started in
#  .run/rabbit, then PostgreSQL. Safe to run when nothing is up.
#  `rm -rf .run` afterwards forgets the data too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

shopt -s nullglob
for pidfile in "$EVBUS_RUN"/*.pid; do
    stop_pidfile "$(basename "$pidfile" .pid)"
done
rabbit_stop "$EVBUS_RUN/rabbit"
pg_stop "$EVBUS_RUN/pg"
log "stopped"
