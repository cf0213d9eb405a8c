#!/usr/bin/env bash
# Installs a build into a temporary prefix, then builds and runs a program
# against it twice: once through pkg-config, once through find_package(spool)
# (static and shared). Usage: tests/install_consumer.sh BUILD_DIR SOURCE_DIR
# Environment (tests/CMakeLists.txt sets it from the build): CC, the
# build's compiler; SPOOL_TOOLCHAIN_FILE, its CMake toolchain, if any;
# SPOOL_TEST_EMULATOR, what runs its programs (a cross build's qemu-user);
# PKG_CONFIG_LIBDIR, where a cross build's pkg-config finds liburing.
set -euo pipefail
build=$1 src=$2
cc=${CC:-cc}
run=()
[ -n "${SPOOL_TEST_EMULATOR:-}" ] && run=("$SPOOL_TEST_EMULATOR")
toolchain=()
[ -n "${SPOOL_TOOLCHAIN_FILE:-}" ] && toolchain=(-DCMAKE_TOOLCHAIN_FILE="$SPOOL_TOOLCHAIN_FILE")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name spool.pc)")/..

# pkg-config: the relocatable spool.pc must point into this prefix.
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs --static spool)
"$cc" -std=c11 -Wall -Wextra -Werror "$src/examples/hello.c" $flags -Wl,-rpath,"$libdir" -o "$tmp/hello_pc"
[ "$("${run[@]}" "$tmp/hello_pc" 2>/dev/null)" = "Hello, World!" ]
# Where spool was built with -fstack-clash-protection, its users' task
# bodies must be too (docs/errors.md): both ways of consuming it pass it on.
clash=0
grep -q '^SPOOL_HAVE_STACK_CLASH_PROTECTION:INTERNAL=1$' "$build/CMakeCache.txt" && clash=1
if [ $clash = 1 ]; then
  case " $(pkg-config --cflags spool) " in
    *" -fstack-clash-protection "*) ;;
    *) echo "install_consumer: spool.pc's Cflags lack -fstack-clash-protection" >&2; exit 1 ;;
  esac
fi

# find_package: both the static and the shared target.
mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(spool 0.1 REQUIRED)
add_executable(hello_static $src/examples/hello.c)
target_link_libraries(hello_static spool::spool)
add_executable(hello_shared $src/examples/hello.c)
target_link_libraries(hello_shared spool::spool_shared)
CMAKE
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" "${toolchain[@]}" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
[ "$("${run[@]}" "$tmp/consumer/build/hello_static" 2>/dev/null)" = "Hello, World!" ]
[ "$(LD_LIBRARY_PATH=$libdir "${run[@]}" "$tmp/consumer/build/hello_shared" 2>/dev/null)" = "Hello, World!" ]
if [ $clash = 1 ]; then
  n=$(grep -c '"command": .*-fstack-clash-protection' "$tmp/consumer/build/compile_commands.json" || true)
  if [ "$n" != 2 ]; then
    echo "install_consumer: $n of the 2 consumer compiles got -fstack-clash-protection from the package" >&2
    exit 1
  fi
fi
echo "install_consumer: pkg-config, find_package static and shared: ok"
