/*
 * sqltext.h - lexical units of SQL text that every reader of a script or
 * a CREATE statement must step over whole: comments and quoted strings or
 * names.  One owner for migrate's statement splitter and lint
 * (migrate/discover.c) and SQLite's CREATE statement reader
 * (connectors/sqlite_describe.c).  Pure, on NUL-terminated text; fuzzed
 * through the splitter and lint (tests/fuzz/fuzz_migrate.c).  And the
 * writers of a string literal, of PostgreSQL's SQL (the planner, the
 * connector, the relay) and of InfluxQL (the InfluxDB source's queries,
 * the cutover's latency gate).
 */
#ifndef FERRY_WIRE_SQLTEXT_H
#define FERRY_WIRE_SQLTEXT_H

#include <stddef.h>

/* The comment at p (-- to the end of its line, without the newline;
 * slash-star to star-slash, or to the end of an unclosed one): the first
 * position after it, or p itself when none starts there. */
const char *wire_sql_comment(const char *p);

/* The quoted string or name at p, opened by *p: ' " ` (a doubled quote
 * inside is part of it) or SQLite's [ closed by ]: the first position
 * after its closing quote (the end of the text when unclosed), or p
 * itself when *p opens none. */
const char *wire_sql_quoted(const char *p);

struct ferry_buf;

/* s as a standard SQL string literal onto b: in single quotes, a quote
 * doubled ('it''s'; a backslash is itself, as standard_conforming_strings
 * has it).  0, or -1 out of memory (b's error). */
int wire_sql_literal(struct ferry_buf *b, const char *s);

/* The n bytes of s as an InfluxQL string literal onto b: in single
 * quotes, with ' and \ escaped by a backslash and a newline as \n (its
 * scanner refuses a raw one).  It cannot hold a NUL: the scanner takes
 * that for the end of the query.  0, or -1 out of memory. */
int wire_influxql_literal(struct ferry_buf *b, const char *s, size_t n);

#endif
