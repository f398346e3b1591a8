/*
 * fuzz_csv.c - the CSV record splitter, cell parser and time parser
 * (src/lib/wire/csv.c, src/lib/tsmap/sources/csv/values.c) on arbitrary
 * bytes.  The first input byte picks backslash mode and a small record
 * limit.  Invariants besides memory safety:
 * - records tile the input in order, each inside [off, next), and a
 *   record is never longer than the limit unless marked toolong;
 * - splitting a record-aligned suffix or feeding the input in pieces
 *   (final only at the end) gives the same records as the whole buffer,
 *   which is what lets a chunk be read alone;
 * - cells fit their record (quoted cells unescape to no more bytes) and a
 *   reject names a cell.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsmap/sources/csv/csv_int.h"
#include "ferry/error.h"

struct recs {
	size_t *off, *n, *next;
	size_t cnt;
};

static void split_all(const char *b, size_t len, size_t from, int bs, size_t limit,
		      struct recs *r)
{
	size_t off = from;
	struct csv_rec cr;

	r->cnt = 0;
	while (off < len) {
		int rc = csv_split(b, len, off, 1, bs, limit, &cr);

		if (rc != CSV_REC || cr.off != off || cr.next <= off || cr.next > len ||
		    cr.off + cr.n > cr.next || (!cr.toolong && cr.n > limit))
			abort();
		r->off[r->cnt] = cr.off;
		r->n[r->cnt] = cr.n;
		r->next[r->cnt++] = cr.next;
		off = cr.next;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *b;
	size_t len, limit, i, k, piece;
	int bs;
	struct recs all = { 0 }, sub = { 0 };
	char *scratch = NULL, *feed = NULL;
	struct csv_cell cells[8];

	if (size < 1)
		return 0;
	bs = data[0] & 1;
	limit = 16 + (data[0] >> 1) % 64;
	piece = 1 + data[0] % 7;
	b = (const char *)data + 1;
	len = size - 1;
	all.off = malloc((len + 1) * sizeof(size_t));
	all.n = malloc((len + 1) * sizeof(size_t));
	all.next = malloc((len + 1) * sizeof(size_t));
	sub.off = malloc((len + 1) * sizeof(size_t));
	sub.n = malloc((len + 1) * sizeof(size_t));
	sub.next = malloc((len + 1) * sizeof(size_t));
	scratch = malloc(len + 1);
	feed = malloc(len + 1);
	if (!all.off || !all.n || !all.next || !sub.off || !sub.n || !sub.next || !scratch ||
	    !feed)
		goto out;
	split_all(b, len, 0, bs, limit, &all);

	/* a chunk starting at any record boundary, read alone */
	for (i = 0; i < all.cnt; i += 1 + all.cnt / 4) {
		split_all(b, len, all.off[i], bs, limit, &sub);
		if (sub.cnt != all.cnt - i)
			abort();
		for (k = 0; k < sub.cnt; k++)
			if (sub.off[k] != all.off[i + k] || sub.n[k] != all.n[i + k])
				abort();
	}
	/* a chunk ending at a record boundary: final there */
	if (all.cnt > 1) {
		size_t hi = all.next[all.cnt / 2];

		split_all(b, hi, 0, bs, limit, &sub);
		if (sub.cnt != all.cnt / 2 + 1)
			abort();
		for (k = 0; k < sub.cnt; k++)
			if (sub.off[k] != all.off[k] || sub.n[k] != all.n[k])
				abort();
	}
	/* fed in pieces: same records (those the reader would not skip) */
	{
		size_t have = 0, off = 0, j = 0;
		struct csv_rec cr;

		for (;;) {
			int fin, rc;
			size_t take = len - have < piece ? len - have : piece;

			memcpy(feed + have, b + have, take);
			have += take;
			fin = have == len;
			while (off < have &&
			       (rc = csv_split(feed, have, off, fin, bs, limit, &cr)) != CSV_MORE) {
				if (rc == CSV_SKIP)
					goto cells;   /* the reader drops bytes here */
				if (j >= all.cnt || cr.off != all.off[j] || cr.n != all.n[j])
					abort();
				j++;
				off = cr.next;
			}
			if (fin)
				break;
		}
		if (j != all.cnt)
			abort();
	}
cells:
	for (i = 0; i < all.cnt; i++) {
		const char *why = NULL;
		size_t bad = 0;
		int nc = csv_cells(b + all.off[i], all.n[i], bs, scratch, cells, 8, &why, &bad);
		int64_t ns;

		if (nc == FERRY_EREJECT) {
			if (!why || !why[0])
				abort();
			continue;
		}
		if (nc < 1)
			abort();
		for (k = 0; k < (size_t)nc && k < 8; k++) {
			if (cells[k].n > all.n[i])
				abort();
			csv_time_parse(cells[k].p, cells[k].n, LP_PREC_MS, &ns);
		}
	}
out:
	free(all.off);
	free(all.n);
	free(all.next);
	free(sub.off);
	free(sub.n);
	free(sub.next);
	free(scratch);
	free(feed);
	return 0;
}
