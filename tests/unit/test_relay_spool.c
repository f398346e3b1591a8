/*
 * test_relay_spool.c - the durable spool of `ferry relay`
 * (src/lib/relay/spool.c) on a real directory: records come back in order
 * and intact across reopen; sequence numbers go on after reopen, even
 * after everything was acked; the size cap refuses without writing; eight
 * threads appending at once each get their own seq and every record is
 * there once; a torn or garbage tail is cut at open and what came before
 * survives, while corruption inside an older segment is an error naming
 * the file and offset; segments roll over and acks delete them; the reader
 * sees records appended while it waits; dead letters are JSON lines; the
 * record payload codec round-trips and refuses garbage; and a process
 * killed with SIGKILL while appending loses none of the records whose
 * append had returned.
 */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/relay_int.h"

static char tmpdir[512];
static char spool[600];

static int setup(void **state)
{
	const char *base = getenv("FERRY_TEST_TMP");

	(void)state;
	if (base)
		mkdir(base, 0700);
	snprintf(tmpdir, sizeof(tmpdir), "%s/spool-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(spool, sizeof(spool), "%s/sp", tmpdir);
	unsetenv("FERRY_SPOOL_SEGMENT_BYTES");
	return 0;
}

static int teardown(void **state)
{
	char cmd[700];

	(void)state;
	unsetenv("FERRY_SPOOL_SEGMENT_BYTES");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The payload of record i: its number and a length that varies. */
static size_t payload(uint64_t i, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "record %llu:", (unsigned long long)i);
	size_t extra = (size_t)(i * 37 % 300);

	for (; extra && n + 1 < cap; extra--, n++)
		out[n] = (char)('a' + (i + n) % 26);
	out[n] = '\0';
	return n;
}

static struct relay_spool *open_spool(uint64_t max)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = NULL;

	if (relay_spool_open(spool, max, &s, &err) != 0)
		fail_msg("open: %s", err.msg);
	return s;
}

static uint64_t append(struct relay_spool *s, const char *p, size_t n)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	uint64_t seq = 0;

	if (relay_spool_append(s, p, n, &seq, &err) != 0)
		fail_msg("append: %s", err.msg);
	return seq;
}

/* Collects what relay_spool_read delivers. */
struct got {
	uint64_t seqs[4096];
	size_t n;
	int check;      /* compare each payload with payload(seq) */
	int bad;
	uint64_t stop_at;       /* refuse this seq (return -99) */
};

static int collect(void *ud, uint64_t seq, const void *p, size_t n, struct ferry_error *err)
{
	struct got *g = ud;
	char want[512];

	(void)err;
	if (seq == g->stop_at)
		return -99;
	if (g->check) {
		size_t wn = payload(seq, want, sizeof(want));

		if (wn != n || memcmp(want, p, n) != 0)
			g->bad++;
	}
	if (g->n < 4096)
		g->seqs[g->n++] = seq;
	return 0;
}

/* Read everything after `after` (no waiting); the count. */
static size_t read_all(struct relay_spool *s, uint64_t after, struct got *g)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	int r;

	while ((r = relay_spool_read(s, after, 1000, 0, collect, g, &err)) > 0)
		after = g->seqs[g->n - 1];
	if (r < 0)
		fail_msg("read: %s", err.msg);
	return g->n;
}

static size_t count_segments(void)
{
	DIR *d = opendir(spool);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strstr(de->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

/* The newest segment's path. */
static void last_segment(char *out, size_t cap)
{
	DIR *d = opendir(spool);
	struct dirent *de;
	char best[64] = "";

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".seg") && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%.63s", de->d_name);
	closedir(d);
	assert_true(best[0]);
	snprintf(out, cap, "%s/%.63s", spool, best);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* ------------------------------------------------------------ tests */

static void order_across_reopen(void **state)
{
	struct relay_spool *s = open_spool(0);
	struct relay_spool_stats st;
	char id[40], p[512];
	struct got *g = ferry_calloc(1, sizeof(*g));
	uint64_t i;

	(void)state;
	assert_int_equal(strlen(relay_spool_id(s)), 32);
	snprintf(id, sizeof(id), "%s", relay_spool_id(s));
	for (i = 1; i <= 200; i++)
		assert_int_equal(append(s, p, payload(i, p, sizeof(p))), i);
	relay_spool_stats(s, &st);
	assert_int_equal(st.records, 200);
	assert_int_equal(st.last_seq, 200);
	assert_true(st.bytes > 200 * 32);
	assert_true(st.oldest_ns > 0);
	g->check = 1;
	assert_int_equal(read_all(s, 0, g), 200);
	for (i = 0; i < 200; i++)
		assert_int_equal(g->seqs[i], i + 1);
	assert_int_equal(g->bad, 0);
	relay_spool_close(s);

	s = open_spool(0);
	assert_string_equal(relay_spool_id(s), id);
	memset(g, 0, sizeof(*g));
	g->check = 1;
	assert_int_equal(read_all(s, 150, g), 50);
	assert_int_equal(g->seqs[0], 151);
	assert_int_equal(g->bad, 0);
	assert_int_equal(append(s, p, payload(201, p, sizeof(p))), 201);
	relay_spool_close(s);
	ferry_free(g);
}

/* max_bytes bounds a call (at least one record), fn's refusal stops and
 * comes back, and the refused record is delivered by the next call. */
static void read_limits(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0);
	struct got *g = ferry_calloc(1, sizeof(*g));
	char p[512];
	uint64_t i;

	(void)state;
	for (i = 1; i <= 10; i++)
		append(s, p, payload(i, p, sizeof(p)));
	assert_int_equal(relay_spool_read(s, 0, 1, 0, collect, g, &err), 1);
	assert_int_equal(g->seqs[0], 1);
	g->stop_at = 5;
	assert_int_equal(relay_spool_read(s, 1, 1 << 20, 0, collect, g, &err), -99);
	assert_int_equal(g->n, 4);
	g->stop_at = 0;
	assert_int_equal(relay_spool_read(s, 4, 1 << 20, 0, collect, g, &err), 6);
	assert_int_equal(g->seqs[4], 5);
	assert_int_equal(relay_spool_read(s, 10, 1 << 20, 0, collect, g, &err), 0);
	relay_spool_close(s);
	ferry_free(g);
}

/* fn runs without the spool's lock: it may even append (a held lock
 * would deadlock here), and the record it adds is delivered. */
static int append_from_fn(void *ud, uint64_t seq, const void *p, size_t n,
			  struct ferry_error *err)
{
	struct relay_spool *s = ud;
	uint64_t q;

	(void)p;
	(void)n;
	if (seq == 1 && relay_spool_append(s, "from fn", 7, &q, err) != 0)
		return -1;
	return 0;
}

static void fn_runs_unlocked(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0);
	struct got *g = ferry_calloc(1, sizeof(*g));
	struct relay_spool_stats st;

	(void)state;
	append(s, "first", 5);
	/* the new record lands in the segment being read: the same call
	 * goes on to it */
	assert_int_equal(relay_spool_read(s, 0, 100, 0, append_from_fn, s, &err), 2);
	relay_spool_stats(s, &st);
	assert_int_equal(st.last_seq, 2);
	assert_int_equal(relay_spool_read(s, 1, 100, 0, collect, g, &err), 1);
	assert_int_equal(g->seqs[0], 2);
	relay_spool_close(s);
	ferry_free(g);
}

static void seq_after_all_acked(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0);
	struct relay_spool_stats st;
	char p[512], path[700];

	(void)state;
	append(s, p, payload(1, p, sizeof(p)));
	append(s, p, payload(2, p, sizeof(p)));
	append(s, p, payload(3, p, sizeof(p)));
	assert_int_equal(relay_spool_ack(s, 3, &err), 0);
	assert_int_not_equal(relay_spool_ack(s, 4, &err), 0);   /* never appended */
	assert_non_null(strstr(err.msg, "last record is 3"));
	relay_spool_stats(s, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.oldest_ns, 0);
	assert_int_equal(st.acked, 3);
	relay_spool_close(s);

	s = open_spool(0);
	assert_int_equal(relay_spool_acked(s), 3);
	relay_spool_stats(s, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.last_seq, 3);
	assert_int_equal(append(s, p, payload(4, p, sizeof(p))), 4);
	relay_spool_close(s);

	/* even with the position file gone, the segments tell */
	snprintf(path, sizeof(path), "%s/position", spool);
	assert_int_equal(unlink(path), 0);
	s = open_spool(0);
	assert_int_equal(append(s, "x", 1), 5);
	relay_spool_close(s);
}

static void cap_refuses(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(1000);
	struct relay_spool_stats st, st2;
	char p[300], seg[700];
	uint64_t seq = 0, n = 0;
	int rc;

	(void)state;
	memset(p, 'x', sizeof(p));
	while ((rc = relay_spool_append(s, p, sizeof(p), &seq, &err)) == 0)
		n++;
	assert_int_equal(rc, FERRY_ETOOBIG);
	assert_non_null(strstr(err.msg, "is full"));
	assert_int_equal(n, 3);         /* 3 x (32 + 300) <= 1000 < 4 x 332 */
	assert_int_equal(relay_spool_room(s, sizeof(p)), 0);
	relay_spool_stats(s, &st);
	last_segment(seg, sizeof(seg));
	assert_int_equal(file_size(seg), st.bytes);
	assert_int_equal(relay_spool_append(s, p, sizeof(p), &seq, &err), FERRY_ETOOBIG);
	relay_spool_stats(s, &st2);
	assert_int_equal(st2.last_seq, 3);
	assert_int_equal(file_size(seg), st.bytes);
	/* replayed records make room again */
	assert_int_equal(relay_spool_ack(s, 1, &err), 0);
	assert_int_equal(relay_spool_room(s, sizeof(p)), 1);
	assert_int_equal(relay_spool_append(s, p, sizeof(p), &seq, &err), 0);
	assert_int_equal(seq, 4);
	relay_spool_close(s);
}

#define NTHREADS 8
#define PER_THREAD 250

struct appender {
	struct relay_spool *s;
	int t;
	uint64_t seqs[PER_THREAD];
	int failed;
};

static void *append_thread(void *ud)
{
	struct appender *a = ud;
	struct ferry_error err = FERRY_ERROR_INIT;
	char p[64];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		int n = snprintf(p, sizeof(p), "t%d i%d", a->t, i);

		if (relay_spool_append(a->s, p, (size_t)n, &a->seqs[i], &err) != 0)
			a->failed++;
	}
	return NULL;
}

/* What the concurrent test's reader checks: record seq is owner[seq]. */
struct owners {
	char want[NTHREADS * PER_THREAD + 1][64];
	int seen[NTHREADS * PER_THREAD + 1];
	int bad;
	uint64_t last;
};

static int check_owner(void *ud, uint64_t seq, const void *p, size_t n, struct ferry_error *err)
{
	struct owners *o = ud;

	(void)err;
	if (seq == 0 || seq > NTHREADS * PER_THREAD || seq != o->last + 1 ||
	    strlen(o->want[seq]) != n || memcmp(o->want[seq], p, n) != 0)
		o->bad++;
	else
		o->seen[seq]++;
	o->last = seq;
	return 0;
}

static void concurrent_appenders(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s;
	struct appender *a = ferry_calloc(NTHREADS, sizeof(*a));
	struct owners *o = ferry_calloc(1, sizeof(*o));
	pthread_t th[NTHREADS];
	int t, i, r;

	(void)state;
	setenv("FERRY_SPOOL_SEGMENT_BYTES", "8192", 1);     /* roll over under load too */
	s = open_spool(0);
	for (t = 0; t < NTHREADS; t++) {
		a[t].s = s;
		a[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, append_thread, &a[t]), 0);
	}
	for (t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < NTHREADS; t++) {
		assert_int_equal(a[t].failed, 0);
		for (i = 0; i < PER_THREAD; i++) {
			uint64_t q = a[t].seqs[i];

			assert_true(q >= 1 && q <= NTHREADS * PER_THREAD);
			assert_int_equal(o->want[q][0], 0);     /* unique */
			snprintf(o->want[q], sizeof(o->want[q]), "t%d i%d", t, i);
			/* one thread's records keep its order */
			if (i)
				assert_true(q > a[t].seqs[i - 1]);
		}
	}
	while ((r = relay_spool_read(s, o->last, 4096, 0, check_owner, o, &err)) > 0)
		;
	assert_int_equal(r, 0);
	assert_int_equal(o->bad, 0);
	for (i = 1; i <= NTHREADS * PER_THREAD; i++)
		assert_int_equal(o->seen[i], 1);
	relay_spool_close(s);
	ferry_free(a);
	ferry_free(o);
}

static int count_only(void *ud, uint64_t seq, const void *p, size_t n, struct ferry_error *err)
{
	struct owners *o = ud;

	(void)p;
	(void)err;
	if (seq != o->last + 1 || seq > NTHREADS * PER_THREAD || n < 5)
		o->bad++;
	else
		o->seen[seq]++;
	o->last = seq;
	return 0;
}
/* The relay's pattern: appenders keep going while one thread reads,
 * acks what it read (deleting segments under the appenders' feet) and
 * waits for more; every record arrives once, in order. */
static void read_ack_while_appending(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s;
	struct appender *a = ferry_calloc(4, sizeof(*a));
	struct owners *o = ferry_calloc(1, sizeof(*o));
	struct relay_spool_stats st;
	pthread_t th[4];
	int t, i, r;

	(void)state;
	setenv("FERRY_SPOOL_SEGMENT_BYTES", "2048", 1);
	s = open_spool(0);
	for (t = 0; t < 4; t++) {
		a[t].s = s;
		a[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, append_thread, &a[t]), 0);
	}
	while (o->last < 4 * PER_THREAD) {
		/* the payloads are checked after the join (owners not known yet) */
		r = relay_spool_read(s, o->last, 3000, 10000, count_only, o, &err);
		if (r < 0)
			fail_msg("read: %s", err.msg);
		assert_true(r > 0);
		if (relay_spool_ack(s, o->last, &err) != 0)
			fail_msg("ack: %s", err.msg);
	}
	for (t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(o->bad, 0);
	for (i = 1; i <= 4 * PER_THREAD; i++)
		assert_int_equal(o->seen[i], 1);
	relay_spool_stats(s, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(count_segments(), 1);
	relay_spool_close(s);
	ferry_free(a);
	ferry_free(o);
}

static void torn_tail_cut(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0);
	struct relay_spool_stats st;
	struct got *g = ferry_calloc(1, sizeof(*g));
	char p[512], seg[700];
	off_t full;
	uint64_t i;
	int fd;

	(void)state;
	for (i = 1; i <= 10; i++)
		append(s, p, payload(i, p, sizeof(p)));
	relay_spool_close(s);
	last_segment(seg, sizeof(seg));
	full = file_size(seg);

	/* the last record cut short */
	assert_int_equal(truncate(seg, full - 5), 0);
	s = open_spool(0);
	relay_spool_stats(s, &st);
	assert_int_equal(st.last_seq, 9);
	g->check = 1;
	assert_int_equal(read_all(s, 0, g), 9);
	assert_int_equal(g->bad, 0);
	assert_int_equal(append(s, p, payload(10, p, sizeof(p))), 10);
	relay_spool_close(s);
	assert_int_equal(file_size(seg), full);

	/* garbage after the last record */
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "FSP1 garbage that is no record but long enough for a header", 59), 59);
	close(fd);
	s = open_spool(0);
	assert_int_equal(file_size(seg), full);
	memset(g, 0, sizeof(*g));
	g->check = 1;
	assert_int_equal(read_all(s, 0, g), 10);
	assert_int_equal(g->bad, 0);
	assert_int_equal(append(s, p, payload(11, p, sizeof(p))), 11);
	relay_spool_close(s);

	/* a flipped byte inside an older segment is no torn write */
	setenv("FERRY_SPOOL_SEGMENT_BYTES", "1024", 1);
	s = open_spool(0);
	for (i = 12; i <= 20; i++)
		append(s, p, payload(i, p, sizeof(p)));
	relay_spool_close(s);
	assert_true(count_segments() > 1);
	fd = open(seg, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "#", 1, 40), 1);     /* payload of record 1 */
	close(fd);
	s = NULL;
	assert_int_equal(relay_spool_open(spool, 0, &s, &err), FERRY_EIO);
	assert_null(s);
	assert_non_null(strstr(err.msg, seg));
	assert_non_null(strstr(err.msg, "offset 0"));
	assert_non_null(strstr(err.msg, "checksum"));
	ferry_free(g);
}

/* A write that fails (here: the file size limit, as a full disk would) is
 * reported with the file and offset, leaves nothing behind, and the next
 * append reuses the seq; a second open of the same spool is refused. */
static void write_failure_and_lock(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0), *s2 = NULL;
	struct got *g = ferry_calloc(1, sizeof(*g));
	struct rlimit old, lim;
	char p[512], seg[700];
	uint64_t seq = 0;
	off_t size;
	int rc;

	(void)state;
	assert_int_equal(relay_spool_open(spool, 0, &s2, &err), FERRY_ELOCKED);
	assert_null(s2);
	append(s, p, payload(1, p, sizeof(p)));
	last_segment(seg, sizeof(seg));
	size = file_size(seg);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = relay_spool_append(s, p, payload(2, p, sizeof(p)), &seq, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, FERRY_EIO);
	assert_non_null(strstr(err.msg, seg));
	assert_non_null(strstr(err.msg, "at offset"));
	assert_int_equal(file_size(seg), size);
	assert_int_equal(append(s, p, payload(2, p, sizeof(p))), 2);
	g->check = 1;
	assert_int_equal(read_all(s, 0, g), 2);
	assert_int_equal(g->bad, 0);
	relay_spool_close(s);
	ferry_free(g);
}

static void rollover_and_ack(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s;
	struct relay_spool_stats st, st2;
	struct got *g = ferry_calloc(1, sizeof(*g));
	char p[512];
	size_t nseg;
	uint64_t i;

	(void)state;
	setenv("FERRY_SPOOL_SEGMENT_BYTES", "4096", 1);
	s = open_spool(0);
	for (i = 1; i <= 300; i++)
		append(s, p, payload(i, p, sizeof(p)));
	nseg = count_segments();
	assert_true(nseg > 10);
	g->check = 1;
	assert_int_equal(read_all(s, 0, g), 300);
	assert_int_equal(g->bad, 0);
	relay_spool_close(s);

	s = open_spool(0);
	memset(g, 0, sizeof(*g));
	g->check = 1;
	assert_int_equal(read_all(s, 0, g), 300);
	assert_int_equal(g->bad, 0);
	relay_spool_stats(s, &st);
	assert_int_equal(st.records, 300);

	assert_int_equal(relay_spool_ack(s, 150, &err), 0);
	assert_true(count_segments() < nseg);
	assert_true(count_segments() > 1);
	relay_spool_stats(s, &st2);
	assert_int_equal(st2.records, 150);
	assert_int_equal(st2.acked, 150);
	assert_true(st2.bytes < st.bytes);
	assert_true(st2.oldest_ns >= st.oldest_ns);
	/* what is left reads as before */
	memset(g, 0, sizeof(*g));
	g->check = 1;
	assert_int_equal(read_all(s, 150, g), 150);
	assert_int_equal(g->seqs[0], 151);
	assert_int_equal(g->bad, 0);
	/* reading from before the acked records starts at what is left */
	memset(g, 0, sizeof(*g));
	read_all(s, 0, g);
	assert_true(g->seqs[0] <= 151);
	assert_int_equal(g->seqs[g->n - 1], 300);

	assert_int_equal(relay_spool_ack(s, 300, &err), 0);
	assert_int_equal(count_segments(), 1);
	relay_spool_stats(s, &st2);
	assert_int_equal(st2.records, 0);
	assert_int_equal(st2.bytes, 0);
	relay_spool_close(s);
	s = open_spool(0);
	assert_int_equal(append(s, p, payload(301, p, sizeof(p))), 301);
	memset(g, 0, sizeof(*g));
	g->check = 1;
	assert_int_equal(read_all(s, 300, g), 1);
	assert_int_equal(g->bad, 0);
	relay_spool_close(s);
	ferry_free(g);
}

struct later {
	struct relay_spool *s;
};

static void *append_later(void *ud)
{
	struct later *l = ud;
	struct ferry_error err = FERRY_ERROR_INIT;
	uint64_t seq;

	usleep(50000);
	relay_spool_append(l->s, "late", 4, &seq, &err);
	return NULL;
}

/* A waiting reader is woken by an append (the wait is long: no timing is
 * asserted, only that the record arrives). */
static void reader_sees_new(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0);
	struct got *g = ferry_calloc(1, sizeof(*g));
	struct later l = { s };
	pthread_t th;

	(void)state;
	assert_int_equal(relay_spool_read(s, 0, 100, 10, collect, g, &err), 0);
	assert_int_equal(pthread_create(&th, NULL, append_later, &l), 0);
	assert_int_equal(relay_spool_read(s, 0, 100, 60000, collect, g, &err), 1);
	pthread_join(th, NULL);
	assert_int_equal(g->seqs[0], 1);
	relay_spool_close(s);
	ferry_free(g);
}

static void dead_letters(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_spool *s = open_spool(0);
	struct relay_spool_stats st;
	char path[700], line[4096];
	const char *lp2 = "m v=1 1\nbad\xff\xfe\n";
	FILE *f;
	int n = 0;

	(void)state;
	assert_int_equal(relay_spool_dead_letter(s, 7, "postgres", "home", "field \"v\" conflicts",
						 "m,t=a v=\"x\" 1\n", 14, &err), 0);
	/* a reason cut inside a character (or quoting bytes that are not
	 * UTF-8): jansson refused it and the whole dead letter was lost */
	assert_int_equal(relay_spool_dead_letter(s, 8, "influx", "d\xff" "b", "bad \xe2\x82", lp2,
						 strlen(lp2), &err), 0);
	relay_spool_stats(s, &st);
	assert_int_equal(st.dead_letters, 2);
	relay_spool_close(s);
	snprintf(path, sizeof(path), "%s/dead-letters.ndjson", spool);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_error_t je;
		json_t *j = json_loads(line, 0, &je);
		const char *t;

		if (!j)
			fail_msg("line %d is no JSON: %s", n + 1, je.text);
		assert_int_equal(json_integer_value(json_object_get(j, "seq")), 7 + n);
		t = json_string_value(json_object_get(j, "time"));
		assert_non_null(t);
		assert_true(strlen(t) == 30 && t[10] == 'T' && t[29] == 'Z');
		if (n == 0) {
			assert_string_equal(json_string_value(json_object_get(j, "store")), "postgres");
			assert_string_equal(json_string_value(json_object_get(j, "db")), "home");
			assert_string_equal(json_string_value(json_object_get(j, "reason")),
					    "field \"v\" conflicts");
			assert_string_equal(json_string_value(json_object_get(j, "lp")),
					    "m,t=a v=\"x\" 1\n");
		} else {
			assert_non_null(strstr(json_string_value(json_object_get(j, "lp")),
						"bad\xef\xbf\xbd"));
			assert_string_equal(json_string_value(json_object_get(j, "reason")),
					    "bad \xef\xbf\xbd\xef\xbf\xbd");
			assert_string_equal(json_string_value(json_object_get(j, "db")),
					    "d\xef\xbf\xbd" "b");
			/* the exact bytes of a line that is not UTF-8 */
			assert_non_null(json_object_get(j, "lp_base64"));
		}
		json_decref(j);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 2);
}

static void rec_codec(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct relay_rec r;
	const char *lp = "cpu,host=a v=1 1000000000\ncpu,host=b v=2 1000000000\n";
	char *junk;
	size_t i;
	int to;

	(void)state;
	assert_int_equal(relay_rec_encode(&b, RELAY_TO_NEW, "telegraf", "autogen", lp,
					  strlen(lp), 2), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(relay_rec_decode(b.buf, b.len, &to, &r), 0);
	assert_int_equal(to, RELAY_TO_NEW);
	assert_string_equal(r.db, "telegraf");
	assert_string_equal(r.rp, "autogen");
	assert_int_equal(r.n, strlen(lp));
	assert_memory_equal(r.lp, lp, r.n);
	assert_int_equal(r.npoints, 2);

	/* every cut is refused, and so is every byte of the head changed */
	for (i = 0; i < b.len; i++)
		assert_int_equal(relay_rec_decode(b.buf, i, &to, &r), FERRY_EPARSE);
	junk = ferry_malloc(b.len + 1);
	assert_non_null(junk);
	for (i = 0; i < 22; i++) {
		memcpy(junk, b.buf, b.len);
		junk[i] ^= (char)0x40;
		assert_int_equal(relay_rec_decode(junk, b.len, &to, &r), FERRY_EPARSE);
	}
	memcpy(junk, b.buf, b.len);
	junk[b.len] = 'x';
	assert_int_equal(relay_rec_decode(junk, b.len + 1, &to, &r), FERRY_EPARSE);
	memset(junk, 0xff, b.len);
	assert_int_equal(relay_rec_decode(junk, b.len, &to, &r), FERRY_EPARSE);
	ferry_free(junk);

	/* empty rp and lp */
	ferry_buf_clear(&b);
	assert_int_equal(relay_rec_encode(&b, RELAY_TO_OLD, "db", "", "", 0, 0), 0);
	assert_int_equal(relay_rec_decode(b.buf, b.len, &to, &r), 0);
	assert_int_equal(to, RELAY_TO_OLD);
	assert_string_equal(r.rp, "");
	assert_int_equal(r.n, 0);
	ferry_buf_release(&b);
}

static void points_lifecycle(void **state)
{
	struct relay_points p;

	(void)state;
	relay_points_init(&p);
	assert_int_equal(ferry_buf_addstr(&p.lp, "m v=1 1\n"), 0);
	p.npoints = 1;
	p.nrejected = 2;
	relay_points_clear(&p);
	assert_int_equal(p.lp.len, 0);
	assert_int_equal(p.npoints + p.nrejected, 0);
	relay_points_release(&p);
}

/*
 * A child appends from four threads and reports each seq whose append
 * returned over a pipe; it is killed with SIGKILL mid-stream.  Every
 * reported seq must be readable after reopen with the payload the child
 * wrote (payload(seq) cannot be used: the child learns seq only after the
 * append, so the payload names the thread and counter and the report
 * carries both).
 */
struct report {
	uint64_t seq;
	uint32_t t, i;
};

struct crash_arg {
	struct relay_spool *s;
	int fd;
	uint32_t t;
};

static size_t crash_payload(uint32_t t, uint32_t i, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "crash t%u i%u ", t, i);

	while (n < 40 + (i * 13 + t) % 200 && n + 1 < cap)
		out[n++] = (char)('A' + i % 26);
	return n;
}

static void *crash_thread(void *ud)
{
	struct crash_arg *a = ud;
	struct ferry_error err = FERRY_ERROR_INIT;
	char p[300];
	uint32_t i;

	for (i = 0;; i++) {
		struct report r = { 0, a->t, i };

		if (relay_spool_append(a->s, p, crash_payload(a->t, i, p, sizeof(p)), &r.seq,
				       &err) != 0)
			_exit(3);
		if (write(a->fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
	}
	return NULL;
}

struct crash_check {
	struct report *rep;     /* indexed by seq */
	size_t cap;
	int bad;
};

static int crash_collect(void *ud, uint64_t seq, const void *p, size_t n, struct ferry_error *err)
{
	struct crash_check *c = ud;
	char want[300];

	(void)err;
	if (seq < c->cap && c->rep[seq].seq == seq) {
		size_t wn = crash_payload(c->rep[seq].t, c->rep[seq].i, want, sizeof(want));

		if (wn != n || memcmp(want, p, n) != 0)
			c->bad++;
		c->rep[seq].seq = 0;    /* found */
	}
	return 0;
}

static void crash_keeps_acknowledged(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct crash_check c = { NULL, 1 << 20, 0 };
	struct relay_spool *s;
	struct report r;
	size_t got = 0, i;
	uint64_t after = 0;
	int pfd[2], st, rd;
	pid_t pid;

	(void)state;
	setenv("FERRY_SPOOL_SEGMENT_BYTES", "65536", 1);
	c.rep = ferry_calloc(c.cap, sizeof(*c.rep));
	assert_non_null(c.rep);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct crash_arg a[4];
		pthread_t th[4];
		uint32_t t;

		close(pfd[0]);
		if (relay_spool_open(spool, 0, &s, &err) != 0)
			_exit(2);
		for (t = 0; t < 4; t++) {
			a[t] = (struct crash_arg){ s, pfd[1], t };
			pthread_create(&th[t], NULL, crash_thread, &a[t]);
		}
		pthread_join(th[0], NULL);
		_exit(0);
	}
	close(pfd[1]);
	while (got < 2000 && read(pfd[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		assert_true(r.seq > 0 && r.seq < c.cap);
		c.rep[r.seq] = r;
		got++;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	/* the reports written before the kill */
	while (read(pfd[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		assert_true(r.seq > 0 && r.seq < c.cap);
		c.rep[r.seq] = r;
		got++;
	}
	close(pfd[0]);
	assert_true(got >= 2000);

	s = open_spool(0);
	while ((rd = relay_spool_read(s, after, 1 << 20, 0, crash_collect, &c, &err)) > 0) {
		struct relay_spool_stats sst;

		relay_spool_stats(s, &sst);
		after = sst.last_seq;
	}
	assert_int_equal(rd, 0);
	assert_int_equal(c.bad, 0);
	for (i = 0; i < c.cap; i++)
		if (c.rep[i].seq)
			fail_msg("acknowledged seq %zu is missing after the crash", i);
	/* and the spool goes on */
	assert_int_equal(relay_spool_append(s, "after", 5, &after, &err), 0);
	relay_spool_close(s);
	ferry_free(c.rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(order_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(read_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(fn_runs_unlocked, setup, teardown),
		cmocka_unit_test_setup_teardown(seq_after_all_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(cap_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_appenders, setup, teardown),
		cmocka_unit_test_setup_teardown(read_ack_while_appending, setup, teardown),
		cmocka_unit_test_setup_teardown(torn_tail_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(write_failure_and_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(rollover_and_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(reader_sees_new, setup, teardown),
		cmocka_unit_test_setup_teardown(dead_letters, setup, teardown),
		cmocka_unit_test_setup_teardown(rec_codec, setup, teardown),
		cmocka_unit_test_setup_teardown(points_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_keeps_acknowledged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
