#!/usr/bin/env bash
# tests/check_symbols.sh OBJ...: scripts/check-symbols passes on the built
# library (its object files, as ctest passes $<TARGET_OBJECTS:ferrylib>),
# fails on an object with an unprefixed or a twice-defined symbol; and
# scripts/rename-symbols changes nothing on this tree, undoes a reverted
# rename exactly (struct members of the same name untouched), and refuses
# a collision or a static of the same name.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ $# -gt 0 ] || fail "usage: $0 OBJ... (the library's object files)"

"$src/scripts/check-symbols" "$@" || fail "check-symbols fails on the library"

# an object of module copy defining an unprefixed symbol is refused, named
mkdir -p "$tmp/o/src/lib/copy" "$tmp/o/src/lib/verify"
printf 'int copy_fine(void) { return 1; }\nint quote_thing(void) { return 2; }\nstatic int helper(void) { return 3; }\nint copy_uses(void) { return helper(); }\n' >"$tmp/bad.c"
cc -c -o "$tmp/o/src/lib/copy/bad.c.o" "$tmp/bad.c"
if out=$("$src/scripts/check-symbols" "$tmp/o/src/lib/copy/bad.c.o" 2>&1); then fail "an unprefixed symbol passed"; fi
grep -q "src/lib/copy/bad.c: 'quote_thing' has no prefix of module 'copy'" <<<"$out" || fail "not named: $out"
grep -q "copy_fine\|helper" <<<"$out" && fail "a good or static name was blamed: $out"
# the same prefix is wrong in another module
printf 'int copy_fine(void) { return 1; }\n' >"$tmp/v.c"
cc -c -o "$tmp/o/src/lib/verify/v.c.o" "$tmp/v.c"
if out=$("$src/scripts/check-symbols" "$tmp/o/src/lib/verify/v.c.o" 2>&1); then fail "copy_ passed in verify"; fi
grep -q "'copy_fine' has no prefix of module 'verify'" <<<"$out" || fail "not named: $out"
# one helper with two owners
printf 'int copy_fine(void) { return 1; }\n' >"$tmp/g.c"
cc -c -o "$tmp/o/src/lib/copy/g.c.o" "$tmp/g.c"
mv "$tmp/o/src/lib/verify/v.c.o" "$tmp/o/src/lib/copy/v.c.o"
if out=$("$src/scripts/check-symbols" "$tmp/o/src/lib/copy/g.c.o" "$tmp/o/src/lib/copy/v.c.o" 2>&1); then fail "a duplicate passed"; fi
grep -q "'copy_fine' is defined in both" <<<"$out" || fail "duplicate not named: $out"

# rename-symbols: applied already, so a run on a copy changes nothing
copy() { rm -rf "$tmp/t"; mkdir -p "$tmp/t"; cp -r "$src/src" "$src/include" "$src/tests" "$src/scripts" "$tmp/t/"; }
copy
"$src/scripts/rename-symbols" --root "$tmp/t" >"$tmp/out" || fail "rename-symbols refused this tree: $(cat "$tmp/out")"
grep -q "^rename-symbols: 0 renamed" "$tmp/out" || fail "a second run renamed: $(cat "$tmp/out")"
diff -r "$src/src" "$tmp/t/src" >/dev/null || fail "a second run changed the tree"

# undo one rename by hand (the function only, not the ops member of the
# same name): the script restores the tree exactly
old=load_chunks new=copy_load_chunks
grep -rqw "$new" "$src/src" || fail "test needs '$new' in the tree; pick another entry"
grep -rlw --include='*.[ch]' "$new" "$tmp/t" | xargs sed -i "s/\\b$new\\b/$old/g"
grep -rqw "$new" "$tmp/t/src" && fail "setup: '$new' still there"
"$src/scripts/rename-symbols" --root "$tmp/t" >"$tmp/out" || fail "rename refused: $(cat "$tmp/out")"
grep -q "$old -> $new" "$tmp/out" || fail "not renamed: $(cat "$tmp/out")"
diff -r "$src/src" "$tmp/t/src" || fail "the rename did not restore the tree"
diff -r "$src/include" "$tmp/t/include" || fail "the rename touched include/ wrongly"

# a static of the old name elsewhere: refused, nothing changed
grep -rlw --include='*.[ch]' "$new" "$tmp/t" | xargs sed -i "s/\\b$new\\b/$old/g"
cp -r "$tmp/t/src" "$tmp/before"
printf 'static int %s(void) { return 0; }\n' "$old" >>"$tmp/t/src/lib/verify/canon.c"
if out=$("$src/scripts/rename-symbols" --root "$tmp/t" 2>&1); then fail "a static namesake was renamed: $out"; fi
grep -q "'$old' is also a static in src/lib/verify/canon.c" <<<"$out" || fail "not named: $out"
# a collision with an existing identifier: refused
sed -i '$d' "$tmp/t/src/lib/verify/canon.c"
printf 'int %s;\n' "$new" >>"$tmp/t/src/lib/verify/canon.c"
if out=$("$src/scripts/rename-symbols" --root "$tmp/t" 2>&1); then fail "a collision passed: $out"; fi
grep -q "'$new' already exists in src/lib/verify/canon.c" <<<"$out" || fail "not named: $out"
sed -i '$d' "$tmp/t/src/lib/verify/canon.c"
diff -r "$tmp/before" "$tmp/t/src" >/dev/null || fail "a refused run changed files"
echo "1 passed, 0 failed"
