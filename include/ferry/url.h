/*
 * url.h - endpoint URLs.
 *
 * Accepted shapes: scheme://[user[:password]@]host[:port]/path[?k=v&...],
 * scheme:///abs/path, scheme:rel/path (sqlite:, lp:, csv:).  postgres and
 * postgresql URLs are also handed to libpq as given, so anything libpq
 * accepts works; this parser only needs the parts ferry itself reads.
 * Components are percent-decoded.  A struct ferry_url owns all its strings
 * (freed by ferry_url_free).
 */
#ifndef FERRY_URL_H
#define FERRY_URL_H

#include "ferry/buf.h"
#include "ferry/error.h"

struct ferry_url_param {
	char *key;
	char *value;
};

typedef struct ferry_url {
	char *raw;       /* as given; may contain a password: never print */
	char *scheme;    /* lower-case, "" for a bare path */
	char *user;      /* NULL when absent */
	char *password;  /* NULL when absent */
	char *host;      /* NULL when absent */
	int port;        /* 0 when absent */
	char *path;      /* decoded; "/abs/x.db" or "rel/x.db" or "db" */
	struct ferry_url_param *params;
	size_t nparams;
} ferry_url;

int ferry_url_parse(const char *s, ferry_url **out, struct ferry_error *err);
void ferry_url_free(ferry_url *u);
/* Value of query parameter key, or NULL. */
const char *ferry_url_param(const ferry_url *u, const char *key);

/*
 * Append s with any password replaced by "***": the user:password@ part
 * of a URL, password=/pw=/p= query parameters, and password=... in a
 * libpq key=value connection string.  Safe on arbitrary text.
 */
int ferry_url_redact(const char *s, struct ferry_buf *out);

/*
 * When the SQLite file path names is missing, append what the user most
 * likely meant: sqlite:///x.db is the absolute /x.db, and when ./x.db
 * exists instead, "did you mean sqlite:x.db".  Appends nothing when the
 * file exists or no better guess is at hand.
 */
int ferry_url_sqlite_hint(const char *path, struct ferry_buf *out);

/* Percent-decode n bytes of s into out. */
int ferry_url_decode(const char *s, size_t n, struct ferry_buf *out);

#endif
