/*
 * spool.c - the durable spool of `ferry relay`: an append-only log of the
 * writes the secondary store has not taken yet (relay_int.h, "spool").
 *
 * A write is acknowledged to the client only once its secondary copy is
 * here and fsync'd, so this file decides what "acknowledged" means after a
 * crash.  DIR holds:
 *
 *   id                     32 hex digits made once at creation: the key of
 *                          this spool's position in ferry.relay_spool
 *   position               "SEQ\n", the last seq given to relay_spool_ack()
 *                          (renamed into place; fsync'd at most once a
 *                          second, so it may lag: PostgreSQL's is the truth)
 *   NNNNNNNNNNNNNNNNNNNN.seg  segments, named by the seq of their first record
 *   dead-letters.ndjson    records the secondary refused, one JSON per line
 *   lock                   flock'd while open: one relay per spool
 *
 * A record is a 32-byte header and the payload, numbers big-endian:
 *   u32 magic "FSP1", u32 payload length, u64 seq, i64 append time (ns),
 *   u64 check = XXH3 of (header bytes 0..24, XXH3 of the payload)
 *
 * Invariants:
 *  - the records of a segment have consecutive seqs starting at its name,
 *    and each segment starts where the one before ended;
 *  - the last segment is never deleted, so the next seq follows from the
 *    segments alone, even when everything was acked and the position file
 *    lags (a seq PostgreSQL recorded as replayed is never handed out again);
 *  - seg->size is the durable end: bytes past it are not fsync'd yet and
 *    no reader looks at them; only the group commit leader writes there;
 *  - at open every record is checked; bytes after the last valid record of
 *    the last segment are a torn write (never acknowledged) and cut off,
 *    anything invalid before that is an error naming the file and offset.
 *
 * Group commit: an appender queues a waiter (pointing at its payload, which
 * stays valid as the appender waits) and either becomes the leader, which
 * takes the whole queue, numbers the records, writes them with one pwrite
 * and one fdatasync per segment, or waits until a leader has done so.
 *
 * FERRY_SPOOL_SEGMENT_BYTES in the environment (read at open) sets the
 * segment size (default 64 MiB); the tests make it small to roll over.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "model/value.h"
#include "relay/relay_int.h"

#define HDR 32
#define MAGIC 0x46535031u               /* "FSP1" */
#define SEG_DEFAULT (64u << 20)
#define WIN (1u << 20)                  /* read window */
#define KEEP_MAX (4u << 20)             /* scratch buffers kept between calls */

struct seg {
	uint64_t first;         /* seq in the name */
	uint64_t last;          /* last durable record; first - 1 when none */
	uint64_t size;          /* durable bytes */
	uint64_t ack_off;       /* bytes of the records with seq <= acked */
	int fd;
	int refs;               /* the list's, the reader's cursor's, a read's */
};

struct waiter {
	struct waiter *next;
	const void *p;
	size_t n;
	uint64_t phash;
	int64_t ns;
	uint64_t seq;
	int rc, done;
	struct ferry_error *err;
};

struct relay_spool {
	char *dir;
	char id[33];
	int dirfd, lockfd, dlfd;
	uint64_t max_bytes, seg_max;
	pthread_mutex_t mu;             /* everything below */
	pthread_cond_t cv_done;         /* a batch was written (or failed) */
	pthread_cond_t cv_data;         /* new durable records */
	struct seg **segs;
	size_t nsegs, segcap;
	uint64_t last_seq, acked;
	uint64_t bytes_total, bytes_acked;
	int64_t oldest_ns;
	uint64_t dead_letters;
	struct waiter *qhead, *qtail;
	uint64_t qbytes;                /* queued or being written */
	int writing;
	int broken;                     /* a failed write left the tail unknown */
	struct ferry_error broken_err;
	unsigned char *wbuf;            /* the leader's */
	size_t wcap;
	/* the reader's cursor: the record seq rnext starts at roff in rseg */
	struct seg *rseg;
	uint64_t roff, rnext;
	unsigned char *rbuf;            /* the reader's (and open's) window */
	size_t rcap;
	/* the position file */
	pthread_mutex_t amu;            /* one ack at a time */
	int64_t pos_synced_ns;
	int pos_dirty;
	pthread_mutex_t dlmu;
};

/* A window over a segment: bytes [off, off + len) are in s->rbuf. */
struct win {
	uint64_t off;
	size_t len;
};

struct hdr {
	uint32_t len;
	uint64_t seq;
	int64_t ns;
	uint64_t check;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* FERRY_EIO with "WHAT: strerror(e)" and the errno as origin. */
__attribute__((format(printf, 3, 4)))
static int io_error(struct ferry_error *err, int e, const char *fmt, ...)
{
	char what[FERRY_ERRMSG_MAX - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ferry_error_set(err, FERRY_EIO, "%s: %s", what, strerror(e));
	ferry_error_origin(err, "errno %d", e);
	return FERRY_EIO;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The check of a header's first 24 bytes and its payload's hash. */
static uint64_t rec_check(const unsigned char *h24, uint64_t phash)
{
	unsigned char b[32];

	memcpy(b, h24, 24);
	put64(b + 24, phash);
	return ferry_hash64(b, 32);
}

static void hdr_put(unsigned char *p, uint32_t len, uint64_t seq, int64_t ns, uint64_t phash)
{
	put32(p, MAGIC);
	put32(p + 4, len);
	put64(p + 8, seq);
	put64(p + 16, (uint64_t)ns);
	put64(p + 24, rec_check(p, phash));
}

static void hdr_get(const unsigned char *p, struct hdr *h)
{
	h->len = get32(p + 4);
	h->seq = get64(p + 8);
	h->ns = (int64_t)get64(p + 16);
	h->check = get64(p + 24);
}

static void seg_path(const struct relay_spool *s, uint64_t first, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%020" PRIu64 ".seg", s->dir, first);
}

static int grow(unsigned char **p, size_t *cap, size_t need)
{
	unsigned char *q;

	if (need <= *cap)
		return 0;
	q = ferry_realloc(*p, need);
	if (!q)
		return FERRY_ENOMEM;
	*p = q;
	*cap = need;
	return 0;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;    /* the file is shorter than it was */
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Bytes [off, off + n) of fd (off + n <= limit) through the window, or NULL
 * with errno set. */
static const unsigned char *win_get(struct relay_spool *s, struct win *w, int fd,
				    uint64_t off, size_t n, uint64_t limit)
{
	size_t want = n > WIN ? n : WIN;

	if (off >= w->off && off + n <= w->off + w->len)
		return s->rbuf + (off - w->off);
	if (want > limit - off)
		want = (size_t)(limit - off);
	w->len = 0;
	if (grow(&s->rbuf, &s->rcap, want) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (pread_all(fd, s->rbuf, want, off) < 0)
		return NULL;
	w->off = off;
	w->len = want;
	return s->rbuf;
}

/*
 * The record at off of a segment whose valid bytes end at limit: 1 with *h
 * and *pl filled; 0 when the bytes there are no valid record of seq want
 * (*why says what is wrong); -1 on an I/O error (errno).
 */
static int rec_at(struct relay_spool *s, struct win *w, int fd, uint64_t off,
		  uint64_t limit, uint64_t want, struct hdr *h, const unsigned char **pl,
		  const char **why)
{
	const unsigned char *p;

	if (limit - off < HDR) {
		*why = "a record header cut short";
		return 0;
	}
	if (!(p = win_get(s, w, fd, off, HDR, limit)))
		return -1;
	hdr_get(p, h);
	if (get32(p) != MAGIC) {
		*why = "no record magic";
		return 0;
	}
	if (h->len > limit - off - HDR) {
		*why = "a record longer than the rest of the file";
		return 0;
	}
	if (h->seq != want) {
		*why = "an unexpected sequence number";
		return 0;
	}
	if (!(p = win_get(s, w, fd, off, HDR + (size_t)h->len, limit)))
		return -1;
	if (rec_check(p, ferry_hash64(p + HDR, h->len)) != h->check) {
		*why = "a checksum mismatch";
		return 0;
	}
	*pl = p + HDR;
	return 1;
}

static void seg_unref(struct seg *g)
{
	if (g && --g->refs == 0) {
		close(g->fd);
		ferry_free(g);
	}
}

static int seg_push(struct relay_spool *s, struct seg *g)
{
	if (s->nsegs == s->segcap &&
	    ferry_array_grow((void **)&s->segs, &s->segcap, s->nsegs + 1, sizeof(*s->segs)) < 0)
		return FERRY_ENOMEM;
	s->segs[s->nsegs++] = g;
	return 0;
}

/* A new empty segment named first, its directory entry fsync'd. */
static int seg_create(struct relay_spool *s, uint64_t first, struct seg **out,
		      struct ferry_error *err)
{
	char path[4096];
	struct seg *g;
	int fd;

	seg_path(s, first, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fsync(s->dirfd) < 0) {
		int e = errno;

		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return io_error(err, e, "cannot create spool segment '%s'", path);
	}
	if (!(g = ferry_calloc(1, sizeof(*g)))) {
		close(fd);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	g->first = first;
	g->last = first - 1;
	g->fd = fd;
	g->refs = 1;
	*out = g;
	return 0;
}

/* ------------------------------------------------------------ append */

/*
 * Write buf[0..len) (records from..upto) at the durable end of g and
 * fdatasync; then publish them: durable, visible to the reader, their
 * appenders woken.  On failure the bytes past the durable end are cut
 * again; if even that fails the spool is broken (a later append would
 * land behind garbage that open would then cut with it).
 */
static int flush(struct relay_spool *s, struct seg *g, const unsigned char *buf, size_t len,
		 struct waiter *from, struct waiter *upto, struct ferry_error *e)
{
	char path[4096];
	struct waiter *w;
	int synced_fail = 0;

	if (pwrite_all(g->fd, buf, len, g->size) < 0 ||
	    (synced_fail = 1, fdatasync(g->fd) < 0)) {
		int er = errno;

		seg_path(s, g->first, path, sizeof(path));
		io_error(e, er, "cannot write spool segment '%s' at offset %" PRIu64, path,
			 g->size);
		/* after a failed fsync the page cache is not to be trusted (the
		 * kernel may have dropped the dirty pages): stop appending */
		if (synced_fail || ftruncate(g->fd, (off_t)g->size) < 0) {
			pthread_mutex_lock(&s->mu);
			s->broken = 1;
			s->broken_err = *e;
			pthread_mutex_unlock(&s->mu);
		}
		return FERRY_EIO;
	}
	pthread_mutex_lock(&s->mu);
	g->size += len;
	s->bytes_total += len;
	s->qbytes -= len;
	if (s->last_seq == s->acked)
		s->oldest_ns = from->ns;
	for (w = from; w != upto; w = w->next) {
		g->last = w->seq;
		s->last_seq = w->seq;
		w->rc = 0;
		w->done = 1;
	}
	pthread_cond_broadcast(&s->cv_done);
	pthread_cond_broadcast(&s->cv_data);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* The leader: called with s->mu held and s->writing set, returns so. */
static void lead(struct relay_spool *s)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	struct waiter *list = s->qhead, *from, *w;
	struct seg *g = s->segs[s->nsegs - 1];
	uint64_t seq = s->last_seq + 1;
	size_t len = 0;
	int rc = 0;

	s->qhead = s->qtail = NULL;
	pthread_mutex_unlock(&s->mu);
	from = list;
	for (w = list; w; w = w->next) {
		size_t rl = HDR + w->n;

		if (g->size + len > 0 && g->size + len + rl > s->seg_max) {
			struct seg *ng;

			if (len && (rc = flush(s, g, s->wbuf, len, from, w, &e)) < 0)
				break;
			from = w;
			len = 0;
			if ((rc = seg_create(s, seq, &ng, &e)) < 0)
				break;
			pthread_mutex_lock(&s->mu);
			rc = seg_push(s, ng);
			pthread_mutex_unlock(&s->mu);
			if (rc < 0) {
				seg_unref(ng);
				ferry_error_set(&e, rc, "out of memory");
				break;
			}
			g = ng;
		}
		if ((rc = grow(&s->wbuf, &s->wcap, len + rl)) < 0) {
			ferry_error_set(&e, rc, "out of memory");
			break;
		}
		w->seq = seq++;
		hdr_put(s->wbuf + len, (uint32_t)w->n, w->seq, w->ns, w->phash);
		memcpy(s->wbuf + len + HDR, w->p, w->n);
		len += rl;
	}
	if (!rc && len)
		rc = flush(s, g, s->wbuf, len, from, NULL, &e);
	if (s->wcap > KEEP_MAX) {
		ferry_free(s->wbuf);
		s->wbuf = NULL;
		s->wcap = 0;
	}
	pthread_mutex_lock(&s->mu);
	/* none of these is done (from is the first unpublished one): a done
	 * waiter's appender may have returned, its node gone */
	for (w = from; rc < 0 && w; w = w->next) {
		s->qbytes -= HDR + w->n;
		w->rc = rc;
		w->done = 1;
		if (w->err)
			*w->err = e;
	}
}

int relay_spool_append(struct relay_spool *s, const void *p, size_t n, uint64_t *seq,
		       struct ferry_error *err)
{
	struct waiter w = { .p = p, .n = n, .err = err };
	uint64_t pending;
	int rc;

	if (n > UINT32_MAX)
		return ferry_error_set(err, FERRY_ETOOBIG, "cannot spool a record of %zu bytes "
				       "(the most is 4 GiB)", n);
	w.phash = ferry_hash64(p, n);
	w.ns = now_ns();
	pthread_mutex_lock(&s->mu);
	if (s->broken) {
		if (err)
			*err = s->broken_err;
		pthread_mutex_unlock(&s->mu);
		return FERRY_EIO;
	}
	pending = s->bytes_total - s->bytes_acked + s->qbytes;
	if (pending + HDR + n > s->max_bytes) {
		pthread_mutex_unlock(&s->mu);
		return ferry_error_set(err, FERRY_ETOOBIG, "spool '%s' is full (%" PRIu64 " of %"
				       PRIu64 " bytes not replayed yet): the secondary store "
				       "must catch up first", s->dir, pending, s->max_bytes);
	}
	s->qbytes += HDR + n;
	if (s->qtail)
		s->qtail->next = &w;
	else
		s->qhead = &w;
	s->qtail = &w;
	while (!w.done) {
		if (!s->writing) {
			s->writing = 1;
			lead(s);
			s->writing = 0;
			pthread_cond_broadcast(&s->cv_done);
		} else {
			pthread_cond_wait(&s->cv_done, &s->mu);
		}
	}
	rc = w.rc;
	pthread_mutex_unlock(&s->mu);
	if (!rc)
		*seq = w.seq;
	return rc;
}

int relay_spool_room(struct relay_spool *s, size_t n)
{
	int ok;

	pthread_mutex_lock(&s->mu);
	ok = !s->broken &&
	     s->bytes_total - s->bytes_acked + s->qbytes + HDR + n <= s->max_bytes;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* ------------------------------------------------------------ read */

/* The segment after g in the list (g may have been acked and dropped from
 * it while the reader held it), NULL when g is the last. */
static struct seg *seg_after(struct relay_spool *s, const struct seg *g)
{
	size_t i;

	for (i = 0; i < s->nsegs; i++)
		if (s->segs[i]->first > g->first)
			return s->segs[i];
	return NULL;
}

int relay_spool_read(struct relay_spool *s, uint64_t after, size_t max_bytes, int wait_ms,
		     relay_spool_fn fn, void *ud, struct ferry_error *err)
{
	struct win w = { 0, 0 };
	struct timespec dl;
	struct seg *g, *ng;
	uint64_t off, next, limit;
	size_t i, bytes = 0;
	int rc = 0, delivered = 0;

	pthread_mutex_lock(&s->mu);
	if (s->last_seq <= after && wait_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += wait_ms / 1000;
		dl.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		while (s->last_seq <= after &&
		       pthread_cond_timedwait(&s->cv_data, &s->mu, &dl) != ETIMEDOUT)
			;
	}
	if (s->last_seq <= after) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (s->rseg && s->rnext == after + 1 && s->rnext <= s->rseg->last + 1) {
		g = s->rseg;
		off = s->roff;
		next = s->rnext;
	} else {
		/* the first segment with a record past after (records before the
		 * first segment were acked and deleted: start at what is left) */
		for (i = 0; i + 1 < s->nsegs && s->segs[i]->last <= after; i++)
			;
		g = s->segs[i];
		off = 0;
		next = g->first;
		if (s->acked >= g->first && s->acked <= after) {
			off = g->ack_off;
			next = s->acked + 1;
		}
	}
	g->refs++;
	limit = g->size;
	pthread_mutex_unlock(&s->mu);

	for (;;) {
		while (off < limit) {
			const unsigned char *pl;
			const char *why = NULL;
			struct hdr h;
			char path[4096];
			int r = rec_at(s, &w, g->fd, off, limit, next, &h, &pl, &why);

			if (r <= 0) {
				int e = errno;

				seg_path(s, g->first, path, sizeof(path));
				if (r < 0) {
					rc = io_error(err, e, "cannot read spool segment '%s' "
						      "at offset %" PRIu64, path, off);
				} else {
					rc = ferry_error_set(err, FERRY_EIO, "spool segment '%s' is "
						"corrupt at offset %" PRIu64 ": %s", path, off, why);
				}
				goto out;
			}
			if (h.seq > after) {
				if (delivered && bytes + h.len > max_bytes)
					goto out;
				/* no lock is held here: appends go on while fn works */
				if ((rc = fn(ud, h.seq, pl, h.len, err)) != 0)
					goto out;
				delivered++;
				bytes += h.len;
			}
			off += HDR + h.len;
			next++;
		}
		pthread_mutex_lock(&s->mu);
		if (g->size > limit) {
			limit = g->size;
		} else if (bytes < max_bytes && (ng = seg_after(s, g))) {
			seg_unref(g);
			g = ng;
			g->refs++;
			off = 0;
			next = g->first;
			limit = g->size;
			w.len = 0;
		} else {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
	}
out:
	pthread_mutex_lock(&s->mu);
	/* keep the cursor at the next record to deliver (the one fn refused,
	 * if it did), so the next call goes on without a search */
	seg_unref(s->rseg);
	s->rseg = g;
	s->roff = off;
	s->rnext = next;
	pthread_mutex_unlock(&s->mu);
	if (s->rcap > KEEP_MAX) {
		ferry_free(s->rbuf);
		s->rbuf = NULL;
		s->rcap = 0;
	}
	return rc ? rc : delivered;
}

/* ------------------------------------------------------------ ack */

/* Write the position file: rename a new one into place; fsync it (and the
 * directory) when force or a second has passed since the last fsync. */
static int pos_write(struct relay_spool *s, uint64_t seq, int force, struct ferry_error *err)
{
	char tmp[4096], path[4096], line[32];
	int64_t now = now_ns();
	int sync = force || now - s->pos_synced_ns >= 1000000000;
	int fd, len = snprintf(line, sizeof(line), "%" PRIu64 "\n", seq);

	snprintf(tmp, sizeof(tmp), "%s/position.tmp", s->dir);
	snprintf(path, sizeof(path), "%s/position", s->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || pwrite_all(fd, line, (size_t)len, 0) < 0 || (sync && fsync(fd) < 0) ||
	    close(fd) < 0 || (fd = -1, rename(tmp, path) < 0) || (sync && fsync(s->dirfd) < 0)) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return io_error(err, e, "cannot write spool position '%s'", path);
	}
	s->pos_dirty = !sync;
	if (sync)
		s->pos_synced_ns = now;
	return 0;
}

int relay_spool_ack(struct relay_spool *s, uint64_t seq, struct ferry_error *err)
{
	char path[4096];
	struct seg *g;
	unsigned char hb[HDR];
	uint64_t off, next;
	int rc = 0;

	pthread_mutex_lock(&s->amu);
	pthread_mutex_lock(&s->mu);
	if (seq <= s->acked) {
		pthread_mutex_unlock(&s->mu);
		goto out;
	}
	if (seq > s->last_seq) {
		rc = ferry_error_set(err, FERRY_EINVAL, "cannot acknowledge seq %" PRIu64 " of "
				     "spool '%s': its last record is %" PRIu64, seq, s->dir,
				     s->last_seq);
		pthread_mutex_unlock(&s->mu);
		goto out;
	}
	/* whole segments first; the last one stays (it carries the seq) */
	while (s->nsegs > 1 && s->segs[0]->last <= seq) {
		g = s->segs[0];
		memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
		s->nsegs--;
		s->bytes_total -= g->size;
		s->bytes_acked -= g->ack_off;
		seg_path(s, g->first, path, sizeof(path));
		/* oldest first, each unlink made durable: a crash leaves a prefix
		 * of them deleted, never a gap (which open refuses) */
		if (unlink(path) < 0 || fsync(s->dirfd) < 0)
			ferry_warn("cannot remove replayed spool segment '%s': %s", path,
				   strerror(errno));
		seg_unref(g);
	}
	g = s->segs[0];
	if (g->first - 1 > s->acked)
		__atomic_store_n(&s->acked, g->first - 1, __ATOMIC_RELAXED);
	/* then the records up to seq in the first segment left: walk their
	 * headers from the last ack (the reader's cursor usually knows) */
	if (seq >= g->first) {
		off = g->ack_off;
		next = s->acked + 1 > g->first ? s->acked + 1 : g->first;
		if (s->rseg == g && s->rnext == seq + 1) {
			off = s->roff;
			next = s->rnext;
		}
		for (; next <= seq; next++) {
			int bad = pread_all(g->fd, hb, HDR, off) < 0 ? errno : 0;

			if (bad || get32(hb) != MAGIC) {
				seg_path(s, g->first, path, sizeof(path));
				rc = ferry_error_set(err, FERRY_EIO, "cannot read spool segment "
						     "'%s' at offset %" PRIu64 ": %s", path, off,
						     bad ? strerror(bad) : "no record magic");
				pthread_mutex_unlock(&s->mu);
				goto out;
			}
			off += HDR + get32(hb + 4);
		}
		s->bytes_acked += off - g->ack_off;
		g->ack_off = off;
	}
	s->oldest_ns = 0;
	if (seq < s->last_seq && pread_all(g->fd, hb, HDR, g->ack_off) == 0)
		s->oldest_ns = (int64_t)get64(hb + 16);
	__atomic_store_n(&s->acked, seq, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->mu);
	rc = pos_write(s, seq, 0, err);
out:
	pthread_mutex_unlock(&s->amu);
	return rc;
}

uint64_t relay_spool_acked(const struct relay_spool *s)
{
	return __atomic_load_n(&s->acked, __ATOMIC_RELAXED);
}

void relay_spool_stats(struct relay_spool *s, struct relay_spool_stats *st)
{
	pthread_mutex_lock(&s->mu);
	st->bytes = s->bytes_total - s->bytes_acked;
	st->records = s->last_seq > s->acked ? s->last_seq - s->acked : 0;
	st->last_seq = s->last_seq;
	st->acked = s->acked;
	st->oldest_ns = st->records ? s->oldest_ns : 0;
	st->dead_letters = s->dead_letters;
	pthread_mutex_unlock(&s->mu);
}

const char *relay_spool_id(const struct relay_spool *s)
{
	return s->id;
}

/* ------------------------------------------------------------ dead letters */

/* s[0..n) as a JSON string, invalid UTF-8 bytes as U+FFFD (the line must
 * stay JSON whatever the record held). */
static json_t *json_text(const char *t, size_t n)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	json_t *j = json_stringn(t, n);
	int rc = 0;

	while (!j && n && !rc) {
		size_t k = val_utf8_prefix(t, n, 1, NULL);

		rc = ferry_buf_add(&b, t, k);
		if (k < n)
			rc |= ferry_buf_add(&b, "\xef\xbf\xbd", 3), k++;
		t += k;
		n -= k;
	}
	if (!j && !rc)
		j = json_stringn(b.buf, b.len);
	ferry_buf_release(&b);
	return j;
}

int relay_spool_dead_letter(struct relay_spool *s, uint64_t seq, const char *store,
			    const char *db, const char *reason, const char *lp, size_t n,
			    struct ferry_error *err)
{
	char path[4096], when[64];
	json_t *o;
	struct ferry_buf nl = FERRY_BUF_INIT;
	char *line = NULL;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/dead-letters.ndjson", s->dir);
	val_format_timestamp(when, sizeof(when), now_ns(), VAL_TS_NS | VAL_TS_T, "Z");
	/* the reason and the database as text whatever bytes they hold (a
	 * reason cut inside a character, a name quoted from the line): a
	 * value jansson refuses would lose the whole dead letter */
	o = json_pack("{s:s, s:I, s:s}", "time", when, "seq", (json_int_t)seq,
		      "store", store ? store : "");
	if (!o || json_object_set_new(o, "db", json_text(db ? db : "", db ? strlen(db) : 0)) < 0 ||
	    json_object_set_new(o, "reason", json_text(reason ? reason : "",
						       reason ? strlen(reason) : 0)) < 0 ||
	    json_object_set_new(o, "lp", json_text(lp, n)) < 0)
		goto oom;
	/* bytes that are not UTF-8 (influxd takes them): "lp" shows them as
	 * U+FFFD, "lp_base64" keeps the record as it came */
	if (val_utf8_prefix(lp, n, 1, NULL) < n) {
		struct ferry_buf b64 = FERRY_BUF_INIT;
		int bad = ferry_buf_addbase64(&b64, lp, n) < 0 ||
			  json_object_set_new(o, "lp_base64",
					      json_stringn(b64.buf ? b64.buf : "", b64.len)) < 0;

		ferry_buf_release(&b64);
		if (bad)
			goto oom;
	}
	if (!(line = json_dumps(o, JSON_COMPACT)) || ferry_buf_addstr(&nl, line) < 0 ||
	    ferry_buf_addch(&nl, '\n') < 0)
		goto oom;
	pthread_mutex_lock(&s->dlmu);
	if (s->dlfd < 0)
		s->dlfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	/* one write: the line and its newline land together (O_APPEND) */
	if (s->dlfd < 0 || write(s->dlfd, nl.buf, nl.len) != (ssize_t)nl.len ||
	    fdatasync(s->dlfd) < 0)
		rc = io_error(err, errno, "cannot write a dead letter to '%s'", path);
	pthread_mutex_unlock(&s->dlmu);
	if (!rc) {
		pthread_mutex_lock(&s->mu);
		s->dead_letters++;
		pthread_mutex_unlock(&s->mu);
	}
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	ferry_buf_release(&nl);
	free(line);
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------ open, close */

/* DIR/id: read it, or make it when the spool is new. */
static int load_id(struct relay_spool *s, struct ferry_error *err)
{
	char path[4096], tmp[4096];
	unsigned char rnd[16];
	ssize_t r;
	int fd, i;

	snprintf(path, sizeof(path), "%s/id", s->dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		r = read(fd, s->id, 32);
		close(fd);
		s->id[r > 0 ? r : 0] = '\0';
		if (r != 32 || strspn(s->id, "0123456789abcdef") != 32)
			return ferry_error_set(err, FERRY_EPARSE, "spool id file '%s' does not "
					       "hold 32 hex digits: restore it from a backup (it "
					       "keys the replay position)", path);
		return 0;
	}
	if (errno != ENOENT || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		goto fail;
	for (i = 0; i < 16; i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	snprintf(tmp, sizeof(tmp), "%s/id.tmp", s->dir);
	s->id[32] = '\n';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || pwrite_all(fd, s->id, 33, 0) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
	    (fd = -1, rename(tmp, path) < 0) || fsync(s->dirfd) < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	s->id[32] = '\0';
	return 0;
fail:
	return io_error(err, errno, "cannot create spool id '%s'", path);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The seqs in the names of DIR's segments, sorted. */
static int list_segs(struct relay_spool *s, uint64_t **out, size_t *n, struct ferry_error *err)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	uint64_t *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return ferry_error_set(err, FERRY_EIO, "cannot list spool '%s': %s", s->dir,
				       strerror(errno));
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 24 || strspn(de->d_name, "0123456789") != 20 ||
		    strcmp(de->d_name + 20, ".seg") != 0)
			continue;
		if (*n == cap && ferry_array_grow((void **)&v, &cap, *n + 1, sizeof(*v)) < 0) {
			closedir(d);
			ferry_free(v);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		if ((v[*n] = strtoull(de->d_name, NULL, 10)) > 0)
			(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_u64);
	*out = v;
	return 0;
}

/* Open and check one segment; the last may lose a torn tail. */
static int scan_seg(struct relay_spool *s, uint64_t first, int is_last, int64_t *oldest,
		    struct ferry_error *err)
{
	char path[4096];
	struct win w = { 0, 0 };
	struct stat st;
	struct seg *g;
	uint64_t off = 0, next = first;
	int rc = 0, r = 1;

	seg_path(s, first, path, sizeof(path));
	if (!(g = ferry_calloc(1, sizeof(*g))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	g->first = first;
	g->refs = 1;
	if ((g->fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fstat(g->fd, &st) < 0) {
		rc = io_error(err, errno, "cannot open spool segment '%s'", path);
		goto out;
	}
	while (off < (uint64_t)st.st_size) {
		const unsigned char *pl;
		const char *why = NULL;
		struct hdr h;

		r = rec_at(s, &w, g->fd, off, (uint64_t)st.st_size, next, &h, &pl, &why);
		if (r < 0) {
			rc = io_error(err, errno, "cannot read spool segment '%s' at offset %"
				      PRIu64, path, off);
			goto out;
		}
		if (r == 0 && !is_last) {
			rc = ferry_error_set(err, FERRY_EIO, "spool segment '%s' is corrupt at "
					     "offset %" PRIu64 " (%s), and it is not the last one: "
					     "restore the spool from a backup, or move '%s' away to "
					     "start an empty one (its unreplayed records are lost)",
					     path, off, why, s->dir);
			goto out;
		}
		if (r == 0) {
			/* never acknowledged: an append returns only after fsync */
			ferry_warn("spool segment '%s': cutting %" PRIu64 " bytes at offset %"
				   PRIu64 " (%s), a write torn by a crash", path,
				   (uint64_t)st.st_size - off, off, why);
			if (ftruncate(g->fd, (off_t)off) < 0 || fdatasync(g->fd) < 0) {
				rc = io_error(err, errno, "cannot cut spool segment '%s' at "
					      "offset %" PRIu64, path, off);
				goto out;
			}
			break;
		}
		off += HDR + h.len;
		if (h.seq <= s->acked)
			g->ack_off = off;
		else if (!*oldest)
			*oldest = h.ns;
		next++;
	}
	g->size = off;
	g->last = next - 1;
	rc = seg_push(s, g);
	if (rc < 0)
		ferry_error_set(err, rc, "out of memory");
out:
	if (rc < 0) {
		if (g->fd >= 0)
			close(g->fd);
		ferry_free(g);
	}
	return rc;
}

int relay_spool_open(const char *dir, uint64_t max_bytes, struct relay_spool **out,
		     struct ferry_error *err)
{
	struct relay_spool *s;
	char path[4096];
	const char *env = getenv("FERRY_SPOOL_SEGMENT_BYTES");
	uint64_t *names = NULL;
	size_t i, n = 0;
	int64_t oldest = 0;
	int rc = 0;

	if (!(s = ferry_calloc(1, sizeof(*s))) || !(s->dir = ferry_strdup(dir))) {
		ferry_free(s);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	s->dirfd = s->lockfd = s->dlfd = -1;
	s->max_bytes = max_bytes ? max_bytes : (uint64_t)1 << 30;
	s->seg_max = env && atoll(env) >= 64 ? (uint64_t)atoll(env) : SEG_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->amu, NULL);
	pthread_mutex_init(&s->dlmu, NULL);
	pthread_cond_init(&s->cv_done, NULL);
	pthread_cond_init(&s->cv_data, NULL);
	if ((mkdir(dir, 0777) < 0 && errno != EEXIST) ||
	    (s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = io_error(err, errno, "cannot open spool directory '%s'", dir);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	if ((s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK
			? ferry_error_set(err, FERRY_ELOCKED, "spool '%s' is in use by another "
					  "relay: give each relay its own --spool", dir)
			: ferry_error_set(err, FERRY_EIO, "cannot lock spool '%s': %s", path,
					  strerror(errno));
		goto out;
	}
	if ((rc = load_id(s, err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/position", dir);
	{
		FILE *f = fopen(path, "re");
		unsigned long long v;

		/* unreadable after a crash (renamed before its fsync): the
		 * segments and PostgreSQL's position still tell */
		if (f && fscanf(f, "%llu", &v) == 1)
			s->acked = v;
		else if (f)
			ferry_warn("spool position '%s' is unreadable, starting from the "
				   "segments", path);
		if (f)
			fclose(f);
	}
	if ((rc = list_segs(s, &names, &n, err)) < 0)
		goto out;
	if (n && names[0] - 1 > s->acked)
		s->acked = names[0] - 1;        /* the position file lagged */
	for (i = 0; i < n; i++) {
		if ((rc = scan_seg(s, names[i], i + 1 == n, &oldest, err)) < 0)
			goto out;
		if (i && s->segs[i]->first != s->segs[i - 1]->last + 1) {
			rc = ferry_error_set(err, FERRY_EIO, "spool '%s': segment %020" PRIu64
					     ".seg does not follow its predecessor (records "
					     "%" PRIu64 "..%" PRIu64 " are missing)", dir,
					     names[i], s->segs[i - 1]->last + 1, names[i] - 1);
			goto out;
		}
		s->bytes_total += s->segs[i]->size;
		s->bytes_acked += s->segs[i]->ack_off;
	}
	s->last_seq = n ? s->segs[n - 1]->last : s->acked;
	if (s->acked > s->last_seq) {
		rc = ferry_error_set(err, FERRY_EIO, "spool '%s': its position %" PRIu64 " is past "
				     "its last record %" PRIu64 ": segments are missing", dir,
				     s->acked, s->last_seq);
		goto out;
	}
	if (!n) {
		struct seg *g;

		if ((rc = seg_create(s, s->acked + 1, &g, err)) < 0)
			goto out;
		if ((rc = seg_push(s, g)) < 0) {
			seg_unref(g);
			rc = ferry_error_set(err, rc, "out of memory");
			goto out;
		}
	}
	s->oldest_ns = oldest;
	s->pos_synced_ns = now_ns();
out:
	ferry_free(names);
	if (s->rcap > KEEP_MAX) {
		ferry_free(s->rbuf);
		s->rbuf = NULL;
		s->rcap = 0;
	}
	if (rc < 0) {
		relay_spool_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void relay_spool_close(struct relay_spool *s)
{
	size_t i;

	if (!s)
		return;
	if (s->pos_dirty && pos_write(s, s->acked, 1, NULL) < 0)
		ferry_warn("cannot sync the position of spool '%s'", s->dir);
	seg_unref(s->rseg);
	for (i = 0; i < s->nsegs; i++)
		seg_unref(s->segs[i]);
	ferry_free(s->segs);
	if (s->dlfd >= 0)
		close(s->dlfd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->amu);
	pthread_mutex_destroy(&s->dlmu);
	pthread_cond_destroy(&s->cv_done);
	pthread_cond_destroy(&s->cv_data);
	ferry_free(s->wbuf);
	ferry_free(s->rbuf);
	ferry_free(s->dir);
	ferry_free(s);
}

/* ------------------------------------------------------------ records */

/*
 * A record's payload: u8 version 1, u8 to, u16 db length, u16 rp length,
 * u64 npoints, u64 lp length, then db, rp and lp each followed by a NUL
 * (so decode can hand out C strings pointing into the record).
 */
#define REC_HEAD 22

int relay_rec_encode(struct ferry_buf *out, int to, const char *db, const char *rp,
		     const char *lp, size_t n, size_t npoints)
{
	size_t dl = strlen(db), rl = strlen(rp);

	if (dl > UINT16_MAX || rl > UINT16_MAX || (to != RELAY_TO_OLD && to != RELAY_TO_NEW))
		return FERRY_EINVAL;
	if (ferry_buf_grow(out, REC_HEAD + dl + rl + n + 3) < 0 ||
	    ferry_buf_addch(out, 1) < 0 || ferry_buf_addch(out, to) < 0 ||
	    ferry_buf_addbe16(out, (uint16_t)dl) < 0 || ferry_buf_addbe16(out, (uint16_t)rl) < 0 ||
	    ferry_buf_addbe64(out, npoints) < 0 || ferry_buf_addbe64(out, n) < 0 ||
	    ferry_buf_add(out, db, dl + 1) < 0 || ferry_buf_add(out, rp, rl + 1) < 0 ||
	    ferry_buf_add(out, lp, n) < 0 || ferry_buf_addch(out, 0) < 0)
		return ferry_buf_error(out);
	return 0;
}

int relay_rec_decode(const void *p, size_t n, int *to, struct relay_rec *rec)
{
	const unsigned char *b = p;
	uint64_t dl, rl, np, ll;

	if (n < REC_HEAD || b[0] != 1 || (b[1] != RELAY_TO_OLD && b[1] != RELAY_TO_NEW))
		return FERRY_EPARSE;
	dl = get16(b + 2);
	rl = get16(b + 4);
	np = get64(b + 6);
	ll = get64(b + 14);
	if (ll > n || REC_HEAD + dl + rl + ll + 3 != n || np > ll ||
	    b[REC_HEAD + dl] || memchr(b + REC_HEAD, 0, dl) ||
	    b[REC_HEAD + dl + 1 + rl] || memchr(b + REC_HEAD + dl + 1, 0, rl) || b[n - 1])
		return FERRY_EPARSE;
	*to = b[1];
	rec->db = (const char *)b + REC_HEAD;
	rec->rp = rec->db + dl + 1;
	rec->lp = rec->rp + rl + 1;
	rec->n = (size_t)ll;
	rec->npoints = (size_t)np;
	rec->nbad = 0;
	rec->why[0] = '\0';
	return 0;
}
