/*
 * url.c - endpoint URL parsing and password redaction.
 *
 * The parser is deliberately small: it splits scheme, authority, path and
 * query, percent-decodes each part and keeps the raw string for libpq.
 * Redaction works on any text so that error messages built from user input
 * can be cleaned even when they are not valid URLs.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ferry/alloc.h"
#include "ferry/url.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ferry_url_decode(const char *s, size_t n, struct ferry_buf *out)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if ((rc = ferry_buf_addch(out, c)) < 0)
			return rc;
	}
	return 0;
}

static char *decode_dup(const char *s, size_t n)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	if (ferry_url_decode(s, n, &b) < 0) {
		ferry_buf_release(&b);
		return NULL;
	}
	return ferry_buf_detach(&b, NULL);
}

void ferry_url_free(ferry_url *u)
{
	size_t i;

	if (!u)
		return;
	ferry_free(u->raw);
	ferry_free(u->scheme);
	ferry_free(u->user);
	ferry_free(u->password);
	ferry_free(u->host);
	ferry_free(u->path);
	for (i = 0; i < u->nparams; i++) {
		ferry_free(u->params[i].key);
		ferry_free(u->params[i].value);
	}
	ferry_free(u->params);
	ferry_free(u);
}

const char *ferry_url_param(const ferry_url *u, const char *key)
{
	size_t i;

	for (i = 0; i < u->nparams; i++)
		if (!strcmp(u->params[i].key, key))
			return u->params[i].value;
	return NULL;
}

static int parse_query(ferry_url *u, const char *q)
{
	size_t cap = 0;

	while (*q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		struct ferry_url_param *p;

		if (n == 0)
			goto next;
		if (FERRY_GROW(u->params, cap, u->nparams + 1) < 0)
			return FERRY_ENOMEM;
		p = &u->params[u->nparams];
		p->key = decode_dup(q, eq ? (size_t)(eq - q) : n);
		p->value = eq ? decode_dup(eq + 1, n - (size_t)(eq - q) - 1)
			      : ferry_strdup("");
		if (!p->key || !p->value) {
			ferry_free(p->key);
			ferry_free(p->value);
			return FERRY_ENOMEM;
		}
		u->nparams++;
next:
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

static int parse_authority(ferry_url *u, const char *a, size_t n,
			   struct ferry_error *err)
{
	const char *at = NULL, *hp, *colon;
	size_t i;

	for (i = n; i > 0; i--)
		if (a[i - 1] == '@') {
			at = a + i - 1;
			break;
		}
	hp = a;
	if (at) {
		const char *c = memchr(a, ':', (size_t)(at - a));

		u->user = decode_dup(a, c ? (size_t)(c - a) : (size_t)(at - a));
		if (c)
			u->password = decode_dup(c + 1, (size_t)(at - c - 1));
		if (!u->user || (c && !u->password))
			return FERRY_ENOMEM;
		hp = at + 1;
	}
	n -= (size_t)(hp - a);
	if (n && hp[0] == '[') {  /* [ipv6]:port */
		const char *rb = memchr(hp, ']', n);

		if (!rb)
			return ferry_error_set(err, FERRY_EPARSE,
					       "invalid host in url: missing ']'");
		u->host = ferry_strndup(hp + 1, (size_t)(rb - hp - 1));
		colon = (rb + 1 < hp + n && rb[1] == ':') ? rb + 1 : NULL;
	} else {
		colon = memchr(hp, ':', n);
		u->host = decode_dup(hp, colon ? (size_t)(colon - hp) : n);
	}
	if (!u->host)
		return FERRY_ENOMEM;
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);

		if (end != hp + n || port <= 0 || port > 65535)
			return ferry_error_set(err, FERRY_EPARSE,
					       "invalid port in url");
		u->port = (int)port;
	}
	return 0;
}

/*
 * Is s a libpq keyword/value connection string ("host=h port=5432
 * dbname=x")?  Its first word is a keyword followed by '=', which no URL
 * scheme can be (a scheme ends at ':').
 */
static int is_conninfo(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!isalpha((unsigned char)*s))
		return 0;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '=';
}

/*
 * Parse a libpq keyword/value string into scheme "postgres", host, port,
 * user, password and path (the dbname).  raw keeps the string as given:
 * libpq reads it itself, so keywords ferry does not know (sslmode,
 * options...) pass through untouched.  Quoting as libpq: 'a b', \' and \\.
 */
static int parse_conninfo(ferry_url *u, const char *s, struct ferry_error *err)
{
	struct ferry_buf key = FERRY_BUF_INIT, val = FERRY_BUF_INIT;
	int rc = 0, oom = 0;

	if (!(u->scheme = ferry_strdup("postgres")))
		return FERRY_ENOMEM;
	while (*s) {
		char **slot = NULL;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		ferry_buf_clear(&key);
		ferry_buf_clear(&val);
		while (*s && *s != '=' && !isspace((unsigned char)*s))
			oom |= ferry_buf_addch(&key, *s++);
		while (isspace((unsigned char)*s))
			s++;
		if (*s != '=' || !key.len) {
			rc = ferry_error_set(err, FERRY_EPARSE,
				"invalid connection string: '%s' has no '=value'; write key=value pairs such as \"host=db port=5432 dbname=app\"",
				key.len ? key.buf : "");
			goto out;
		}
		for (s++; isspace((unsigned char)*s); s++)
			;
		if (*s == '\'') {
			for (s++; *s && *s != '\''; s++) {
				if (*s == '\\' && s[1])
					s++;
				oom |= ferry_buf_addch(&val, *s);
			}
			if (*s != '\'') {
				rc = ferry_error_set(err, FERRY_EPARSE,
					"invalid connection string: unterminated quoted value for '%s'",
					key.buf);
				goto out;
			}
			s++;
		} else {
			for (; *s && !isspace((unsigned char)*s); s++) {
				if (*s == '\\' && s[1])
					s++;
				oom |= ferry_buf_addch(&val, *s);
			}
		}
		if (oom) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		if (!strcmp(key.buf, "host"))
			slot = &u->host;
		else if (!strcmp(key.buf, "user"))
			slot = &u->user;
		else if (!strcmp(key.buf, "password"))
			slot = &u->password;
		else if (!strcmp(key.buf, "dbname"))
			slot = &u->path;
		else if (!strcmp(key.buf, "port"))
			u->port = atoi(val.buf);
		if (slot) {
			ferry_free(*slot);
			if (!(*slot = ferry_strdup(val.buf))) {
				rc = FERRY_ENOMEM;
				goto out;
			}
		}
	}
	if (!u->path && !(u->path = ferry_strdup("")))
		rc = FERRY_ENOMEM;
out:
	ferry_buf_release(&key);
	ferry_buf_release(&val);
	return rc;
}

int ferry_url_parse(const char *s, ferry_url **out, struct ferry_error *err)
{
	ferry_url *u;
	const char *p, *q, *path_end;
	int rc = 0;

	u = ferry_calloc(1, sizeof(*u));
	if (!u)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	u->raw = ferry_strdup(s);
	if (!u->raw) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	if (is_conninfo(s)) {
		rc = parse_conninfo(u, s, err);
		goto out;
	}
	for (p = s; isalnum((unsigned char)*p) || *p == '+' || *p == '-' ||
		    *p == '.'; p++)
		;
	if (*p != ':' || p == s) {
		rc = ferry_error_set(err, FERRY_EPARSE,
			"invalid endpoint: expected a URL such as sqlite:///path.db or postgres://host/db");
		goto out;
	}
	u->scheme = ferry_strndup(s, (size_t)(p - s));
	if (!u->scheme) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	for (q = u->scheme; *q; q++)
		((char *)q)[0] = (char)tolower((unsigned char)*q);
	p++;
	q = strchr(p, '?');
	path_end = q ? q : p + strlen(p);
	if (p[0] == '/' && p[1] == '/') {
		const char *a = p + 2, *slash = memchr(a, '/', (size_t)(path_end - a));
		const char *aend = slash ? slash : path_end;

		if (aend > a && (rc = parse_authority(u, a, (size_t)(aend - a), err)) < 0)
			goto out;
		/* postgres://host/db -> path "db"; sqlite:///abs -> "/abs" */
		if (slash) {
			if (aend == a)
				u->path = decode_dup(slash, (size_t)(path_end - slash));
			else
				u->path = decode_dup(slash + 1,
						     (size_t)(path_end - slash - 1));
		} else {
			u->path = ferry_strdup("");
		}
	} else {
		u->path = decode_dup(p, (size_t)(path_end - p));
	}
	if (!u->path) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	if (q && (rc = parse_query(u, q + 1)) < 0)
		goto out;
out:
	if (rc < 0) {
		if (rc == FERRY_ENOMEM)
			ferry_error_set(err, rc, "out of memory");
		ferry_url_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

static int is_secret_key(const char *k, size_t n)
{
	static const char *keys[] = { "password", "pw", "p", "pass", "passwd",
				      "token", "api_key", "apikey" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == n && !strncasecmp(k, keys[i], n))
			return 1;
	return 0;
}

/* Length of a key=value value starting at v (libpq: quoted or bare). */
static size_t value_len(const char *v, int in_url)
{
	const char *p = v;

	if (!in_url && *p == '\'') {
		for (p++; *p && *p != '\''; p++)
			if (*p == '\\' && p[1])
				p++;
		return (size_t)(p - v) + (*p == '\'');
	}
	while (*p && *p != '&' && *p != ' ' && *p != '\t' && *p != '\n' &&
	       *p != '\'' && *p != '"' && !(in_url && *p == '#'))
		p++;
	return (size_t)(p - v);
}

int ferry_url_redact(const char *s, struct ferry_buf *out)
{
	const char *p = s;
	int rc;

	while (*p) {
		/* scheme://user:secret@ */
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			const char *a = p + 3, *e = a, *at = NULL, *colon = NULL;

			while (*e && *e != '/' && *e != '?' && *e != ' ' &&
			       *e != '\'' && *e != '"' && *e != '\n') {
				if (*e == '@')
					at = e;
				e++;
			}
			if (at)
				colon = memchr(a, ':', (size_t)(at - a));
			if (colon) {
				if ((rc = ferry_buf_add(out, p, (size_t)(colon - p) + 1)) < 0 ||
				    (rc = ferry_buf_addstr(out, "***")) < 0)
					return rc;
				p = at;
				continue;
			}
			if ((rc = ferry_buf_add(out, p, 3)) < 0)
				return rc;
			p += 3;
			continue;
		}
		/* key=secret in a query string or a libpq conninfo */
		if (isalpha((unsigned char)*p) &&
		    (p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
			const char *k = p;
			size_t kn;

			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			kn = (size_t)(p - k);
			if ((rc = ferry_buf_add(out, k, kn)) < 0)
				return rc;
			{
				const char *e = p;

				while (*e == ' ')
					e++;
				if (*e == '=' && is_secret_key(k, kn)) {
					int in_url = k > s && (k[-1] == '?' || k[-1] == '&');

					e++;
					if ((rc = ferry_buf_add(out, p, (size_t)(e - p))) < 0)
						return rc;
					while (!in_url && *e == ' ')
						e++;
					p = e + value_len(e, in_url);
					if ((rc = ferry_buf_addstr(out, "***")) < 0)
						return rc;
				}
			}
			continue;
		}
		if ((rc = ferry_buf_addch(out, *p)) < 0)
			return rc;
		p++;
	}
	return 0;
}

int ferry_url_sqlite_hint(const char *path, struct ferry_buf *out)
{
	struct stat st;

	if (!path || !*path || stat(path, &st) == 0)
		return 0;
	/* sqlite:///x.db has three slashes: the third starts an absolute path */
	if (path[0] == '/' && strchr(path + 1, '/') == NULL && path[1] &&
	    stat(path + 1, &st) == 0)
		return ferry_buf_addf(out,
			"; did you mean sqlite:%s (relative to the current directory)? "
			"sqlite:///%s names the absolute path %s", path + 1, path + 1, path);
	if (path[0] == '/' && stat(path + 1, &st) == 0)
		return ferry_buf_addf(out,
			"; did you mean sqlite:%s (relative to the current directory)?", path + 1);
	return 0;
}
