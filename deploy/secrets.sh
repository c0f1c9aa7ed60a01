#!/usr/bin/env bash
#  secrets.sh - the passwords and CURVE key pairs of one deployment, made once
#
#    deploy/secrets.sh [--bridged] DIR
#
#  deploy/ keeps no key material in git: this script makes it, into DIR
#  (created with mode 0700; an existing DIR is refused, so keys are never
#  replaced by accident). --bridged adds the shim: its database password, its
#  key pair, RabbitMQ's user, and the shim in every allow-list.
#
#    passwords/NAME                 random passwords: postgres, order, inventory,
#                                   billing (, shim, rabbitmq)
#    curve/server/bus-server{,_secret}   the publishers' key pair: every service
#                                   publishes, and a subscriber has one
#                                   CURVE_SERVER_PUBLIC for all its publishers
#    curve/client/SERVICE{,_secret}      each service's key pair as a subscriber
#    curve/allow/SERVICE/CLIENT     per service, the public certs of the services
#                                   that subscribe to it (CURVE_ALLOW_DIR)
#    k8s-secrets.yaml               all of it as Secrets of namespace evbus:
#                                   kubectl apply -f DIR/k8s-secrets.yaml
#    compose.env                    what deploy/compose.yaml needs:
#                                   docker-compose --env-file DIR/compose.env ...
#    systemd/SERVICE.env            PGPASSWORD (and the shim's RABBITMQ_URL) for
#                                   /etc/evbus/secrets/SERVICE.env (mode 0600)
#    rabbitmq/20-evbus-user.conf    RabbitMQ's default user (compose mounts it)
#
#  The key pairs come from evbus-keygen (tools/README.md): $EVBUS_KEYGEN (a
#  command, split on spaces, e.g. "docker run --rm -u 1000:1000 -v $PWD/x:$PWD/x
#  evbus:0.1.0 evbus-keygen" with DIR under $PWD/x), else build/tools/evbus-keygen,
#  else evbus-keygen on PATH.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

usage() {
    sed -n '3,4p' "${BASH_SOURCE[0]}" | sed 's/^#  //' >&2
    exit 2
}

bridged=0
dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --bridged) bridged=1 ;;
        -h | --help) usage ;;
        -*) usage ;;
        *)
            [ -z "$dir" ] || usage
            dir=$1
            ;;
    esac
    shift
done
[ -n "$dir" ] || usage
[ ! -e "$dir" ] || die "$dir exists: choose a new directory (keys are never replaced)"

services=(order inventory billing)
if [ $bridged -eq 1 ]; then
    services+=(shim)
fi

#  subscribers_of SERVICE: the services whose PUBLISHERS name SERVICE (the
#  base's and components/shim's ConfigMaps; deploy/check.py compares them).
subscribers_of() {
    local list
    case $1 in
        order) list="inventory billing" ;;
        inventory | billing) list="order" ;;
        shim) list="order inventory billing" ;;
    esac
    if [ $bridged -eq 1 ] && [ "$1" != shim ]; then
        list+=" shim"
    fi
    echo "$list"
}

if [ -n "${EVBUS_KEYGEN:-}" ]; then
    read -r -a keygen <<<"$EVBUS_KEYGEN"
elif [ -x "$EVBUS_ROOT/build/tools/evbus-keygen" ]; then
    keygen=("$EVBUS_ROOT/build/tools/evbus-keygen")
elif command -v evbus-keygen >/dev/null; then
    keygen=(evbus-keygen)
else
    die "no evbus-keygen: build it (cmake --build build --target evbus-keygen) or set EVBUS_KEYGEN"
fi

umask 077
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
mkdir -p "$dir/passwords" "$dir/curve/server" "$dir/curve/client" "$dir/systemd" \
    "$dir/rabbitmq"

password() {
    cat "$dir/passwords/$1"
}

for name in postgres "${services[@]}"; do
    random_hex 24 >"$dir/passwords/$name"
done
if [ $bridged -eq 1 ]; then
    random_hex 24 >"$dir/passwords/rabbitmq"
fi

#  Key pairs. Public certs and allow directories are readable by all (they are
#  not secret, and systemd's DynamicUser must read them); NAME_secret is 0600.
"${keygen[@]}" bus-server --dir "$dir/curve/server" >/dev/null
for service in "${services[@]}"; do
    "${keygen[@]}" "$service" --dir "$dir/curve/client" >/dev/null
done
chmod 0755 "$dir/curve" "$dir/curve/server" "$dir/curve/client"
for service in "${services[@]}"; do
    mkdir -p "$dir/curve/allow/$service"
    chmod 0755 "$dir/curve/allow/$service"
    for client in $(subscribers_of "$service"); do
        cp "$dir/curve/client/$client" "$dir/curve/allow/$service/$client"
        chmod 0644 "$dir/curve/allow/$service/$client"
    done
done
chmod 0755 "$dir/curve/allow"

amqp_url() {
    echo "amqp://evbus:$(password rabbitmq)@$1:5672/%2F"
}

#  ---------------------------------------------------------------------
#  Kubernetes: one Secret per purpose, so each pod mounts only its own.

b64() {
    base64 -w 0
}

#  k8s_secret NAME KEY=FILE..: a Secret whose keys hold the files' bytes.
k8s_secret() {
    local name=$1 pair
    shift
    printf -- '---\napiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n'
    printf '  name: %s\n  namespace: evbus\n' "$name"
    printf '  labels:\n    app.kubernetes.io/part-of: evbus\ndata:\n'
    for pair in "$@"; do
        printf '  %s: %s\n' "${pair%%=*}" "$(b64 <"${pair#*=}")"
    done
}

if [ $bridged -eq 1 ]; then
    printf 'default_user = evbus\ndefault_pass = %s\n' "$(password rabbitmq)" \
        >"$dir/rabbitmq/20-evbus-user.conf"
    printf evbus >"$dir/rabbitmq/username"
    amqp_url rabbitmq | tr -d '\n' >"$dir/rabbitmq/url"
fi
{
    echo "#  Made by deploy/secrets.sh for namespace evbus. Apply with:"
    echo "#  kubectl apply -f k8s-secrets.yaml"
    k8s_secret evbus-postgres "password=$dir/passwords/postgres"
    for service in "${services[@]}"; do
        k8s_secret "evbus-db-$service" "password=$dir/passwords/$service"
    done
    k8s_secret evbus-curve-server "bus-server=$dir/curve/server/bus-server" \
        "bus-server_secret=$dir/curve/server/bus-server_secret"
    for service in "${services[@]}"; do
        k8s_secret "evbus-curve-$service" \
            "${service}_secret=$dir/curve/client/${service}_secret"
        allowed=()
        for client in $(subscribers_of "$service"); do
            allowed+=("$client=$dir/curve/allow/$service/$client")
        done
        k8s_secret "evbus-allow-$service" "${allowed[@]}"
    done
    if [ $bridged -eq 1 ]; then
        k8s_secret evbus-rabbitmq "username=$dir/rabbitmq/username" \
            "password=$dir/passwords/rabbitmq" "url=$dir/rabbitmq/url" \
            "20-evbus-user.conf=$dir/rabbitmq/20-evbus-user.conf"
    fi
} >"$dir/k8s-secrets.yaml"

#  ---------------------------------------------------------------------
#  compose.yaml: its ${VARIABLES}. The containers run as the user who ran this
#  script, so that they can read the 0600 key files it made; as root, the key
#  files go to the image's user (10001) instead, and the containers run as it.

uid=$(id -u)
gid=$(id -g)
if is_root; then
    uid=10001
    gid=10001
    chown "$uid:$gid" "$dir"/curve/server/*_secret "$dir"/curve/client/*_secret
fi
{
    echo "# Made by deploy/secrets.sh: docker-compose --env-file $dir/compose.env ..."
    echo "EVBUS_SECRETS=$dir"
    echo "EVBUS_UID=$uid"
    echo "EVBUS_GID=$gid"
    echo "POSTGRES_PASSWORD=$(password postgres)"
    for service in "${services[@]}"; do
        echo "$(tr '[:lower:]' '[:upper:]' <<<"$service")_DB_PASSWORD=$(password "$service")"
    done
    if [ $bridged -eq 1 ]; then
        echo "RABBITMQ_URL=$(amqp_url rabbitmq)"
    fi
} >"$dir/compose.env"

#  ---------------------------------------------------------------------
#  systemd: /etc/evbus/secrets/SERVICE.env, read by systemd (as root) only.

for service in "${services[@]}"; do
    {
        echo "# Made by deploy/secrets.sh: install as /etc/evbus/secrets/$service.env, mode 0600"
        echo "PGPASSWORD=$(password "$service")"
        if [ "$service" = shim ]; then
            echo "RABBITMQ_URL=$(amqp_url 127.0.0.1)"
        fi
    } >"$dir/systemd/$service.env"
done

log "made the secrets of ${services[*]} in $dir"
log "Kubernetes: kubectl apply -f $dir/k8s-secrets.yaml"
log "compose:    docker-compose --env-file $dir/compose.env -f deploy/compose.yaml up -d"
log "systemd:    deploy/README.md, \"systemd\""
