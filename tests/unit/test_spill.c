/*
 * test_spill.c - the sort ferry does for a table loaded in index order
 * (src/lib/copy/spill.c): row keys compare with memcmp exactly as SQLite
 * orders the values (integers and reals mixed, large integers that round
 * to one double, -0.0, text with a NUL, prefixes, blobs, then the rowid);
 * a bound's tokens give the same bytes as the row; malformed tokens are
 * refused; a piece written in shuffled runs across several blocks of the
 * temporary file comes back complete, in key order, every cell intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "copy/copy_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/model.h"

/* Fill b from a statement's rows: rowid first, then the columns. */
static void load_rows(sqlite3 *db, const char *sql, struct ferry_batch *b)
{
	sqlite3_stmt *st;
	int k;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(b->nrows < b->cap);
		b->keys[b->nrows] = sqlite3_column_int64(st, 0);
		for (k = 0; k < (int)b->ncols; k++) {
			struct ferry_cell *c = ferry_batch_cell(b, b->nrows, (size_t)k);

			switch (sqlite3_column_type(st, k + 1)) {
			case SQLITE_INTEGER:
				c->kind = FERRY_V_INT;
				c->v.i = sqlite3_column_int64(st, k + 1);
				break;
			case SQLITE_FLOAT:
				c->kind = FERRY_V_REAL;
				c->v.d = sqlite3_column_double(st, k + 1);
				break;
			case SQLITE_TEXT:
				assert_int_equal(ferry_cell_set_bytes(b, c, FERRY_V_TEXT,
					sqlite3_column_text(st, k + 1),
					(size_t)sqlite3_column_bytes(st, k + 1)), 0);
				break;
			case SQLITE_BLOB:
				assert_int_equal(ferry_cell_set_bytes(b, c, FERRY_V_BLOB,
					sqlite3_column_blob(st, k + 1),
					(size_t)sqlite3_column_bytes(st, k + 1)), 0);
				break;
			default:
				c->kind = FERRY_V_NULL;
			}
		}
		b->nrows++;
	}
	sqlite3_finalize(st);
}

/* The connector's token for a cell (see key_encode in sqlite.c). */
static void token(struct ferry_buf *o, const struct ferry_batch *b, const struct ferry_cell *c)
{
	size_t i;

	switch (c->kind) {
	case FERRY_V_INT:
		assert_int_equal(ferry_buf_addf(o, "i%lld", (long long)c->v.i), 0);
		break;
	case FERRY_V_REAL: {
		uint64_t u;

		memcpy(&u, &c->v.d, 8);
		assert_int_equal(ferry_buf_addf(o, "r%016llx", (unsigned long long)u), 0);
		break;
	}
	case FERRY_V_TEXT:
	case FERRY_V_BLOB:
		assert_int_equal(ferry_buf_addch(o, c->kind == FERRY_V_TEXT ? 't' : 'b'), 0);
		for (i = 0; i < c->len; i++)
			assert_int_equal(ferry_buf_addf(o, "%02x", (unsigned char)ferry_cell_bytes(b, c)[i]), 0);
		break;
	default:
		assert_int_equal(ferry_buf_addch(o, 'n'), 0);
	}
}

static int keycmp(const struct ferry_buf *a, const struct ferry_buf *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->buf, b->buf, n);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static sqlite3 *values_db(void)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	if (sqlite3_exec(db,
		"CREATE TABLE v(id INTEGER PRIMARY KEY, k, k2);"
		"INSERT INTO v(k, k2) VALUES (0, 'a'), (0.0, 'a'), (-0.0, 'b'), (1, 'x'), (1.0, 'x'),"
		" (1.5, ''), (-1, ''), (-1.5, ''), (9007199254740992, 'p'), (9007199254740993, 'p'),"
		" (9007199254740992.0, 'p'), (9007199254740994, 'p'), (9223372036854775807, 'm'),"
		" (9223372036854775806, 'm'), (9.223372036854776e18, 'm'), (-9223372036854775808, 'm'),"
		" (-9.223372036854776e18, 'm'), (1e300, 'z'), (-1e300, 'z'), (4.9e-324, 'z'),"
		" ('', 'e'), ('a', 'e'), (CAST(x'610062' AS TEXT), 'e'), (CAST(x'6100' AS TEXT), 'e'),"
		" ('ab', 'e'), ('a', 'd'), ('b', 'e'), ('caf' || char(233), 'e'), ('sensor.b', 'e'),"
		" ('sensor.a_b', 'e'), (x'', 'f'), (x'00', 'f'), (x'0001', 'f'), (x'01', 'f'),"
		" (x'ff', 'f'), (2, 'a'), (2, 'a'), (2, x'00'), (2, 3), (2, 2.5);",
		NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	return db;
}

static void test_keys_in_sqlite_order(void **state)
{
	sqlite3 *db = values_db();
	struct ferry_batch b;
	struct ferry_buf prev = FERRY_BUF_INIT, key = FERRY_BUF_INIT, tok = FERRY_BUF_INIT,
			 bound = FERRY_BUF_INIT;
	static const int cols[2] = { 0, 1 };
	size_t r;

	(void)state;
	assert_int_equal(ferry_batch_init(&b, 2, 100), 0);
	load_rows(db, "SELECT id, k, k2 FROM v ORDER BY k, k2, id", &b);
	assert_int_equal(b.nrows, 40);
	for (r = 0; r < b.nrows; r++) {
		ferry_buf_clear(&key);
		assert_int_equal(spill_row_key(&key, &b, r, cols, 2), 0);
		if (r > 0 && keycmp(&prev, &key) >= 0)
			fail_msg("row %zu (id %lld) does not sort after row %zu", r,
				 (long long)b.keys[r], r - 1);
		/* the bound made of the same values gives the same bytes */
		ferry_buf_clear(&tok);
		token(&tok, &b, ferry_batch_cell(&b, r, 0));
		assert_int_equal(ferry_buf_addch(&tok, ','), 0);
		token(&tok, &b, ferry_batch_cell(&b, r, 1));
		assert_int_equal(ferry_buf_addf(&tok, ",i%lld", (long long)b.keys[r]), 0);
		ferry_buf_clear(&bound);
		assert_int_equal(spill_bound_key(&bound, tok.buf, 2), 0);
		assert_int_equal(bound.len, key.len);
		assert_memory_equal(bound.buf, key.buf, key.len);
		ferry_buf_clear(&prev);
		assert_int_equal(ferry_buf_add(&prev, key.buf, key.len), 0);
	}
	ferry_batch_release(&b);
	ferry_buf_release(&prev);
	ferry_buf_release(&key);
	ferry_buf_release(&tok);
	ferry_buf_release(&bound);
	sqlite3_close(db);
}

static void test_malformed_bounds(void **state)
{
	static const char *const bad[] = {
		"", "i1", "x1,i1", "i1,i2,i3", "r123,i1", "tzz,i1", "t6,i1", "i1,r0000000000000000",
		"i,i1", "i1,", ",i1", "i99999999999999999999,i1", "n1,i1", "i1,t61",
	};
	struct ferry_buf o = FERRY_BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_buf_clear(&o);
		if (spill_bound_key(&o, bad[i], 1) != -1)
			fail_msg("bound '%s' was accepted", bad[i]);
	}
	ferry_buf_clear(&o);
	assert_int_equal(spill_bound_key(&o, "n,i7", 1), 0);
	ferry_buf_release(&o);
}

static int collect(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct ferry_batch *all = ud;
	size_t r, i;

	(void)err;
	for (r = 0; r < b->nrows; r++) {
		all->keys[all->nrows] = b->keys[r];
		for (i = 0; i < b->ncols; i++) {
			const struct ferry_cell *c = ferry_batch_cell(b, r, i);
			struct ferry_cell *d = ferry_batch_cell(all, all->nrows, i);

			if (c->kind == FERRY_V_TEXT || c->kind == FERRY_V_BLOB)
				assert_int_equal(ferry_cell_set_bytes(all, d, c->kind,
					ferry_cell_bytes(b, c), c->len), 0);
			else
				*d = *c;
		}
		all->nrows++;
	}
	return 0;
}

/* 6000 rows in runs written to piece 1 of 3, interleaved and reversed in
 * places, text long enough for many blocks: read back in key order. */
static void test_piece_round_trip(void **state)
{
	sqlite3 *db;
	struct spill *sp = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_batch src, out, all;
	struct ferry_buf key = FERRY_BUF_INIT;
	static const int cols[2] = { 0, 1 };
	size_t r, i;
	char *msg = NULL;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	if (sqlite3_exec(db,
		"CREATE TABLE t(id INTEGER PRIMARY KEY, e TEXT, ts, note, raw BLOB);"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) "
		"INSERT INTO t SELECT i, 'sensor.' || (i % 7), CASE WHEN i % 3 THEN i * 0.5 ELSE i / 2 END, "
		"  CASE WHEN i % 11 = 0 THEN NULL ELSE CAST(x'6100' AS TEXT) || printf('%0100d', i) END, "
		"  CASE WHEN i % 5 = 0 THEN x'00ff00' ELSE NULL END FROM n;",
		NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	assert_int_equal(ferry_batch_init(&src, 4, 6000), 0);
	assert_int_equal(ferry_batch_init(&out, 4, 500), 0);
	assert_int_equal(ferry_batch_init(&all, 4, 6000), 0);
	/* runs: rowid order within each half, the halves interleaved by
	 * rows of 250, the second half first */
	load_rows(db, "SELECT id, e, ts, note, raw FROM t ORDER BY (id > 3000) DESC, id / 250 % 2, id", &src);
	assert_int_equal(src.nrows, 6000);
	assert_int_equal(spill_open(&sp, 3, 4, &err), 0);
	for (r = 0; r < src.nrows; r++) {
		ferry_buf_clear(&key);
		assert_int_equal(spill_row_key(&key, &src, r, cols, 2), 0);
		assert_int_equal(spill_add(sp, 1, key.buf, key.len, &src, r, &err), 0);
	}
	assert_int_equal(spill_finish(sp, &err), 0);
	assert_int_equal(spill_emit(sp, 0, &out, 500, 1u << 20, collect, &all, &err), 0);
	assert_int_equal(all.nrows, 0);
	assert_int_equal(spill_emit(sp, 1, &out, 500, 1u << 20, collect, &all, &err), 0);
	assert_int_equal(all.nrows, 6000);
	/* the reference: SQLite's own order, every cell the same */
	ferry_batch_clear(&src);
	load_rows(db, "SELECT id, e, ts, note, raw FROM t ORDER BY e, ts, id", &src);
	for (r = 0; r < src.nrows; r++) {
		assert_int_equal(all.keys[r], src.keys[r]);
		for (i = 0; i < 4; i++) {
			const struct ferry_cell *a = ferry_batch_cell(&all, r, i), *b = ferry_batch_cell(&src, r, i);

			assert_int_equal(a->kind, b->kind);
			if (a->kind == FERRY_V_INT || a->kind == FERRY_V_REAL)
				assert_memory_equal(&a->v, &b->v, 8);
			else if (a->kind != FERRY_V_NULL) {
				assert_int_equal(a->len, b->len);
				assert_memory_equal(ferry_cell_bytes(&all, a), ferry_cell_bytes(&src, b), a->len);
			}
		}
	}
	spill_drop(sp, 1);
	ferry_batch_clear(&all);
	assert_int_equal(spill_emit(sp, 1, &out, 500, 1u << 20, collect, &all, &err), 0);
	assert_int_equal(all.nrows, 0);
	spill_free(sp);
	ferry_batch_release(&src);
	ferry_batch_release(&out);
	ferry_batch_release(&all);
	ferry_buf_release(&key);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_in_sqlite_order),
		cmocka_unit_test(test_malformed_bounds),
		cmocka_unit_test(test_piece_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
