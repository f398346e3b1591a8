/*
 * cutover_int.h - what cutover.c (the plan, the steps, the lock, the log)
 * and cutover_gates.c (the gates) share.
 *
 * A gate is a row of the table in cutover_gates.c: the step it lets out
 * of, the strategies it applies to, whether it does work (runs a copy or
 * a verify: only advance runs those; status shows their last result), its
 * threshold, and a function that fills a result with pass/fail and the
 * figure a person reads.  Phase-2 gates (live consistency, query latency)
 * are rows added to that table; nothing else changes.
 */
#ifndef FERRY_RELAY_CUTOVER_INT_H
#define FERRY_RELAY_CUTOVER_INT_H

#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "ferry/relay.h"
#include "relay/relay_pg.h"

struct ferry_verify_result;

#define CUT_LIVE_S RELAY_LIVE_S   /* a relay is live when it reported this recently */
#define CUT_S(x) RELAY_S(x)
/* Whether the ferry.relays row r (its alias, a string literal) is a live
 * relay: reported in the last CUT_LIVE_S seconds and did not say it
 * stopped (to_jsonb: a table of an older relay has no stopped_at); and
 * the live relays to select from. */
#define CUT_LIVE(r) "(" r ".last_seen > now() - interval '" CUT_S(CUT_LIVE_S) " seconds'" \
	" AND to_jsonb(" r ") ->> 'stopped_at' IS NULL)"
#define CUT_LIVE_RELAYS " FROM ferry.relays r WHERE " CUT_LIVE("r")

/* ferry.cutover_plan, as read. */
struct cut_plan {
	char status[16];         /* active, aborted */
	char strategy[16];
	int step;
	double step_age_s;       /* since the step began (the database's clock) */
	char *old_url;           /* whole, with its password */
	char *new_url;           /* prepare --new, whole; NULL: the plan's database */
	char *layout, *map, *table, *series_tag, *chunk_time;
	int keep_ns;
	double soak_s;
	char *switch_cmd, *final_export;
	int64_t t0_us;           /* 0: not yet */
	int64_t backfill_t0_us;  /* the T0 the backfill job ran with; 0: none */
	char *queries;           /* the user's queries (JSON array), or NULL */
	int64_t t1_us;           /* blue-green, immediate: the switch, the catch-up's
				  * end; 0: not yet */
};

/* No dual phase: the relays stay in old-only until the switch, and a
 * catch-up copies [T0, switch) (blue-green, immediate). */
#define RELAY_CUT_CATCHUP(p) (!strcmp((p)->strategy, "blue-green") || \
			      !strcmp((p)->strategy, "immediate"))
/* The relay phase of step under p's strategy (cutover.c). */
int relay_cut_phase(const struct cut_plan *p, int step);

#define RELAY_CUT_MAX_WAVES 16   /* as the relay's RELAY_MAX_WAVES */
#define RELAY_CUT_GRADUAL(p) (!strcmp((p)->strategy, "gradual"))

/* A gradual plan's waves (ferry.cutover_waves), as read. */
struct cut_waves {
	int n;                   /* waves, the rest included; 0: not gradual */
	int k;                   /* in new-primary: the first k */
	char name[RELAY_CUT_MAX_WAVES][64];
	char *match[RELAY_CUT_MAX_WAVES];   /* JSON arrays of selectors */
	char sig[RELAY_CUT_MAX_WAVES * 12 + 1];   /* "new-primary,dual" */
};
struct cut_ctx {
	PGconn *pg;
	const struct ferry_cutover_opts *o;   /* NULL in status */
	const char *db;
	struct cut_plan *plan;
	int work;                /* run the gates that do work */
	json_t *last;            /* status: the gates of the last advance, or NULL */
	int64_t t0_us;           /* set by the dual-write gate */
	int64_t backfilled;      /* points the backfill wrote (this run) */
	struct cut_waves waves;  /* gradual (relay_cut_waves_read) */
	const char *const *include;   /* the verify gate: these measurements only */
};

struct cut_result {
	int pass;
	int ran;                 /* 0: a work gate status did not run */
	double value;
	char figure[1536];
};

#define CUT_DUAL 1               /* strategies a gate applies to */
#define CUT_BLUE 2
#define CUT_IMM 4
#define CUT_GRAD 8
#define CUT_ALL (CUT_DUAL | CUT_BLUE | CUT_IMM | CUT_GRAD)

struct cut_gate {
	const char *name;
	int step;                /* lets out of this step */
	int strategies;          /* CUT_* bits */
	int work;                /* runs a copy or a verify */
	double threshold;
	const char *what;        /* one line for the help and the README */
	/* 0 with r filled (a gate that cannot be computed fails with the
	 * reason as its figure: it never stops the evaluation) */
	void (*fn)(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);
	/* NULL, or whether the gate applies now (gradual: to the wave) */
	int (*when)(const struct cut_ctx *c);
};

extern const struct cut_gate relay_cut_gates[];
extern const size_t relay_cut_ngates;

/* Evaluate the exit gates of c->plan->step: one JSON object per gate
 * appended to arr; 1 when all pass.  Lines go to out as they finish. */
int relay_cut_gates_eval(struct cut_ctx *c, json_t *arr, FILE *out);

/* prepare: the user's queries (--query, --queries) as a JSON array of
 * {name, sql, influxql} into *json (NULL: none); FERRY_EUSAGE naming the
 * bad one. */
int relay_cut_queries(const struct ferry_cutover_opts *o, char **json, struct ferry_error *err);
/* The query-latency gate (cutover_latency.c). */
void relay_cut_g_latency(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);

/* At the move into switchover (blue-green, immediate): wait for the
 * relays to switch, then run the catch-up, its line to out; 0 when it
 * passed. */
int relay_cut_catchup_now(struct cut_ctx *c, FILE *out);
/* The live-consistency gate (cutover_live.c). */
void relay_cut_live(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);
/* The old store's (InfluxDB's) points of measurement m[i] in [lo[i],
 * hi[i]) (ns), one record per range, written into the PostgreSQL table
 * `table` (made when missing) by the relay's own sink: the rows the new
 * store should hold for them.  0, or -1 with the reason in r->figure. */
int relay_cut_old_points(struct cut_ctx *c, const char *table, char **m, const int64_t *lo,
			 const int64_t *hi, size_t n, struct cut_result *r);

/* blue-green, immediate into PostgreSQL's narrow table (cutover_repair.c):
 * the old store's points before T0 counted per measurement and day as
 * the backfill begins, so a day whose count changes later (late points)
 * is found whatever the new store holds.  0, or -1 with the reason in r. */
int relay_cut_old_snapshot(struct cut_ctx *c, struct cut_result *r);
/* The scratch schema of the repair (dropped after it, and by the verify
 * gate when a killed advance left it) */
#define RELAY_CUT_REPAIR_SCHEMA "ferry_cutover_repair"
/* blue-green, immediate (cutover_repair.c): the windows before T0 the
 * verify v found different (PostgreSQL: the days whose count in the old
 * store changed since the snapshot; v may be NULL), copied again from the
 * old store, adding what
 * the new one misses (never removing a row).  The rows (PostgreSQL) or
 * points (InfluxDB, written over) added, with the windows in *nwin (0:
 * none, or too many to be late points); -1 with the reason in r. */
int64_t relay_cut_repair(struct cut_ctx *c, const struct ferry_verify_result *v, size_t *nwin,
			 struct cut_result *r);

/* After the switch (blue-green, immediate into PostgreSQL's narrow table;
 * cutover_repair.c): the old store's points stamped in the day from T1
 * on, written to it before the switch by a client whose clock runs ahead
 * (no window copied them: the catch-up's ends at T1), added where the new
 * store misses them (the relays' own writes since the switch are there).
 * How many rows, or -1 with the reason in r. */
int64_t relay_cut_ahead(struct cut_ctx *c, struct cut_result *r);

/* The verify gate (cutover_gates.c): both stores before T0, c->include's
 * measurements only when set. */
void relay_cut_verify(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);
/* How many live relays report phase, with the last one's phase_since as
 * c->t0_us when all do; it fails for a relay relay_cut_unseen() names. */
void relay_cut_relays_in(struct cut_ctx *c, int phase, struct cut_result *r);
/* The relays that went silent without saying they stopped (or being let
 * go by forget-relay), however long ago, whose last column ("phase" or
 * "waves") was not want: cut off from this database but not from their
 * clients, they may still acknowledge writes by it (old-only after T0:
 * points the new store never gets).  Their names into list; how many, or
 * -1 with the reason in r. */
int64_t relay_cut_unseen(struct cut_ctx *c, const char *column, const char *want, char *list,
			 size_t n, struct cut_result *r);

/* ---- gradual (cutover_waves.c) ---- */
/* prepare: --wave and --waves as a JSON array of {name, match} (the rest
 * last) into *json; FERRY_EUSAGE naming the bad one. */
int relay_cut_waves_parse(const struct ferry_cutover_opts *o, char **json,
			  struct ferry_error *err);
/* Inside prepare's transaction: ferry.cutover_waves holds json's waves, all dual. */
int relay_cut_waves_store(PGconn *pg, const char *json, const char *by, struct ferry_error *err);
/* c->waves from ferry.cutover_waves (n 0 when not gradual). */
int relay_cut_waves_read(struct cut_ctx *c, struct ferry_error *err);
void relay_cut_waves_release(struct cut_waves *w);
/* Inside a move's transaction: the first k waves in new-primary, the rest
 * dual, and the relays told. */
int relay_cut_waves_set(PGconn *pg, int k, const char *by, struct ferry_error *err);
void relay_cut_g_relays_waves(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);
void relay_cut_g_wave_errors(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);
void relay_cut_g_wave_verify(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r);
/* when: a wave is left to switch / every wave switched */
int relay_cut_waves_left(const struct cut_ctx *c);
int relay_cut_waves_all(const struct cut_ctx *c);

/* The plan's ts options for a copy or a verify (borrowing its strings). */
void relay_cut_plan_ts(const struct cut_plan *p, struct ferry_ts_opts *ts);
/* cutover_target.c, at prepare: the new store's table made as ferry
 * copy makes it (what happened goes to note); the rows an earlier plan
 * left in the narrow table: refused (FERRY_EEXIST) or, with
 * o->truncate, emptied (said in note). */
void relay_cut_make_schema(PGconn *pg, const struct ferry_cutover_opts *o, struct ferry_buf *note);
int relay_cut_leftover_rows(PGconn *pg, const struct ferry_cutover_opts *o, struct ferry_buf *note,
			    struct ferry_error *err);

/* The new store of c's plan (prepare --new, else the plan's database),
 * and whether it is InfluxDB (influx://: no tables, no seam to repair). */
const char *relay_cut_new(const struct cut_ctx *c);
int relay_cut_new_influx(const struct cut_ctx *c);
/* An InfluxDB new store's database: 1 there (made when create and
 * missing), 0 missing, < 0 with the reason in msg. */
int relay_cut_ifx_db(const char *url, int create, char *msg, size_t n);
/* T0 as RFC 3339 (microseconds, UTC) into buf. */
void relay_cut_time_text(int64_t us, char *buf, size_t n);

#endif
