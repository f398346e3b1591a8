/*
 * diff.c - unified diff of two texts (Myers' O(ND) algorithm), printed the
 * way `diff -u` prints it: hunks with `context` lines around changes,
 * lengths of 1 left out of the @@ header, and "\ No newline at end of file"
 * after a last line without one.  Used for --dry-run and the change shown
 * before files are written.
 */
#include <string.h>

#include "ferry/alloc.h"
#include "rewrite_int.h"

struct lines {
	const char **p;
	size_t *len;     /* with the '\n' when there is one */
	size_t n;
};

static int split(const char *s, size_t n, struct lines *l)
{
	size_t i = 0, cap = 0, lcap = 0;

	l->p = NULL;
	l->len = NULL;
	l->n = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) + 1 : n;

		if (FERRY_GROW(l->p, cap, l->n + 1) ||
		    FERRY_GROW(l->len, lcap, l->n + 1))
			return FERRY_ENOMEM;
		l->p[l->n] = s + i;
		l->len[l->n] = e - i;
		l->n++;
		i = e;
	}
	return 0;
}

static void lines_release(struct lines *l)
{
	ferry_free(l->p);
	ferry_free(l->len);
}

static int leq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && !memcmp(a->p[i], b->p[j], a->len[i]);
}

enum { OP_EQ = 0, OP_DEL, OP_INS };

/*
 * Myers' greedy shortest edit script.  trace[d] keeps V[-d..d] as it was
 * before step d, so memory is O(D^2), small for the few-line changes a
 * rewrite makes.  ops gets one entry per line of the script, in order.
 */
static int myers(const struct lines *a, const struct lines *b,
		 unsigned char **ops_out, size_t *nops_out)
{
	size_t N = a->n, M = b->n, MAX = N + M;
	long *V = NULL;
	long **trace = NULL;
	unsigned char *ops = NULL;
	size_t nops = 0, d, D = 0, off = MAX + 1;
	long x, y, k;
	int rc = FERRY_ENOMEM, found = 0;

	V = ferry_calloc(2 * MAX + 3, sizeof(*V));
	trace = ferry_calloc(MAX + 1, sizeof(*trace));
	ops = ferry_malloc(N + M + 1);
	if (!V || !trace || !ops)
		goto out;
	for (d = 0; d <= MAX && !found; d++) {
		trace[d] = ferry_malloc((2 * d + 1) * sizeof(long));
		if (!trace[d])
			goto out;
		memcpy(trace[d], V + off - d, (2 * d + 1) * sizeof(long));
		for (k = -(long)d; k <= (long)d; k += 2) {
			if (k == -(long)d || (k != (long)d &&
			    V[off + k - 1] < V[off + k + 1]))
				x = V[off + k + 1];
			else
				x = V[off + k - 1] + 1;
			y = x - k;
			while ((size_t)x < N && (size_t)y < M && leq(a, x, b, y))
				x++, y++;
			V[off + k] = x;
			if ((size_t)x >= N && (size_t)y >= M) {
				found = 1;
				D = d;
				break;
			}
		}
	}
	/* walk back from (N, M), writing ops from the end */
	nops = 0;
	x = (long)N;
	y = (long)M;
	{
		size_t pos = N + M + 1;

		for (d = D; ; d--) {
			long *v = trace[d];   /* index k -> v[k + d] */
			long pk, px, py;

			k = x - y;
			if (d == 0) {
				while (x > 0 && y > 0) {
					ops[--pos] = OP_EQ;
					x--, y--;
				}
				break;
			}
			if (k == -(long)d || (k != (long)d &&
			    v[k - 1 + (long)d] < v[k + 1 + (long)d]))
				pk = k + 1;
			else
				pk = k - 1;
			px = v[pk + (long)d];
			py = px - pk;
			while (x > px && y > py) {
				ops[--pos] = OP_EQ;
				x--, y--;
			}
			ops[--pos] = pk == k + 1 ? OP_INS : OP_DEL;
			x = px;
			y = py;
		}
		nops = N + M + 1 - pos;
		memmove(ops, ops + pos, nops);
	}
	*ops_out = ops;
	*nops_out = nops;
	ops = NULL;
	rc = 0;
out:
	if (trace)
		for (d = 0; d <= MAX; d++)
			ferry_free(trace[d]);
	ferry_free(trace);
	ferry_free(V);
	ferry_free(ops);
	return rc;
}

static int add_line(struct ferry_buf *out, char mark, const char *p, size_t n)
{
	if (ferry_buf_addch(out, mark) || ferry_buf_add(out, p, n))
		return FERRY_ENOMEM;
	if (!n || p[n - 1] != '\n')
		if (ferry_buf_addstr(out, "\n\\ No newline at end of file\n"))
			return FERRY_ENOMEM;
	return 0;
}

static int add_range(struct ferry_buf *out, size_t start, size_t len)
{
	/* diff -u: "l,n"; ",1" left out; an empty range names the line before */
	if (len == 1)
		return ferry_buf_addf(out, "%zu", start + 1);
	return ferry_buf_addf(out, "%zu,%zu", len ? start + 1 : start, len);
}

int ferry_diff_unified(const char *label_a, const char *a, size_t alen,
		       const char *label_b, const char *b, size_t blen,
		       int context, struct ferry_buf *out)
{
	struct lines la, lb;
	unsigned char *ops = NULL;
	size_t nops = 0, i, ctx = context < 0 ? 0 : (size_t)context;
	size_t *ai = NULL, *bi = NULL;   /* line index in a/b before op i */
	int rc;

	memset(&la, 0, sizeof(la));
	memset(&lb, 0, sizeof(lb));
	if (alen == blen && !memcmp(a, b, alen))
		return 0;
	if ((rc = split(a, alen, &la)) || (rc = split(b, blen, &lb)) ||
	    (rc = myers(&la, &lb, &ops, &nops)))
		goto out;
	ai = ferry_malloc((nops + 1) * sizeof(*ai));
	bi = ferry_malloc((nops + 1) * sizeof(*bi));
	if (!ai || !bi) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	ai[0] = bi[0] = 0;
	for (i = 0; i < nops; i++) {
		ai[i + 1] = ai[i] + (ops[i] != OP_INS);
		bi[i + 1] = bi[i] + (ops[i] != OP_DEL);
	}
	if (ferry_buf_addf(out, "--- %s\n+++ %s\n", label_a, label_b)) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	i = 0;
	while (i < nops) {
		size_t first, last, hs, he, j, eqrun;

		while (i < nops && ops[i] == OP_EQ)
			i++;
		if (i >= nops)
			break;
		/* extend the hunk while changes are within 2*ctx equal lines */
		first = i;
		last = i;
		j = i;
		while (j < nops) {
			if (ops[j] != OP_EQ) {
				last = j++;
				continue;
			}
			eqrun = 0;
			while (j < nops && ops[j] == OP_EQ)
				j++, eqrun++;
			if (j >= nops || eqrun > 2 * ctx)
				break;
		}
		hs = first > ctx ? first - ctx : 0;
		he = last + 1 + ctx < nops ? last + 1 + ctx : nops;
		if (ferry_buf_addstr(out, "@@ -") ||
		    add_range(out, ai[hs], ai[he] - ai[hs]) ||
		    ferry_buf_addstr(out, " +") ||
		    add_range(out, bi[hs], bi[he] - bi[hs]) ||
		    ferry_buf_addstr(out, " @@\n")) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		for (j = hs; j < he; j++) {
			if (ops[j] == OP_INS)
				rc = add_line(out, '+', lb.p[bi[j]], lb.len[bi[j]]);
			else
				rc = add_line(out, ops[j] == OP_DEL ? '-' : ' ',
					      la.p[ai[j]], la.len[ai[j]]);
			if (rc)
				goto out;
		}
		i = he;
	}
out:
	ferry_free(ai);
	ferry_free(bi);
	ferry_free(ops);
	lines_release(&la);
	lines_release(&lb);
	return rc;
}
