#!/usr/bin/env bash
# tests/check_layers.sh: scripts/check-layers passes on this tree, and
# fails on a tree with a new violation or with a stale allow entry.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$src/scripts/check-layers" || fail "check-layers fails on this tree"

copy() { rm -rf "$tmp/t"; mkdir -p "$tmp/t"; cp -r "$src/src" "$src/include" "$src/tests" "$src/scripts" "$tmp/t/"; }

# core reaching up into copy is new: refused, and named
copy
printf '#include "copy/copy_int.h"\n' >>"$tmp/t/src/lib/core/buf.c"
if out=$("$src/scripts/check-layers" --root "$tmp/t" 2>&1); then fail "a new violation passed"; fi
grep -q "src/lib/core/buf.c -> copy/copy_int.h: 'core' reaches up into 'copy'" <<<"$out" || fail "not named: $out"

# a sibling include is refused too (rewrite and generate are siblings)
copy
printf '#include "generate/gen_int.h"\n' >>"$tmp/t/src/lib/rewrite/diff.c"
if out=$("$src/scripts/check-layers" --root "$tmp/t" 2>&1); then fail "a sideways include passed"; fi
grep -q "reaches sideways into 'generate'" <<<"$out" || fail "not named: $out"

# a CLI file using a private header
copy
printf '#include "copy/copy_int.h"\n' >>"$tmp/t/src/cli/cmd_copy.c"
if "$src/scripts/check-layers" --root "$tmp/t" >/dev/null 2>&1; then fail "the CLI reached past include/ferry"; fi

# an allowed violation that is gone must leave the list
copy
first=$(grep -v '^#' "$tmp/t/scripts/layers-allow.txt" | grep -- ' -> ' | head -1 || true)
if [ -n "$first" ]; then
	file=${first%% -> *}; inc=${first#* -> }; inc=${inc%%: *}
	grep -v "#include \"$inc\"" "$tmp/t/$file" >"$tmp/x" && mv "$tmp/x" "$tmp/t/$file"
	if out=$("$src/scripts/check-layers" --root "$tmp/t" 2>&1); then fail "a stale allow entry passed"; fi
	grep -q "no longer true" <<<"$out" || fail "stale entry not named: $out"
fi
echo "1 passed, 0 failed"
