/*
 * progress.h - progress reporting for long work.
 *
 * On a TTY: a redrawn bar with rows/s and ETA.  Otherwise: one plain line
 * every few seconds.  FERRY_PROGRESS_QUIET prints nothing.  Updates are
 * thread-safe and cheap (an atomic add); printing happens at most every
 * 100 ms (TTY) or every interval seconds (plain).
 */
#ifndef FERRY_PROGRESS_H
#define FERRY_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

enum ferry_progress_mode {
	FERRY_PROGRESS_AUTO = 0,  /* TTY bar if the stream is a TTY, else plain */
	FERRY_PROGRESS_BAR,
	FERRY_PROGRESS_PLAIN,
	FERRY_PROGRESS_QUIET
};

typedef struct ferry_progress ferry_progress;

/* total may be 0 when unknown (no ETA).  Returns NULL on out-of-memory. */
ferry_progress *ferry_progress_new(FILE *out, int mode, const char *label,
				   uint64_t total);
/* Start a new phase/label, keeping the same output stream. */
void ferry_progress_reset(ferry_progress *p, const char *label, uint64_t total);
void ferry_progress_add(ferry_progress *p, uint64_t rows, uint64_t bytes);
/* Print if due (call from any thread). */
void ferry_progress_tick(ferry_progress *p);
/* One line "label: text" (not when quiet), e.g. what a long wait before
 * the rows start is for. */
void ferry_progress_note(ferry_progress *p, const char *text);
/* Print the final state and end the line. */
void ferry_progress_done(ferry_progress *p);
void ferry_progress_free(ferry_progress *p);

/* Plain-line interval in seconds (default 5). */
void ferry_progress_set_interval(ferry_progress *p, double seconds);

/* Monotonic clock in seconds. */
double ferry_now(void);

#endif
