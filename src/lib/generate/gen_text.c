/*
 * gen_text.c - ferry generate's text formats: InfluxDB line protocol the
 * way Home Assistant's InfluxDB integration writes it, and CSV.
 *
 * Line protocol, per HA's influxdb component (with friendly_name in
 * tags_attributes): measurement = the unit, or the entity id when there is
 * none; tags domain, entity_id (HA writes the object id) and friendly_name;
 * fields state (on/off entities), value (always a float), numeric
 * attributes as floats and string attributes as <key>_str; nanosecond
 * timestamps.  Everything constant per entity is escaped once up front;
 * the hot loop only copies bytes and formats integers.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "gen_int.h"
#include "model/value.h"
#include "wire/lineproto.h"

#define FLUSH_AT (1u << 20)

struct text_out {
	FILE *f;
	char *tmp;            /* temporary file name, NULL for stdout */
	struct ferry_buf buf;
};

static int text_open(struct text_out *t, const char *path, struct ferry_error *err)
{
	struct ferry_buf name = FERRY_BUF_INIT;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	ferry_buf_init(&t->buf, 0);
	if (!strcmp(path, "-")) {
		t->f = stdout;
		goto out;
	}
	if (ferry_buf_addf(&name, "%s.tmp%ld", path, (long)getpid()) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	t->f = fopen(name.buf, "wb");
	if (!t->f) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create '%s': %m", name.buf);
		goto out;
	}
	t->tmp = ferry_buf_detach(&name, NULL);
out:
	ferry_buf_release(&name);
	return rc;
}

static int text_flush(struct text_out *t, struct gen_out *w, struct ferry_error *err)
{
	if (t->buf.len && fwrite(t->buf.buf, 1, t->buf.len, t->f) != t->buf.len)
		return ferry_error_set(err, FERRY_EIO, "cannot write '%s': %m",
				       w->o->path);
	w->bytes += t->buf.len;
	ferry_buf_clear(&t->buf);
	return 0;
}

/* Finish: flush, close and move the temporary file into place; or, after a
 * failure (rc < 0), remove it. */
static int text_close(struct text_out *t, struct gen_out *w, int rc, struct ferry_error *err)
{
	if (rc == 0)
		rc = text_flush(t, w, err);
	if (t->f && t->f != stdout) {
		if (fclose(t->f) != 0 && rc == 0)
			rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %m", w->o->path);
	} else if (t->f && fflush(t->f) != 0 && rc == 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write to stdout: %m");
	}
	if (t->tmp) {
		if (rc == 0 && rename(t->tmp, w->o->path) != 0)
			rc = ferry_error_set(err, FERRY_EIO, "cannot rename '%s' to '%s': %m",
					     t->tmp, w->o->path);
		if (rc < 0)
			unlink(t->tmp);
	}
	ferry_free(t->tmp);
	ferry_buf_release(&t->buf);
	return rc;
}

/* ------------------------------------------------------- fast formatting */

static inline char *put2(char *p, unsigned v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* ISO-8601 UTC with microseconds; the date part is cached per day.  Not
 * val_format_timestamp(): this runs per generated row, so the time of day
 * is written digit by digit and only the date (val_civil_from_days) goes
 * through snprintf, once a day. */
struct iso_cache {
	int64_t day;
	char date[32];  /* "2024-01-01T" */
};

static char *put_iso(char *p, struct iso_cache *c, int64_t us)
{
	int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac = us - sec * 1000000, day = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	unsigned sod = (unsigned)(sec - day * 86400);

	if (day != c->day) {
		int64_t y;
		unsigned m, d;

		val_civil_from_days(day, &y, &m, &d);
		snprintf(c->date, sizeof(c->date), "%04d-%02u-%02uT", (int)((y % 10000 + 10000) % 10000),
			 m % 100, d % 100);
		c->day = day;
	}
	memcpy(p, c->date, 11);
	p += 11;
	p = put2(p, sod / 3600);
	*p++ = ':';
	p = put2(p, sod / 60 % 60);
	*p++ = ':';
	p = put2(p, sod % 60);
	*p++ = '.';
	p = put2(p, (unsigned)(frac / 10000));
	p = put2(p, (unsigned)(frac / 100 % 100));
	p = put2(p, (unsigned)(frac % 100));
	*p++ = 'Z';
	return p;
}

/* ---------------------------------------------------------- line protocol */

/* A measurement (esc_eq 0) or a tag key/value (esc_eq 1), escaped by
 * wire's one line-protocol escaper. */
static int add_lp_escaped(struct ferry_buf *b, const char *s, int esc_eq)
{
	return lp_escape(b, s, strlen(s), esc_eq ? LP_NAME_TAG : LP_NAME_MEAS);
}

static int add_lp_string(struct ferry_buf *b, const char *s)
{
	return lp_escape_string(b, s, strlen(s));
}

/* Per entity: "<measurement>,domain=..,entity_id=..,friendly_name=.. "
 * and the constant string fields ",device_class_str=\"power\"...". */
struct lp_entity {
	struct ferry_buf head;
	struct ferry_buf tail;
};

static int lp_prepare(const struct ferry_gen_entity *e, struct lp_entity *l)
{
	int rc = 0;

	rc |= add_lp_escaped(&l->head, e->unit ? e->unit : e->entity_id, 0);
	rc |= ferry_buf_addstr(&l->head, ",domain=");
	rc |= add_lp_escaped(&l->head, e->domain, 1);
	rc |= ferry_buf_addstr(&l->head, ",entity_id=");
	rc |= add_lp_escaped(&l->head, e->object_id, 1);
	rc |= ferry_buf_addstr(&l->head, ",friendly_name=");
	rc |= add_lp_escaped(&l->head, e->friendly_name, 1);
	rc |= ferry_buf_addch(&l->head, ' ');
	if (e->device_class) {
		rc |= ferry_buf_addstr(&l->tail, ",device_class_str=");
		rc |= add_lp_string(&l->tail, e->device_class);
	}
	if (e->numeric)
		rc |= ferry_buf_addstr(&l->tail, ",state_class_str=\"measurement\"");
	return rc ? FERRY_ENOMEM : 0;
}

int gen_write_lp(struct gen_out *w, struct ferry_error *err)
{
	struct text_out t;
	struct lp_entity *ents = NULL;
	struct ferry_gen_event ev;
	uint32_t i, n = ferry_gen_entity_count(w->g);
	size_t maxline = 0;
	uint64_t since = 0;
	int rc;

	rc = text_open(&t, w->o->path, err);
	if (rc < 0)
		goto out;
	ents = ferry_calloc(n, sizeof(*ents));
	if (!ents) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		ferry_buf_init(&ents[i].head, 0);
		ferry_buf_init(&ents[i].tail, 0);
		if (lp_prepare(ferry_gen_entity(w->g, i), &ents[i]) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (ents[i].head.len + ents[i].tail.len > maxline)
			maxline = ents[i].head.len + ents[i].tail.len;
	}
	/* state, value, brightness, timestamp and separators fit in 128 */
	maxline += 128;
	if (ferry_buf_grow(&t.buf, FLUSH_AT + maxline) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	while (ferry_gen_next(w->g, &ev)) {
		const struct lp_entity *l = &ents[ev.entity];
		char *p = t.buf.buf + t.buf.len;

		memcpy(p, l->head.buf, l->head.len);
		p += l->head.len;
		if (ev.state) {
			if (ev.tenths) {
				memcpy(p, "state=\"on\",value=1.0", 20);
				p += 20;
			} else {
				memcpy(p, "state=\"off\",value=0.0", 21);
				p += 21;
			}
			if (ev.brightness) {
				memcpy(p, ",brightness=", 12);
				p = gen_put_u64(p + 12, (uint64_t)ev.brightness);
				memcpy(p, ".0", 2);
				p += 2;
			}
		} else {
			memcpy(p, "value=", 6);
			p = gen_put_tenths(p + 6, ev.tenths);
		}
		memcpy(p, l->tail.buf, l->tail.len);
		p += l->tail.len;
		*p++ = ' ';
		if (ev.ts_us < 0)
			*p++ = '-';
		p = gen_put_u64(p, (uint64_t)(ev.ts_us < 0 ? -ev.ts_us : ev.ts_us) * 1000);
		*p++ = '\n';
		t.buf.len = (size_t)(p - t.buf.buf);
		w->rows++;
		if (t.buf.len >= FLUSH_AT) {
			rc = text_flush(&t, w, err);
			if (rc < 0)
				goto out;
		}
		if (++since == GEN_PROGRESS_EVERY) {
			ferry_progress_add(w->progress, since, 0);
			ferry_progress_tick(w->progress);
			since = 0;
		}
	}
	t.buf.buf[t.buf.len] = 0;
	ferry_progress_add(w->progress, since, 0);
out:
	rc = text_close(&t, w, rc, err);
	if (ents)
		for (i = 0; i < n; i++) {
			ferry_buf_release(&ents[i].head);
			ferry_buf_release(&ents[i].tail);
		}
	ferry_free(ents);
	return rc;
}

/* -------------------------------------------------------------------- CSV */

int gen_write_csv(struct gen_out *w, struct ferry_error *err)
{
	struct text_out t;
	struct ferry_gen_event ev;
	struct iso_cache ic = { INT64_MIN, "" };
	uint32_t n = ferry_gen_entity_count(w->g), i;
	size_t maxid = 0;
	uint64_t since = 0;
	int rc;

	rc = text_open(&t, w->o->path, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (strlen(ferry_gen_entity(w->g, i)->entity_id) > maxid)
			maxid = strlen(ferry_gen_entity(w->g, i)->entity_id);
	if (ferry_buf_grow(&t.buf, FLUSH_AT + maxid + 96) < 0 ||
	    ferry_buf_addstr(&t.buf, "time,entity_id,value,state\n") < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	while (ferry_gen_next(w->g, &ev)) {
		const struct ferry_gen_entity *e = ferry_gen_entity(w->g, ev.entity);
		char *p = t.buf.buf + t.buf.len;
		size_t idlen = strlen(e->entity_id);

		p = put_iso(p, &ic, ev.ts_us);
		*p++ = ',';
		memcpy(p, e->entity_id, idlen);
		p += idlen;
		*p++ = ',';
		if (ev.state) {
			*p++ = ',';
			memcpy(p, ev.state, ev.tenths ? 2 : 3);
			p += ev.tenths ? 2 : 3;
		} else {
			p = gen_put_tenths(p, ev.tenths);
			*p++ = ',';
		}
		*p++ = '\n';
		t.buf.len = (size_t)(p - t.buf.buf);
		w->rows++;
		if (t.buf.len >= FLUSH_AT) {
			rc = text_flush(&t, w, err);
			if (rc < 0)
				goto out;
		}
		if (++since == GEN_PROGRESS_EVERY) {
			ferry_progress_add(w->progress, since, 0);
			ferry_progress_tick(w->progress);
			since = 0;
		}
	}
	t.buf.buf[t.buf.len] = 0;
	ferry_progress_add(w->progress, since, 0);
out:
	return text_close(&t, w, rc, err);
}
