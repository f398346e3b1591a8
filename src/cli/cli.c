/*
 * cli.c - small pieces the subcommands share: option values that mean the
 * same in every command (--progress), repeatable string options, sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ferry/progress.h"

int cli_progress_mode(const char *arg, int *mode)
{
	static const struct { const char *name; int mode; } modes[] = {
		{ "auto", FERRY_PROGRESS_AUTO }, { "bar", FERRY_PROGRESS_BAR },
		{ "plain", FERRY_PROGRESS_PLAIN }, { "none", FERRY_PROGRESS_QUIET },
	};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(arg, modes[i].name)) {
			*mode = modes[i].mode;
			return 0;
		}
	return -1;
}

int cli_strlist_push(struct cli_strlist *l, const char *s)
{
	const char **v = realloc(l->v, (l->n + 2) * sizeof(*v));

	if (!v)
		return -1;
	v[l->n++] = s;
	v[l->n] = NULL;
	l->v = v;
	return 0;
}

int cli_src_dst(const char *cmd, int argc, char **argv, int optind_,
		const char **src, const char **dst)
{
	if (argc - optind_ != 2)
		return cli_usage(cmd, "expected SRC and DST, got %d argument%s",
				 argc - optind_, argc - optind_ == 1 ? "" : "s");
	*src = argv[optind_];
	*dst = argv[optind_ + 1];
	return 0;
}
