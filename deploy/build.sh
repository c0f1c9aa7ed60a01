#!/usr/bin/env bash
#  build.sh - the container image's build, made of the same functions as CI's
#
#    deploy/build.sh packages [--print]   install (or print) the build packages:
#                                         scripts/lib.sh EVBUS_PACKAGES less the
#                                         servers and tools no build needs
#    deploy/build.sh build                configure and build build/ with
#                                         scripts/lib.sh build_tree, the function
#                                         scripts/test.sh builds it with
#    deploy/build.sh install DESTDIR      copy the image's binaries from build/ to
#                                         DESTDIR/usr/local/bin and write the Debian
#                                         packages of their shared libraries to
#                                         DESTDIR/runtime-packages
#    deploy/build.sh binaries             print the binaries the image ships
#
#  deploy/Dockerfile runs exactly `packages`, `build` and `install /out` in its
#  build stage and nothing else that builds; deploy/check.sh fails when that, or
#  the cmake commands of `build` and of test.sh's build_tree, drift apart.
#  install checks EVBUS_VERSION (the Dockerfile's ARG), when set, against
#  SVC_VERSION in svc/include/svc.h.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

#  Packages of EVBUS_PACKAGES that only run or check things (servers, linters,
#  deploy/check.sh's tools): the build does not need them.
NOT_FOR_BUILD=(postgresql rabbitmq-server docker-compose python3-pika python3-yaml
    clang-format clang-tidy)

#  The image's binaries (file names of CMake executable targets). A binary
#  whose target the tree does not define yet is reported and left out; one
#  whose target exists must have been built.
BINARIES=(order-service inventory-service billing-service broker-shim evbus-keygen ordersctl)

build_packages() {
    local pkg skip out=()
    for skip in "${NOT_FOR_BUILD[@]}"; do
        [[ " ${EVBUS_PACKAGES[*]} " == *" $skip "* ]] ||
            die "NOT_FOR_BUILD names $skip, which scripts/lib.sh EVBUS_PACKAGES no longer has"
    done
    for pkg in "${EVBUS_PACKAGES[@]}"; do
        [[ " ${NOT_FOR_BUILD[*]} " == *" $pkg "* ]] || out+=("$pkg")
    done
    printf '%s\n' "${out[@]}"
}

cmd_packages() {
    if [ "${1:-}" = --print ]; then
        build_packages
        return 0
    fi
    mapfile -t EVBUS_PACKAGES < <(build_packages)
    ensure_packages
}

cmd_build() {
    local cache=$EVBUS_ROOT/build/CMakeCache.txt home
    if [ -f "$cache" ]; then
        home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
        [ "$home" = "$EVBUS_ROOT" ] ||
            die "build/ was configured for $home, not $EVBUS_ROOT (a copied build tree?" \
                "docker build needs BuildKit, which reads deploy/Dockerfile.dockerignore)"
    fi
    build_tree build
}

svc_version() {
    sed -n 's/^#define SVC_VERSION "\(.*\)"$/\1/p' "$EVBUS_ROOT/svc/include/svc.h"
}

#  The Debian package that owns a shared library path (merged /usr aware).
package_of() {
    local path=$1 candidate owner
    for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
        owner=$(dpkg-query -S "$candidate" 2>/dev/null | head -n 1) || true
        if [ -n "$owner" ]; then
            echo "${owner%%:*}"
            return 0
        fi
    done
    die "no Debian package owns $path (needed at run time)"
}

cmd_install() {
    local dest=${1:-} name found target_dirs=$EVBUS_ROOT/build/CMakeFiles/TargetDirectories.txt
    local installed=() libs
    [ -n "$dest" ] || die "usage: deploy/build.sh install DESTDIR"
    if [ -n "${EVBUS_VERSION:-}" ] && [ "$EVBUS_VERSION" != "$(svc_version)" ]; then
        die "EVBUS_VERSION $EVBUS_VERSION is not SVC_VERSION $(svc_version) (svc/include/svc.h)"
    fi
    [ -f "$target_dirs" ] || die "build/ is not configured: run deploy/build.sh build first"
    mkdir -p "$dest/usr/local/bin"
    for name in "${BINARIES[@]}"; do
        if ! grep -q "/CMakeFiles/$name.dir\$" "$target_dirs"; then
            log "warning: the tree defines no target $name yet: the image goes without it"
            continue
        fi
        found=$(find "$EVBUS_ROOT/build" -path '*/CMakeFiles' -prune -o \
            -type f -name "$name" -perm -u+x -print | head -n 1)
        [ -n "$found" ] || die "target $name exists but build/ has no $name binary"
        install -m 0755 "$found" "$dest/usr/local/bin/$name"
        installed+=("$dest/usr/local/bin/$name")
    done
    [ ${#installed[@]} -gt 0 ] || die "no binary to install"
    #  Shared libraries that resolve to a path: the packages that own them.
    libs=$(ldd "${installed[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
    for name in $libs; do
        package_of "$name"
    done | sort -u >"$dest/runtime-packages"
    log "installed ${#installed[@]} binaries; runtime packages:" \
        "$(tr '\n' ' ' <"$dest/runtime-packages")"
}

case ${1:-} in
    packages) cmd_packages "${@:2}" ;;
    build) cmd_build ;;
    install) cmd_install "${@:2}" ;;
    binaries) printf '%s\n' "${BINARIES[@]}" ;;
    *)
        sed -n '3,14p' "${BASH_SOURCE[0]}" | sed 's/^#  //' >&2
        exit 2
        ;;
esac
