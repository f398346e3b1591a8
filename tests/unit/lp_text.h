/*
 * lp_text.h - for the line-protocol tests: a point rendered unambiguously
 * for comparison (names and strings raw, tags as |key=value, fields as
 * key:type=value).  Static, included by test_lineproto.c and
 * test_lpfile.c, which compare points of the parser and of the source.
 */
#ifndef FERRY_TESTS_LP_TEXT_H
#define FERRY_TESTS_LP_TEXT_H

#include "wire/lineproto.h"
#include "ferry/buf.h"

static void lp_text(struct ferry_buf *b, struct lp_str m, const struct lp_tag *tags,
		    size_t ntags, const struct lp_field *fields, size_t nfields)
{
	size_t i;

	ferry_buf_add(b, m.p, m.n);
	for (i = 0; i < ntags; i++) {
		ferry_buf_addch(b, '|');
		ferry_buf_add(b, tags[i].key.p, tags[i].key.n);
		ferry_buf_addch(b, '=');
		ferry_buf_add(b, tags[i].val.p, tags[i].val.n);
	}
	for (i = 0; i < nfields; i++) {
		const struct lp_field *f = &fields[i];

		ferry_buf_addstr(b, i ? "," : " ");
		ferry_buf_add(b, f->key.p, f->key.n);
		switch (f->type) {
		case LP_FLOAT: ferry_buf_addf(b, ":f=%.17g", f->v.f); break;
		case LP_INT: ferry_buf_addf(b, ":i=%lld", (long long)f->v.i); break;
		case LP_UINT: ferry_buf_addf(b, ":u=%llu", (unsigned long long)f->v.u); break;
		case LP_BOOL: ferry_buf_addf(b, ":b=%d", f->v.b); break;
		case LP_STRING:
			ferry_buf_addstr(b, ":s=<");
			ferry_buf_add(b, f->v.s.p, f->v.s.n);
			ferry_buf_addch(b, '>');
			break;
		}
	}
}

#endif
