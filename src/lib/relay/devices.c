/*
 * devices.c - X-API-Key -> device id for /api/v1/telemetry: one SELECT on
 * a table of the new database, its answers cached for a few seconds.
 *
 * Devices post every few seconds each, so without the cache every write
 * would cost a round trip; with it a key is asked about once per TTL.
 * Unknown keys are cached too (a misconfigured device retrying in a loop
 * must not turn into a query loop), errors are not.  A revoked key stays
 * good for at most the TTL, which is the trade the platforms we replace
 * make as well.
 *
 * One connection behind a mutex: lookups are rare after the cache, and a
 * PGconn is not for concurrent use.  A lost connection (PostgreSQL
 * restarted) is reconnected once per lookup before the lookup fails.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/relay_int.h"
#include "relay/relay_pg.h"

#define TTL_MS 5000
#define NSLOTS 1024          /* a power of two */
#define PROBE 8

struct slot {
	char *key;           /* NULL: empty */
	char *id;            /* NULL: the key is unknown */
	int64_t expires_ms;
};

struct relay_devices {
	pthread_mutex_t mu;
	char *url;
	PGconn *pg;          /* NULL until connected, and after a loss */
	char *sql;
	struct slot slots[NSLOTS];
};

/* "name" with embedded quotes doubled; "schema.table" as two names. */
static int add_ident(struct ferry_buf *b, const char *name, int dotted)
{
	const char *dot = dotted ? strchr(name, '.') : NULL;
	const char *p, *end = dot ? dot : name + strlen(name);
	int e = ferry_buf_addch(b, '"');

	for (p = name; p < end; p++)
		e |= *p == '"' ? ferry_buf_add(b, "\"\"", 2) : ferry_buf_addch(b, *p);
	e |= ferry_buf_addch(b, '"');
	if (dot)
		e |= ferry_buf_addch(b, '.') | add_ident(b, dot + 1, 0);
	return e;
}

int relay_devices_open(const char *pg_url, const struct ferry_relay_opts *o,
		       struct relay_devices **out, struct ferry_error *err)
{
	struct relay_devices *d = ferry_calloc(1, sizeof(*d));
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct ferry_error ignore = FERRY_ERROR_INIT;
	int e = 0;

	if (!d)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	e |= ferry_buf_addstr(&sql, "SELECT ");
	e |= add_ident(&sql, o->devices_id_column ? o->devices_id_column : "device_id", 0);
	e |= ferry_buf_addstr(&sql, "::text FROM ");
	e |= add_ident(&sql, o->devices_table ? o->devices_table : "devices", 1);
	e |= ferry_buf_addstr(&sql, " WHERE ");
	e |= add_ident(&sql, o->devices_key_column ? o->devices_key_column : "api_key", 0);
	e |= ferry_buf_addstr(&sql, " = $1 LIMIT 1");
	if (e < 0 || !(d->sql = ferry_buf_detach(&sql, NULL)) ||
	    !(d->url = ferry_strdup(pg_url))) {
		ferry_buf_release(&sql);
		relay_devices_close(d);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&d->mu, NULL);
	/* the database may be down now: the first lookup connects then */
	d->pg = relay_pg_connect(d->url, &ignore);
	*out = d;
	return 0;
}

void relay_devices_close(struct relay_devices *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < NSLOTS; i++) {
		ferry_free(d->slots[i].key);
		ferry_free(d->slots[i].id);
	}
	if (d->url)   /* the mutex is initialised once url is set */
		pthread_mutex_destroy(&d->mu);
	PQfinish(d->pg);
	ferry_free(d->sql);
	ferry_free(d->url);
	ferry_free(d);
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The slot holding key (live or expired), else the one to reuse. */
static struct slot *slot_for(struct relay_devices *d, const char *key, int64_t now)
{
	uint32_t h = hash(key);
	struct slot *reuse = NULL;
	int i;

	for (i = 0; i < PROBE; i++) {
		struct slot *s = &d->slots[(h + (uint32_t)i) & (NSLOTS - 1)];

		if (s->key && !strcmp(s->key, key))
			return s;
		if (!reuse && (!s->key || s->expires_ms <= now))
			reuse = s;
	}
	/* all PROBE slots are live: evict the first (a cache, not a table) */
	return reuse ? reuse : &d->slots[h & (NSLOTS - 1)];
}

/* Ask the database: 1 found (*id allocated), 0 unknown, negative error. */
static int ask(struct relay_devices *d, const char *key, char **id, struct ferry_error *err)
{
	const char *p[1] = { key };
	PGresult *res = NULL;
	int attempt, rc = FERRY_ECONN;

	*id = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (!d->pg && !(d->pg = relay_pg_connect(d->url, err)))
			return FERRY_ECONN;
		rc = relay_pg_exec(d->pg, d->sql, 1, p, &res, "cannot look up the API key", err);
		if (rc == 0)
			break;
		if (rc == FERRY_ECONN || PQstatus(d->pg) != CONNECTION_OK) {
			PQfinish(d->pg);   /* lost: reconnect once */
			d->pg = NULL;
			rc = FERRY_ECONN;
			continue;
		}
		/* a key the key column cannot hold (not a uuid, ...): no device
		 * has it (class 22: data exception) */
		if (err && !strncmp(err->origin, "sqlstate 22", 11)) {
			ferry_error_clear(err);
			return 0;
		}
		return rc;
	}
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		if (!(*id = ferry_strdup(PQgetvalue(res, 0, 0))))
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			rc = 1;
	}
	PQclear(res);
	return rc;
}

int relay_devices_lookup(struct relay_devices *d, const char *key, char *out, size_t cap,
			 struct ferry_error *err)
{
	int64_t now = relay_pg_now_ms();
	struct slot *s;
	char *id = NULL, *k;
	int rc;

	if (cap)
		out[0] = '\0';
	pthread_mutex_lock(&d->mu);
	s = slot_for(d, key, now);
	if (s->key && !strcmp(s->key, key) && s->expires_ms > now) {
		rc = s->id ? 1 : 0;
		if (s->id && cap)
			snprintf(out, cap, "%s", s->id);
		goto out;
	}
	if ((rc = ask(d, key, &id, err)) < 0)
		goto out;
	if ((k = ferry_strdup(key)) != NULL) {   /* no room to cache: still answer */
		ferry_free(s->key);
		ferry_free(s->id);
		s->key = k;
		s->id = id;
		s->expires_ms = relay_pg_now_ms() + TTL_MS;
	}
	if (rc == 1 && cap)
		snprintf(out, cap, "%s", id);
	if (!k)
		ferry_free(id);
out:
	pthread_mutex_unlock(&d->mu);
	return rc;
}
