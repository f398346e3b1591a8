/*
 * loadgen.c - the load generator of bench/relay: N concurrent clients POST
 * InfluxDB line protocol batches to a /write URL, as Home Assistant's and
 * Telegraf's InfluxDB outputs do, and the acknowledgement time of every
 * batch is measured.  With --mqtt, the publisher of bench/relay_mqtt: N
 * connections publish JSON readings to an MQTT broker (see "MQTT
 * publisher" below).
 *
 *   ferry-loadgen --url http://HOST:PORT/write?db=D [--shape ha|telegraf]
 *                 [--clients N] [--batch B] [--points N] [--max-seconds S]
 *                 [--interval-ms MS] [--seed S] [--label NAME]
 *   ferry-loadgen --dump FILE ...      write the same lines to FILE instead
 *   ferry-loadgen --mqtt mqtt://HOST[:PORT] [--topic devices/{client}/telemetry]
 *                 [--qos 1] [--clients 4] [--points N] [--inflight 1000]
 *                 [--rate MSGS_PER_S] [--pt] [--acked FILE] [--start-us US]
 *                 [--client-id-prefix ferry-loadgen] [--max-seconds S]
 *
 * --mqtt: --points messages in all; --inflight unacknowledged ones at most
 * per connection; --rate paces them (all connections together), --pt adds
 * the publish time to each (for publish-to-commit latency); --acked FILE
 * gets the sequence number of every acknowledged message, one a line (as
 * tests/integration/mqtt_publisher.py writes them); a connection's client
 * id is PREFIX-<n>, with a persistent session.  The latency reported is
 * from publish to PUBACK (the broker's, not the subscriber's).  Exits 1
 * when a message was not acknowledged.
 *
 * Shapes (the defaults of each in brackets):
 *   ha        [50 clients, 100 points a batch, a batch every 1000 ms]
 *             each client is one Home Assistant: its own entities (sensors
 *             in °C, %, W, kWh, binary sensors, lights), written as the
 *             influxdb integration writes them (measurement = the unit, or
 *             the entity id when there is none; tags domain and entity_id;
 *             field value plus attributes, strings as *_str) with Basic
 *             auth (influxdb-python always sends it).  A client sends a
 *             batch, waits for the answer, and sends the next one at its
 *             next tick (at once when it is late).
 *   telegraf  [4 clients, 5000 points a batch, no pause]
 *             each client is a Telegraf agent of a fleet of hosts: cpu
 *             (per core and total), mem, disk, system lines, a gather
 *             every 10 s of simulated time; batches are sent back to back,
 *             as fast as they are accepted.
 *
 * The data is deterministic: client c's batch k depends only on the seed,
 * the shape and c, k.  Every point has its own series and timestamp pair
 * (each client owns its series and its timestamps increase), so no point
 * overwrites another in InfluxDB and PostgreSQL must end with exactly the
 * fields sent as narrow rows.  --points is the total over all clients;
 * --max-seconds stops the clients early (the points not sent are not
 * counted).
 *
 * Answers: 204 is an acknowledgement.  A 5xx, a lost or refused connection
 * is retried after 200 ms (Telegraf and influxdb-python retry on those),
 * counted in "retries", until --give-up-seconds (default 120) pass for
 * that batch; a 4xx drops the batch (as the clients do), counted in
 * "failed_points".  A batch's latency runs from its first send to its
 * final answer, retries included.  Any answer other than 204 is counted
 * in "non204" and by status in "status".
 *
 * Output: one JSON object on stdout, one human line on stderr.
 *
 * HTTP: raw blocking sockets with HTTP/1.1 keep-alive, one thread per client: no
 * library between the clock and the server, and little CPU of the shared
 * cores.  A stand-alone tool, not part of libferry (plain malloc).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* 2026-01-01T00:00:00Z: fixed, so that runs are identical */
#define BASE_NS 1767225600000000000LL
#define NS_PER_S 1000000000LL

enum shape { SHAPE_HA, SHAPE_TELEGRAF };

struct cfg {
	enum shape shape;
	const char *url;
	char host[128];
	char port[16];
	char path[2048];
	int clients;
	int batch;
	long long points;
	double max_seconds;
	int interval_ms;
	uint64_t seed;
	const char *label;
	const char *dump;
	double give_up_s;
	int hosts;                  /* telegraf: hosts per client */
	int entities;               /* ha: entities per client */
};

static struct cfg C;

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("ferry-loadgen: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- text buffer ----------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 65536;
	b->p = realloc(b->p, b->cap);
	if (!b->p)
		die("out of memory");
}

__attribute__((format(printf, 2, 3)))
static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	sb_grow(b, 256);
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf failed");
		if ((size_t)n < b->cap - b->len)
			break;
		sb_grow(b, (size_t)n);
	}
	b->len += (size_t)n;
}

/* ---- deterministic data ---------------------------------------------- */

/* splitmix64: small, good enough, the same everywhere */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rndf(uint64_t *s)
{
	return (rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Home Assistant: entity kinds of one instance */
struct ha_kind {
	const char *domain, *unit, *object, *friendly, *device_class;
	double base, amp;
};

static const struct ha_kind HA_KINDS[] = {
	{"sensor", "°C", "temperature", "Temperature", "temperature", 21.0, 3.0},
	{"sensor", "%", "humidity", "Humidity", "humidity", 45.0, 10.0},
	{"sensor", "W", "power", "Power", "power", 300.0, 250.0},
	{"sensor", "kWh", "energy", "Energy", "energy", 1500.0, 5.0},
	{"sensor", "%", "battery", "Battery", "battery", 80.0, 15.0},
	{"binary_sensor", NULL, "motion", "Motion", "motion", 0, 0},
	{"light", NULL, "light", "Light", NULL, 0, 0},
	{"sensor", "lx", "illuminance", "Illuminance", "illuminance", 200.0, 190.0},
};
#define HA_NKINDS (sizeof(HA_KINDS) / sizeof(HA_KINDS[0]))

static const char *const ROOMS[] = {
	"living_room", "kitchen", "bedroom", "office", "hallway", "bathroom",
	"garage", "garden", "attic", "basement", "kids_room", "guest_room",
};
static const char *const ROOM_NAMES[] = {
	"Living Room", "Kitchen", "Bedroom", "Office", "Hallway", "Bathroom",
	"Garage", "Garden", "Attic", "Basement", "Kids Room", "Guest Room",
};
#define NROOMS (sizeof(ROOMS) / sizeof(ROOMS[0]))

/* One Home Assistant point: entity e of client c, the client's point j. */
static int ha_point(struct sbuf *b, int c, long long j, uint64_t *rs)
{
	int e = (int)(j % C.entities);
	const struct ha_kind *k = &HA_KINDS[e % HA_NKINDS];
	const char *room = ROOMS[(e / HA_NKINDS) % NROOMS];
	const char *rname = ROOM_NAMES[(e / HA_NKINDS) % NROOMS];
	int inst = e / (int)(HA_NKINDS * NROOMS);
	long long ts = BASE_NS + j * 10000000LL + c * 1000LL;   /* 10 ms apart per client */
	char obj[128];
	double v;

	/* h<client>_<room>_<object>[_<n>]: unique per client */
	if (inst)
		snprintf(obj, sizeof(obj), "h%d_%s_%s_%d", c, room, k->object, inst);
	else
		snprintf(obj, sizeof(obj), "h%d_%s_%s", c, room, k->object);

	if (!strcmp(k->domain, "binary_sensor")) {
		int on = rnd(rs) % 4 == 0;

		sb_addf(b, "binary_sensor.%s,domain=binary_sensor,entity_id=%s "
			"state=\"%s\",value=%d.0,friendly_name_str=\"%s %s\",device_class_str=\"%s\" %lld\n",
			obj, obj, on ? "on" : "off", on, rname, k->friendly, k->device_class, ts);
		return 4;
	}
	if (!strcmp(k->domain, "light")) {
		int on = rnd(rs) % 2 == 0;

		if (on) {
			sb_addf(b, "light.%s,domain=light,entity_id=%s "
				"state=\"on\",value=1.0,brightness=%di,color_mode_str=\"brightness\","
				"friendly_name_str=\"%s %s\",supported_features=40i %lld\n",
				obj, obj, (int)(rnd(rs) % 255) + 1, rname, k->friendly, ts);
			return 6;
		}
		sb_addf(b, "light.%s,domain=light,entity_id=%s "
			"state=\"off\",value=0.0,friendly_name_str=\"%s %s\",supported_features=40i %lld\n",
			obj, obj, rname, k->friendly, ts);
		return 4;
	}
	v = k->base + k->amp * sin((double)j / 500.0 + e) + (rndf(rs) - 0.5) * k->amp * 0.1;
	sb_addf(b, "%s,domain=sensor,entity_id=%s value=%.2f,friendly_name_str=\"%s %s\","
		"device_class_str=\"%s\",state_class_str=\"measurement\",unit_of_measurement_str=\"%s\" %lld\n",
		k->unit, obj, v, rname, k->friendly, k->device_class, k->unit, ts);
	return 5;
}

/* Telegraf: 9 points per host per gather (cpu0-3 + cpu-total, mem, 2 disks,
 * system); client c's point j is host (j / 9) % hosts of gather j / (9 * hosts). */
#define TG_PER_HOST 9

static int tg_point(struct sbuf *b, int c, long long j, uint64_t *rs)
{
	int kind = (int)(j % TG_PER_HOST);
	long long hj = j / TG_PER_HOST;
	int h = (int)(hj % C.hosts);
	long long gather = hj / C.hosts;
	long long ts = BASE_NS + gather * 10 * NS_PER_S;
	char host[64];

	snprintf(host, sizeof(host), "tg%d-host%03d", c, h);
	if (kind < 5) {
		double u = rndf(rs) * 60, s = rndf(rs) * 20, w = rndf(rs) * 5;
		char cpu[16];

		if (kind < 4)
			snprintf(cpu, sizeof(cpu), "cpu%d", kind);
		else
			snprintf(cpu, sizeof(cpu), "cpu-total");
		sb_addf(b, "cpu,cpu=%s,host=%s usage_guest=0,usage_guest_nice=0,"
			"usage_idle=%.12g,usage_iowait=%.12g,usage_irq=0,usage_nice=0,"
			"usage_softirq=%.12g,usage_steal=0,usage_system=%.12g,usage_user=%.12g %lld\n",
			cpu, host, 100 - u - s - w, w, rndf(rs) * 0.5, s, u, ts);
		return 10;
	}
	if (kind == 5) {
		long long total = 16LL << 30, used = (long long)(total * (0.2 + rndf(rs) * 0.6));
		long long cached = (long long)(total * rndf(rs) * 0.2);

		sb_addf(b, "mem,host=%s available=%lldi,available_percent=%.12g,buffered=%lldi,"
			"cached=%lldi,free=%lldi,total=%lldi,used=%lldi,used_percent=%.12g %lld\n",
			host, total - used, 100.0 * (total - used) / total, cached / 10, cached,
			total - used - cached, total, used, 100.0 * used / total, ts);
		return 8;
	}
	if (kind < 8) {
		const char *path = kind == 6 ? "/" : "/var";
		const char *dev = kind == 6 ? "sda1" : "sdb1";
		long long total = 500LL << 30, used = (long long)(total * (0.3 + rndf(rs) * 0.5));

		sb_addf(b, "disk,device=%s,fstype=ext4,host=%s,mode=rw,path=%s free=%lldi,"
			"inodes_free=%lldi,inodes_total=32768000i,inodes_used=%lldi,total=%lldi,"
			"used=%lldi,used_percent=%.12g %lld\n",
			dev, host, path, total - used, 32768000LL - used / 65536, used / 65536,
			total, used, 100.0 * used / total, ts);
		return 7;
	}
	sb_addf(b, "system,host=%s load1=%.2f,load15=%.2f,load5=%.2f,n_cpus=4i,n_users=%di,"
		"uptime=%lldi %lld\n",
		host, rndf(rs) * 4, rndf(rs) * 2, rndf(rs) * 3, (int)(rnd(rs) % 3),
		86400LL * 30 + gather * 10, ts);
	return 6;
}

/* Batch k of client c (its points [from, to)): appends the lines, returns
 * the number of fields (= narrow rows). */
static long long make_batch(struct sbuf *b, int c, long long from, long long to)
{
	uint64_t rs = C.seed * 0x100000001b3ULL + (uint64_t)c * 0x9e3779b97f4a7c15ULL +
		      (uint64_t)from * 0xd1342543de82ef95ULL;
	long long j, fields = 0;

	for (j = from; j < to; j++)
		fields += C.shape == SHAPE_HA ? ha_point(b, c, j, &rs) : tg_point(b, c, j, &rs);
	return fields;
}

static long long client_points(int c)
{
	long long n = C.points / C.clients;

	return n + (c < C.points % C.clients ? 1 : 0);
}

/* ---- HTTP ------------------------------------------------------------ */

struct conn {
	int fd;
	struct sbuf in;             /* bytes read past the last answer */
};

static int conn_open(struct conn *k)
{
	struct addrinfo hints = {0}, *ai = NULL, *a;
	int fd = -1, one = 1;
	/* a slow answer is waited for as long as a batch may take: a timeout
	 * and resend would write the batch twice into the narrow table */
	struct timeval tv = {(time_t)C.give_up_s + 1, 0};

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(C.host, C.port, &hints, &ai) != 0)
		return -1;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	k->fd = fd;
	k->in.len = 0;
	return 0;
}

static void conn_close(struct conn *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->in.len = 0;
}

static int send_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* read more into k->in; -1 on error or EOF */
static int fill(struct conn *k)
{
	ssize_t r;

	sb_grow(&k->in, 16384);
	do
		r = read(k->fd, k->in.p + k->in.len, k->in.cap - k->in.len - 1);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	k->in.len += (size_t)r;
	k->in.p[k->in.len] = 0;
	return 0;
}

/* drop the first n bytes read (an answer); the rest stays NUL-terminated
 * for the strstr() of the next answer */
static void consume(struct conn *k, size_t n)
{
	memmove(k->in.p, k->in.p + n, k->in.len - n);
	k->in.len -= n;
	k->in.p[k->in.len] = 0;
}

/* find a header's value in the head (lower-case name with ':') */
static const char *header(const char *head, size_t hlen, const char *name)
{
	size_t nl = strlen(name);
	const char *p = head, *end = head + hlen;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl)) {
			p += nl;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = eol + 1;
	}
	return NULL;
}

/* One POST; returns the HTTP status, or -1 when the connection failed
 * (*fresh says whether it was a new connection: a failure on a reused
 * keep-alive connection that the server closed meanwhile is retried at
 * once by the caller). */
static int post(struct conn *k, const char *auth, const char *body, size_t n, int *fresh)
{
	char head[4096];
	struct iovec iov[2];
	int hl, status, close_after = 0;
	size_t hend, blen = 0;
	const char *h, *eoh;

	*fresh = 0;
	if (k->fd < 0) {
		if (conn_open(k) < 0)
			return -1;
		*fresh = 1;
	}
	hl = snprintf(head, sizeof(head),
		      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: ferry-loadgen\r\n"
		      "Content-Type: text/plain; charset=utf-8\r\n%s"
		      "Content-Length: %zu\r\n\r\n",
		      C.path, C.host, C.port, auth, n);
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)hl;
	iov[1].iov_base = (void *)body;
	iov[1].iov_len = n;
	if (send_all(k->fd, iov, 2) < 0)
		goto fail;
	for (;;) {
		if (k->in.len && (eoh = strstr(k->in.p, "\r\n\r\n")))
			break;
		if (fill(k) < 0)
			goto fail;
	}
	hend = (size_t)(eoh - k->in.p) + 4;
	if (sscanf(k->in.p, "HTTP/%*d.%*d %d", &status) != 1)
		goto fail;
	if (!strncmp(k->in.p, "HTTP/1.0", 8))
		close_after = 1;
	if ((h = header(k->in.p, hend, "connection:"))) {
		if (!strncasecmp(h, "close", 5))
			close_after = 1;
		else if (!strncasecmp(h, "keep-alive", 10))
			close_after = 0;
	}
	if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
		consume(k, hend);
	} else if ((h = header(k->in.p, hend, "content-length:"))) {
		blen = strtoull(h, NULL, 10);
		while (k->in.len < hend + blen)
			if (fill(k) < 0)
				goto fail;
		consume(k, hend + blen);
	} else if ((h = header(k->in.p, hend, "transfer-encoding:")) &&
		   !strncasecmp(h, "chunked", 7)) {
		/* chunks until the 0-size one and its trailer */
		size_t pos = hend;

		for (;;) {
			char *eol, *end;
			size_t sz;

			while (!(eol = strstr(k->in.p + pos, "\r\n")))
				if (fill(k) < 0)
					goto fail;
			sz = strtoull(k->in.p + pos, &end, 16);
			pos = (size_t)(eol - k->in.p) + 2;
			if (sz == 0) {
				while (!strstr(k->in.p + pos - 2, "\r\n\r\n"))
					if (fill(k) < 0)
						goto fail;
				pos = (size_t)(strstr(k->in.p + pos - 2, "\r\n\r\n") - k->in.p) + 4;
				break;
			}
			while (k->in.len < pos + sz + 2)
				if (fill(k) < 0)
					goto fail;
			pos += sz + 2;
		}
		consume(k, pos);
	} else {
		/* no length: the body ends with the connection */
		while (fill(k) == 0)
			;
		close_after = 1;
	}
	if (close_after)
		conn_close(k);
	return status;
fail:
	conn_close(k);
	return -1;
}

/* ---- clients --------------------------------------------------------- */

struct client {
	pthread_t th;
	int id;
	double *lat;                /* ms, one per acked batch */
	size_t nlat, caplat;
	long long points, fields, requests, non204, retries, failed_points, conn_errors;
	long long status[6];        /* 2xx other than 204, 3xx, 4xx, 5xx by class */
	long long s503, s500;
	char first_error[512];
};

static struct client *CL;
static double T0, DEADLINE;

static void sleep_until(double t)
{
	double d = t - now_s();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void add_lat(struct client *cl, double ms)
{
	if (cl->nlat == cl->caplat) {
		cl->caplat = cl->caplat ? cl->caplat * 2 : 1024;
		cl->lat = realloc(cl->lat, cl->caplat * sizeof(double));
		if (!cl->lat)
			die("out of memory");
	}
	cl->lat[cl->nlat++] = ms;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct conn k = {.fd = -1};
	struct sbuf b = {0};
	long long total = client_points(cl->id), from = 0;
	const char *auth = C.shape == SHAPE_HA ? "Authorization: Basic cm9vdDpyb290\r\n" : "";
	double next;

	/* ha: the clients' ticks are spread over the interval */
	next = T0 + (C.interval_ms > 0 ? (double)C.interval_ms / 1000.0 * cl->id / C.clients : 0);
	while (from < total) {
		long long to = from + C.batch < total ? from + C.batch : total;
		long long fields;
		double t_first, give_up;
		int acked = 0;

		if (C.interval_ms > 0) {
			sleep_until(next);
			next += C.interval_ms / 1000.0;
		}
		if (DEADLINE > 0 && now_s() >= DEADLINE)
			break;
		b.len = 0;
		fields = make_batch(&b, cl->id, from, to);
		t_first = now_s();
		give_up = t_first + C.give_up_s;
		for (;;) {
			int fresh, st = post(&k, auth, b.p, b.len, &fresh);

			if (st < 0 && !fresh)   /* a kept-alive connection the server closed */
				st = post(&k, auth, b.p, b.len, &fresh);
			cl->requests++;
			if (st == 204) {
				acked = 1;
				break;
			}
			if (st < 0) {
				int e = errno;

				cl->conn_errors++;
				if (!cl->first_error[0])
					snprintf(cl->first_error, sizeof(cl->first_error),
						 "connection to %s:%s failed: %s", C.host, C.port,
						 strerror(e));
			} else {
				cl->non204++;
				cl->status[st / 100 < 6 ? st / 100 : 5]++;
				if (st == 503)
					cl->s503++;
				if (st == 500)
					cl->s500++;
				if (!cl->first_error[0])
					snprintf(cl->first_error, sizeof(cl->first_error), "HTTP %d", st);
				if (st < 500)
					break;  /* 4xx (or another non-retryable answer): dropped */
			}
			if (now_s() >= give_up)
				break;
			cl->retries++;
			usleep(200000);
		}
		if (acked) {
			cl->points += to - from;
			cl->fields += fields;
			add_lat(cl, (now_s() - t_first) * 1000.0);
		} else {
			cl->failed_points += to - from;
		}
		from = to;
	}
	conn_close(&k);
	free(k.in.p);
	free(b.p);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v */
static double pct(const double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(p / 100.0 * n);
	if (i < 1)
		i = 1;
	return v[i - 1];
}

/* ---- MQTT publisher -------------------------------------------------- */

/*
 * --mqtt: N connections publish JSON readings, as sensor firmware does,
 * {"seq":i,"temperature":t,"ts":<us>[,"pt":<us>]} (the shape of
 * tests/integration/mqtt_publisher.py).  Message i goes out on connection
 * i % N, its topic the --topic template with {client} replaced by that
 * connection's number; ts = --start-us + i, so every reading has its own
 * time and none overwrites another in InfluxDB.
 *
 * MQTT 3.1.1 spoken over the raw socket, as the HTTP side does, one
 * thread per connection: every PUBLISH the window (--inflight) has room
 * for goes out in one write, and one read takes every PUBACK that came.
 * libmosquitto makes two writes per PUBLISH and three reads per PUBACK:
 * at 70,000 messages/s that was 0.7 of a core, taken from the relay on a
 * small machine.  Packet ids count 1..65535 and wrap, so with a window
 * below that an id names one message at a time: a table indexed by id
 * maps a PUBACK to its sequence number and publish time.  A lost
 * connection is opened again with the same client id (clean session
 * off) and the unacknowledged messages are sent again, marked DUP.
 */
#define MQ_MIDS 65536

struct mq_client {
	pthread_t th;
	int id;
	struct conn k;
	char topic[512];
	long long total, sent, acked, reconnects;
	int lowat;                  /* SO_RCVLOWAT set, in bytes */
	unsigned next_mid;          /* the last id handed out */
	long long *acked_seq;       /* sequence numbers, in PUBACK order */
	long long seq_of_mid[MQ_MIDS];  /* -1: no message in flight */
	double t_of_mid[MQ_MIDS];
	double *lat;                /* ms from publish to PUBACK */
	struct sbuf out;
	char first_error[256];
};

static struct {
	const char *topic, *acked, *id_prefix;
	int qos, inflight, pt;
	double rate;
	long long start_us;
} M;

static void mq_error(struct mq_client *q, const char *fmt, ...)
{
	va_list ap;

	if (q->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(q->first_error, sizeof(q->first_error), fmt, ap);
	va_end(ap);
}

/* a fixed header: the type and flags byte, then the remaining length */
static void mq_head(struct sbuf *b, int type, size_t len)
{
	sb_grow(b, 5 + len);
	b->p[b->len++] = (char)type;
	do {
		b->p[b->len] = (char)(len & 0x7f);
		len >>= 7;
		if (len)
			b->p[b->len] |= (char)0x80;
		b->len++;
	} while (len);
}

static void mq_u16(struct sbuf *b, unsigned v)
{
	b->p[b->len++] = (char)(v >> 8);
	b->p[b->len++] = (char)(v & 0xff);
}

static void mq_str(struct sbuf *b, const char *s, size_t n)
{
	mq_u16(b, (unsigned)n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Appends the PUBLISH of sequence number seq with packet id mid. */
static void mq_publish(struct mq_client *q, long long seq, unsigned mid, int dup)
{
	char payload[160];
	size_t tl = strlen(q->topic);
	int n;

	n = snprintf(payload, sizeof(payload), "{\"seq\":%lld,\"temperature\":%.2f,\"ts\":%lld",
		     seq, 20 + (double)(seq % 100) / 10, M.start_us + seq);
	if (M.pt) {
		struct timespec rt;

		clock_gettime(CLOCK_REALTIME, &rt);
		n += snprintf(payload + n, sizeof(payload) - (size_t)n, ",\"pt\":%lld}",
			      (long long)rt.tv_sec * 1000000 + rt.tv_nsec / 1000);
	} else {
		payload[n++] = '}';
	}
	mq_head(&q->out, 0x30 | (dup ? 0x08 : 0) | M.qos << 1,
		2 + tl + (M.qos ? 2 : 0) + (size_t)n);
	mq_str(&q->out, q->topic, tl);
	if (M.qos)
		mq_u16(&q->out, mid);
	memcpy(q->out.p + q->out.len, payload, (size_t)n);
	q->out.len += (size_t)n;
}

static void mq_acked(struct mq_client *q, unsigned mid)
{
	if (q->seq_of_mid[mid] < 0)
		return;         /* a second PUBACK for a message sent again */
	q->acked_seq[q->acked] = q->seq_of_mid[mid];
	q->lat[q->acked++] = (now_s() - q->t_of_mid[mid]) * 1000.0;
	q->seq_of_mid[mid] = -1;
}

static int mq_write(struct mq_client *q)
{
	struct iovec iov = {q->out.p, q->out.len};
	int rc = send_all(q->k.fd, &iov, 1);

	q->out.len = 0;
	return rc;
}

/* Connects with CONNECT/CONNACK and sends the unacknowledged messages
 * again (after a lost connection); 0 when connected. */
static int mq_connect(struct mq_client *q)
{
	char id[160];
	size_t il;
	unsigned mid;

	if (conn_open(&q->k) < 0) {
		mq_error(q, "cannot connect to the broker %s:%s: %s", C.host, C.port, strerror(errno));
		return -1;
	}
	il = (size_t)snprintf(id, sizeof(id), "%s-%d", M.id_prefix, q->id);
	q->out.len = 0;
	mq_head(&q->out, 0x10, 10 + 2 + il);
	mq_str(&q->out, "MQTT", 4);
	q->out.p[q->out.len++] = 4;         /* 3.1.1 */
	q->out.p[q->out.len++] = 0;         /* clean session off, no will, no login */
	mq_u16(&q->out, 0);                 /* no keep-alive */
	mq_str(&q->out, id, il);
	if (mq_write(q) < 0)
		goto lost;
	while (q->k.in.len < 4)
		if (fill(&q->k) < 0)
			goto lost;
	if ((unsigned char)q->k.in.p[0] != 0x20 || q->k.in.p[3]) {
		mq_error(q, "the broker %s:%s did not accept client '%s' (answer %02x, code %d)",
			 C.host, C.port, id, (unsigned char)q->k.in.p[0], (unsigned char)q->k.in.p[3]);
		conn_close(&q->k);
		return -1;
	}
	consume(&q->k, 4);
	q->lowat = 1;
	for (mid = 1; mid < MQ_MIDS; mid++)
		if (q->seq_of_mid[mid] >= 0)
			mq_publish(q, q->seq_of_mid[mid], mid, 1);
	if (q->out.len && mq_write(q) < 0)
		goto lost;
	return 0;
lost:
	mq_error(q, "connection to the broker %s:%s lost: %s", C.host, C.port, strerror(errno));
	conn_close(&q->k);
	return -1;
}

/* Takes the PUBACKs read (and skips any other packet); -1 on a stream
 * that is not MQTT. */
static int mq_parse(struct mq_client *q)
{
	const unsigned char *p = (const unsigned char *)q->k.in.p;
	size_t at = 0, n = q->k.in.len;

	while (n - at >= 2) {
		size_t len = 0, h = 1;
		int shift = 0;

		do {
			if (at + h >= n)
				goto partial;
			len |= (size_t)(p[at + h] & 0x7f) << shift;
			shift += 7;
		} while (p[at + h++] & 0x80 && h < 5);
		if (at + h + len > n)
			break;
		if (p[at] == 0x40 && len == 2)
			mq_acked(q, (unsigned)p[at + h] << 8 | p[at + h + 1]);
		else if (p[at] >> 4 != 13) {    /* anything but a PINGRESP */
			mq_error(q, "unexpected MQTT packet type %d from the broker", p[at] >> 4);
			return -1;
		}
		at += h + len;
	}
partial:
	consume(&q->k, at);
	return 0;
}

/* Wakes the thread only when a quarter of a full window's PUBACKs (4
 * bytes each) is there, not for every few the broker writes: a wake-up
 * costs more than the read (most of the publisher's CPU without it).
 * Paced, or with few messages left to wait for, any PUBACK wakes it. */
static void set_lowat(struct mq_client *q, int paced)
{
	int want = !paced && q->sent - q->acked >= M.inflight / 2 ? M.inflight : 1;

	if (want != q->lowat &&
	    setsockopt(q->k.fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0)
		q->lowat = want;
}

static void *mq_client_main(void *arg)
{
	struct mq_client *q = arg;
	/* paced: this connection's share of --rate */
	double gap = M.rate > 0 ? C.clients / M.rate : 0, t0 = now_s(), progress = t0;
	long long seen = 0;

	q->k.fd = -1;
	if (mq_connect(q) < 0)
		return NULL;
	for (;;) {
		double t = now_s(), wait = 0.1;
		struct pollfd pf = {q->k.fd, POLLIN, 0};

		/* every message that is due and fits in the window, one write */
		while (q->sent < q->total && q->sent - q->acked < M.inflight) {
			double due = t0 + q->sent * gap;

			if (DEADLINE > 0 && t >= DEADLINE) {
				q->total = q->sent;     /* only the sent are waited for */
				break;
			}
			if (t < due) {
				wait = due - t < wait ? due - t : wait;
				break;
			}
			q->next_mid = q->next_mid % (MQ_MIDS - 1) + 1;
			mq_publish(q, q->id + q->sent * C.clients, q->next_mid, 0);
			q->seq_of_mid[q->next_mid] = q->id + q->sent * C.clients;
			q->t_of_mid[q->next_mid] = t;
			q->sent++;
			if (!M.qos)     /* no PUBACK: counted when written */
				mq_acked(q, q->next_mid);
		}
		if (q->out.len && mq_write(q) < 0)
			goto lost;
		if (q->acked == q->total)
			break;
		set_lowat(q, gap > 0);
		if (poll(&pf, 1, (int)(wait * 1000) + 1) > 0) {
			if (fill(&q->k) < 0)
				goto lost;
			if (mq_parse(q) < 0)
				break;
		}
		if (q->acked != seen) {
			seen = q->acked;
			progress = now_s();
		} else if (now_s() - progress > C.give_up_s) {
			mq_error(q, "no PUBACK from the broker in %.0f s", C.give_up_s);
			break;
		}
		continue;
lost:
		mq_error(q, "connection to the broker %s:%s lost: %s", C.host, C.port, strerror(errno));
		conn_close(&q->k);
		q->out.len = 0;
		do {
			if (now_s() - progress > C.give_up_s)
				goto out;
			q->reconnects++;
			usleep(200000);
		} while (mq_connect(q) < 0);
	}
out:
	conn_close(&q->k);
	return NULL;
}

static int mqtt_run(const char *url)
{
	struct mq_client *cl;
	long long planned = 0, expected = 0, sent = 0, acked = 0, reconnects = 0;
	double secs, cpu, *all;
	size_t nall = 0;
	const char *first_error = "";
	FILE *f = NULL;
	struct rusage ru;
	int i;

	cl = calloc((size_t)C.clients, sizeof(*cl));
	if (!cl)
		die("out of memory");
	for (i = 0; i < C.clients; i++) {
		struct mq_client *q = &cl[i];
		const char *p = strstr(M.topic, "{client}");

		q->id = i;
		q->total = client_points(i);
		planned += q->total;
		q->acked_seq = malloc((size_t)(q->total ? q->total : 1) * sizeof(long long));
		q->lat = malloc((size_t)(q->total ? q->total : 1) * sizeof(double));
		if (!q->acked_seq || !q->lat)
			die("out of memory");
		memset(q->seq_of_mid, 0xff, sizeof(q->seq_of_mid));
		if (p)
			snprintf(q->topic, sizeof(q->topic), "%.*s%d%s", (int)(p - M.topic), M.topic,
				 i, p + 8);
		else
			snprintf(q->topic, sizeof(q->topic), "%s", M.topic);
	}
	T0 = now_s();
	DEADLINE = C.max_seconds > 0 ? T0 + C.max_seconds : 0;
	for (i = 0; i < C.clients; i++)
		if (pthread_create(&cl[i].th, NULL, mq_client_main, &cl[i]))
			die("cannot start client thread %d", i);
	for (i = 0; i < C.clients; i++) {
		pthread_join(cl[i].th, NULL);
		sent += cl[i].sent;
		expected += cl[i].total;
		acked += cl[i].acked;
		reconnects += cl[i].reconnects;
		if (!first_error[0])
			first_error = cl[i].first_error;
	}
	secs = now_s() - T0;
	getrusage(RUSAGE_SELF, &ru);
	cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	      (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	if (M.acked && !(f = fopen(M.acked, "w")))
		die("cannot write '%s': %s", M.acked, strerror(errno));
	all = malloc((size_t)(acked ? acked : 1) * sizeof(double));
	if (!all)
		die("out of memory");
	for (i = 0; i < C.clients; i++) {
		long long j;

		for (j = 0; f && j < cl[i].acked; j++)
			fprintf(f, "%lld\n", cl[i].acked_seq[j]);
		memcpy(all + nall, cl[i].lat, (size_t)cl[i].acked * sizeof(double));
		nall += (size_t)cl[i].acked;
	}
	if (f && fclose(f))
		die("cannot write '%s': %s", M.acked, strerror(errno));
	qsort(all, nall, sizeof(double), cmp_double);
	printf("{\"label\":\"%s\",\"mqtt\":\"%s\",\"clients\":%d,\"qos\":%d,\"inflight\":%d,"
	       "\"rate\":%.0f,\"messages_planned\":%lld,\"messages\":%lld,\"acked\":%lld,"
	       "\"seconds\":%.3f,\"messages_per_s\":%.0f,\"p50_ms\":%.2f,\"p95_ms\":%.2f,"
	       "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"cpu_s\":%.2f,\"reconnects\":%lld,"
	       "\"first_error\":\"%s\"}\n",
	       C.label, url, C.clients, M.qos, M.inflight, M.rate, planned, sent, acked, secs,
	       acked / secs, pct(all, nall, 50), pct(all, nall, 95), pct(all, nall, 99),
	       nall ? all[nall - 1] : 0.0, cpu, reconnects, first_error);
	fprintf(stderr, "ferry-loadgen: %s: %lld of %lld messages acknowledged in %.2f s = %.0f/s "
		"(QoS %d, %d connections); publish to PUBACK p50 %.1f ms, p95 %.1f ms%s%s\n",
		C.label[0] ? C.label : url, acked, planned, secs, acked / secs, M.qos, C.clients,
		pct(all, nall, 50), pct(all, nall, 95), first_error[0] ? "; " : "", first_error);
	for (i = 0; i < C.clients; i++) {
		free(cl[i].acked_seq);
		free(cl[i].lat);
		free(cl[i].out.p);
		free(cl[i].k.in.p);
	}
	free(all);
	free(cl);
	return acked == expected ? 0 : 1;
}

static void parse_url(const char *url)
{
	const char *p, *slash, *colon;
	size_t hl;

	if (strncmp(url, "http://", 7))
		die("--url must start with http:// (got '%s')", url);
	p = url + 7;
	slash = strchr(p, '/');
	if (!slash)
		die("--url needs a path, e.g. http://127.0.0.1:8086/write?db=bench");
	colon = memchr(p, ':', (size_t)(slash - p));
	hl = (size_t)((colon ? colon : slash) - p);
	if (hl == 0 || hl >= sizeof(C.host))
		die("bad host in --url '%s'", url);
	memcpy(C.host, p, hl);
	C.host[hl] = 0;
	if (colon) {
		size_t pl = (size_t)(slash - colon - 1);

		if (pl == 0 || pl >= sizeof(C.port))
			die("bad port in --url '%s'", url);
		memcpy(C.port, colon + 1, pl);
		C.port[pl] = 0;
	} else {
		strcpy(C.port, "80");
	}
	if (strlen(slash) >= sizeof(C.path))
		die("--url path too long");
	strcpy(C.path, slash);
}

/* mqtt://HOST[:PORT] */
static void parse_mqtt_url(const char *url)
{
	const char *p = url + 7, *colon;
	size_t hl;

	if (strncmp(url, "mqtt://", 7) || strchr(p, '@') || strchr(p, '/'))
		die("--mqtt must be mqtt://HOST[:PORT] (got '%s')", url);
	colon = strchr(p, ':');
	hl = colon ? (size_t)(colon - p) : strlen(p);
	if (hl == 0 || hl >= sizeof(C.host))
		die("bad host in --mqtt '%s'", url);
	memcpy(C.host, p, hl);
	C.host[hl] = 0;
	snprintf(C.port, sizeof(C.port), "%s", colon ? colon + 1 : "1883");
	if (atoi(C.port) < 1 || atoi(C.port) > 65535)
		die("bad port in --mqtt '%s'", url);
}

static void usage(void)
{
	fputs("usage: ferry-loadgen --url http://HOST:PORT/write?db=D [--shape ha|telegraf]\n"
	      "         [--clients N] [--batch B] [--points N] [--max-seconds S]\n"
	      "         [--interval-ms MS] [--seed S] [--label NAME] [--give-up-seconds S]\n"
	      "       ferry-loadgen --dump FILE [--shape ...] [--clients N] [--batch B] [--points N]\n"
	      "       ferry-loadgen --mqtt mqtt://HOST[:PORT] [--topic T] [--qos 0|1] [--clients N]\n"
	      "         [--points N] [--inflight W] [--rate MSGS_PER_S] [--pt] [--acked FILE]\n"
	      "         [--start-us US] [--client-id-prefix P] [--max-seconds S] [--label NAME]\n",
	      stderr);
	exit(2);
}

static long long num(const char *s, const char *opt)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		die("%s needs a number, got '%s'", opt, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"url", 1, 0, 'u'}, {"shape", 1, 0, 's'}, {"clients", 1, 0, 'c'},
		{"batch", 1, 0, 'b'}, {"points", 1, 0, 'n'}, {"max-seconds", 1, 0, 't'},
		{"interval-ms", 1, 0, 'i'}, {"seed", 1, 0, 'S'}, {"label", 1, 0, 'l'},
		{"dump", 1, 0, 'd'}, {"give-up-seconds", 1, 0, 'g'}, {"help", 0, 0, 'h'},
		{"mqtt", 1, 0, 'm'}, {"topic", 1, 0, 'T'}, {"qos", 1, 0, 'q'},
		{"inflight", 1, 0, 'w'}, {"rate", 1, 0, 'r'}, {"pt", 0, 0, 'p'},
		{"acked", 1, 0, 'a'}, {"start-us", 1, 0, 'U'}, {"client-id-prefix", 1, 0, 'I'},
		{0, 0, 0, 0}};
	int o, i, clients = -1, batch = -1, interval = -1;
	struct client tot = {0};
	double *all, secs;
	size_t nall = 0;
	char status[256] = "";
	const char *mqtt = NULL;

	C.points = 100000;
	C.seed = 1;
	C.label = "";
	C.give_up_s = 120;
	C.hosts = 50;
	C.entities = 40;
	M.topic = "devices/{client}/telemetry";
	M.qos = 1;
	M.inflight = 1000;
	M.start_us = 1700000000000000LL;
	M.id_prefix = "ferry-loadgen";
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'u': C.url = optarg; break;
		case 's':
			if (!strcmp(optarg, "ha"))
				C.shape = SHAPE_HA;
			else if (!strcmp(optarg, "telegraf"))
				C.shape = SHAPE_TELEGRAF;
			else
				die("--shape must be ha or telegraf, got '%s'", optarg);
			break;
		case 'c': clients = (int)num(optarg, "--clients"); break;
		case 'b': batch = (int)num(optarg, "--batch"); break;
		case 'n': C.points = num(optarg, "--points"); break;
		case 't': C.max_seconds = atof(optarg); break;
		case 'i': interval = (int)num(optarg, "--interval-ms"); break;
		case 'S': C.seed = (uint64_t)num(optarg, "--seed"); break;
		case 'l': C.label = optarg; break;
		case 'd': C.dump = optarg; break;
		case 'g': C.give_up_s = atof(optarg); break;
		case 'm': mqtt = optarg; break;
		case 'T': M.topic = optarg; break;
		case 'q': M.qos = (int)num(optarg, "--qos"); break;
		case 'w': M.inflight = (int)num(optarg, "--inflight"); break;
		case 'r': M.rate = atof(optarg); break;
		case 'p': M.pt = 1; break;
		case 'a': M.acked = optarg; break;
		case 'U': M.start_us = num(optarg, "--start-us"); break;
		case 'I': M.id_prefix = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || (!C.url && !C.dump && !mqtt))
		usage();
	if (mqtt) {
		C.clients = clients >= 0 ? clients : 4;
		if (C.clients < 1 || C.clients > 10000)
			die("--clients must be 1-10000");
		if (M.qos > 1 || M.inflight < 1 || M.inflight >= MQ_MIDS)
			die("--qos must be 0 or 1 and --inflight 1-%d", MQ_MIDS - 1);
		parse_mqtt_url(mqtt);
		return mqtt_run(mqtt);
	}
	C.clients = clients >= 0 ? clients : C.shape == SHAPE_HA ? 50 : 4;
	C.batch = batch >= 0 ? batch : C.shape == SHAPE_HA ? 100 : 5000;
	C.interval_ms = interval >= 0 ? interval : C.shape == SHAPE_HA ? 1000 : 0;
	if (C.clients < 1 || C.clients > 10000 || C.batch < 1)
		die("--clients must be 1-10000 and --batch at least 1");

	if (C.dump) {
		/* the same lines, client after client, batch after batch */
		FILE *f = strcmp(C.dump, "-") ? fopen(C.dump, "w") : stdout;
		struct sbuf b = {0};
		long long fields = 0, from;

		if (!f)
			die("cannot write '%s': %s", C.dump, strerror(errno));
		for (i = 0; i < C.clients; i++) {
			long long total = client_points(i);

			for (from = 0; from < total; from += C.batch) {
				b.len = 0;
				fields += make_batch(&b, i, from, from + C.batch < total ? from + C.batch : total);
				if (fwrite(b.p, 1, b.len, f) != b.len)
					die("cannot write '%s': %s", C.dump, strerror(errno));
			}
		}
		if ((f != stdout && fclose(f)) || (f == stdout && fflush(f)))
			die("cannot write '%s': %s", C.dump, strerror(errno));
		printf("%s{\"shape\":\"%s\",\"points\":%lld,\"rows\":%lld}\n", f == stdout ? "# " : "",
		       C.shape == SHAPE_HA ? "ha" : "telegraf", C.points, fields);
		free(b.p);
		return 0;
	}

	parse_url(C.url);
	CL = calloc((size_t)C.clients, sizeof(*CL));
	if (!CL)
		die("out of memory");
	T0 = now_s();
	DEADLINE = C.max_seconds > 0 ? T0 + C.max_seconds : 0;
	for (i = 0; i < C.clients; i++) {
		CL[i].id = i;
		if (pthread_create(&CL[i].th, NULL, client_main, &CL[i]))
			die("cannot start client thread %d", i);
	}
	for (i = 0; i < C.clients; i++) {
		pthread_join(CL[i].th, NULL);
		tot.points += CL[i].points;
		tot.fields += CL[i].fields;
		tot.requests += CL[i].requests;
		tot.non204 += CL[i].non204;
		tot.retries += CL[i].retries;
		tot.failed_points += CL[i].failed_points;
		tot.conn_errors += CL[i].conn_errors;
		tot.s503 += CL[i].s503;
		tot.s500 += CL[i].s500;
		for (o = 0; o < 6; o++)
			tot.status[o] += CL[i].status[o];
		nall += CL[i].nlat;
		if (!tot.first_error[0] && CL[i].first_error[0])
			memcpy(tot.first_error, CL[i].first_error, sizeof(tot.first_error));
	}
	secs = now_s() - T0;
	all = malloc((nall ? nall : 1) * sizeof(double));
	if (!all)
		die("out of memory");
	nall = 0;
	for (i = 0; i < C.clients; i++) {
		if (CL[i].nlat)
			memcpy(all + nall, CL[i].lat, CL[i].nlat * sizeof(double));
		nall += CL[i].nlat;
		free(CL[i].lat);
	}
	qsort(all, nall, sizeof(double), cmp_double);
	snprintf(status, sizeof(status),
		 "{\"2xx\":%lld,\"3xx\":%lld,\"4xx\":%lld,\"500\":%lld,\"503\":%lld,\"5xx\":%lld}",
		 tot.status[2], tot.status[3], tot.status[4], tot.s500, tot.s503, tot.status[5]);
	printf("{\"label\":\"%s\",\"shape\":\"%s\",\"clients\":%d,\"batch\":%d,\"interval_ms\":%d,"
	       "\"points_planned\":%lld,\"points\":%lld,\"rows\":%lld,\"batches\":%zu,"
	       "\"requests\":%lld,\"seconds\":%.3f,\"points_per_s\":%.0f,\"rows_per_s\":%.0f,"
	       "\"p50_ms\":%.2f,\"p95_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,"
	       "\"non204\":%lld,\"status\":%s,\"retries\":%lld,\"conn_errors\":%lld,"
	       "\"failed_points\":%lld,\"first_error\":\"%s\"}\n",
	       C.label, C.shape == SHAPE_HA ? "ha" : "telegraf", C.clients, C.batch, C.interval_ms,
	       C.points, tot.points, tot.fields, nall, tot.requests, secs,
	       tot.points / secs, tot.fields / secs, pct(all, nall, 50), pct(all, nall, 95),
	       pct(all, nall, 99), nall ? all[nall - 1] : 0.0, tot.non204, status, tot.retries,
	       tot.conn_errors, tot.failed_points, tot.first_error);
	fprintf(stderr,
		"ferry-loadgen: %s %s: %lld points (%lld rows) acked in %.2f s = %.0f points/s; "
		"ack latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; %lld non-204, %lld retries, "
		"%lld points failed\n",
		C.label[0] ? C.label : C.url, C.shape == SHAPE_HA ? "ha" : "telegraf", tot.points,
		tot.fields, secs, tot.points / secs, pct(all, nall, 50), pct(all, nall, 95),
		pct(all, nall, 99), tot.non204, tot.retries, tot.failed_points);
	free(all);
	free(CL);
	return tot.failed_points ? 1 : 0;
}
