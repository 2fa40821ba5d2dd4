/*
 * fuzz_io_tlspipe.c: libFuzzer target for the server-side TLS pipe
 * (tls_pipe.h), in memory. The input is the client's ciphertext, fed in
 * chunks into a fresh pipe, with gt_tls_pipe_in and gt_tls_pipe_out called
 * after each; then everything is freed: a leak, a use after free or an
 * overflow is a finding (ASan in fuzz builds), and so is a broken promise
 * of the header (abort): room overshot by a record or more, decrypted bytes
 * left inside mbedTLS, ERROR without a reason or not sticky, plaintext
 * sealed before the handshake.
 *
 * The TLS contexts are made once, at the first call, from a self-signed
 * P-256 certificate generated with mbedTLS into a temporary directory
 * (removed at once): no key material in the tree.
 *
 * Input: byte 0 is control: bit 0 the context asks for a client
 * certificate (signed by that same self-signed one); bits 1-3 room per
 * call (-1, 0, 1, 100, 4096, 16383, 16384, 65536); bit 4 plaintext waits
 * to be sealed (gt_tls_pipe_out after every call); bits 5-6 max of out (0,
 * 1, 1000, unbounded); bit 7 an in-process mbedTLS client first completes
 * a real handshake, and then the rest of the input is its plaintext,
 * sealed into valid records chunk by chunk (a client-CA context refuses
 * that client, which has no certificate). Byte 1: chunk size (0: all at
 * once); with bit 7, an odd byte 1 ends with the client's close_notify.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "gt/endpoint.h"
#include "gt/tls_pipe.h"
#include "tls_local.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_RECORD	16384	/* largest plaintext of one record */
#define FUZZ_PASSES	16	/* gt_tls_pipe_in calls per chunk, at most */
#define FUZZ_ROUNDS	32	/* handshake ping-pongs, at most */

static struct gt_tls_ctx	*fuzz_srv;	/* no client certificate asked */
static struct gt_tls_ctx	*fuzz_srv_ca;	/* client certificate required */
static struct gt_tls_ctx	*fuzz_cli;

/* Write len bytes of buf to dir/name with mode. */
static int
fuzz_write(const char *dir, const char *name, const unsigned char *buf,
    size_t len, mode_t mode)
{
	char	path[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)) == -1)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* A self-signed P-256 certificate for localhost into dir (crt, key). */
static int
fuzz_make_cert(const char *dir)
{
	static const char	 pers[] = "fuzz_io_tlspipe";
	mbedtls_entropy_context	 ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context	 key;
	mbedtls_x509write_cert	 crt;
	mbedtls_mpi		 serial;
	unsigned char		 pem[4096];
	int			 ok = -1;

	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
	    (const unsigned char *)pers, sizeof(pers) - 1) != 0 ||
	    mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
	    mbedtls_ctr_drbg_random, &drbg) != 0 ||
	    mbedtls_mpi_lset(&serial, 1) != 0)
		goto out;
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_x509write_crt_set_subject_name(&crt, "CN=localhost") != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, "CN=localhost") != 0 ||
	    mbedtls_x509write_crt_set_serial(&crt, &serial) != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, "20000101000000",
	    "20991231235959") != 0 ||
	    mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) != 0 ||
	    mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem),
	    mbedtls_ctr_drbg_random, &drbg) != 0 ||
	    fuzz_write(dir, "c.crt", pem, strlen((char *)pem), 0644) != 0 ||
	    mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)) != 0 ||
	    fuzz_write(dir, "c.key", pem, strlen((char *)pem), 0600) != 0)
		goto out;
	ok = 0;
out:
	mbedtls_platform_zeroize(pem, sizeof(pem));
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return ok;
}

/* The contexts, once; any failure here is the harness's, so abort. */
static void
fuzz_init(void)
{
	char	dir[] = "/tmp/gt-fuzz-tlspipe-XXXXXX";
	char	crt[64], key[64], err[256];

	if (fuzz_srv != NULL)
		return;
	if (mkdtemp(dir) == NULL || fuzz_make_cert(dir) != 0) {
		fprintf(stderr, "fuzz_io_tlspipe: cannot make a certificate\n");
		abort();
	}
	snprintf(crt, sizeof(crt), "%s/c.crt", dir);
	snprintf(key, sizeof(key), "%s/c.key", dir);
	fuzz_srv = gt_tls_ctx_server(crt, key, NULL, err, sizeof(err));
	if (fuzz_srv != NULL)
		fuzz_srv_ca = gt_tls_ctx_server(crt, key, crt, err, sizeof(err));
	if (fuzz_srv_ca != NULL)
		fuzz_cli = gt_tls_ctx_client(NULL, NULL, crt, err, sizeof(err));
	unlink(crt);
	unlink(key);
	rmdir(dir);
	if (fuzz_cli == NULL) {
		fprintf(stderr, "fuzz_io_tlspipe: %s\n", err);
		abort();
	}
}

/* The in-process client's bio: c2s out, s2c in. */
struct fuzz_cli {
	mbedtls_ssl_context	 ssl;
	struct evbuffer		*c2s, *s2c;
};

static int
fuzz_cli_send(void *arg, const unsigned char *buf, size_t len)
{
	struct fuzz_cli *c = arg;

	if (evbuffer_add(c->c2s, buf, len) == -1)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

static int
fuzz_cli_recv(void *arg, unsigned char *buf, size_t len)
{
	struct fuzz_cli	*c = arg;
	int		 n;

	if (evbuffer_get_length(c->s2c) == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = evbuffer_remove(c->s2c, buf, len);
	return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

/*
 * A whole round of the pipe on what rx holds; checks the header's
 * promises. Returns the pipe's result.
 */
static enum gt_tls_pipe_rc
fuzz_in(struct gt_tls_pipe *p, struct evbuffer *rx, struct evbuffer *plain,
    struct evbuffer *tx, ssize_t room)
{
	struct evbuffer		*empty;
	enum gt_tls_pipe_rc	 rc = GT_TLS_PIPE_AGAIN;
	size_t			 before, added;
	int			 pass;

	for (pass = 0; pass < FUZZ_PASSES; pass++) {
		before = evbuffer_get_length(plain);
		rc = gt_tls_pipe_in(p, rx, plain, tx, room);
		added = evbuffer_get_length(plain) - before;
		if (room >= 0 && added >= (size_t)room + FUZZ_RECORD)
			abort();	/* overshot room by a record */
		if (rc == GT_TLS_PIPE_AGAIN) {
			/* Nothing decrypted may be left inside mbedTLS. */
			if ((empty = evbuffer_new()) == NULL)
				abort();
			before = evbuffer_get_length(plain);
			rc = gt_tls_pipe_in(p, empty, plain, tx, -1);
			if (evbuffer_get_length(plain) != before)
				abort();
			evbuffer_free(empty);
		}
		evbuffer_drain(plain, evbuffer_get_length(plain));
		if (rc == GT_TLS_PIPE_ERROR) {
			const char *e = gt_tls_pipe_error(p);

			if (e == NULL || e[0] == '\0' ||
			    strcmp(e, "no error") == 0 || gt_tls_pipe_ready(p))
				abort();
			if (gt_tls_pipe_in(p, rx, plain, tx, room) !=
			    GT_TLS_PIPE_ERROR ||
			    evbuffer_get_length(plain) != 0)
				abort();	/* ERROR is for good */
			break;
		}
		if (rc == GT_TLS_PIPE_EOF && gt_tls_pipe_in(p, rx, plain, tx,
		    room) != GT_TLS_PIPE_EOF)
			abort();	/* so is EOF */
		if (rc != GT_TLS_PIPE_AGAIN || evbuffer_get_length(rx) == 0)
			break;
	}
	return rc;
}

/* Seal up to max of out; before the handshake nothing may move. */
static void
fuzz_out(struct gt_tls_pipe *p, struct evbuffer *out, size_t max,
    struct evbuffer *tx)
{
	size_t	olen = evbuffer_get_length(out), tlen = evbuffer_get_length(tx);
	int	ready = gt_tls_pipe_ready(p);
	enum gt_tls_pipe_rc rc;

	rc = gt_tls_pipe_out(p, out, max, tx);
	if (!ready && (evbuffer_get_length(out) != olen ||
	    evbuffer_get_length(tx) != tlen))
		abort();
	if (olen - evbuffer_get_length(out) > max)
		abort();
	if (rc == GT_TLS_PIPE_EOF)
		abort();	/* out never reports EOF */
}

/* Handshake with the in-process client; 0 when both sides are done. */
static int
fuzz_handshake(struct fuzz_cli *c, struct gt_tls_pipe *p,
    struct evbuffer *plain)
{
	int	i, ret = MBEDTLS_ERR_SSL_WANT_READ;

	for (i = 0; i < FUZZ_ROUNDS; i++) {
		if (ret == MBEDTLS_ERR_SSL_WANT_READ)
			ret = mbedtls_ssl_handshake(&c->ssl);
		if (ret != 0 && ret != MBEDTLS_ERR_SSL_WANT_READ)
			return -1;
		if (gt_tls_pipe_in(p, c->c2s, plain, c->s2c, -1) ==
		    GT_TLS_PIPE_ERROR)
			return -1;
		if (ret == 0 && gt_tls_pipe_ready(p))
			return 0;
	}
	return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ssize_t	 rooms[8] = { -1, 0, 1, 100, 4096, 16383,
				    16384, 65536 };
	static const size_t	 maxes[4] = { 0, 1, 1000, SIZE_MAX };
	static unsigned char	 filler[3000];
	struct fuzz_cli		 c;
	struct gt_tls_pipe	*p;
	struct evbuffer		*rx, *plain, *tx, *out;
	enum gt_tls_pipe_rc	 rc = GT_TLS_PIPE_AGAIN;
	uint8_t			 ctl, chunk;
	size_t			 off, n, max;
	ssize_t			 room;
	int			 client, opened = 0;

	if (size < 2)
		return 0;
	fuzz_init();
	ctl = data[0];
	chunk = data[1];
	data += 2;
	size -= 2;
	room = rooms[(ctl >> 1) & 7];
	max = maxes[(ctl >> 5) & 3];
	client = (ctl & 0x80) != 0;

	if ((p = gt_tls_pipe_server((ctl & 1) ? fuzz_srv_ca : fuzz_srv)) == NULL)
		return 0;
	rx = evbuffer_new();
	plain = evbuffer_new();
	tx = evbuffer_new();
	out = evbuffer_new();
	if (rx == NULL || plain == NULL || tx == NULL || out == NULL)
		abort();
	memset(&c, 0, sizeof(c));
	mbedtls_ssl_init(&c.ssl);
	if (client) {
		c.c2s = rx;
		c.s2c = tx;
		if (mbedtls_ssl_setup(&c.ssl, &fuzz_cli->tls_conf) != 0 ||
		    mbedtls_ssl_set_hostname(&c.ssl, "localhost") != 0)
			abort();
		mbedtls_ssl_set_bio(&c.ssl, &c, fuzz_cli_send, fuzz_cli_recv,
		    NULL);
		opened = fuzz_handshake(&c, p, plain) == 0;
		if ((ctl & 1) == 0 && !opened)
			abort();	/* no client certificate asked: must work */
		evbuffer_drain(tx, evbuffer_get_length(tx));
		evbuffer_drain(plain, evbuffer_get_length(plain));
	}

	for (off = 0; off < size && rc != GT_TLS_PIPE_ERROR; off += n) {
		n = chunk == 0 ? size - off : chunk;
		if (n > size - off)
			n = size - off;
		if (opened) {
			/* Valid records of the fuzz bytes, as the client's data. */
			size_t	 done = 0;
			int	 ret;

			while (done < n) {
				ret = mbedtls_ssl_write(&c.ssl, data + off + done,
				    n - done);
				if (ret <= 0)
					abort();
				done += (size_t)ret;
			}
		} else if (evbuffer_add(rx, data + off, n) == -1)
			abort();
		if (ctl & 0x10)
			evbuffer_add(out, filler, sizeof(filler));
		rc = fuzz_in(p, rx, plain, tx, room);
		if (ctl & 0x10)
			fuzz_out(p, out, max, tx);
		evbuffer_drain(tx, evbuffer_get_length(tx));
	}
	if (opened && (chunk & 1) && rc == GT_TLS_PIPE_AGAIN && room != 0) {
		if (mbedtls_ssl_close_notify(&c.ssl) != 0)
			abort();
		while ((rc = fuzz_in(p, rx, plain, tx, room)) == GT_TLS_PIPE_AGAIN &&
		    evbuffer_get_length(rx) > 0)
			;
		if (room != 0 && rc != GT_TLS_PIPE_EOF)
			abort();	/* close_notify must end it */
	}
	(void)gt_tls_pipe_ready(p);
	(void)gt_tls_pipe_peer_cn(p);
	(void)gt_tls_pipe_error(p);

	mbedtls_ssl_free(&c.ssl);
	gt_tls_pipe_free(p);
	evbuffer_free(rx);
	evbuffer_free(plain);
	evbuffer_free(tx);
	evbuffer_free(out);
	return 0;
}
