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

	assert_int_equal(ferry_buf_add(b, m.p, m.n), 0);
	for (i = 0; i < ntags; i++) {
		assert_int_equal(ferry_buf_addch(b, '|'), 0);
		assert_int_equal(ferry_buf_add(b, tags[i].key.p, tags[i].key.n), 0);
		assert_int_equal(ferry_buf_addch(b, '='), 0);
		assert_int_equal(ferry_buf_add(b, tags[i].val.p, tags[i].val.n), 0);
	}
	for (i = 0; i < nfields; i++) {
		const struct lp_field *f = &fields[i];

		assert_int_equal(ferry_buf_addstr(b, i ? "," : " "), 0);
		assert_int_equal(ferry_buf_add(b, f->key.p, f->key.n), 0);
		switch (f->type) {
		case LP_FLOAT: assert_int_equal(ferry_buf_addf(b, ":f=%.17g", f->v.f), 0); break;
		case LP_INT: assert_int_equal(ferry_buf_addf(b, ":i=%lld", (long long)f->v.i), 0); break;
		case LP_UINT: assert_int_equal(ferry_buf_addf(b, ":u=%llu", (unsigned long long)f->v.u), 0); break;
		case LP_BOOL: assert_int_equal(ferry_buf_addf(b, ":b=%d", f->v.b), 0); break;
		case LP_STRING:
			assert_int_equal(ferry_buf_addstr(b, ":s=<"), 0);
			assert_int_equal(ferry_buf_add(b, f->v.s.p, f->v.s.n), 0);
			assert_int_equal(ferry_buf_addch(b, '>'), 0);
			break;
		}
	}
}

#endif
