/*
 * mqtt_seen.c - what the relay took, per MQTT topic, kept across restarts
 * in the spool directory, so that a retained message is taken once.
 *
 * Every start of the relay subscribes again, and the broker then sends the
 * retained message of every matching topic again: without a record, each
 * restart stores the same states once more (a duplicate in every store
 * that does not dedupe by time, and received-time points at a new time).
 * So per topic (its hash) two payload hashes are kept: the retained
 * message taken last, and the last message taken at all (Home Assistant
 * publishes its states retained: the live copy comes with RETAIN 0, the
 * same message comes back with RETAIN 1 at the next start).  A retained
 * message whose payload is either is skipped; a changed one is a new state
 * and taken.  Skipping never loses a point: the same payload on the same
 * topic gives the same point, or the same value at a later receive time.
 *
 * Durability: a message is recorded only after its batch is durable
 * (relay_mqtt_seen_commit(), after the write), so a crash can lose records,
 * never make the relay skip something it did not store: a lost record is
 * a duplicate at the next start, not a loss.  The file is written at each
 * commit and fsync'd at most once a second and at a clean stop.
 *
 * DIR/mqtt-seen: "FRYSEEN1" and then 24-byte records (topic hash, retained
 * payload hash, last payload hash; this machine's byte order), the last
 * record of a topic wins; a torn record at the end (a crash) is dropped.
 * Rewritten whole (tmp, fsync, rename) when it is mostly stale records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "relay/mqtt_int.h"

#define MAGIC "FRYSEEN1"

struct ent {
	uint64_t topic, ret, last;    /* hashes | 1; 0: none */
};

struct pend {
	uint64_t topic, payload;
	int retained;
};

struct relay_mqtt_seen {
	char *path, *tmp;
	int fd;                       /* -1: memory only */
	struct ent *tab;
	size_t cap, n;                /* cap a power of 2 */
	struct pend *pend;
	size_t npend, cappend;
	struct ent *out;              /* records of one commit */
	size_t capout;
	uint64_t records;             /* in the file */
	time_t synced;                /* when it was last fsync'd (seconds) */
	int dirty, warned;
};

static uint64_t h64(const void *p, size_t n)
{
	return ferry_hash64(p, n) | 1;
}

static struct ent *find(struct relay_mqtt_seen *s, uint64_t topic)
{
	size_t i;

	if (!s->cap)
		return NULL;
	for (i = (size_t)topic & (s->cap - 1); s->tab[i].topic; i = (i + 1) & (s->cap - 1))
		if (s->tab[i].topic == topic)
			return &s->tab[i];
	return NULL;
}

/* The entry of topic, made when missing; NULL when out of memory. */
static struct ent *get(struct relay_mqtt_seen *s, uint64_t topic)
{
	struct ent *e = find(s, topic);
	size_t i;

	if (e)
		return e;
	if ((s->n + 1) * 2 > s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 1024, j;
		struct ent *nt = ferry_calloc(nc, sizeof(*nt));

		if (!nt)
			return NULL;
		for (j = 0; j < s->cap; j++) {
			if (!s->tab[j].topic)
				continue;
			for (i = (size_t)s->tab[j].topic & (nc - 1); nt[i].topic; i = (i + 1) & (nc - 1))
				;
			nt[i] = s->tab[j];
		}
		ferry_free(s->tab);
		s->tab = nt;
		s->cap = nc;
	}
	for (i = (size_t)topic & (s->cap - 1); s->tab[i].topic; i = (i + 1) & (s->cap - 1))
		;
	s->tab[i].topic = topic;
	s->n++;
	return &s->tab[i];
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void warn_once(struct relay_mqtt_seen *s, const char *what)
{
	if (s->warned)
		return;
	s->warned = 1;
	ferry_warn("relay: mqtt: cannot %s '%s': %s; retained messages may be taken again "
		   "at the next start", what, s->path, strerror(errno));
}

/* The whole table into a new file, fsync'd, in place of the old one. */
static void rewrite(struct relay_mqtt_seen *s)
{
	int fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok = fd >= 0 && write_all(fd, MAGIC, 8) == 0;
	size_t i;

	for (i = 0; ok && i < s->cap; i++)
		if (s->tab[i].topic)
			ok = write_all(fd, &s->tab[i], sizeof(s->tab[i])) == 0;
	if (!ok || fdatasync(fd) < 0 || rename(s->tmp, s->path) < 0) {
		warn_once(s, "rewrite");
		if (fd >= 0)
			close(fd);
		unlink(s->tmp);
		return;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->records = s->n;
	s->dirty = 0;
	s->synced = time(NULL);
}

static int load(struct relay_mqtt_seen *s, struct ferry_error *err)
{
	char magic[8];
	struct ent r;
	struct stat st;
	off_t good = 8;
	ssize_t k;

	s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", s->path,
				       strerror(errno));
	if (st.st_size == 0) {
		if (write_all(s->fd, MAGIC, 8) < 0 || fdatasync(s->fd) < 0)
			return ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s", s->path,
					       strerror(errno));
		return 0;
	}
	if (pread(s->fd, magic, 8, 0) != 8 || memcmp(magic, MAGIC, 8))
		return ferry_error_set(err, FERRY_EIO, "'%s' is not a record of MQTT topics "
				       "(remove it: retained messages are then taken once more)",
				       s->path);
	while ((k = pread(s->fd, &r, sizeof(r), good)) == (ssize_t)sizeof(r)) {
		struct ent *e = get(s, r.topic);

		if (!e)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		*e = r;
		good += (off_t)sizeof(r);
		s->records++;
	}
	/* a torn last record (a crash while writing it): dropped */
	if (k < 0 || ftruncate(s->fd, good) < 0 || lseek(s->fd, 0, SEEK_END) < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", s->path,
				       strerror(errno));
	return 0;
}

int relay_mqtt_seen_open(const char *dir, struct relay_mqtt_seen **out,
			 struct ferry_error *err)
{
	struct relay_mqtt_seen *s = ferry_calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	s->fd = -1;
	if (dir) {
		size_t l = strlen(dir) + sizeof("/mqtt-seen.tmp");

		if (!(s->path = ferry_malloc(l)) || !(s->tmp = ferry_malloc(l))) {
			relay_mqtt_seen_close(s);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		snprintf(s->path, l, "%s/mqtt-seen", dir);
		snprintf(s->tmp, l, "%s/mqtt-seen.tmp", dir);
		if ((rc = load(s, err)) < 0) {
			relay_mqtt_seen_close(s);
			return rc;
		}
		s->synced = time(NULL);
	}
	*out = s;
	return 0;
}

int relay_mqtt_seen_has(struct relay_mqtt_seen *s, const char *topic, size_t tl,
			const void *payload, size_t n)
{
	uint64_t th = h64(topic, tl), ph = h64(payload, n);
	struct ent *e;
	size_t i;

	/* this batch first: overlapping filters get a retained message twice */
	for (i = s->npend; i-- > 0;)
		if (s->pend[i].topic == th && s->pend[i].payload == ph)
			return 1;
	e = find(s, th);
	return e && (e->ret == ph || e->last == ph);
}

void relay_mqtt_seen_add(struct relay_mqtt_seen *s, const char *topic, size_t tl,
			 const void *payload, size_t n, int retained)
{
	if (FERRY_GROW(s->pend, s->cappend, s->npend + 1) < 0)
		return;    /* not recorded: at worst taken again at the next start */
	s->pend[s->npend].topic = h64(topic, tl);
	s->pend[s->npend].payload = h64(payload, n);
	s->pend[s->npend].retained = retained;
	s->npend++;
}

void relay_mqtt_seen_commit(struct relay_mqtt_seen *s)
{
	size_t i, nout = 0;

	if (!s->npend)
		return;
	if (FERRY_GROW(s->out, s->capout, s->npend) < 0)
		s->capout = 0;
	for (i = 0; i < s->npend; i++) {
		struct ent *e = get(s, s->pend[i].topic);

		if (!e)
			break;
		if (e->last == s->pend[i].payload &&
		    (!s->pend[i].retained || e->ret == s->pend[i].payload))
			continue;    /* nothing new to write */
		e->last = s->pend[i].payload;
		if (s->pend[i].retained)
			e->ret = s->pend[i].payload;
		if (nout < s->capout)
			s->out[nout++] = *e;
	}
	s->npend = 0;
	if (s->fd < 0 || !nout)
		return;
	if (write_all(s->fd, s->out, nout * sizeof(*s->out)) < 0) {
		warn_once(s, "write");
		return;
	}
	s->records += nout;
	s->dirty = 1;
	/* a busy topic writes a record per message: rewrite once the stale
	 * ones are most of the file and more than 1.5 MB */
	if (s->records > 2 * s->n + 65536)
		rewrite(s);
	else if (time(NULL) != s->synced) {
		if (fdatasync(s->fd) < 0)
			warn_once(s, "fsync");
		s->dirty = 0;
		s->synced = time(NULL);
	}
}

void relay_mqtt_seen_drop(struct relay_mqtt_seen *s)
{
	s->npend = 0;
}

void relay_mqtt_seen_close(struct relay_mqtt_seen *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		if (s->dirty && fdatasync(s->fd) < 0)
			warn_once(s, "fsync");
		close(s->fd);
	}
	ferry_free(s->path);
	ferry_free(s->tmp);
	ferry_free(s->tab);
	ferry_free(s->pend);
	ferry_free(s->out);
	ferry_free(s);
}
