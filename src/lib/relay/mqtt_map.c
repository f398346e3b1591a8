/*
 * mqtt_map.c - the relay's MQTT map file: which topics to subscribe to and
 * how a message becomes points.
 *
 *   database: home_assistant          # default: the relay's first database
 *   max-payload: 256KiB               # bigger payloads are rejects
 *   subscriptions:
 *     - name: ha-states
 *       topic: homeassistant/{domain}/{entity_id}/state
 *       qos: 1
 *       format: value                 # value | json | lp | telemetry
 *       measurement: "{domain}"       # a template over the named segments
 *       field: value                  # value, json scalar: the field's name
 *       tags: [domain, entity_id]     # segments that become tags (default all)
 *       time: receive                 # or a JSON key of the payload
 *
 * A topic segment is a literal, "{name}", or a name with literal text
 * around it ("dev-{id}": the MQTT filter says '+', the pattern still has
 * to match, so "x/foo" is a reject "does not match"); a last "#" takes
 * the rest.  The first subscription whose filter matches takes a message.
 *
 * A message is made into line protocol (lp_point_write) and checked by
 * relay_ingest_lp(): exactly the checks, and the text, of an HTTP /write,
 * so everything after (phase, primary, spool) cannot tell the two apart.
 * Formats:
 *   value      the payload is one value: a number (a float field), true or
 *              false (a boolean), anything else a string
 *   json       an object: each key a field (numbers float, as the device
 *              API: a device sending 21 then 21.5 must not conflict),
 *              arrays as their JSON text, a nested object a reject, null
 *              left out; "tag-keys" become tags, "time" the timestamp.
 *              A JSON scalar (Home Assistant's attribute topics) is one
 *              field named by "field".
 *   lp         line protocol, as a /write body (precision: ns default)
 *   telemetry  the device API's {"data":{...},"metadata":{...},
 *              "timestamp":...} (relay_ingest_telemetry), device_id from
 *              the "device" template
 * A value's type (number, boolean, string) is remembered per topic and
 * field: a later message of another type is a reject with both types
 * named (InfluxDB would refuse it as a field type conflict, in the store
 * and after the fact).
 */
#include <errno.h>
#include <jansson.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/size.h"
#include "model/value.h"
#include "relay/mqtt_int.h"
#include "wire/yaml.h"

#define MAX_PAYLOAD_DEFAULT (256u << 10)
#define TYPES_MAX (1u << 20)        /* remembered topic types; then no more */

/* One topic segment of a pattern: pre{name}suf, a literal (name NULL),
 * or "#" (hash). */
struct seg {
	char *pre, *name, *suf;
	int hash;
};

struct sub {
	char *name;
	char *filter;
	struct seg *seg;
	size_t nseg;
	int qos;
	int format;
	char *measurement, *field, *device;   /* templates */
	char **tags;                          /* segment names */
	size_t ntags;
	char **tag_keys;                      /* json: payload keys as tags */
	size_t ntag_keys;
	char *time_key;                       /* NULL: receive time */
	enum lp_precision precision;
	struct relay_mqtt_counts c;
};

struct relay_mqtt_map {
	struct sub *subs;
	size_t nsubs;
	char *db, *rp;
	size_t max_payload;
	/* value types by topic and field: hash with the type in the low 2 bits */
	uint64_t *types;
	size_t types_cap, ntypes;
	struct relay_points pts;              /* one message's, checked */
	struct ferry_buf line, tmpl;
};

/* ---- loading ---------------------------------------------------------------- */

struct ld {
	const char *path;
	struct ferry_error *err;
};

static int bad(struct ld *L, struct fy_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct ld *L, struct fy_node *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!wire_yaml_line(n))
		return ferry_error_set(L->err, FERRY_EUSAGE, "mqtt map '%s': %s", L->path, msg);
	return ferry_error_set(L->err, FERRY_EUSAGE, "mqtt map '%s' line %d: %s", L->path,
			       wire_yaml_line(n), msg);
}

/* A list of scalars (or one scalar) into *out. */
static int str_list(struct ld *L, struct fy_node *v, const char *key, char ***out, size_t *n)
{
	void *it = NULL;
	struct fy_node *e;
	size_t cap;

	if (fy_node_get_type(v) == FYNT_SCALAR) {
		cap = 1;
	} else if (fy_node_get_type(v) == FYNT_SEQUENCE) {
		cap = (size_t)fy_node_sequence_item_count(v);
	} else {
		return bad(L, v, "'%s' takes a list of names", key);
	}
	if (!(*out = ferry_calloc(cap + 1, sizeof(char *))))
		return FERRY_ENOMEM;
	if (fy_node_get_type(v) == FYNT_SCALAR) {
		if (!((*out)[0] = wire_yaml_str(v)))
			return FERRY_ENOMEM;
		*n = 1;
		return 0;
	}
	while ((e = fy_node_sequence_iterate(v, &it)) != NULL && *n < cap) {
		if (!((*out)[*n] = wire_yaml_str(e)))
			return fy_node_get_type(e) == FYNT_SCALAR ? FERRY_ENOMEM :
			       bad(L, e, "'%s' takes a list of names", key);
		(*n)++;
	}
	return 0;
}

static const struct seg *seg_named(const struct sub *s, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < s->nseg; i++)
		if (s->seg[i].name && strlen(s->seg[i].name) == n && !memcmp(s->seg[i].name, name, n))
			return &s->seg[i];
	return NULL;
}

/* topic: "a/{x}/pre{y}/#" -> segments and the MQTT filter "a/+/+/#". */
static int parse_topic(struct ld *L, struct fy_node *v, struct sub *s, const char *t)
{
	struct ferry_buf f = FERRY_BUF_INIT;
	const char *p = t;
	size_t k;
	int rc = 0;

	if (!*t)
		return bad(L, v, "'topic' is empty");
	for (k = 1; *p; p++)
		k += *p == '/';
	if (!(s->seg = ferry_calloc(k, sizeof(*s->seg))))
		return FERRY_ENOMEM;
	for (p = t; !rc; ) {
		const char *e = strchr(p, '/'), *o, *c;
		size_t n = e ? (size_t)(e - p) : strlen(p);
		struct seg *g = &s->seg[s->nseg++];

		o = memchr(p, '{', n);
		c = o ? memchr(o, '}', n - (size_t)(o - p)) : NULL;
		if (n == 1 && *p == '#') {
			if (e)
				rc = bad(L, v, "'#' must be the last segment of topic '%s'", t);
			g->hash = 1;
			rc = rc ? rc : ferry_buf_addch(&f, '#');
		} else if (o) {
			if (!c || c == o + 1 || memchr(c + 1, '{', n - (size_t)(c + 1 - p)) ||
			    memchr(o + 1, '/', (size_t)(c - o)))
				rc = bad(L, v, "topic '%s': a segment has one {name}", t);
			else if (!(g->pre = ferry_strndup(p, (size_t)(o - p))) ||
				 !(g->name = ferry_strndup(o + 1, (size_t)(c - o - 1))) ||
				 !(g->suf = ferry_strndup(c + 1, n - (size_t)(c + 1 - p))))
				rc = FERRY_ENOMEM;
			else if (seg_named(s, g->name, strlen(g->name)) != g)
				rc = bad(L, v, "topic '%s' names '{%s}' twice", t, g->name);
			else
				rc = ferry_buf_addch(&f, '+');
		} else if (memchr(p, '+', n) || memchr(p, '#', n) || memchr(p, '}', n)) {
			rc = bad(L, v, "topic '%s': use {name} for a wildcard segment", t);
		} else {
			rc = (g->pre = ferry_strndup(p, n)) ? ferry_buf_add(&f, p, n) : FERRY_ENOMEM;
		}
		if (!e)
			break;
		rc = rc ? rc : ferry_buf_addch(&f, '/');
		p = e + 1;
	}
	if (!rc && !(s->filter = ferry_buf_detach(&f, NULL)))
		rc = FERRY_ENOMEM;
	ferry_buf_release(&f);
	return rc;
}

/* Every {name} in template t is a segment of the topic. */
static int check_tmpl(struct ld *L, struct fy_node *v, struct sub *s, const char *key,
		      const char *t)
{
	const char *p = t, *o, *c;

	while ((o = strchr(p, '{'))) {
		if (!(c = strchr(o, '}')))
			return bad(L, v, "'%s': '{' without '}' in '%s'", key, t);
		if (!seg_named(s, o + 1, (size_t)(c - o - 1))) {
			char nm[128];

			snprintf(nm, sizeof(nm), "%.*s", (int)(c - o - 1), o + 1);
			return bad(L, v, "'%s' uses {%s}, which the topic does not name", key, nm);
		}
		p = c + 1;
	}
	return 0;
}

static int load_sub(struct ld *L, struct fy_node *m, struct sub *s, size_t idx)
{
	static const char *const fmts[] = { "value", "json", "lp", "telemetry" };
	static const char *const keys =
		"name, topic, qos, format, measurement, field, tags, tag-keys, time, precision, device";
	struct fy_node_pair *pr;
	void *it = NULL;
	char *v = NULL, nm[32];
	int rc = 0, has_tags = 0;
	size_t i;

	if (fy_node_get_type(m) != FYNT_MAPPING)
		return bad(L, m, "a subscription is a mapping (%s)", keys);
	s->qos = 1;
	s->format = RELAY_MQTT_VALUE;
	while (!rc && (pr = fy_node_mapping_iterate(m, &it)) != NULL) {
		struct fy_node *kn = fy_node_pair_key(pr), *vn = fy_node_pair_value(pr);
		char *k = wire_yaml_str(kn);

		if (!k)
			return FERRY_ENOMEM;
		if (!strcmp(k, "tags") || !strcmp(k, "tag-keys")) {
			if (!vn)
				rc = bad(L, kn, "'%s' needs a list", k);
			else if (!strcmp(k, "tags"))
				rc = str_list(L, vn, k, &s->tags, &s->ntags), has_tags = 1;
			else
				rc = str_list(L, vn, k, &s->tag_keys, &s->ntag_keys);
			ferry_free(k);
			continue;
		}
		if (!vn || !(v = wire_yaml_str(vn))) {
			rc = bad(L, kn, "'%s' needs a value", k);
			ferry_free(k);
			break;
		}
		if (!strcmp(k, "name")) {
			/* a Prometheus label value and a JSON key: keep it plain */
			if (!*v || v[strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					       "0123456789_.-")])
				rc = bad(L, vn, "subscription name '%s': use letters, digits, '_', "
					 "'.' and '-'", v);
			s->name = v, v = NULL;
		} else if (!strcmp(k, "topic")) {
			rc = parse_topic(L, vn, s, v);
		} else if (!strcmp(k, "qos")) {
			if (strlen(v) != 1 || v[0] < '0' || v[0] > '2')
				rc = bad(L, vn, "'qos' is 0, 1 or 2, not '%s'", v);
			s->qos = v[0] - '0';
		} else if (!strcmp(k, "format")) {
			for (i = 0; i < 4 && strcmp(v, fmts[i]); i++)
				;
			if (i == 4)
				rc = bad(L, vn, "unknown format '%s': use value, json, lp or telemetry",
					 v);
			s->format = (int)i;
		} else if (!strcmp(k, "measurement")) {
			s->measurement = v, v = NULL;
		} else if (!strcmp(k, "field")) {
			s->field = v, v = NULL;
		} else if (!strcmp(k, "device")) {
			s->device = v, v = NULL;
		} else if (!strcmp(k, "time")) {
			if (strcmp(v, "receive"))
				s->time_key = v, v = NULL;
		} else if (!strcmp(k, "precision")) {
			if (lp_precision_parse(v, &s->precision) < 0)
				rc = bad(L, vn, "unknown precision '%s': use ns, us, ms, s, m or h",
					 v);
		} else {
			rc = bad(L, kn, "unknown key '%s': use %s", k, keys);
		}
		ferry_free(k);
		ferry_free(v);
		v = NULL;
	}
	if (rc)
		return rc;
	if (!s->seg)
		return bad(L, m, "a subscription needs 'topic'");
	if (!s->name) {
		snprintf(nm, sizeof(nm), "sub%zu", idx + 1);
		if (!(s->name = ferry_strdup(nm)))
			return FERRY_ENOMEM;
	}
	if (!s->measurement && s->format != RELAY_MQTT_LP)
		return bad(L, m, "subscription '%s' needs 'measurement'", s->name);
	if (!s->field && !(s->field = ferry_strdup("value")))
		return FERRY_ENOMEM;
	if (s->format == RELAY_MQTT_TELEMETRY && !s->device)
		return bad(L, m, "subscription '%s' (format telemetry) needs 'device', e.g. "
			   "\"{device_id}\"", s->name);
	if ((s->measurement && (rc = check_tmpl(L, m, s, "measurement", s->measurement))) ||
	    (rc = check_tmpl(L, m, s, "field", s->field)) ||
	    (s->device && (rc = check_tmpl(L, m, s, "device", s->device))))
		return rc;
	for (i = 0; i < s->ntags; i++)
		if (!seg_named(s, s->tags[i], strlen(s->tags[i])))
			return bad(L, m, "tag '%s' is not a {name} of the topic of '%s'",
				   s->tags[i], s->name);
	if (!has_tags) {   /* default: every named segment */
		for (i = 0; i < s->nseg; i++)
			if (s->seg[i].name)
				s->ntags++;
		if (!(s->tags = ferry_calloc(s->ntags + 1, sizeof(char *))))
			return FERRY_ENOMEM;
		for (s->ntags = 0, i = 0; i < s->nseg; i++)
			if (s->seg[i].name && !(s->tags[s->ntags++] = ferry_strdup(s->seg[i].name)))
				return FERRY_ENOMEM;
	}
	return 0;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		ferry_free(v[i]);
	ferry_free(v);
}

void relay_mqtt_map_free(struct relay_mqtt_map *m)
{
	size_t i, j;

	if (!m)
		return;
	for (i = 0; i < m->nsubs; i++) {
		struct sub *s = &m->subs[i];

		for (j = 0; j < s->nseg; j++) {
			ferry_free(s->seg[j].pre);
			ferry_free(s->seg[j].name);
			ferry_free(s->seg[j].suf);
		}
		ferry_free(s->seg);
		ferry_free(s->name);
		ferry_free(s->filter);
		ferry_free(s->measurement);
		ferry_free(s->field);
		ferry_free(s->device);
		ferry_free(s->time_key);
		free_strv(s->tags, s->ntags);
		free_strv(s->tag_keys, s->ntag_keys);
	}
	ferry_free(m->subs);
	ferry_free(m->db);
	ferry_free(m->rp);
	ferry_free(m->types);
	relay_points_release(&m->pts);
	ferry_buf_release(&m->line);
	ferry_buf_release(&m->tmpl);
	ferry_free(m);
}

static int load_root(struct ld *L, struct fy_node *root, struct relay_mqtt_map *m)
{
	struct fy_node_pair *pr;
	struct fy_node *subs = NULL, *subs_key = NULL;
	void *it = NULL;
	size_t i;
	int rc = 0;

	if (!root || fy_node_get_type(root) != FYNT_MAPPING)
		return bad(L, root, "expected a mapping with 'subscriptions:'");
	while (!rc && (pr = fy_node_mapping_iterate(root, &it)) != NULL) {
		struct fy_node *kn = fy_node_pair_key(pr), *vn = fy_node_pair_value(pr);
		char *k = wire_yaml_str(kn), *v = NULL;

		if (!k)
			return FERRY_ENOMEM;
		if (!strcmp(k, "subscriptions")) {
			subs = vn;
			subs_key = kn;
		} else if (strcmp(k, "database") && strcmp(k, "retention-policy") &&
			   strcmp(k, "max-payload")) {
			rc = bad(L, kn, "unknown key '%s': use subscriptions, database, "
				 "retention-policy or max-payload", k);
		} else if (!(v = wire_yaml_str(vn))) {
			rc = bad(L, kn, "'%s' needs a value", k);
		} else if (!strcmp(k, "database")) {
			m->db = v, v = NULL;
		} else if (!strcmp(k, "retention-policy")) {
			m->rp = v, v = NULL;
		} else {
			uint64_t u;

			if (ferry_size_parse(v, &u) < 0 || !u || u > (64u << 20))
				rc = bad(L, vn, "'max-payload' '%s' is not a size up to 64MiB "
					 "(e.g. 256KiB)", v);
			m->max_payload = (size_t)u;
		}
		ferry_free(k);
		ferry_free(v);
	}
	if (rc)
		return rc;
	if (!subs || fy_node_get_type(subs) != FYNT_SEQUENCE ||
	    !fy_node_sequence_item_count(subs))
		return bad(L, subs_key ? subs_key : root, "'subscriptions' must be a list of one or more "
			   "subscriptions");
	m->nsubs = (size_t)fy_node_sequence_item_count(subs);
	if (!(m->subs = ferry_calloc(m->nsubs, sizeof(*m->subs))))
		return FERRY_ENOMEM;
	it = NULL;
	for (i = 0; i < m->nsubs && !rc; i++)
		rc = load_sub(L, fy_node_sequence_iterate(subs, &it), &m->subs[i], i);
	for (i = 0; i < m->nsubs && !rc; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (!strcmp(m->subs[i].name, m->subs[j].name))
				return bad(L, subs, "two subscriptions are named '%s'",
					   m->subs[i].name);
	}
	return rc;
}

int relay_mqtt_map_load(const char *path, struct relay_mqtt_map **out, struct ferry_error *err)
{
	struct ld L = { path, err };
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	struct wire_yaml_error ye;
	struct relay_mqtt_map *m = ferry_calloc(1, sizeof(*m));
	int rc, e;

	if (!m)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	relay_points_init(&m->pts);
	ferry_buf_init(&m->line, 0);
	ferry_buf_init(&m->tmpl, 0);
	m->max_payload = MAX_PAYLOAD_DEFAULT;
	if ((e = ferry_buf_read_file(&text, path)) < 0) {
		rc = e == FERRY_ENOMEM ? ferry_error_set(err, e, "out of memory") :
		     ferry_error_set(err, FERRY_EUSAGE, "cannot read mqtt map '%s': %s", path,
				     strerror(errno));
		goto out;
	}
	if ((rc = wire_yaml_parse(text.buf, text.len, &y, &ye)) < 0) {
		rc = rc == FERRY_ENOMEM ? ferry_error_set(err, rc, "out of memory") :
		     ferry_error_set(err, FERRY_EUSAGE, "cannot parse mqtt map '%s' at line %d: %s",
				     path, ye.line, ye.msg);
		goto out;
	}
	rc = load_root(&L, y.doc ? fy_document_root(y.doc) : NULL, m);
	if (rc == FERRY_ENOMEM)
		ferry_error_set(err, rc, "out of memory");
out:
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	if (rc < 0) {
		relay_mqtt_map_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

size_t relay_mqtt_map_count(const struct relay_mqtt_map *m) { return m->nsubs; }
const char *relay_mqtt_map_name(const struct relay_mqtt_map *m, size_t i) { return m->subs[i].name; }
const char *relay_mqtt_map_filter(const struct relay_mqtt_map *m, size_t i) { return m->subs[i].filter; }
int relay_mqtt_map_qos(const struct relay_mqtt_map *m, size_t i) { return m->subs[i].qos; }
const char *relay_mqtt_map_db(const struct relay_mqtt_map *m) { return m->db; }
const char *relay_mqtt_map_rp(const struct relay_mqtt_map *m) { return m->rp ? m->rp : ""; }
size_t relay_mqtt_map_max_payload(const struct relay_mqtt_map *m) { return m->max_payload; }

struct relay_mqtt_counts *relay_mqtt_map_counts(struct relay_mqtt_map *m, size_t i)
{
	return &m->subs[i].c;
}

/* ---- matching --------------------------------------------------------------- */

/* Does the topic match s's filter ('+' per named segment)? */
static int filter_match(const struct sub *s, const char *t, size_t tl)
{
	const char *end = t + tl;
	size_t i;

	for (i = 0; i < s->nseg; i++) {
		const char *e;
		size_t n;

		if (s->seg[i].hash)
			return 1;
		if (t > end)
			return 0;
		e = memchr(t, '/', (size_t)(end - t));
		n = e ? (size_t)(e - t) : (size_t)(end - t);
		if (!s->seg[i].name && (strlen(s->seg[i].pre) != n || memcmp(s->seg[i].pre, t, n)))
			return 0;
		t += n + 1;    /* past the '/', or one past the end */
	}
	return t == end + 1;
}

int relay_mqtt_map_find(const struct relay_mqtt_map *m, const char *topic, size_t tl)
{
	size_t i;

	for (i = 0; i < m->nsubs; i++)
		if (filter_match(&m->subs[i], topic, tl))
			return (int)i;
	return -1;
}

/* The value of segment name in topic (filter_match passed): 1 and *v, *n
 * set, 0 when its literal text around {name} does not match or it is empty. */
static int seg_value(const struct sub *s, const char *t, size_t tl, const char *name,
		     size_t nl, const char **v, size_t *n)
{
	const char *end = t + tl;
	size_t i;

	for (i = 0; i < s->nseg && !s->seg[i].hash; i++) {
		const struct seg *g = &s->seg[i];
		const char *e = memchr(t, '/', (size_t)(end - t));
		size_t len = e ? (size_t)(e - t) : (size_t)(end - t);

		if (g->name && strlen(g->name) == nl && !memcmp(g->name, name, nl)) {
			size_t pl = strlen(g->pre), sl = strlen(g->suf);

			if (len <= pl + sl || memcmp(t, g->pre, pl) ||
			    memcmp(t + len - sl, g->suf, sl))
				return 0;
			*v = t + pl;
			*n = len - pl - sl;
			return 1;
		}
		t += len + 1;
	}
	return 0;
}

/* Template t expanded into m->tmpl (NUL-terminated).  1, 0 when a segment
 * does not match (*why), FERRY_ENOMEM. */
static int expand(struct relay_mqtt_map *m, const struct sub *s, const char *tp, size_t tl,
		  const char *t, const char **miss)
{
	const char *p = t, *o, *c, *v;
	size_t n;

	ferry_buf_clear(&m->tmpl);
	while ((o = strchr(p, '{')) && (c = strchr(o, '}'))) {
		if (ferry_buf_add(&m->tmpl, p, (size_t)(o - p)) < 0)
			return FERRY_ENOMEM;
		if (!seg_value(s, tp, tl, o + 1, (size_t)(c - o - 1), &v, &n)) {
			*miss = o;
			return 0;
		}
		if (ferry_buf_add(&m->tmpl, v, n) < 0)
			return FERRY_ENOMEM;
		p = c + 1;
	}
	return ferry_buf_addstr(&m->tmpl, p) < 0 ? FERRY_ENOMEM : 1;
}

/* ---- value types -------------------------------------------------------------- */

enum { T_NUMBER = 1, T_BOOL, T_STRING };
static const char *const type_name[] = { "", "a number", "a boolean", "a string" };

/* The slot of key h in the table (0 when the table is absent or full). */
static uint64_t *type_slot(struct relay_mqtt_map *m, uint64_t h)
{
	size_t i, mask;

	if (!m->types) {
		m->types_cap = 1024;
		if (!(m->types = ferry_calloc(m->types_cap, sizeof(uint64_t))))
			return NULL;
	}
	if (m->ntypes * 2 >= m->types_cap && m->types_cap < TYPES_MAX * 2) {
		uint64_t *old = m->types, *nt;
		size_t oc = m->types_cap, j;

		if ((nt = ferry_calloc(oc * 2, sizeof(uint64_t)))) {
			m->types = nt;
			m->types_cap = oc * 2;
			for (j = 0; j < oc; j++) {
				if (!old[j])
					continue;
				for (i = (size_t)(old[j] >> 2) & (m->types_cap - 1); nt[i];
				     i = (i + 1) & (m->types_cap - 1))
					;
				nt[i] = old[j];
			}
			ferry_free(old);
		}
	}
	mask = m->types_cap - 1;
	for (i = (size_t)h & mask; m->types[i]; i = (i + 1) & mask)
		if (m->types[i] >> 2 == h)
			return &m->types[i];
	return m->ntypes * 2 < m->types_cap ? &m->types[i] : NULL;
}

static uint64_t type_key(const char *topic, size_t tl, const char *field, size_t fl)
{
	uint64_t a = ferry_hash64(topic, tl), b = ferry_hash64(field, fl);

	return ((a ^ (b * 0x9E3779B97F4A7C15ull)) >> 2) | 1;   /* never 0 */
}

/* 0 when the field's type agrees with what the topic had (or is new), else
 * the type it had. */
static int type_was(struct relay_mqtt_map *m, uint64_t h, int t)
{
	uint64_t *sl = type_slot(m, h);

	return sl && *sl && (int)(*sl & 3) != t ? (int)(*sl & 3) : 0;
}

static void type_set(struct relay_mqtt_map *m, uint64_t h, int t)
{
	uint64_t *sl = type_slot(m, h);

	if (sl && !*sl) {
		*sl = h << 2 | (uint64_t)t;
		m->ntypes++;
	}
}

/* ---- messages ----------------------------------------------------------------- */

/* A bare value: a number as JSON writes one, true/false, else a string. */
static int bare_number(const char *p, size_t n, double *d)
{
	char buf[64], *end;
	size_t i = 0, digits = 0;

	if (i < n && p[i] == '-')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	if (i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			digits++;
	if (digits && i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i == n || p[i] < '0' || p[i] > '9')
			return 0;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	if (!digits || i != n || n >= sizeof(buf))
		return 0;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	*d = strtod(buf, &end);
	return errno != ERANGE;
}

struct msg {
	struct lp_field f[64];
	size_t nf;
	struct lp_tag t[64];
	size_t nt;
	uint64_t key[64];     /* type keys of the fields */
	int type[64];
	int64_t ns;
	json_t *root;
	char *dumps[64];      /* arrays' JSON texts */
	size_t ndumps;
	char num[64][32];     /* tag-keys' numbers as text */
};

static int why_set(char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return 1;
}

/* One JSON value as field k; 0, 1 reject (why), FERRY_ENOMEM. */
static int json_field(struct msg *g, const char *k, size_t kl, json_t *v, char *why, size_t cap)
{
	struct lp_field *f;

	if (json_is_null(v))
		return 0;
	if (json_is_object(v))
		return why_set(why, cap, "key '%.*s' holds a nested object: give its values their "
			       "own keys", (int)kl, k);
	if (g->nf == 64)
		return why_set(why, cap, "more than 64 fields in one message");
	f = &g->f[g->nf];
	memset(f, 0, sizeof(*f));
	f->key.p = k;
	f->key.n = kl;
	if (json_is_number(v)) {
		f->type = LP_FLOAT;
		f->v.f = json_number_value(v);
		g->type[g->nf] = T_NUMBER;
	} else if (json_is_boolean(v)) {
		f->type = LP_BOOL;
		f->v.b = json_is_true(v);
		g->type[g->nf] = T_BOOL;
	} else if (json_is_string(v)) {
		f->type = LP_STRING;
		f->v.s.p = json_string_value(v);
		f->v.s.n = json_string_length(v);
		g->type[g->nf] = T_STRING;
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!s)
			return FERRY_ENOMEM;
		g->dumps[g->ndumps++] = s;
		f->type = LP_STRING;
		f->v.s.p = s;
		f->v.s.n = strlen(s);
		g->type[g->nf] = T_STRING;
	}
	g->nf++;
	return 0;
}

static int is_tag_key(const struct sub *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->ntag_keys; i++)
		if (!strcmp(s->tag_keys[i], k))
			return 1;
	return 0;
}

static int json_payload(const struct sub *s, struct msg *g,
			const char *p, size_t n, const char *field, char *why, size_t cap)
{
	json_error_t je;
	const char *k;
	json_t *v;
	int rc;

	if (!(g->root = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je)))
		return why_set(why, cap, "payload is not JSON: %s at byte %d", je.text, je.position);
	if (!json_is_object(g->root))
		return json_field(g, field, strlen(field), g->root, why, cap);
	json_object_foreach(g->root, k, v) {
		if (s->time_key && !strcmp(k, s->time_key)) {
			int t = relay_json_time(v, &g->ns);

			if (t <= 0)
				return why_set(why, cap, "time key '%s' is %s", k, t < 0 ?
					       "neither a number nor an RFC 3339 string" :
					       "out of range or not an RFC 3339 time");
			continue;
		}
		if (is_tag_key(s, k)) {
			struct lp_tag *t = &g->t[g->nt];

			if (g->nt == 64)
				return why_set(why, cap, "more than 64 tags in one message");
			if (json_is_string(v)) {
				t->val.p = json_string_value(v);
				t->val.n = json_string_length(v);
			} else if (json_is_number(v) || json_is_boolean(v)) {
				if (json_is_boolean(v))
					snprintf(g->num[g->nt], sizeof(g->num[0]), "%s",
						 json_is_true(v) ? "true" : "false");
				else
					val_format_double(json_number_value(v), g->num[g->nt],
							  sizeof(g->num[0]));
				t->val.p = g->num[g->nt];
				t->val.n = strlen(g->num[g->nt]);
			} else if (json_is_null(v)) {
				continue;
			} else {
				return why_set(why, cap, "tag key '%s' holds %s, not a string, number "
					       "or boolean", k, json_is_object(v) ? "an object" :
					       "an array");
			}
			if (!t->val.n)
				continue;
			t->key.p = k;
			t->key.n = strlen(k);
			g->nt++;
			continue;
		}
		if ((rc = json_field(g, k, strlen(k), v, why, cap)))
			return rc;
	}
	return 0;
}

int relay_mqtt_map_message(struct relay_mqtt_map *m, int si, const char *topic, size_t tl,
			   const void *payload, size_t n, int64_t now_ns,
			   struct relay_points *out, char *why, size_t cap)
{
	struct sub *s = &m->subs[si];
	struct ferry_error lerr = FERRY_ERROR_INIT;
	const char *p = payload, *miss = NULL, *bad;
	struct msg *g = NULL;
	struct lp_point pt;
	char *meas = NULL, *field = NULL;
	size_t i;
	int rc = 0;

	relay_points_clear(&m->pts);
	ferry_buf_clear(&m->line);
	if (n > m->max_payload)
		return why_set(why, cap, "payload of %zu bytes is over max-payload (%zu)", n,
			       m->max_payload);
	if (!val_utf8_ok(p, n, &bad))
		return why_set(why, cap, "payload is not UTF-8 text (%s)", bad);
	/* every named segment must match its literal text around {name} */
	for (i = 0; i < s->nseg; i++) {
		const char *v;
		size_t vn;

		if (s->seg[i].name && !seg_value(s, topic, tl, s->seg[i].name,
						 strlen(s->seg[i].name), &v, &vn))
			return why_set(why, cap, "topic does not match the pattern of subscription "
				       "'%s' (segment {%s})", s->name, s->seg[i].name);
	}
	if (s->format == RELAY_MQTT_LP) {
		rc = relay_ingest_lp(p, n, s->precision, now_ns, &m->pts, &lerr);
		goto check;
	}
	if (s->format == RELAY_MQTT_TELEMETRY) {
		struct ferry_error err = FERRY_ERROR_INIT;

		if ((rc = expand(m, s, topic, tl, s->measurement, &miss)) <= 0 ||
		    !(meas = ferry_strdup(m->tmpl.buf)) ||
		    (rc = expand(m, s, topic, tl, s->device, &miss)) <= 0)
			goto tmpl;
		rc = relay_ingest_telemetry(p, n, meas, m->tmpl.buf, now_ns, &m->pts, &err);
		if (rc == FERRY_EPARSE)
			rc = why_set(why, cap, "%s", err.msg);
		goto check;
	}
	if (!(g = ferry_calloc(1, sizeof(*g))))
		return FERRY_ENOMEM;
	g->ns = now_ns;
	if ((rc = expand(m, s, topic, tl, s->measurement, &miss)) <= 0 ||
	    !(meas = ferry_strdup(m->tmpl.buf)) ||
	    (rc = expand(m, s, topic, tl, s->field, &miss)) <= 0 ||
	    !(field = ferry_strdup(m->tmpl.buf)))
		goto tmpl;
	/* the topic's tags, then the payload's */
	for (i = 0; i < s->ntags && i < 32; i++) {
		struct lp_tag *t = &g->t[g->nt++];

		seg_value(s, topic, tl, s->tags[i], strlen(s->tags[i]), &t->val.p, &t->val.n);
		t->key.p = s->tags[i];
		t->key.n = strlen(s->tags[i]);
	}
	rc = 0;
	if (s->format == RELAY_MQTT_JSON) {
		if ((rc = json_payload(s, g, p, n, field, why, cap)))
			goto out;
	} else {
		const char *b = p, *e = p + n;
		double d;

		while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
			e--;
		if (b == e) {
			rc = why_set(why, cap, "empty payload: no value");
			goto out;
		}
		g->f[0].key.p = field;
		g->f[0].key.n = strlen(field);
		if (bare_number(b, (size_t)(e - b), &d)) {
			g->f[0].type = LP_FLOAT;
			g->f[0].v.f = d;
			g->type[0] = T_NUMBER;
		} else if ((e - b == 4 && !memcmp(b, "true", 4)) ||
			   (e - b == 5 && !memcmp(b, "false", 5))) {
			g->f[0].type = LP_BOOL;
			g->f[0].v.b = *b == 't';
			g->type[0] = T_BOOL;
		} else {
			g->f[0].type = LP_STRING;
			g->f[0].v.s.p = b;
			g->f[0].v.s.n = (size_t)(e - b);
			g->type[0] = T_STRING;
		}
		g->nf = 1;
	}
	if (!g->nf) {
		rc = why_set(why, cap, "no value to write (only nulls, or an empty object)");
		goto out;
	}
	for (i = 0; i < g->nf; i++) {
		int was;

		g->key[i] = type_key(topic, tl, g->f[i].key.p, g->f[i].key.n);
		if ((was = type_was(m, g->key[i], g->type[i]))) {
			rc = why_set(why, cap, "field '%.*s' of this topic was %s and is now %s",
				     (int)g->f[i].key.n, g->f[i].key.p, type_name[was],
				     type_name[g->type[i]]);
			goto out;
		}
	}
	memset(&pt, 0, sizeof(pt));
	pt.measurement.p = meas;
	pt.measurement.n = strlen(meas);
	pt.tags = g->t;
	pt.ntags = g->nt;
	pt.fields = g->f;
	pt.nfields = g->nf;
	pt.has_ts = 1;
	pt.ts = g->ns;
	rc = lp_point_write(&m->line, &pt);
	if (rc == FERRY_EINVAL) {
		rc = why_set(why, cap, "a name is empty or cannot be written as line protocol "
			     "(measurement '%s')", meas);
		goto out;
	}
	if (rc < 0 || ferry_buf_addch(&m->line, '\n') < 0) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	/* the checks of an HTTP /write */
	rc = relay_ingest_lp(m->line.buf, m->line.len, LP_PREC_NS, now_ns, &m->pts, &lerr);
check:
	if (rc < 0 || rc == 1)
		goto out;
	if (m->pts.nrejected) {
		rc = why_set(why, cap, "%s", m->pts.why);
		goto out;
	}
	if (!m->pts.npoints) {
		rc = why_set(why, cap, "no point in the payload");
		goto out;
	}
	if (ferry_buf_add(&out->lp, m->pts.lp.buf, m->pts.lp.len) < 0) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	out->npoints += m->pts.npoints;
	for (i = 0; g && i < g->nf; i++)
		type_set(m, g->key[i], g->type[i]);
	rc = 0;
	goto out;
tmpl:
	if (rc == 0 && miss)
		rc = why_set(why, cap, "topic does not match the pattern of subscription '%s'",
			     s->name);
	else if (rc >= 0)
		rc = FERRY_ENOMEM;
out:
	if (g) {
		for (i = 0; i < g->ndumps; i++)
			free(g->dumps[i]);
		json_decref(g->root);
		ferry_free(g);
	}
	ferry_free(meas);
	ferry_free(field);
	return rc;
}
