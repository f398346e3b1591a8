/*
 * planner.c - from the source catalog to the target schema.
 *
 * Decides each target column's type (declared type, then a pre-scan of
 * the values where the declaration alone cannot be trusted: dates, JSON,
 * booleans, varchar lengths, untyped columns), translates defaults,
 * shortens identifiers longer than PostgreSQL's 63 bytes with a hash
 * suffix, and writes the DDL: tables before the load, keys, indexes,
 * foreign keys and identity sequences after it.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/registry.h"

#define PG_NAMEDATALEN 63
/* appended to a column named like a PostgreSQL system column (xmin) */
#define SYSCOL_SUFFIX "_col"

/* ---- small string lists ------------------------------------------------ */

int plan_strv_push(struct strv *v, char *s)
{
	if (!s)
		return FERRY_ENOMEM;
	if (FERRY_GROW(v->v, v->cap, v->n + 1) < 0) {
		ferry_free(s);
		return FERRY_ENOMEM;
	}
	v->v[v->n++] = s;
	return 0;
}

int plan_strv_pushf(struct strv *v, const char *fmt, ...)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ferry_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		ferry_buf_release(&b);
		return rc;
	}
	return plan_strv_push(v, ferry_buf_detach(&b, NULL));
}

void plan_strv_release(struct strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		ferry_free(v->v[i]);
	ferry_free(v->v);
	memset(v, 0, sizeof(*v));
}

/* ---- identifiers ------------------------------------------------------- */

/*
 * A name that fits stays as it is.  A longer one keeps its first bytes
 * (cut on a UTF-8 boundary) and gets "_" plus 8 hex digits of its hash;
 * `salt` changes the hash when that still collides.
 */
static char *shorten(const char *name, unsigned salt)
{
	int berr = 0;
	size_t n = strlen(name), keep = PG_NAMEDATALEN - 9;
	char *out;
	uint64_t h;

	if (n <= PG_NAMEDATALEN && salt == 0)
		return ferry_strdup(name);
	if (keep > n)
		keep = n;
	while (keep > 0 && keep < n && ((unsigned char)name[keep] & 0xC0) == 0x80)
		keep--;
	{
		struct ferry_buf b = FERRY_BUF_INIT;

		berr |= ferry_buf_add(&b, name, n);
		if (salt)
			berr |= ferry_buf_addf(&b, "#%u", salt);
		h = ferry_hash64(b.buf, b.len);
		ferry_buf_release(&b);
		if (berr < 0)
			return NULL;  /* out of memory, as below */
	}
	out = ferry_malloc(keep + 10);
	if (!out)
		return NULL;
	memcpy(out, name, keep);
	snprintf(out + keep, 10, "_%08x", (unsigned)(h & 0xFFFFFFFFu));
	return out;
}

static int name_taken(char **names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return 1;
	return 0;
}

/* Shorten name so it is unique among names[0..n); a new name is told
 * in renames (when given) as "<what> '<shown>' -> '<new>'". */
static char *unique_name(const char *name, char **names, size_t n,
			 struct strv *renames, const char *what, const char *shown)
{
	unsigned salt = 0;
	char *s = shorten(name, 0);

	while (s && name_taken(names, n, s)) {
		ferry_free(s);
		s = shorten(name, ++salt);
	}
	if (s && renames && strcmp(s, name))
		plan_strv_pushf(renames, "%s '%s' -> '%s'", what, shown, s);
	return s;
}

/*
 * The name a copy gives source column sc of table t, unique among the
 * names the columns before it got (names[0..k)): its own, with a suffix
 * when PostgreSQL keeps it for a system column (a sensor's xmin), cut to
 * 63 bytes.  A copy into a table it makes uses it; --data-only, --truncate
 * and verify look for it in the target, so they find what a copy made.
 */
static char *copy_col_name(const struct ferry_table *t, const struct ferry_column *sc,
			   char **names, size_t k, struct strv *renames)
{
	struct ferry_buf rn = FERRY_BUF_INIT, shown = FERRY_BUF_INIT;
	char *s = NULL;

	if (ferry_buf_addf(&shown, "%s.%s", t->name, sc->name) < 0)
		goto out;
	if (!ferry_pg_system_column(sc->name)) {
		s = unique_name(sc->name, names, k, renames, "column", shown.buf);
		goto out;
	}
	if (ferry_buf_addf(&rn, "%s%s", sc->name, SYSCOL_SUFFIX) < 0)
		goto out;
	s = unique_name(rn.buf, names, k, renames, "column", shown.buf);
	if (s && renames && !strcmp(s, rn.buf))
		plan_strv_pushf(renames, "column '%s' -> '%s' (a PostgreSQL system column's "
				"name)", shown.buf, s);
out:
	ferry_buf_release(&rn);
	ferry_buf_release(&shown);
	return s;  /* NULL: out of memory */
}

/* The names copy_col_name gives t's columns that are not hidden, in
 * order, in *out (ends with NULL; plan_names_free frees it, also after a
 * failure: FERRY_ENOMEM).  Renames told in renames when given. */
static int col_names(const struct ferry_table *t, struct strv *renames, char ***out)
{
	char **names = ferry_calloc(t->ncols + 1, sizeof(char *));
	size_t i, k = 0;

	*out = names;
	if (!names)
		return FERRY_ENOMEM;
	for (i = 0; i < t->ncols; i++) {
		if (t->cols[i].hidden)
			continue;
		if (!(names[k] = copy_col_name(t, &t->cols[i], names, k, renames)))
			return FERRY_ENOMEM;
		k++;
	}
	return 0;
}

int plan_quote_ident(struct ferry_buf *b, const char *name)
{
	int berr = 0;
	const char *p;

	berr |= ferry_buf_addch(b, '"');
	for (p = name; *p; p++) {
		berr |= ferry_buf_addch(b, *p);
		if (*p == '"')
			berr |= ferry_buf_addch(b, '"');
	}
	berr |= ferry_buf_addch(b, '"');
	return berr;
}

int plan_qualified(struct ferry_buf *b, const char *schema, const char *name)
{
	int berr = 0;

	if (schema) {
		berr |= plan_quote_ident(b, schema);
		berr |= ferry_buf_addch(b, '.');
	}
	berr |= plan_quote_ident(b, name);
	return berr;
}

/* ---- types ------------------------------------------------------------- */

static int has_word(const char *decl, const char *w)
{
	return strcasestr(decl, w) != NULL;
}

/* "(p, s)" -> p, s; returns the count of numbers found. */
static int type_params(const char *decl, int *p, int *s)
{
	const char *lp = strchr(decl, '(');

	if (!lp)
		return 0;
	if (sscanf(lp, "( %d , %d )", p, s) == 2)
		return 2;
	if (sscanf(lp, "( %d )", p) == 1)
		return 1;
	return 0;
}

static void set_type(struct col_plan *cp, int type, int32_t typmod)
{
	char tmp[64];

	cp->type = type;
	cp->typmod = typmod;
	ferry_free(cp->type_sql);
	if (type == FERRY_T_TEXT && typmod > 0)
		snprintf(tmp, sizeof(tmp), "varchar(%d)", typmod);
	else if (type == FERRY_T_NUMERIC && typmod >= 0)
		snprintf(tmp, sizeof(tmp), "numeric(%d,%d)", typmod >> 16, typmod & 0xFFFF);
	else if ((type == FERRY_T_TIMESTAMP || type == FERRY_T_TIMESTAMPTZ ||
		  type == FERRY_T_TIME) && typmod >= 0)
		snprintf(tmp, sizeof(tmp), "%s(%d)", ferry_type_name(type), typmod);
	else
		snprintf(tmp, sizeof(tmp), "%s", ferry_type_name(type));
	cp->type_sql = ferry_strdup(tmp);
}

/* Parse a user-given type (--cast or a target catalog type). */
int plan_parse_type_sql(const char *t, int *type, int32_t *typmod)
{
	int p = 0, s = 0, np = type_params(t, &p, &s);
	char base[64];
	size_t i = 0, k = 0;

	/* The base name without its "(...)": format_type() writes the
	 * precision in the middle, "timestamp(3) with time zone". */
	for (; t[i] && k < sizeof(base) - 1; i++) {
		if (t[i] == '(') {
			while (t[i] && t[i] != ')')
				i++;
			if (!t[i])
				break;
			continue;
		}
		if (t[i] == ' ' && (k == 0 || base[k - 1] == ' '))
			continue;
		base[k++] = (char)tolower((unsigned char)t[i]);
	}
	base[k] = '\0';
	while (k && base[k - 1] == ' ')
		base[--k] = '\0';
	*typmod = -1;
	if (!strcmp(base, "bigint") || !strcmp(base, "int8"))
		*type = FERRY_T_INT64;
	else if (!strcmp(base, "integer") || !strcmp(base, "int") || !strcmp(base, "int4"))
		*type = FERRY_T_INT32;
	else if (!strcmp(base, "smallint") || !strcmp(base, "int2"))
		*type = FERRY_T_INT16;
	else if (!strcmp(base, "double precision") || !strcmp(base, "float8") ||
		 !strcmp(base, "double") || !strcmp(base, "float"))
		*type = FERRY_T_FLOAT64;
	else if (!strcmp(base, "real") || !strcmp(base, "float4"))
		*type = FERRY_T_FLOAT32;
	else if (!strcmp(base, "numeric") || !strcmp(base, "decimal")) {
		*type = FERRY_T_NUMERIC;
		if (np == 2)
			*typmod = p << 16 | s;
		else if (np == 1)
			*typmod = p << 16;
	} else if (!strcmp(base, "text"))
		*type = FERRY_T_TEXT;
	else if (!strcmp(base, "varchar") || !strcmp(base, "character varying") ||
		 !strcmp(base, "char") || !strcmp(base, "character")) {
		*type = FERRY_T_TEXT;
		if (np >= 1 && p > 0)
			*typmod = p;
	} else if (!strcmp(base, "bytea"))
		*type = FERRY_T_BYTES;
	else if (!strcmp(base, "boolean") || !strcmp(base, "bool"))
		*type = FERRY_T_BOOL;
	else if (!strcmp(base, "date"))
		*type = FERRY_T_DATE;
	else if (!strcmp(base, "timestamp") || !strcmp(base, "timestamp without time zone"))
		*type = FERRY_T_TIMESTAMP;
	else if (!strcmp(base, "timestamptz") || !strcmp(base, "timestamp with time zone"))
		*type = FERRY_T_TIMESTAMPTZ;
	else if (!strcmp(base, "json"))
		*type = FERRY_T_JSON;
	else if (!strcmp(base, "jsonb"))
		*type = FERRY_T_JSONB;
	else if (!strcmp(base, "uuid"))
		*type = FERRY_T_UUID;
	else if (!strcmp(base, "time") || !strcmp(base, "time without time zone"))
		*type = FERRY_T_TIME;
	else
		return -1;
	/* fractional-second precision: PostgreSQL rounds to it silently, so
	 * the transform must know it to reject what would be rounded */
	if ((*type == FERRY_T_TIMESTAMP || *type == FERRY_T_TIMESTAMPTZ ||
	     *type == FERRY_T_TIME) && np >= 1 && p >= 0 && p < 6)
		*typmod = p;
	return 0;
}

/* Map a SQLite declared type.  Sets *scan when values must be checked. */
static void map_decl(struct col_plan *cp, const char *decl, int *scan)
{
	int p = 0, s = 0, np = type_params(decl, &p, &s);

	*scan = SCAN_NONE;
	if (!decl[0]) {
		set_type(cp, FERRY_T_BYTES, -1);
		*scan = SCAN_UNTYPED;
	} else if (has_word(decl, "JSON")) {
		set_type(cp, FERRY_T_JSONB, -1);
		*scan = SCAN_JSON;
	} else if (has_word(decl, "BOOL")) {
		/* declared boolean stays boolean: a stray 2 is a reject, not a
		 * reason to turn the whole column into text */
		set_type(cp, FERRY_T_BOOL, -1);
	} else if (has_word(decl, "UUID")) {
		set_type(cp, FERRY_T_UUID, -1);
		*scan = SCAN_UUID;
	} else if (has_word(decl, "DATETIME") || has_word(decl, "TIMESTAMP")) {
		set_type(cp, FERRY_T_TIMESTAMP, -1);
		*scan = SCAN_TIMESTAMP;
	} else if (!strcasecmp(decl, "DATE")) {
		set_type(cp, FERRY_T_DATE, -1);
		*scan = SCAN_DATE;
	} else if (has_word(decl, "INT")) {  /* SQLite's affinity rules, in order */
		set_type(cp, FERRY_T_INT64, -1);
	} else if (has_word(decl, "CHAR") || has_word(decl, "CLOB") ||
		   has_word(decl, "TEXT")) {
		if (np >= 1 && p > 0 && !has_word(decl, "TEXT") && !has_word(decl, "CLOB")) {
			set_type(cp, FERRY_T_TEXT, p);
			*scan = SCAN_VARCHAR;
		} else {
			set_type(cp, FERRY_T_TEXT, -1);
		}
	} else if (has_word(decl, "BLOB")) {
		set_type(cp, FERRY_T_BYTES, -1);
	} else if (has_word(decl, "REAL") || has_word(decl, "FLOA") ||
		   has_word(decl, "DOUB")) {
		set_type(cp, FERRY_T_FLOAT64, -1);
	} else if ((has_word(decl, "NUMERIC") || has_word(decl, "DECIMAL")) && np >= 1 &&
		   p > 0 && p <= 1000) {
		set_type(cp, FERRY_T_NUMERIC, np == 2 ? (p << 16 | (s >= 0 && s <= p ? s : 0))
							: p << 16);
	} else {
		/* NUMERIC affinity: a value that does not look like a number
		 * stays text in SQLite (STRING, TIME, ENUM, MONEY...) */
		set_type(cp, FERRY_T_NUMERIC, -1);
		if (!has_word(decl, "NUMERIC") && !has_word(decl, "DECIMAL"))
			*scan = SCAN_NUMERIC;
	}
}

void plan_col_type(struct col_plan *cp, int type, int32_t typmod)
{
	set_type(cp, type, typmod);
}

void plan_col_decl(struct col_plan *cp, const char *decl)
{
	int scan;

	map_decl(cp, decl, &scan);
}

/* ---- the plan ---------------------------------------------------------- */

int plan_glob_match(const char *const *globs, const char *name)
{
	size_t i;

	for (i = 0; globs && globs[i]; i++)
		if (fnmatch(globs[i], name, 0) == 0)
			return 1;
	return 0;
}

/* The user's --include and --exclude, each matching, leave no table of a
 * source that has some: nothing to do is a usage error. */
int plan_check_left(const char *const *include, const char *const *exclude,
		    const struct ferry_catalog *scat, struct ferry_error *err)
{
	size_t i, k;

	if (!scat->ntables || (!(include && include[0]) && !(exclude && exclude[0])))
		return 0;
	for (i = 0, k = 0; i < scat->ntables; i++)
		k += (!include || !include[0] || plan_glob_match(include, scat->tables[i].name)) &&
		     !plan_glob_match(exclude, scat->tables[i].name);
	if (k)
		return 0;
	return ferry_error_set(err, FERRY_EUSAGE, "--include and --exclude leave out every "
			       "table of the source (%zu): there is nothing to do", scat->ntables);
}

/*
 * A --include or --exclude glob that matches no source table is a typo
 * until shown otherwise: copying or verifying nothing and saying "equal"
 * would hide it.  Names the glob and the first tables the source has.
 */
int plan_check_filters(const char *const *include, const char *const *exclude,
		       const struct ferry_catalog *scat, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf names = FERRY_BUF_INIT;
	const char *const *globs;
	const char *glob = NULL, *opt = NULL;
	size_t i, k;
	int rc, pass;

	for (pass = 0; pass < 2 && !glob; pass++) {
		globs = pass ? exclude : include;
		for (k = 0; globs && globs[k] && !glob; k++) {
			for (i = 0; i < scat->ntables; i++)
				if (fnmatch(globs[k], scat->tables[i].name, 0) == 0)
					break;
			if (i == scat->ntables) {
				glob = globs[k];
				opt = pass ? "--exclude" : "--include";
			}
		}
	}
	if (!glob)
		return 0;
	for (i = 0; i < scat->ntables && i < 10; i++)
		berr |= ferry_buf_addf(&names, "%s%s", i ? ", " : "", scat->tables[i].name);
	if (scat->ntables > 10)
		berr |= ferry_buf_addf(&names, " and %zu more", scat->ntables - 10);
	if (berr < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else if (scat->ntables)
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "%s '%s' matches no table of the source; its tables: %s",
				     opt, glob, names.buf);
	else
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "%s '%s' matches no table: the source has no tables", opt, glob);
	ferry_buf_release(&names);
	return rc;
}

/* --cast 'table.column=type' for this column, or NULL. */
static const char *cast_for(const struct ferry_copy_opts *o, const char *table,
			    const char *col)
{
	size_t i, tn = strlen(table), cn = strlen(col);

	for (i = 0; o->casts && o->casts[i]; i++) {
		const char *c = o->casts[i], *eq = strrchr(c, '=');

		if (!eq)
			continue;
		if ((size_t)(eq - c) == tn + 1 + cn && !strncmp(c, table, tn) &&
		    c[tn] == '.' && !strncmp(c + tn + 1, col, cn))
			return eq + 1;
	}
	return NULL;
}

int plan_check_casts(const struct ferry_copy_opts *o, struct ferry_error *err)
{
	size_t i;

	for (i = 0; o->casts && o->casts[i]; i++) {
		const char *c = o->casts[i], *eq = strrchr(c, '='), *dot = strchr(c, '.');
		int type;
		int32_t tm;

		if (!eq || !dot || dot > eq)
			return ferry_error_set(err, FERRY_EUSAGE,
				"invalid --cast '%s': expected table.column=type", c);
		if (plan_parse_type_sql(eq + 1, &type, &tm) < 0)
			return ferry_error_set(err, FERRY_EUSAGE,
				"invalid --cast '%s': unknown type '%s'", c, eq + 1);
	}
	return 0;
}

static int plan_table(struct plan *pl, const struct ferry_copy_opts *o,
		      struct table_plan *tp, const struct ferry_table *target, int **kinds,
		      struct ferry_error *err)
{
	const struct ferry_table *t = tp->src;
	char **names = NULL;
	int *scan = NULL;
	size_t i, k = 0, nvis = 0;
	int rc = 0;

	for (i = 0; i < t->ncols; i++)
		nvis += !t->cols[i].hidden;
	tp->cols = ferry_calloc(nvis ? nvis : 1, sizeof(*tp->cols));
	scan = ferry_calloc(nvis ? nvis : 1, sizeof(int));
	if (!tp->cols || !scan || col_names(t, target ? NULL : &pl->renames, &names) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < t->ncols; i++) {
		const struct ferry_column *sc = &t->cols[i];
		struct col_plan *cp = &tp->cols[k];
		const char *cast;

		if (sc->hidden) {
			plan_strv_pushf(&pl->warnings,
				"generated column '%s.%s' is not copied: recreate it on the target",
				t->name, sc->name);
			continue;
		}
		cp->src_name = sc->name;
		cp->typmod = -1;
		cp->src_type = sc->type;
		cp->json_made = sc->json_made;
		if (target) {
			/* the name a copy gave it, else its own (a table the
			 * user made with the source's names) */
			int tc = ferry_table_find_column(target, names[k]);
			size_t j;

			if (tc < 0 && strcmp(names[k], sc->name))
				tc = ferry_table_find_column(target, sc->name);
			if (tc < 0) {
				rc = ferry_error_set(err, FERRY_ENOTFOUND,
					"cannot load table '%s': target table '%s' has no column '%s'; "
					"add it or leave the table out with --exclude",
					t->name, target->name, names[k]);
				goto out;
			}
			for (j = 0; j < k; j++)
				if (!strcmp(tp->cols[j].dst_name, target->cols[tc].name)) {
					rc = ferry_error_set(err, FERRY_EINVAL,
						"cannot load table '%s': columns '%s' and '%s' both "
						"map onto column '%s' of target table '%s'; rename one "
						"in the target or leave the table out with --exclude",
						t->name, tp->cols[j].src_name, sc->name,
						target->cols[tc].name, target->name);
					goto out;
				}
			cp->dst_name = ferry_strdup(target->cols[tc].name);
			if (!cp->dst_name) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			if (target->cols[tc].type == FERRY_T_UNKNOWN) {
				rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
					"cannot load column '%s.%s': target type '%s' is not supported yet",
					target->name, target->cols[tc].name, target->cols[tc].type_sql);
				goto out;
			}
			{
				int ty;
				int32_t tm;

				if (plan_parse_type_sql(target->cols[tc].type_sql, &ty, &tm) < 0) {
					ty = target->cols[tc].type;
					tm = -1;
				}
				set_type(cp, target->cols[tc].type, ty == target->cols[tc].type ? tm : -1);
			}
			cp->notnull = target->cols[tc].notnull;
		} else if (!(cp->dst_name = ferry_strdup(names[k]))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (!target) {
			if (sc->type != FERRY_T_UNKNOWN)  /* a typed source says what it holds */
				set_type(cp, sc->type, sc->typmod);
			else
				map_decl(cp, sc->decl_type, &scan[k]);
			/* SQLite's rowid and a WITHOUT ROWID table's key are never
			 * NULL: declared so, the primary key attaches without
			 * the scan SET NOT NULL makes (0.35 s at 5M rows) */
			cp->notnull = sc->notnull || (int)i == t->rowid_alias ||
				      (t->without_rowid && sc->pk_pos > 0);
		}
		if ((cast = cast_for(o, t->name, sc->name)) != NULL) {
			int ty;
			int32_t tm;

			plan_parse_type_sql(cast, &ty, &tm);
			set_type(cp, ty, tm);
			scan[k] = SCAN_NONE;
		}
		k++;
	}
	tp->ncols = k;
	if (!target) {  /* plan_prescan reads these, plan_table_finish follows */
		*kinds = scan;
		scan = NULL;
	}
out:
	/* a failure leaves what column k got for plan_release to free
	 * (cols is zeroed: the columns after it hold nothing) */
	if (rc < 0 && tp->cols)
		tp->ncols = k < nvis ? k + 1 : k;
	plan_names_free(NULL, names);
	ferry_free(scan);
	return rc;
}

int plan_names(const struct ferry_table *t, char **table, char ***cols)
{
	*cols = NULL;
	if (!(*table = shorten(t->name, 0)))
		return FERRY_ENOMEM;
	return col_names(t, NULL, cols);
}

void plan_names_free(char *table, char **cols)
{
	size_t i;

	for (i = 0; cols && cols[i]; i++)
		ferry_free(cols[i]);
	ferry_free(cols);
	ferry_free(table);
}

/* Defaults and identity, once the pre-scan has made the types final. */
static void plan_table_finish(struct plan *pl, const struct ferry_copy_opts *o,
			      struct table_plan *tp)
{
	const struct ferry_table *t = tp->src;
	size_t i, k;

	for (i = 0, k = 0; i < t->ncols; i++) {
		const struct ferry_column *sc = &t->cols[i];
		struct col_plan *cp;

		if (sc->hidden)
			continue;
		cp = &tp->cols[k++];
		/* a typed source (PostgreSQL) says which columns are identity or
		 * serial, and its other defaults are PostgreSQL's already */
		if (sc->type != FERRY_T_UNKNOWN ? sc->identity && cp->type >= FERRY_T_INT16 &&
		    cp->type <= FERRY_T_INT64 : (int)i == t->rowid_alias && cp->type == FERRY_T_INT64)
			cp->identity = 1;
		if (sc->default_sql && sc->type != FERRY_T_UNKNOWN && (sc->identity ||
		    (ferry_conn_url_caps(o->dst) & FERRY_CAP_SCHEMAS))) {
			cp->default_sql = sc->identity ? NULL : ferry_strdup(sc->default_sql);
		} else if (sc->default_sql) {
			cp->default_sql = plan_translate_default(cp, sc->default_sql);
			if (!cp->default_sql && strcasecmp(sc->default_sql, "NULL"))
				plan_strv_pushf(&pl->warnings,
					"default of '%s.%s' (%s) cannot be translated for %s: dropped",
					t->name, sc->name, sc->default_sql, cp->type_sql);
		}
	}
}

/*
 * Every --cast names a column of the source: a misspelt table or column
 * would otherwise be ignored and the copy run with the type it was meant
 * to replace.  A usage error, naming what is missing and what there is.
 */
static int check_cast_targets(const struct ferry_copy_opts *o,
			      const struct ferry_catalog *scat, struct ferry_error *err)
{
	int berr = 0;
	size_t i, t, k;

	for (i = 0; o->casts && o->casts[i]; i++) {
		const char *c = o->casts[i], *eq = strrchr(c, '=');
		const struct ferry_table *tab = NULL;
		int found = 0;

		if (!eq)
			continue;  /* plan_check_casts said so */
		for (t = 0; t < scat->ntables && !found; t++) {
			const struct ferry_table *st = &scat->tables[t];
			size_t tn = strlen(st->name);

			if ((size_t)(eq - c) <= tn + 1 || strncmp(c, st->name, tn) || c[tn] != '.')
				continue;
			tab = st;
			for (k = 0; k < st->ncols && !found; k++) {
				size_t cn = strlen(st->cols[k].name);

				found = (size_t)(eq - c) == tn + 1 + cn &&
					!strncmp(c + tn + 1, st->cols[k].name, cn);
			}
		}
		if (found)
			continue;
		if (!tab) {
			const char *dot = strchr(c, '.');

			return ferry_error_set(err, FERRY_EUSAGE,
				"invalid --cast '%s': the source has no table '%.*s'", c,
				(int)(dot - c), c);
		}
		{
			struct ferry_buf cols = FERRY_BUF_INIT;

			for (k = 0; k < tab->ncols; k++)
				berr |= ferry_buf_addf(&cols, "%s%s", k ? ", " : "", tab->cols[k].name);
			if (berr < 0) {
				ferry_buf_release(&cols);
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
			ferry_error_set(err, FERRY_EUSAGE,
				"invalid --cast '%s': table '%s' has no column '%.*s' (its columns: "
				"%.300s)", c, tab->name, (int)(eq - c - strlen(tab->name) - 1),
				c + strlen(tab->name) + 1, cols.buf);
			ferry_buf_release(&cols);
			return FERRY_EUSAGE;
		}
	}
	return 0;
}

int plan_build(struct plan *pl, const struct ferry_copy_opts *o, ferry_conn *src,
	       const struct ferry_catalog *scat, const struct ferry_catalog *tcat,
	       struct ferry_error *err)
{
	char **names;
	struct plan_scan *jobs;
	size_t i, njobs = 0;
	int rc = 0;

	if ((rc = plan_check_filters(o->include, o->exclude, scat, err)) < 0)
		return rc;
	pl->tables = ferry_calloc(scat->ntables ? scat->ntables : 1, sizeof(*pl->tables));
	names = ferry_calloc(scat->ntables ? scat->ntables : 1, sizeof(char *));
	jobs = ferry_calloc(scat->ntables ? scat->ntables : 1, sizeof(*jobs));
	if (!pl->tables || !names || !jobs) {
		ferry_free(names);
		ferry_free(jobs);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	for (i = 0; i < scat->ntables; i++) {
		const struct ferry_table *t = &scat->tables[i];
		struct table_plan *tp = &pl->tables[pl->ntables];
		const struct ferry_table *target = NULL;

		if ((o->include && o->include[0] && !plan_glob_match(o->include, t->name)) ||
		    plan_glob_match(o->exclude, t->name))
			continue;
		tp->src = t;
		tp->dst_name = unique_name(t->name, names, pl->ntables, &pl->renames, "table",
					   t->name);
		if (!tp->dst_name) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		names[pl->ntables] = tp->dst_name;
		if (tcat)
			target = ferry_catalog_target(tcat, scat, tp->dst_name);
		tp->exists = target != NULL;
		if (o->data_only && !target) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND,
				"cannot load table '%s' with --data-only: the target has no table '%s'; "
				"create it first or run without --data-only",
				t->name, tp->dst_name);
			pl->ntables++;
			break;
		}
		pl->ntables++;
		jobs[njobs].tp = tp;
		if ((rc = plan_table(pl, o, tp,
				     (o->data_only || (target && o->truncate && !o->drop)) ? target : NULL,
				     &jobs[njobs].kinds, err)) < 0)
			break;
		if (jobs[njobs].kinds)
			njobs++;
	}
	/* the scans side by side, then each table's types and defaults in
	 * order, so the warnings come out as a serial scan gives them */
	if (rc == 0 && (rc = plan_prescan(pl, o->src, src, jobs, njobs, err)) == 0)
		for (i = 0; i < njobs; i++) {
			plan_prescan_decide(pl, &jobs[i]);
			plan_table_finish(pl, o, jobs[i].tp);
		}
	for (i = 0; i <= njobs && i < scat->ntables; i++) {
		plan_prescan_release(&jobs[i]);
		ferry_free(jobs[i].kinds);
	}
	ferry_free(jobs);
	for (i = 0; rc == 0 && i < scat->nnotes; i++)
		plan_strv_pushf(&pl->warnings, "%s", scat->notes[i]);
	if (rc == 0)
		rc = check_cast_targets(o, scat, err);
	ferry_free(names);
	return rc;
}

void plan_release(struct plan *pl)
{
	size_t i, k;

	for (i = 0; i < pl->ntables; i++) {
		struct table_plan *tp = &pl->tables[i];

		for (k = 0; k < tp->ncols; k++) {
			ferry_free(tp->cols[k].dst_name);
			ferry_free(tp->cols[k].type_sql);
			ferry_free(tp->cols[k].default_sql);
		}
		ferry_free(tp->cols);
		ferry_free(tp->dst_name);
		for (k = 0; k < tp->npieces; k++)
			ferry_free(tp->pieces[k]);
		ferry_free(tp->pieces);
	}
	ferry_free(pl->tables);
	plan_strv_release(&pl->warnings);
	plan_strv_release(&pl->renames);
	plan_strv_release(&pl->keynames);
	memset(pl, 0, sizeof(*pl));
}

/* ---- DDL --------------------------------------------------------------- */

int plan_ddl_create_table(const struct plan *pl, const struct table_plan *tp,
		     const char *schema, struct ferry_buf *b)
{
	int berr = 0;
	size_t i;

	berr |= ferry_buf_addstr(b, "CREATE TABLE ");
	berr |= plan_qualified(b, schema, tp->dst_name);
	berr |= ferry_buf_addstr(b, " (");
	for (i = 0; i < tp->ncols; i++) {
		const struct col_plan *cp = &tp->cols[i];

		berr |= ferry_buf_addstr(b, i ? ",\n  " : "\n  ");
		berr |= plan_quote_ident(b, cp->dst_name);
		berr |= ferry_buf_addch(b, ' ');
		berr |= ferry_buf_addstr(b, cp->type_sql);
		if (cp->notnull)
			berr |= ferry_buf_addstr(b, " NOT NULL");
		if (cp->default_sql) {
			berr |= ferry_buf_addstr(b, " DEFAULT ");
			berr |= ferry_buf_addstr(b, cp->default_sql);
		}
	}
	berr |= ferry_buf_addstr(b, "\n)");
	return berr;
}

static const struct col_plan *find_col(const struct table_plan *tp, const char *src)
{
	size_t i;

	for (i = 0; i < tp->ncols; i++)
		if (!strcmp(tp->cols[i].src_name, src))
			return &tp->cols[i];
	for (i = 0; i < tp->ncols; i++)
		if (!strcasecmp(tp->cols[i].src_name, src))
			return &tp->cols[i];
	return NULL;
}

const struct table_plan *plan_find(const struct plan *pl, const char *src_name)
{
	size_t i;

	for (i = 0; i < pl->ntables; i++)
		if (!strcmp(pl->tables[i].src->name, src_name))
			return &pl->tables[i];
	for (i = 0; i < pl->ntables; i++)
		if (!strcasecmp(pl->tables[i].src->name, src_name))
			return &pl->tables[i];
	return NULL;
}

/* An index expression or predicate from SQLite: turn [x] and `x` quoting
 * into "x"; the rest is passed through (PostgreSQL rejects what it does
 * not understand, and the caller reports that as a warning). */
static int translate_expr(struct ferry_buf *b, const char *e)
{
	int berr = 0;

	for (; *e; e++) {
		if (*e == '[' || *e == '`') {
			char close = *e == '[' ? ']' : '`';
			const char *end = strchr(e + 1, close);

			if (end) {
				berr |= ferry_buf_addch(b, '"');
				berr |= ferry_buf_add(b, e + 1, (size_t)(end - e - 1));
				berr |= ferry_buf_addch(b, '"');
				e = end;
				continue;
			}
		}
		if (*e == '\'') {  /* copy string literals untouched */
			const char *s = e;

			for (e++; *e && !(*e == '\'' && e[1] != '\''); e++)
				if (*e == '\'')
					e++;
			berr |= ferry_buf_add(b, s, (size_t)(e - s) + (*e ? 1 : 0));
			if (!*e)
				break;
			continue;
		}
		berr |= ferry_buf_addch(b, *e);
	}
	return berr;
}

/* "(a, b)" onto b: 0, -1 when a column is not in the plan, or the failed
 * add's error (the caller tells it by ferry_buf_error(b)). */
static int col_list(struct ferry_buf *b, const struct table_plan *tp,
		    char **cols, size_t n)
{
	int berr = 0;
	size_t i;

	berr |= ferry_buf_addch(b, '(');
	for (i = 0; i < n; i++) {
		const struct col_plan *cp = cols[i] ? find_col(tp, cols[i]) : NULL;

		if (!cp)
			return -1;
		if (i)
			berr |= ferry_buf_addstr(b, ", ");
		berr |= plan_quote_ident(b, cp->dst_name);
	}
	berr |= ferry_buf_addch(b, ')');
	return berr;
}

/* Is name taken by a table, an index or a key this plan creates? */
static int rel_name_taken(const struct plan *pl, const char *name)
{
	size_t i, k;

	if (name_taken(pl->keynames.v, pl->keynames.n, name))
		return 1;
	for (i = 0; i < pl->ntables; i++) {
		const struct table_plan *tp = &pl->tables[i];

		if (tp->dst_name && !strcmp(tp->dst_name, name))
			return 1;
		for (k = 0; k < tp->src->nidx; k++) {
			const struct ferry_index *x = &tp->src->idx[k];
			char *s;
			int same;

			if (x->origin == 'u' || x->origin == 'p')
				continue;  /* these become keys, named here */
			s = shorten(x->name, 0);
			same = s && !strcmp(s, name);
			ferry_free(s);
			if (same)
				return 1;
		}
	}
	return 0;
}

/* The primary key's columns (npk of them), in key order, comma-separated. */
static int pk_cols(struct ferry_buf *b, const struct table_plan *tp, int npk)
{
	int berr = 0;
	const struct ferry_table *t = tp->src;
	size_t i;
	int k;

	for (k = 1; k <= npk; k++)
		for (i = 0; i < t->ncols; i++)
			if (t->cols[i].pk_pos == k) {
				const struct col_plan *cp = find_col(tp, t->cols[i].name);

				if (k > 1)
					berr |= ferry_buf_addstr(b, ", ");
				berr |= plan_quote_ident(b, cp ? cp->dst_name : t->cols[i].name);
			}
	return berr;
}

/*
 * A primary or unique key in two steps: a unique index, which PostgreSQL
 * builds while other indexes of the same table build too, then the
 * constraint on it (ALTER TABLE ... ADD CONSTRAINT, which locks the table
 * and would make every build of the table wait).  The name is PostgreSQL's
 * own (table_pkey, table_col_key), made unique among the plan's names.
 */
static int key_index(struct plan *pl, const struct table_plan *tp, const char *schema,
		      const char *suffix, const char *kind, const char *cols,
		      struct strv *keys, struct strv *attach)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT;
	unsigned salt = 0;
	char *name;

	berr |= ferry_buf_addf(&b, "%s_%s", tp->dst_name, suffix);
	name = shorten(b.buf, 0);
	while (name && rel_name_taken(pl, name)) {
		ferry_free(name);
		name = shorten(b.buf, ++salt);
	}
	if (berr < 0 || !name) {
		ferry_free(name);
		ferry_buf_release(&b);
		return FERRY_ENOMEM;  /* shorten() fails only so */
	}
	berr |= plan_strv_push(&pl->keynames, ferry_strdup(name));
	ferry_buf_clear(&b);
	berr |= ferry_buf_addstr(&b, "CREATE UNIQUE INDEX ");
	berr |= plan_quote_ident(&b, name);
	berr |= ferry_buf_addstr(&b, " ON ");
	berr |= plan_qualified(&b, schema, tp->dst_name);
	berr |= ferry_buf_addf(&b, " %s", cols);
	/* a statement cut short is never kept */
	if (berr == 0)
		berr = plan_strv_push(keys, ferry_buf_detach(&b, NULL));
	berr |= ferry_buf_addstr(&b, "ALTER TABLE ");
	berr |= plan_qualified(&b, schema, tp->dst_name);
	berr |= ferry_buf_addstr(&b, " ADD CONSTRAINT ");
	berr |= plan_quote_ident(&b, name);
	berr |= ferry_buf_addf(&b, " %s USING INDEX ", kind);
	berr |= plan_quote_ident(&b, name);
	if (berr == 0)
		berr = plan_strv_push(attach, ferry_buf_detach(&b, NULL));
	ferry_buf_release(&b);
	ferry_free(name);
	return berr;
}

/*
 * A foreign key's name as PostgreSQL gives it, table_col1_col2_fkey
 * (shortened past 63 bytes), unique among tp's keys in taken.
 */
static int fk_name(const struct table_plan *tp, const struct ferry_fk *f, struct strv *taken,
		   struct ferry_buf *out)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT;
	unsigned salt = 0;
	size_t k;
	char *name;

	berr |= ferry_buf_addstr(&b, tp->dst_name);
	for (k = 0; k < f->ncols; k++) {
		const struct col_plan *cp = find_col(tp, f->from[k]);

		berr |= ferry_buf_addch(&b, '_');
		berr |= ferry_buf_addstr(&b, cp ? cp->dst_name : f->from[k]);
	}
	berr |= ferry_buf_addstr(&b, "_fkey");
	name = berr < 0 ? NULL : shorten(b.buf, 0);
	while (name && name_taken(taken->v, taken->n, name)) {
		ferry_free(name);
		name = shorten(b.buf, ++salt);
	}
	ferry_buf_release(&b);
	if (!name)
		return FERRY_ENOMEM;
	ferry_buf_clear(out);
	berr |= ferry_buf_addstr(out, name);
	berr |= plan_strv_push(taken, name);
	return berr;
}

int plan_ddl_post_load(struct plan *pl, const struct table_plan *tp, const char *schema,
		  struct strv *keys, struct strv *indexes, struct strv *attach,
		  struct strv *fks, struct strv *validates, size_t *order_at)
{
	struct strv fknames = { 0 };
	struct ferry_buf fkname = FERRY_BUF_INIT;
	int berr = 0;
	const struct ferry_table *t = tp->src;
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i, k;
	int npk = 0;
	size_t at = SIZE_MAX;

	/* primary key, in key order */
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].pk_pos > npk)
			npk = t->cols[i].pk_pos;
	if (npk) {
		struct ferry_buf cols = FERRY_BUF_INIT;

		berr |= ferry_buf_addch(&cols, '(');
		berr |= pk_cols(&cols, tp, npk);
		berr |= ferry_buf_addch(&cols, ')');
		if (berr == 0)
			berr |= key_index(pl, tp, schema, "pkey", "PRIMARY KEY", cols.buf, keys, attach);
		ferry_buf_release(&cols);
	}
	for (i = 0; i < t->nidx; i++) {
		const struct ferry_index *x = &t->idx[i];
		int has_expr = 0;

		for (k = 0; k < x->nparts; k++)
			has_expr |= x->cols[k] == NULL;
		if (x->origin == 'u' && !has_expr) {
			struct ferry_buf suffix = FERRY_BUF_INIT;

			ferry_buf_clear(&b);
			if (col_list(&b, tp, x->cols, x->nparts) == 0) {
				/* PostgreSQL's own name: table_col1_col2_key */
				for (k = 0; k < x->nparts; k++) {
					const struct col_plan *cp = find_col(tp, x->cols[k]);

					berr |= ferry_buf_addstr(&suffix, cp->dst_name);
					berr |= ferry_buf_addch(&suffix, '_');
				}
				berr |= ferry_buf_addstr(&suffix, "key");
				if (berr == 0)
					berr |= key_index(pl, tp, schema, suffix.buf, "UNIQUE", b.buf,
							  keys, attach);
			}
			berr |= ferry_buf_error(&b);
			ferry_buf_release(&suffix);
			ferry_buf_clear(&b);
			continue;
		}
		{
			char *iname = shorten(x->name, 0);

			berr |= ferry_buf_addstr(&b, x->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
			berr |= plan_quote_ident(&b, iname ? iname : x->name);
			if (iname && strcmp(iname, x->name))
				plan_strv_pushf(&pl->renames, "index '%s' -> '%s'", x->name, iname);
			ferry_free(iname);
		}
		berr |= ferry_buf_addstr(&b, " ON ");
		berr |= plan_qualified(&b, schema, tp->dst_name);
		berr |= ferry_buf_addstr(&b, " (");
		for (k = 0; k < x->nparts; k++) {
			if (k)
				berr |= ferry_buf_addstr(&b, ", ");
			if (x->cols[k]) {
				const struct col_plan *cp = find_col(tp, x->cols[k]);

				berr |= plan_quote_ident(&b, cp ? cp->dst_name : x->cols[k]);
			} else {
				berr |= ferry_buf_addch(&b, '(');
				berr |= translate_expr(&b, x->exprs[k] ? x->exprs[k] : "");
				berr |= ferry_buf_addch(&b, ')');
			}
			if (x->desc && x->desc[k])
				berr |= ferry_buf_addstr(&b, " DESC");
		}
		berr |= ferry_buf_addch(&b, ')');
		if (x->where) {
			berr |= ferry_buf_addstr(&b, " WHERE ");
			berr |= translate_expr(&b, x->where);
		}
		if (berr == 0)
			berr = plan_strv_push(indexes, ferry_buf_detach(&b, NULL));
		if (berr == 0 && tp->order && !strcmp(x->name, tp->order))
			at = indexes->n - 1;
	}
	for (i = 0; i < t->nfks; i++) {
		const struct ferry_fk *f = &t->fks[i];
		const struct table_plan *rt = plan_find(pl, f->ref_table);

		if (!rt) {
			plan_strv_pushf(&pl->warnings,
				"foreign key of '%s' to '%s' skipped: '%s' is not copied",
				t->name, f->ref_table, f->ref_table);
			continue;
		}
		berr |= ferry_buf_addstr(&b, "ALTER TABLE ");
		berr |= plan_qualified(&b, schema, tp->dst_name);
		if (validates) {
			/* named as PostgreSQL names it, so the VALIDATE can */
			berr |= fk_name(tp, f, &fknames, &fkname);
			berr |= ferry_buf_addstr(&b, " ADD CONSTRAINT ");
			berr |= plan_quote_ident(&b, fkname.buf);
			berr |= ferry_buf_addstr(&b, " FOREIGN KEY ");
		} else {
			berr |= ferry_buf_addstr(&b, " ADD FOREIGN KEY ");
		}
		if (col_list(&b, tp, f->from, f->ncols) < 0) {
			berr |= ferry_buf_error(&b);
			ferry_buf_release(&b);
			continue;
		}
		berr |= ferry_buf_addstr(&b, " REFERENCES ");
		berr |= plan_qualified(&b, schema, rt->dst_name);
		if (f->to && f->to[0]) {
			berr |= ferry_buf_addch(&b, ' ');
			if (col_list(&b, rt, f->to, f->ncols) < 0) {
				berr |= ferry_buf_error(&b);
				ferry_buf_release(&b);
				continue;
			}
		}
		if (f->on_delete && strcasecmp(f->on_delete, "NO ACTION"))
			berr |= ferry_buf_addf(&b, " ON DELETE %s", f->on_delete);
		if (f->on_update && strcasecmp(f->on_update, "NO ACTION"))
			berr |= ferry_buf_addf(&b, " ON UPDATE %s", f->on_update);
		if (validates)
			berr |= ferry_buf_addstr(&b, " NOT VALID");
		if (berr == 0)
			berr = plan_strv_push(fks, ferry_buf_detach(&b, NULL));
		if (validates && berr == 0) {
			berr |= ferry_buf_addstr(&b, "ALTER TABLE ");
			berr |= plan_qualified(&b, schema, tp->dst_name);
			berr |= ferry_buf_addstr(&b, " VALIDATE CONSTRAINT ");
			berr |= plan_quote_ident(&b, fkname.buf);
			if (berr == 0)
				berr = plan_strv_push(validates, ferry_buf_detach(&b, NULL));
		}
	}
	ferry_buf_release(&b);
	ferry_buf_release(&fkname);
	plan_strv_release(&fknames);
	if (berr < 0)
		return FERRY_ENOMEM;
	if (order_at)
		*order_at = at;
	return 0;
}
