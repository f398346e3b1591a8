/*
 * discover.c - the first layer of `ferry migrate`: walk the migrations
 * tree, turn file and folder names into ordered steps, split dbmate
 * sections, compute the normalized checksums the journal compares, and
 * the small SQL scanner that plan's lint and PostgreSQL's
 * no-transaction mode use.
 *
 * Ordering: top-level numbered files first (by number, golang-migrate and
 * dbmate style), then version-transition folders by target version, source
 * version, then step number.  Versions compare numerically per component,
 * so v0.9.0 < v0.10.0.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "mig_int.h"
#include "wire/sqltext.h"

int mig_read_file(const char *path, struct ferry_buf *out,
		  struct ferry_error *err)
{
	int rc = ferry_buf_read_file(out, path), saved = errno;

	if (rc == FERRY_ENOTFOUND) {
		ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", path, strerror(saved));
		ferry_error_origin(err, "errno %d", saved);
		return FERRY_EIO;
	}
	if (rc == FERRY_EIO)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s'", path);
	if (rc < 0)
		return ferry_error_set(err, rc, "cannot read '%s': %s", path, ferry_strerror(rc));
	return 0;
}

int mig_normalize(const char *data, size_t n, struct ferry_buf *out)
{
	size_t i = 0;
	int rc;

	if (n >= 3 && (unsigned char)data[0] == 0xef &&
	    (unsigned char)data[1] == 0xbb && (unsigned char)data[2] == 0xbf)
		i = 3;
	if ((rc = ferry_buf_grow(out, n)) < 0)
		return rc;
	for (; i < n; i++) {
		if (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n')
			continue;
		out->buf[out->len++] = data[i];
	}
	out->buf[out->len] = '\0';
	return 0;
}

int mig_parse_filename(const char *fname, uint64_t *num, char **name,
		       const char **ext)
{
	static const char *const multi[] = { ".up.sql", ".down.sql",
					     ".rewrite.yaml", NULL };
	const char *p = fname, *us, *e = NULL;
	size_t len = strlen(fname), i;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return FERRY_EPARSE;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return FERRY_EPARSE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '_')
		return FERRY_EPARSE;
	us = p + 1;
	for (i = 0; multi[i]; i++) {
		size_t ml = strlen(multi[i]);

		if (len > ml && !strcmp(fname + len - ml, multi[i])) {
			e = fname + len - ml;
			break;
		}
	}
	if (!e) {
		e = strrchr(us, '.');
		if (e == us)
			return FERRY_EPARSE;  /* "0001_.sql": no name */
		if (!e)
			e = fname + len;
	}
	if (e <= us)
		return FERRY_EPARSE;
	*name = ferry_strndup(us, (size_t)(e - us));
	if (!*name)
		return FERRY_ENOMEM;
	*num = v;
	*ext = e;
	return 0;
}

static int valid_version(const char *s, size_t n)
{
	size_t i = 0;

	if (n && (s[0] == 'v' || s[0] == 'V'))
		i = 1;
	if (i >= n || !isdigit((unsigned char)s[i]))
		return 0;
	for (; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' &&
		    s[i] != '+')
			return 0;
	return 1;
}

int mig_parse_transition(const char *dname, char **from, char **to)
{
	const char *sep = strstr(dname, "_to_");
	char *f, *t;

	if (!sep || !valid_version(dname, (size_t)(sep - dname)) ||
	    !valid_version(sep + 4, strlen(sep + 4)))
		return FERRY_EPARSE;
	f = ferry_strndup(dname, (size_t)(sep - dname));
	t = ferry_strdup(sep + 4);
	if (!f || !t) {
		ferry_free(f);
		ferry_free(t);
		return FERRY_ENOMEM;
	}
	*from = f;
	*to = t;
	return 0;
}

int mig_semver_cmp(const char *a, const char *b)
{
	if (*a == 'v' || *a == 'V')
		a++;
	if (*b == 'v' || *b == 'V')
		b++;
	while (*a || *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			unsigned long long x = strtoull(a, (char **)&a, 10);
			unsigned long long y = strtoull(b, (char **)&b, 10);

			if (x != y)
				return x < y ? -1 : 1;
			continue;
		}
		/* a pre-release (1.0.0-rc1) sorts before the release (1.0.0) */
		if (!*a)
			return *b == '-' ? 1 : -1;
		if (!*b)
			return *a == '-' ? -1 : 1;
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return 0;
}

int mig_step_cmp(const struct mig_step *a, const struct mig_step *b)
{
	int c;

	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->group == 1) {
		if ((c = mig_semver_cmp(a->to_ver, b->to_ver)) != 0)
			return c;
		if ((c = mig_semver_cmp(a->from_ver, b->from_ver)) != 0)
			return c;
	}
	if (a->num != b->num)
		return a->num < b->num ? -1 : 1;
	return 0;
}

static int step_qsort_cmp(const void *x, const void *y)
{
	return mig_step_cmp(x, y);
}

int mig_target_covers(const char *target, const struct mig_step *s)
{
	const char *p;
	int versionish = (*target == 'v' || *target == 'V');

	for (p = target; *p; p++)
		if (*p == '.')
			versionish = 1;
	if (versionish)
		return s->group == 0 || mig_semver_cmp(s->to_ver, target) <= 0;
	if (s->group != 0)
		return 0;
	return s->num <= strtoull(target, NULL, 10);
}

/* Is the line at p a "-- migrate:<what>" marker?  Returns the rest of it. */
static const char *marker(const char *p, const char *what)
{
	size_t wl = strlen(what);

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "--", 2))
		return NULL;
	p += 2;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "migrate:", 8) || strncmp(p + 8, what, wl))
		return NULL;
	p += 8 + wl;
	if (*p && *p != ' ' && *p != '\t' && *p != '\n')
		return NULL;
	return p;
}

static int line_has(const char *line, const char *eol, const char *needle)
{
	size_t nl = strlen(needle);

	for (; line + nl <= eol; line++)
		if (!strncmp(line, needle, nl))
			return 1;
	return 0;
}

int mig_split_sections(const char *text, char **up, char **down, int *no_tx,
		       struct ferry_error *err)
{
	const char *p = text, *up_at = NULL, *down_at = NULL;
	const char *up_end = NULL, *down_end = NULL;
	char *u = NULL, *d = NULL;
	int ntx = 0;

	for (; *p; ) {
		const char *eol = strchr(p, '\n'), *rest;

		if (!eol)
			eol = p + strlen(p);
		if ((rest = marker(p, "up"))) {
			if (up_at)
				return ferry_error_set(err, FERRY_EPARSE,
					"two '-- migrate:up' sections: keep one");
			if (down_at && !down_end)
				down_end = p;
			up_at = *eol ? eol + 1 : eol;
			if (line_has(rest, eol, "transaction:false"))
				ntx = 1;
		} else if ((rest = marker(p, "down"))) {
			if (down_at)
				return ferry_error_set(err, FERRY_EPARSE,
					"two '-- migrate:down' sections: keep one");
			if (up_at && !up_end)
				up_end = p;
			down_at = *eol ? eol + 1 : eol;
			if (line_has(rest, eol, "transaction:false"))
				ntx = 1;
		}
		if (line_has(p, eol, "-- ferry:no-transaction"))
			ntx = 1;
		p = *eol ? eol + 1 : eol;
	}
	if (down_at && !up_at)
		return ferry_error_set(err, FERRY_EPARSE,
			"'-- migrate:down' without '-- migrate:up': add an up section above it");
	if (!up_at) {
		up_at = text;
		up_end = p;
	}
	if (!up_end)
		up_end = p;
	if (down_at && !down_end)
		down_end = p;
	u = ferry_strndup(up_at, (size_t)(up_end - up_at));
	if (down_at)
		d = ferry_strndup(down_at, (size_t)(down_end - down_at));
	if (!u || (down_at && !d)) {
		ferry_free(u);
		ferry_free(d);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	*up = u;
	*down = d;
	*no_tx = ntx;
	return 0;
}

/*
 * Scanner shared by split and lint.  Advances over one lexical unit at
 * *pp: a comment or quoted string (returns 1: skip it), or a plain
 * character (returns 0).  Dollar quotes follow PostgreSQL ($tag$...$tag$).
 */
static int skip_quoted(const char **pp)
{
	const char *p = *pp, *e = wire_sql_comment(p);

	if (e != p) {
		p = e;
	} else if (*p == '\'' || *p == '"' || *p == '`') {
		p = wire_sql_quoted(p);
	} else if (*p == '$') {
		const char *t = p + 1;

		while (isalnum((unsigned char)*t) || *t == '_')
			t++;
		if (*t != '$' || (t > p + 1 && isdigit((unsigned char)p[1])))
			return 0;
		{
			size_t tl = (size_t)(t - p + 1);
			const char *end = t + 1;

			for (; *end; end++)
				if (!strncmp(end, p, tl))
					break;
			p = *end ? end + tl : end;
		}
	} else {
		return 0;
	}
	*pp = p;
	return 1;
}

int mig_sql_split(const char *sql,
		  int (*fn)(const char *stmt, size_t n, void *ud), void *ud)
{
	const char *p = sql, *start = sql;
	int content = 0, rc;

	while (*p) {
		int comment = (p[0] == '-' && p[1] == '-') ||
			      (p[0] == '/' && p[1] == '*');

		if (skip_quoted(&p)) {
			if (!comment)
				content = 1;
			continue;
		}
		if (*p == ';') {
			if (content && (rc = fn(start, (size_t)(p - start), ud)) < 0)
				return rc;
			start = ++p;
			content = 0;
			continue;
		}
		if (!isspace((unsigned char)*p))
			content = 1;
		p++;
	}
	if (content && (rc = fn(start, (size_t)(p - start), ud)) < 0)
		return rc;
	return 0;
}

int mig_sql_lint(const char *sql, struct ferry_buf *warnings)
{
	const char *p = sql, *line_start = sql;
	char prev[16] = "";
	int line = 1, found = 0;

	while (*p) {
		const char *before = p;

		if (skip_quoted(&p)) {
			for (; before < p; before++)
				if (*before == '\n')
					line++;
			continue;
		}
		if (*p == '\n') {
			line++;
			line_start = p + 1;
		}
		if (isalpha((unsigned char)*p) || *p == '_') {
			char w[16];
			size_t n = 0;

			while (isalnum((unsigned char)*p) || *p == '_') {
				if (n < sizeof(w) - 1)
					w[n++] = (char)toupper((unsigned char)*p);
				p++;
			}
			w[n] = '\0';
			if ((!strcmp(prev, "DROP") &&
			     (!strcmp(w, "TABLE") || !strcmp(w, "COLUMN"))) ||
			    !strcmp(w, "TRUNCATE")) {
				const char *what = !strcmp(w, "TRUNCATE") ?
					"TRUNCATE" : !strcmp(w, "TABLE") ?
					"DROP TABLE" : "DROP COLUMN";

				found++;
				if (ferry_buf_addf(warnings,
					"line %d: %s destroys data; run with --backup or add a backup step\n",
					line, what) < 0)
					return FERRY_ENOMEM;
			}
			snprintf(prev, sizeof(prev), "%s", w);
			continue;
		}
		if (*p == ';')
			prev[0] = '\0';
		p++;
	}
	(void)line_start;
	return found;
}

void mig_step_release(struct mig_step *s)
{
	ferry_free(s->version);
	ferry_free(s->name);
	ferry_free(s->label);
	ferry_free(s->path);
	ferry_free(s->down_path);
	ferry_free(s->up_sql);
	ferry_free(s->down_sql);
	ferry_free(s->from_ver);
	ferry_free(s->to_ver);
	ferry_free(s->description);
	if (s->restart)
		json_decref(s->restart);
	memset(s, 0, sizeof(*s));
}

/* Sorted entry names of dir (without . and ..). */
static int list_dir(const char *dir, char ***names, size_t *n,
		    struct ferry_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0;

	if (!d) {
		ferry_error_origin(err, "errno %d", errno);
		return ferry_error_set(err, errno == ENOENT ? FERRY_ENOTFOUND :
			FERRY_EIO, "cannot open migrations directory '%s': %s%s",
			dir, strerror(errno), errno == ENOENT ?
			"; create it with 'ferry migrate new NAME' or pass --dir" : "");
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (FERRY_GROW(v, cap, cnt + 1) < 0 ||
		    !(v[cnt] = ferry_strdup(de->d_name))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		cnt++;
	}
	if (cnt)  /* qsort(NULL, 0) is undefined */
		qsort(v, cnt, sizeof(*v), ferry_strp_cmp);
out:
	closedir(d);
	if (rc < 0) {
		while (cnt)
			ferry_free(v[--cnt]);
		ferry_free(v);
		return rc;
	}
	*names = v;
	*n = cnt;
	return 0;
}

static int add_skipped(struct ferry_migrator *m, const char *path,
		       const char *reason)
{
	struct ferry_buf s = FERRY_BUF_INIT;

	if (ferry_buf_addf(&s, "%s: %s", path, reason) < 0 ||
	    FERRY_GROW(m->skipped, m->skippedcap, m->nskipped + 1) < 0) {
		ferry_buf_release(&s);
		return FERRY_ENOMEM;
	}
	m->skipped[m->nskipped++] = ferry_buf_detach(&s, NULL);
	return 0;
}

static struct mig_step *find_step(struct ferry_migrator *m, int group,
				  const char *folder, uint64_t num)
{
	size_t i;

	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (s->group == group && s->num == num &&
		    (!folder || !strncmp(s->version, folder, strlen(folder))))
			return s;
	}
	return NULL;
}

/* One file of the tree: classify it and add or complete its step. */
static int add_file(struct ferry_migrator *m, const char *dirpath,
		    const char *folder, const char *from, const char *to,
		    const char *fname, struct ferry_error *err)
{
	struct ferry_buf path = FERRY_BUF_INIT, tmp = FERRY_BUF_INIT;
	struct mig_step *s;
	struct stat st;
	char *name = NULL;
	const char *ext;
	uint64_t num;
	int kind, is_down = 0, rc;

	if ((rc = ferry_buf_addf(&path, "%s/%s", dirpath, fname)) < 0)
		goto oom;
	if (stat(path.buf, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if (mig_parse_filename(fname, &num, &name, &ext) < 0) {
		ferry_debug("migrate: ignoring '%s' (not NNNN_name.ext)", path.buf);
		goto out;
	}
	if (!strcmp(ext, ".up.sql") || !strcmp(ext, ".sql")) {
		kind = MIG_SQL;
	} else if (!strcmp(ext, ".down.sql")) {
		kind = MIG_SQL;
		is_down = 1;
	} else if (!strcmp(ext, ".rewrite.yaml")) {
		kind = MIG_REWRITE;
	} else if (!strcmp(ext, ".py") &&
		   (rc = mig_read_file(path.buf, &tmp, err)) == 0 &&
		   strstr(tmp.buf, "def migrate_forward")) {
		kind = MIG_PYTHON;
	} else if (rc < 0) {
		goto out;
	} else if (access(path.buf, X_OK) == 0) {
		kind = MIG_EXEC;
	} else {
		rc = add_skipped(m, path.buf,
				 "not executable; chmod +x it to run it as a step");
		if (rc < 0)
			goto oom;
		goto out;
	}
	if (!mig_ops[kind]->supported) {
		ferry_warn("migrate: skipping '%s': %s steps are not supported yet",
			   path.buf, mig_ops[kind]->name);
		if ((rc = add_skipped(m, path.buf,
				      "rewrite steps are not supported yet")) < 0)
			goto oom;
		goto out;
	}
	s = find_step(m, folder ? 1 : 0, folder, num);
	if (s) {
		int pair = s->kind == MIG_SQL && kind == MIG_SQL &&
			   !strcmp(s->name, name) &&
			   ((is_down && !s->down_path && s->path &&
			     strstr(s->path, ".up.sql")) ||
			    (!is_down && !s->path && !strcmp(ext, ".up.sql")));

		if (!pair) {
			rc = ferry_error_set(err, FERRY_EEXIST,
				"two migrations numbered %llu in '%s' ('%s' and '%s'): renumber one",
				(unsigned long long)num, dirpath, s->label, fname);
			goto out;
		}
	} else {
		struct ferry_buf v = FERRY_BUF_INIT, l = FERRY_BUF_INIT;
		size_t digits = strspn(fname, "0123456789");

		if (FERRY_GROW(m->steps, m->stepcap, m->nsteps + 1) < 0)
			goto oom;
		s = &m->steps[m->nsteps];
		memset(s, 0, sizeof(*s));
		if (folder) {
			rc = ferry_buf_addf(&v, "%s/%.*s", folder, (int)digits, fname);
			rc = rc < 0 ? rc : ferry_buf_addf(&l, "%s/%.*s_%s", folder,
							 (int)digits, fname, name);
		} else {
			rc = ferry_buf_add(&v, fname, digits);
			rc = rc < 0 ? rc : ferry_buf_addf(&l, "%.*s_%s", (int)digits,
							 fname, name);
		}
		if (rc < 0) {
			ferry_buf_release(&v);
			ferry_buf_release(&l);
			goto oom;
		}
		s->version = ferry_buf_detach(&v, NULL);
		s->label = ferry_buf_detach(&l, NULL);
		s->name = name;
		name = NULL;
		s->kind = kind;
		s->group = folder ? 1 : 0;
		s->num = num;
		s->from_ver = from ? ferry_strdup(from) : NULL;
		s->to_ver = to ? ferry_strdup(to) : NULL;
		m->nsteps++;
		if (!s->version || !s->label || (from && !s->from_ver) ||
		    (to && !s->to_ver))
			goto oom;
	}
	if (is_down)
		s->down_path = ferry_buf_detach(&path, NULL);
	else
		s->path = ferry_buf_detach(&path, NULL);
	rc = 0;
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	ferry_free(name);
	ferry_buf_release(&path);
	ferry_buf_release(&tmp);
	return rc;
}

static int walk(struct ferry_migrator *m, const char *dirpath,
		const char *folder, const char *from, const char *to,
		struct ferry_error *err)
{
	char **names = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = list_dir(dirpath, &names, &n, err)) < 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		struct ferry_buf sub = FERRY_BUF_INIT;
		struct stat st;

		if ((rc = ferry_buf_addf(&sub, "%s/%s", dirpath, names[i])) < 0) {
			rc = ferry_error_set(err, rc, "out of memory");
			break;
		}
		if (stat(sub.buf, &st) == 0 && S_ISDIR(st.st_mode)) {
			char *f = NULL, *t = NULL;

			if (!folder && mig_parse_transition(names[i], &f, &t) == 0)
				rc = walk(m, sub.buf, names[i], f, t, err);
			else if (strcmp(names[i], "__pycache__"))
				ferry_debug("migrate: ignoring directory '%s'", sub.buf);
			ferry_free(f);
			ferry_free(t);
		} else {
			rc = add_file(m, dirpath, folder, from, to, names[i], err);
		}
		ferry_buf_release(&sub);
	}
	for (i = 0; i < n; i++)
		ferry_free(names[i]);
	ferry_free(names);
	return rc;
}

int mig_discover(struct ferry_migrator *m, struct ferry_error *err)
{
	size_t i;
	int rc;

	if ((rc = walk(m, m->dir, NULL, NULL, NULL, err)) < 0)
		return rc;
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (!s->path)
			return ferry_error_set(err, FERRY_EPARSE,
				"'%s' has a .down.sql but no .up.sql: add the up file or remove the down file",
				s->label);
		if ((rc = mig_ops[s->kind]->load(m, s, err)) < 0)
			return rc;
	}
	if (m->nsteps)  /* qsort(NULL, 0) is undefined */
		qsort(m->steps, m->nsteps, sizeof(*m->steps), step_qsort_cmp);
	return 0;
}
