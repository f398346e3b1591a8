/*
 * sqlite_content.c - the SQLite connector's content id: what a resumed
 * ferry copy compares with the run that started its job.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/sqlite_int.h"
#include "ferry/alloc.h"
#include "ferry/hash.h"

/* ---- content id ---------------------------------------------------------- */

/*
 * What a resumed copy compares with the run that started the job: a hash
 * of the database's pages as a reader sees them.  Cheaper checks miss
 * edits: the file change counter (header offset 24) moves on every write
 * in rollback-journal mode but in WAL mode only when page 1 changes, so
 * an UPDATE checkpointed into the file keeps it; data_version is per
 * connection; size and mtime survive an UPDATE in place and `touch -r`.
 * Hashing the files' bytes as they lie would refuse a database a reader
 * merely checkpointed, so the pages are those of the main file overlaid
 * with the committed frames of the WAL, which a checkpoint does not
 * change.  Cost: one sequential read of the file, about 0.1 s for 200 MB
 * from the page cache (XXH3 runs near memory speed); the copy itself
 * reads it row by row in seconds.
 */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SQLite's WAL checksum (walChecksumBytes): 32-bit words in the byte
 * order the WAL's magic names, n a multiple of 8. */
static void wal_cksum(int big, const unsigned char *p, size_t n, uint32_t s[2])
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint32_t x0, x1;

		if (big) {
			x0 = be32(p + i);
			x1 = be32(p + i + 4);
		} else {
			x0 = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
			     (uint32_t)p[i + 3] << 24;
			x1 = (uint32_t)p[i + 4] | (uint32_t)p[i + 5] << 8 |
			     (uint32_t)p[i + 6] << 16 | (uint32_t)p[i + 7] << 24;
		}
		s[0] += x0 + s[1];
		s[1] += x1 + s[0];
	}
}

static int read_at(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = pread(fd, (char *)buf + got, n - got, off + (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/*
 * The committed frames of the WAL at fd, as SQLite's recovery finds them:
 * frames whose salts and running checksum hold, up to the last commit
 * frame.  frame[p - 1] = offset of page p's newest frame (0: none),
 * *npages = the database size that commit set (0: no committed frame).
 */
static int wal_frames(int fd, uint32_t page_size, uint64_t **frame, uint32_t *npages)
{
	unsigned char hdr[32], fh[24];
	unsigned char *page = NULL;
	struct { uint64_t off; uint32_t pgno; } *pend = NULL;   /* since the last commit */
	uint64_t *map = NULL;
	size_t npend = 0, cap = 0, i;
	uint32_t s[2] = { 0, 0 }, ps, magic;
	off_t off;
	int big, rc = 0;

	*frame = NULL;
	*npages = 0;
	if (read_at(fd, hdr, sizeof(hdr), 0) < 0)
		return 0;                     /* absent or empty: no frames */
	magic = be32(hdr);
	ps = be32(hdr + 8);
	if ((magic & 0xfffffffe) != 0x377f0682 || be32(hdr + 4) != 3007000 || ps != page_size)
		return 0;
	big = magic & 1;
	wal_cksum(big, hdr, 24, s);
	if (s[0] != be32(hdr + 24) || s[1] != be32(hdr + 28))
		return 0;
	if (!(page = ferry_malloc(ps)))
		return FERRY_ENOMEM;
	for (off = 32; read_at(fd, fh, sizeof(fh), off) == 0 &&
		       read_at(fd, page, ps, off + 24) == 0; off += 24 + (off_t)ps) {
		uint32_t pgno = be32(fh), commit = be32(fh + 4);

		if (pgno == 0 || memcmp(fh + 8, hdr + 16, 8))
			break;
		wal_cksum(big, fh, 8, s);
		wal_cksum(big, page, ps, s);
		if (s[0] != be32(fh + 16) || s[1] != be32(fh + 20))
			break;
		if (FERRY_GROW(pend, cap, npend + 1) < 0) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		pend[npend].off = (uint64_t)off;
		pend[npend++].pgno = pgno;
		if (!commit)
			continue;
		/* a commit: its frames and the ones before it count */
		if (commit > *npages) {
			uint64_t *m = ferry_realloc(map, (size_t)commit * sizeof(*map));

			if (!m) {
				rc = FERRY_ENOMEM;
				goto out;
			}
			memset(m + *npages, 0, (size_t)(commit - *npages) * sizeof(*map));
			map = m;
		}
		*npages = commit;
		for (i = 0; i < npend; i++)
			if (pend[i].pgno <= commit)
				map[pend[i].pgno - 1] = pend[i].off;
		npend = 0;
	}
out:
	ferry_free(page);
	ferry_free(pend);
	if (rc < 0) {
		ferry_free(map);
		*npages = 0;
		return rc;
	}
	*frame = map;
	return 0;
}

int sq_content_id(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err)
{
	const char *path = sqlite3_db_filename(c->db, "main");
	const char *wal = path && *path ? sqlite3_filename_wal(path) : NULL;
	ferry_hash_stream *h = NULL;
	uint64_t *frame = NULL;
	unsigned char hdr[100], *buf = NULL;
	uint32_t page_size, npages = 0, p, per;
	int fd = -1, wfd = -1, rc = 0, txn = 0;
	struct stat st;
	char hex[33];

	if (!path || !*path)
		return 1;                     /* in memory: nothing to compare */
	/* a read transaction: no commit (rollback journal) and no checkpoint
	 * past this reader (WAL) while the pages are read */
	if (sqlite3_get_autocommit(c->db)) {
		if (sqlite3_exec(c->db, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL,
				 NULL) != SQLITE_OK)
			return sq_err(c, err, FERRY_EIO, "cannot read the sqlite database");
		txn = 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s' to see whether it changed: %s",
				     path, strerror(errno));
		goto out;
	}
	if (wal)
		wfd = open(wal, O_RDONLY | O_CLOEXEC);
	/* the page size: in the file's header, or in the WAL's while nothing
	 * was checkpointed into the file yet */
	if (read_at(fd, hdr, sizeof(hdr), 0) == 0) {
		page_size = (uint32_t)hdr[16] << 8 | hdr[17];
		if (page_size == 1)
			page_size = 65536;
	} else {
		page_size = wfd >= 0 && read_at(wfd, hdr, 12, 0) == 0 ? be32(hdr + 8) : 0;
	}
	if (st.st_size == 0 && page_size == 0) {
		/* an empty file is an empty database to SQLite (0 tables) */
		if (ferry_buf_addstr(out, "sqlite 0 pages: an empty file") < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1))) {
		rc = ferry_error_set(err, FERRY_EIO, "'%s' has no valid sqlite page size", path);
		goto out;
	}
	if (wfd >= 0 && (rc = wal_frames(wfd, page_size, &frame, &npages)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if (!frame)
		npages = (uint32_t)((uint64_t)st.st_size / page_size);
	per = page_size >= (1u << 20) ? 1 : (1u << 20) / page_size;
	if (!(h = ferry_hash_stream_new()) || !(buf = ferry_malloc((size_t)per * page_size))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (p = 0; p < npages; p += per) {
		uint32_t n = npages - p < per ? npages - p : per, k;
		uint64_t off = (uint64_t)p * page_size;
		size_t want = (size_t)n * page_size;
		ssize_t got = pread(fd, buf, want, (off_t)off);

		/* pages past the end of the file come from the WAL (or are zeros) */
		if (got < 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", path,
					     strerror(errno));
			goto out;
		}
		if ((size_t)got < want)
			memset(buf + got, 0, want - (size_t)got);
		for (k = 0; frame && k < n; k++)
			if (frame[p + k] && read_at(wfd, buf + (size_t)k * page_size, page_size,
						    (off_t)frame[p + k] + 24) < 0) {
				rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", wal,
						     strerror(errno));
				goto out;
			}
		ferry_hash_stream_update(h, buf, want);
	}
	ferry_hash_stream_hex(h, hex);
	if (ferry_buf_addf(out, "sqlite %u pages of %u bytes: %s", (unsigned)npages,
			   (unsigned)page_size, hex) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	if (txn)
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (fd >= 0)
		close(fd);
	if (wfd >= 0)
		close(wfd);
	ferry_hash_stream_free(h);
	ferry_free(buf);
	ferry_free(frame);
	return rc;
}

