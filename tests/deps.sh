# shellcheck shell=bash
# Sourced by tests/run and bench/run: makes sure the Debian packages that
# build and test spool are installed.
#
#   spool_ensure_deps      installs what is missing when run as root
#                          (apt-get), else prints the sudo line and exits 1
#   spool_try_uvloop       best effort: installs python3-uvloop when root;
#                          never fails
#   spool_try_wrk          best effort: installs wrk (bench/run's HTTP
#                          workload) when root; never fails
#   spool_try_peers        best effort: installs golang-go, cargo and
#                          librust-tokio-dev (bench/run's Go and Tokio
#                          sides, bench/build_peers) when root; never fails
#   spool_try_libfuzzer    best effort: makes sure clang can build a
#                          libFuzzer target (tests/fuzz/run), installing
#                          clang and libclang-rt-dev when root; returns 1
#                          (having said why) if it still cannot
#   spool_ensure_aarch64_deps
#                          the aarch64 cross build and qemu-user (tests/run's
#                          aarch64 stage, bench/run --arch aarch64): adds
#                          Debian's arm64 architecture and installs what is
#                          missing when root, else prints the lines and
#                          exits 1

# g++: tests/cxx builds C++ programs against the header (skipped, loudly,
# where no C++ compiler works).
# libssl-dev: TLS streams (optional to the library, which builds without
# it; the tests and the HTTPS bench want it), with openssl (the test
# certificates, s_client / s_server) and curl (against the HTTPS example).
SPOOL_DEPS=(cmake gcc g++ make pkg-config liburing-dev check python3 libssl-dev openssl curl)
_spool_apt_updated=0

# spool__installed PKG: true if dpkg says "install ok installed" for PKG
# (PKG:ARCH as named; a bare name: the native architecture's, or an
# architecture-independent one, even when another architecture's copy is
# also there, as the aarch64 stage's multiarch packages are).
spool__installed() {
    case "$1" in
        *:*) dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -qx "install ok installed" ;;
        *) dpkg-query -W -f='${Architecture} ${Status}\n' "$1" 2>/dev/null \
               | grep -Eqx "($(dpkg --print-architecture)|all) install ok installed" ;;
    esac
}

# spool__missing PKG...: prints the packages that are not installed.
spool__missing() {
    local p
    for p in "$@"; do
        spool__installed "$p" || printf '%s\n' "$p"
    done
}

spool__apt_update() {
    if [ "$_spool_apt_updated" -eq 0 ]; then
        apt-get update -qq || return 1
        _spool_apt_updated=1
    fi
}

spool_ensure_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "spool: dpkg-query not found; not a Debian system? Install: ${SPOOL_DEPS[*]}" >&2
        return 0
    fi
    local missing
    mapfile -t missing < <(spool__missing "${SPOOL_DEPS[@]}")
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        spool__apt_update
        spool__install "${missing[@]}"
    else
        echo "spool: missing packages: ${missing[*]}; install them with:" >&2
        echo "sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# spool__install PKG...: apt-get install, saying so (root; lists updated).
spool__install() {
    echo "spool: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

spool_try_uvloop() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    spool__installed python3-uvloop && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "spool: trying to install python3-uvloop (optional)" >&2
        { spool__apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-uvloop; } \
            || echo "spool: python3-uvloop not installed; the uvloop column will be skipped" >&2
    else
        echo "spool: python3-uvloop not installed (optional: sudo apt-get install -y python3-uvloop)" >&2
    fi
    return 0
}

spool_try_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    command -v dpkg-query >/dev/null 2>&1 || return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "spool: trying to install wrk (optional, for the HTTP workload)" >&2
        { spool__apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
            || echo "spool: wrk not installed; the HTTP workload will be skipped" >&2
    else
        echo "spool: wrk not installed (optional: sudo apt-get install -y wrk)" >&2
    fi
    return 0
}

# The Go and Tokio sides of bench/run: Debian's Go, and Tokio's sources in
# Debian's crate directory with a cargo to build them offline.
SPOOL_PEER_DEPS=(golang-go cargo librust-tokio-dev)
spool_try_peers() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    local missing
    mapfile -t missing < <(spool__missing "${SPOOL_PEER_DEPS[@]}")
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "spool: trying to install ${missing[*]} (optional, for the Go and Tokio sides)" >&2
        { spool__apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
            || echo "spool: ${missing[*]} not installed; those sides will be left out" >&2
    else
        echo "spool: optional, for the Go and Tokio sides: sudo apt-get install -y ${missing[*]}" >&2
    fi
    return 0
}

# Debian's clang (clang-14 on Debian 12) has libFuzzer, and the sanitizer
# runtimes, in libclang-rt-<N>-dev, which clang only recommends
# (libclang-common-<N>-dev -> Recommends); libclang-rt-dev pulls the
# default version's, so name it: an install without recommends still works.
SPOOL_FUZZ_DEPS=(clang libclang-rt-dev)

# spool__libfuzzer_probe: true if ${FUZZ_CC:-clang} links a libFuzzer target
# with ASan and UBSan.
spool__libfuzzer_probe() {
    local cc=${FUZZ_CC:-clang} tmp rc
    command -v "$cc" >/dev/null 2>&1 || return 1
    tmp=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$tmp/probe.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" >/dev/null 2>&1
    rc=$?
    rm -rf "$tmp"
    return "$rc"
}

spool_try_libfuzzer() {
    spool__libfuzzer_probe && return 0
    local why="${FUZZ_CC:-clang} cannot link -fsanitize=fuzzer,address,undefined"
    if command -v dpkg-query >/dev/null 2>&1 && [ -z "${FUZZ_CC:-}" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            echo "spool: $why; installing ${SPOOL_FUZZ_DEPS[*]}" >&2
            if spool__apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${SPOOL_FUZZ_DEPS[@]}"; then
                spool__libfuzzer_probe && return 0
                why="$why, even after installing ${SPOOL_FUZZ_DEPS[*]}"
            else
                why="$why, and apt-get install ${SPOOL_FUZZ_DEPS[*]} failed"
            fi
        else
            why="$why (install: sudo apt-get install -y ${SPOOL_FUZZ_DEPS[*]})"
        fi
    fi
    echo "spool: $why" >&2
    return 1
}

# The aarch64 stage: Debian's cross compiler, qemu-user, and the arm64
# builds of the libraries spool and its tests link (multiarch packages).
SPOOL_AARCH64_DEPS=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static liburing-dev:arm64 check:arm64
                    libstdc++6:arm64 libssl-dev:arm64)

spool_ensure_aarch64_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "spool: dpkg-query not found; not a Debian system? Install a cross compiler for aarch64," \
             "qemu-user and arm64 builds of liburing and check" >&2
        return 0
    fi
    local missing add_arch=0
    mapfile -t missing < <(spool__missing "${SPOOL_AARCH64_DEPS[@]}")
    dpkg --print-foreign-architectures | grep -qx arm64 || add_arch=1
    [ "${#missing[@]}" -eq 0 ] && [ "$add_arch" -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        if [ "$add_arch" -eq 1 ]; then
            echo "spool: adding Debian's arm64 architecture (dpkg --add-architecture arm64)" >&2
            dpkg --add-architecture arm64
            _spool_apt_updated=0 # the arm64 package lists are new
        fi
        if ! spool__apt_update; then
            # An archive that serves no arm64 lists: leave the system as it was.
            [ "$add_arch" -eq 1 ] && dpkg --remove-architecture arm64
            echo "spool: apt-get update failed with the arm64 architecture added; the aarch64" \
                 "stage needs an archive that serves arm64 (Debian's does)" >&2
            exit 1
        fi
        spool__install "${missing[@]}"
    else
        echo "spool: the aarch64 stage needs: ${missing[*]}; install them with:" >&2
        [ "$add_arch" -eq 1 ] && echo "sudo dpkg --add-architecture arm64" >&2
        echo "sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}
