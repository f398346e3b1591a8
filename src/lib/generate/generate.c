/*
 * generate.c - the event stream behind `ferry generate`.
 *
 * Entities are built from the pattern (which kinds report how often) and
 * named like Home Assistant's (sensor.kitchen_power, light.hallway).  Each
 * entity has its own PRNG, seeded from the run seed and its index, and its
 * own next event time; a binary min-heap on (time, index) merges them into
 * one time-ordered stream.  So the stream depends only on the options and
 * the seed, costs O(log entities) per event and O(entities) memory.
 *
 * Values are kept as integer tenths so writers format them with integer
 * arithmetic (printf("%f") would dominate a 10M-row run) and every format
 * prints the same digits.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "gen_int.h"
#include "model/value.h"

/* ------------------------------------------------------------------ PRNG */

uint64_t gen_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void gen_rng_seed(struct gen_rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = gen_splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_next(struct gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double gen_rng_double(struct gen_rng *r)
{
	return (double)(gen_rng_next(r) >> 11) * 0x1.0p-53;
}

int64_t gen_rng_range(struct gen_rng *r, int64_t lo, int64_t hi)
{
	uint64_t span = (uint64_t)(hi - lo) + 1;

	/* Lemire's multiply-shift; the tiny bias is irrelevant here and the
	 * result is still fully deterministic. */
	return lo + (int64_t)(((unsigned __int128)gen_rng_next(r) * span) >> 64);
}

/* -------------------------------------------------------------- entities */

static const struct {
	const char *slug, *name;
	int outdoor;
} rooms[] = {
	{ "living_room", "Living Room", 0 }, { "kitchen", "Kitchen", 0 },
	{ "bedroom", "Bedroom", 0 }, { "office", "Office", 0 },
	{ "bathroom", "Bathroom", 0 }, { "garage", "Garage", 0 },
	{ "hallway", "Hallway", 0 }, { "basement", "Basement", 0 },
	{ "attic", "Attic", 0 }, { "garden", "Garden", 1 },
	{ "laundry", "Laundry", 0 }, { "balcony", "Balcony", 1 },
	/* names that need escaping in line protocol tags */
	{ "loft", "Loft, Upstairs", 0 }, { "rack", "Rack U=42", 0 },
	{ "kids_room", "Kids Room", 0 }, { "dining_room", "Dining Room", 0 },
};
#define NROOMS (sizeof(rooms) / sizeof(rooms[0]))

static const struct {
	const char *domain, *suffix, *name_suffix, *unit, *device_class;
	int numeric;
} kinds[FERRY_GEN_KIND_COUNT] = {
	[FERRY_GEN_POWER] = { "sensor", "_power", " Power", "W", "power", 1 },
	[FERRY_GEN_TEMPERATURE] = { "sensor", "_temperature", " Temperature", "°C",
				    "temperature", 1 },
	[FERRY_GEN_HUMIDITY] = { "sensor", "_humidity", " Humidity", "%", "humidity", 1 },
	[FERRY_GEN_MOTION] = { "binary_sensor", "_motion", " Motion", NULL, "motion", 0 },
	[FERRY_GEN_PLUG] = { "switch", "_plug", " Plug", NULL, "outlet", 0 },
	[FERRY_GEN_LIGHT] = { "light", "", "", NULL, NULL, 0 },
};

/* Which (kind, pattern) the i-th entity gets.  Mixed is a home: of every
 * ten entities two power meters report at high frequency, three climate
 * sensors periodically, an appliance meter and a motion sensor in bursts,
 * and a motion sensor, a plug and a light now and then. */
static void entity_role(int pattern, uint32_t i, int *kind, int *pat)
{
	static const int mixed[10][2] = {
		{ FERRY_GEN_POWER, FERRY_GEN_HIGH_FREQUENCY },
		{ FERRY_GEN_TEMPERATURE, FERRY_GEN_PERIODIC },
		{ FERRY_GEN_MOTION, FERRY_GEN_SPARSE },
		{ FERRY_GEN_HUMIDITY, FERRY_GEN_PERIODIC },
		{ FERRY_GEN_POWER, FERRY_GEN_BURST },
		{ FERRY_GEN_LIGHT, FERRY_GEN_SPARSE },
		{ FERRY_GEN_POWER, FERRY_GEN_HIGH_FREQUENCY },
		{ FERRY_GEN_TEMPERATURE, FERRY_GEN_PERIODIC },
		{ FERRY_GEN_PLUG, FERRY_GEN_SPARSE },
		{ FERRY_GEN_MOTION, FERRY_GEN_BURST },
	};

	*pat = pattern;
	switch (pattern) {
	case FERRY_GEN_HIGH_FREQUENCY:
		*kind = FERRY_GEN_POWER;
		break;
	case FERRY_GEN_PERIODIC:
		*kind = (i % 2) ? FERRY_GEN_HUMIDITY : FERRY_GEN_TEMPERATURE;
		break;
	case FERRY_GEN_BURST:
		*kind = (i % 2) ? FERRY_GEN_MOTION : FERRY_GEN_POWER;
		break;
	case FERRY_GEN_SPARSE:
		*kind = (i % 3) == 0 ? FERRY_GEN_MOTION : (i % 3) == 1 ? FERRY_GEN_PLUG
									   : FERRY_GEN_LIGHT;
		break;
	default:
		*kind = mixed[i % 10][0];
		*pat = mixed[i % 10][1];
		break;
	}
}

/* Name the entity: the k-th of its kind lives in room k % NROOMS; from the
 * second round on the names get "_2", "_3"... so ids stay unique. */
static int entity_name(struct gen_entity *e, int kind, uint32_t k)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t room = k % NROOMS, round = k / NROOMS;
	size_t o_dom, o_obj, o_name, o_id;
	int rc = 0;
	char num[24] = "";

	if (round)
		snprintf(num, sizeof(num), "_%zu", round + 1);
	/* entity_id \0 domain \0 object_id \0 friendly_name \0 */
	o_id = b.len;
	rc |= ferry_buf_addf(&b, "%s.%s%s%s", kinds[kind].domain, rooms[room].slug,
			     kinds[kind].suffix, num);
	rc |= ferry_buf_addch(&b, 0);
	o_dom = b.len;
	rc |= ferry_buf_addstr(&b, kinds[kind].domain);
	rc |= ferry_buf_addch(&b, 0);
	o_obj = b.len;
	rc |= ferry_buf_addf(&b, "%s%s%s", rooms[room].slug, kinds[kind].suffix, num);
	rc |= ferry_buf_addch(&b, 0);
	o_name = b.len;
	rc |= ferry_buf_addf(&b, "%s%s%s%s", rooms[room].name, kinds[kind].name_suffix,
			     round ? " " : "", round ? num + 1 : "");
	if (rc) {
		ferry_buf_release(&b);
		return FERRY_ENOMEM;
	}
	e->strings = ferry_buf_detach(&b, NULL);
	if (!e->strings)
		return FERRY_ENOMEM;
	e->pub.entity_id = e->strings + o_id;
	e->pub.domain = e->strings + o_dom;
	e->pub.object_id = e->strings + o_obj;
	e->pub.friendly_name = e->strings + o_name;
	e->pub.unit = kinds[kind].unit;
	e->pub.device_class = kinds[kind].device_class;
	e->pub.kind = kind;
	e->pub.numeric = kinds[kind].numeric;
	e->outdoor = rooms[room].outdoor;
	return 0;
}

/* {"unit_of_measurement":"W","device_class":"power","friendly_name":"..."} */
static int entity_attrs(struct gen_entity *e)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc = 0;

	rc |= ferry_buf_addch(&b, '{');
	if (e->pub.unit) {
		rc |= ferry_buf_addstr(&b, "\"state_class\":\"measurement\",\"unit_of_measurement\":");
		rc |= ferry_buf_addjson(&b, e->pub.unit, strlen(e->pub.unit));
		rc |= ferry_buf_addch(&b, ',');
	}
	if (e->pub.device_class)
		rc |= ferry_buf_addf(&b, "\"device_class\":\"%s\",", e->pub.device_class);
	rc |= ferry_buf_addstr(&b, "\"friendly_name\":");
	rc |= ferry_buf_addjson(&b, e->pub.friendly_name, strlen(e->pub.friendly_name));
	rc |= ferry_buf_addch(&b, '}');
	if (rc) {
		ferry_buf_release(&b);
		return FERRY_ENOMEM;
	}
	e->attrs_len = (int)b.len;
	e->id_len = (int)strlen(e->pub.entity_id);
	e->attrs_json = ferry_buf_detach(&b, NULL);
	return e->attrs_json ? 0 : FERRY_ENOMEM;
}

/* ------------------------------------------------------ patterns, values */

static int64_t uniform_us(struct gen_rng *r, int64_t lo, int64_t hi)
{
	return gen_rng_range(r, lo, hi);
}

/* The gap before this entity's next event.  Always >= 1 µs, so an entity's
 * timestamps strictly increase. */
static int64_t next_interval(struct gen_entity *e)
{
	struct gen_rng *r = &e->rng;

	switch (e->pub.pattern) {
	case FERRY_GEN_HIGH_FREQUENCY:
		return uniform_us(r, FERRY_GEN_HF_MIN_US, FERRY_GEN_HF_MAX_US);
	case FERRY_GEN_PERIODIC:
		return uniform_us(r, FERRY_GEN_PERIODIC_MIN_US, FERRY_GEN_PERIODIC_MAX_US);
	case FERRY_GEN_BURST:
		if (e->burst_left > 0) {
			e->burst_left--;
			return uniform_us(r, FERRY_GEN_BURST_STEP_MIN_US,
					  FERRY_GEN_BURST_STEP_MAX_US);
		}
		e->burst_left = (int)gen_rng_range(r, 19, 199);
		return uniform_us(r, FERRY_GEN_BURST_IDLE_MIN_US, FERRY_GEN_BURST_IDLE_MAX_US);
	default: {
		/* log-uniform: as many events minutes apart as hours apart */
		double lo = log((double)FERRY_GEN_SPARSE_MIN_US);
		double hi = log((double)FERRY_GEN_SPARSE_MAX_US);
		int64_t v = (int64_t)exp(lo + (hi - lo) * gen_rng_double(r));

		if (v < FERRY_GEN_SPARSE_MIN_US)
			v = FERRY_GEN_SPARSE_MIN_US;
		if (v > FERRY_GEN_SPARSE_MAX_US)
			v = FERRY_GEN_SPARSE_MAX_US;
		return v;
	}
	}
}

/* noise in [-1, 1), triangular (sum of two uniforms) */
static double noise(struct gen_rng *r)
{
	return gen_rng_double(r) + gen_rng_double(r) - 1.0;
}

/* Compute the value of the event at e->next_us. */
static void next_value(struct gen_entity *e)
{
	struct gen_rng *r = &e->rng;
	int64_t sec = e->next_us / 1000000;
	double tod = (double)(((sec % 86400) + 86400) % 86400);
	double day = 2.0 * M_PI / 86400.0, v;

	switch (e->pub.kind) {
	case FERRY_GEN_POWER:
		/* a daily load curve peaking in the evening; an appliance in a
		 * burst draws several times its idle power */
		v = e->base * (1.0 + 0.6 * sin(day * (tod - 36000.0)));
		if (e->pub.pattern == FERRY_GEN_BURST && e->burst_left > 0)
			v = e->base * 4.0;
		v += e->base * 0.08 * noise(r);
		if (v < 0)
			v = 0;
		break;
	case FERRY_GEN_TEMPERATURE:
		if (e->outdoor)
			v = e->base + 7.0 * sin(day * (tod - 32400.0)) + 0.4 * noise(r);
		else
			v = e->base + 1.5 * sin(day * (tod - 28800.0)) + 0.2 * noise(r);
		break;
	case FERRY_GEN_HUMIDITY:
		v = e->base - 8.0 * sin(day * (tod - 32400.0)) + 1.5 * noise(r);
		if (v < 0)
			v = 0;
		if (v > 100)
			v = 100;
		break;
	default:
		e->on = !e->on;
		e->brightness = (e->pub.kind == FERRY_GEN_LIGHT && e->on)
			? (int)gen_rng_range(r, 1, 255) : 0;
		return;
	}
	e->tenths = llround(v * 10.0);
}

/* ------------------------------------------------------------------ heap */

static inline int heap_less(const ferry_gen *g, uint32_t a, uint32_t b)
{
	int64_t ta = g->ents[a].next_us, tb = g->ents[b].next_us;

	return ta < tb || (ta == tb && a < b);
}

static void heap_down(ferry_gen *g, uint32_t i)
{
	uint32_t n = g->nents, *h = g->heap, x = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && heap_less(g, h[c + 1], h[c]))
			c++;
		if (!heap_less(g, h[c], x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* ------------------------------------------------------------ generator */

int ferry_gen_new(ferry_gen **out, const struct ferry_gen_opts *opts,
		  struct ferry_error *err)
{
	ferry_gen *g = NULL;
	uint32_t i, per_kind[FERRY_GEN_KIND_COUNT] = { 0 };
	int rc = 0;

	if (opts->pattern < 0 || opts->pattern >= FERRY_GEN_PATTERN_COUNT) {
		rc = ferry_error_set(err, FERRY_EINVAL, "unknown pattern %d", opts->pattern);
		goto out;
	}
	if (opts->duration_us < 0) {
		rc = ferry_error_set(err, FERRY_EINVAL, "negative duration");
		goto out;
	}
	g = ferry_calloc(1, sizeof(*g));
	if (!g)
		goto oom;
	g->o = *opts;
	g->o.table = NULL;
	g->o.path = NULL;
	g->nents = opts->entities ? opts->entities : 50;
	if (opts->rows) {
		g->limit = opts->rows;
		g->end_us = INT64_MAX;
	} else if (opts->duration_us) {
		g->limit = UINT64_MAX;
		g->end_us = opts->start_us + opts->duration_us;
	} else {
		g->limit = 100000;
		g->end_us = INT64_MAX;
	}
	g->ents = ferry_calloc(g->nents, sizeof(*g->ents));
	g->heap = ferry_calloc(g->nents, sizeof(*g->heap));
	if (!g->ents || !g->heap)
		goto oom;
	for (i = 0; i < g->nents; i++) {
		struct gen_entity *e = &g->ents[i];
		uint64_t s = opts->seed ^ ((uint64_t)(i + 1) * 0xd1342543de82ef95ULL);
		int kind, pat;

		entity_role(opts->pattern, i, &kind, &pat);
		e->pub.pattern = pat;
		if (entity_name(e, kind, per_kind[kind]++) < 0 || entity_attrs(e) < 0)
			goto oom;
		gen_rng_seed(&e->rng, gen_splitmix64(&s));
		switch (kind) {
		case FERRY_GEN_POWER:
			e->base = (double)gen_rng_range(&e->rng, 20, 1500);
			break;
		case FERRY_GEN_TEMPERATURE:
			e->base = e->outdoor ? 6.0 : 19.0 + (double)gen_rng_range(&e->rng, 0, 40) / 10.0;
			break;
		case FERRY_GEN_HUMIDITY:
			e->base = (double)gen_rng_range(&e->rng, 38, 62);
			break;
		default:
			e->on = (int)(gen_rng_next(&e->rng) & 1);
			break;
		}
		/* first event somewhere within one interval after the start, so
		 * entities are not in lockstep */
		e->next_us = opts->start_us + 1 +
			(int64_t)(gen_rng_double(&e->rng) * (double)next_interval(e));
		next_value(e);
		g->heap[i] = i;
	}
	for (i = g->nents / 2; i-- > 0;)
		heap_down(g, i);
	*out = g;
	g = NULL;
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "cannot set up %u entities: out of memory",
			     opts->entities ? opts->entities : 50);
out:
	ferry_gen_free(g);
	return rc;
}

int ferry_gen_next(ferry_gen *g, struct ferry_gen_event *ev)
{
	uint32_t i;
	struct gen_entity *e;

	if (g->emitted >= g->limit)
		return 0;
	i = g->heap[0];
	e = &g->ents[i];
	if (e->next_us >= g->end_us)
		return 0;
	ev->entity = i;
	ev->ts_us = e->next_us;
	if (e->pub.numeric) {
		ev->tenths = e->tenths;
		ev->state = NULL;
		ev->brightness = 0;
	} else {
		ev->tenths = e->on;
		ev->state = e->on ? "on" : "off";
		ev->brightness = e->brightness;
	}
	g->emitted++;
	e->next_us += next_interval(e);
	next_value(e);
	heap_down(g, 0);
	return 1;
}

uint32_t ferry_gen_entity_count(const ferry_gen *g)
{
	return g->nents;
}

const struct ferry_gen_entity *ferry_gen_entity(const ferry_gen *g, uint32_t i)
{
	return i < g->nents ? &g->ents[i].pub : NULL;
}

void ferry_gen_free(ferry_gen *g)
{
	uint32_t i;

	if (!g)
		return;
	if (g->ents)
		for (i = 0; i < g->nents; i++) {
			ferry_free(g->ents[i].strings);
			ferry_free(g->ents[i].attrs_json);
		}
	ferry_free(g->ents);
	ferry_free(g->heap);
	ferry_free(g);
}

/* ---------------------------------------------------------------- names */

static const char *const pattern_names[FERRY_GEN_PATTERN_COUNT] = {
	"high-frequency", "periodic", "burst", "sparse", "mixed"
};
static const char *const format_names[FERRY_GEN_FORMAT_COUNT] = {
	"sqlite", "recorder", "lp", "csv"
};

const char *ferry_gen_pattern_name(int pattern)
{
	return pattern >= 0 && pattern < FERRY_GEN_PATTERN_COUNT ? pattern_names[pattern] : "?";
}

int ferry_gen_pattern_parse(const char *s)
{
	int i;

	for (i = 0; i < FERRY_GEN_PATTERN_COUNT; i++)
		if (!strcmp(s, pattern_names[i]))
			return i;
	return -1;
}

const char *ferry_gen_format_name(int format)
{
	return format >= 0 && format < FERRY_GEN_FORMAT_COUNT ? format_names[format] : "?";
}

int ferry_gen_format_parse(const char *s)
{
	int i;

	for (i = 0; i < FERRY_GEN_FORMAT_COUNT; i++)
		if (!strcmp(s, format_names[i]))
			return i;
	if (!strcmp(s, "line-protocol"))
		return FERRY_GEN_LP;
	return -1;
}

/* model's one duration parser, in its decimal mode (fractions, "min",
 * "y", microseconds out): the grammar `ferry generate --duration` has
 * always taken. */
int ferry_gen_parse_duration(const char *s, int64_t *us)
{
	if (!s)
		return FERRY_EINVAL;
	return val_parse_duration_mode(s, strlen(s), VAL_DUR_DECIMAL, us);
}

/*
 * --start keeps its own grammar: it is sscanf's (one-digit fields, a
 * leading '+', seconds required after HH:MM, any number of fraction
 * digits truncated to six, an offset only as +HH:MM with any hour, day 31
 * in any month rolling over, second 60), which differs from
 * val_parse_timestamp() in both directions, and that parser is the copy's
 * per-cell hot path, so it takes no leniency flags.  The calendar is
 * model's val_days_from_civil() (it rolls a day past the month's end over
 * exactly as timegm() did).
 */
int ferry_gen_parse_time(const char *s, int64_t *us)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, frac_digits = 0, oh = 0, om = 0;
	int64_t frac = 0, t;
	const char *p;
	char *end;

	/* plain epoch seconds */
	errno = 0;
	t = strtoll(s, &end, 10);
	if (*s && !*end && !errno) {
		if (t < -62135596800LL || t > 253402300799LL)
			return FERRY_EINVAL;
		*us = t * 1000000;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return FERRY_EINVAL;
	p = s + n;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3)
			return FERRY_EINVAL;
		p += 1 + n;
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++)
				if (frac_digits < 6)
					frac = frac * 10 + (*p - '0');
			if (!frac_digits)
				return FERRY_EINVAL;
			for (n = frac_digits; n < 6; n++)
				frac *= 10;
		}
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2)
			return FERRY_EINVAL;
		p += 1 + n;
		oh *= sign;
		om *= sign;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return FERRY_EINVAL;
	t = val_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600LL + mi * 60LL +
	    sec - (int64_t)oh * 3600 - (int64_t)om * 60;
	*us = t * 1000000 + frac;
	return 0;
}

/* ---------------------------------------------------------------- driver */

int ferry_generate(const struct ferry_gen_opts *opts, struct ferry_gen_result *res,
		   struct ferry_error *err)
{
	struct gen_out w;
	double t0 = ferry_now();
	uint64_t total;
	int rc;

	memset(&w, 0, sizeof(w));
	w.o = opts;
	if (!opts->path || !*opts->path) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "no output path; give -o PATH (or -o - for stdout)");
		goto out;
	}
	if (!strcmp(opts->path, "-") &&
	    (opts->format == FERRY_GEN_SQLITE || opts->format == FERRY_GEN_RECORDER)) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "cannot write format '%s' to stdout; give -o FILE.db",
				     ferry_gen_format_name(opts->format));
		goto out;
	}
	rc = ferry_gen_new(&w.g, opts, err);
	if (rc < 0)
		goto out;
	total = w.g->limit != UINT64_MAX ? w.g->limit : 0;
	w.progress = ferry_progress_new(opts->progress_out ? opts->progress_out : stderr,
					opts->progress_mode, "generate", total);
	if (!w.progress) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	switch (opts->format) {
	case FERRY_GEN_SQLITE: rc = gen_write_sqlite(&w, err); break;
	case FERRY_GEN_RECORDER: rc = gen_write_recorder(&w, err); break;
	case FERRY_GEN_LP: rc = gen_write_lp(&w, err); break;
	case FERRY_GEN_CSV: rc = gen_write_csv(&w, err); break;
	default:
		rc = ferry_error_set(err, FERRY_EINVAL, "unknown format %d", opts->format);
		break;
	}
	if (rc < 0)
		goto out;
	ferry_progress_done(w.progress);
	if (res) {
		res->rows = w.rows;
		res->bytes = w.bytes;
		res->seconds = ferry_now() - t0;
	}
out:
	ferry_progress_free(w.progress);
	ferry_gen_free(w.g);
	return rc;
}
