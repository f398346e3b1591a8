/*
 * fuzz_migrate.c - migration file names, transition folder names,
 * dbmate sections, the SQL statement splitter and the lint.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "migrate/mig_int.h"

static int count_stmt(const char *stmt, size_t n, void *ud)
{
	(void)stmt;
	(void)n;
	(*(size_t *)ud)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf norm = FERRY_BUF_INIT, warn = FERRY_BUF_INIT;
	char *s = ferry_strndup((const char *)data, n), *name = NULL, *from = NULL, *to = NULL;
	char *up = NULL, *down = NULL;
	const char *ext;
	uint64_t num;
	size_t stmts = 0;
	int no_tx;

	if (!s)
		return 0;
	if (mig_parse_filename(s, &num, &name, &ext) == 0)
		ferry_free(name);
	if (mig_parse_transition(s, &from, &to) == 0) {
		ferry_free(from);
		ferry_free(to);
	}
	mig_semver_cmp(s, "v1.2.3");
	mig_normalize(s, n, &norm);
	if (mig_split_sections(s, &up, &down, &no_tx, &err) == 0) {
		ferry_free(up);
		ferry_free(down);
	}
	mig_sql_split(s, count_stmt, &stmts);
	mig_sql_lint(s, &warn);
	ferry_buf_release(&norm);
	ferry_buf_release(&warn);
	ferry_free(s);
	return 0;
}
