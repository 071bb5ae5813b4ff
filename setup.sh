#!/usr/bin/env bash
# ponder's one set-up step for Debian 12.
#
#   ./setup.sh          install missing Debian packages, configure and build (into ./build)
#   ./setup.sh test     the same, then the whole test suite: once in the release build, once built
#                       with clang under AddressSanitizer and UndefinedBehaviorSanitizer (into
#                       ./build-check), which also fuzzes each libFuzzer target briefly
#
# Idempotent: packages already installed are not touched, and an up-to-date build does nothing.
# Package installation needs root; run it as root or as a user who may use sudo.
set -euo pipefail

cd "$(dirname "$0")"
BUILD_DIR=${PONDER_BUILD_DIR:-build}
CHECK_DIR=${PONDER_CHECK_DIR:-build-check}
JOBS=$(nproc 2>/dev/null || echo 2)

# Exactly what the build and the tests need.
PACKAGES=(
    g++ cmake make pkg-config git
    libreadline-dev libcli11-dev liblua5.4-dev
    nlohmann-json3-dev libgtest-dev
    libpcre2-dev libsqlite3-dev libcurl4-openssl-dev
    clang libclang-rt-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    if [[ $(id -u) -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null; then
        SUDO=(sudo)
    else
        echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$JOBS"

case "${1:-}" in
    "") ;;
    test)
        status=0
        echo "setup: the test suite (release build)"
        ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" || status=1
        # The sanitizer job: every test again, plus a short run of each fuzz target (README: Reliability).
        if [[ ! -f "$CHECK_DIR/CMakeCache.txt" ]]; then
            # -O1: what the sanitizers and libFuzzer are made for, and a quicker build than -O3.
            CC=clang CXX=clang++ cmake -S . -B "$CHECK_DIR" -DPONDER_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
                -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
        fi
        cmake --build "$CHECK_DIR" -j"$JOBS"
        echo "setup: the test suite under AddressSanitizer and UndefinedBehaviorSanitizer, and the fuzz targets"
        ctest --test-dir "$CHECK_DIR" --output-on-failure -j"$JOBS" || status=1
        exit $status
        ;;
    *)
        echo "usage: ./setup.sh [test]" >&2
        exit 2
        ;;
esac
