/*
 * test_copy_oom.c - copy's SQL and reject lines under allocation failure
 * (src/lib/copy/planner.c, rejects.c).  Each builder runs with the n-th
 * allocation failing, for every n until one run needs no failing
 * allocation: a run either returns FERRY_ENOMEM or succeeds with exactly
 * the text of a run without fault injection, never a statement or a line
 * cut short (which would then run in the target or land in a file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "copy/copy_int.h"
#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/model.h"

/* ---- fixture: a table with a key, a unique, an index and a foreign key -- */

static char *idx_id[] = { "id" };
static char *idx_entity[] = { "entity\"id" };
static char *idx_expr_cols[] = { "entity\"id", NULL };
static char *idx_expr_exprs[] = { NULL, "lower([state])" };
static int idx_expr_desc[] = { 0, 1 };
static char *fk_from[] = { "old_state_id" };
static char *fk_to[] = { "id" };

static struct ferry_column src_cols[] = {
	{ .name = "id", .pk_pos = 1 },
	{ .name = "entity\"id" },
	{ .name = "state" },
	{ .name = "old_state_id" },
};

static struct ferry_index src_idx[] = {
	{ .name = "states_entity_key", .unique = 1, .origin = 'u', .nparts = 1,
	  .cols = idx_entity },
	{ .name = "ix_states_entity_state", .nparts = 2, .cols = idx_expr_cols,
	  .exprs = idx_expr_exprs, .desc = idx_expr_desc, .where = "[state] <> 'it''s'" },
	{ .name = "ix_states_id", .unique = 1, .origin = 'c', .nparts = 1, .cols = idx_id },
};

static struct ferry_fk src_fks[] = {
	{ .ncols = 1, .from = fk_from, .ref_table = "states", .to = fk_to,
	  .on_delete = "CASCADE" },
};

static struct ferry_table src_table = {
	.name = "states", .cols = src_cols, .ncols = 4, .rowid_alias = 0,
	.idx = src_idx, .nidx = 3, .fks = src_fks, .nfks = 1,
};

static struct col_plan plan_cols[] = {
	{ .src_name = "id", .dst_name = "id", .type = FERRY_T_INT64, .type_sql = "bigint",
	  .notnull = 1, .typmod = -1 },
	{ .src_name = "entity\"id", .dst_name = "entity\"id", .type = FERRY_T_TEXT,
	  .type_sql = "text", .typmod = -1, .default_sql = "'sensor.o''clock'" },
	{ .src_name = "state", .dst_name = "state", .type = FERRY_T_TEXT, .type_sql = "text",
	  .typmod = -1 },
	{ .src_name = "old_state_id", .dst_name = "old_state_id", .type = FERRY_T_INT64,
	  .type_sql = "bigint", .typmod = -1 },
};

/* loaded in the order of ix_states_id: post_run's p->at finds its build */
static struct table_plan table = {
	.src = &src_table, .dst_name = "states", .cols = plan_cols, .ncols = 4,
	.order = "ix_states_id",
};

/* The statements of one plan_ddl_post_load run. */
struct post {
	struct plan pl;
	struct strv keys, idx, attach, fks, checks;
	size_t at;
};

static int post_run(struct post *p)
{
	memset(p, 0, sizeof(*p));
	p->pl.tables = &table;
	p->pl.ntables = 1;
	return plan_ddl_post_load(&p->pl, &table, "my\"schema", &p->keys, &p->idx,
				  &p->attach, &p->fks, &p->checks, &p->at);
}

static void post_release(struct post *p)
{
	plan_strv_release(&p->keys);
	plan_strv_release(&p->idx);
	plan_strv_release(&p->attach);
	plan_strv_release(&p->fks);
	plan_strv_release(&p->checks);
	plan_strv_release(&p->pl.warnings);
	plan_strv_release(&p->pl.renames);
	plan_strv_release(&p->pl.keynames);
}

static void assert_same_list(const struct strv *got, const struct strv *want)
{
	size_t i;

	assert_int_equal(got->n, want->n);
	for (i = 0; i < want->n; i++) {
		assert_non_null(got->v[i]);
		assert_string_equal(got->v[i], want->v[i]);
	}
}

/* ---- tests ------------------------------------------------------------ */

static void create_table_never_cut(void **state)
{
	struct ferry_buf ref = FERRY_BUF_INIT;
	long n;
	int rc, failed = 0, done = 0;

	(void)state;
	assert_int_equal(plan_ddl_create_table(NULL, &table, "my\"schema", &ref), 0);
	assert_string_equal(ref.buf, "CREATE TABLE \"my\"\"schema\".\"states\" (\n"
			    "  \"id\" bigint NOT NULL,\n"
			    "  \"entity\"\"id\" text DEFAULT 'sensor.o''clock',\n"
			    "  \"state\" text,\n"
			    "  \"old_state_id\" bigint\n)");
	for (n = 1; n < 200 && !done; n++) {
		struct ferry_buf b = FERRY_BUF_INIT;

		ferry_alloc_fail_after(n);
		rc = plan_ddl_create_table(NULL, &table, "my\"schema", &b);
		ferry_alloc_fail_after(0);
		if (rc == 0) {
			assert_string_equal(b.buf, ref.buf);
			done = 1;
		} else {
			assert_int_equal(rc, FERRY_ENOMEM);
			failed++;
		}
		ferry_buf_release(&b);
	}
	assert_true(done);
	assert_true(failed > 0);
	ferry_buf_release(&ref);
}

/*
 * The post-load statements: before every add's result was used, a failed
 * add still returned 0 and left the lists with statements cut short (or
 * missing), which became steps of the job and ran in the target.
 */
static void post_load_never_cut(void **state)
{
	struct post ref, p;
	long n;
	int rc, failed = 0, done = 0;

	(void)state;
	assert_int_equal(post_run(&ref), 0);
	assert_int_equal(ref.keys.n, 2);    /* pkey, the unique key */
	assert_int_equal(ref.idx.n, 2);
	assert_int_equal(ref.attach.n, 2);
	assert_int_equal(ref.fks.n, 1);
	assert_string_equal(ref.fks.v[0], "ALTER TABLE \"my\"\"schema\".\"states\" ADD CONSTRAINT "
			    "\"states_old_state_id_fkey\" FOREIGN KEY "
			    "(\"old_state_id\") REFERENCES \"my\"\"schema\".\"states\" (\"id\") "
			    "ON DELETE CASCADE NOT VALID");
	assert_int_equal(ref.checks.n, 1);
	assert_string_equal(ref.checks.v[0], "ALTER TABLE \"my\"\"schema\".\"states\" VALIDATE "
			    "CONSTRAINT \"states_old_state_id_fkey\"");
	assert_string_equal(ref.idx.v[0], "CREATE INDEX \"ix_states_entity_state\" ON "
			    "\"my\"\"schema\".\"states\" (\"entity\"\"id\", (lower(\"state\")) DESC)"
			    " WHERE \"state\" <> 'it''s'");
	assert_int_equal(ref.at, 1);
	assert_string_equal(ref.idx.v[1], "CREATE UNIQUE INDEX \"ix_states_id\" ON "
			    "\"my\"\"schema\".\"states\" (\"id\")");
	/* no order, or a unique key's (built among the keys): none */
	table.order = NULL;
	assert_int_equal(post_run(&p), 0);
	assert_true(p.at == SIZE_MAX);
	post_release(&p);
	table.order = "states_entity_key";
	assert_int_equal(post_run(&p), 0);
	assert_true(p.at == SIZE_MAX);
	post_release(&p);
	table.order = "ix_states_id";
	for (n = 1; n < 2000 && !done; n++) {
		ferry_alloc_fail_after(n);
		rc = post_run(&p);
		ferry_alloc_fail_after(0);
		if (rc == 0) {
			assert_same_list(&p.keys, &ref.keys);
			assert_same_list(&p.idx, &ref.idx);
			assert_same_list(&p.attach, &ref.attach);
			assert_same_list(&p.fks, &ref.fks);
			assert_same_list(&p.checks, &ref.checks);
			assert_int_equal(p.at, ref.at);
			done = 1;
		} else {
			assert_int_equal(rc, FERRY_ENOMEM);
			failed++;
		}
		post_release(&p);
	}
	assert_true(done);
	assert_true(failed > 10);
	post_release(&ref);
}

/* A reject line goes whole into the chunk's buffer, or not at all. */
static void reject_line_never_cut(void **state)
{
	static const unsigned char value[] = { 0x00, 0xff, 'a', '"', '\n' };
	struct ferry_buf ref = FERRY_BUF_INIT;
	long n;
	int rc, failed = 0, done = 0;

	(void)state;
	{
		struct rejects r;
		struct ferry_error err = FERRY_ERROR_INIT;

		assert_int_equal(rej_init(&r, "/nonexistent", NULL), 0);
		r.mem = &ref;
		assert_int_equal(rej_add(&r, "states", "{\"rowid\":7}", "entity\"id",
					 "text \"x\" is not UTF-8", FERRY_V_BLOB, value,
					 sizeof(value), &err), 0);
		rej_release(&r);
	}
	assert_string_equal(ref.buf, "{\"table\":\"states\",\"key\":{\"rowid\":7},"
			    "\"column\":\"entity\\\"id\",\"reason\":\"text \\\"x\\\" is not UTF-8\","
			    "\"storage_class\":\"blob\",\"value_base64\":\"AP9hIgo=\"}\n");
	for (n = 1; n < 200 && !done; n++) {
		struct ferry_buf mem = FERRY_BUF_INIT;
		struct ferry_error err = FERRY_ERROR_INIT;
		struct rejects r;

		assert_int_equal(rej_init(&r, "/nonexistent", NULL), 0);
		r.mem = &mem;
		ferry_alloc_fail_after(n);
		rc = rej_add(&r, "states", "{\"rowid\":7}", "entity\"id",
			     "text \"x\" is not UTF-8", FERRY_V_BLOB, value, sizeof(value), &err);
		ferry_alloc_fail_after(0);
		if (rc == 0) {
			assert_string_equal(mem.buf, ref.buf);
			assert_int_equal(r.count, 1);
			done = 1;
		} else {
			assert_int_equal(rc, FERRY_ENOMEM);
			assert_int_equal(mem.len, 0);
			assert_int_equal(r.count, 0);
			failed++;
		}
		rej_release(&r);
		ferry_buf_release(&mem);
	}
	assert_true(done);
	assert_true(failed > 0);
	ferry_buf_release(&ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_table_never_cut),
		cmocka_unit_test(post_load_never_cut),
		cmocka_unit_test(reject_line_never_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
