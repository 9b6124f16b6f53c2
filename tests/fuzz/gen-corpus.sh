#!/usr/bin/env bash
# tests/fuzz/gen-corpus.sh — rebuilds the seed corpora in tests/fuzz/corpus/
# from gen_corpus.c (run it after a format change, then commit the result).
# Any C compiler will do (CC, default cc); the build goes to a temp dir.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d /tmp/lsmfs-gen-corpus.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# shellcheck disable=SC2046
${CC:-cc} -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-I "$REPO/lsm" -I "$REPO/fs" -I "$HERE" \
	"$REPO"/lsm/*.c "$REPO/fs/schema.c" "$HERE/fuzz_env.c" "$HERE/gen_corpus.c" \
	-Wl,--wrap=lsm_crc32c $(pkg-config --libs libcbor) -lpthread -o "$TMP/gen_corpus"
rm -rf "$HERE/corpus"
"$TMP/gen_corpus" "$HERE/corpus"
