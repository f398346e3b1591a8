/*
 * error.c - the error record (see ferry/error.h).  Every layer reports
 * failure by filling one struct ferry_error; upper layers add context
 * with ferry_error_prefix() instead of replacing the message.
 */
#include <stdio.h>
#include <string.h>

#include "ferry/error.h"

const char *ferry_strerror(int code)
{
	switch (code) {
#define FERRY_X_CASE(name, val, msg) case val: return msg;
	FERRY_ERRORS(FERRY_X_CASE)
#undef FERRY_X_CASE
	}
	return "unknown error";
}

void ferry_error_clear(struct ferry_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
	err->origin[0] = '\0';
}

int ferry_error_vset(struct ferry_error *err, int code, const char *fmt,
		     va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	err->origin[0] = '\0';
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int ferry_error_set(struct ferry_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ferry_error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void ferry_error_origin(struct ferry_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->origin, sizeof(err->origin), fmt, ap);
	va_end(ap);
}

void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
{
	char tmp[FERRY_ERRMSG_MAX];
	size_t n;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	if (n + 2 < sizeof(tmp)) {
		memcpy(tmp + n, ": ", 3);
		n += 2;
		memcpy(tmp + n, err->msg, sizeof(tmp) - n - 1);
		tmp[sizeof(tmp) - 1] = '\0';
	}
	memcpy(err->msg, tmp, sizeof(err->msg));
}
