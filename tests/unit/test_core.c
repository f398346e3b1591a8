/*
 * test_core.c - unit tests for src/lib/core: buffer, errors, allocator
 * fault injection, URL parsing and password redaction.
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

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/size.h"
#include "ferry/url.h"

static void buf_basics(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	(void)state;
	assert_non_null(b.buf);
	assert_string_equal(b.buf, "");
	assert_int_equal(ferry_buf_addf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.buf, "42-x");
	assert_int_equal(ferry_buf_add(&b, "\0z", 2), 0);
	assert_int_equal(b.len, 6);
	assert_int_equal(b.buf[6], '\0');
	ferry_buf_clear(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
	ferry_buf_release(&b);
	assert_ptr_equal(b.buf, ferry_buf_empty);
}

/* Appending a part of a buffer to itself: the grow may move the bytes
 * being copied (the fuzzer found this in relay/telemetry.c). */
static void buf_add_self(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int i;

	(void)state;
	assert_int_equal(ferry_buf_addstr(&b, "data.key"), 0);
	for (i = 0; i < 12; i++)  /* doubles each time: many reallocs */
		assert_int_equal(ferry_buf_add(&b, b.buf, b.len), 0);
	assert_int_equal(b.len, 8u << 12);
	for (i = 0; i < (int)b.len; i += 8)
		assert_memory_equal(b.buf + i, "data.key", 8);
	assert_int_equal(b.buf[b.len], '\0');
	ferry_buf_release(&b);
}

static void buf_read_file(void **state)
{
	char dir[] = "/tmp/ferry-buf-XXXXXX", path[64];
	struct ferry_buf b = FERRY_BUF_INIT;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_non_null(f = fopen(path, "wb"));
	fputs("abc\ndef", f);
	fclose(f);
	assert_int_equal(ferry_buf_addstr(&b, ">"), 0);
	assert_int_equal(ferry_buf_read_file(&b, path), 0);      /* appends */
	assert_string_equal(b.buf, ">abc\ndef");
	ferry_buf_release(&b);
	ferry_buf_init(&b, 4);                                    /* over the cap */
	assert_int_equal(ferry_buf_read_file(&b, path), FERRY_ETOOBIG);
	ferry_buf_release(&b);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(ferry_buf_read_file(&b, path), FERRY_ENOTFOUND);
	assert_int_equal(ferry_buf_read_file(&b, dir), FERRY_EIO);  /* a directory: EISDIR */
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
}

static void buf_cap(void **state)
{
	struct ferry_buf b;

	(void)state;
	ferry_buf_init(&b, 4);
	assert_int_equal(ferry_buf_addstr(&b, "abcd"), 0);
	assert_int_equal(ferry_buf_addstr(&b, "e"), FERRY_ETOOBIG);
	assert_string_equal(b.buf, "abcd");
	ferry_buf_release(&b);
}

/* The first failure sticks: later adds, even ones that would fit, do
 * nothing and report it, so one check at the end of a run of adds is
 * enough; clearing the buffer forgets it. */
static void buf_sticky(void **state)
{
	struct ferry_buf b;

	(void)state;
	ferry_buf_init(&b, 4);
	assert_int_equal(ferry_buf_addstr(&b, "abc"), 0);
	assert_int_equal(ferry_buf_error(&b), 0);
	assert_int_equal(ferry_buf_addstr(&b, "de"), FERRY_ETOOBIG);
	assert_int_equal(ferry_buf_addch(&b, 'x'), FERRY_ETOOBIG);
	assert_int_equal(ferry_buf_addf(&b, "%s", ""), FERRY_ETOOBIG);
	assert_int_equal(ferry_buf_add(&b, "", 0), FERRY_ETOOBIG);
	assert_string_equal(b.buf, "abc");
	assert_int_equal(ferry_buf_error(&b), FERRY_ETOOBIG);
	ferry_buf_clear(&b);
	assert_int_equal(ferry_buf_error(&b), 0);
	assert_int_equal(ferry_buf_addstr(&b, "ok"), 0);
	assert_string_equal(b.buf, "ok");
	ferry_buf_release(&b);

	ferry_buf_init(&b, 0);
	ferry_alloc_fail_after(1);
	assert_int_equal(ferry_buf_addstr(&b, "hello"), FERRY_ENOMEM);
	ferry_alloc_fail_after(0);
	assert_int_equal(ferry_buf_addstr(&b, "world"), FERRY_ENOMEM);
	assert_int_equal(ferry_buf_error(&b), FERRY_ENOMEM);
	ferry_buf_release(&b);
	assert_int_equal(ferry_buf_addstr(&b, "again"), 0);
	ferry_buf_release(&b);
}

static void buf_encodings(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	(void)state;
	assert_int_equal(ferry_buf_addbase64(&b, "ferry", 5), 0);
	assert_string_equal(b.buf, "ZmVycnk=");
	ferry_buf_clear(&b);
	assert_int_equal(ferry_buf_addjson(&b, "a\"b\\c\n\x01", 7), 0);
	assert_string_equal(b.buf, "\"a\\\"b\\\\c\\u000a\\u0001\"");
	ferry_buf_clear(&b);
	assert_int_equal(ferry_buf_addbe32(&b, 0x01020304u), 0);
	assert_memory_equal(b.buf, "\x01\x02\x03\x04", 4);
	ferry_buf_release(&b);
}

static void alloc_faults(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc;

	(void)state;
	ferry_alloc_fail_after(1);
	rc = ferry_buf_addstr(&b, "hello");
	ferry_alloc_fail_after(0);
	assert_int_equal(rc, FERRY_ENOMEM);
	assert_string_equal(b.buf, "");
	ferry_buf_release(&b);
}

static void error_messages(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	assert_int_equal(ferry_error_set(&err, FERRY_EIO, "cannot open '%s'", "x"),
			 FERRY_EIO);
	ferry_error_prefix(&err, "cannot copy table '%s'", "states");
	assert_string_equal(err.msg, "cannot copy table 'states': cannot open 'x'");
	assert_string_equal(ferry_strerror(FERRY_ENOMEM), "out of memory");
}

static void url_parse_forms(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_url *u;

	(void)state;
	assert_int_equal(ferry_url_parse("postgres://bob:s%40cret@db.local:5433/ha?sslmode=disable",
					 &u, &err), 0);
	assert_string_equal(u->scheme, "postgres");
	assert_string_equal(u->user, "bob");
	assert_string_equal(u->password, "s@cret");
	assert_string_equal(u->host, "db.local");
	assert_int_equal(u->port, 5433);
	assert_string_equal(u->path, "ha");
	assert_string_equal(ferry_url_param(u, "sslmode"), "disable");
	ferry_url_free(u);

	assert_int_equal(ferry_url_parse("sqlite:///abs/home.db", &u, &err), 0);
	assert_string_equal(u->path, "/abs/home.db");
	assert_null(u->host);
	ferry_url_free(u);

	assert_int_equal(ferry_url_parse("sqlite:rel/home.db", &u, &err), 0);
	assert_string_equal(u->path, "rel/home.db");
	ferry_url_free(u);

	assert_int_equal(ferry_url_parse("/no/scheme", &u, &err), FERRY_EPARSE);
	assert_int_equal(ferry_url_parse("postgres://h:99999/db", &u, &err),
			 FERRY_EPARSE);
}

static void redact(const char *in, const char *want)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	assert_int_equal(ferry_url_redact(in, &b), 0);
	assert_string_equal(b.buf, want);
	ferry_buf_release(&b);
}

/* libpq keyword/value strings: the README accepts them as endpoints */
static void url_parse_conninfo(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_url *u;

	(void)state;
	assert_int_equal(ferry_url_parse("host=db port=5433 user=bob password='a b\\'c' dbname=ha sslmode=disable",
					 &u, &err), 0);
	assert_string_equal(u->scheme, "postgres");
	assert_string_equal(u->host, "db");
	assert_int_equal(u->port, 5433);
	assert_string_equal(u->user, "bob");
	assert_string_equal(u->password, "a b'c");
	assert_string_equal(u->path, "ha");
	/* libpq reads the string itself: kept as given */
	assert_string_equal(u->raw, "host=db port=5433 user=bob password='a b\\'c' dbname=ha sslmode=disable");
	ferry_url_free(u);
	assert_int_equal(ferry_url_parse("  dbname = app", &u, &err), 0);
	assert_string_equal(u->path, "app");
	assert_null(u->host);
	ferry_url_free(u);
	assert_int_equal(ferry_url_parse("host=db dbname", &u, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "'dbname' has no '=value'"));
	assert_int_equal(ferry_url_parse("host=db password='open", &u, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "unterminated"));
	assert_null(strstr(err.msg, "open"));  /* never the password */
}

static void url_redaction(void **state)
{
	(void)state;
	redact("postgres://bob:hunter2@h/db", "postgres://bob:***@h/db");
	redact("influx://h:8086/db?u=x&p=hunter2&rp=a",
	       "influx://h:8086/db?u=x&p=***&rp=a");
	redact("host=h password=hunter2 dbname=x", "host=h password=*** dbname=x");
	redact("host=h password='hun ter2' dbname=x", "host=h password=*** dbname=x");
	redact("cannot connect to 'postgres://a:b@c/d': refused",
	       "cannot connect to 'postgres://a:***@c/d': refused");
	redact("postgres://bob@h/db", "postgres://bob@h/db");
	redact("sqlite:///tmp/x.db", "sqlite:///tmp/x.db");
}

/* sizes (size.h): the units of influxd's max-body-size and of
 * --chunk-bytes, and what overflows or is not a size */
static void size_parse(void **state)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "25000000", 25000000 }, { "25MB", 25000000 }, { "1GiB", 1073741824ULL },
		{ "64M", 64ULL << 20 }, { "512k", 524288 }, { "10kB", 10000 },
		{ "2GB", 2000000000ULL }, { "3 MiB", 3ULL << 20 }, { "100B", 100 },
		{ "1TiB", 1ULL << 40 },
	};
	static const char *const bad[] = {
		"", "MB", "-1", "1.5GB", "10XB", "25mb", "1 GiB extra", " 5",
		"99999999999999999999", "20000000TB", "18446744073709551615K",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 0;
		if (ferry_size_parse(good[i].s, &v) != 0 || v != good[i].v)
			fail_msg("'%s' gave %llu", good[i].s, (unsigned long long)v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ferry_size_parse(bad[i], &v) != FERRY_EUSAGE)
			fail_msg("'%s' was taken", bad[i]);
	assert_int_equal(ferry_size_parse(NULL, &v), FERRY_EUSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_basics),
		cmocka_unit_test(buf_add_self),
		cmocka_unit_test(buf_cap),
		cmocka_unit_test(buf_read_file),
		cmocka_unit_test(buf_sticky),
		cmocka_unit_test(buf_encodings),
		cmocka_unit_test(alloc_faults),
		cmocka_unit_test(error_messages),
		cmocka_unit_test(url_parse_forms),
		cmocka_unit_test(url_parse_conninfo),
		cmocka_unit_test(url_redaction),
		cmocka_unit_test(size_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
