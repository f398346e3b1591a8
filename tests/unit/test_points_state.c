/*
 * test_points_state.c - the done-chunk log of a copy into a point store
 * (src/lib/copy/points_state.c): a new log has no done chunk; marked
 * chunks and the largest offset come back when it is opened again with
 * the same fingerprint; a line cut short by a crash is not a done chunk
 * (and is cut off, so the next mark starts a whole line); another
 * fingerprint or chunk count is refused naming the job and --restart;
 * --restart starts over; a file that is no log is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "copy/points_int.h"
#include "ferry/buf.h"

static char path[256];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(path, sizeof(path), "%s/ferry-pst-%ld.state", tmp && *tmp ? tmp : "/tmp",
		 (long)getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void append(const char *text)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_new_mark_reopen(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct pstate s;

	(void)state;
	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), 0);
	assert_int_equal(s.ndone, 0);
	assert_int_equal(s.resumed, 0);
	assert_int_equal(copy_pst_mark(&s, 3, 100, &err), 0);
	assert_int_equal(copy_pst_mark(&s, 0, 40, &err), 0);
	copy_pst_close(&s);

	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), 0);
	assert_int_equal(s.ndone, 2);
	assert_int_equal(s.resumed, 1);
	assert_true(s.done[0] && s.done[3]);
	assert_false(s.done[1] || s.done[2] || s.done[4]);
	assert_int_equal(s.offset, 100);
	copy_pst_close(&s);
}

static void test_torn_line(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct pstate s;

	(void)state;
	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), 0);
	assert_int_equal(copy_pst_mark(&s, 1, 10, &err), 0);
	copy_pst_close(&s);
	append("{\"done\":2,\"off");   /* a crash in the middle of the write */
	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), 0);
	assert_int_equal(s.ndone, 1);
	assert_false(s.done[2]);
	assert_int_equal(copy_pst_mark(&s, 4, 30, &err), 0);
	copy_pst_close(&s);
	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), 0);
	assert_int_equal(s.ndone, 2);
	assert_true(s.done[1] && s.done[4]);
	assert_int_equal(s.offset, 30);
	copy_pst_close(&s);
}

static void test_other_job(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct pstate s;

	(void)state;
	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), 0);
	assert_int_equal(copy_pst_mark(&s, 1, 0, &err), 0);
	copy_pst_close(&s);
	assert_int_equal(copy_pst_open(&s, path, "fp2", 5, 0, "myjob", &err), FERRY_EUSAGE);
	assert_non_null(strstr(err.msg, "job 'myjob'"));
	assert_non_null(strstr(err.msg, "--restart"));
	copy_pst_close(&s);
	assert_int_equal(copy_pst_open(&s, path, "fp1", 6, 0, "job", &err), FERRY_EUSAGE);
	copy_pst_close(&s);
	/* --restart: a new log */
	assert_int_equal(copy_pst_open(&s, path, "fp2", 5, 1, "job", &err), 0);
	assert_int_equal(s.ndone, 0);
	copy_pst_close(&s);
	assert_int_equal(copy_pst_open(&s, path, "fp2", 5, 0, "job", &err), 0);
	assert_int_equal(s.ndone, 0);
	copy_pst_close(&s);
}

static void test_not_a_log(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct pstate s;

	(void)state;
	append("{\"some\": \"json\"}\n");
	assert_int_equal(copy_pst_open(&s, path, "fp1", 5, 0, "job", &err), FERRY_EUSAGE);
	assert_non_null(strstr(err.msg, "not a ferry state file"));
	copy_pst_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_mark_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
