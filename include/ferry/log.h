/*
 * log.h - leveled diagnostics on stderr (or a caller-chosen sink).
 *
 * Messages are lines without the trailing newline.  Never log a URL as
 * given: pass it through ferry_url_redact() first.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdio.h>

enum ferry_log_level {
	FERRY_LOG_ERROR = 0,
	FERRY_LOG_WARN = 1,
	FERRY_LOG_INFO = 2,
	FERRY_LOG_DEBUG = 3
};

typedef void (*ferry_log_sink)(int level, const char *msg, void *ud);

void ferry_log_set_level(int level);
int ferry_log_get_level(void);
/* Replace the sink (NULL restores stderr). */
void ferry_log_set_sink(ferry_log_sink sink, void *ud);
void ferry_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define ferry_warn(...) ferry_log(FERRY_LOG_WARN, __VA_ARGS__)
#define ferry_info(...) ferry_log(FERRY_LOG_INFO, __VA_ARGS__)
#define ferry_debug(...) ferry_log(FERRY_LOG_DEBUG, __VA_ARGS__)

#endif
