/*
 * gen_sqlite.c - ferry generate's SQLite formats: the flat telemetry table
 * and a Home Assistant recorder database.
 *
 * Both are written for speed: a fresh file with page_size 8192, no journal,
 * no fsync, one transaction, one prepared INSERT reused for every row with
 * values bound by pointer (SQLITE_STATIC, the generator's strings outlive
 * the statement step), and the secondary indexes built after the rows are
 * in (one sort instead of millions of B-tree inserts).  The file is written
 * under a temporary name and renamed when complete.
 *
 * The recorder schema is the one tests/data/make-ha-recorder.sh writes
 * (HA schema 43): states_meta, state_attributes (deduplicated, hashed with
 * fnv1a-32 like HA), states with old_state_id chaining each entity's
 * history, statistics_meta and hourly statistics for the sensors,
 * recorder_runs and schema_changes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "model/value.h"
#include "gen_int.h"

struct sq_out {
	sqlite3 *db;
	char *tmp;
};

static int sq_fail(sqlite3 *db, struct ferry_error *err, const char *what)
{
	ferry_error_set(err, FERRY_ESQL, "cannot %s: %s", what,
			db ? sqlite3_errmsg(db) : "out of memory");
	if (db)
		ferry_error_origin(err, "sqlite %d", sqlite3_extended_errcode(db));
	return FERRY_ESQL;
}

static int sq_exec(sqlite3 *db, const char *sql, struct ferry_error *err)
{
	char *msg = NULL;
	int rc = 0;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		rc = ferry_error_set(err, FERRY_ESQL, "cannot generate: %s (in \"%.60s\")",
				     msg ? msg : sqlite3_errmsg(db), sql);
		ferry_error_origin(err, "sqlite %d", sqlite3_extended_errcode(db));
	}
	sqlite3_free(msg);
	return rc;
}

static int sq_open(struct sq_out *s, const char *path, struct ferry_error *err)
{
	struct ferry_buf name = FERRY_BUF_INIT;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (ferry_buf_addf(&name, "%s.tmp%ld", path, (long)getpid()) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	unlink(name.buf);
	if (sqlite3_open_v2(name.buf, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create '%s': %s", name.buf,
				     s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sqlite3_close(s->db);
		s->db = NULL;
		unlink(name.buf);
		goto out;
	}
	s->tmp = ferry_buf_detach(&name, NULL);
	/* page_size must come before the first table; threads lets CREATE
	 * INDEX sort on two cores; the cache bounds memory (64 MiB). */
	rc = sq_exec(s->db,
		     "PRAGMA page_size = 8192;"
		     "PRAGMA journal_mode = OFF;"
		     "PRAGMA synchronous = OFF;"
		     "PRAGMA locking_mode = EXCLUSIVE;"
		     "PRAGMA cache_size = -65536;"
		     "PRAGMA threads = 2;", err);
out:
	ferry_buf_release(&name);
	return rc;
}

static int sq_close(struct sq_out *s, struct gen_out *w, int rc, struct ferry_error *err)
{
	if (s->db && sqlite3_close(s->db) != SQLITE_OK && rc == 0)
		rc = sq_fail(s->db, err, "close the database");
	if (s->tmp) {
		if (rc == 0) {
			FILE *f = fopen(s->tmp, "rb");

			if (f) {
				fseek(f, 0, SEEK_END);
				w->bytes = (uint64_t)ftell(f);
				fclose(f);
			}
			if (rename(s->tmp, w->o->path) != 0)
				rc = ferry_error_set(err, FERRY_EIO, "cannot rename '%s' to '%s': %m",
						     s->tmp, w->o->path);
		}
		if (rc < 0)
			unlink(s->tmp);
	}
	ferry_free(s->tmp);
	return rc;
}

static void progress_every(struct gen_out *w, uint64_t *since)
{
	if (++*since == GEN_PROGRESS_EVERY) {
		ferry_progress_add(w->progress, *since, 0);
		ferry_progress_tick(w->progress);
		*since = 0;
	}
}

/* ------------------------------------------------------------ flat table */

static int valid_ident(const char *s)
{
	if (!*s || strlen(s) > 63 || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

int gen_write_sqlite(struct gen_out *w, struct ferry_error *err)
{
	const char *table = w->o->table ? w->o->table : "telemetry";
	struct sq_out s;
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct ferry_gen_event ev;
	sqlite3_stmt *ins = NULL;
	uint64_t since = 0;
	double t0 = ferry_now();
	int rc;

	memset(&s, 0, sizeof(s));
	if (!valid_ident(table)) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "invalid table name '%s'; use letters, digits and '_'", table);
		goto out;
	}
	rc = sq_open(&s, w->o->path, err);
	if (rc < 0)
		goto out;
	if (ferry_buf_addf(&sql,
			   "CREATE TABLE \"%s\" (id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL,"
			   " ts REAL NOT NULL, value REAL, state TEXT, attributes TEXT);"
			   "BEGIN;", table) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = sq_exec(s.db, sql.buf, err);
	if (rc < 0)
		goto out;
	ferry_buf_clear(&sql);
	if (ferry_buf_addf(&sql, "INSERT INTO \"%s\" (id, entity_id, ts, value, state, attributes)"
			   " VALUES (?, ?, ?, ?, ?, ?)", table) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v3(s.db, sql.buf, -1, SQLITE_PREPARE_PERSISTENT, &ins, NULL)) {
		rc = sq_fail(s.db, err, "prepare the insert");
		goto out;
	}
	while (ferry_gen_next(w->g, &ev)) {
		const struct gen_entity *e = &w->g->ents[ev.entity];

		sqlite3_bind_int64(ins, 1, (sqlite3_int64)(w->rows + 1));
		sqlite3_bind_text(ins, 2, e->pub.entity_id, e->id_len, SQLITE_STATIC);
		sqlite3_bind_double(ins, 3, (double)ev.ts_us / 1e6);
		if (ev.state) {
			sqlite3_bind_null(ins, 4);
			sqlite3_bind_text(ins, 5, ev.state, ev.tenths ? 2 : 3, SQLITE_STATIC);
		} else {
			sqlite3_bind_double(ins, 4, (double)ev.tenths / 10.0);
			sqlite3_bind_null(ins, 5);
		}
		sqlite3_bind_text(ins, 6, e->attrs_json, e->attrs_len, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			rc = sq_fail(s.db, err, "insert a row");
			goto out;
		}
		sqlite3_reset(ins);
		w->rows++;
		progress_every(w, &since);
	}
	ferry_progress_add(w->progress, since, 0);
	ferry_log(FERRY_LOG_INFO, "generate: %llu rows inserted in %.2fs, building the index",
		  (unsigned long long)w->rows, ferry_now() - t0);
	ferry_buf_clear(&sql);
	if (ferry_buf_addf(&sql, "CREATE INDEX \"%s_entity_id_ts\" ON \"%s\" (entity_id, ts); COMMIT;",
			   table, table) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = sq_exec(s.db, sql.buf, err);

out:
	sqlite3_finalize(ins);
	rc = sq_close(&s, w, rc, err);
	ferry_buf_release(&sql);
	return rc;
}

/* -------------------------------------------------------------- recorder */

static const char recorder_schema[] =
	"CREATE TABLE states_meta (\n"
	"\tmetadata_id INTEGER NOT NULL,\n"
	"\tentity_id VARCHAR(255),\n"
	"\tPRIMARY KEY (metadata_id)\n"
	");\n"
	"CREATE TABLE state_attributes (\n"
	"\tattributes_id INTEGER NOT NULL,\n"
	"\thash BIGINT,\n"
	"\tshared_attrs TEXT,\n"
	"\tPRIMARY KEY (attributes_id)\n"
	");\n"
	"CREATE TABLE states (\n"
	"\tstate_id INTEGER NOT NULL,\n"
	"\tentity_id CHAR(0),\n"
	"\tstate VARCHAR(255),\n"
	"\tattributes CHAR(0),\n"
	"\tevent_id SMALLINT,\n"
	"\tlast_changed DATETIME,\n"
	"\tlast_changed_ts FLOAT,\n"
	"\tlast_reported_ts FLOAT,\n"
	"\tlast_updated DATETIME,\n"
	"\tlast_updated_ts FLOAT,\n"
	"\told_state_id INTEGER,\n"
	"\tattributes_id INTEGER,\n"
	"\tcontext_id CHAR(0),\n"
	"\tcontext_user_id CHAR(0),\n"
	"\tcontext_parent_id CHAR(0),\n"
	"\torigin_idx SMALLINT,\n"
	"\tcontext_id_bin BLOB,\n"
	"\tcontext_user_id_bin BLOB,\n"
	"\tcontext_parent_id_bin BLOB,\n"
	"\tmetadata_id INTEGER,\n"
	"\tPRIMARY KEY (state_id),\n"
	"\tFOREIGN KEY(old_state_id) REFERENCES states (state_id),\n"
	"\tFOREIGN KEY(attributes_id) REFERENCES state_attributes (attributes_id),\n"
	"\tFOREIGN KEY(metadata_id) REFERENCES states_meta (metadata_id)\n"
	");\n"
	"CREATE TABLE statistics_meta (\n"
	"\tid INTEGER NOT NULL,\n"
	"\tstatistic_id VARCHAR(255),\n"
	"\tsource VARCHAR(32),\n"
	"\tunit_of_measurement VARCHAR(255),\n"
	"\thas_mean BOOLEAN,\n"
	"\thas_sum BOOLEAN,\n"
	"\tname VARCHAR(255),\n"
	"\tPRIMARY KEY (id)\n"
	");\n"
	"CREATE TABLE statistics (\n"
	"\tid INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"\tcreated DATETIME,\n"
	"\tcreated_ts FLOAT,\n"
	"\tmetadata_id INTEGER,\n"
	"\tstart DATETIME,\n"
	"\tstart_ts FLOAT,\n"
	"\tmean FLOAT,\n"
	"\tmin FLOAT,\n"
	"\tmax FLOAT,\n"
	"\tlast_reset DATETIME,\n"
	"\tlast_reset_ts FLOAT,\n"
	"\tstate FLOAT,\n"
	"\tsum FLOAT,\n"
	"\tFOREIGN KEY(metadata_id) REFERENCES statistics_meta (id) ON DELETE CASCADE\n"
	");\n"
	"CREATE TABLE recorder_runs (\n"
	"\trun_id INTEGER NOT NULL,\n"
	"\tstart DATETIME NOT NULL,\n"
	"\t\"end\" DATETIME,\n"
	"\tclosed_incorrect BOOLEAN NOT NULL,\n"
	"\tcreated DATETIME NOT NULL,\n"
	"\tPRIMARY KEY (run_id)\n"
	");\n"
	"CREATE TABLE schema_changes (\n"
	"\tchange_id INTEGER NOT NULL,\n"
	"\tschema_version INTEGER,\n"
	"\tchanged DATETIME NOT NULL,\n"
	"\tPRIMARY KEY (change_id)\n"
	");\n"
	"INSERT INTO schema_changes (change_id, schema_version, changed) VALUES\n"
	"\t(1, 41, '2023-06-07 19:02:11.341920'),\n"
	"\t(2, 42, '2023-12-06 20:13:08.905312'),\n"
	"\t(3, 43, '2024-01-11 03:14:05.011874');\n";

static const char recorder_indexes[] =
	"CREATE UNIQUE INDEX ix_states_meta_entity_id ON states_meta (entity_id);\n"
	"CREATE INDEX ix_state_attributes_hash ON state_attributes (hash);\n"
	"CREATE INDEX ix_states_context_id_bin ON states (context_id_bin);\n"
	"CREATE INDEX ix_states_last_updated_ts ON states (last_updated_ts);\n"
	"CREATE INDEX ix_states_metadata_id_last_updated_ts ON states (metadata_id, last_updated_ts);\n"
	"CREATE INDEX ix_states_attributes_id ON states (attributes_id);\n"
	"CREATE INDEX ix_states_old_state_id ON states (old_state_id);\n"
	"CREATE UNIQUE INDEX ix_statistics_meta_statistic_id ON statistics_meta (statistic_id);\n"
	"CREATE UNIQUE INDEX ix_statistics_statistic_id_start_ts ON statistics (metadata_id, start_ts);\n"
	"CREATE INDEX ix_statistics_start_ts ON statistics (start_ts);\n"
	"CREATE INDEX ix_recorder_runs_start_end ON recorder_runs (start, \"end\");\n";

/* What the recorder writer tracks per entity. */
struct rec_entity {
	int64_t last_state_id;   /* 0 = none yet */
	int64_t last_tenths;     /* numeric: the previous value */
	int64_t changed_us;      /* when the state last changed */
	uint32_t *attr_ids;      /* lights: 256 slots (0 off, 1..255 brightness) */
	uint32_t attr_id;        /* everything else: its one attributes row */
	int64_t stat_id;         /* statistics_meta id, 0 = no statistics */
	/* the current hour's statistics */
	int64_t n, sum, min, max;
};

struct rec_ctx {
	struct gen_out *w;
	sqlite3 *db;
	sqlite3_stmt *attr, *stat;
	struct rec_entity *re;
	uint32_t next_attr_id;
	struct ferry_buf js;
	int64_t hour;            /* hour (epoch s / 3600) being accumulated */
};

/* HA hashes shared_attrs with fnv1a-32 (fnv_hash.fnv1a_32). */
static uint32_t fnv1a32(const char *s, size_t n)
{
	uint32_t h = 0x811c9dc5u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x01000193u;
	}
	return h;
}

/* The attributes row for this event, inserted on first use. */
static int rec_attr_id(struct rec_ctx *c, uint32_t ent, const struct ferry_gen_event *ev,
		       uint32_t *out, struct ferry_error *err)
{
	const struct gen_entity *e = &c->w->g->ents[ent];
	struct rec_entity *r = &c->re[ent];
	uint32_t *slot = &r->attr_id;
	const char *js = e->attrs_json;
	size_t n;
	int rc = 0;

	if (e->pub.kind == FERRY_GEN_LIGHT) {
		if (!r->attr_ids) {
			r->attr_ids = ferry_calloc(256, sizeof(uint32_t));
			if (!r->attr_ids)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		slot = &r->attr_ids[ev->brightness & 255];
	}
	if (*slot) {
		*out = *slot;
		return 0;
	}
	if (e->pub.kind == FERRY_GEN_LIGHT) {
		ferry_buf_clear(&c->js);
		rc |= ferry_buf_addstr(&c->js, "{\"min_color_temp_kelvin\":2202,"
				       "\"max_color_temp_kelvin\":6535,\"supported_color_modes\":"
				       "[\"brightness\",\"color_temp\"],");
		if (ev->brightness)
			rc |= ferry_buf_addf(&c->js, "\"color_mode\":\"color_temp\",\"brightness\":%d,"
					     "\"color_temp_kelvin\":2700,", ev->brightness);
		else
			rc |= ferry_buf_addstr(&c->js, "\"color_mode\":null,\"brightness\":null,");
		rc |= ferry_buf_addstr(&c->js, "\"friendly_name\":");
		rc |= ferry_buf_addjson(&c->js, e->pub.friendly_name, strlen(e->pub.friendly_name));
		rc |= ferry_buf_addstr(&c->js, ",\"supported_features\":40}");
		if (rc)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		js = c->js.buf;
	}
	n = strlen(js);
	*slot = ++c->next_attr_id;
	sqlite3_bind_int64(c->attr, 1, *slot);
	sqlite3_bind_int64(c->attr, 2, fnv1a32(js, n));
	sqlite3_bind_text(c->attr, 3, js, (int)n, SQLITE_STATIC);
	if (sqlite3_step(c->attr) != SQLITE_DONE)
		rc = sq_fail(c->db, err, "insert into 'state_attributes'");
	sqlite3_reset(c->attr);
	if (rc == 0)
		*out = *slot;
	return rc;
}

/* Write the hour's statistics rows (mean/min/max per sensor). */
static int rec_flush_stats(struct rec_ctx *c, struct ferry_error *err)
{
	uint32_t i;
	double start = (double)(c->hour * 3600);

	for (i = 0; i < c->w->g->nents; i++) {
		struct rec_entity *r = &c->re[i];

		if (!r->n)
			continue;
		sqlite3_bind_double(c->stat, 1, start + 3600 + 10.0 + (double)(i % 97) / 1000.0);
		sqlite3_bind_int64(c->stat, 2, r->stat_id);
		sqlite3_bind_double(c->stat, 3, start);
		sqlite3_bind_double(c->stat, 4, (double)llround((double)r->sum / (double)r->n * 1e5) / 1e6);
		sqlite3_bind_double(c->stat, 5, (double)r->min / 10.0);
		sqlite3_bind_double(c->stat, 6, (double)r->max / 10.0);
		if (sqlite3_step(c->stat) != SQLITE_DONE)
			return sq_fail(c->db, err, "insert into 'statistics'");
		sqlite3_reset(c->stat);
		r->n = 0;
	}
	return 0;
}

static void dt_text(char *out, size_t n, int64_t us)
{
	/* seconds truncated toward zero and the fraction taken modulo, as
	 * this writer always has (generated times are after 1970) */
	int64_t sec = us / 1000000, frac = (us % 1000000 + 1000000) % 1000000;

	val_format_timestamp(out, n, sec * 1000000 + frac, 0, NULL);
}

int gen_write_recorder(struct gen_out *w, struct ferry_error *err)
{
	static const unsigned char user_id[16] = {
		0x3d, 0x1a, 0x0c, 0x5b, 0x7e, 0x2f, 0x4a, 0x11,
		0xb0, 0xc4, 0xd2, 0xe6, 0xf8, 0x09, 0x1a, 0x2b
	};
	struct sq_out s;
	struct rec_ctx c;
	struct ferry_gen_event ev;
	struct gen_rng ctx_rng;
	sqlite3_stmt *st = NULL, *meta = NULL, *smeta = NULL, *run = NULL;
	ferry_gen *g = w->g;
	uint64_t since = 0;
	double t0 = ferry_now();
	int64_t first_us = 0, last_us = 0, stat_ids = 0;
	uint32_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.w = w;
	c.hour = INT64_MIN;
	ferry_buf_init(&c.js, 0);
	gen_rng_seed(&ctx_rng, g->o.seed ^ 0x636f6e7465787421ULL);
	rc = sq_open(&s, w->o->path, err);
	if (rc < 0)
		goto out;
	c.db = s.db;
	c.re = ferry_calloc(g->nents, sizeof(*c.re));
	if (!c.re) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = sq_exec(s.db, recorder_schema, err);
	if (rc == 0)
		rc = sq_exec(s.db, "BEGIN", err);
	if (rc < 0)
		goto out;
	if (sqlite3_prepare_v2(s.db, "INSERT INTO states_meta (metadata_id, entity_id) VALUES (?, ?)",
			       -1, &meta, NULL) ||
	    sqlite3_prepare_v2(s.db, "INSERT INTO statistics_meta (id, statistic_id, source,"
			       " unit_of_measurement, has_mean, has_sum, name)"
			       " VALUES (?, ?, 'recorder', ?, 1, 0, NULL)", -1, &smeta, NULL) ||
	    sqlite3_prepare_v2(s.db, "INSERT INTO state_attributes (attributes_id, hash,"
			       " shared_attrs) VALUES (?, ?, ?)", -1, &c.attr, NULL) ||
	    sqlite3_prepare_v2(s.db, "INSERT INTO statistics (created_ts, metadata_id, start_ts,"
			       " mean, min, max) VALUES (?, ?, ?, ?, ?, ?)", -1, &c.stat, NULL) ||
	    sqlite3_prepare_v2(s.db, "INSERT INTO recorder_runs (run_id, start, \"end\","
			       " closed_incorrect, created) VALUES (1, ?, ?, 0, ?)", -1, &run, NULL) ||
	    sqlite3_prepare_v3(s.db, "INSERT INTO states (state_id, state, last_changed_ts,"
			       " last_reported_ts, last_updated_ts, old_state_id, attributes_id,"
			       " origin_idx, context_id_bin, context_user_id_bin, metadata_id)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)", -1,
			       SQLITE_PREPARE_PERSISTENT, &st, NULL)) {
		rc = sq_fail(s.db, err, "prepare the recorder inserts");
		goto out;
	}
	for (i = 0; i < g->nents; i++) {
		const struct ferry_gen_entity *e = &g->ents[i].pub;

		sqlite3_bind_int64(meta, 1, i + 1);
		sqlite3_bind_text(meta, 2, e->entity_id, -1, SQLITE_STATIC);
		if (sqlite3_step(meta) != SQLITE_DONE) {
			rc = sq_fail(s.db, err, "insert into 'states_meta'");
			goto out;
		}
		sqlite3_reset(meta);
		if (!e->numeric)
			continue;
		c.re[i].stat_id = ++stat_ids;
		sqlite3_bind_int64(smeta, 1, stat_ids);
		sqlite3_bind_text(smeta, 2, e->entity_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(smeta, 3, e->unit, -1, SQLITE_STATIC);
		if (sqlite3_step(smeta) != SQLITE_DONE) {
			rc = sq_fail(s.db, err, "insert into 'statistics_meta'");
			goto out;
		}
		sqlite3_reset(smeta);
	}
	while (ferry_gen_next(g, &ev)) {
		const struct gen_entity *e = &g->ents[ev.entity];
		struct rec_entity *r = &c.re[ev.entity];
		int64_t state_id = (int64_t)w->rows + 1, ms = ev.ts_us / 1000;
		unsigned char ctx[16];
		char text[32];
		uint64_t rnd;
		uint32_t attr_id = 0;
		int changed;

		if (!w->rows)
			first_us = ev.ts_us;
		last_us = ev.ts_us;
		if (ev.ts_us / 3600000000LL != c.hour) {
			if (c.hour != INT64_MIN && (rc = rec_flush_stats(&c, err)) < 0)
				goto out;
			c.hour = ev.ts_us / 3600000000LL;
		}
		if (ev.state) {
			sqlite3_bind_text(st, 2, ev.state, ev.tenths ? 2 : 3, SQLITE_STATIC);
			changed = 1;  /* on/off entities report changes only */
		} else {
			char *end = gen_put_tenths(text, ev.tenths);

			sqlite3_bind_text(st, 2, text, (int)(end - text), SQLITE_TRANSIENT);
			changed = !r->last_state_id || r->last_tenths != ev.tenths;
			r->last_tenths = ev.tenths;
			if (!r->n || ev.tenths < r->min)
				r->min = ev.tenths;
			if (!r->n || ev.tenths > r->max)
				r->max = ev.tenths;
			r->sum = r->n ? r->sum + ev.tenths : ev.tenths;
			r->n++;
		}
		if (changed)
			r->changed_us = ev.ts_us;
		/* like HA: last_changed/last_reported only when they differ
		 * from last_updated */
		if (changed) {
			sqlite3_bind_null(st, 3);
			sqlite3_bind_null(st, 4);
		} else {
			sqlite3_bind_double(st, 3, (double)r->changed_us / 1e6);
			sqlite3_bind_double(st, 4, (double)ev.ts_us / 1e6);
		}
		sqlite3_bind_int64(st, 1, state_id);
		sqlite3_bind_double(st, 5, (double)ev.ts_us / 1e6);
		if (r->last_state_id)
			sqlite3_bind_int64(st, 6, r->last_state_id);
		else
			sqlite3_bind_null(st, 6);
		rc = rec_attr_id(&c, ev.entity, &ev, &attr_id, err);
		if (rc < 0)
			goto out;
		sqlite3_bind_int64(st, 7, attr_id);
		/* ULID-like context: 48-bit milliseconds, 80 random bits */
		for (i = 0; i < 6; i++)
			ctx[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
		rnd = gen_rng_next(&ctx_rng);
		memcpy(ctx + 6, &rnd, 8);
		rnd = gen_rng_next(&ctx_rng);
		memcpy(ctx + 14, &rnd, 2);
		sqlite3_bind_blob(st, 8, ctx, 16, SQLITE_TRANSIENT);
		if (!e->pub.numeric && e->pub.kind != FERRY_GEN_MOTION && (rnd >> 32) % 3 == 0)
			sqlite3_bind_blob(st, 9, user_id, 16, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 9);
		sqlite3_bind_int64(st, 10, ev.entity + 1);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = sq_fail(s.db, err, "insert into 'states'");
			goto out;
		}
		sqlite3_reset(st);
		r->last_state_id = state_id;
		w->rows++;
		progress_every(w, &since);
	}
	ferry_progress_add(w->progress, since, 0);
	if (c.hour != INT64_MIN && (rc = rec_flush_stats(&c, err)) < 0)
		goto out;
	ferry_log(FERRY_LOG_INFO, "generate: %llu states inserted in %.2fs, building indexes",
		  (unsigned long long)w->rows, ferry_now() - t0);
	{
		char a[64], b[64];

		dt_text(a, sizeof(a), w->rows ? first_us : g->o.start_us);
		dt_text(b, sizeof(b), w->rows ? last_us : g->o.start_us);
		sqlite3_bind_text(run, 1, a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(run, 2, b, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(run, 3, a, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(run) != SQLITE_DONE) {
			rc = sq_fail(s.db, err, "insert into 'recorder_runs'");
			goto out;
		}
	}
	rc = sq_exec(s.db, recorder_indexes, err);
	if (rc == 0)
		rc = sq_exec(s.db, "COMMIT", err);
out:
	sqlite3_finalize(st);
	sqlite3_finalize(meta);
	sqlite3_finalize(smeta);
	sqlite3_finalize(run);
	sqlite3_finalize(c.attr);
	sqlite3_finalize(c.stat);
	if (c.re)
		for (i = 0; i < g->nents; i++)
			ferry_free(c.re[i].attr_ids);
	ferry_free(c.re);
	ferry_buf_release(&c.js);
	return sq_close(&s, w, rc, err);
}
