#!/usr/bin/env bash
# A resumed copy refuses a source whose content changed since the job
# started (exit 2, "the source changed since job ..."), however small the
# edit: an UPDATE in a SQLite file (rollback journal and WAL, the change
# still in the WAL or checkpointed into the file), a same-size byte edit
# of an lp or CSV file with its mtime put back.  Both an edit of a chunk
# the first run copied and one of a chunk still pending: either way the
# target would hold rows of two versions of the source.  An unchanged
# source still resumes, also after a checkpoint moved its WAL into the
# file, and ends equal to an uninterrupted copy.
source "$(dirname "$0")/lib.sh"
t_init copy_resume_changed

# an independent checksum of every table in the target, rows in text order
sums() {
	local t
	for t in $(pg_q "$1" "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"); do
		pg_q "$1" "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"$t\" x"
	done
}
# simulate a run killed half way, deterministically: JOB in URL keeps its
# first chunks done and the rest pending (their rows stay: delete them for
# a resume that must end equal; a refused run never gets to them; the keys
# and indexes stay built, as after a kill during the load of a rerun);
# echoes the last done chunk's range_lo
half_done() {
	local url=$1 job=$2 mid
	mid=$(pg_q "$url" "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY range_lo) FROM ferry.progress WHERE job = '$job'")
	pg_q "$url" "UPDATE ferry.progress SET state = 'pending', rows_read = NULL, rows_written = NULL,
			rows_rejected = NULL, bytes = NULL, hash = NULL WHERE job = '$job' AND range_lo > $mid;
		UPDATE ferry.jobs SET state = 'loading' WHERE job = '$job'" >/dev/null
	echo "$mid"
}
# the rows of the pending chunks gone from table states, as after a kill
pending_gone() {
	pg_q "$1" "DELETE FROM states WHERE id > (SELECT max(range_hi) FROM ferry.progress
		WHERE job = 'j' AND state = 'done')" >/dev/null
}
refused() {  # refused DESC: the last t_run was refused as a changed source
	assert_eq "$1: refused with exit 2" "$T_RC" 2
	assert_contains "$1: says the source changed" "$T_ERR" "the source changed since job"
	assert_contains "$1: says how to start over" "$T_ERR" "rerun with --restart"
}

# ---- SQLite, rollback journal and WAL --------------------------------------
for mode in delete wal; do
	sqlite3 "base_$mode.db" >/dev/null <<EOF
PRAGMA journal_mode=$mode;
CREATE TABLE states(id INTEGER PRIMARY KEY, v REAL, s TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO states SELECT i, i * 0.25, 'v' || i FROM n;
EOF
	ref=$(new_db "chg_ref_$mode")
	t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job ref "sqlite://$T/base_$mode.db" "$ref"
	assert_eq "$mode: reference copy" "$T_RC" 0
	want=$(sums "$ref")

	# unchanged: resumes and ends equal to the uninterrupted copy
	cp "base_$mode.db" "same_$mode.db"
	url=$(new_db "chg_same_$mode")
	t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job j "sqlite://$T/same_$mode.db" "$url"
	half_done "$url" j >/dev/null
	pending_gone "$url"
	assert_eq "$mode: half the chunks pending" "$(pg_q "$url" "SELECT count(*) > 0 FROM ferry.progress WHERE state = 'pending'")" t
	t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job j "sqlite://$T/same_$mode.db" "$url"
	assert_eq "$mode: unchanged source resumes" "$T_RC" 0
	assert_eq "$mode: resumed == uninterrupted" "$(sums "$url")" "$want"

	# an UPDATE of a row the first run copied (a done chunk), and one of
	# a row still to copy (a pending chunk); same length, mtime put back
	for where in done pending; do
		cp "base_$mode.db" "$where.db"
		url=$(new_db "chg_${where}_$mode")
		t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job j "sqlite://$T/$where.db" "$url"
		mid=$(half_done "$url" j)
		pending_gone "$url"
		had=$(pg_q "$url" "SELECT count(*) FROM states")
		if [[ $where == done ]]; then id=10; else id=59990; fi
		assert_eq "$mode/$where: row $id is in a $where chunk" \
			"$(pg_q "$url" "SELECT state FROM ferry.progress WHERE job = 'j' AND $id BETWEEN range_lo AND range_hi")" "$where"
		touch -r "$where.db" stamp
		if [[ $mode == wal && $where == done ]]; then
			# the change stays in the WAL: ferry runs while sqlite3 holds it open
			sqlite3 "$where.db" "UPDATE states SET s = 'w' || substr(s, 2) WHERE id = $id" \
				".shell '$FERRY' copy -q -j 1 --chunk-rows 5000 --job j 'sqlite://$T/$where.db' '$url' >'$T/in.out' 2>'$T/in.err'; echo \$? >'$T/in.rc'"
			T_RC=$(cat in.rc) T_ERR=$(cat in.err)
			check "$mode/$where: the change was in the WAL when ferry ran" grep -q . in.rc
		else
			# checkpointed into the file when sqlite3 closes it
			sqlite3 "$where.db" "UPDATE states SET s = 'w' || substr(s, 2) WHERE id = $id"
			touch -r stamp "$where.db"
			t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job j "sqlite://$T/$where.db" "$url"
		fi
		refused "$mode/$where"
		assert_eq "$mode/$where: the refused run wrote nothing" \
			"$(pg_q "$url" "SELECT count(*) FROM ferry.progress WHERE job = 'j' AND state = 'pending'") $(pg_q "$url" "SELECT count(*) FROM states")" \
			"$(pg_q "$url" "SELECT count(*) FROM ferry.progress WHERE job = 'j' AND range_lo > $mid") $had"
		t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job j --restart "sqlite://$T/$where.db" "$url"
		assert_eq "$mode/$where: --restart copies the source as it is now" \
			"$T_RC $(pg_q "$url" "SELECT s FROM states WHERE id = $id") $(pg_q "$url" "SELECT count(*) FROM states")" \
			"0 w$(sqlite3 "$where.db" "SELECT substr(s, 2) FROM states WHERE id = $id") 60000"
	done
done

# A job started while a writer's change sat in the WAL, which a checkpoint
# then moved into the file: the same content, so the job resumes.
cp base_wal.db ckpt.db
url=$(new_db chg_ckpt)
sqlite3 ckpt.db "UPDATE states SET s = 'c' || substr(s, 2) WHERE id = 3" \
	".shell '$FERRY' copy -q -j 1 --chunk-rows 5000 --job j 'sqlite://$T/ckpt.db' '$url' >/dev/null 2>&1"
assert_eq "the WAL was checkpointed and removed" "$(ls ckpt.db-wal 2>/dev/null || echo none)" none
half_done "$url" j >/dev/null
pending_gone "$url"
t_run "$FERRY" copy -q -j 1 --chunk-rows 5000 --job j "sqlite://$T/ckpt.db" "$url"
assert_eq "checkpoint only: resumes" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_ERR"
ref=$(new_db chg_ckpt_ref)
t_run "$FERRY" copy -q --job ref "sqlite://$T/ckpt.db" "$ref"
assert_eq "checkpoint only: resumed == uninterrupted" "$(sums "$url")" "$(sums "$ref")"

# ---- line protocol and CSV files --------------------------------------------
# change one digit of the first or last line's first number: same size,
# and the mtime put back
edit_digit() {
	touch -r "$1" stamp
	perl -e 'my ($f, $w) = @ARGV; local $/; open(my $in, "<", $f) or die; my $s = <$in>; close $in;
		my @l = split /(?<=\n)/, $s; my @i = grep { $l[$_] =~ /[=,]\d/ && $l[$_] !~ /^#/ } 0 .. $#l;
		my $k = $w eq "first" ? $i[0] : $i[-1]; $l[$k] =~ s/([=,])(\d)/$1 . (($2 + 1) % 10)/e;
		open(my $out, ">", $f) or die; print $out join("", @l); close $out' "$1" "$2"
	touch -r stamp "$1"
}
for fmt in lp csv; do
	# each file in its own directory under one name: a CSV file's name
	# is its series
	mkdir -p "base_$fmt" "done_$fmt" "pending_$fmt" "same_$fmt"
	"$FERRY" generate -q --rows 20000 --format "$fmt" -o "base_$fmt/data.$fmt"
	src=(-j 1 --chunk-bytes 100000 --job j)
	ref=$(new_db "chg_ref_$fmt")
	t_run "$FERRY" copy -q "${src[@]}" "$fmt://$T/base_$fmt/data.$fmt" "$ref"
	assert_eq "$fmt: reference copy" "$T_RC" 0
	want=$(sums "$ref")
	nck=$(pg_q "$ref" "SELECT count(*) FROM ferry.progress")
	check "$fmt: several chunks" test "$nck" -ge 8

	for where in done pending; do
		f="${where}_$fmt/data.$fmt"
		cp "base_$fmt/data.$fmt" "$f"
		url=$(new_db "chg_${where}_$fmt")
		t_run "$FERRY" copy -q "${src[@]}" "$fmt://$T/$f" "$url"
		half_done "$url" j >/dev/null
		# chunk 0 holds the first line, the last chunk the last
		if [[ $where == done ]]; then line=first; ck=0; else line=last; ck=$((nck - 1)); fi
		assert_eq "$fmt/$where: the $line line is in a $where chunk" \
			"$(pg_q "$url" "SELECT state FROM ferry.progress WHERE job = 'j' AND range_lo = $ck")" "$where"
		size=$(stat -c '%s %.9Y' "$f")
		edit_digit "$f" "$line"
		assert_eq "$fmt/$where: same size and mtime" "$(stat -c '%s %.9Y' "$f")" "$size"
		check "$fmt/$where: the file did change" bash -c "! cmp -s 'base_$fmt/data.$fmt' '$f'"
		t_run "$FERRY" copy -q "${src[@]}" "$fmt://$T/$f" "$url"
		refused "$fmt/$where"
		t_run "$FERRY" copy -q "${src[@]}" --restart "$fmt://$T/$f" "$url"
		assert_eq "$fmt/$where: --restart exit code" "$T_RC" 0
		check "$fmt/$where: --restart copied the edited file" test "$(sums "$url")" != "$want"
	done

	# unchanged: kill -9 after the first chunks commit, rerun, compare
	cp "base_$fmt/data.$fmt" "same_$fmt/data.$fmt"
	url=$(new_db "chg_same_$fmt")
	"$FERRY" copy -q "${src[@]}" "$fmt://$T/same_$fmt/data.$fmt" "$url" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 2000; i++)); do
		[[ "$(pg_q "$url" "SELECT count(*) > 0 FROM ferry.progress WHERE state = 'done'" 2>/dev/null || true)" == t ]] && break
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "$fmt: after the kill: $(pg_q "$url" "SELECT state, count(*) FROM ferry.progress GROUP BY 1 ORDER BY 1" | tr '\n' ' ')"
	t_run "$FERRY" copy -q "${src[@]}" "$fmt://$T/same_$fmt/data.$fmt" "$url"
	assert_eq "$fmt: unchanged file resumes" "$T_RC" 0
	[[ $T_RC -eq 0 ]] || echo "$T_ERR"
	assert_eq "$fmt: resumed == uninterrupted" "$(sums "$url")" "$want"
done
t_done
