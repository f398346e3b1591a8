/*
 * test_relay_waves.c - a gradual cutover's waves in the relay (waves.c):
 * the selectors checked, a point in the first wave that matches it (a
 * measurement glob or TAG=GLOB on the client's escaped names), the rest
 * last, and a write split by its waves' phases line by line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/relay_int.h"

static void test_selectors(void **state)
{
	char why[160];

	(void)state;
	assert_int_equal(relay_wave_sel_check("W", why, sizeof(why)), 0);
	assert_int_equal(relay_wave_sel_check("entity_id=sensor.*", why, sizeof(why)), 0);
	assert_int_equal(relay_wave_sel_check("", why, sizeof(why)), -1);
	assert_string_equal(why, "an empty selector");
	assert_int_equal(relay_wave_sel_check("=x", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "names no tag"));
	assert_int_equal(relay_wave_sel_check("entity_id=", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "TAG=*"));
}

/* waves: [entity_id=sensor.live_[0-4]] [W, k*] [rest] with phases np, dual, dual */
static struct relay_waves *three(void)
{
	struct relay_waves *ws = ferry_calloc(1, sizeof(*ws));

	assert_non_null(ws);
	assert_int_equal(relay_waves_add(ws, "live", "[\"entity_id=sensor.live_[0-4]\"]",
					 FERRY_PHASE_NEW_PRIMARY), 0);
	assert_int_equal(relay_waves_add(ws, "power", "[\"W\", \"k*\"]", FERRY_PHASE_DUAL), 0);
	assert_int_equal(relay_waves_add(ws, "rest", "[]", FERRY_PHASE_DUAL), 0);
	return ws;
}

static size_t wave_of(const struct relay_waves *ws, const char *line)
{
	struct lp_scratch scr;
	struct lp_point pt;
	const char *why;
	size_t w;

	lp_scratch_init(&scr);
	assert_int_equal(lp_parse_line(line, strlen(line), &pt, &scr, &why), LP_POINT);
	w = relay_waves_of(ws, &pt);
	lp_scratch_release(&scr);
	return w;
}

static void test_match(void **state)
{
	struct relay_waves *ws = three();
	char sig[64];

	(void)state;
	/* the first wave that matches: a live series of W is wave 1 */
	assert_int_equal(wave_of(ws, "W,entity_id=sensor.live_3 value=1 1"), 0);
	assert_int_equal(wave_of(ws, "W,entity_id=sensor.live_7 value=1 1"), 1);
	assert_int_equal(wave_of(ws, "kWh,entity_id=meter value=1 1"), 1);
	/* the tag's value unescaped; another tag of the same value is not it */
	assert_int_equal(wave_of(ws, "°C,entity_id=sensor.live_1,x=y value=1 1"), 0);
	assert_int_equal(wave_of(ws, "°C,other=sensor.live_1 value=1 1"), 2);
	assert_int_equal(wave_of(ws, "°C value=1 1"), 2);
	assert_int_equal(wave_of(ws, "Wh value=1 1"), 2);
	relay_waves_sig(ws, sig, sizeof(sig));
	assert_string_equal(sig, "new-primary,dual,dual");
	relay_waves_sig(NULL, sig, sizeof(sig));
	assert_string_equal(sig, "");
	relay_waves_free(ws);
}

static void expect(const struct ferry_buf *b, const char *want)
{
	assert_int_equal(b->len, strlen(want));
	assert_memory_equal(b->buf, want, b->len);
}

static void test_split(void **state)
{
	static const char lp[] =
		"W,entity_id=sensor.live_0 value=1 1\n"
		"W,entity_id=sensor.live_9 value=2 1\n"
		"W,entity_id=sensor.live_4 note=\"two\nlines\" 2\n"
		"°C,entity_id=x value=3 1\n";
	struct relay_waves *ws = three();
	struct relay_wave_split sp;

	(void)state;
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(relay_waves_split(ws, lp, sizeof(lp) - 1, &sp), 0);
	assert_int_equal(sp.npoints[1], 2);
	assert_int_equal(sp.npoints[0], 2);
	assert_int_equal(sp.waves[1], 1u);
	assert_int_equal(sp.waves[0], 6u);
	expect(&sp.lp[1], "W,entity_id=sensor.live_0 value=1 1\n"
	       "W,entity_id=sensor.live_4 note=\"two\nlines\" 2\n");
	expect(&sp.lp[0], "W,entity_id=sensor.live_9 value=2 1\n°C,entity_id=x value=3 1\n");
	ferry_buf_release(&sp.lp[0]);
	ferry_buf_release(&sp.lp[1]);
	/* a bad selector list is refused */
	assert_int_equal(relay_waves_add(ws, "bad", "{\"x\": 1}", FERRY_PHASE_DUAL), -1);
	relay_waves_free(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
