#!/usr/bin/env bash
# scripts/test.sh — installs what is missing (as root, from Debian's packages),
# builds lsmfs, and runs every test through ctest: once in a normal build and
# the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/deps.sh
. "$REPO/scripts/deps.sh"
lsmfs_install_deps test

JOBS=$(nproc 2>/dev/null || echo 2)
BUILD=${BUILD:-$REPO/build}
ASAN_BUILD=${ASAN_BUILD:-$REPO/build-asan}

echo "== build ($BUILD)"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS"

echo "== build with sanitizers ($ASAN_BUILD)"
cmake -S "$REPO" -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DLSM_SANITIZE=ON >/dev/null
cmake --build "$ASAN_BUILD" -j "$JOBS"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== unit tests under ASan+UBSan"
(cd "$ASAN_BUILD" && ctest --output-on-failure -j "$JOBS" -R '^test_')

echo "== all tests (unit and mounted integration tests)"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")
