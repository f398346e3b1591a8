/*
 * sqltext.c - comments and quoted strings or names of SQL text (see
 * sqltext.h).
 */
#include <string.h>

#include "ferry/buf.h"
#include "wire/sqltext.h"

int wire_sql_literal(struct ferry_buf *b, const char *s)
{
	int berr = ferry_buf_addch(b, '\'');

	for (; *s; s++)
		berr |= *s == '\'' ? ferry_buf_addstr(b, "''") : ferry_buf_addch(b, *s);
	berr |= ferry_buf_addch(b, '\'');
	return berr < 0 ? -1 : 0;
}

int wire_influxql_literal(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int berr = ferry_buf_addch(b, '\'');

	for (i = 0; i < n; i++) {
		if (s[i] == '\'' || s[i] == '\\' || s[i] == '\n')
			berr |= ferry_buf_addch(b, '\\');
		berr |= ferry_buf_addch(b, s[i] == '\n' ? 'n' : s[i]);
	}
	berr |= ferry_buf_addch(b, '\'');
	return berr < 0 ? -1 : 0;
}

const char *wire_sql_comment(const char *p)
{
	if (p[0] == '-' && p[1] == '-') {
		while (*p && *p != '\n')
			p++;
		return p;
	}
	if (p[0] == '/' && p[1] == '*') {
		const char *e = strstr(p + 2, "*/");

		return e ? e + 2 : p + strlen(p);
	}
	return p;
}

const char *wire_sql_quoted(const char *p)
{
	char close;

	switch (*p) {
	case '\'':
	case '"':
	case '`':
		close = *p;
		break;
	case '[':
		close = ']';
		break;
	default:
		return p;
	}
	for (p++; *p; p++) {
		if (*p != close)
			continue;
		if (close != ']' && p[1] == close) {   /* a doubled quote */
			p++;
			continue;
		}
		return p + 1;
	}
	return p;
}
