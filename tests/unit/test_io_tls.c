/*
 * test_tls.c: the transport (plain TCP and mutual TLS) over real 127.0.0.1
 * TCP pairs inside one event loop, with certificates made by the openssl CLI.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <mbedtls/x509_crt.h>

#include "gt/endpoint.h"

#define MIB		(1024 * 1024)
#define FILL_MAX	(256 * 1024)	/* sender keeps output below this */
#define LOWAT		(64 * 1024)

static char certdir[] = "/tmp/gt-test-tls-XXXXXX";

struct harness;

struct peer {
	struct harness	*h;
	const char	*name;
	struct gt_ep	*c;
	unsigned	 seed;		/* pattern of what this peer sends */
	unsigned	 rseed;		/* pattern of what it receives */
	size_t		 to_send, sent, recvd, recvd_at_eof;
	unsigned	 bad;		/* mismatching bytes received */
	int		 ready, reads, drained, eof, error;
	char		 err[256];
	char		 cn[80], cipher[80];
	unsigned char	 serial[GT_EP_SERIAL_MAX];	/* the peer's, at READY */
	size_t		 serial_len;
	unsigned char	 issuer[1024];			/* its issuer, DER */
	size_t		 issuer_len;
	int		 free_on;	/* free itself on this event (-1: never) */
	int		 free_on_end;	/* free itself on EOF/ERROR */
	int		 shutdown_when_sent;
	size_t		 pause_at;	/* stop reading once this much arrived */
	int		 paused, resumed;
	int		 freed;
};

struct harness {
	struct event_base	*base;
	struct event		*deadline;
	struct event		*poll;
	int			 timed_out;
	struct peer		 a, b;	/* a: client side, b: server side */
	int			(*done)(struct harness *);
	size_t			 last_out, last_sent;
	int			 stalls;
};

/* Byte i of a stream with this seed. */
static inline unsigned char
pattern(unsigned seed, size_t i)
{
	return (unsigned char)((i * 7 + seed) ^ (i >> 12));
}

/* Path of a generated file. */
static const char *
cpath(const char *name)
{
	static char	buf[8][256];
	static int	n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", certdir, name);
	return buf[n];
}

/*
 * The CRL cases, with files gt-certgen writes (the binary, from GT_BIN):
 * g/ (init; clients alice and bob; alice revoked), g2/ (another CA of the
 * same default name, a CRL of its own), g3/ (a CA of another name, client
 * carol). An expired CRL of g's CA cannot be written by gt-certgen
 * (nextUpdate is at least a day ahead): openssl ca signs one with g's key.
 */
static int
setup_crls(void)
{
	const char	*bin = getenv("GT_BIN");
	char		 cmd[1024];
	FILE		*f;

	if (bin == NULL) {
		fprintf(stderr, "GT_BIN is not set (run through ctest)\n");
		return -1;
	}
	if ((f = fopen(cpath("crl.sh"), "w")) == NULL)
		return -1;
	fputs(
	    "set -e\ncd \"$1\"\nc=\"$2/gt-certgen\"\n"
	    "$c init -out g\n"
	    "$c client -out g -ca g -cn alice\n"
	    "$c client -out g -ca g -cn bob\n"
	    "$c revoke -ca g -cert g/alice.crt\n"
	    "$c init -out g2\n"
	    "$c revoke -ca g2 -serial 01\n"
	    "$c ca -out g3 -cn 'gt CA 3'\n"
	    "$c client -out g3 -ca g3 -cn carol\n"
	    "mkdir db; : > db/index.txt; echo 01 > db/crlnumber\n"
	    "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=db/index.txt\\n"
	    "crlnumber=db/crlnumber\\ndefault_md=sha256\\n' > db/ca.cnf\n"
	    "openssl ca -batch -config db/ca.cnf -gencrl -keyfile g/ca.key"
	    " -cert g/ca.crt -crl_lastupdate 20200101000000Z"
	    " -crl_nextupdate 20200201000000Z -out g/expired-crl.pem\n"
	    "printf 'not a CRL\\n' > g/junk-crl.pem\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh %s %s %s >%s 2>&1", cpath("crl.sh"),
	    certdir, bin, cpath("crl.log"));
	if (system(cmd) != 0) {
		fprintf(stderr, "CRL generation failed, see %s\n", cpath("crl.log"));
		return -1;
	}
	return 0;
}

/* Make the certificates with the openssl CLI: two CAs and their leaves. */
static int
setup_certs(void **state)
{
	char	 cmd[512];
	FILE	*f;

	(void)state;
	if (mkdtemp(certdir) == NULL)
		return -1;
	if ((f = fopen(cpath("gen.sh"), "w")) == NULL)
		return -1;
	fputs(
	    "set -e\ncd \"$1\"\n"
	    "ca() { openssl ecparam -name prime256v1 -genkey -noout -out $1.key\n"
	    "  openssl req -x509 -new -key $1.key -subj /CN=$1 -days 2 -out $1.crt"
	    " -addext basicConstraints=critical,CA:TRUE"
	    " -addext keyUsage=critical,keyCertSign,cRLSign; }\n"
	    "leaf() { openssl ecparam -name prime256v1 -genkey -noout -out $1.key\n"
	    "  openssl req -new -key $1.key -subj /CN=$2 -out $1.csr\n"
	    "  printf \"$4\" > $1.ext\n"
	    "  openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key"
	    " -set_serial 0x$(openssl rand -hex 8) -days 2 -extfile $1.ext"
	    " -out $1.crt; }\n"
	    "ca ca; ca ca2\n"
	    "leaf server localhost ca 'basicConstraints=CA:FALSE\\n"
	    "subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n'\n"
	    "leaf client client ca 'basicConstraints=CA:FALSE\\n"
	    "extendedKeyUsage=clientAuth\\n'\n"
	    "leaf foreign client ca2 'basicConstraints=CA:FALSE\\n"
	    "extendedKeyUsage=clientAuth\\n'\n"
	    "leaf srvonly client ca 'basicConstraints=CA:FALSE\\n"
	    "extendedKeyUsage=serverAuth\\n'\n"
	    "leaf noeku client ca 'basicConstraints=CA:FALSE\\n'\n"
	    "chmod 600 *.key\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh %s %s >%s 2>&1", cpath("gen.sh"),
	    certdir, cpath("gen.log"));
	if (system(cmd) != 0) {
		fprintf(stderr, "certificate generation failed, see %s\n",
		    cpath("gen.log"));
		return -1;
	}
	return setup_crls();
}

/* Remove the certificates. */
static int
teardown_certs(void **state)
{
	char	cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", certdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Socket buffer size for new pairs (0: the kernel's default). */
static int	pair_buf;

/* A connected 127.0.0.1 TCP pair: fds[0] may still be connecting. */
static void
tcp_pair(int fds[2])
{
	struct sockaddr_in	sin;
	socklen_t		sl = sizeof(sin);
	int			l;

	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	if (pair_buf) {
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &pair_buf, sizeof(pair_buf));
		setsockopt(l, SOL_SOCKET, SO_SNDBUF, &pair_buf, sizeof(pair_buf));
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fds[0] >= 0);
	if (pair_buf) {
		setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &pair_buf,
		    sizeof(pair_buf));
		setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &pair_buf,
		    sizeof(pair_buf));
	}
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	if (connect(fds[0], (struct sockaddr *)&sin, sizeof(sin)) == -1)
		assert_int_equal(errno, EINPROGRESS);
	fds[1] = accept(l, NULL, NULL);
	assert_true(fds[1] >= 0);
	close(l);
}

/* Append more of the peer's stream while output is short. */
static void
peer_fill(struct peer *p)
{
	static unsigned char	 chunk[32768];
	struct evbuffer		*out;
	size_t			 n, i;

	if (p->c == NULL || !p->ready)
		return;
	out = gt_ep_output(p->c);
	while (p->sent < p->to_send && evbuffer_get_length(out) < FILL_MAX) {
		n = p->to_send - p->sent;
		if (n > sizeof(chunk))
			n = sizeof(chunk);
		for (i = 0; i < n; i++)
			chunk[i] = pattern(p->seed, p->sent + i);
		assert_int_equal(evbuffer_add(out, chunk, n), 0);
		p->sent += n;
	}
	gt_ep_kick(p->c);
	if (p->shutdown_when_sent && p->sent == p->to_send) {
		p->shutdown_when_sent = 0;
		gt_ep_shutdown(p->c);
	}
}

/* Check and consume what arrived. */
static void
peer_consume(struct peer *p)
{
	struct evbuffer		*in = gt_ep_input(p->c);
	struct evbuffer_iovec	 v[8];
	int			 n, i;
	size_t			 j, total = 0;

	while (evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		total = 0;
		for (i = 0; i < n; i++) {
			unsigned char *b = v[i].iov_base;

			for (j = 0; j < v[i].iov_len; j++)
				if (b[j] != pattern(p->rseed, p->recvd + j))
					p->bad++;
			p->recvd += v[i].iov_len;
			total += v[i].iov_len;
		}
		evbuffer_drain(in, total);
	}
}

/* The one callback of every test connection. */
static void
peer_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg)
{
	struct peer	*p = arg;
	struct harness	*h = p->h;

	assert_ptr_equal(c, p->c);
	switch (ev) {
	case GT_EP_EV_READY:
		p->ready++;
		if (gt_ep_peer_cn(c) != NULL)
			snprintf(p->cn, sizeof(p->cn), "%s", gt_ep_peer_cn(c));
		snprintf(p->cipher, sizeof(p->cipher), "%s", gt_ep_cipher(c));
		{
			const unsigned char *sp = gt_ep_peer_serial(c, &p->serial_len);

			assert_true(p->serial_len <= sizeof(p->serial));
			if (p->serial_len > 0)
				memcpy(p->serial, sp, p->serial_len);
			sp = gt_ep_peer_issuer(c, &p->issuer_len);
			assert_true(p->issuer_len <= sizeof(p->issuer));
			if (p->issuer_len > 0)
				memcpy(p->issuer, sp, p->issuer_len);
		}
		peer_fill(p);
		break;
	case GT_EP_EV_READ:
		p->reads++;
		peer_consume(p);
		if (p->pause_at && !p->paused && p->recvd >= p->pause_at) {
			p->paused = 1;
			gt_ep_read_enable(c, 0);
		}
		peer_fill(p);
		break;
	case GT_EP_EV_DRAINED:
		p->drained++;
		peer_fill(p);
		break;
	case GT_EP_EV_EOF:
		p->eof++;
		p->recvd_at_eof = p->recvd + evbuffer_get_length(gt_ep_input(c));
		break;
	case GT_EP_EV_ERROR:
		p->error++;
		snprintf(p->err, sizeof(p->err), "%s", gt_ep_error(c));
		break;
	}
	if ((int)ev == p->free_on || (p->free_on_end &&
	    (ev == GT_EP_EV_EOF || ev == GT_EP_EV_ERROR))) {
		gt_ep_free(c);
		p->c = NULL;
		p->freed = 1;
	}
	if (h->done(h))
		event_base_loopbreak(h->base);
}

/* Deadline: the test failed to finish. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct harness	*h = arg;

	(void)fd;
	(void)what;
	h->timed_out = 1;
	event_base_loopbreak(h->base);
}

/*
 * While b is paused, resume once a has stopped making progress: then a's
 * writes are blocked on a full socket (WANT_WRITE with a record in flight;
 * the TLS test uses small socket buffers so that this happens).
 */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct harness	*h = arg;
	size_t		 len;

	(void)fd;
	(void)what;
	if (!h->b.paused || h->b.resumed || h->a.c == NULL)
		return;
	len = evbuffer_get_length(gt_ep_output(h->a.c));
	if (len == h->last_out && h->a.sent == h->last_sent)
		h->stalls++;
	else
		h->stalls = 0;
	h->last_out = len;
	h->last_sent = h->a.sent;
	if (h->stalls >= 3) {
		h->b.resumed = 1;
		gt_ep_read_enable(h->b.c, 1);
	}
}

/* Fresh harness with a 20 s limit. */
static struct harness *
harness_new(int (*done)(struct harness *))
{
	struct harness	*h;
	struct timeval	 tv = { 0, 10000 };

	h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->base = event_base_new();
	assert_non_null(h->base);
	h->deadline = evtimer_new(h->base, deadline_cb, h);
	h->poll = event_new(h->base, -1, EV_PERSIST, poll_cb, h);
	evtimer_add(h->poll, &tv);
	h->done = done;
	h->a.h = h->b.h = h;
	h->a.name = "a";
	h->b.name = "b";
	h->a.seed = h->b.rseed = 17;
	h->b.seed = h->a.rseed = 101;
	h->a.free_on = h->b.free_on = -1;
	return h;
}

/* Run until done or the limit; fail on the limit. */
static void
harness_run(struct harness *h, int secs)
{
	struct timeval	tv = { secs, 0 };

	evtimer_add(h->deadline, &tv);
	if (!h->done(h))
		event_base_dispatch(h->base);
	if (h->timed_out)
		fprintf(stderr, "timeout: a ready=%d eof=%d error=%d sent=%zu "
		    "recvd=%zu [%s]; b ready=%d eof=%d error=%d sent=%zu "
		    "recvd=%zu [%s]\n", h->a.ready, h->a.eof, h->a.error,
		    h->a.sent, h->a.recvd, h->a.err, h->b.ready, h->b.eof,
		    h->b.error, h->b.sent, h->b.recvd, h->b.err);
	assert_false(h->timed_out);
}

/* Free whatever is left. */
static void
harness_free(struct harness *h)
{
	gt_ep_free(h->a.c);
	gt_ep_free(h->b.c);
	event_free(h->deadline);
	event_free(h->poll);
	event_base_free(h->base);
	free(h);
}

/* Both streams arrived whole. */
static int
done_transfer(struct harness *h)
{
	return (h->a.recvd == h->b.to_send && h->b.recvd == h->a.to_send) ||
	    h->a.error || h->b.error || h->a.eof || h->b.eof;
}

/* Both sides reached an end (EOF/ERROR), or both are READY. */
static int
done_handshake(struct harness *h)
{
	int	ea = h->a.eof || h->a.error || h->a.freed;
	int	eb = h->b.eof || h->b.error || h->b.freed;

	return (ea && eb) || (h->a.ready && h->b.ready);
}

/* Both sides ended. */
static int
done_both_end(struct harness *h)
{
	return (h->a.eof || h->a.error || h->a.freed) &&
	    (h->b.eof || h->b.error || h->b.freed);
}

/* Check a finished two-way transfer. */
static void
check_transfer(struct harness *h, size_t n)
{
	assert_int_equal(h->a.error, 0);
	assert_int_equal(h->b.error, 0);
	assert_int_equal(h->a.recvd, n);
	assert_int_equal(h->b.recvd, n);
	assert_int_equal(h->a.bad, 0);
	assert_int_equal(h->b.bad, 0);
	assert_true(h->a.reads > 0 && h->b.reads > 0);
	assert_true(h->a.drained > 0 && h->b.drained > 0);
}

/* Plain TCP: 8 MiB each way, checked byte by byte. */
static void
test_plain_transfer(void **state)
{
	struct harness	*h = harness_new(done_transfer);
	int		 fds[2];

	(void)state;
	tcp_pair(fds);
	h->a.to_send = h->b.to_send = 8 * MIB;
	h->a.c = gt_ep_plain(h->base, fds[0], peer_cb, &h->a);
	h->b.c = gt_ep_plain(h->base, fds[1], peer_cb, &h->b);
	assert_non_null(h->a.c);
	assert_non_null(h->b.c);
	gt_ep_set_lowat(h->a.c, LOWAT);
	gt_ep_set_lowat(h->b.c, LOWAT);
	harness_run(h, 30);
	check_transfer(h, 8 * MIB);
	assert_int_equal(h->a.ready, 1);
	assert_string_equal(h->a.cipher, "plain");
	assert_false(gt_ep_is_tls(h->a.c));
	assert_null(gt_ep_peer_cn(h->b.c));
	assert_memory_equal(gt_ep_peer_addr(h->a.c), "127.0.0.1:", 10);
	harness_free(h);
}

/* A TLS pair from the given client material and name. */
static void
tls_pair(struct harness *h, const char *ccert, const char *ckey,
    const char *name, struct gt_tls_ctx **sctx, struct gt_tls_ctx **cctx)
{
	char	err[256];
	int	fds[2];

	*sctx = gt_tls_ctx_server(cpath("server.crt"), cpath("server.key"),
	    cpath("ca.crt"), err, sizeof(err));
	if (*sctx == NULL)
		fail_msg("server ctx: %s", err);
	*cctx = gt_tls_ctx_client(ccert, ckey, cpath("ca.crt"), err,
	    sizeof(err));
	if (*cctx == NULL)
		fail_msg("client ctx: %s", err);
	tcp_pair(fds);
	h->a.c = gt_ep_tls_client(h->base, fds[0], *cctx, name, peer_cb,
	    &h->a);
	h->b.c = gt_ep_tls_server(h->base, fds[1], *sctx, peer_cb, &h->b);
	assert_non_null(h->a.c);
	assert_non_null(h->b.c);
	/* The connections hold their own references. */
	gt_tls_ctx_unref(*sctx);
	gt_tls_ctx_unref(*cctx);
}

/* Mutual TLS: READY, CN, ChaCha20, 8 MiB each way with a paused reader. */
static void
test_tls_transfer(void **state)
{
	struct harness		*h = harness_new(done_transfer);
	struct gt_tls_ctx	*s, *c;

	(void)state;
	h->a.to_send = h->b.to_send = 8 * MIB;
	h->b.pause_at = 1 * MIB;
	pair_buf = 128 * 1024;
	tls_pair(h, cpath("client.crt"), cpath("client.key"), "localhost",
	    &s, &c);
	pair_buf = 0;
	gt_ep_set_lowat(h->a.c, LOWAT);
	gt_ep_set_lowat(h->b.c, LOWAT);
	gt_ep_set_handshake_timeout(h->a.c, 10);
	gt_ep_set_handshake_timeout(h->b.c, 10);
	harness_run(h, 60);
	if (h->a.error || h->b.error)
		fail_msg("a: %s b: %s", h->a.err, h->b.err);
	check_transfer(h, 8 * MIB);
	assert_int_equal(h->a.ready, 1);
	assert_int_equal(h->b.ready, 1);
	assert_true(h->b.paused && h->b.resumed);
	assert_string_equal(h->b.cn, "client");
	assert_null(gt_ep_peer_cn(h->a.c));
	assert_non_null(strstr(h->a.cipher, "CHACHA20"));
	assert_string_equal(h->a.cipher, h->b.cipher);
	assert_true(gt_ep_is_tls(h->a.c));
	assert_memory_equal(gt_ep_peer_addr(h->b.c), "127.0.0.1:", 10);
	harness_free(h);
}

/* An IP literal as server name is checked against the IP SAN. */
static void
test_tls_ip_name(void **state)
{
	struct harness		*h = harness_new(done_handshake);
	struct gt_tls_ctx	*s, *c;

	(void)state;
	h->a.free_on_end = h->b.free_on_end = 1;
	tls_pair(h, cpath("client.crt"), cpath("client.key"), "127.0.0.1",
	    &s, &c);
	harness_run(h, 20);
	if (!h->a.ready)
		fail_msg("a: %s b: %s", h->a.err, h->b.err);
	assert_int_equal(h->b.ready, 1);
	harness_free(h);

	h = harness_new(done_handshake);
	h->a.free_on_end = h->b.free_on_end = 1;
	tls_pair(h, cpath("client.crt"), cpath("client.key"), "127.0.0.2",
	    &s, &c);
	harness_run(h, 20);
	assert_int_equal(h->a.ready, 0);
	assert_int_equal(h->a.error, 1);
	assert_non_null(strstr(h->a.err, "127.0.0.2"));
	harness_free(h);
}

/* One refusal case: which side must report ERROR with what text. */
static void
refusal(const char *cert, const char *key, const char *name, int server_err,
    int client_err, const char *text)
{
	struct harness		*h = harness_new(done_both_end);
	struct gt_tls_ctx	*s, *c;

	h->a.free_on_end = h->b.free_on_end = 1;
	tls_pair(h, cert, key, name, &s, &c);
	harness_run(h, 20);
	fprintf(stderr, "  refusal %s/%s: client [%s] server [%s]\n",
	    cert ? cert + strlen(certdir) + 1 : "(none)", name, h->a.err,
	    h->b.err);
	/* The server never lets a refused client through. */
	assert_int_equal(h->b.ready, 0);
	if (server_err) {
		assert_int_equal(h->b.error, 1);
		assert_non_null(strstr(h->b.err, text));
	}
	if (client_err) {
		assert_int_equal(h->a.error, 1);
		assert_int_equal(h->a.ready, 0);
		assert_non_null(strstr(h->a.err, text));
	}
	harness_free(h);
}

/* No client certificate, foreign CA, serverAuth-only, no EKU, wrong name. */
static void
test_tls_refusals(void **state)
{
	(void)state;
	refusal(NULL, NULL, "localhost", 1, 0, "handshake failed");
	refusal(cpath("foreign.crt"), cpath("foreign.key"), "localhost", 1, 0,
	    "not correctly signed by the trusted CA");
	refusal(cpath("srvonly.crt"), cpath("srvonly.key"), "localhost", 1, 0,
	    "extendedKeyUsage");
	refusal(cpath("noeku.crt"), cpath("noeku.key"), "localhost", 1, 0,
	    "extended key usage");
	refusal(cpath("client.crt"), cpath("client.key"), "wrong.example", 0,
	    1, "does not match with the expected CN");
}

/* A peer that never speaks: ERROR "handshake timeout". */
static void
test_tls_handshake_timeout(void **state)
{
	struct harness	*h = harness_new(done_both_end);
	char		 err[256];
	struct gt_tls_ctx *s;
	int		 fds[2];

	(void)state;
	s = gt_tls_ctx_server(cpath("server.crt"), cpath("server.key"),
	    cpath("ca.crt"), err, sizeof(err));
	assert_non_null(s);
	tcp_pair(fds);
	h->a.freed = 1;		/* fds[0] is a mute raw socket */
	h->b.c = gt_ep_tls_server(h->base, fds[1], s, peer_cb, &h->b);
	gt_tls_ctx_unref(s);
	h->b.free_on_end = 1;
	gt_ep_set_handshake_timeout(h->b.c, 1);
	harness_run(h, 10);
	assert_int_equal(h->b.error, 1);
	assert_string_equal(h->b.err, "handshake timeout");
	close(fds[0]);
	harness_free(h);
}

/* Sender shuts down after its data: the receiver gets all, then EOF. */
static void
eof_case(int tls)
{
	struct harness		*h = harness_new(done_both_end);
	struct gt_tls_ctx	*s, *c;
	int			 fds[2];

	h->a.to_send = 300000;
	h->a.shutdown_when_sent = 1;
	h->b.free_on = GT_EP_EV_EOF;
	if (tls)
		tls_pair(h, cpath("client.crt"), cpath("client.key"),
		    "localhost", &s, &c);
	else {
		tcp_pair(fds);
		h->a.c = gt_ep_plain(h->base, fds[0], peer_cb, &h->a);
		h->b.c = gt_ep_plain(h->base, fds[1], peer_cb, &h->b);
	}
	harness_run(h, 20);
	assert_int_equal(h->b.eof, 1);
	assert_int_equal(h->b.error, 0);
	assert_int_equal(h->b.recvd_at_eof, 300000);
	assert_int_equal(h->b.bad, 0);
	/* The shutting side hears the peer's close as EOF. */
	assert_int_equal(h->a.eof, 1);
	assert_int_equal(h->a.error, 0);
	harness_free(h);
}

/* EOF after data, plain and TLS. */
static void
test_eof_after_data(void **state)
{
	(void)state;
	eof_case(0);
	eof_case(1);
}

/* The callback frees the connection: on READY (TLS) and on READ (plain). */
static void
test_free_in_callback(void **state)
{
	struct harness		*h;
	struct gt_tls_ctx	*s, *c;
	int			 fds[2];

	(void)state;
	h = harness_new(done_both_end);
	h->b.free_on = GT_EP_EV_READY;
	h->a.free_on_end = 1;
	h->a.to_send = h->b.to_send = 1 * MIB;
	tls_pair(h, cpath("client.crt"), cpath("client.key"), "localhost",
	    &s, &c);
	harness_run(h, 20);
	assert_int_equal(h->b.ready, 1);
	assert_true(h->b.freed);
	harness_free(h);

	h = harness_new(done_both_end);
	h->b.free_on = GT_EP_EV_READ;
	h->a.free_on_end = 1;
	h->a.to_send = 4 * MIB;
	tcp_pair(fds);
	h->a.c = gt_ep_plain(h->base, fds[0], peer_cb, &h->a);
	h->b.c = gt_ep_plain(h->base, fds[1], peer_cb, &h->b);
	harness_run(h, 20);
	assert_int_equal(h->b.reads, 1);
	assert_true(h->a.freed && h->b.freed);
	harness_free(h);

	/* Free right after creation, outside any callback. */
	tcp_pair(fds);
	h = harness_new(done_both_end);
	h->a.c = gt_ep_plain(h->base, fds[0], peer_cb, &h->a);
	gt_ep_free(h->a.c);
	h->a.c = NULL;
	close(fds[1]);
	harness_free(h);
}

/* A refused connect is an ERROR naming connect. */
static void
test_connect_refused(void **state)
{
	struct harness		*h = harness_new(done_both_end);
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 l, fd;

	(void)state;
	/* A port that was just free: bound, then closed without listening. */
	l = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		assert_true(errno == EINPROGRESS || errno == ECONNREFUSED);
	close(l);
	h->b.freed = 1;
	h->a.c = gt_ep_plain(h->base, fd, peer_cb, &h->a);
	assert_non_null(h->a.c);
	harness_run(h, 10);
	assert_int_equal(h->a.error, 1);
	assert_int_equal(h->a.ready, 0);
	assert_non_null(strstr(h->a.err, "connect"));
	harness_free(h);
}

/* A key readable by group/other is loaded with a warning on stderr. */
static void
test_tls_key_mode_warning(void **state)
{
	struct gt_tls_ctx	*t;
	char			 err[256], line[512];
	FILE			*f;
	int			 saved, fd, warned = 0;

	(void)state;
	assert_int_equal(chmod(cpath("client.key"), 0644), 0);
	fflush(stderr);
	saved = dup(2);
	fd = open(cpath("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	t = gt_tls_ctx_client(cpath("client.crt"), cpath("client.key"),
	    cpath("ca.crt"), err, sizeof(err));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	chmod(cpath("client.key"), 0600);
	assert_non_null(t);
	gt_tls_ctx_unref(t);
	f = fopen(cpath("stderr.txt"), "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "client.key") && strstr(line, "group/other"))
			warned = 1;
		/* Never any key material. */
		assert_null(strstr(line, "PRIVATE"));
	}
	fclose(f);
	assert_true(warned);
}

/* Bad material is refused with a message naming the file. */
static void
test_tls_ctx_errors(void **state)
{
	char	err[256];

	(void)state;
	assert_null(gt_tls_ctx_server(cpath("nonexistent.crt"),
	    cpath("server.key"), cpath("ca.crt"), err, sizeof(err)));
	assert_non_null(strstr(err, "nonexistent.crt"));
	assert_null(gt_tls_ctx_server(cpath("server.crt"), cpath("client.key"),
	    cpath("ca.crt"), err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	assert_null(gt_tls_ctx_client(cpath("client.crt"), cpath("client.key"),
	    cpath("missing-ca.crt"), err, sizeof(err)));
	assert_non_null(strstr(err, "missing-ca.crt"));
}

/* A certificate as a CRL names it: its issuer's name and its serial, DER. */
struct certid {
	unsigned char	serial[GT_EP_SERIAL_MAX];
	size_t		slen;
	unsigned char	issuer[1024];
	size_t		ilen;
};

/* The certid of the certificate in path. */
static void
cert_id(const char *path, struct certid *id)
{
	mbedtls_x509_crt	crt;

	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, path), 0);
	assert_true(crt.serial.len > 0 && crt.serial.len <= sizeof(id->serial));
	assert_true(crt.issuer_raw.len > 0 &&
	    crt.issuer_raw.len <= sizeof(id->issuer));
	memcpy(id->serial, crt.serial.p, crt.serial.len);
	id->slen = crt.serial.len;
	memcpy(id->issuer, crt.issuer_raw.p, crt.issuer_raw.len);
	id->ilen = crt.issuer_raw.len;
	mbedtls_x509_crt_free(&crt);
}

/* Whether t revokes id. */
static int
revoked(const struct gt_tls_ctx *t, const struct certid *id)
{
	return gt_tls_ctx_revoked(t, id->issuer, id->ilen, id->serial, id->slen);
}

/* Server material of g/ with crl (NULL: none) for the client CA ca. */
static struct gt_tls_ctx *
crl_server(const char *ca, const char *crl, char *err, size_t errlen)
{
	return gt_tls_ctx_server_crl(cpath("g/server.crt"), cpath("g/server.key"),
	    ca, crl, err, errlen);
}

/*
 * Loading a CRL: what it lists is revoked, nothing else; a CRL of another
 * CA, past its nextUpdate or unparsable is refused, naming why.
 */
static void
test_tls_crl_load(void **state)
{
	struct gt_tls_ctx	*t;
	struct certid		 alice, bob, other;
	char			 err[256], cmd[512];

	(void)state;
	cert_id(cpath("g/alice.crt"), &alice);
	cert_id(cpath("g/bob.crt"), &bob);
	/* alice's serial from another CA: not the same certificate. */
	cert_id(cpath("g3/carol.crt"), &other);
	memcpy(other.serial, alice.serial, alice.slen);
	other.slen = alice.slen;

	t = crl_server(cpath("g/ca.crt"), cpath("g/crl.pem"), err, sizeof(err));
	if (t == NULL)
		fail_msg("CRL refused: %s", err);
	assert_int_equal(gt_tls_ctx_crl_count(t), 1);
	assert_int_equal(revoked(t, &alice), 1);
	assert_int_equal(revoked(t, &bob), 0);
	assert_int_equal(revoked(t, &other), 0);
	/* Serials and names compare whole: a prefix or an empty one is not listed. */
	assert_int_equal(gt_tls_ctx_revoked(t, alice.issuer, alice.ilen,
	    alice.serial, alice.slen - 1), 0);
	assert_int_equal(gt_tls_ctx_revoked(t, alice.issuer, alice.ilen,
	    alice.serial, 0), 0);
	assert_int_equal(gt_tls_ctx_revoked(t, alice.issuer, alice.ilen - 1,
	    alice.serial, alice.slen), 0);
	assert_int_equal(gt_tls_ctx_revoked(t, alice.issuer, 0,
	    alice.serial, alice.slen), 0);
	gt_tls_ctx_unref(t);

	/* No CRL: nothing is revoked. */
	t = crl_server(cpath("g/ca.crt"), NULL, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(gt_tls_ctx_crl_count(t), 0);
	assert_int_equal(revoked(t, &alice), 0);
	gt_tls_ctx_unref(t);
	assert_int_equal(revoked(NULL, &alice), 0);

	/* A bundle of client CAs: the CRL's issuer is found in it. */
	snprintf(cmd, sizeof(cmd), "cat %s %s > %s", cpath("g3/ca.crt"),
	    cpath("g/ca.crt"), cpath("bundle.crt"));
	assert_int_equal(system(cmd), 0);
	t = crl_server(cpath("bundle.crt"), cpath("g/crl.pem"), err, sizeof(err));
	if (t == NULL)
		fail_msg("CRL refused with a CA bundle: %s", err);
	assert_int_equal(revoked(t, &alice), 1);
	assert_int_equal(revoked(t, &other), 0);
	gt_tls_ctx_unref(t);
	/*
	 * Two CAs of one name: mbedTLS would refuse every client of the one
	 * that did not sign the CRL, so the CRL is refused, saying so.
	 */
	snprintf(cmd, sizeof(cmd), "cat %s %s > %s", cpath("g2/ca.crt"),
	    cpath("g/ca.crt"), cpath("bundle2.crt"));
	assert_int_equal(system(cmd), 0);
	assert_null(crl_server(cpath("bundle2.crt"), cpath("g/crl.pem"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "2 CAs named like its issuer"));

	/* Refused: another CA's CRL, an expired one, junk, none, no CA. */
	assert_null(crl_server(cpath("g/ca.crt"), cpath("g2/crl.pem"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "not signed by the client CA"));
	assert_non_null(strstr(err, "g2/crl.pem"));
	assert_null(crl_server(cpath("g/ca.crt"), cpath("g/expired-crl.pem"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "past its nextUpdate (2020-02-01)"));
	assert_null(crl_server(cpath("g/ca.crt"), cpath("g/junk-crl.pem"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "junk-crl.pem"));
	assert_null(crl_server(cpath("g/ca.crt"), cpath("g/missing.pem"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "missing.pem"));
	assert_null(crl_server(NULL, cpath("g/crl.pem"), err, sizeof(err)));
	assert_non_null(strstr(err, "needs a CA"));
}

/* One handshake of g/NAME against a server holding g's CRL. */
static struct harness *
crl_handshake(const char *name)
{
	struct harness		*h = harness_new(done_handshake);
	struct gt_tls_ctx	*s, *c;
	char			 crt[64], key[64], err[256];
	int			 fds[2];

	h->a.free_on_end = h->b.free_on_end = 1;
	snprintf(crt, sizeof(crt), "g/%s.crt", name);
	snprintf(key, sizeof(key), "g/%s.key", name);
	s = crl_server(cpath("g/ca.crt"), cpath("g/crl.pem"), err, sizeof(err));
	if (s == NULL)
		fail_msg("server ctx: %s", err);
	c = gt_tls_ctx_client(cpath(crt), cpath(key), cpath("g/ca.crt"), err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("client ctx: %s", err);
	tcp_pair(fds);
	h->a.c = gt_ep_tls_client(h->base, fds[0], c, "localhost", peer_cb, &h->a);
	h->b.c = gt_ep_tls_server(h->base, fds[1], s, peer_cb, &h->b);
	assert_non_null(h->a.c);
	assert_non_null(h->b.c);
	gt_tls_ctx_unref(s);
	gt_tls_ctx_unref(c);
	harness_run(h, 20);
	return h;
}

/*
 * Under the CRL the revoked client fails its handshake with its name and
 * serial in the error; another client of the CA is READY, its serial kept.
 */
static void
test_tls_crl_handshake(void **state)
{
	struct harness	*h;
	struct certid	 bob;

	(void)state;
	h = crl_handshake("alice");
	fprintf(stderr, "  revoked: server [%s] client [%s]\n", h->b.err, h->a.err);
	assert_int_equal(h->b.ready, 0);
	assert_int_equal(h->b.error, 1);
	assert_non_null(strstr(h->b.err, "client certificate alice (serial "));
	assert_non_null(strstr(h->b.err, "is revoked"));
	harness_free(h);

	h = crl_handshake("bob");
	assert_int_equal(h->a.error + h->b.error, 0);
	assert_int_equal(h->b.ready, 1);
	assert_string_equal(h->b.cn, "bob");
	cert_id(cpath("g/bob.crt"), &bob);
	assert_int_equal(h->b.serial_len, bob.slen);
	assert_memory_equal(h->b.serial, bob.serial, bob.slen);
	assert_int_equal(h->b.issuer_len, bob.ilen);
	assert_memory_equal(h->b.issuer, bob.issuer, bob.ilen);
	/* The client side keeps neither: only servers check CRLs. */
	assert_int_equal(h->a.serial_len, 0);
	assert_int_equal(h->a.issuer_len, 0);
	harness_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_transfer),
		cmocka_unit_test(test_tls_transfer),
		cmocka_unit_test(test_tls_ip_name),
		cmocka_unit_test(test_tls_refusals),
		cmocka_unit_test(test_tls_handshake_timeout),
		cmocka_unit_test(test_eof_after_data),
		cmocka_unit_test(test_free_in_callback),
		cmocka_unit_test(test_tls_ctx_errors),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_tls_key_mode_warning),
		cmocka_unit_test(test_tls_crl_load),
		cmocka_unit_test(test_tls_crl_handshake),
	};

	return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
