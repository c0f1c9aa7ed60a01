#!/usr/bin/env bash
#  check.sh - the offline checks of deploy/ (the test command runs them)
#
#    deploy/check.sh              every check below
#    deploy/check.sh --self-test  only render the overlays and show that the
#                                 checker notices known breakages of them
#
#  No Docker engine and no cluster are needed (or used): kubectl renders the
#  kustomize overlays (a scaled copy too), deploy/check.py asserts their
#  properties, with the Secrets deploy/secrets.sh makes when evbus-keygen is
#  built; docker-compose validates and resolves the compose files;
#  systemd-analyze verifies the units inside a scratch root (with the built
#  binaries, or stub executables where they are not built yet: said so);
#  the Dockerfile's build stage is compared with what CI runs. Tools are
#  installed only where missing: kubectl (Debian's kubernetes-client, only
#  when there is no kubectl at all), docker-compose, systemd-analyze, and
#  python3 with python3-yaml. Prints ok / FAIL / skip per check; exits 1 if
#  any failed. Runs from any directory; writes only under a temporary one.
# shellcheck disable=SC2317 # the checks are functions called through step
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$EVBUS_ROOT"

self_test_only=0
case ${1:-} in
    --self-test) self_test_only=1 ;;
    "") ;;
    *)
        sed -n '3,5p' "${BASH_SOURCE[0]}" | sed 's/^#  //' >&2
        exit 2
        ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/evbus-deploy-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
counts=(0 0 0)

#  step NAME CMD..: run CMD, its output to a log; ok, or FAIL with the log.
step() {
    local name=$1 rc=0
    shift
    "$@" >"$work/step.log" 2>&1 || rc=$?
    if [ $rc -eq 0 ]; then
        printf '[check.sh] ok    %s\n' "$name"
        counts[0]=$((counts[0] + 1))
    else
        printf '[check.sh] FAIL  %s\n' "$name"
        counts[1]=$((counts[1] + 1))
        failed=1
    fi
    sed 's/^/    /' "$work/step.log"
}

skip() {
    printf '[check.sh] skip  %s\n' "$*"
    counts[2]=$((counts[2] + 1))
}

#  ---------------------------------------------------------------------
#  Tools: install only what is missing.

PYTHON=""
python_with_yaml() {
    local candidate
    for candidate in /usr/bin/python3 "$(command -v python3 || true)"; do
        if [ -x "$candidate" ] && "$candidate" -c 'import yaml' 2>/dev/null; then
            PYTHON=$candidate
            return 0
        fi
    done
    return 1
}

tools() {
    local missing=()
    #  A kubectl that is not Debian's conflicts with kubernetes-client: only
    #  where there is none at all.
    command -v kubectl >/dev/null || missing+=(kubernetes-client)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    python_with_yaml || missing+=(python3 python3-yaml)
    if [ ${#missing[@]} -gt 0 ]; then
        #  lib.sh's installer (it keeps the servers it installs from starting),
        #  for these packages only.
        local all=("${EVBUS_PACKAGES[@]}")
        EVBUS_PACKAGES=("${missing[@]}")
        ensure_packages
        EVBUS_PACKAGES=("${all[@]}")
        python_with_yaml || die "python3 with yaml still missing"
    fi
}

check_py() {
    "$PYTHON" deploy/check.py "$@"
}

#  ---------------------------------------------------------------------
#  Kubernetes

#  components, replacements and labels need kustomize 4.5 or later; Debian's
#  kubernetes-client (kubectl 1.20) embeds kustomize 2.0.3 and does not even say.
kustomize_version() {
    local version
    version=$(kubectl version --client -o json 2>/dev/null |
        sed -n 's/.*"kustomizeVersion": *"v\{0,1\}\([0-9.]*\).*/\1/p')
    echo "kubectl's kustomize: ${version:-unknown (older than kubectl 1.24)}"
    if [ -z "$version" ] || [ "$(printf '%s\n4.5\n' "$version" | sort -V | head -n 1)" != 4.5 ]; then
        echo "deploy/k8s needs kustomize 4.5 or later: install a current kubectl"
        return 1
    fi
}

render() {
    kubectl kustomize "$1" >"$2"
    printf '%s objects\n' "$(grep -c '^kind:' "$2")"
}

#  The standalone overlay with other replica counts: REPLICA_COUNT must follow.
render_scaled() {
    cp -r deploy/k8s "$work/k8s-scaled"
    sed -i -e 's/{name: order, count: 1}/{name: order, count: 3}/' \
        -e 's/{name: inventory, count: 1}/{name: inventory, count: 2}/' \
        -e 's/{name: billing, count: 1}/{name: billing, count: 4}/' \
        "$work/k8s-scaled/overlays/standalone/kustomization.yaml"
    kubectl kustomize "$work/k8s-scaled/overlays/standalone" >"$work/scaled.yaml"
    check_py k8s "$work/scaled.yaml" --replicas order=3,inventory=2,billing=4
}

KEYGEN=""
find_keygen() {
    if [ -n "${EVBUS_KEYGEN:-}" ]; then
        KEYGEN=$EVBUS_KEYGEN
    elif [ -x build/tools/evbus-keygen ]; then
        KEYGEN=$EVBUS_ROOT/build/tools/evbus-keygen
    fi
    [ -n "$KEYGEN" ]
}

make_secrets() {
    EVBUS_KEYGEN=$KEYGEN deploy/secrets.sh "$work/secrets-standalone"
    EVBUS_KEYGEN=$KEYGEN deploy/secrets.sh --bridged "$work/secrets-bridged"
}

#  check_k8s VARIANT: check.py over the render, with its Secrets if made.
check_k8s() {
    local secrets=()
    if [ -f "$work/secrets-$1/k8s-secrets.yaml" ]; then
        secrets=(--secrets "$work/secrets-$1/k8s-secrets.yaml")
    fi
    check_py k8s "$work/$1.yaml" "${secrets[@]}"
}

self_test() {
    local secrets=()
    if [ -f "$work/secrets-$1/k8s-secrets.yaml" ]; then
        secrets=(--secrets "$work/secrets-$1/k8s-secrets.yaml")
    fi
    if [ "$self_test_only" -eq 1 ]; then
        secrets+=(--verbose)
    fi
    check_py self-test "$work/$1.yaml" "${secrets[@]}"
}

#  ---------------------------------------------------------------------
#  compose

#  Without deploy/secrets.sh's compose.env: placeholders (config only reads them).
compose_env() {
    local variant=$1 file=$work/secrets-$1/compose.env
    if [ -f "$file" ]; then
        echo "$file"
        return 0
    fi
    file=$work/compose-$variant.env
    printf '%s\n' "EVBUS_SECRETS=$work/no-secrets" EVBUS_UID=10001 EVBUS_GID=10001 \
        POSTGRES_PASSWORD=x ORDER_DB_PASSWORD=x INVENTORY_DB_PASSWORD=x BILLING_DB_PASSWORD=x \
        SHIM_DB_PASSWORD=x RABBITMQ_URL=amqp://evbus:x@rabbitmq:5672/%2F >"$file"
    echo "$file"
}

check_compose() {
    local env
    env=$(compose_env standalone)
    docker-compose --env-file "$env" -f deploy/compose.yaml config >"$work/compose.yaml"
    check_py compose deploy/compose.yaml "$work/compose.yaml"
    env=$(compose_env bridged)
    docker-compose --env-file "$env" -f deploy/compose.yaml -f deploy/compose.bridged.yaml \
        config >"$work/compose-bridged.yaml"
    check_py compose deploy/compose.yaml,deploy/compose.bridged.yaml "$work/compose-bridged.yaml"
}

#  ---------------------------------------------------------------------
#  systemd: verify inside a scratch root that has the system's units and the
#  units' binaries (built ones if there are, else stubs, and says which).

check_systemd() {
    local root=$work/sysroot unit binary built units=() stubs=() out rc=0
    mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/local/bin"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    cp deploy/systemd/*.service deploy/systemd/*.target "$root/etc/systemd/system/"
    for unit in deploy/systemd/*@.service; do
        binary=$(sed -n 's|^ExecStart=/usr/local/bin/\([^ ]*\).*|\1|p' "$unit")
        if [ -z "$binary" ]; then
            echo "$unit: ExecStart is not /usr/local/bin/..."
            return 1
        fi
        built=$(find build -path '*/CMakeFiles' -prune -o -type f -name "$binary" -perm -u+x \
            -print 2>/dev/null | head -n 1)
        if [ -n "$built" ]; then
            cp "$built" "$root/usr/local/bin/$binary"
        else
            printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/$binary"
            chmod 0755 "$root/usr/local/bin/$binary"
            stubs+=("$binary")
        fi
        unit=$(basename "$unit")
        units+=("${unit%@.service}@0.service")
    done
    units+=(evbus.target)
    out=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1) || rc=$?
    echo "systemd-analyze verify ${units[*]}"
    if [ ${#stubs[@]} -gt 0 ]; then
        echo "stub executables (not built yet): ${stubs[*]}"
    fi
    #  Unknown keys and bad values are only warnings for systemd: any output fails.
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
        echo "$out"
        return 1
    fi
    check_py systemd deploy/systemd deploy/config
}

#  ---------------------------------------------------------------------
#  The image: its build stage is CI's build.

#  The cmake commands of `deploy/build.sh build` and of test.sh's build_tree
#  build, with a cmake that only logs them.
same_build_commands() {
    local stub=$work/stub
    mkdir -p "$stub"
    # shellcheck disable=SC2016 # expanded by the stub
    printf '#!/bin/sh\necho "cmake $*" >>"$CMAKE_LOG"\n' >"$stub/cmake"
    chmod 0755 "$stub/cmake"
    PATH=$stub:$PATH CMAKE_LOG=$work/image.log deploy/build.sh build 2>/dev/null
    # shellcheck disable=SC2016 # expanded by the inner bash
    PATH=$stub:$PATH CMAKE_LOG=$work/ci.log bash -c \
        'source scripts/lib.sh && build_tree build' 2>/dev/null
    [ -s "$work/ci.log" ] || die "build_tree build ran no cmake"
    if ! diff -u "$work/ci.log" "$work/image.log"; then
        echo "deploy/build.sh build does not run build_tree build's commands"
        return 1
    fi
    #  scripts/test.sh builds `build` with build_tree too.
    grep -Eq '^TEST_BUILDS=\$\{TEST_BUILDS:-build[ }]' scripts/test.sh ||
        { echo "scripts/test.sh no longer builds build/ by default"; return 1; }
    # shellcheck disable=SC2016 # a literal $build
    grep -q 'build_tree "\$build"' scripts/test.sh ||
        { echo "scripts/test.sh no longer builds with build_tree"; return 1; }
    sed 's/^/cmake commands (both): /' "$work/ci.log"
}

#  The build packages: all of EVBUS_PACKAGES's -dev packages and compilers.
build_packages() {
    local listed missing=() pkg
    listed=$(deploy/build.sh packages --print)
    for pkg in "${EVBUS_PACKAGES[@]}"; do
        case $pkg in
            *-dev | build-essential | cmake | pkg-config | protobuf-c-compiler)
                grep -qx "$pkg" <<<"$listed" || missing+=("$pkg")
                ;;
        esac
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "deploy/build.sh leaves out build packages: ${missing[*]}"
        return 1
    fi
    echo "build stage installs: $(tr '\n' ' ' <<<"$listed")"
}

#  Every binary deploy/ runs goes into the image; install works on build/.
image_install() {
    deploy/build.sh binaries | check_py binaries
    if [ ! -f build/CMakeFiles/TargetDirectories.txt ]; then
        echo "build/ is not configured: the install step was not tried"
        return 0
    fi
    EVBUS_VERSION=$(sed -n 's/^#define SVC_VERSION "\(.*\)"$/\1/p' svc/include/svc.h) \
        deploy/build.sh install "$work/image"
    ls "$work/image/usr/local/bin"
}

lint_scripts() {
    shellcheck -x deploy/*.sh deploy/k8s/components/postgres/initdb.sh
}

#  ---------------------------------------------------------------------

tools
step "kubectl kustomize version" kustomize_version
step "kustomize standalone" render deploy/k8s/overlays/standalone "$work/standalone.yaml"
step "kustomize bridged" render deploy/k8s/overlays/bridged "$work/bridged.yaml"
if find_keygen; then
    step "secrets (deploy/secrets.sh with $KEYGEN)" make_secrets
else
    skip "secrets: no evbus-keygen built (build/tools/evbus-keygen or EVBUS_KEYGEN):" \
        "the Kubernetes checks run without the Secret cross-checks"
fi
if [ $self_test_only -eq 0 ]; then
    step "k8s standalone: rendered objects" check_k8s standalone
    step "k8s bridged: rendered objects" check_k8s bridged
    step "k8s scaled (order 3, inventory 2, billing 4): REPLICA_COUNT follows" render_scaled
fi
step "self-test: the checker notices breakages (standalone)" self_test standalone
step "self-test: the checker notices breakages (bridged)" self_test bridged
if [ $self_test_only -eq 0 ]; then
    step "docker-compose config (standalone, bridged)" check_compose
    step "systemd-analyze verify + unit properties" check_systemd
    step "Dockerfile: build stage = deploy/build.sh steps, version, non-root" \
        check_py dockerfile deploy/Dockerfile
    step "Dockerfile: deploy/build.sh build = CI's build_tree build" same_build_commands
    step "Dockerfile: build packages" build_packages
    step "Dockerfile: image binaries and install step" image_install
    if command -v shellcheck >/dev/null; then
        step "shellcheck deploy/" lint_scripts
    else
        skip "shellcheck not installed"
    fi
fi
log "${counts[0]} ok, ${counts[1]} failed, ${counts[2]} skipped"
exit $failed
