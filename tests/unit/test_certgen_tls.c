/* test_certgen_tls.c: mutual TLS 1.2 with mbedTLS between pairs gt-certgen made, and refusals. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
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

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "gt/certgen.h"

/* The folders every test reads: two CAs with their pairs, made once. */
static char	tls_dir[64];
static char	tls_dir2[64];

/* A certificate with its key, loaded from files. */
struct pair {
	mbedtls_x509_crt	crt;
	mbedtls_pk_context	key;
};

/* One end of a connection. */
struct end {
	mbedtls_ssl_config	conf;
	mbedtls_ssl_context	ssl;
	int			fd;
	int			done;		/* handshake finished */
	int			ret;		/* last handshake result */
	int			eku_refused;	/* the verify callback refused the EKU */
};

static mbedtls_entropy_context	tls_entropy;
static mbedtls_ctr_drbg_context	tls_drbg;

/* Write the files of one pair issued from a CA loaded from cadir. */
static void
make_leaf(const char *dir, const char *cadir, enum gt_certgen_cmd cmd,
    const char *cn)
{
	struct gt_certgen_opts	o;
	char			err[GT_CERTGEN_ERRLEN];

	memset(&o, 0, sizeof(o));
	o.o_out = dir;
	o.o_ca = cadir;
	o.o_cn = cn;
	if (gt_certgen_run(cmd, &o, err, sizeof(err)) != 0)
		fail_msg("certgen %s: %s", cn, err);
}

/*
 * Write DIR/expired.crt and .key: a client certificate from DIR's CA
 * whose validity ended yesterday, made with the same writer.
 */
static void
make_expired(const char *dir)
{
	struct gt_certgen_rng	r;
	struct gt_certgen_req	req = { .req_kind = GT_CERTGEN_CLIENT,
				    .req_cn = "expired" };
	struct gt_certgen_file	f[2];
	mbedtls_x509_crt	ca;
	mbedtls_pk_context	cakey, key;
	unsigned char		crt[GT_CERTGEN_PEM_MAX], kpem[GT_CERTGEN_PEM_MAX];
	size_t			crtlen, keylen;
	char			err[GT_CERTGEN_ERRLEN];
	time_t			now = time(NULL);

	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&cakey);
	mbedtls_pk_init(&key);
	assert_int_equal(gt_certgen_ca_load(dir, &ca, &cakey, err, sizeof(err)), 0);
	assert_int_equal(gt_certgen_rng_init(&r, err, sizeof(err)), 0);
	assert_int_equal(gt_certgen_key_generate(&key, GT_CERTGEN_KEY_EC256, &r,
	    err, sizeof(err)), 0);
	req.req_not_before = now - 10 * 86400;
	req.req_not_after = now - 86400;
	if (gt_certgen_issue(&req, &key, &ca, &cakey, &r, crt, sizeof(crt),
	    &crtlen, err, sizeof(err)) != 0)
		fail_msg("issue expired: %s", err);
	assert_int_equal(gt_certgen_key_pem(&key, kpem, sizeof(kpem), &keylen,
	    err, sizeof(err)), 0);
	f[0] = (struct gt_certgen_file){ "expired.crt", crt, crtlen, 0 };
	f[1] = (struct gt_certgen_file){ "expired.key", kpem, keylen, 1 };
	assert_int_equal(gt_certgen_write_files(dir, f, 2, 0, err, sizeof(err)), 0);
	gt_certgen_rng_free(&r);
	mbedtls_pk_free(&key);
	mbedtls_pk_free(&cakey);
	mbedtls_x509_crt_free(&ca);
}

/* Make both CAs and their pairs in temp folders. */
static int
setup(void **state)
{
	struct gt_certgen_opts	o;
	char			err[GT_CERTGEN_ERRLEN];

	(void)state;
	mbedtls_entropy_init(&tls_entropy);
	mbedtls_ctr_drbg_init(&tls_drbg);
	if (mbedtls_ctr_drbg_seed(&tls_drbg, mbedtls_entropy_func, &tls_entropy,
	    NULL, 0) != 0)
		return -1;
	snprintf(tls_dir, sizeof(tls_dir), "/tmp/test_certgen_tls.XXXXXX");
	snprintf(tls_dir2, sizeof(tls_dir2), "/tmp/test_certgen_tls2.XXXXXX");
	if (mkdtemp(tls_dir) == NULL || mkdtemp(tls_dir2) == NULL)
		return -1;
	/* CA 1 with server.*, client.* (init) and alice.*, expired.*. */
	memset(&o, 0, sizeof(o));
	o.o_out = tls_dir;
	if (gt_certgen_run(GT_CERTGEN_CMD_INIT, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "init: %s\n", err);
		return -1;
	}
	make_leaf(tls_dir, tls_dir, GT_CERTGEN_CMD_CLIENT, "alice");
	make_expired(tls_dir);
	/* CA 2 (same CN "gt CA", other key) with its own client "mallory". */
	o.o_out = tls_dir2;
	if (gt_certgen_run(GT_CERTGEN_CMD_CA, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "ca: %s\n", err);
		return -1;
	}
	make_leaf(tls_dir2, tls_dir2, GT_CERTGEN_CMD_CLIENT, "mallory");
	return 0;
}

/* Remove the files of a folder made by setup, then the folder. */
static void
rm_dir(const char *path)
{
	char		 sub[512];
	struct dirent	*e;
	DIR		*d;

	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
		    strcmp(e->d_name, "..") == 0))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

/* Remove the folders and the random source of setup. */
static int
teardown(void **state)
{
	(void)state;
	rm_dir(tls_dir);
	rm_dir(tls_dir2);
	mbedtls_ctr_drbg_free(&tls_drbg);
	mbedtls_entropy_free(&tls_entropy);
	return 0;
}

/* Load dir/name.crt and dir/name.key. */
static void
pair_load(struct pair *p, const char *dir, const char *name)
{
	char	path[256];

	mbedtls_x509_crt_init(&p->crt);
	mbedtls_pk_init(&p->key);
	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	assert_int_equal(mbedtls_x509_crt_parse_file(&p->crt, path), 0);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	assert_int_equal(mbedtls_pk_parse_keyfile(&p->key, path, NULL), 0);
}

/* Free a pair loaded by pair_load. */
static void
pair_free(struct pair *p)
{
	mbedtls_x509_crt_free(&p->crt);
	mbedtls_pk_free(&p->key);
}

/* Non-blocking send over the socketpair. */
static int
bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct end	*e = ctx;
	ssize_t		 n;

	n = send(e->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

/* Non-blocking receive over the socketpair. */
static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct end	*e = ctx;
	ssize_t		 n;

	n = recv(e->fd, buf, len, 0);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* The server's check of the client certificate: it must carry clientAuth. */
static int
verify_client_eku(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct end	*e = ctx;

	if (depth == 0 && mbedtls_x509_crt_check_extended_key_usage(crt,
	    MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
		*flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
		e->eku_refused = 1;
	}
	return 0;
}

/* Configure one end with its pair and the CA it trusts. */
static void
end_setup(struct end *e, int endpoint, int fd, mbedtls_x509_crt *ca,
    struct pair *own, const char *hostname)
{
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	e->ret = MBEDTLS_ERR_SSL_WANT_READ;
	mbedtls_ssl_config_init(&e->conf);
	mbedtls_ssl_init(&e->ssl);
	assert_int_equal(mbedtls_ssl_config_defaults(&e->conf, endpoint,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_min_version(&e->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&e->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_rng(&e->conf, mbedtls_ctr_drbg_random, &tls_drbg);
	mbedtls_ssl_conf_authmode(&e->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&e->conf, ca, NULL);
	assert_int_equal(mbedtls_ssl_conf_own_cert(&e->conf, &own->crt,
	    &own->key), 0);
	if (endpoint == MBEDTLS_SSL_IS_SERVER)
		mbedtls_ssl_conf_verify(&e->conf, verify_client_eku, e);
	assert_int_equal(mbedtls_ssl_setup(&e->ssl, &e->conf), 0);
	if (hostname != NULL)
		assert_int_equal(mbedtls_ssl_set_hostname(&e->ssl, hostname), 0);
	mbedtls_ssl_set_bio(&e->ssl, e, bio_send, bio_recv, NULL);
}

/* Free one end and close its socket. */
static void
end_free(struct end *e)
{
	mbedtls_ssl_free(&e->ssl);
	mbedtls_ssl_config_free(&e->conf);
	close(e->fd);
}

/* Step one end's handshake once; 1 while it still wants to go on. */
static int
end_step(struct end *e)
{
	if (e->done || (e->ret != MBEDTLS_ERR_SSL_WANT_READ &&
	    e->ret != MBEDTLS_ERR_SSL_WANT_WRITE))
		return 0;
	e->ret = mbedtls_ssl_handshake(&e->ssl);
	if (e->ret == 0)
		e->done = 1;
	return 1;
}

/* Whether an end's handshake stopped with an error. */
static int
end_failed(const struct end *e)
{
	return !e->done && e->ret != MBEDTLS_ERR_SSL_WANT_READ &&
	    e->ret != MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* The outcome of one handshake. */
struct result {
	int		ok;		/* both ends finished */
	int		srv_ret, cli_ret;
	uint32_t	srv_flags;	/* the server's verdict on the client cert */
	uint32_t	cli_flags;	/* the client's verdict on the server cert */
	int		eku_refused;
};

/*
 * Handshake between a server holding srvname and a client holding
 * cliname (dir/NAME.crt, .key), each trusting its own CA folder.
 */
static struct result
handshake(const char *srvdir, const char *srvname, const char *clidir,
    const char *cliname, const char *hostname)
{
	struct result		 r;
	struct pair		 sp, cp;
	struct end		 s, c;
	mbedtls_x509_crt	 sca, cca;
	char			 path[256];
	int			 sv[2], i, moved;

	memset(&r, 0, sizeof(r));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	pair_load(&sp, srvdir, srvname);
	pair_load(&cp, clidir, cliname);
	mbedtls_x509_crt_init(&sca);
	mbedtls_x509_crt_init(&cca);
	/* The server trusts CA 1 only; the client trusts the server's CA. */
	snprintf(path, sizeof(path), "%s/ca.crt", tls_dir);
	assert_int_equal(mbedtls_x509_crt_parse_file(&sca, path), 0);
	snprintf(path, sizeof(path), "%s/ca.crt", srvdir);
	assert_int_equal(mbedtls_x509_crt_parse_file(&cca, path), 0);
	end_setup(&s, MBEDTLS_SSL_IS_SERVER, sv[0], &sca, &sp, NULL);
	end_setup(&c, MBEDTLS_SSL_IS_CLIENT, sv[1], &cca, &cp, hostname);

	/*
	 * Alternate steps until both are done or one has failed; a stall
	 * (both waiting to read) runs into the bound and fails the test.
	 */
	for (i = 0; i < 1000; i++) {
		moved = end_step(&c);
		moved |= end_step(&s);
		if (!moved || end_failed(&s) || end_failed(&c))
			break;
	}
	assert_true(i < 1000);
	r.ok = s.done && c.done;
	r.srv_ret = s.ret;
	r.cli_ret = c.ret;
	r.srv_flags = mbedtls_ssl_get_verify_result(&s.ssl);
	r.cli_flags = mbedtls_ssl_get_verify_result(&c.ssl);
	r.eku_refused = s.eku_refused;
	if (r.ok) {
		/* The server sees the client's certificate and its clientAuth. */
		const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&s.ssl);

		assert_non_null(peer);
		assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(peer,
		    MBEDTLS_OID_CLIENT_AUTH,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
		assert_int_equal(peer->raw.len, cp.crt.raw.len);
		assert_string_equal(mbedtls_ssl_get_version(&s.ssl), "TLSv1.2");
	}
	end_free(&s);
	end_free(&c);
	mbedtls_x509_crt_free(&sca);
	mbedtls_x509_crt_free(&cca);
	pair_free(&sp);
	pair_free(&cp);
	return r;
}

/* (a) The pairs init made, and a client added later, complete mutual TLS. */
static void
test_good_pair(void **state)
{
	struct result	r;

	(void)state;
	r = handshake(tls_dir, "server", tls_dir, "client", "localhost");
	if (!r.ok)
		fail_msg("handshake failed: server -0x%x client -0x%x flags %x/%x",
		    (unsigned)-r.srv_ret, (unsigned)-r.cli_ret, r.srv_flags,
		    r.cli_flags);
	assert_int_equal(r.srv_flags, 0);
	assert_int_equal(r.cli_flags, 0);
	r = handshake(tls_dir, "server", tls_dir, "alice", "localhost");
	assert_true(r.ok);
}

/* (b) A client pair from a second CA (even with the same CA name) is refused. */
static void
test_other_ca_refused(void **state)
{
	struct result	r;

	(void)state;
	r = handshake(tls_dir, "server", tls_dir2, "mallory", "localhost");
	assert_false(r.ok);
	assert_int_equal(r.srv_ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_true(r.srv_flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
}

/* (c) The server certificate used as a client certificate is refused: EKU. */
static void
test_server_cert_as_client_refused(void **state)
{
	struct result	r;

	(void)state;
	r = handshake(tls_dir, "server", tls_dir, "server", "localhost");
	assert_false(r.ok);
	assert_int_not_equal(r.srv_ret, 0);
	assert_true(r.srv_flags & MBEDTLS_X509_BADCERT_EXT_KEY_USAGE);
	assert_true(r.eku_refused);
	/* It chains fine: the EKU is the only thing wrong with it. */
	assert_false(r.srv_flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
}

/* (d) An expired client certificate from the right CA is refused. */
static void
test_expired_refused(void **state)
{
	struct result	r;

	(void)state;
	r = handshake(tls_dir, "server", tls_dir, "expired", "localhost");
	assert_false(r.ok);
	assert_int_equal(r.srv_ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_true(r.srv_flags & MBEDTLS_X509_BADCERT_EXPIRED);
	assert_false(r.srv_flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	assert_false(r.eku_refused);
}

/* (e) The client checks the server's name: localhost passes, another fails. */
static void
test_server_name(void **state)
{
	struct result	r;

	(void)state;
	r = handshake(tls_dir, "server", tls_dir, "client", "localhost");
	assert_true(r.ok);
	r = handshake(tls_dir, "server", tls_dir, "client", "wrong.example");
	assert_false(r.ok);
	assert_int_equal(r.cli_ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_true(r.cli_flags & MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

/* Run the handshakes against the pairs setup made. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_pair),
		cmocka_unit_test(test_other_ca_refused),
		cmocka_unit_test(test_server_cert_as_client_refused),
		cmocka_unit_test(test_expired_refused),
		cmocka_unit_test(test_server_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
