/*
 * sqltext.h - lexical units of SQL text that every reader of a script or
 * a CREATE statement must step over whole: comments and quoted strings or
 * names.  One owner for migrate's statement splitter and lint
 * (migrate/discover.c) and SQLite's CREATE statement reader
 * (connectors/sqlite_describe.c).  Pure, on NUL-terminated text; fuzzed
 * through the splitter and lint (tests/fuzz/fuzz_migrate.c).
 */
#ifndef FERRY_WIRE_SQLTEXT_H
#define FERRY_WIRE_SQLTEXT_H

/* The comment at p (-- to the end of its line, without the newline;
 * slash-star to star-slash, or to the end of an unclosed one): the first
 * position after it, or p itself when none starts there. */
const char *wire_sql_comment(const char *p);

/* The quoted string or name at p, opened by *p: ' " ` (a doubled quote
 * inside is part of it) or SQLite's [ closed by ]: the first position
 * after its closing quote (the end of the text when unclosed), or p
 * itself when *p opens none. */
const char *wire_sql_quoted(const char *p);

#endif
