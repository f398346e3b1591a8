/*
 * tune.c - what `ferry copy` runs side by side when -j is left to it
 * (-j auto, the default): the COPY streams of the data phase and the
 * index builds after it, decided from what ferry can see, and said in
 * the summary.
 *
 * Measured on 2 cores with PostgreSQL on the same host (issue 22): a 5M
 * row table with an integer key and an (integer, text) index took
 * 9.8-11.3 s with two streams and two builds side by side, 6.5 s with one
 * stream and the builds one after the other with the server's defaults
 * (data 4.3 s against 2.8 s, indexes 5.4 s against 3.4-3.6 s).  Every
 * COPY stream costs a server backend as busy as ferry's own side of it,
 * and every build as the server runs it by default is a leader plus
 * max_parallel_maintenance_workers: on cores they share, more of either
 * only queues for the same cores.  (That was before ferry's reading of
 * SQLite got cheaper: a second stream now pays on that shape, see
 * copy_tune.)  So:
 *
 *   streams  server on this host (loopback, a Unix socket, or the
 *            server's address is the client's): at most cores / 2, else
 *            at most the client's cores; past one stream the ramp in
 *            the loader keeps another only while it adds rows/s; on 2
 *            cores with the server, two when two or more tables are big
 *            or a big one is loaded in no index's order (measured: see
 *            copy_tune), with half-size batches
 *   builds   server on this host: cores / (1 + the server's parallel
 *            maintenance workers) side by side, at least one, each with
 *            the server's defaults; only small tables (every table under
 *            copy_small_table() rows): one per core, since each such build is
 *            mostly round trips; every big table loaded in the order of
 *            an index: one per core, each without parallel workers
 *            (post.c: no_workers; measured on 2 cores, 5M telemetry rows:
 *            PK and (entity_id, ts) side by side without workers 2.7-3.0
 *            s, one after the other with 2 workers each 3.4-3.9 s); a
 *            big table with two or more builds: two side by side, each
 *            with the server's defaults (each parallel build ends on one
 *            core), but side by side the index whose order a table was
 *            read in from its source (InfluxDB's narrow layout) builds
 *            without workers (post.c); a server elsewhere: one per
 *            client core (its cores are not visible from here)
 *
 * -j N keeps what it always did: N streams from the start and up to
 * min(N, cores) builds side by side.  Nothing here changes which rows go
 * where: chunks, their order and their commits are the same whatever
 * runs them, so every choice gives the target a serial copy gives.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "copy/run_int.h"
#include "ferry/alloc.h"

struct where {
	struct ferry_buf local, mpmw;
};

static int take_where(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct where *w = ud;

	if (ncols < 2)
		return 0;
	if (ferry_buf_addstr(&w->local, vals[0] ? vals[0] : "f") < 0 ||
	    ferry_buf_addstr(&w->mpmw, vals[1] ? vals[1] : "2") < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* FERRY_TUNE_CORES stands in for the host's cores: the tests use it to
 * take the paths of a bigger machine (the ramp) on a small one. */
static long client_cores(void)
{
	const char *e = getenv("FERRY_TUNE_CORES");
	long c = e && atol(e) > 0 ? atol(e) : sysconf(_SC_NPROCESSORS_ONLN);

	return c < 1 ? 1 : c;
}

int64_t copy_small_table(void)
{
	const char *e = getenv("FERRY_TUNE_SMALL_TABLE");

	return e && atoll(e) > 0 ? atoll(e) : 200000;
}

/* How many of the plan's chunks are table tp's. */
static size_t chunks_of(const struct run *r, const struct table_plan *tp)
{
	size_t k, n = 0;

	for (k = 0; k < r->nchunks; k++)
		n += r->chunks[k].tp == tp;
	return n;
}

/* The builds a table's target gets: its indexes, and its primary key
 * when it has one (SQLite's INTEGER PRIMARY KEY among them; an InfluxDB
 * measurement's narrow table has none).  costly: without the key of an
 * INTEGER PRIMARY KEY, whose rows come in its order (or in two runs of
 * it), so that its sort is a check. */
int copy_table_builds(const struct ferry_table *t, int costly)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].pk_pos > 0)
			return (int)t->nidx + !(costly && t->rowid_alias >= 0);
	return (int)t->nidx;
}

/* FERRY_TUNE_LLC_KB stands in for the size of this host's last-level
 * cache (0: not known): the tests use it to take both paths. */
static long llc_kb(void)
{
	const char *e = getenv("FERRY_TUNE_LLC_KB");
	long best = 0, level = 0;
	int i;

	if (e)
		return atol(e) > 0 ? atol(e) : 0;
	for (i = 0; i < 8; i++) {
		char path[96], buf[32];
		long lv = 0, kb = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
		if (!(f = fopen(path, "r")))
			break;
		if (fgets(buf, sizeof(buf), f))
			lv = atol(buf);
		fclose(f);
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			char *end;

			kb = strtol(buf, &end, 10);
			if (*end == 'M')
				kb *= 1024;
			else if (*end != 'K')
				kb = 0;
		}
		fclose(f);
		if (kb > 0 && lv >= level) {
			best = lv > level || kb > best ? kb : best;
			level = lv;
		}
	}
	return best;
}

int copy_tune(struct run *r, struct ferry_error *err)
{
	struct where w = { FERRY_BUF_INIT, FERRY_BUF_INIT };
	long cores = client_cores(), mpmw = 2, cap;
	int64_t biggest = 0, small = copy_small_table();
	size_t i, ntables = 0;
	int rc = 0, big_unordered = 0, most = 0, costly = 0, nbig = 0, nfree = 0;
	int64_t free_rows = 0;

	r->builds = 0;
	r->ramp = 0;
	r->batch_rows = 0;
	r->readers = 0;
	r->build_sort_kb = 0;
	if (!r->ckpt) {
		r->jobs = 1;  /* SQLite has one writer */
		return 0;
	}
	if (r->o->jobs > 0) {
		r->jobs = r->o->jobs;
		plan_strv_pushf(&r->decisions, "jobs %d: set with -j (builds side by side: up to %ld)",
				r->jobs, cores < r->jobs ? cores : (long)r->jobs);
		return 0;
	}
	for (i = 0; i < r->plan.ntables; i++) {
		int big = r->plan.tables[i].count >= small;

		if (r->plan.tables[i].skip)
			continue;
		ntables++;
		if (r->plan.tables[i].count > biggest)
			biggest = r->plan.tables[i].count;
		nbig += big;
		/* a big table loaded in no index's order, in two chunks or
		 * more: they can go side by side (an ordered table's go one
		 * at a time) */
		if (big && !r->plan.tables[i].order &&
		    chunks_of(r, &r->plan.tables[i]) >= 2) {
			nfree++;
			if (r->plan.tables[i].count > free_rows)
				free_rows = r->plan.tables[i].count;
		}
		/* a table ferry sorts into an index's order builds that index
		 * from sorted rows and its others without parallel workers */
		if (big && !(r->plan.tables[i].order && !r->plan.tables[i].src_ordered)) {
			int nb = copy_table_builds(r->plan.tables[i].src, 0),
			    nc = copy_table_builds(r->plan.tables[i].src, 1);

			big_unordered = 1;
			if (nb > most)
				most = nb;
			if (nc > costly)
				costly = nc;
		}
	}
	/* reading the source into ferry's sort (spill.c) runs before any
	 * COPY of that table: the cores are free for its readers */
	r->readers = (int)cores;
	/*
	 * A Unix socket has no server address; over loopback, or to one of
	 * this host's own addresses, the server sees the connection come
	 * from its own address.
	 */
	rc = ferry_conn_ops_of(r->dst)->query(r->dst,
		"SELECT inet_server_addr() IS NULL OR inet_server_addr() = inet_client_addr() "
		"OR host(inet_server_addr()) IN ('127.0.0.1', '::1'), "
		"current_setting('max_parallel_maintenance_workers')", NULL, 0, take_where, &w, err);
	if (rc < 0) {
		ferry_error_prefix(err, "cannot tell where the target server runs");
		goto out;
	}
	r->server_local = w.local.buf && w.local.buf[0] == 't';
	if (w.mpmw.buf && atol(w.mpmw.buf) >= 0)
		mpmw = atol(w.mpmw.buf);
	if (r->server_local) {
		cap = cores / 2;
		if (cap < 1)
			cap = 1;
		r->builds = (int)(cores / (1 + mpmw));
		if (r->builds < 1)
			r->builds = 1;
	} else {
		cap = cores;
		r->builds = (int)cores;
	}
	if (cap > 8)
		cap = 8;  /* past that the server's cores, not ferry's, decide */
	if ((size_t)cap > r->nchunks)
		cap = r->nchunks ? (long)r->nchunks : 1;
	r->jobs = (int)cap;
	r->ramp = cap > 1;
	if (r->server_local && cores == 2 && (nbig >= 2 || nfree >= 1) && r->nchunks >= 2) {
		/*
		 * Rows spread over several big tables: one stream left a
		 * quarter of both cores idle (appdb, 5M rows in 40 tables, 5
		 * of them over 200k rows: ferry 0.8 of a core, its backend 0.7,
		 * data 4.7 s; two streams 1.0 + 1.0, data 3.9 s, the copy
		 * 12.8 s against 14.4 s).  One big table loaded in no index's
		 * order the same, since ferry's reading of SQLite got cheaper
		 * (its COPY backend a core, ferry half of the other): data
		 * phase with one stream and with two, 4 copies each: wide
		 * 5.30-5.53 s against 4.94-4.99 s (the copy 7.08-7.21 s
		 * against 6.74-6.86 s), textidx 3.22-3.24 against 2.86-2.93
		 * s, the recorder 2.17-2.21 against 1.86-1.91 s.  A table
		 * loaded in an index's order (telemetry, InfluxDB's narrow
		 * table) goes a chunk at a time whatever the streams: 5.97-
		 * 6.11 s against 5.98-6.18 s.  The data phase is too short
		 * for the ramp to measure on two cores.
		 */
		r->jobs = 2;
		r->ramp = 0;
		/* half the batch: the same memory as one stream (appdb peak
		 * RSS 97 MB with 10000-row batches, 73 MB with 5000, the
		 * same speed) */
		r->batch_rows = 5000;
		if (nbig >= 2)
			plan_strv_pushf(&r->decisions, "jobs 2: server on this host, 2 cores, %d "
					"tables of %lld rows or more: two streams (one left the cores "
					"a quarter idle), batches of 5000 rows", nbig, (long long)small);
		else
			plan_strv_pushf(&r->decisions, "jobs 2: server on this host, 2 cores, a "
					"table of %lld rows loaded in no index's order: two streams "
					"(one left half a core idle), batches of 5000 rows",
					(long long)free_rows);
	} else if (r->server_local && cores / 2 <= 1)
		plan_strv_pushf(&r->decisions, "jobs 1: server on this host, %ld core%s: one stream "
				"(its COPY backend needs a core of its own)", cores, cores == 1 ? "" : "s");
	else if (r->ramp)
		plan_strv_pushf(&r->decisions, "jobs up to %d: %s, %ld cores; one stream first, "
				"another only while it adds rows/s", r->jobs,
				r->server_local ? "server on this host" : "server on another host", cores);
	else
		plan_strv_pushf(&r->decisions, "jobs 1: %zu chunk%s to copy", r->nchunks,
				r->nchunks == 1 ? "" : "s");
	if (biggest > 0 && biggest < small && r->builds < cores) {
		r->builds = (int)cores;
		plan_strv_pushf(&r->decisions, "index builds up to %d side by side: %zu tables, "
				"the biggest %lld rows (small builds are mostly round trips)",
				r->builds, ntables, (long long)biggest);
	} else if (biggest > 0 && !big_unordered && r->builds < cores) {
		r->builds = (int)cores;
		plan_strv_pushf(&r->decisions, "index builds up to %d side by side, without "
				"parallel workers: the big tables were loaded in the order of an "
				"index, so their builds sort little", r->builds);
	} else if (r->server_local && most >= 2 && r->builds < 2 && cores >= 2) {
		/*
		 * Several builds of one big table: each parallel build ends in
		 * its leader's merge and write, on one core; a second build
		 * beside it fills the other.  The recorder's states (2M rows,
		 * 6 builds), 2 cores: indexes 3.56-3.72 s two side by side,
		 * 3.88-3.95 s one at a time.  InfluxDB's narrow table (6M
		 * rows, 2 indexes, no key), by hand after the same load, 4
		 * rounds: 7.2-9.9 s side by side, 8.9-10.1 s one at a time.
		 * textidx (5M rows, a key and an index), 5 copies each: 4.66-
		 * 5.19 s side by side, 5.01-7.65 s one at a time.
		 */
		long llc = llc_kb();

		r->builds = 2;
		if (costly >= 2 && cores == 2 && llc > 0 && !r->o->maintenance_work_mem) {
			/*
			 * Two sorts that cost keep both cores busy: a parallel
			 * worker only queues for them, and a sort in memory
			 * bigger than the CPU's last-level cache misses it on
			 * every compare, while small runs sorted in it merge
			 * cheaply.  Measured on 2 cores (32 MB L3), the builds
			 * alone after the same load, 2 rounds each:
			 * InfluxDB's narrow table (6M rows, 2 text-led
			 * indexes) 5.25-6.46 s with the server's defaults
			 * (64MB, a worker for one), 4.81-5.17 s without
			 * workers in 8MB each; two text/jsonb indexes of it
			 * 17.7-17.9 s against 9.8-10.1 s; the recorder's
			 * builds end to end 3.93-4.06 s against 3.10-3.20 s.
			 * Not when one sort costs (textidx: its key's input
			 * is in key order): its workers have the other core
			 * (4.15-4.22 s against 4.40-4.49 s without); post.c
			 * decides table by table.  Measured on 2 cores only:
			 * with more, builds without workers would leave some
			 * idle.
			 */
			r->build_sort_kb = llc / (2 * r->builds);
			if (r->build_sort_kb < 4096)
				r->build_sort_kb = 4096;
			plan_strv_pushf(&r->decisions, "index builds up to 2 side by side, those of "
					"tables of %lld rows or more without parallel workers, each "
					"sorting in %ld kB (this host's last-level cache: %ld kB): a "
					"big table has %d sorts that cost", (long long)small,
					r->build_sort_kb, llc, costly);
		} else {
			plan_strv_pushf(&r->decisions, "index builds up to 2 side by side with the "
					"server's defaults: a table of %lld rows has %d to build, and "
					"each parallel build ends on one core", (long long)biggest, most);
		}
	} else if (r->builds == 1) {
		plan_strv_pushf(&r->decisions, "index builds one at a time with the server's "
				"defaults: server on this host, %ld core%s, each build uses up to %ld",
				cores, cores == 1 ? "" : "s", 1 + mpmw);
	} else {
		plan_strv_pushf(&r->decisions, "index builds up to %d side by side: %s, %ld cores",
				r->builds, r->server_local ? "server on this host" :
				"server on another host", cores);
	}
out:
	ferry_buf_release(&w.local);
	ferry_buf_release(&w.mpmw);
	return rc;
}

/*
 * The data phase's ramp (the loader runs it on its own thread
 * while the workers copy): worker k may claim chunks only while k <
 * lc->allowed.  One stream runs first; once its rows flow and it has run
 * WARM seconds, its rate is measured over WINDOW seconds; then one more
 * stream is allowed, given SETTLE seconds and measured again.  It stays when the rows/s rose
 * by GAIN or more, and the next one is tried; otherwise it finishes the
 * chunk it holds and the streams stay as they were.  Rates are read from
 * lc->read_total, which every batch adds to.
 */
#define WARM 1.0
#define SETTLE 1.0
#define WINDOW 2.0
#define GAIN 1.10

/* FERRY_TUNE_RAMP="SECONDS GAIN" replaces WARM, SETTLE and WINDOW by
 * SECONDS and GAIN by GAIN: the tests use it to take each of the ramp's
 * ways (keep every stream, give the second one back) on small copies. */
static void ramp_params(double *warm, double *settle, double *window, double *gain)
{
	const char *e = getenv("FERRY_TUNE_RAMP");
	double s, g;

	*warm = WARM;
	*settle = SETTLE;
	*window = WINDOW;
	*gain = GAIN;
	if (e && sscanf(e, "%lf %lf", &s, &g) == 2 && s > 0 && g >= 0) {
		*warm = *settle = *window = s;
		*gain = g;
	}
}

static int stopped(struct load_ctx *lc)
{
	return atomic_load(&lc->abort) || atomic_load(&lc->drained) ||
	       atomic_load(&lc->running) == 0;
}

/* Sleep for secs unless the load ends first; 0 when it ended. */
static int nap(struct load_ctx *lc, double secs)
{
	double end = ferry_now() + secs;

	while (ferry_now() < end) {
		struct timespec ts = { 0, 10000000 };

		if (stopped(lc))
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

/* Rows/s over secs; < 0 when the load ended first. */
static double rate(struct load_ctx *lc, double secs)
{
	int64_t a = atomic_load(&lc->read_total), b;
	double t0 = ferry_now();

	if (!nap(lc, secs))
		return -1;
	b = atomic_load(&lc->read_total);
	return (double)(b - a) / (ferry_now() - t0);
}

void copy_ramp(struct load_ctx *lc, int n)
{
	double base, more, warm, settle, window, gain;
	int64_t start = atomic_load(&lc->read_total);
	int k = 1, tries;
	size_t len = 0;

	ramp_params(&warm, &settle, &window, &gain);
	lc->ramp_note[0] = 0;
	atomic_store(&lc->allowed, 1);
	/* rows start to flow after the first chunk's setup (a table loaded in
	 * an index's order is scanned into a temporary file first) */
	while (atomic_load(&lc->read_total) == start && nap(lc, 0.05))
		;
	if (!nap(lc, warm) || (base = rate(lc, window)) < 0)
		goto out;
	/* a window in which the one stream read nothing (a stall: a chunk's
	 * setup, a short window under load) is no rate to compare with: any
	 * second stream beat it (seen under ASan with the tests' 0.02 s) */
	for (tries = 0; base == 0 && tries < 20; tries++)
		if ((base = rate(lc, window)) < 0)
			goto out;
	while (k < n) {
		atomic_store(&lc->allowed, k + 1);
		if (!nap(lc, settle) || (more = rate(lc, window)) < 0) {
			k++;  /* the load ended with it running */
			break;
		}
		len += (size_t)snprintf(lc->ramp_note + len, sizeof(lc->ramp_note) - len,
			"%s%d stream%s %.0f rows/s, %d: %.0f", len ? "; " : "", k,
			k == 1 ? "" : "s", base, k + 1, more);
		if (len >= sizeof(lc->ramp_note))
			len = sizeof(lc->ramp_note) - 1;
		/* gain 0 (tests): any rate pays */
		if (gain > 0 && !(more > 0 && more >= base * gain)) {
			atomic_store(&lc->allowed, k);
			break;
		}
		base = more;
		k++;
	}
out:
	atomic_store(&lc->ramp_final, 1);
	snprintf(lc->ramp_note + len, sizeof(lc->ramp_note) - len, "%s%d stream%s kept",
		 len ? "; " : "", k, k == 1 ? "" : "s");
}
