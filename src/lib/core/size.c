/*
 * size.c - sizes as users write them (see size.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "ferry/size.h"

int ferry_size_parse(const char *s, uint64_t *out)
{
	static const struct { const char *unit; uint64_t mul; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "k", 1ULL << 10 }, { "K", 1ULL << 10 }, { "M", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "T", 1ULL << 40 },
		{ "kB", 1000ULL }, { "KB", 1000ULL }, { "MB", 1000000ULL },
		{ "GB", 1000000000ULL }, { "TB", 1000000000000ULL },
		{ "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 }, { "GiB", 1ULL << 30 },
		{ "TiB", 1ULL << 40 },
	};
	unsigned long long v;
	char *end;
	size_t i;

	if (!s || !isdigit((unsigned char)*s))
		return FERRY_EUSAGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return FERRY_EUSAGE;
	while (*end == ' ')
		end++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		if (v > UINT64_MAX / units[i].mul)
			return FERRY_EUSAGE;
		*out = (uint64_t)v * units[i].mul;
		return 0;
	}
	return FERRY_EUSAGE;
}
