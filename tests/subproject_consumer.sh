#!/usr/bin/env bash
# Takes spool in as a CMake project does with a dependency, from its source
# tree, and checks that it brings its library only: a consumer project
# builds examples/hello.c and tests/consumer_version.c against it and runs
# them, and none of spool's tests, benchmarks or examples were configured.
# Usage: tests/subproject_consumer.sh add_subdirectory|fetchcontent BUILD_DIR SOURCE_DIR
#   add_subdirectory  add_subdirectory(SOURCE_DIR), options left alone; the
#                     consumer has targets of its own named like spool's
#                     examples and tests (hello, test_sem), which must not
#                     collide
#   fetchcontent      FetchContent_Declare(URL file://...) of a tarball of
#                     the source tree made here (no network), and
#                     FetchContent_MakeAvailable; the parent asks for one
#                     option (SPOOL_EXAMPLES), which must then be honoured
# Environment as for install_consumer.sh (tests/CMakeLists.txt sets it):
# CC, SPOOL_TOOLCHAIN_FILE, SPOOL_TEST_EMULATOR, PKG_CONFIG_LIBDIR.
set -euo pipefail
mode=$1 build=$2 src=$3
name=subproject_$mode
run=()
[ -n "${SPOOL_TEST_EMULATOR:-}" ] && run=("$SPOOL_TEST_EMULATOR")
toolchain=()
[ -n "${SPOOL_TOOLCHAIN_FILE:-}" ] && toolchain=(-DCMAKE_TOOLCHAIN_FILE="$SPOOL_TOOLCHAIN_FILE")
export CC=${CC:-cc}
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/consumer"

case "$mode" in
  add_subdirectory)
    take_in="add_subdirectory($src spool)
set(spool_examples_expected OFF)
add_executable(test_sem $src/tests/consumer_version.c)
target_link_libraries(test_sem PRIVATE spool::spool)
set(extra_targets test_sem)"
    hello=hello
    ;;
  fetchcontent)
    # The source tree as a release tarball would hold it: no VCS files, no
    # build directories (build/, and this build's if it is in the tree).
    excludes=(--exclude-vcs --exclude=./build)
    case "$build/" in
      "$src"/*) excludes+=("--exclude=./${build#"$src"/}") ;;
    esac
    tar -C "$src" "${excludes[@]}" --transform 's,^\./,spool-src/,' -czf "$tmp/spool.tar.gz" .
    take_in="include(FetchContent)
set(SPOOL_EXAMPLES ON)
FetchContent_Declare(spool URL file://$tmp/spool.tar.gz)
FetchContent_MakeAvailable(spool)
set(spool_examples_expected ON)
set(extra_targets)"
    hello=consumer_hello
    ;;
  *) echo "$name: mode must be add_subdirectory or fetchcontent" >&2; exit 2 ;;
esac

cat >"$tmp/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(consumer C)
# Were spool's tests configured, the consumer's ctest would list them.
enable_testing()
add_compile_options(-Wall)
$take_in
add_executable($hello $src/examples/hello.c)
target_link_libraries($hello PRIVATE spool::spool)
add_executable(version_shared $src/tests/consumer_version.c)
target_link_libraries(version_shared PRIVATE spool::spool_shared)
foreach(t $hello version_shared \${extra_targets})
  target_compile_options(\${t} PRIVATE -Wextra -Werror)
endforeach()

# What spool brought: its library's targets, and nothing else unless asked.
get_target_property(spool_dir spool::spool SOURCE_DIR)
get_property(spool_targets DIRECTORY "\${spool_dir}" PROPERTY BUILDSYSTEM_TARGETS)
get_property(spool_subdirs DIRECTORY "\${spool_dir}" PROPERTY SUBDIRECTORIES)
get_property(spool_tests DIRECTORY "\${spool_dir}" PROPERTY TESTS)
message(STATUS "spool \${spool_dir}: targets \${spool_targets}; subdirectories [\${spool_subdirs}]; tests [\${spool_tests}]")
set(library spool_objects spool_static spool_shared)
set(others \${spool_targets})
list(REMOVE_ITEM others \${library})
if(spool_examples_expected)
  if(NOT TARGET gather OR NOT TARGET semaphore)
    message(FATAL_ERROR "SPOOL_EXAMPLES set ON by the parent: spool's examples are missing")
  endif()
  file(GLOB examples RELATIVE "\${spool_dir}/examples" "\${spool_dir}/examples/*.c")
  string(REPLACE ".c" "" examples "\${examples}")
  list(REMOVE_ITEM others \${examples})
endif()
if(others OR spool_subdirs OR spool_tests)
  message(FATAL_ERROR "spool brought more than its library: targets [\${others}] subdirectories [\${spool_subdirs}] tests [\${spool_tests}]")
endif()
foreach(t \${library})
  if(NOT t IN_LIST spool_targets)
    message(FATAL_ERROR "spool did not define \${t}")
  endif()
endforeach()
# Nothing of spool's set in the parent: build type, compile options.
if(NOT CMAKE_BUILD_TYPE STREQUAL "")
  message(FATAL_ERROR "spool set the parent's CMAKE_BUILD_TYPE to \${CMAKE_BUILD_TYPE}")
endif()
get_directory_property(opts COMPILE_OPTIONS)
if(NOT opts STREQUAL "-Wall")
  message(FATAL_ERROR "the parent's compile options became [\${opts}]")
endif()
CMAKE

log=$tmp/log
if ! cmake -S "$tmp/consumer" -B "$tmp/consumer/build" "${toolchain[@]}" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
grep 'spool .*: targets' "$log"
# Only what the consumer's programs need (the library), two jobs.
if ! cmake --build "$tmp/consumer/build" -j2 --target "$hello" version_shared >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
[ "$("${run[@]}" "$tmp/consumer/build/$hello" 2>/dev/null)" = "Hello, World!" ]
"${run[@]}" "$tmp/consumer/build/version_shared" "$version"
# ctest finds no test of spool's in the consumer's build.
if ! ctest --test-dir "$tmp/consumer/build" -N | grep -q '^Total Tests: 0$'; then
  ctest --test-dir "$tmp/consumer/build" -N >&2
  echo "$name: spool's tests are in the consumer's ctest" >&2
  exit 1
fi
# The consumer's own compiles get -fstack-clash-protection from spool's
# targets (deliberately, docs/errors.md) where spool builds with it, and none
# of the warnings, -Werror or sanitizers spool builds itself with.
cmd=$(grep "\"command\": .* -o CMakeFiles/$hello\.dir/" "$tmp/consumer/build/compile_commands.json")
for flag in -Wshadow -Wstrict-prototypes -fsanitize; do
  case "$cmd" in
    *" $flag"*) echo "$name: spool's $flag leaked into the consumer: $cmd" >&2; exit 1 ;;
  esac
done
if grep -q '^SPOOL_HAVE_STACK_CLASH_PROTECTION:INTERNAL=1$' "$tmp/consumer/build/CMakeCache.txt"; then
  case "$cmd" in
    *" -fstack-clash-protection"*) ;;
    *) echo "$name: the consumer's compile lacks -fstack-clash-protection: $cmd" >&2; exit 1 ;;
  esac
fi
echo "$name: library only, hello and version $version: ok"
