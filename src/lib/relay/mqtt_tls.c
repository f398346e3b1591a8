/*
 * mqtt_tls.c - the byte stream under the relay's MQTT client: a plain
 * socket (mqtt://) or TLS over it (mqtts://, OpenSSL), both non-blocking.
 *
 * Why OpenSSL here: brokers in the field require TLS, and libmosquitto's
 * TLS cannot be had without its client, which acknowledges a message
 * before the relay has written it (mqtt.c says why).  libpq and libcurl
 * bring OpenSSL already; this is the relay's own use of it.
 *
 * The client (mqtt.c) polls the socket itself: a read or write that cannot
 * go on now returns 0 and says in conn->want which readiness to wait for.
 * TLS may need to write to read (a key update) and read to write, so that
 * is POLLIN or POLLOUT either way.  TLS also reads whole records: bytes of
 * a record may sit decrypted in OpenSSL while the socket is empty (the
 * client read less than the record), so
 * relay_mqtt_conn_pending() tells the client not to poll then.
 *
 * Verification: the broker's chain against --mqtt-cafile (default: the
 * system store) and its name or address against the URL's host
 * (SSL_set1_host, or the IP address SAN for an address).  --mqtt-insecure
 * turns both off; mqtt.c warns about it loudly at start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "relay/mqtt_int.h"

struct relay_mqtt_tls {
	SSL_CTX *ctx;
	char *host;
	int is_ip;
	int insecure;
};

/* OpenSSL's reason for the last failure ("no such file", "wrong version
 * number"), or fallback when its queue is empty. */
static const char *ossl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : fallback;
}

static int ctx_fail(struct relay_mqtt_tls *t, struct ferry_error *err, const char *opt,
		    const char *file, const char *what)
{
	int rc = ferry_error_set(err, FERRY_EUSAGE, "%s '%s': %s: %s", opt, file, what,
				 ossl_reason("unknown reason"));

	relay_mqtt_tls_free(t);
	return rc;
}

/* A file an option names must be readable: checked first, so that the
 * message says why in the system's words, not OpenSSL's. */
static int unreadable(struct relay_mqtt_tls *t, struct ferry_error *err, const char *opt,
		      const char *file)
{
	int rc;

	if (access(file, R_OK) == 0)
		return 0;
	rc = ferry_error_set(err, FERRY_EUSAGE, "%s '%s': cannot read it: %s", opt, file,
			     strerror(errno));
	relay_mqtt_tls_free(t);
	return rc;
}

int relay_mqtt_tls_new(const struct relay_mqtt_tls_opts *o, const char *host,
		       struct relay_mqtt_tls **out, struct ferry_error *err)
{
	struct relay_mqtt_tls *t = ferry_calloc(1, sizeof(*t));
	unsigned char addr[16];
	struct stat st;

	if (!t || !(t->host = ferry_strdup(host))) {
		ferry_free(t);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	t->is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	t->insecure = o->insecure;
	ERR_clear_error();
	if (!(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		relay_mqtt_tls_free(t);
		return ferry_error_set(err, FERRY_ENOMEM, "cannot make a TLS context: %s",
				       ossl_reason("out of memory"));
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	/* q->out is not moved between the retries of one write, but a write
	 * may go out in parts: the client loops over what was written */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(t->ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (o->cafile) {
		int dir = stat(o->cafile, &st) == 0 && S_ISDIR(st.st_mode);

		if (unreadable(t, err, "--mqtt-cafile", o->cafile))
			return FERRY_EUSAGE;
		if (SSL_CTX_load_verify_locations(t->ctx, dir ? NULL : o->cafile,
						  dir ? o->cafile : NULL) != 1)
			return ctx_fail(t, err, "--mqtt-cafile", o->cafile,
					"no CA certificate (PEM) in it");
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		relay_mqtt_tls_free(t);
		return ferry_error_set(err, FERRY_EUSAGE, "--mqtt: cannot load the system's CA "
				       "certificates (%s): give the broker's CA with --mqtt-cafile",
				       ossl_reason("unknown reason"));
	}
	if (!o->cert != !o->key) {
		relay_mqtt_tls_free(t);
		return ferry_error_set(err, FERRY_EUSAGE, "--mqtt-cert and --mqtt-key go together "
				       "(a client certificate and its private key, PEM)");
	}
	if (o->cert) {
		if (unreadable(t, err, "--mqtt-cert", o->cert))
			return FERRY_EUSAGE;
		if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1)
			return ctx_fail(t, err, "--mqtt-cert", o->cert, "no certificate (PEM) in it");
		if (unreadable(t, err, "--mqtt-key", o->key))
			return FERRY_EUSAGE;
		if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key, SSL_FILETYPE_PEM) != 1)
			return ctx_fail(t, err, "--mqtt-key", o->key,
					ERR_GET_REASON(ERR_peek_last_error()) ==
					X509_R_KEY_VALUES_MISMATCH ?
					"not the key of the --mqtt-cert certificate" :
					"no private key (PEM) in it");
		if (SSL_CTX_check_private_key(t->ctx) != 1)
			return ctx_fail(t, err, "--mqtt-key", o->key,
					"not the key of the --mqtt-cert certificate");
	}
	*out = t;
	return 0;
}

void relay_mqtt_tls_free(struct relay_mqtt_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	ferry_free(t->host);
	ferry_free(t);
}

/* What a failed TLS call of c means, for a message: the verification's
 * reason for a certificate the client refused, else OpenSSL's. */
static void tls_why(struct relay_mqtt_conn *c, int ret, const char *doing, const char *where,
		    char *why, size_t cap)
{
	SSL *ssl = c->ssl;
	int e = SSL_get_error(ssl, ret);
	long v = SSL_get_verify_result(ssl);
	unsigned long le = ERR_peek_last_error();

	c->failed = 1;
	if (v != X509_V_OK && ERR_GET_REASON(le) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		const char *hint = "";

		if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
			hint = " (the broker's certificate is not for the URL's host)";
		else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
			 v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
			 v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			hint = " (give the CA that signed the broker's certificate with "
			       "--mqtt-cafile)";
		snprintf(why, cap, "TLS %s %s failed: certificate verify failed: %s%s", doing,
			 where, X509_verify_cert_error_string(v), hint);
	} else if (e == SSL_ERROR_SSL) {
		const char *r = ossl_reason("TLS protocol error");

		snprintf(why, cap, "TLS %s %s failed: %s%s", doing, where, r,
			 strstr(r, "wrong version number") || strstr(r, "packet length too long") ?
			 " (is that port TLS? mqtts:// is 8883 by default)" : "");
	} else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno)) {
		snprintf(why, cap, "%s closed the connection%s", where,
			 SSL_is_init_finished(ssl) ? "" : " during the TLS handshake (is that "
			 "port TLS? mqtts:// is 8883 by default)");
	} else {
		/* a plain MQTT port resets a ClientHello, or closes on it */
		snprintf(why, cap, "TLS %s %s failed: %s%s", doing, where,
			 e == SSL_ERROR_SYSCALL ? strerror(errno) : "unexpected TLS state",
			 SSL_is_init_finished(ssl) ? "" :
			 " (is that port TLS? mqtts:// is 8883 by default)");
	}
}

/* After a call that returned ret: 0 with c->want set when it must be
 * called again once the socket is ready, -1 otherwise. */
static int tls_again(struct relay_mqtt_conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		c->want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want = POLLOUT;
		return 0;
	default:
		return -1;
	}
}

int relay_mqtt_conn_handshake(struct relay_mqtt_tls *t, struct relay_mqtt_conn *c,
			      const char *where, char *why, size_t cap)
{
	int r;

	if (!t)
		return 1;
	ERR_clear_error();
	if (!c->ssl) {
		SSL *ssl = SSL_new(t->ctx);
		int ok = ssl && SSL_set_fd(ssl, c->fd) == 1;

		if (ok && !t->insecure) {
			X509_VERIFY_PARAM *p = SSL_get0_param(ssl);

			X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok = t->is_ip ? X509_VERIFY_PARAM_set1_ip_asc(p, t->host) == 1 :
			     SSL_set1_host(ssl, t->host) == 1;
		}
		/* SNI: a broker behind a TLS proxy picks its certificate by it */
		if (ok && !t->is_ip)
			ok = SSL_set_tlsext_host_name(ssl, t->host) == 1;
		if (!ok) {
			snprintf(why, cap, "cannot start TLS to %s: %s", where,
				 ossl_reason("out of memory"));
			SSL_free(ssl);
			return -1;
		}
		c->ssl = ssl;
	}
	errno = 0;
	if ((r = SSL_connect(c->ssl)) == 1)
		return 1;
	if (tls_again(c, r) == 0)
		return 0;
	tls_why(c, r, "handshake with", where, why, cap);
	return -1;
}

long relay_mqtt_conn_read(struct relay_mqtt_conn *c, void *buf, size_t n, const char *where,
			  char *why, size_t cap)
{
	c->want = POLLIN;
	if (!c->ssl) {
		ssize_t r;

		do
			r = recv(c->fd, buf, n, 0);
		while (r < 0 && errno == EINTR);
		if (r > 0)
			return (long)r;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		snprintf(why, cap, "%s closed the connection%s%s", where, r < 0 ? ": " : "",
			 r < 0 ? strerror(errno) : "");
		return -1;
	} else {
		size_t got = 0;
		int r;

		ERR_clear_error();
		errno = 0;
		r = SSL_read_ex(c->ssl, buf, n, &got);
		if (r == 1)
			return (long)got;
		if (tls_again(c, r) == 0)
			return 0;
		tls_why(c, r, "read from", where, why, cap);
		return -1;
	}
}

long relay_mqtt_conn_write(struct relay_mqtt_conn *c, const void *buf, size_t n,
			   const char *where, char *why, size_t cap)
{
	c->want = POLLOUT;
	if (!c->ssl) {
		ssize_t w;

		do
			w = send(c->fd, buf, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w >= 0)
			return (long)w;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		snprintf(why, cap, "cannot send to %s: %s", where, strerror(errno));
		return -1;
	} else {
		size_t put = 0;
		int r;

		ERR_clear_error();
		errno = 0;
		r = SSL_write_ex(c->ssl, buf, n, &put);
		if (r == 1)
			return (long)put;
		if (tls_again(c, r) == 0)
			return 0;
		tls_why(c, r, "write to", where, why, cap);
		return -1;
	}
}

int relay_mqtt_conn_pending(const struct relay_mqtt_conn *c)
{
	/* decrypted bytes only: a partial record in OpenSSL's buffer needs the
	 * rest from the socket, so poll is right for it */
	return c->ssl && SSL_pending(c->ssl) > 0;
}

void relay_mqtt_conn_close(struct relay_mqtt_conn *c)
{
	if (c->ssl) {
		/* close_notify (not after a fatal error: OpenSSL forbids it), best effort: the socket is non-blocking and is
		 * closed right after; the broker's answer is not awaited */
		if (!c->failed && SSL_is_init_finished(c->ssl))
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->want = POLLIN;
	c->failed = 0;
}
