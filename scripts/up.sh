#!/usr/bin/env bash
#  up.sh - start the system locally, on loopback, from a fresh Debian 12 machine
#
#    scripts/up.sh      install missing packages, build build/, start what is down
#    scripts/down.sh    stop it again
#
#  State lives in .run/ of the work tree (gitignored): the PostgreSQL cluster
#  in .run/pg (kept across runs, with the database `evbus`), and for each
#  of our processes .run/NAME.pid and .run/NAME.log (see start_pidfile in
#  lib.sh). Whatever already runs is reused, so running it twice is safe.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EVBUS_ROOT"

ensure_packages
build_tree build

mkdir -p "$EVBUS_RUN"
chmod 0755 "$EVBUS_RUN" # postgres must reach .run/pg
pg_start "$EVBUS_RUN/pg"
pg_create_db "$EVBUS_RUN/pg" evbus

#  Services start here (start_pidfile NAME build/.../NAME ...) once they exist.

port=$(cat "$EVBUS_RUN/pg/pg.port")
cat <<EOT

PostgreSQL  127.0.0.1:$port (TCP: user postgres, password in .run/pg/pg.password)
            socket directory $EVBUS_RUN/pg (trusted)
            psql "$(pg_dsn "$EVBUS_RUN/pg" evbus)"
            log  $EVBUS_RUN/pg/pg.log
Services    none yet: the order, inventory and billing services and the demo
            order are not built yet; only the database is up.
Stop with   scripts/down.sh
EOT
