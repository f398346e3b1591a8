/*
 * test_connectors.c - unit tests for src/lib/connectors helpers that need
 * no server: the text[] literal of a parameter (ferry_pg_array_add).
 * PostgreSQL parsing such literals is covered by cutover_steps.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/buf.h"
#include "ferry/connector.h"

static void array_literal(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	(void)state;
	assert_int_equal(ferry_pg_array_end(&b), 0);
	assert_string_equal(b.buf, "{}");
	ferry_buf_clear(&b);
	assert_int_equal(ferry_pg_array_add(&b, "W", 1), 0);
	assert_string_equal(b.buf, "{\"W\"");
	assert_int_equal(ferry_pg_array_add(&b, "q\"u\\o{,}", 8), 0);
	assert_int_equal(ferry_pg_array_add(&b, "", 0), 0);
	assert_int_equal(ferry_pg_array_add(&b, "NULL", 4), 0);   /* quoted: the text */
	assert_int_equal(ferry_pg_array_end(&b), 0);
	assert_string_equal(b.buf, "{\"W\",\"q\\\"u\\\\o{,}\",\"\",\"NULL\"}");
	ferry_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(array_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
