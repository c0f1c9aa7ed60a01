# shellcheck shell=bash
#  lib.sh - what up.sh, down.sh and test.sh share
#
#  Sourced by the other scripts (which run under `set -euo pipefail`), never
#  run on its own. It holds the one list of Debian packages the project needs
#  and the functions that start and stop private servers on loopback:
#
#    ensure_packages            install what is missing (apt-get, as root or via sudo)
#    free_port [EXCLUDED..]     a TCP port nobody listens on, below the ephemeral range
#    build_tree NAME            configure and build build/ or build-asan/
#    pg_start DIR / pg_stop DIR / pg_dsn DIR [DB] / pg_create_db DIR DB
#    rabbit_start DIR / rabbit_stop DIR / rabbit_pid DIR   (URL in DIR/amqp.url)
#    start_pidfile NAME CMD.. / stop_pidfiles SECONDS NAME..   (.run/NAME.pid, .log)
#
#  Every server belongs to a private directory: its data, socket, log, port
#  and password files live there, so a run never touches a system-wide
#  cluster, and removing the directory removes everything. Servers run as
#  their Debian users (postgres, rabbitmq) when we are root, because initdb
#  refuses root; as anyone else they run as that user. Every wait is bounded.

EVBUS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
EVBUS_RUN=$EVBUS_ROOT/.run

#  The Debian packages the project needs to build, test and run (Debian 12).
EVBUS_PACKAGES=(
    build-essential cmake pkg-config clang clang-format clang-tidy libclang-rt-14-dev
    libzmq3-dev libczmq-dev libprotobuf-c-dev protobuf-c-compiler
    libpq-dev postgresql librabbitmq-dev rabbitmq-server
    libcmocka-dev libmicrohttpd-dev libjansson-dev uuid-dev libcurl4-openssl-dev
    python3-pika python3-yaml docker-compose procps iproute2
)

RABBIT_BIN=/usr/lib/rabbitmq/bin

#  ---------------------------------------------------------------------
#  Messages, users, waiting

log() {
    printf '[%s] %s\n' "${0##*/}" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

#  The OS user a server runs as: its Debian user when we are root, else us.
service_user() {
    if is_root; then
        echo "$1"
    else
        id -un
    fi
}

#  Run a command as USER (only root can switch; anyone else is USER already).
as_user() {
    local user=$1
    shift
    if is_root && [ "$user" != root ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

#  wait_until SECONDS CMD..: poll CMD every 0.2 s until it succeeds; 1 on timeout.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}

pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

pid_gone() {
    ! pid_alive "$1"
}

random_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

#  make_private_dir DIR USER: DIR (mode 0700) owned by USER, who must be able to
#  reach it: every parent needs the x bit for USER (a home directory of mode
#  0700 above it, for example, does not give it).
make_private_dir() {
    local dir=$1 user=$2 parent
    mkdir -p "$(dirname "$dir")"
    [ -d "$dir" ] || mkdir -m 0700 "$dir"
    if is_root; then
        chown "$user:" "$dir"
    fi
    if ! as_user "$user" test -w "$dir"; then
        parent=$dir
        while [ "$parent" != / ]; do
            parent=$(dirname "$parent")
            if ! as_user "$user" test -x "$parent"; then
                die "user $user cannot reach $dir: $parent is not searchable for it" \
                    "(chmod o+x $parent, or move the work tree)"
            fi
        done
        die "user $user cannot write $dir"
    fi
}

#  ---------------------------------------------------------------------
#  Packages

#  Install the packages of EVBUS_PACKAGES that are missing; does nothing (and
#  needs no network) when all are there. Debian's postinst scripts start the
#  services they install: a policy-rc.d that refuses keeps them from starting,
#  and whatever starts anyway is stopped again, so no system-wide server is
#  left listening.
ensure_packages() {
    local installed missing=() pkg
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${EVBUS_PACKAGES[@]}" \
        2>/dev/null | awk '$2 == "ii" { print $1 }') || true
    for pkg in "${EVBUS_PACKAGES[@]}"; do
        if ! grep -qx "$pkg" <<<"$installed"; then
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    log "installing missing packages: ${missing[*]}"
    s_apt_install "${missing[@]}"
}

s_apt_install() {
    local sudo=() policy=/usr/sbin/policy-rc.d own_policy=0 before rc=0
    if ! is_root; then
        command -v sudo >/dev/null || die "not root and no sudo: install ${*} by hand"
        sudo=(sudo)
    fi
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# evbus scripts/lib.sh: no service starts during install\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 0755 "$policy"
        own_policy=1
    fi
    before=$(s_server_pids)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
    if [ $rc -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "$@" || rc=$?
    fi
    if [ $own_policy -eq 1 ]; then
        "${sudo[@]}" rm -f "$policy"
    fi
    s_stop_started_servers "$before" "${sudo[@]}"
    [ $rc -eq 0 ] || die "apt-get failed (exit $rc) installing: $*"
}

#  PIDs of server processes that a package install could start.
s_server_pids() {
    local name
    for name in epmd beam.smp postgres; do
        pgrep -x "$name" || true
    done | sort
}

#  Stop the system-wide servers that appeared since BEFORE (a list of PIDs):
#  Debian's RabbitMQ node, Debian PostgreSQL clusters and an epmd on 4369.
#  Private servers that tests or up.sh start meanwhile are left alone.
s_stop_started_servers() {
    local before=$1 pid cmdline cluster
    shift
    for pid in $(comm -13 <(echo "$before") <(s_server_pids)); do
        cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
        cluster=""
        case $cmdline in
            *beam.smp*" -home /var/lib/rabbitmq "*)
                log "stopping the system RabbitMQ node (pid $pid) the install started"
                "$@" service rabbitmq-server stop >/dev/null 2>&1 || "$@" kill "$pid" || true
                ;;
            */bin/postgres" -D "*)
                cluster=$(s_pg_cluster_of "$pid")
                ;;
        esac
        if [ -n "$cluster" ]; then
            log "stopping the system PostgreSQL cluster $cluster the install started"
            # shellcheck disable=SC2086 # "VERSION NAME" are two arguments
            "$@" pg_ctlcluster --mode fast $cluster stop || true
        fi
    done
    pid=$(s_listener_pid 4369)
    if [ -n "$pid" ] && ! grep -qx "$pid" <<<"$before"; then
        log "stopping the system epmd (pid $pid) the install started"
        "$@" kill "$pid" 2>/dev/null || true
    fi
}

#  "VERSION NAME" of the Debian cluster a postmaster PID serves, if any.
s_pg_cluster_of() {
    local data
    data=$(tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -A1 -x -- '-D' | tail -n 1) || true
    pg_lsclusters -h 2>/dev/null | awk -v d="$data" '$6 == d { print $1, $2 }' | head -n 1 || true
}

#  ---------------------------------------------------------------------
#  Ports and builds

#  A TCP port on which nothing listens, chosen at random from 20000-32767 (below
#  Linux's ephemeral range, so no outgoing connection holds it either) and not
#  among the EXCLUDED ones (ports picked for the same server but not yet bound).
free_port() {
    local listening port tries
    listening=$(ss -ltnH | awk '{ n = split($4, a, ":"); print a[n] }')
    for ((tries = 0; tries < 200; tries++)); do
        port=$((20000 + RANDOM % 12768))
        if ! grep -qx "$port" <<<"$listening" && [[ " $* " != *" $port "* ]]; then
            echo "$port"
            return 0
        fi
    done
    die "no free TCP port found in 20000-32767"
}

#  build_tree NAME: configure and build $EVBUS_ROOT/NAME, where NAME is `build`
#  (RelWithDebInfo) or `build-asan` (Debug with ASan and UBSan).
build_tree() {
    local name=$1 flags targets=()
    case $name in
        build) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
        build-asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DENABLE_SANITIZERS=ON) ;;
        #  libFuzzer needs clang; only the fuzz targets (and what they link) are built.
        build-fuzz)
            flags=(-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DENABLE_FUZZING=ON)
            targets=(--target fuzzers)
            ;;
        *) die "unknown build '$name' (known: build build-asan build-fuzz)" ;;
    esac
    log "building $name"
    cmake -S "$EVBUS_ROOT" -B "$EVBUS_ROOT/$name" --log-level=WARNING "${flags[@]}"
    cmake --build "$EVBUS_ROOT/$name" -j "$(nproc)" "${targets[@]}"
}

#  ---------------------------------------------------------------------
#  PostgreSQL: a private cluster in DIR/pgdata, socket in DIR, TCP on
#  127.0.0.1 only. Local (socket) connections are trusted: the socket sits in
#  DIR, which only its owner and root can enter. TCP asks for the password in
#  DIR/pg.password (scram). Files: pg.port, pg.log, pg.password.
#  EVBUS_PG_FSYNC=off trades durability for speed (default on: benchmarks
#  measure real commit rates).

#  The bin directory of the PostgreSQL version of DIR's cluster, else the newest.
s_pg_bindir() {
    local dir=$1 bin
    if [ -f "$dir/pgdata/PG_VERSION" ]; then
        bin=/usr/lib/postgresql/$(cat "$dir/pgdata/PG_VERSION")/bin
    else
        bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null |
            sort -V | tail -n 1)
    fi
    [ -x "$bin/initdb" ] || die "no PostgreSQL server binaries found (package postgresql)"
    echo "$bin"
}

s_pg_running() {
    local dir=$1
    [ -f "$dir/pgdata/PG_VERSION" ] &&
        as_user "$(service_user postgres)" "$(s_pg_bindir "$dir")/pg_ctl" status \
            -D "$dir/pgdata" >/dev/null 2>&1
}

s_pg_init() {
    local dir=$1 bin=$2 user=$3
    log "initdb $dir/pgdata"
    random_hex 16 | as_user "$user" tee "$dir/pg.password" >/dev/null
    as_user "$user" chmod 0600 "$dir/pg.password"
    as_user "$user" "$bin/initdb" -D "$dir/pgdata" -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pg.password" \
        --no-instructions >"$dir/initdb.log" 2>&1 ||
        { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
    echo "include_if_exists = 'evbus.conf'" | as_user "$user" tee -a "$dir/pgdata/postgresql.conf" \
        >/dev/null
}

#  pg_start DIR: start (or reuse) the cluster of DIR; its port goes to DIR/pg.port.
#  EVBUS_PG_FSYNC (default on) and EVBUS_PG_EXTRA (more postgresql.conf lines,
#  e.g. "track_commit_timestamp = on") tune a cluster that is not yet running.
pg_start() {
    local dir=$1 user bin port
    user=$(service_user postgres)
    [[ $dir != *"'"* ]] || die "PostgreSQL directory must not contain a quote: $dir"
    if s_pg_running "$dir"; then
        log "PostgreSQL already running in $dir (port $(cat "$dir/pg.port"))"
        return 0
    fi
    make_private_dir "$dir" "$user"
    bin=$(s_pg_bindir "$dir")
    if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
        s_pg_init "$dir" "$bin" "$user"
    fi
    #  Keep the previous port when it is still free, so the DSN stays the same.
    port=$(cat "$dir/pg.port" 2>/dev/null || true)
    if [ -z "$port" ] || ss -ltnH "sport = :$port" | grep -q .; then
        port=$(free_port)
    fi
    ((${#dir} + 20 < 108)) || die "socket path too long (unix sockets allow 107 bytes): $dir"
    as_user "$user" tee "$dir/pgdata/evbus.conf" >/dev/null <<EOF
# Written by scripts/lib.sh at every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = ${EVBUS_PG_FSYNC:-on}
max_connections = 200
${EVBUS_PG_EXTRA:-}
EOF
    log "starting PostgreSQL in $dir on 127.0.0.1:$port"
    if ! as_user "$user" "$bin/pg_ctl" start -D "$dir/pgdata" -l "$dir/pg.log" -w -t 60 -s; then
        tail -n 30 "$dir/pg.log" >&2 || true
        die "PostgreSQL did not start in $dir (log: $dir/pg.log)"
    fi
    echo "$port" >"$dir/pg.port"
    wait_until 30 "$bin/pg_isready" -q -h "$dir" -p "$port" ||
        { tail -n 30 "$dir/pg.log" >&2; die "PostgreSQL in $dir is not accepting connections"; }
}

#  pg_stop DIR: stop the cluster of DIR if it runs (fast: disconnects clients).
pg_stop() {
    local dir=$1 user bin
    s_pg_running "$dir" || return 0
    user=$(service_user postgres)
    bin=$(s_pg_bindir "$dir")
    log "stopping PostgreSQL in $dir"
    if ! as_user "$user" "$bin/pg_ctl" stop -D "$dir/pgdata" -m fast -w -t 60 -s; then
        log "fast shutdown timed out; stopping immediately"
        as_user "$user" "$bin/pg_ctl" stop -D "$dir/pgdata" -m immediate -w -t 30 -s
    fi
}

#  pg_dsn DIR [DB]: libpq conninfo for DB (default postgres) over DIR's socket.
pg_dsn() {
    echo "host=$1 port=$(cat "$1/pg.port") user=postgres dbname=${2:-postgres}"
}

#  pg_create_db DIR DB: create DB unless it exists (DB: letters, digits, _).
pg_create_db() {
    local dir=$1 db=$2 psql
    [[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name: $db"
    psql=(psql -X -q -v ON_ERROR_STOP=1 "$(pg_dsn "$dir")")
    if [ -z "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        log "creating database $db"
        "${psql[@]}" -c "CREATE DATABASE $db"
    fi
}

#  ---------------------------------------------------------------------
#  RabbitMQ: a private node named in DIR/rabbit.env (the environment every
#  rabbitmq-server and rabbitmqctl call of this node gets, nothing inherited).
#  AMQP, distribution and the node's own epmd (ERL_EPMD_PORT, so we neither
#  clash with nor depend on a system epmd on 4369) listen on 127.0.0.1; the
#  CLI's distribution port too. No plugins (unless asked for, below), so no
#  management listener. The Erlang cookie is private (HOME=DIR). Instead of
#  guest, the default user is `evbus` with a random password
#  (DIR/rabbitmq.conf), so the URL in DIR/amqp.url carries real credentials.
#
#  For a node that is not running yet, rabbit_start reads (as pg_start reads
#  EVBUS_PG_*):
#    EVBUS_RABBIT_PORT             the AMQP port (default: a free one); taken: die
#    EVBUS_RABBIT_GUEST=on         user guest/guest, which RabbitMQ accepts on
#                                  loopback only, instead of evbus (chosen when
#                                  DIR is first prepared, and kept)
#    EVBUS_RABBIT_MANAGEMENT_PORT  enable the management plugin on 127.0.0.1:PORT

s_rabbit_get() {
    sed -n "s/^$2=//p" "$1/rabbit.env"
}

#  s_rabbit_run DIR CMD..: run a RabbitMQ script of DIR's node as its user.
s_rabbit_run() {
    local dir=$1 env
    shift
    mapfile -t env <"$dir/rabbit.env"
    (cd "$dir" && as_user "$(service_user rabbitmq)" env -i "${env[@]}" "$@")
}

s_rabbit_ctl() {
    local dir=$1
    shift
    s_rabbit_run "$dir" timeout 90 "$RABBIT_BIN/rabbitmqctl" \
        -n "$(s_rabbit_get "$dir" RABBITMQ_NODENAME)" "$@"
}

s_rabbit_pid() {
    cat "$1/rabbit.pid" 2>/dev/null || true
}

#  PID of the process listening on TCP PORT (as seen by ss), if any.
s_listener_pid() {
    ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 || true
}

s_rabbit_write_env() {
    local dir=$1 node amqp dist epmd user pass management=${EVBUS_RABBIT_MANAGEMENT_PORT:-}
    node=$(s_rabbit_get "$dir" RABBITMQ_NODENAME 2>/dev/null || true)
    node=${node:-evbus-$(random_hex 4)@localhost}
    amqp=${EVBUS_RABBIT_PORT:-$(free_port "$management")}
    dist=$(free_port "$amqp" "$management")
    epmd=$(free_port "$amqp" "$dist" "$management")
    cat >"$dir/rabbit.env" <<EOF
PATH=/usr/sbin:/usr/bin:/sbin:/bin
HOME=$dir
LC_ALL=C.UTF-8
RABBITMQ_NODENAME=$node
RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
RABBITMQ_NODE_PORT=$amqp
RABBITMQ_DIST_PORT=$dist
ERL_EPMD_PORT=$epmd
ERL_EPMD_ADDRESS=127.0.0.1
RABBITMQ_MNESIA_BASE=$dir/mnesia
RABBITMQ_LOG_BASE=$dir/log
RABBITMQ_PID_FILE=$dir/rabbit.pid
RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}
RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}
EOF
    #  The user is chosen once (the node creates it with its database); the
    #  rest of the file is written at every start.
    user=$(sed -n 's/^default_user = //p' "$dir/rabbitmq.conf" 2>/dev/null || true)
    pass=$(sed -n 's/^default_pass = //p' "$dir/rabbitmq.conf" 2>/dev/null || true)
    if [ -z "$user" ] && [ "${EVBUS_RABBIT_GUEST:-off}" = on ]; then
        user=guest
        pass=guest
    elif [ -z "$user" ]; then
        user=evbus
        pass=$(random_hex 16)
    fi
    {
        printf 'default_user = %s\ndefault_pass = %s\n' "$user" "$pass"
        if [ "$user" = guest ]; then
            printf 'loopback_users.guest = true\n'
        fi
        if [ -n "$management" ]; then
            printf 'management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %s\n' "$management"
        fi
    } >"$dir/rabbitmq.conf"
    echo "amqp://$user:$pass@127.0.0.1:$amqp/%2F" >"$dir/amqp.url"
}

s_rabbit_prepare() {
    local dir=$1 user=$2
    make_private_dir "$dir" "$user"
    mkdir -p "$dir/mnesia" "$dir/log"
    if [ -n "${EVBUS_RABBIT_MANAGEMENT_PORT:-}" ]; then
        echo '[rabbitmq_management].' >"$dir/enabled_plugins"
    else
        : >"$dir/enabled_plugins"
    fi
    : >"$dir/rabbitmq-env.conf"
    if [ ! -f "$dir/.erlang.cookie" ]; then
        random_hex 20 >"$dir/.erlang.cookie"
    fi
    chmod 0400 "$dir/.erlang.cookie"
    s_rabbit_write_env "$dir"
    if is_root; then
        chown -R "$user:" "$dir"
    fi
}

#  Return 1 (and say which) unless every listener of PIDs is on loopback.
s_check_loopback() {
    local pid open=""
    for pid in "$@"; do
        open+=$(ss -ltnpH | grep "pid=$pid," | awk '$4 !~ /^(127\.|\[::1\])/ { print $4 }' || true)
    done
    [ -z "$open" ] || { log "listening beyond loopback: $open"; return 1; }
}

#  rabbit_start DIR: start (or reuse) the node of DIR; its URL goes to DIR/amqp.url.
rabbit_start() {
    local dir=$1 user pid port
    user=$(service_user rabbitmq)
    if pid_alive "$(s_rabbit_pid "$dir")" && s_rabbit_ctl "$dir" status >/dev/null 2>&1; then
        log "RabbitMQ already running in $dir"
        return 0
    fi
    [ -x "$RABBIT_BIN/rabbitmq-server" ] || die "RabbitMQ is not installed (rabbitmq-server)"
    for port in ${EVBUS_RABBIT_PORT:-} ${EVBUS_RABBIT_MANAGEMENT_PORT:-}; do
        pid=$(s_listener_pid "$port")
        [ -z "$(ss -ltnH "sport = :$port")" ] ||
            die "port $port, which RabbitMQ in $dir needs, is taken${pid:+ by pid $pid}"
    done
    s_rabbit_prepare "$dir" "$user"
    log "starting RabbitMQ in $dir on 127.0.0.1:$(s_rabbit_get "$dir" RABBITMQ_NODE_PORT)"
    s_rabbit_run "$dir" "$RABBIT_BIN/rabbitmq-server" -detached
    if ! s_rabbit_ctl "$dir" wait "$dir/rabbit.pid" --timeout 60 >/dev/null; then
        tail -n 30 "$dir"/log/*.log >&2 || true
        rabbit_stop "$dir"
        die "RabbitMQ did not start in $dir (logs: $dir/log)"
    fi
    pid=$(s_rabbit_pid "$dir")
    s_check_loopback "$pid" "$(s_listener_pid "$(s_rabbit_get "$dir" ERL_EPMD_PORT)")" ||
        { rabbit_stop "$dir"; die "RabbitMQ in $dir listens beyond loopback"; }
}

#  rabbit_pid DIR: the PID of DIR's node if it runs; prints nothing otherwise.
rabbit_pid() {
    local pid
    pid=$(s_rabbit_pid "$1")
    if pid_alive "$pid"; then
        echo "$pid"
    fi
}

#  rabbit_stop DIR: stop the node of DIR and the epmd it started; bounded.
rabbit_stop() {
    local dir=$1 pid epmd
    [ -f "$dir/rabbit.env" ] || return 0
    pid=$(s_rabbit_pid "$dir")
    if pid_alive "$pid"; then
        log "stopping RabbitMQ in $dir"
        #  With the pid file, `stop` returns only once the OS process is gone.
        s_rabbit_ctl "$dir" stop "$dir/rabbit.pid" >/dev/null 2>&1 || true
        if ! wait_until 10 pid_gone "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_until 10 pid_gone "$pid" || die "RabbitMQ (pid $pid) does not stop"
        fi
    fi
    #  epmd outlives the node; it is ours if it listens on our private port.
    epmd=$(s_listener_pid "$(s_rabbit_get "$dir" ERL_EPMD_PORT)")
    if [ -n "$epmd" ] && [ "$(cat "/proc/$epmd/comm" 2>/dev/null)" = epmd ]; then
        kill "$epmd" 2>/dev/null || true
        wait_until 10 pid_gone "$epmd" || kill -KILL "$epmd" 2>/dev/null || true
    fi
    rm -f "$dir/rabbit.pid"
}

#  ---------------------------------------------------------------------
#  Our own processes: .run/NAME.pid holds the PID of a process whose
#  executable is named NAME; its output goes to .run/NAME.log.

#  pidfile_pid NAME: the PID in .run/NAME.pid if that process runs and is NAME,
#  also when a rebuild has since replaced its binary (the kernel then calls the
#  executable "NAME (deleted)"); prints nothing otherwise, so a PID that now
#  belongs to another program is left alone.
pidfile_pid() {
    local name=$1 pid exe
    pid=$(cat "$EVBUS_RUN/$name.pid" 2>/dev/null || true)
    pid_alive "$pid" || return 0
    exe=$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || true)")
    if [ "$exe" = "$name" ] || [ "$exe" = "$name (deleted)" ]; then
        echo "$pid"
    fi
}

#  start_pidfile NAME CMD..: start CMD in the background unless NAME runs.
start_pidfile() {
    local name=$1 pid
    shift
    pid=$(pidfile_pid "$name")
    if [ -n "$pid" ]; then
        log "$name already running (pid $pid)"
        return 0
    fi
    mkdir -p "$EVBUS_RUN"
    setsid "$@" >>"$EVBUS_RUN/$name.log" 2>&1 </dev/null &
    echo $! >"$EVBUS_RUN/$name.pid"
    log "$name started (pid $!, log $EVBUS_RUN/$name.log)"
}

#  ---------------------------------------------------------------------
#  Services: pid files that survive a rebuild, and HTTP probes without curl.

#  pidfile_stale NAME: whether NAME runs a binary that a rebuild has replaced.
pidfile_stale() {
    local pid
    pid=$(pidfile_pid "$1")
    [ -n "$pid" ] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null || true) == *" (deleted)" ]]
}

#  stop_pidfiles SECONDS NAME..: SIGTERM to each NAME that runs (pidfile_pid),
#  all at once; wait up to SECONDS for them to exit, then SIGKILL the rest.
#  Removes their pid files. Fails if a process survives SIGKILL.
stop_pidfiles() {
    local timeout=$1 name pid pids=() left
    shift
    for name in "$@"; do
        pid=$(pidfile_pid "$name")
        if [ -n "$pid" ]; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    if [ ${#pids[@]} -gt 0 ] && ! wait_until "$timeout" s_all_gone "${pids[@]}"; then
        for pid in "${pids[@]}"; do
            if ! s_all_gone "$pid"; then
                log "pid $pid did not stop in ${timeout}s; killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
        if ! wait_until 5 s_all_gone "${pids[@]}"; then
            left=$(for pid in "${pids[@]}"; do s_all_gone "$pid" || printf '%s ' "$pid"; done)
            die "still running after SIGKILL: pid ${left% }"
        fi
    fi
    for name in "$@"; do
        rm -f "$EVBUS_RUN/$name.pid"
    done
}

#  Whether every PID has exited. A zombie has: it waits only for its parent
#  (init, for our detached processes) to reap it, which some inits do late.
s_all_gone() {
    local pid state
    for pid in "$@"; do
        if pid_alive "$pid"; then
            state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || true
            [ "$state" = Z ] || return 1
        fi
    done
}

#  http_get HOST PORT PATH: GET PATH over HTTP/1.0 with bash's /dev/tcp (the
#  curl program is not among the packages); prints the whole response (status
#  line, headers, body). Fails when nothing answers within 2 s.
http_get() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
        printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$2" "$0" "$1" >&3 && cat <&3' \
        "$1" "$2" "$3" 2>/dev/null
}

#  http_ready HOST PORT: whether GET /readyz on HOST:PORT answers 200.
http_ready() {
    local response
    response=$(http_get "$1" "$2" /readyz) || return 1
    [[ $response == "HTTP/1."[01]" 200 "* ]]
}
