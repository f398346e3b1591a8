/*
 * lpfile.c - the lp:// point source: InfluxDB 1.x line-protocol files as
 * written by `influx_inspect export` and by clients (struct tm_source_ops
 * lpf_source_ops; the mapper in tsmap turns its points into rows).
 *
 *   lp:///abs/file.lp   lp:rel/dir   lp:-  (stdin)   ?precision=ns|us|ms|s|m|h
 *   ?db=NAME: only the points after "# CONTEXT-DATABASE: NAME" lines
 *
 * A path is a file, a directory (every regular, non-hidden *.lp and
 * *.lp.gz file under it, recursively, in bytewise order of the relative
 * path, each file once however many links lead to it: walk.c) or '-' for
 * stdin.  A directory's keys are TM_KEY(file, line), so rejects name the file.
 * gzip input is recognised by its magic bytes, not its name, and inflated
 * with zlib (gzfile.c), member after member.
 *
 * Records: one engine (struct scan) streams a byte range of one file in
 * blocks and cuts it with lp_next_line(); plan(), discover() and read()
 * all go through it, so chunk boundaries are exactly the record
 * boundaries a reader sees.  A chunk starts at a record boundary, where
 * the splitter has no state, so reading chunk k alone gives the same
 * records (and line numbers, from tm_chunk.line0) as reading the whole
 * file.  A record longer than LPF_MAX_RECORD is rejected without being
 * loaded whole: it is taken to end at the first newline at or after
 * LPF_MAX_RECORD bytes from its start (it cannot be split exactly without
 * holding it), and the records after it are read as usual.
 *
 * gzip: chunk offsets count uncompressed bytes.  A gzip stream cannot be
 * entered in the middle, so reading a chunk that starts at off_lo > 0
 * inflates and discards everything before off_lo (tm_gz_skip) -- except when
 * the previous read of this source ended exactly there: its stream is
 * kept (one per source) and continued, so reading a gz file's chunks in
 * order (one worker, or a resume) inflates it once.  Workers reading
 * chunks of one gz file out of order pay up to n/2 inflations for n
 * chunks; a gz file is still cut into chunks so that checkpoints and
 * resume work the same.
 *
 * A gz file that breaks (ends early, a corrupt block, a bad CRC, bytes
 * after its last member that are not gzip: gzfile.c) is read up to the
 * break: the plan's scan stops there, and the record open at the break
 * -- the bytes after the last record boundary, as the splitter sees them
 * before the end (so a cut string with raw newlines is one record), maybe
 * none -- becomes a chunk of its own with tm_chunk.cut set.  read() never
 * parses it: it reads on past the chunk's end to see the break again and
 * rejects the record (empty when the break fell on a boundary) with a
 * reason naming the file and the compressed and uncompressed byte.  Every
 * record before it loads as in a whole file, with the same chunks and
 * line numbers; the summary names the break (src_notes).  The plan only
 * depends on the bytes, so a resumed job reads the same chunks; a file
 * replaced by a whole one changes the identity (a new job, or --restart).
 *
 * stdin: discover() cannot scan it (it can be read once), so it is
 * refused when the types are needed; plan() gives one chunk [0, max) and
 * a second read is an error.
 *
 * read() is reentrant for different chunks of one source (each call has
 * its own file handle, buffer and parser scratch); only stdin's "already
 * read" flag is shared.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "tsmap/sources/gzfile.h"
#include "tsmap/sources/walk.h"
#include "tsmap/tsmap.h"

#define LPF_BLOCK ((size_t)4 << 20)          /* bytes per read() */
#define LPF_MAX_RECORD ((size_t)16 << 20)    /* longer records are rejected */
#define LPF_RAW_KEEP 4096                     /* bytes of such a record kept */
#define LPF_DEFAULT_CHUNK ((uint64_t)64 << 20)
#define LPF_END_UNKNOWN UINT64_MAX

struct lpf_file {
	char *path;           /* as opened (root joined with the relative path) */
	uint64_t size;        /* on disk (compressed for gz) */
	int64_t mtime_s, mtime_ns;
	int gz;
	/* where the plan's scan found its gzip data to stop, and the line of
	 * the record cut there: for the summary */
	struct tm_gz_stop stop;
	int64_t stop_line;
};

struct lpf_source {
	char *root;           /* the URL's path */
	int is_stdin;
	struct lpf_file *f;
	size_t nf;
	uint64_t total_bytes; /* sum of the on-disk sizes */
	struct tm_source_opts o;
	/* measurement names of the schema discover() gave, for read(only) */
	char **mnames;
	size_t nm;
	/* chunks computed by a need_types discover() scan, reused by plan() */
	struct tm_chunk *plan;
	size_t nplan;
	int have_plan;
	int stdin_used;
	int is_dir;           /* the root is a directory: rejects name their file */
	struct tm_walk walk;  /* its files, and those it skipped */
	/* the '# CONTEXT-DATABASE:' names a scan met, distinct, in file order */
	char **dbs;
	size_t ndbs;
	char *want_db;        /* ?db=: read only that database's sections */
	/* a gzip stream left at the end of the last chunk read, so that
	 * reading a gz file's chunks in order inflates it once */
	pthread_mutex_t gz_lock;
	struct tm_gz *gz_keep;
	int gz_file;
	uint64_t gz_off;
};

/* ------------------------------------------------------------- input */

struct input {
	int fd;            /* a plain file */
	struct tm_gz *gz;  /* a gzip file, or stdin (plain or gzip) */
	const char *path;
};

static void gz_free(struct tm_gz *g)
{
	if (g) {
		tm_gz_close(g);
		ferry_free(g);
	}
}

/* A gzip reader on fd (taken, also on failure). */
static int gz_new(int fd, const char *path, struct tm_gz **out, struct ferry_error *err)
{
	struct tm_gz *g = ferry_malloc(sizeof(*g));
	int rc;

	if (!g) {
		close(fd);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	if ((rc = tm_gz_open(g, fd, path, err)) < 0) {
		ferry_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

static int input_open(struct lpf_source *S, int file, uint64_t off,
		      struct input *in, struct ferry_error *err)
{
	const char *path = S->is_stdin ? "-" : S->f[file].path;
	int fd, rc;

	in->fd = -1;
	in->gz = NULL;
	in->path = S->is_stdin ? "<stdin>" : path;
	if (S->is_stdin) {
		/* plain or gzip, told by its first bytes (tm_gz_open) */
		if ((fd = dup(0)) < 0)
			return ferry_error_set(err, FERRY_EIO, "cannot read stdin: %s",
					       strerror(errno));
		return gz_new(fd, in->path, &in->gz, err);
	}
	if (S->f[file].gz && off) {
		pthread_mutex_lock(&S->gz_lock);
		if (S->gz_keep && S->gz_file == file && S->gz_off == off) {
			in->gz = S->gz_keep;
			S->gz_keep = NULL;
		}
		pthread_mutex_unlock(&S->gz_lock);
		if (in->gz)
			return 0;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", path,
				       strerror(errno));
	if (!S->f[file].gz) {
		if (off && lseek(fd, (off_t)off, SEEK_SET) < 0) {
			int e = errno;

			close(fd);
			return ferry_error_set(err, FERRY_EIO, "cannot seek in '%s': %s",
					       path, strerror(e));
		}
		in->fd = fd;
		return 0;
	}
	if ((rc = gz_new(fd, path, &in->gz, err)) < 0)
		return rc;
	/* inflate and discard up to off (see the file comment) */
	if ((rc = tm_gz_skip(in->gz, off, err)) < 0)
		return rc;
	if (in->gz->out < off)
		return ferry_error_set(err, FERRY_EIO,
			"cannot read '%s': its data ends at byte %llu but the plan expects %llu (was it changed? start the copy again)",
			path, (unsigned long long)in->gz->out, (unsigned long long)off);
	return 0;
}

/* Keep a gzip stream that stands at off of file for the next chunk. */
static void input_keep(struct lpf_source *S, struct input *in, int file, uint64_t off)
{
	struct tm_gz *old = NULL;

	if (!in->gz || S->is_stdin)
		return;
	pthread_mutex_lock(&S->gz_lock);
	old = S->gz_keep;
	S->gz_keep = in->gz;
	S->gz_file = file;
	S->gz_off = off;
	pthread_mutex_unlock(&S->gz_lock);
	in->gz = NULL;
	gz_free(old);
}

static void input_close(struct input *in)
{
	gz_free(in->gz);
	if (in->fd >= 0)
		close(in->fd);
	in->gz = NULL;
	in->fd = -1;
}

/* Did the input's data stop at a break (a gzip file's)? */
static int input_broken(const struct input *in)
{
	return in->gz && tm_gz_broken(&in->gz->stop);
}

/* Read up to n bytes; 0 at the end, or where a gzip file breaks
 * (input_broken() tells). */
static long input_read(struct input *in, char *buf, size_t n, struct ferry_error *err)
{
	if (in->gz)
		return tm_gz_read(in->gz, buf, n, err);
	for (;;) {
		ssize_t got = read(in->fd, buf, n);

		if (got >= 0)
			return (long)got;
		if (errno != EINTR)
			return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s",
					       in->path, strerror(errno));
	}
}

/* ------------------------------------------------------------ records */

/* One record, or an oversized one (p = its first bytes). */
struct rec {
	const char *p;
	size_t n;
	uint64_t line;
	uint64_t off_lo, off_hi;   /* its bytes including the newline */
	int oversized;
	int cut;                   /* the record a break of the file cut (struct scan) */
};

struct scan {
	struct input in;
	char *buf;
	size_t cap, len;
	struct lp_cursor cur;      /* cur.off indexes buf */
	uint64_t base;             /* file offset of buf[0] */
	uint64_t end;              /* stop here (LPF_END_UNKNOWN: at EOF) */
	int eof;
	int cut_end;               /* end is where the file breaks (tm_chunk.cut) */
	int cut;                   /* the input stops at a break: the record open
				    * there is cut, not a last line without a newline */
	char raw[LPF_RAW_KEEP];
};

static int scan_open(struct scan *sc, struct lpf_source *S, int file,
		     uint64_t off_lo, uint64_t off_hi, uint64_t line0,
		     struct ferry_error *err)
{
	memset(sc, 0, sizeof(*sc));
	sc->in.fd = -1;
	sc->base = off_lo;
	sc->end = off_hi;
	sc->cur.off = 0;
	sc->cur.lineno = line0;
	/* a small chunk gets a small buffer: a plan of many small chunks
	 * would otherwise allocate LPF_BLOCK per chunk */
	sc->cap = LPF_BLOCK;
	if (off_hi != LPF_END_UNKNOWN && off_hi - off_lo < LPF_BLOCK)
		sc->cap = (size_t)(off_hi - off_lo) + 1;
	if (!(sc->buf = ferry_malloc(sc->cap)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return input_open(S, file, off_lo, &sc->in, err);
}

static void scan_release(struct scan *sc)
{
	input_close(&sc->in);
	ferry_free(sc->buf);
	sc->buf = NULL;
}

/* Keep the unread tail, read more after it; sets eof at the end. */
static int refill(struct scan *sc, struct ferry_error *err)
{
	size_t keep = sc->len - sc->cur.off, want, need;
	long got;

	if (sc->cur.off) {
		memmove(sc->buf, sc->buf + sc->cur.off, keep);
		sc->base += sc->cur.off;
		sc->len = keep;
		sc->cur.off = 0;
	}
	need = LPF_BLOCK / 2;
	if (sc->end != LPF_END_UNKNOWN && sc->end - (sc->base + sc->len) < need)
		need = (size_t)(sc->end - (sc->base + sc->len));
	if (sc->cap - sc->len < need) {
		size_t ncap = sc->len + (need < LPF_BLOCK / 2 ? need : LPF_BLOCK);
		char *nb = ferry_realloc(sc->buf, ncap);

		if (!nb)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		sc->buf = nb;
		sc->cap = ncap;
	}
	want = sc->cap - sc->len;
	if (sc->end != LPF_END_UNKNOWN && sc->end - (sc->base + sc->len) < want)
		want = (size_t)(sc->end - (sc->base + sc->len));
	if (want == 0) {
		sc->eof = 1;
		sc->cut = sc->cut_end;
		return 0;
	}
	got = input_read(&sc->in, sc->buf + sc->len, want, err);
	if (got < 0)
		return (int)got;
	if (got == 0) {
		sc->eof = 1;
		sc->cut = input_broken(&sc->in);
		if (sc->end != LPF_END_UNKNOWN)
			return ferry_error_set(err, FERRY_EIO,
				"cannot read '%s': it ends at byte %llu but the plan expects %llu (was it changed? start the copy again)",
				sc->in.path, (unsigned long long)(sc->base + sc->len),
				(unsigned long long)sc->end);
	}
	sc->len += (size_t)got;
	return 0;
}

/* The record at cur.off has no end within LPF_MAX_RECORD bytes: keep its
 * first bytes, then drop everything up to the first newline at or after
 * LPF_MAX_RECORD bytes from its start (or the end). */
static int skip_oversized(struct scan *sc, struct rec *r, struct ferry_error *err)
{
	size_t start = sc->cur.off, pos = start + LPF_MAX_RECORD, keep;
	const char *p = sc->buf + start, *e = sc->buf + pos;
	uint64_t nl = 0;
	int rc;

	keep = LPF_RAW_KEEP;
	memcpy(sc->raw, p, keep);
	r->p = sc->raw;
	r->n = keep;
	r->line = sc->cur.lineno;
	r->off_lo = sc->base + start;
	r->oversized = 1;
	r->cut = 0;
	while ((p = memchr(p, '\n', (size_t)(e - p)))) {
		nl++;
		p++;
	}
	for (;;) {
		const char *q = memchr(sc->buf + pos, '\n', sc->len - pos);

		if (q) {
			nl++;
			sc->cur.off = (size_t)(q - sc->buf) + 1;
			break;
		}
		sc->cur.off = sc->len;
		if (sc->eof)
			break;
		if ((rc = refill(sc, err)) < 0)
			return rc;
		pos = 0;
		if (sc->len == 0)
			break;
	}
	sc->cur.lineno += nl;
	r->off_hi = sc->base + sc->cur.off;
	return 1;
}

/* Next record: 1 (*r set), 0 at the end, or an error.  At a break
 * (sc->cut) the unfinished record is given whole, r->cut set. */
static int scan_next(struct scan *sc, struct rec *r, struct ferry_error *err)
{
	int rc;

	for (;;) {
		size_t start = sc->cur.off, rem = sc->len - start;
		uint64_t lineno;

		if (rem) {
			/* the splitter sees at most LPF_MAX_RECORD + 1 bytes, so
			 * where a record ends never depends on the block size */
			size_t wlen = rem > LPF_MAX_RECORD + 1 ? start + LPF_MAX_RECORD + 1
							       : sc->len;
			int final = sc->eof && !sc->cut && rem <= LPF_MAX_RECORD;

			if (lp_next_line(sc->buf, wlen, &sc->cur, final, &r->p, &r->n,
					 &lineno)) {
				r->line = lineno;
				r->off_lo = sc->base + start;
				r->off_hi = sc->base + sc->cur.off;
				r->oversized = 0;
				r->cut = 0;
				return 1;
			}
			if (rem > LPF_MAX_RECORD)
				return skip_oversized(sc, r, err);
			if (sc->eof && sc->cut) {
				/* what the break left of a record: never parsed,
				 * it could read as a valid point it is not */
				r->p = sc->buf + start;
				r->n = rem;
				r->line = sc->cur.lineno;
				r->off_lo = sc->base + start;
				r->off_hi = sc->base + sc->len;
				r->oversized = 0;
				r->cut = 1;
				sc->cur.off = sc->len;
				return 1;
			}
		} else if (sc->eof) {
			return 0;
		}
		if ((rc = refill(sc, err)) < 0)
			return rc;
	}
}

/* ------------------------------------------------------------- checks */

/* The record checks are tsmap's (check.c, shared with the relay); a file
 * adds its own: NaN/Inf leave out that value (the point's other fields
 * load), the time range of --start/--end, and records over the size
 * limit, which are cut without being loaded. */
static void checker_init(struct tm_check *c, const struct lpf_source *S)
{
	tm_check_init(c, S->o.precision);
	c->scratch.drop_nonfinite = 1;
	c->has_start = S->o.has_start;
	c->start_ns = S->o.start_ns;
	c->has_end = S->o.has_end;
	c->end_ns = S->o.end_ns;
}

/* Parse and check one record: TM_CHECK_POINT (*tp set), TM_CHECK_SKIP (not
 * a point, or outside the time range), TM_CHECK_REJECT (*why set), or
 * FERRY_ENOMEM. */
static int check_record(struct tm_check *c, const struct rec *r, struct tm_point *tp,
			const char **why)
{
	int k;

	if (r->oversized) {
		snprintf(c->why, sizeof(c->why), "record longer than %zu MiB",
			 LPF_MAX_RECORD >> 20);
		*why = c->why;
		return TM_CHECK_REJECT;
	}
	k = tm_check_record(c, r->p, r->n, tp, why);
	if (k == TM_CHECK_POINT)
		tp->key = (int64_t)r->line;
	return k;
}

/* ------------------------------------------------------------- planning */

struct planner {
	struct tm_chunk *c;
	size_t n, cap;
	uint64_t chunk_bytes;
	int open;
	uint64_t lo;
	int64_t line0, recs;
	int keep_now;         /* records here are in the ?db= database (or no db= given) */
	int keep;             /* the open chunk is: plan_close() keeps it */
};

/* A new chunk of file's bytes [lo, hi) from line, or NULL (out of memory). */
static struct tm_chunk *plan_chunk(struct planner *pl, int file, uint64_t lo, uint64_t hi,
				   int64_t line)
{
	struct tm_chunk *ck;

	if (FERRY_GROW(pl->c, pl->cap, pl->n + 1) < 0)
		return NULL;
	ck = &pl->c[pl->n++];
	memset(ck, 0, sizeof(*ck));
	ck->measurement = -1;
	ck->file = file;
	ck->off_lo = lo;
	ck->off_hi = hi;
	ck->line0 = line;
	return ck;
}

static int plan_close(struct planner *pl, int file, uint64_t hi)
{
	struct tm_chunk *ck;

	if (!pl->open)
		return 0;
	if (!pl->keep) {  /* another database's section (?db=) */
		pl->open = 0;
		return 0;
	}
	if (!(ck = plan_chunk(pl, file, pl->lo, hi, pl->line0)))
		return FERRY_ENOMEM;
	ck->est = pl->recs;   /* records, comments and blank lines included */
	pl->open = 0;
	return 0;
}

/* The chunk of the record a break cut, [lo, hi) from line (empty when
 * the break fell on a record boundary): its own, kept whatever ?db= says
 * (the break ends every section after it), read() rejects it. */
static int plan_cut(struct planner *pl, int file, uint64_t lo, uint64_t hi, int64_t line)
{
	struct tm_chunk *ck = plan_chunk(pl, file, lo, hi, line);

	if (!ck)
		return FERRY_ENOMEM;
	ck->cut = 1;
	return 0;
}

static int plan_add(struct planner *pl, int file, const struct rec *r)
{
	if (!pl->open) {
		pl->open = 1;
		pl->keep = pl->keep_now;
		pl->lo = r->off_lo;
		pl->line0 = (int64_t)r->line;
		pl->recs = 0;
	}
	pl->recs++;
	if (r->off_hi - pl->lo >= pl->chunk_bytes)
		return plan_close(pl, file, r->off_hi);
	return 0;
}

/* ---------------------------------------------------- type discovery */

/* The distinct shapes (measurement, tag keys, field keys and types) of
 * the points seen, with a count each: a scan updates the sorted schema
 * only once per shape instead of per point.  Key encoding: u32 length +
 * bytes for the measurement; u32 ntags, (u32 len, bytes) each; u32
 * nfields, (u8 type, u32 len, bytes) each. */
struct shape {
	uint64_t h;
	char *key;
	size_t n;
	int64_t points;
};

struct shapes {
	struct shape *t;
	size_t cap, n;      /* cap: a power of two */
	struct ferry_buf k;
};

static int put32(struct ferry_buf *b, size_t v)
{
	uint32_t x = (uint32_t)v;

	return ferry_buf_add(b, &x, 4);
}

static int shape_key(struct ferry_buf *b, const struct tm_point *p)
{
	size_t i;
	int rc = 0;

	ferry_buf_clear(b);
	rc |= put32(b, p->measurement.n);
	rc |= ferry_buf_add(b, p->measurement.p, p->measurement.n);
	rc |= put32(b, p->ntags);
	for (i = 0; i < p->ntags; i++) {
		rc |= put32(b, p->tags[i].key.n);
		rc |= ferry_buf_add(b, p->tags[i].key.p, p->tags[i].key.n);
	}
	rc |= put32(b, p->nfields);
	for (i = 0; i < p->nfields; i++) {
		rc |= ferry_buf_addch(b, (int)p->fields[i].type);
		rc |= put32(b, p->fields[i].key.n);
		rc |= ferry_buf_add(b, p->fields[i].key.p, p->fields[i].key.n);
	}
	return rc ? FERRY_ENOMEM : 0;
}

static int shapes_grow(struct shapes *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 256, i;
	struct shape *nt = ferry_calloc(ncap, sizeof(*nt));

	if (!nt)
		return FERRY_ENOMEM;
	for (i = 0; i < s->cap; i++) {
		size_t j;

		if (!s->t[i].key)
			continue;
		for (j = s->t[i].h & (ncap - 1); nt[j].key; j = (j + 1) & (ncap - 1))
			;
		nt[j] = s->t[i];
	}
	ferry_free(s->t);
	s->t = nt;
	s->cap = ncap;
	return 0;
}

static int shapes_add(struct shapes *s, const struct tm_point *p)
{
	uint64_t h;
	size_t j;
	int rc;

	if ((rc = shape_key(&s->k, p)) < 0)
		return rc;
	if ((s->n + 1) * 2 > s->cap && (rc = shapes_grow(s)) < 0)
		return rc;
	h = ferry_hash64(s->k.buf, s->k.len);
	for (j = h & (s->cap - 1); s->t[j].key; j = (j + 1) & (s->cap - 1))
		if (s->t[j].h == h && s->t[j].n == s->k.len &&
		    !memcmp(s->t[j].key, s->k.buf, s->k.len)) {
			s->t[j].points++;
			return 0;
		}
	if (!(s->t[j].key = ferry_malloc(s->k.len ? s->k.len : 1)))
		return FERRY_ENOMEM;
	memcpy(s->t[j].key, s->k.buf, s->k.len);
	s->t[j].n = s->k.len;
	s->t[j].h = h;
	s->t[j].points = 1;
	s->n++;
	return 0;
}

static void shapes_release(struct shapes *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		ferry_free(s->t[i].key);
	ferry_free(s->t);
	ferry_buf_release(&s->k);
	memset(s, 0, sizeof(*s));
}

static uint32_t get32(const char **p)
{
	uint32_t x;

	memcpy(&x, *p, 4);
	*p += 4;
	return x;
}

/* Put every shape into the schema. */
static int shapes_to_schema(const struct shapes *s, struct tm_schema *sch)
{
	size_t i, k;

	for (i = 0; i < s->cap; i++) {
		const char *p = s->t[i].key;
		struct tm_measurement *m;
		uint32_t n, cnt;

		if (!p)
			continue;
		n = get32(&p);
		if (!(m = tm_schema_measurement(sch, p, n)))
			return FERRY_ENOMEM;
		p += n;
		m->points = (m->points < 0 ? 0 : m->points) + s->t[i].points;
		cnt = get32(&p);
		for (k = 0; k < cnt; k++) {
			n = get32(&p);
			if (tm_measurement_add_tag(m, p, n) < 0)
				return FERRY_ENOMEM;
			p += n;
		}
		cnt = get32(&p);
		m->values = (m->values < 0 ? 0 : m->values) + s->t[i].points * (int64_t)cnt;
		for (k = 0; k < cnt; k++) {
			unsigned t = (unsigned char)*p++;

			n = get32(&p);
			if (tm_measurement_add_field(m, p, n, TM_TYPE_BIT(t)) < 0)
				return FERRY_ENOMEM;
			p += n;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- open */

static void source_free(struct lpf_source *S)
{
	size_t i;

	if (!S)
		return;
	for (i = 0; i < S->nf; i++)
		ferry_free(S->f[i].path);
	ferry_free(S->f);
	for (i = 0; i < S->nm; i++)
		ferry_free(S->mnames[i]);
	ferry_free(S->mnames);
	ferry_free(S->plan);
	for (i = 0; i < S->ndbs; i++)
		ferry_free(S->dbs[i]);
	ferry_free(S->dbs);
	ferry_free(S->want_db);
	tm_walk_release(&S->walk);
	gz_free(S->gz_keep);
	pthread_mutex_destroy(&S->gz_lock);
	ferry_free(S->root);
	ferry_free(S);
}

/* Stat path into f, and look at its first bytes for the gzip magic. */
static int add_file(struct lpf_source *S, const char *path, size_t *cap,
		    struct ferry_error *err)
{
	struct lpf_file *f;
	struct stat st;
	unsigned char magic[2];
	ssize_t got;
	int fd;

	if (FERRY_GROW(S->f, *cap, S->nf + 1) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	f = &S->f[S->nf];
	memset(f, 0, sizeof(*f));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", path,
				       strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", path,
				       strerror(e));
	}
	do
		got = read(fd, magic, 2);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		int e = errno;

		close(fd);
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", path,
				       strerror(e));
	}
	close(fd);
	if (!(f->path = ferry_strdup(path)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	f->size = (uint64_t)st.st_size;
	f->mtime_s = (int64_t)st.st_mtim.tv_sec;
	f->mtime_ns = (int64_t)st.st_mtim.tv_nsec;
	f->gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	S->total_bytes += f->size;
	S->nf++;
	return 0;
}

static int src_open(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err)
{
	static const char *const exts[] = { ".lp", ".lp.gz", NULL };
	struct lpf_source *S;
	struct ferry_buf full = FERRY_BUF_INIT;
	const char *prec;
	struct stat st;
	size_t cap = 0, i;
	int rc = 0;

	if (!(S = ferry_calloc(1, sizeof(*S))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pthread_mutex_init(&S->gz_lock, NULL);
	S->o = *o;
	if (!S->o.chunk_bytes)
		S->o.chunk_bytes = LPF_DEFAULT_CHUNK;
	if ((prec = ferry_url_param(url, "precision")) &&
	    lp_precision_parse(prec, &S->o.precision) < 0) {
		rc = ferry_error_set(err, FERRY_EINVAL,
				     "invalid precision '%s' in lp url (use ns, us, ms, s, m or h)",
				     prec);
		goto out;
	}
	if (!url->path || !*url->path) {
		rc = ferry_error_set(err, FERRY_EINVAL,
				     "missing path in lp url (use lp:///abs/path, lp:rel/path or lp:- for stdin)");
		goto out;
	}
	if (!(S->root = ferry_strdup(url->path))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (ferry_url_param(url, "db") && !(S->want_db = ferry_strdup(ferry_url_param(url, "db")))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (!strcmp(S->root, "-")) {
		S->is_stdin = 1;
		if (S->want_db)
			rc = ferry_error_set(err, FERRY_EUSAGE, "?db= needs a file: stdin "
					     "cannot be read twice to find the database's sections");
		goto out;
	}
	if (stat(S->root, &st) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", S->root,
				     strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		rc = add_file(S, S->root, &cap, err);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = ferry_error_set(err, FERRY_EINVAL,
				     "cannot read '%s': not a regular file or directory", S->root);
		goto out;
	}
	if ((rc = tm_walk(S->root, exts, &S->walk, err)) < 0)
		goto out;
	S->is_dir = 1;
	for (i = 0; i < S->walk.nfiles; i++) {
		ferry_buf_clear(&full);
		if (ferry_buf_addf(&full, "%s/%s", S->root, S->walk.files[i]) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = add_file(S, full.buf, &cap, err)) < 0)
			goto out;
	}
out:
	ferry_buf_release(&full);
	if (rc < 0) {
		source_free(S);
		return rc;
	}
	*out = S;
	return 0;
}

static void src_close(void *s)
{
	source_free(s);
}

/* -------------------------------------------------- discover and plan */

/* Is record r a '# CONTEXT-DATABASE: name' line (the sections of
 * influx_inspect export)?  1 with *db its index in S->dbs (added on first
 * sight), 0 when not, or FERRY_ENOMEM. */
static int context_db(struct lpf_source *S, const struct rec *r, struct lp_scratch *ls,
		      size_t *db)
{
	struct lp_point pt;
	const char *why;
	size_t i = 0, k;
	char *d, **v;

	while (i < r->n && (r->p[i] == ' ' || r->p[i] == '\t'))
		i++;
	if (i == r->n || r->p[i] != '#' ||
	    lp_parse_line(r->p, r->n, &pt, ls, &why) != LP_CONTEXT_DB)
		return 0;
	for (k = 0; k < S->ndbs; k++)
		if (strlen(S->dbs[k]) == pt.text.n && !memcmp(S->dbs[k], pt.text.p, pt.text.n)) {
			*db = k;
			return 1;
		}
	if (!(d = ferry_strndup(pt.text.p, pt.text.n)))
		return FERRY_ENOMEM;
	if (!(v = ferry_realloc(S->dbs, (S->ndbs + 1) * sizeof(*v)))) {
		ferry_free(d);
		return FERRY_ENOMEM;
	}
	S->dbs = v;
	v[S->ndbs] = d;
	*db = S->ndbs++;
	return 1;
}

/* The points of several databases would land in one table, mixed: an
 * export of more than one is refused, naming them, unless ?db= picks
 * one (and then it must be there). */
static int check_databases(const struct lpf_source *S, struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t k;
	int rc = 0, found = 0, e = 0;

	for (k = 0; k < S->ndbs; k++) {
		e |= ferry_buf_addf(&b, "%s'%s'", k ? ", " : "", S->dbs[k]);
		found |= S->want_db && !strcmp(S->dbs[k], S->want_db);
	}
	if (e < 0 && ((S->want_db && !found) || (!S->want_db && S->ndbs > 1)))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else if (S->want_db && !found)

		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "'%s' has no '# CONTEXT-DATABASE: %s' section (%s%s): "
				     "check ?db=", S->root, S->want_db,
				     S->ndbs ? "it has " : "it has none", b.buf ? b.buf : "");
	else if (!S->want_db && S->ndbs > 1)
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "'%s' holds points of %zu databases (%s, after its "
				     "'# CONTEXT-DATABASE:' lines): ferry copies one database at "
				     "a time and would mix them; pick one with ?db=NAME "
				     "(lp://%s?db=%s) and copy each, or export one database "
				     "per file (influx_inspect export -database %s)",
				     S->root, S->ndbs, b.buf ? b.buf : "", S->root, S->dbs[0],
				     S->dbs[0]);
	ferry_buf_release(&b);
	return rc;
}

/* One pass over file i: the chunks into pl, the shapes of the valid
 * points into sh (if not NULL).  A '# CONTEXT-DATABASE:' line starts a
 * chunk, so that every chunk is in one database's section; with ?db=,
 * the chunks and points of other databases are left out here, and read()
 * never sees them. */
static int scan_file(struct lpf_source *S, int i, struct planner *pl, struct shapes *sh,
		     struct tm_check *c, struct ferry_error *err)
{
	struct scan sc;
	struct rec r;
	struct tm_point tp;
	struct lp_scratch ls;
	const char *why;
	size_t db;
	int64_t cut_line = 0;
	int rc;

	lp_scratch_init(&ls);
	pl->keep_now = !S->want_db;   /* before any section: no database */
	if ((rc = scan_open(&sc, S, i, 0, LPF_END_UNKNOWN, 1, err)) < 0)
		goto out;
	while ((rc = scan_next(&sc, &r, err)) > 0) {
		if (r.cut) {
			if ((rc = plan_close(pl, i, r.off_lo)) < 0 ||
			    (rc = plan_cut(pl, i, r.off_lo, r.off_hi, (int64_t)r.line)) < 0)
				goto oom;
			cut_line = (int64_t)r.line;
			continue;
		}
		if ((rc = context_db(S, &r, &ls, &db)) < 0)
			goto oom;
		if (rc == 1) {
			if ((rc = plan_close(pl, i, r.off_lo)) < 0)
				goto oom;
			pl->keep_now = !S->want_db || !strcmp(S->dbs[db], S->want_db);
		}
		if ((rc = plan_add(pl, i, &r)) < 0)
			goto oom;
		if (!sh || !pl->keep_now)
			continue;
		rc = check_record(c, &r, &tp, &why);
		if (rc < 0)
			goto oom;
		if (rc == TM_CHECK_POINT && (rc = shapes_add(sh, &tp)) < 0)
			goto oom;
	}
	if (rc < 0)
		goto out;
	if ((rc = plan_close(pl, i, sc.base + sc.len)) < 0)
		goto oom;
	if (sc.cut && !cut_line) {
		cut_line = (int64_t)sc.cur.lineno;
		if ((rc = plan_cut(pl, i, sc.base + sc.len, sc.base + sc.len, cut_line)) < 0)
			goto oom;
	}
	if (sc.in.gz) {   /* for the summary */
		S->f[i].stop = sc.in.gz->stop;
		S->f[i].stop_line = cut_line;
	}
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	scan_release(&sc);
	lp_scratch_release(&ls);
	return rc;
}

#define LPF_SAMPLE 4096   /* records sampled for the field values per record */

/* Field values per record in the first LPF_SAMPLE records of [lo, hi) of
 * file i: *recs records, *values values. */
static int sample_range(struct lpf_source *S, int i, uint64_t lo, uint64_t hi, int64_t line0,
			int64_t *recs, int64_t *values, struct ferry_error *err)
{
	struct scan sc;
	struct rec r;
	struct tm_point tp;
	struct tm_check c;
	const char *why;
	int rc;

	*recs = *values = 0;
	checker_init(&c, S);
	if ((rc = scan_open(&sc, S, i, lo, hi, (uint64_t)line0, err)) < 0)
		goto out;
	while (*recs < LPF_SAMPLE && (rc = scan_next(&sc, &r, err)) > 0) {
		if (r.cut)
			continue;
		++*recs;
		if ((rc = check_record(&c, &r, &tp, &why)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (rc == TM_CHECK_POINT)
			*values += (int64_t)tp.nfields;
	}
	if (rc > 0)
		rc = 0;
out:
	scan_release(&sc);
	tm_check_release(&c);
	return rc;
}

/*
 * The plan counts records, not field values, and a record holds one
 * field (influx_inspect export) or several (a client's write): the first
 * LPF_SAMPLE records of each chunk say how many per record, and the
 * chunk's est_values follows.  A gz file is sampled once at its start (a
 * chunk in the middle would be inflated from the start).  The same with
 * or without a discover() scan, so that both plan the same chunks.
 */
static int sample_values(struct lpf_source *S, int i, struct tm_chunk *ck, size_t nck,
			 struct ferry_error *err)
{
	int64_t recs = 0, values = 0;
	size_t k;
	int rc, gz = S->f[i].gz;

	if (gz && (rc = sample_range(S, i, 0, LPF_END_UNKNOWN, 1, &recs, &values, err)) < 0)
		return rc;
	for (k = 0; k < nck; k++) {
		if (ck[k].file != i || ck[k].est <= 0)
			continue;
		if (!gz && (rc = sample_range(S, i, ck[k].off_lo, ck[k].off_hi, ck[k].line0,
					      &recs, &values, err)) < 0)
			return rc;
		if (recs > 0)
			ck[k].est_values = (int64_t)((double)ck[k].est * (double)values /
						     (double)recs);
	}
	return 0;
}

static int keep_names(struct lpf_source *S, const struct tm_schema *sch)
{
	size_t i;

	for (i = 0; i < S->nm; i++)
		ferry_free(S->mnames[i]);
	ferry_free(S->mnames);
	S->mnames = NULL;
	S->nm = 0;
	if (!sch->n)
		return 0;
	if (!(S->mnames = ferry_calloc(sch->n, sizeof(*S->mnames))))
		return FERRY_ENOMEM;
	for (i = 0; i < sch->n; i++) {
		if (!(S->mnames[i] = ferry_strdup(sch->m[i].name)))
			return FERRY_ENOMEM;
		S->nm++;
	}
	return 0;
}

static int src_discover(void *s, struct tm_schema *out, struct ferry_error *err)
{
	struct lpf_source *S = s;
	struct tm_schema sch = { 0 };
	struct planner pl = { 0 };
	struct shapes sh = { 0 };
	struct tm_check c;
	size_t i;
	int rc = 0;

	checker_init(&c, S);
	if (!S->o.need_types)
		goto done;   /* measurements come with the points; nothing to scan */
	if (S->is_stdin) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
				     "cannot find the field types of stdin: the wide layout needs a file it can read twice (save the input to a file, or use the narrow layout)");
		goto out;
	}
	pl.chunk_bytes = S->o.chunk_bytes;
	for (i = 0; i < S->nf; i++)
		if ((rc = scan_file(S, (int)i, &pl, &sh, &c, err)) < 0 ||
		    (rc = sample_values(S, (int)i, pl.c, pl.n, err)) < 0)
			goto out;
	if ((rc = check_databases(S, err)) < 0)
		goto out;
	if (shapes_to_schema(&sh, &sch) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	sch.typed = 1;
	ferry_free(S->plan);
	S->plan = pl.c;
	S->nplan = pl.n;
	S->have_plan = 1;
	pl.c = NULL;
done:
	if (keep_names(S, &sch) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	*out = sch;
	memset(&sch, 0, sizeof(sch));
out:
	tm_schema_release(&sch);
	ferry_free(pl.c);
	shapes_release(&sh);
	tm_check_release(&c);
	return rc;
}

static int src_plan(void *s, const struct tm_schema *sch, struct tm_chunk **out,
		    size_t *n, struct ferry_error *err)
{
	struct lpf_source *S = s;
	struct planner pl = { 0 };
	size_t i;
	int rc = 0;

	if (S->is_stdin) {
		if (!(pl.c = ferry_calloc(1, sizeof(*pl.c))))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		pl.c->measurement = -1;
		pl.c->off_hi = LPF_END_UNKNOWN;
		pl.c->line0 = 1;
		pl.c->est = -1;
		*out = pl.c;
		*n = 1;
		return 0;
	}
	if (S->have_plan) {
		if (S->nplan && !(pl.c = ferry_malloc(S->nplan * sizeof(*pl.c))))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (S->nplan)
			memcpy(pl.c, S->plan, S->nplan * sizeof(*pl.c));
		*out = pl.c;
		*n = S->nplan;
		return 0;
	}
	pl.chunk_bytes = S->o.chunk_bytes;
	for (i = 0; i < S->nf; i++)
		if ((rc = scan_file(S, (int)i, &pl, NULL, NULL, err)) < 0 ||
		    (rc = sample_values(S, (int)i, pl.c, pl.n, err)) < 0) {
			ferry_free(pl.c);
			return rc;
		}
	if ((rc = check_databases(S, err)) < 0) {
		ferry_free(pl.c);
		return rc;
	}
	*out = pl.c;
	*n = pl.n;
	return 0;
}

/* ------------------------------------------------------------- read */

/* Index of a measurement name in the schema discover() gave, or -1. */
static int find_name(const struct lpf_source *S, const char *p, size_t n)
{
	size_t lo = 0, hi = S->nm;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2, mn = strlen(S->mnames[mid]);
		int c = memcmp(p, S->mnames[mid], n < mn ? n : mn);

		if (!c)
			c = n < mn ? -1 : n > mn;
		if (!c)
			return (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The reject of the record a break cut (r; NULL: none, the break fell on
 * a record boundary, at line): the reason names the break.  A chunk the
 * plan ends at a break reads up to it, so the input is read on to see it
 * again here: a file that now goes on past it has changed. */
static int cut_reject(struct scan *sc, int64_t key, const struct rec *r, struct ferry_buf *mb,
		      tm_reject_fn rej, void *ud, struct ferry_error *err)
{
	char c;
	long got;

	if (!input_broken(&sc->in)) {
		if ((got = input_read(&sc->in, &c, 1, err)) < 0)
			return (int)got;
		if (!input_broken(&sc->in))
			return ferry_error_set(err, FERRY_EIO,
				"cannot read '%s': the plan expects its gzip data to break at "
				"byte %llu, and it %s (was it changed? start the copy again)",
				sc->in.path, (unsigned long long)(sc->base + sc->len),
				got ? "goes on" : "ends there whole");
	}
	ferry_buf_clear(mb);
	if (tm_gz_describe(&sc->in.gz->stop, sc->in.path, mb) < 0 ||
	    ferry_buf_addstr(mb, ": the rest of the file cannot be read") < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return rej(ud, key, mb->buf, r ? r->p : "", r ? r->n : 0, err);
}

static int src_read(void *s, const struct tm_schema *sch, const struct tm_chunk *ck,
		    int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
		    struct ferry_error *err)
{
	struct lpf_source *S = s;
	struct scan sc;
	struct tm_check c;
	struct ferry_buf mb = FERRY_BUF_INIT;
	const char *oname = NULL, *why;
	size_t onlen = 0;
	struct rec r;
	struct tm_point tp;
	int rc, saw_cut = 0;

	memset(&sc, 0, sizeof(sc));
	sc.in.fd = -1;
	checker_init(&c, S);
	if (only >= 0) {
		/* a connection that did not discover reads by the names of the
		 * one that did */
		if (!S->nm && sch && sch->n && keep_names(S, sch) < 0)
			goto oom;
		if ((size_t)only >= S->nm) {
			rc = ferry_error_set(err, FERRY_EINVAL,
					     "lp source: measurement index %d is not in the discovered schema (%zu measurements)",
					     only, S->nm);
			goto out;
		}
		oname = S->mnames[only];
		onlen = strlen(oname);
	}
	if (S->is_stdin) {
		if (S->stdin_used) {
			rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
					     "cannot read stdin twice (save the input to a file to resume or retry)");
			goto out;
		}
		S->stdin_used = 1;
		if ((rc = scan_open(&sc, S, 0, 0, LPF_END_UNKNOWN, 1, err)) < 0)
			goto out;
	} else {
		if (ck->file < 0 || (size_t)ck->file >= S->nf || ck->off_lo > ck->off_hi ||
		    ck->line0 < 1) {
			rc = ferry_error_set(err, FERRY_EINVAL,
					     "lp source: chunk (file %d, bytes %llu-%llu) is not one of its plan",
					     ck->file, (unsigned long long)ck->off_lo,
					     (unsigned long long)ck->off_hi);
			goto out;
		}
		if ((rc = scan_open(&sc, S, ck->file, ck->off_lo, ck->off_hi,
				    (uint64_t)ck->line0, err)) < 0)
			goto out;
		sc.cut_end = ck->cut;
	}
	while ((rc = scan_next(&sc, &r, err)) > 0) {
		int k;

		if (r.cut) {
			/* not a point: to the read of measurement 0, as a broken
			 * record (below) */
			saw_cut = 1;
			if (oname && only != 0)
				continue;
			if ((rc = cut_reject(&sc, S->is_dir ? TM_KEY(ck->file, r.line) :
					     (int64_t)r.line, &r, &mb, rej, ud, err)) != 0)
				goto out;
			continue;
		}
		if (oname) {
			/* A record belongs to the read of its measurement; one
			 * whose measurement is not in the schema (a broken record)
			 * to the read of measurement 0, so that reading every
			 * measurement reports each reject once. */
			if (lp_measurement(r.p, r.n, &mb) < 0)
				goto oom;
			if (!(mb.len == onlen && !memcmp(mb.buf, oname, onlen)) &&
			    (only != 0 || find_name(S, mb.buf, mb.len) >= 0))
				continue;
		}
		k = check_record(&c, &r, &tp, &why);
		if (k < 0)
			goto oom;
		if (k == TM_CHECK_POINT) {
			if (oname && (tp.measurement.n != onlen ||
				      memcmp(tp.measurement.p, oname, onlen)))
				continue;
			if (S->is_dir) {
				tp.file = S->walk.files[ck->file];
				tp.key = TM_KEY(ck->file, r.line);
			}
			if ((rc = fn(&tp, ud, err)) != 0)
				goto out;
			if (!c.scratch.ndropped)
				continue;
			why = "not a finite number";
		}
		if (k == TM_CHECK_REJECT || k == TM_CHECK_POINT) {
			ferry_buf_clear(&mb);
			if (k == TM_CHECK_POINT)  /* the values left out, the rest loaded */
				rc = ferry_buf_addf(&mb, "%s, left out (the point's other fields "
						    "load): %s", why, c.scratch.dropped);
			else
				rc = ferry_buf_addstr(&mb, why);
			if (rc < 0)
				goto oom;
			/* line numbers restart in every file of a directory */
			if ((rc = rej(ud, S->is_dir ? TM_KEY(ck->file, r.line) : (int64_t)r.line,
				      mb.buf, r.p, r.n, err)) != 0)
				goto out;
		}
	}
	if (rc == 0 && sc.cut && !saw_cut && (!oname || only == 0))
		rc = cut_reject(&sc, S->is_dir ? TM_KEY(ck->file, sc.cur.lineno) :
				(int64_t)sc.cur.lineno, NULL, &mb, rej, ud, err);
	if (rc == 0 && !S->is_stdin && !sc.cut && sc.base + sc.len == ck->off_hi)
		input_keep(S, &sc.in, ck->file, ck->off_hi);
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	scan_release(&sc);
	ferry_buf_release(&mb);
	tm_check_release(&c);
	return rc;
}

/* Each file's name, size and a hash of its bytes (compressed ones as
 * they lie): a same-size edit whose mtime was put back changes the hash.
 * The bytes are read once more, at about 3 GB/s from the page cache
 * (0.05 s for 160 MB); parsing them into rows runs at 0.1-0.2 GB/s. */
static int src_identity(void *s, struct ferry_buf *out, struct ferry_error *err)
{
	struct lpf_source *S = s;
	size_t i;

	for (i = 0; i < S->nf; i++) {         /* stdin: none, an empty text */
		ferry_hash_stream *h = ferry_hash_stream_new();
		char hex[33];

		if (!h)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (ferry_hash_stream_file(h, S->f[i].path) < 0) {
			int e = errno;

			ferry_hash_stream_free(h);
			return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", S->f[i].path,
					       strerror(e));
		}
		ferry_hash_stream_hex(h, hex);
		ferry_hash_stream_free(h);
		if (ferry_buf_addf(out, "%s\t%llu\t%s\n", S->f[i].path,
				   (unsigned long long)S->f[i].size, hex) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

/* What was skipped in a directory, and each gzip file's break (where the
 * plan's scan stopped) or the zero padding it ignored. */
static int src_notes(void *s, struct ferry_buf *out)
{
	struct lpf_source *S = s;
	size_t i;
	int rc = 0;

	for (i = 0; i < S->nf && rc == 0; i++) {
		const struct lpf_file *f = &S->f[i];

		if (tm_gz_broken(&f->stop)) {
			rc = tm_gz_describe(&f->stop, f->path, out);
			if (rc == 0 && ferry_buf_addf(out, ", in line %lld: the lines before it are "
						      "read, line %lld is a reject and the rest of "
						      "the file cannot be read", (long long)f->stop_line,
						      (long long)f->stop_line) < 0)
				rc = FERRY_ENOMEM;
			/* a damaged member inflates to wrong bytes until zlib
			 * notices, at the latest at its CRC */
			if (rc == 0 && f->stop.end == TM_GZ_CORRUPT &&
			    ferry_buf_addf(out, "; zlib saw the damage only there, so the lines "
					   "from uncompressed byte %llu on (where that gzip member "
					   "begins) may hold wrong bytes that still parse: compare "
					   "them with another copy of the file",
					   (unsigned long long)f->stop.member_out) < 0)
				rc = FERRY_ENOMEM;
			if (rc == 0 && ferry_buf_addstr(out, f->stop.end == TM_GZ_CORRUPT ? "\n" :
							" (a whole copy of the file would give the "
							"rest)\n") < 0)
				rc = FERRY_ENOMEM;
		} else if (f->stop.end == TM_GZ_END && f->stop.rest &&
			   ferry_buf_addf(out, "'%s': the %llu zero bytes after its gzip data "
					  "(at compressed byte %llu) are padding, ignored as "
					  "gzip -d ignores them\n", f->path,
					  (unsigned long long)f->stop.rest,
					  (unsigned long long)f->stop.in_off) < 0) {
			rc = FERRY_ENOMEM;
		}
	}
	return rc < 0 ? rc : tm_walk_note(&S->walk, S->root, out);
}

static void src_files(void *s, char *const **names, size_t *n)
{
	struct lpf_source *S = s;

	*names = S->walk.files;
	*n = S->is_dir ? S->walk.nfiles : 0;
}

const struct tm_source_ops lpf_source_ops = {
	.name = "lp",
	.open = src_open,
	.close = src_close,
	.discover = src_discover,
	.plan = src_plan,
	.read = src_read,
	.identity = src_identity,
	.identity_is_content = 1,
	.notes = src_notes,
	.files = src_files,
};
