/*
 * progress.c - progress bar / plain progress lines.
 *
 * Counters are atomics so reader, encoder and writer threads can all add
 * without a lock; printing takes a mutex and is rate-limited so that a hot
 * loop calling ferry_progress_tick() costs a clock read and a compare.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/progress.h"

struct ferry_progress {
	FILE *out;
	int mode;
	char label[128];
	uint64_t total;
	_Atomic uint64_t rows;
	_Atomic uint64_t bytes;
	double start;
	double last_print;
	double interval;
	int drawn;  /* a bar is on screen and needs a newline */
	pthread_mutex_t lock;
};

double ferry_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

ferry_progress *ferry_progress_new(FILE *out, int mode, const char *label,
				   uint64_t total)
{
	ferry_progress *p = ferry_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->out = out ? out : stderr;
	if (mode == FERRY_PROGRESS_AUTO)
		mode = isatty(fileno(p->out)) ? FERRY_PROGRESS_BAR
					      : FERRY_PROGRESS_PLAIN;
	p->mode = mode;
	p->interval = 5.0;
	pthread_mutex_init(&p->lock, NULL);
	ferry_progress_reset(p, label, total);
	return p;
}

void ferry_progress_set_interval(ferry_progress *p, double seconds)
{
	if (p)
		p->interval = seconds;
}

/* End a bar drawn on the current line, if any (p->lock held). */
static void end_bar(ferry_progress *p)
{
	if (p->drawn) {
		fputc('\n', p->out);
		p->drawn = 0;
	}
}

void ferry_progress_reset(ferry_progress *p, const char *label, uint64_t total)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	end_bar(p);
	snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
	p->total = total;
	atomic_store(&p->rows, 0);
	atomic_store(&p->bytes, 0);
	p->start = p->last_print = ferry_now();
	pthread_mutex_unlock(&p->lock);
}

void ferry_progress_add(ferry_progress *p, uint64_t rows, uint64_t bytes)
{
	if (!p)
		return;
	atomic_fetch_add(&p->rows, rows);
	atomic_fetch_add(&p->bytes, bytes);
}

static void human_bytes(double b, char *out, size_t n)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void draw(ferry_progress *p, double now, int final)
{
	uint64_t rows = atomic_load(&p->rows), bytes = atomic_load(&p->bytes);
	double el = now - p->start, rate = el > 0 ? (double)rows / el : 0;
	char hb[32], eta[32] = "";

	human_bytes((double)bytes, hb, sizeof(hb));
	if (p->total && rate > 0 && rows < p->total) {
		double s = (double)(p->total - rows) / rate;

		snprintf(eta, sizeof(eta), " ETA %dm%02ds", (int)(s / 60),
			 (int)s % 60);
	}
	if (p->mode == FERRY_PROGRESS_BAR) {
		char bar[31];
		int i, fill = 0;

		if (p->total)
			fill = (int)(30.0 * (double)(rows > p->total ? p->total : rows) /
				     (double)p->total);
		for (i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : (p->total ? '.' : ' ');
		bar[30] = '\0';
		fprintf(p->out, "\r%-20.20s [%s] %llu rows %s %.0f rows/s%s\033[K",
			p->label, bar, (unsigned long long)rows, hb, rate, eta);
		p->drawn = 1;
		if (final) {
			fputc('\n', p->out);
			p->drawn = 0;
		}
	} else {
		if (p->total)
			fprintf(p->out, "%s: %llu/%llu rows (%.0f%%), %s, %.0f rows/s%s\n",
				p->label, (unsigned long long)rows,
				(unsigned long long)p->total,
				100.0 * (double)rows / (double)p->total, hb, rate, eta);
		else
			fprintf(p->out, "%s: %llu rows, %s, %.0f rows/s\n", p->label,
				(unsigned long long)rows, hb, rate);
	}
	fflush(p->out);
	p->last_print = now;
}

void ferry_progress_tick(ferry_progress *p)
{
	double now, due;

	if (!p || p->mode == FERRY_PROGRESS_QUIET)
		return;
	now = ferry_now();
	due = p->mode == FERRY_PROGRESS_BAR ? 0.1 : p->interval;
	if (now - p->last_print < due)
		return;
	if (pthread_mutex_trylock(&p->lock) != 0)
		return;
	if (now - p->last_print >= due)
		draw(p, now, 0);
	pthread_mutex_unlock(&p->lock);
}

void ferry_progress_note(ferry_progress *p, const char *text)
{
	if (!p || p->mode == FERRY_PROGRESS_QUIET)
		return;
	pthread_mutex_lock(&p->lock);
	end_bar(p);
	fprintf(p->out, "%s: %s\n", p->label, text);
	fflush(p->out);
	pthread_mutex_unlock(&p->lock);
}

void ferry_progress_done(ferry_progress *p)
{
	if (!p || p->mode == FERRY_PROGRESS_QUIET)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->mode == FERRY_PROGRESS_BAR)
		draw(p, ferry_now(), 1);
	pthread_mutex_unlock(&p->lock);
}

void ferry_progress_free(ferry_progress *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	ferry_free(p);
}
