#!/usr/bin/env bash
# Installs a build into a temporary prefix, then builds and runs a program
# against it twice: once through pkg-config, once through find_package(spool)
# (static and shared), and checks the version the installed library reports.
# Usage: tests/install_consumer.sh BUILD_DIR SOURCE_DIR [deb]
# With "deb", the prefix is made as a user of the packages would get it:
# cpack -G DEB makes the build's .deb packages, which are unpacked with
# dpkg -x into a scratch root (nothing is installed on the system), and the
# consumer is built against ROOT/usr.
# Environment (tests/CMakeLists.txt sets it from the build): CC, the
# build's compiler; SPOOL_TOOLCHAIN_FILE, its CMake toolchain, if any;
# SPOOL_TEST_EMULATOR, what runs its programs (a cross build's qemu-user);
# PKG_CONFIG_LIBDIR, where a cross build's pkg-config finds liburing.
set -euo pipefail
build=$1 src=$2 mode=${3:-install}
name=install_consumer
[ "$mode" = deb ] && name=deb_consumer
cc=${CC:-cc}
run=()
[ -n "${SPOOL_TEST_EMULATOR:-}" ] && run=("$SPOOL_TEST_EMULATOR")
toolchain=()
[ -n "${SPOOL_TOOLCHAIN_FILE:-}" ] && toolchain=(-DCMAKE_TOOLCHAIN_FILE="$SPOOL_TOOLCHAIN_FILE")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
if [ "$mode" = deb ]; then
  command -v dpkg >/dev/null || { echo "$name: SKIP: no dpkg here to unpack a .deb" >&2; exit 77; }
  cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log" >&2; exit 1; }
  debs=("$tmp"/pkg/*.deb)
  if [ "${#debs[@]}" != 2 ]; then
    echo "$name: cpack made ${#debs[@]} packages, not 2: ${debs[*]}" >&2
    exit 1
  fi
  for deb in "${debs[@]}"; do
    echo "$name: $(basename "$deb"): $(dpkg-deb -f "$deb" Package Version Architecture Depends | tr '\n' ' ')"
    [ "$(dpkg-deb -f "$deb" Version)" = "$version-1" ]
    dpkg -x "$deb" "$tmp/root"
  done
  runtime=$(ls "$tmp"/pkg/libspool[0-9]*.deb)
  dev=$(ls "$tmp"/pkg/libspool-dev_*.deb)
  dpkg-deb -f "$runtime" Depends | grep -q 'liburing2'
  dpkg-deb -f "$dev" Depends | grep -q "$(dpkg-deb -f "$runtime" Package) (= $version-1)"
  # The runtime package holds the shared library under its SONAME and
  # nothing else; the rest is in -dev.
  if dpkg-deb -c "$runtime" | grep -E '\.(h|a|pc|cmake)$|libspool\.so$'; then
    echo "$name: development files in the runtime package" >&2
    exit 1
  fi
  prefix=$tmp/root/usr
else
  cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
  prefix=$tmp/prefix
fi
libdir=$(cd "$(dirname "$(find "$prefix" -name spool.pc)")/.." && pwd)
# The SONAME (README.md, "Taking it in"): major.minor while the major is 0.
major=${version%%.*} minor=${version#*.}
minor=${minor%%.*}
soname=libspool.so.$major
[ "$major" = 0 ] && soname=libspool.so.$major.$minor
if ! readelf -d "$libdir/$soname" | grep -q "Library soname: \[$soname\]"; then
  echo "$name: $libdir/$soname lacks the SONAME $soname" >&2
  exit 1
fi
if [ "$mode" = deb ]; then
  # The libc6 the runtime package asks for is at least the newest glibc
  # symbol version the library needs.
  need=$(readelf -V "$libdir/$soname" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  want=$(dpkg-deb -f "$runtime" Depends | sed -n 's/.*libc6 (>= \([0-9.]*\)).*/\1/p')
  if [ -z "$want" ] || [ "$(printf '%s\n' "$need" "$want" | sort -V | tail -1)" != "$want" ]; then
    echo "$name: $soname needs GLIBC_$need, the package depends on libc6 (>= ${want:-?})" >&2
    exit 1
  fi
fi

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
    *) echo "$name: spool.pc's Cflags lack -fstack-clash-protection" >&2; exit 1 ;;
  esac
fi

# find_package: both the static and the shared target.
mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(spool $major.$minor REQUIRED)
add_executable(hello_static $src/examples/hello.c)
target_link_libraries(hello_static spool::spool)
add_executable(hello_shared $src/examples/hello.c)
target_link_libraries(hello_shared spool::spool_shared)
add_executable(version_shared $src/tests/consumer_version.c)
target_link_libraries(version_shared spool::spool_shared)
CMAKE
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" "${toolchain[@]}" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
[ "$("${run[@]}" "$tmp/consumer/build/hello_static" 2>/dev/null)" = "Hello, World!" ]
[ "$(LD_LIBRARY_PATH=$libdir "${run[@]}" "$tmp/consumer/build/hello_shared" 2>/dev/null)" = "Hello, World!" ]
readelf -d "$tmp/consumer/build/hello_shared" | grep -q "NEEDED.*\[$soname\]"
LD_LIBRARY_PATH=$libdir "${run[@]}" "$tmp/consumer/build/version_shared" "$version"
if [ $clash = 1 ]; then
  n=$(grep -c '"command": .*-fstack-clash-protection' "$tmp/consumer/build/compile_commands.json" || true)
  if [ "$n" != 3 ]; then
    echo "$name: $n of the 3 consumer compiles got -fstack-clash-protection from the package" >&2
    exit 1
  fi
fi
echo "$name: pkg-config, find_package static and shared, $soname, version $version: ok"
