/*
 * test_io_tlspipe.c: the server-side TLS pipe (tls_pipe.h) against a real
 * mbedTLS client, fully in memory: the client's bio reads and writes two
 * evbuffers (c2s, s2c) and the pipe is handed the same buffers, so no socket
 * and no event loop. Certificates are made by the openssl CLI, as in
 * test_io_tls.c.
 *
 * With GT_TLSPIPE_CORPUS=<dir> set, the handshake test also writes seed
 * inputs for fuzz_io_tlspipe (a real ClientHello) into dir.
 */
#include <sys/types.h>

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

#include <mbedtls/ssl.h>

#include "gt/endpoint.h"
#include "gt/tls_pipe.h"
#include "tls_local.h"

#define KIB		1024
#define MIB		(1024 * 1024)
#define RECORD		16384	/* largest plaintext of one TLS record */
#define MAX_ROUNDS	64	/* handshake ping-pongs before giving up */

static char certdir[] = "/tmp/gt-test-tlspipe-XXXXXX";

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
 * The certificates: a CA, a server leaf, client leaves (clientAuth; only
 * anyExtendedKeyUsage; CA:TRUE with clientAuth), one from a foreign CA.
 */
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
	    "subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\n'\n"
	    "leaf client alice-1 ca 'basicConstraints=CA:FALSE\\n"
	    "extendedKeyUsage=clientAuth\\n'\n"
	    "leaf anyeku alice-2 ca 'basicConstraints=CA:FALSE\\n"
	    "extendedKeyUsage=anyExtendedKeyUsage\\n'\n"
	    "leaf catrue alice-3 ca 'basicConstraints=critical,CA:TRUE\\n"
	    "extendedKeyUsage=clientAuth\\n'\n"
	    "leaf foreign alice-4 ca2 'basicConstraints=CA:FALSE\\n"
	    "extendedKeyUsage=clientAuth\\n'\n"
	    "chmod 600 *.key\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh %s %s >%s 2>&1", cpath("gen.sh"),
	    certdir, cpath("gen.log"));
	if (system(cmd) != 0) {
		fprintf(stderr, "certificate generation failed, see %s\n",
		    cpath("gen.log"));
		return -1;
	}
	return 0;
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

/* Byte i of a stream with this seed. */
static inline unsigned char
pattern(unsigned seed, size_t i)
{
	return (unsigned char)((i * 7 + seed) ^ (i >> 12));
}

/* One pipe and one real client, wired through c2s and s2c. */
struct duo {
	struct gt_tls_ctx	*sctx, *cctx;
	struct gt_tls_pipe	*p;
	mbedtls_ssl_context	 cssl;
	struct evbuffer		*c2s;	/* client's ciphertext, the pipe's rx */
	struct evbuffer		*s2c;	/* the pipe's tx, the client's input */
	struct evbuffer		*plain;	/* what the pipe decrypted */
	struct evbuffer		*hello;	/* the first flight the client sent */
	int			 chs;	/* the client's last handshake result */
	enum gt_tls_pipe_rc	 src;	/* the pipe's last result */
};

/* Client bio send: all of it into c2s. */
static int
cli_send(void *arg, const unsigned char *buf, size_t len)
{
	struct duo *d = arg;

	if (evbuffer_add(d->c2s, buf, len) == -1)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

/* Client bio recv: from s2c; empty is WANT_READ. */
static int
cli_recv(void *arg, unsigned char *buf, size_t len)
{
	struct duo	*d = arg;
	int		 n;

	if (evbuffer_get_length(d->s2c) == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = evbuffer_remove(d->s2c, buf, len);
	return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

/* A server context (client_ca: file name or NULL) and a client one. */
static void
duo_init(struct duo *d, const char *client_ca, const char *ccert)
{
	char	err[256];

	memset(d, 0, sizeof(*d));
	d->sctx = gt_tls_ctx_server(cpath("server.crt"), cpath("server.key"),
	    client_ca ? cpath(client_ca) : NULL, err, sizeof(err));
	if (d->sctx == NULL)
		fail_msg("server context: %s", err);
	if (ccert != NULL) {
		char	crt[64], key[64];

		snprintf(crt, sizeof(crt), "%s.crt", ccert);
		snprintf(key, sizeof(key), "%s.key", ccert);
		d->cctx = gt_tls_ctx_client(cpath(crt), cpath(key),
		    cpath("ca.crt"), err, sizeof(err));
	} else
		d->cctx = gt_tls_ctx_client(NULL, NULL, cpath("ca.crt"), err,
		    sizeof(err));
	if (d->cctx == NULL)
		fail_msg("client context: %s", err);
	assert_non_null(d->p = gt_tls_pipe_server(d->sctx));
	/* The pipe holds its own reference: the test's may go at once. */
	gt_tls_ctx_unref(d->sctx);
	d->sctx = NULL;
	d->c2s = evbuffer_new();
	d->s2c = evbuffer_new();
	d->plain = evbuffer_new();
	d->hello = evbuffer_new();
	assert_non_null(d->c2s);
	assert_non_null(d->s2c);
	assert_non_null(d->plain);
	assert_non_null(d->hello);
	mbedtls_ssl_init(&d->cssl);
	assert_int_equal(mbedtls_ssl_setup(&d->cssl, &d->cctx->tls_conf), 0);
	assert_int_equal(mbedtls_ssl_set_hostname(&d->cssl, "localhost"), 0);
	mbedtls_ssl_set_bio(&d->cssl, d, cli_send, cli_recv, NULL);
	d->chs = MBEDTLS_ERR_SSL_WANT_READ;
}

static void
duo_free(struct duo *d)
{
	gt_tls_pipe_free(d->p);
	mbedtls_ssl_free(&d->cssl);
	gt_tls_ctx_unref(d->cctx);
	evbuffer_free(d->c2s);
	evbuffer_free(d->s2c);
	evbuffer_free(d->plain);
	evbuffer_free(d->hello);
}

/*
 * Ping-pong the handshake until the client is done and the pipe is ready,
 * or one side fails. Returns 0 when both are done; the pipe's and the
 * client's results stay in d->src and d->chs.
 */
static int
duo_handshake(struct duo *d)
{
	int	i;

	for (i = 0; i < MAX_ROUNDS; i++) {
		if (d->chs == MBEDTLS_ERR_SSL_WANT_READ ||
		    d->chs == MBEDTLS_ERR_SSL_WANT_WRITE)
			d->chs = mbedtls_ssl_handshake(&d->cssl);
		if (i == 0)
			assert_int_equal(evbuffer_add(d->hello,
			    evbuffer_pullup(d->c2s, -1),
			    evbuffer_get_length(d->c2s)), 0);
		d->src = gt_tls_pipe_in(d->p, d->c2s, d->plain, d->s2c, -1);
		if (d->src == GT_TLS_PIPE_ERROR)
			return -1;
		if (d->chs != 0 && d->chs != MBEDTLS_ERR_SSL_WANT_READ &&
		    d->chs != MBEDTLS_ERR_SSL_WANT_WRITE)
			return -1;
		if (d->chs == 0 && gt_tls_pipe_ready(d->p) &&
		    evbuffer_get_length(d->s2c) == 0 &&
		    evbuffer_get_length(d->c2s) == 0)
			return 0;
	}
	fail_msg("handshake did not finish in %d rounds", MAX_ROUNDS);
	return -1;
}

/* Handshake, which must succeed. */
static void
duo_open(struct duo *d, const char *client_ca, const char *ccert)
{
	duo_init(d, client_ca, ccert);
	if (duo_handshake(d) != 0)
		fail_msg("handshake: pipe %d (%s), client -0x%04x", d->src,
		    gt_tls_pipe_error(d->p), (unsigned)-d->chs);
	assert_int_equal(d->src, GT_TLS_PIPE_AGAIN);
	assert_true(gt_tls_pipe_ready(d->p));
	assert_int_equal(evbuffer_get_length(d->plain), 0);
	assert_string_equal(gt_tls_pipe_error(d->p), "no error");
}

/* The client seals len bytes of stream seed from offset off into c2s. */
static void
cli_write(struct duo *d, unsigned seed, size_t off, size_t len)
{
	unsigned char	buf[RECORD];
	size_t		i, n;
	int		ret;

	while (len > 0) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = pattern(seed, off + i);
		ret = mbedtls_ssl_write(&d->cssl, buf, n);
		assert_true(ret > 0);
		off += (size_t)ret;
		len -= (size_t)ret;
	}
}

/* The client reads everything s2c holds; checks it against seed from *off. */
static size_t
cli_read(struct duo *d, unsigned seed, size_t *off)
{
	unsigned char	buf[RECORD];
	size_t		i, got = 0;
	int		ret;

	for (;;) {
		ret = mbedtls_ssl_read(&d->cssl, buf, sizeof(buf));
		if (ret == MBEDTLS_ERR_SSL_WANT_READ)
			break;
		assert_true(ret > 0);
		for (i = 0; i < (size_t)ret; i++)
			if (buf[i] != pattern(seed, *off + i))
				fail_msg("client: byte %zu differs", *off + i);
		*off += (size_t)ret;
		got += (size_t)ret;
	}
	return got;
}

/* Take what plain holds and check it against seed from *off. */
static void
check_plain(struct duo *d, unsigned seed, size_t *off)
{
	unsigned char	buf[4096];
	size_t		i;
	int		n;

	while ((n = evbuffer_remove(d->plain, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern(seed, *off + i))
				fail_msg("pipe: byte %zu differs", *off + i);
		*off += (size_t)n;
	}
}

/* Nothing decrypted is left inside mbedTLS: no new ciphertext, no bytes. */
static void
assert_nothing_held(struct duo *d)
{
	struct evbuffer	*empty;
	size_t		 before = evbuffer_get_length(d->plain);

	assert_non_null(empty = evbuffer_new());
	assert_int_equal(gt_tls_pipe_in(d->p, empty, d->plain, d->s2c, -1),
	    GT_TLS_PIPE_AGAIN);
	assert_int_equal(evbuffer_get_length(d->plain), before);
	evbuffer_free(empty);
}

/* Write a file (a fuzz seed): ctl, chunk, then what buf holds. */
static void
write_seed(const char *dir, const char *name, unsigned char ctl,
    unsigned char chunk, struct evbuffer *buf)
{
	char		 path[512];
	unsigned char	 hdr[2] = { ctl, chunk };
	FILE		*f;
	size_t		 len = evbuffer_get_length(buf);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(hdr, 1, 2, f), 2);
	assert_int_equal(fwrite(evbuffer_pullup(buf, -1), 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The handshake completes, both ways; a short message each way after it. */
static void
test_handshake(void **state)
{
	struct duo	 d;
	const char	*corpus = getenv("GT_TLSPIPE_CORPUS");
	size_t		 off = 0;

	(void)state;
	duo_open(&d, NULL, NULL);
	assert_null(gt_tls_pipe_peer_cn(d.p));	/* no certificate asked */
	assert_true(evbuffer_get_length(d.hello) > 5);
	assert_int_equal(evbuffer_pullup(d.hello, 1)[0], 22);	/* handshake */
	if (corpus != NULL) {
		write_seed(corpus, "client_hello", 0x00, 0, d.hello);
		write_seed(corpus, "client_hello_bytewise", 0x00, 1, d.hello);
		write_seed(corpus, "client_hello_ca_room", 0x01 | (3 << 1) | 0x10,
		    7, d.hello);
	}

	cli_write(&d, 1, 0, 5);
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_AGAIN);
	assert_int_equal(evbuffer_get_length(d.c2s), 0);
	assert_int_equal(evbuffer_get_length(d.s2c), 0);
	check_plain(&d, 1, &off);
	assert_int_equal(off, 5);

	assert_int_equal(evbuffer_add(d.plain, "hello", 5), 0);
	assert_int_equal(gt_tls_pipe_out(d.p, d.plain, 100, d.s2c),
	    GT_TLS_PIPE_AGAIN);
	assert_int_equal(evbuffer_get_length(d.plain), 0);
	{
		unsigned char	buf[16];

		assert_int_equal(mbedtls_ssl_read(&d.cssl, buf, sizeof(buf)), 5);
		assert_memory_equal(buf, "hello", 5);
	}
	duo_free(&d);
}

/*
 * 1 MiB each way, byte-exact: the client's records arrive at the pipe in
 * odd-sized pieces that split records and headers; the pipe seals in
 * odd-sized max steps.
 */
static void
test_mib_both_ways(void **state)
{
	static const size_t	 pieces[] = { 1, 5, 6, 777, 4096, 16389, 40000 };
	struct duo		 d;
	struct evbuffer		*rx;
	size_t			 wrote = 0, got = 0, sealed = 0, cgot = 0;
	size_t			 n, k = 0;
	unsigned char		 chunk[3 * RECORD];
	size_t			 i;

	(void)state;
	duo_open(&d, NULL, NULL);
	assert_non_null(rx = evbuffer_new());
	/* Client to pipe, in client writes of varying size. */
	while (wrote < MIB) {
		n = 1 + (wrote * 31 + 4099) % (2 * RECORD + 17);
		if (n > MIB - wrote)
			n = MIB - wrote;
		cli_write(&d, 7, wrote, n);
		wrote += n;
		while (evbuffer_get_length(d.c2s) > 0) {
			n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
			evbuffer_remove_buffer(d.c2s, rx, n);
			assert_int_equal(gt_tls_pipe_in(d.p, rx, d.plain, d.s2c,
			    -1), GT_TLS_PIPE_AGAIN);
			assert_int_equal(evbuffer_get_length(rx), 0);
			check_plain(&d, 7, &got);
		}
	}
	assert_int_equal(got, MIB);
	assert_int_equal(evbuffer_get_length(d.s2c), 0);

	/* Pipe to client, fed and sealed in pieces. */
	k = 0;
	while (sealed < MIB) {
		n = MIB - sealed - evbuffer_get_length(d.plain);
		if (n > sizeof(chunk))
			n = sizeof(chunk);
		for (i = 0; i < n; i++)
			chunk[i] = pattern(9, sealed + evbuffer_get_length(d.plain) + i);
		assert_int_equal(evbuffer_add(d.plain, chunk, n), 0);
		n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
		{
			size_t before = evbuffer_get_length(d.plain);

			assert_int_equal(gt_tls_pipe_out(d.p, d.plain, n, d.s2c),
			    GT_TLS_PIPE_AGAIN);
			sealed += before - evbuffer_get_length(d.plain);
		}
		cli_read(&d, 9, &cgot);
	}
	assert_int_equal(evbuffer_get_length(d.plain), 0);
	assert_int_equal(cgot, MIB);
	assert_int_equal(evbuffer_get_length(d.c2s), 0);
	evbuffer_free(rx);
	duo_free(&d);
}

/*
 * room bounds what one call adds: never more than room plus less than one
 * record; when a call stops, nothing decrypted is left inside mbedTLS, and
 * the ciphertext it left in rx is enough to get every byte (no new
 * ciphertext is ever added after the client's writes).
 */
static void
test_room(void **state)
{
	static const ssize_t	 rooms[] = { 1, 100, 4096, RECORD - 1, RECORD,
				    RECORD + 1, 50000, 3 * RECORD };
	const size_t		 total = 300 * KIB;
	struct duo		 d;
	size_t			 r, got, before, added;
	int			 calls, short_calls;

	(void)state;
	for (r = 0; r < sizeof(rooms) / sizeof(rooms[0]); r++) {
		duo_open(&d, NULL, NULL);
		cli_write(&d, 3, 0, total);
		/* room 0 adds nothing and consumes nothing it would decrypt. */
		assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, 0),
		    GT_TLS_PIPE_AGAIN);
		assert_int_equal(evbuffer_get_length(d.plain), 0);
		got = 0;
		calls = short_calls = 0;
		while (got < total) {
			before = evbuffer_get_length(d.plain);
			assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain,
			    d.s2c, rooms[r]), GT_TLS_PIPE_AGAIN);
			added = evbuffer_get_length(d.plain) - before;
			if (added > (size_t)rooms[r] &&
			    added - (size_t)rooms[r] >= RECORD)
				fail_msg("room %zd: one call added %zu",
				    rooms[r], added);
			if (added < (size_t)rooms[r]) {
				/* Below room: the ciphertext ran out. */
				short_calls++;
				assert_int_equal(evbuffer_get_length(d.c2s), 0);
			}
			assert_nothing_held(&d);
			check_plain(&d, 3, &got);
			if (++calls > (int)(total / (size_t)rooms[r]) + 4)
				fail_msg("room %zd: no progress", rooms[r]);
		}
		assert_int_equal(got, total);
		assert_true(short_calls <= 1);
		assert_int_equal(evbuffer_get_length(d.c2s), 0);
		/* Split records too: half a record in, half later. */
		cli_write(&d, 4, 0, 10000);
		{
			struct evbuffer	*rx = evbuffer_new();
			size_t		 got2 = 0;

			assert_non_null(rx);
			evbuffer_remove_buffer(d.c2s, rx, 5000);
			assert_int_equal(gt_tls_pipe_in(d.p, rx, d.plain, d.s2c,
			    rooms[r]), GT_TLS_PIPE_AGAIN);
			assert_int_equal(evbuffer_get_length(d.plain), 0);
			assert_int_equal(evbuffer_get_length(rx), 0);
			assert_nothing_held(&d);
			evbuffer_add_buffer(rx, d.c2s);
			while (got2 < 10000) {
				before = got2;
				assert_int_equal(gt_tls_pipe_in(d.p, rx, d.plain,
				    d.s2c, rooms[r]), GT_TLS_PIPE_AGAIN);
				check_plain(&d, 4, &got2);
				assert_true(got2 > before);
			}
			assert_int_equal(evbuffer_get_length(rx), 0);
			evbuffer_free(rx);
		}
		duo_free(&d);
	}
}

/* max bounds what one gt_tls_pipe_out call seals; 0 seals nothing. */
static void
test_out_max(void **state)
{
	static const size_t	 maxes[] = { 0, 1, 5000, RECORD, RECORD + 1,
				    100000 };
	unsigned char		 buf[1000];
	struct duo		 d;
	size_t			 m, i, sent = 0, cgot = 0, before, want;

	(void)state;
	duo_open(&d, NULL, NULL);
	for (m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
		while (evbuffer_get_length(d.plain) < 60000) {
			for (i = 0; i < sizeof(buf); i++)
				buf[i] = pattern(5, sent +
				    evbuffer_get_length(d.plain) + i);
			assert_int_equal(evbuffer_add(d.plain, buf,
			    sizeof(buf)), 0);
		}
		before = evbuffer_get_length(d.plain);
		want = maxes[m] < before ? maxes[m] : before;
		assert_int_equal(gt_tls_pipe_out(d.p, d.plain, maxes[m], d.s2c),
		    GT_TLS_PIPE_AGAIN);
		assert_int_equal(before - evbuffer_get_length(d.plain), want);
		sent += want;
		if (want == 0)
			assert_int_equal(evbuffer_get_length(d.s2c), 0);
		assert_int_equal(cli_read(&d, 5, &cgot), want);
	}
	/* More than plain holds: all of it, and plain is left empty. */
	before = evbuffer_get_length(d.plain);
	assert_int_equal(gt_tls_pipe_out(d.p, d.plain, before + 12345, d.s2c),
	    GT_TLS_PIPE_AGAIN);
	assert_int_equal(evbuffer_get_length(d.plain), 0);
	assert_int_equal(cli_read(&d, 5, &cgot), before);
	assert_int_equal(cgot, sent + before);
	duo_free(&d);
}

/* Before (and during) the handshake, out leaves plain and tx alone. */
static void
test_out_before_handshake(void **state)
{
	struct duo	d;
	int		ret;

	(void)state;
	duo_init(&d, NULL, NULL);
	assert_false(gt_tls_pipe_ready(d.p));
	assert_int_equal(evbuffer_add(d.plain, "early", 5), 0);
	assert_int_equal(gt_tls_pipe_out(d.p, d.plain, 100, d.s2c),
	    GT_TLS_PIPE_AGAIN);
	assert_int_equal(evbuffer_get_length(d.plain), 5);
	assert_int_equal(evbuffer_get_length(d.s2c), 0);

	/* Mid-handshake: the ClientHello is in, the server's flight out. */
	ret = mbedtls_ssl_handshake(&d.cssl);
	assert_int_equal(ret, MBEDTLS_ERR_SSL_WANT_READ);
	{
		struct evbuffer	*p2 = evbuffer_new();

		assert_non_null(p2);
		assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, p2, d.s2c, -1),
		    GT_TLS_PIPE_AGAIN);
		assert_int_equal(evbuffer_get_length(p2), 0);
		evbuffer_free(p2);
	}
	assert_false(gt_tls_pipe_ready(d.p));
	{
		size_t flight = evbuffer_get_length(d.s2c);

		assert_true(flight > 0);
		assert_int_equal(gt_tls_pipe_out(d.p, d.plain, 100, d.s2c),
		    GT_TLS_PIPE_AGAIN);
		assert_int_equal(evbuffer_get_length(d.plain), 5);
		assert_int_equal(evbuffer_get_length(d.s2c), flight);
	}
	duo_free(&d);
}

/* A failed handshake: ERROR with a reason, not ready, no CN, and it stays. */
static void
expect_refused(const char *ccert, const char *why)
{
	struct duo	 d;
	const char	*e;

	duo_init(&d, "ca.crt", ccert);
	assert_int_equal(duo_handshake(&d), -1);
	assert_int_equal(d.src, GT_TLS_PIPE_ERROR);
	e = gt_tls_pipe_error(d.p);
	if (strstr(e, why) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\"",
		    ccert ? ccert : "no certificate", e, why);
	assert_false(gt_tls_pipe_ready(d.p));
	assert_null(gt_tls_pipe_peer_cn(d.p));
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_ERROR);
	assert_int_equal(evbuffer_add(d.plain, "x", 1), 0);
	assert_int_equal(gt_tls_pipe_out(d.p, d.plain, 100, d.s2c),
	    GT_TLS_PIPE_ERROR);
	assert_int_equal(evbuffer_get_length(d.plain), 1);
	duo_free(&d);
}

/* With a client CA: who gets in and who does not. */
static void
test_client_ca(void **state)
{
	struct duo	d;
	size_t		off = 0;

	(void)state;
	duo_open(&d, "ca.crt", "client");
	assert_non_null(gt_tls_pipe_peer_cn(d.p));
	assert_string_equal(gt_tls_pipe_peer_cn(d.p), "alice-1");
	cli_write(&d, 2, 0, 3000);
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_AGAIN);
	check_plain(&d, 2, &off);
	assert_int_equal(off, 3000);
	duo_free(&d);

	expect_refused(NULL, "handshake failed");
	expect_refused("anyeku", "extended key usage clientAuth");
	expect_refused("catrue", "is a CA");
	expect_refused("foreign", "handshake failed");
}

/* Garbage in place of records: ERROR with a message, and it stays. */
static void
garbage(int after_handshake)
{
	/* Not even a record header: content type 0xde. */
	static const unsigned char	 junk[] = {
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
	};
	struct duo	 d;
	const char	*e;
	char		 why[200];
	size_t		 off = 0;

	if (after_handshake) {
		duo_open(&d, NULL, NULL);
		cli_write(&d, 6, 0, 100);	/* good data first, then junk */
	} else
		duo_init(&d, NULL, NULL);
	assert_int_equal(evbuffer_add(d.c2s, junk, sizeof(junk)), 0);
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_ERROR);
	e = gt_tls_pipe_error(d.p);
	assert_non_null(e);
	assert_true(strlen(e) > 0);
	assert_string_not_equal(e, "no error");
	assert_non_null(strstr(e, after_handshake ? "record error" :
	    "handshake failed"));
	snprintf(why, sizeof(why), "%s", e);
	if (after_handshake) {
		check_plain(&d, 6, &off);
		assert_int_equal(off, 100);
	}
	assert_false(gt_tls_pipe_ready(d.p));
	/* Later calls: ERROR, whatever comes, and the same reason. */
	{
		size_t plen = evbuffer_get_length(d.plain);

		assert_int_equal(evbuffer_add(d.c2s, junk, sizeof(junk)), 0);
		assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
		    GT_TLS_PIPE_ERROR);
		assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, 10),
		    GT_TLS_PIPE_ERROR);
		assert_int_equal(evbuffer_add(d.plain, "abc", 3), 0);
		assert_int_equal(gt_tls_pipe_out(d.p, d.plain, 100, d.s2c),
		    GT_TLS_PIPE_ERROR);
		assert_int_equal(evbuffer_get_length(d.plain), plen + 3);
		assert_string_equal(gt_tls_pipe_error(d.p), why);
	}
	duo_free(&d);
}

static void
test_garbage_handshake(void **state)
{
	(void)state;
	garbage(0);
}

static void
test_garbage_records(void **state)
{
	(void)state;
	garbage(1);
}

/* A bit flipped in a real record fails its authentication. */
static void
test_tampered_record(void **state)
{
	struct duo	 d;
	unsigned char	*b;

	(void)state;
	duo_open(&d, NULL, NULL);
	cli_write(&d, 8, 0, 200);
	b = evbuffer_pullup(d.c2s, -1);
	b[evbuffer_get_length(d.c2s) - 3] ^= 0x40;
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_ERROR);
	assert_int_equal(evbuffer_get_length(d.plain), 0);
	assert_non_null(strstr(gt_tls_pipe_error(d.p), "record error"));
	duo_free(&d);
}

/* close_notify: the data before it arrives, then EOF, and EOF stays. */
static void
test_close_notify(void **state)
{
	struct duo	d;
	size_t		off = 0;

	(void)state;
	duo_open(&d, NULL, NULL);
	cli_write(&d, 4, 0, 20000);
	assert_int_equal(mbedtls_ssl_close_notify(&d.cssl), 0);
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_EOF);
	check_plain(&d, 4, &off);
	assert_int_equal(off, 20000);
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_EOF);
	assert_int_equal(evbuffer_get_length(d.plain), 0);
	duo_free(&d);

	/* With room: the data comes in bounded calls, EOF after all of it. */
	duo_open(&d, NULL, NULL);
	cli_write(&d, 4, 0, 50000);
	assert_int_equal(mbedtls_ssl_close_notify(&d.cssl), 0);
	off = 0;
	while (gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, 1000) ==
	    GT_TLS_PIPE_AGAIN) {
		check_plain(&d, 4, &off);
		assert_true(off < 50000);
	}
	check_plain(&d, 4, &off);
	assert_int_equal(off, 50000);
	assert_int_equal(gt_tls_pipe_in(d.p, d.c2s, d.plain, d.s2c, -1),
	    GT_TLS_PIPE_EOF);
	duo_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_mib_both_ways),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_out_max),
		cmocka_unit_test(test_out_before_handshake),
		cmocka_unit_test(test_client_ca),
		cmocka_unit_test(test_garbage_handshake),
		cmocka_unit_test(test_garbage_records),
		cmocka_unit_test(test_tampered_record),
		cmocka_unit_test(test_close_notify),
	};

	return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
