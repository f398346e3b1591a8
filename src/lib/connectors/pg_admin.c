/*
 * pg_admin.c - PostgreSQL at the level of the database, not its rows:
 * creating a missing target database (`--create-db`, as `dbmate create`
 * does) and turning the server's terse refusals into advice a user can
 * act on (which database to create, which GRANT to ask for).  Shared by
 * the connector (copy, verify) and migrate's own database adapter, so
 * every command says the same thing for the same mistake.  And the text
 * of a text[] parameter (ferry_pg_array_add), for the relay and cutover.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/url.h"

extern const struct ferry_conn_ops pg_ops;  /* postgres.c */

/* Does scheme name the PostgreSQL connector (its own table says)? */
static int is_pg_scheme(const char *scheme)
{
	size_t i;

	for (i = 0; pg_ops.schemes[i]; i++)
		if (!strcmp(pg_ops.schemes[i], scheme))
			return 1;
	return 0;
}

/*
 * Copy the name in `... "name" ...` that follows prefix in msg into out.
 * Server messages quote identifiers with double quotes and do not escape
 * them, so the name ends at the last quote on that line.
 */
static int quoted_after(const char *msg, const char *prefix, struct ferry_buf *out)
{
	const char *p = strstr(msg, prefix), *e;

	if (!p)
		return 0;
	p += strlen(prefix);
	if (p[-1] == '"' || *p == '"') {
		p += *p == '"';
		e = strchr(p, '\n');
		e = e ? e : p + strlen(p);
		while (e > p && e[-1] != '"')
			e--;
		if (e == p)
			return 0;
		e--;
	} else {
		/* "permission denied for schema public": bare word */
		for (e = p; *e && *e != ' ' && *e != '\n' && *e != ';'; e++)
			;
	}
	return e > p && ferry_buf_add(out, p, (size_t)(e - p)) == 0;
}

/* Append name as a double-quoted SQL identifier. */
static int add_ident(struct ferry_buf *out, const char *name)
{
	int e = 0;

	e |= ferry_buf_addch(out, '"');
	for (; *name; name++) {
		if (*name == '"')
			e |= ferry_buf_addch(out, '"');
		e |= ferry_buf_addch(out, *name);
	}
	e |= ferry_buf_addch(out, '"');
	return e;
}

int ferry_pg_advice(const char *msg, const char *user, int offer_create,
		    struct ferry_buf *out)
{
	struct ferry_buf name = FERRY_BUF_INIT;
	int e = 0;

	if (!msg)
		return 0;
	if (strstr(msg, "does not exist") && quoted_after(msg, "database \"", &name)) {
		e |= ferry_buf_addstr(out, "; create it first: 'createdb ");
		e |= ferry_buf_addstr(out, name.buf);
		e |= ferry_buf_addstr(out, "' or, connected to another database, 'CREATE DATABASE ");
		e |= add_ident(out, name.buf);
		e |= ferry_buf_addstr(out, offer_create ? "', or pass --create-db" : "'");
	} else if (ferry_buf_clear(&name), quoted_after(msg, "permission denied for database ", &name)) {
		e |= ferry_buf_addstr(out, "; the role needs the CREATE privilege on the database: ask its owner or a superuser to run 'GRANT CREATE ON DATABASE ");
		e |= add_ident(out, name.buf);
		e |= ferry_buf_addstr(out, " TO ");
		e |= add_ident(out, user && *user ? user : "your_role");
		e |= ferry_buf_addstr(out, "'");
	} else if (ferry_buf_clear(&name), quoted_after(msg, "permission denied for schema ", &name)) {
		e |= ferry_buf_addstr(out, "; the role needs the CREATE privilege on the schema: ask its owner or a superuser to run 'GRANT CREATE ON SCHEMA ");
		e |= add_ident(out, name.buf);
		e |= ferry_buf_addstr(out, " TO ");
		e |= add_ident(out, user && *user ? user : "your_role");
		e |= ferry_buf_addstr(out, "'");
		if (!strcmp(name.buf, "public"))
			e |= ferry_buf_addstr(out, " (since PostgreSQL 15 only the database owner may create in schema public)");
	}
	ferry_buf_release(&name);
	return e;
}

/*
 * Connection options of url with dbname replaced by "postgres", as two
 * NULL-terminated arrays for PQconnectdbParams.  Parsed by libpq itself,
 * so a URI and a keyword/value string both work and nothing is lost.
 */
static int maintenance_params(const char *url, PQconninfoOption **opts,
			      const char ***keys, const char ***vals,
			      struct ferry_error *err)
{
	PQconninfoOption *o;
	char *perr = NULL;
	size_t n = 0, i = 0;

	if (!(*opts = PQconninfoParse(url, &perr))) {
		struct ferry_buf m = FERRY_BUF_INIT;

		ferry_url_redact(perr ? perr : "out of memory", &m);
		ferry_buf_rtrim(&m);
		ferry_error_set(err, FERRY_EUSAGE, "cannot read the connection string: %s", m.buf);
		ferry_buf_release(&m);
		PQfreemem(perr);
		return FERRY_EUSAGE;
	}
	for (o = *opts; o->keyword; o++)
		n++;
	*keys = ferry_calloc(n + 2, sizeof(**keys));
	*vals = ferry_calloc(n + 2, sizeof(**vals));
	if (!*keys || !*vals)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (o = *opts; o->keyword; o++) {
		if (!o->val || !strcmp(o->keyword, "dbname"))
			continue;
		(*keys)[i] = o->keyword;
		(*vals)[i++] = o->val;
	}
	(*keys)[i] = "dbname";
	(*vals)[i] = "postgres";
	return 0;
}

int ferry_pg_create_database(const char *url, int *created,
			     struct ferry_error *err)
{
	PQconninfoOption *opts = NULL, *o;
	const char **keys = NULL, **vals = NULL, *dbname = NULL;
	struct ferry_buf sql = FERRY_BUF_INIT, m = FERRY_BUF_INIT;
	PGconn *pg = NULL;
	PGresult *res = NULL;
	ferry_url *u = NULL;
	int rc, e = 0;

	*created = 0;
	if (ferry_url_parse(url, &u, err) < 0 || !is_pg_scheme(u->scheme)) {
		rc = 0;  /* not PostgreSQL: nothing to create, the open says why */
		goto out;
	}
	/* exists already (or some other failure the real open will report) */
	pg = PQconnectdb(url);
	if (pg && PQstatus(pg) == CONNECTION_OK) {
		rc = 0;
		goto out;
	}
	if (!pg || !strstr(PQerrorMessage(pg), "does not exist") ||
	    !strstr(PQerrorMessage(pg), "database \"")) {
		rc = 0;
		goto out;
	}
	PQfinish(pg);
	pg = NULL;
	if ((rc = maintenance_params(url, &opts, &keys, &vals, err)) < 0)
		goto out;
	for (o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "dbname"))
			dbname = o->val;
	if (!dbname || !*dbname)
		for (o = opts; o->keyword; o++)
			if (!strcmp(o->keyword, "user"))
				dbname = o->val;  /* libpq's default dbname */
	if (!dbname || !*dbname) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"--create-db: the connection string names no database to create; add dbname=... or /dbname");
		goto out;
	}
	pg = PQconnectdbParams(keys, vals, 0);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		ferry_url_redact(pg ? PQerrorMessage(pg) : "out of memory", &m);
		ferry_buf_rtrim(&m);
		rc = ferry_error_set(err, FERRY_ECONN,
			"--create-db: cannot connect to the maintenance database 'postgres' to create '%s': %s",
			dbname, m.buf);
		goto out;
	}
	e |= ferry_buf_addstr(&sql, "CREATE DATABASE ");
	e |= add_ident(&sql, dbname);
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	res = PQexec(pg, sql.buf);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* another run created it between our two connections: fine */
		if (state && !strcmp(state, "42P04")) {
			rc = 0;
			goto out;
		}
		ferry_url_redact(PQresultErrorMessage(res), &m);
		ferry_buf_rtrim(&m);
		if (state && !strcmp(state, "42501"))
			e |= ferry_buf_addf(&m, "; the role needs CREATEDB: ask a superuser to run 'ALTER ROLE \"%s\" CREATEDB', or to create the database", PQuser(pg));
		rc = ferry_error_set(err, FERRY_ESQL, "--create-db: cannot create database '%s': %s",
				     dbname, e < 0 || ferry_buf_error(&m) ? "out of memory" : m.buf);

		if (state)
			ferry_error_origin(err, "sqlstate %s", state);
		goto out;
	}
	*created = 1;
	rc = 0;
out:
	ferry_url_free(u);
	PQclear(res);
	PQfinish(pg);
	ferry_free(keys);
	ferry_free(vals);
	PQconninfoFree(opts);
	ferry_buf_release(&sql);
	ferry_buf_release(&m);
	return rc;
}

/* ---- text[] literals -------------------------------------------------------- */

int ferry_pg_array_add(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int e = ferry_buf_addch(b, b->len ? ',' : '{');

	e |= ferry_buf_addch(b, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			e |= ferry_buf_addch(b, '\\');
		e |= ferry_buf_addch(b, s[i]);
	}
	e |= ferry_buf_addch(b, '"');
	return e < 0 ? FERRY_ENOMEM : 0;
}

int ferry_pg_array_end(struct ferry_buf *b)
{
	int e = b->len ? 0 : ferry_buf_addch(b, '{');

	e |= ferry_buf_addch(b, '}');
	return e < 0 ? FERRY_ENOMEM : 0;
}
