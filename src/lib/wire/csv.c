/*
 * csv.c - the CSV record splitter and cell parser of csv.h: where a record
 * ends (a newline outside a quoted cell, or the limit) and its cells,
 * quoted ones unescaped.  A record's end depends only on its own bytes and
 * on whether the input ends, which is what lets a chunk be read alone.
 */
#include <string.h>

#include "ferry/error.h"
#include "wire/csv.h"

int csv_split(const char *buf, size_t len, size_t off, int final, int bs, size_t limit,
	      struct csv_rec *r)
{
	size_t end = len - off > limit ? off + limit : len;
	size_t i = off;
	uint64_t nl = 0;
	int open = 0;    /* the scan stopped inside a quoted cell */
	const char *p;

	while (i < end) {
		const char *q, *stop;

		/* unquoted: the record ends at the next newline unless a quote
		 * opens a cell before it */
		p = memchr(buf + i, '\n', end - i);
		stop = p ? p : buf + end;
		q = memchr(buf + i, '"', (size_t)(stop - (buf + i)));
		while (q && !(q == buf + off || q[-1] == ','))
			q = memchr(q + 1, '"', (size_t)(stop - (q + 1)));
		if (!q) {
			if (!p)
				break;
			r->off = off;
			r->n = (size_t)(p - (buf + off));
			if (r->n && buf[off + r->n - 1] == '\r')
				r->n--;
			r->next = (size_t)(p - buf) + 1;
			r->nl = nl;
			r->toolong = 0;
			return CSV_REC;
		}
		/* quoted: up to a quote not followed by a quote */
		open = 1;
		for (i = (size_t)(q - buf) + 1; i < end; i++) {
			char c = buf[i];

			if (c == '"') {
				if (i + 1 >= end) {
					/* closes only if nothing can follow */
					if (end == len && final) {
						open = 0;
						i = end;
					}
					break;
				}
				if (buf[i + 1] != '"') {
					open = 0;
					i++;
					break;
				}
				i++;
			} else if (c == '\\' && bs) {
				i++;
				if (i < end && buf[i] == '\n')
					nl++;
			} else if (c == '\n') {
				nl++;
			}
		}
		if (open)
			break;
	}
	if (!open && final && end == len) {
		/* the last record, without a newline */
		r->off = off;
		r->n = len - off;
		if (r->n && buf[len - 1] == '\r')
			r->n--;
		r->next = len;
		r->nl = nl;
		r->toolong = 0;
		return CSV_REC;
	}
	/* no end within the window: wait for more, or end at the first newline */
	if (len - off <= limit && !final)
		return CSV_MORE;
	p = memchr(buf + off, '\n', len - off);
	if (!p && !final)
		return CSV_SKIP;
	r->off = off;
	r->n = p ? (size_t)(p - (buf + off)) : len - off;
	r->next = p ? (size_t)(p - buf) + 1 : len;
	if (r->n && buf[off + r->n - 1] == '\r')
		r->n--;
	r->nl = 0;
	r->toolong = r->n > limit;
	return CSV_REC;
}

int csv_cells(const char *rec, size_t n, int bs, char *scratch, struct csv_cell *cells,
	      size_t cap, const char **why, size_t *bad)
{
	size_t i = 0, k = 0;
	char *w = scratch;

	for (;;) {
		struct csv_cell c;

		if (i < n && rec[i] == '"') {
			int closed = 0;

			c.p = w;
			c.quoted = 1;
			for (i++; i < n; i++) {
				if (rec[i] == '"') {
					if (i + 1 < n && rec[i + 1] == '"') {
						*w++ = '"';
						i++;
						continue;
					}
					i++;
					closed = 1;
					break;
				}
				if (bs && rec[i] == '\\' && i + 1 < n &&
				    (rec[i + 1] == '"' || rec[i + 1] == '\\')) {
					*w++ = rec[++i];
					continue;
				}
				*w++ = rec[i];
			}
			c.n = (size_t)(w - c.p);
			if (!closed) {
				*why = "unterminated quoted value";
				*bad = k;
				return FERRY_EREJECT;
			}
			if (i < n && rec[i] != ',') {
				*why = "unexpected text after a quoted value";
				*bad = k;
				return FERRY_EREJECT;
			}
		} else {
			const char *e = memchr(rec + i, ',', n - i);

			c.p = rec + i;
			c.n = e ? (size_t)(e - (rec + i)) : n - i;
			c.quoted = 0;
			i += c.n;
		}
		if (k < cap)
			cells[k] = c;
		k++;
		if (i >= n)
			break;
		i++;    /* the comma */
		if (i == n) {   /* a trailing comma: one more empty cell */
			if (k < cap) {
				cells[k].p = rec + n;
				cells[k].n = 0;
				cells[k].quoted = 0;
			}
			k++;
			break;
		}
	}
	return (int)(k > (size_t)INT32_MAX ? INT32_MAX : k);
}

