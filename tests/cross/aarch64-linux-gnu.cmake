# CMake toolchain for an aarch64 build on a Debian x86-64 machine, with
# Debian's cross compiler (gcc-aarch64-linux-gnu) and arm64 libraries from
# the multiarch packages (liburing-dev:arm64, check:arm64). Programs built
# with it run under qemu-user (qemu-user-static); ctest runs each test
# through the emulator named here. tests/run's aarch64 stage uses it:
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=tests/cross/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# The dynamic loader and the multiarch libraries are in the host's /lib and
# /usr/lib/aarch64-linux-gnu, where qemu-user looks by default.
find_program(SPOOL_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${SPOOL_QEMU_AARCH64})

# Libraries and headers from the arm64 multiarch directories only; programs
# (cmake, pkg-config) from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
