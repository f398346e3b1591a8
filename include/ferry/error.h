/*
 * error.h - error codes and the error record every fallible call fills.
 *
 * Ownership: a struct ferry_error is plain caller memory (no heap), so it
 * can live on the stack and be passed down any number of layers.  A callee
 * that fails writes code, message and origin; a callee that succeeds leaves
 * it alone.  Messages follow git: lower-case, no full stop, what failed
 * first, the subject in quotes.
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* One table of codes; ferry_strerror() and the enum come from it. */
#define FERRY_ERRORS(X)                                         \
	X(FERRY_OK,           0,  "success")                        \
	X(FERRY_ENOMEM,      -1,  "out of memory")                  \
	X(FERRY_EINVAL,      -2,  "invalid argument")               \
	X(FERRY_EIO,         -3,  "input/output error")             \
	X(FERRY_ECONN,       -4,  "connection failed")              \
	X(FERRY_ESQL,        -5,  "database error")                 \
	X(FERRY_EPARSE,      -6,  "parse error")                    \
	X(FERRY_ENOTFOUND,   -7,  "not found")                      \
	X(FERRY_EEXIST,      -8,  "already exists")                 \
	X(FERRY_EUNSUPPORTED,-9,  "not supported")                  \
	X(FERRY_EREJECT,     -10, "value rejected")                 \
	X(FERRY_EABORT,      -11, "aborted")                        \
	X(FERRY_ELOCKED,     -12, "locked")                         \
	X(FERRY_ETOOBIG,     -13, "size limit exceeded")            \
	X(FERRY_ETIMEOUT,    -14, "timed out")                      \
	X(FERRY_ECHILD,      -15, "child process failed")           \
	X(FERRY_EDRIFT,      -16, "checksum drift")                 \
	X(FERRY_EUSAGE,      -17, "usage error")

enum ferry_errcode {
#define FERRY_X_ENUM(name, val, msg) name = val,
	FERRY_ERRORS(FERRY_X_ENUM)
#undef FERRY_X_ENUM
};

#define FERRY_ERRMSG_MAX 1024
#define FERRY_ERRORIGIN_MAX 96

struct ferry_error {
	int code;                          /* FERRY_E*, 0 when clear */
	char msg[FERRY_ERRMSG_MAX];        /* human message, never a password */
	char origin[FERRY_ERRORIGIN_MAX];  /* "sqlstate 23505", "errno 2", "file.lp:12" */
};

#define FERRY_ERROR_INIT { 0, "", "" }

/* Name of a code ("out of memory"); never NULL. */
const char *ferry_strerror(int code);

/* Clear an error record for reuse. */
void ferry_error_clear(struct ferry_error *err);

/*
 * Fill err (which may be NULL) with code and a printf-style message and
 * return code, so callers can write `return ferry_error_set(err, ...)`.
 */
int ferry_error_set(struct ferry_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ferry_error_vset(struct ferry_error *err, int code, const char *fmt,
		     va_list ap);

/* Set the origin field (SQLSTATE, errno, file:line). */
void ferry_error_origin(struct ferry_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put "context: " in front of the existing message (keeps code/origin). */
void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
