/*
 * log.c - leveled diagnostics.  The default sink writes
 * "ferry: warning: ..." lines to stderr, git style.
 */
#include <stdarg.h>
#include <stdio.h>

#include "ferry/log.h"

static int log_level = FERRY_LOG_WARN;
static ferry_log_sink log_sink;
static void *log_ud;

void ferry_log_set_level(int level)
{
	log_level = level;
}

int ferry_log_get_level(void)
{
	return log_level;
}

void ferry_log_set_sink(ferry_log_sink sink, void *ud)
{
	log_sink = sink;
	log_ud = ud;
}

void ferry_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char msg[2048];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_sink) {
		log_sink(level, msg, log_ud);
		return;
	}
	fprintf(stderr, "ferry: %s: %s\n",
		names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}
