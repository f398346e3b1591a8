/*
 * sqltext.c - comments and quoted strings or names of SQL text (see
 * sqltext.h).
 */
#include <string.h>

#include "wire/sqltext.h"

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
