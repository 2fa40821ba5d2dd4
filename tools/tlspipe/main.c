/*
 * gt-tlspipe: the ceiling gt's tunnel is measured against. A bare mbedTLS
 * mutual-TLS 1.2 connection between two processes (blocking sockets, no
 * libevent, no gt transport) and one core's raw AEAD seal speed.
 *
 *   gt-tlspipe server -listen 127.0.0.1:PORT -cert F -key F -ca F
 *   gt-tlspipe client -connect 127.0.0.1:PORT -cert F -key F -ca F
 *	[-bytes N] [-cipher chacha|aes128] [-server-name NAME]
 *   gt-tlspipe seal -cipher chacha|aes128 [-seconds N]
 *
 * The client and seal print one line "MB/s <float> cipher <name>"
 * (MB = 10^6 bytes).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/cipher.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "gt/flags.h"
#include "gt/log.h"

#define PIPE_RECORD	16384

static const char *prog = "gt-tlspipe";

static const int pipe_suites_all[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0
};
static const int pipe_suites_chacha[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0
};
static const int pipe_suites_aes128[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	0
};

/* Everything one endpoint needs. */
struct pipe_tls {
	mbedtls_ssl_config		conf;
	mbedtls_x509_crt		cert, ca;
	mbedtls_pk_context		key;
	mbedtls_entropy_context		entropy;
	mbedtls_ctr_drbg_context	drbg;
};

/* Seconds on the monotonic clock. */
static double
pipe_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Print an mbedTLS error and exit 1. */
static void __attribute__((noreturn))
pipe_die(const char *what, int ret)
{
	char	e[160];

	mbedtls_strerror(ret, e, sizeof(e));
	log_errorx("tlspipe", "%s: %s", what, e);
	exit(1);
}

/* Split "host:port" or "[v6]:port" into its parts (in place). */
static int
pipe_split(char *addr, char **host, char **port)
{
	char	*colon;

	if ((colon = strrchr(addr, ':')) == NULL || colon[1] == '\0')
		return -1;
	*colon = '\0';
	*port = colon + 1;
	*host = addr;
	if (addr[0] == '[') {
		size_t n = strlen(addr);

		if (n < 2 || addr[n - 1] != ']')
			return -1;
		addr[n - 1] = '\0';
		*host = addr + 1;
	}
	return 0;
}

/* Load material and configure TLS 1.2 with mutual verification. */
static void
pipe_tls_init(struct pipe_tls *t, int server, const char *cert,
    const char *key, const char *ca, const int *suites)
{
	int	ret;

	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->cert);
	mbedtls_x509_crt_init(&t->ca);
	mbedtls_pk_init(&t->key);
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	if ((ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func,
	    &t->entropy, (const unsigned char *)"tlspipe", 7)) != 0)
		pipe_die("random seed", ret);
	if ((ret = mbedtls_x509_crt_parse_file(&t->cert, cert)) != 0)
		pipe_die(cert, ret);
	if ((ret = mbedtls_pk_parse_keyfile(&t->key, key, NULL)) != 0)
		pipe_die(key, ret);
	if ((ret = mbedtls_x509_crt_parse_file(&t->ca, ca)) != 0)
		pipe_die(ca, ret);
	if ((ret = mbedtls_ssl_config_defaults(&t->conf,
	    server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		pipe_die("ssl config", ret);
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert,
	    &t->key)) != 0)
		pipe_die("own certificate", ret);
}

/* Release what pipe_tls_init made. */
static void
pipe_tls_free(struct pipe_tls *t)
{
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->cert);
	mbedtls_x509_crt_free(&t->ca);
	mbedtls_pk_free(&t->key);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
}

/* Handshake, reporting verify flags on failure; 0 on success. */
static int
pipe_handshake(mbedtls_ssl_context *ssl)
{
	char		e[160], v[512];
	uint32_t	flags;
	int		ret;

	while ((ret = mbedtls_ssl_handshake(ssl)) != 0) {
		if (ret == MBEDTLS_ERR_SSL_WANT_READ ||
		    ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		mbedtls_strerror(ret, e, sizeof(e));
		v[0] = '\0';
		if ((flags = mbedtls_ssl_get_verify_result(ssl)) != 0 &&
		    flags != (uint32_t)-1)
			mbedtls_x509_crt_verify_info(v, sizeof(v), "", flags);
		v[strcspn(v, "\n")] = '\0';
		log_warnx("tlspipe", "handshake failed: %s%s%s%s", e,
		    v[0] ? " (" : "", v, v[0] ? ")" : "");
		return -1;
	}
	return 0;
}

/* Serve connections one after another: read and discard until EOF. */
static int
pipe_server(const char *listen, const char *cert, const char *key,
    const char *ca)
{
	mbedtls_net_context	 l, c;
	mbedtls_ssl_context	 ssl;
	struct pipe_tls		 t;
	static unsigned char	 buf[PIPE_RECORD];
	char			*addr, *host, *port;
	unsigned long long	 total;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 hbuf[64], pbuf[16];
	double			 t0, dt;
	int			 ret;

	if ((addr = strdup(listen)) == NULL ||
	    pipe_split(addr, &host, &port) == -1) {
		fprintf(stderr, "%s: bad -listen address \"%s\"\n", prog, listen);
		return 2;
	}
	pipe_tls_init(&t, 1, cert, key, ca, pipe_suites_all);
	mbedtls_net_init(&l);
	if ((ret = mbedtls_net_bind(&l, host, port, MBEDTLS_NET_PROTO_TCP)))
		pipe_die(listen, ret);
	/* With port 0 the kernel chose: say which (scripts read this line). */
	if (getsockname(l.fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf,
	    sizeof(pbuf), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		log_info("tlspipe", "listening on %s port %s", hbuf, pbuf);
	for (;;) {
		mbedtls_net_init(&c);
		if ((ret = mbedtls_net_accept(&l, &c, NULL, 0, NULL)) != 0)
			pipe_die("accept", ret);
		mbedtls_ssl_init(&ssl);
		if ((ret = mbedtls_ssl_setup(&ssl, &t.conf)) != 0)
			pipe_die("ssl setup", ret);
		mbedtls_ssl_set_bio(&ssl, &c, mbedtls_net_send, mbedtls_net_recv,
		    NULL);
		total = 0;
		if (pipe_handshake(&ssl) == 0) {
			t0 = pipe_now();
			while ((ret = mbedtls_ssl_read(&ssl, buf,
			    sizeof(buf))) > 0)
				total += ret;
			dt = pipe_now() - t0;
			if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
				(void)mbedtls_ssl_close_notify(&ssl);
			log_info("tlspipe", "received %llu bytes in %.3f s "
			    "(%.1f MB/s) with %s", total, dt,
			    dt > 0 ? total / dt / 1e6 : 0.0,
			    mbedtls_ssl_get_ciphersuite(&ssl));
		}
		mbedtls_ssl_free(&ssl);
		mbedtls_net_free(&c);
	}
	/* NOTREACHED */
	pipe_tls_free(&t);
	free(addr);
	return 0;
}

/* Send nbytes in 16 KiB writes, close, and time it until the server closed. */
static int
pipe_client(const char *connect, const char *cert, const char *key,
    const char *ca, const char *name, long long nbytes, const int *suites)
{
	mbedtls_net_context	 c;
	mbedtls_ssl_context	 ssl;
	struct pipe_tls		 t;
	static unsigned char	 buf[PIPE_RECORD];
	char			*addr, *host, *port;
	long long		 left;
	double			 t0, dt;
	size_t			 i, n;
	int			 ret, one = 1;

	if ((addr = strdup(connect)) == NULL ||
	    pipe_split(addr, &host, &port) == -1) {
		fprintf(stderr, "%s: bad -connect address \"%s\"\n", prog,
		    connect);
		return 2;
	}
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	pipe_tls_init(&t, 0, cert, key, ca, suites);
	mbedtls_net_init(&c);
	if ((ret = mbedtls_net_connect(&c, host, port, MBEDTLS_NET_PROTO_TCP)))
		pipe_die(connect, ret);
	(void)setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	mbedtls_ssl_init(&ssl);
	if ((ret = mbedtls_ssl_setup(&ssl, &t.conf)) != 0)
		pipe_die("ssl setup", ret);
	if ((ret = mbedtls_ssl_set_hostname(&ssl, name)) != 0)
		pipe_die("server name", ret);
	mbedtls_ssl_set_bio(&ssl, &c, mbedtls_net_send, mbedtls_net_recv, NULL);
	if (pipe_handshake(&ssl) == -1) {
		mbedtls_ssl_free(&ssl);
		mbedtls_net_free(&c);
		pipe_tls_free(&t);
		free(addr);
		return 1;
	}
	t0 = pipe_now();
	for (left = nbytes; left > 0; left -= ret) {
		n = left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf);
		ret = mbedtls_ssl_write(&ssl, buf, n);
		if (ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
		    ret == MBEDTLS_ERR_SSL_WANT_READ) {
			ret = 0;
			continue;
		}
		if (ret < 0)
			pipe_die("write", ret);
	}
	while ((ret = mbedtls_ssl_close_notify(&ssl)) ==
	    MBEDTLS_ERR_SSL_WANT_WRITE)
		;
	/* The server answers close_notify once it has read everything. */
	while ((ret = mbedtls_ssl_read(&ssl, buf, sizeof(buf))) > 0)
		;
	dt = pipe_now() - t0;
	printf("MB/s %.1f cipher %s\n", dt > 0 ? nbytes / dt / 1e6 : 0.0,
	    mbedtls_ssl_get_ciphersuite(&ssl));
	fflush(stdout);
	mbedtls_ssl_free(&ssl);
	mbedtls_net_free(&c);
	pipe_tls_free(&t);
	free(addr);
	return 0;
}

/* One core sealing 16 KiB records with the TLS AEAD for a while. */
static int
pipe_seal(const char *cipher, long seconds)
{
	mbedtls_cipher_context_t	 ctx;
	const mbedtls_cipher_info_t	*info;
	static unsigned char		 in[PIPE_RECORD], out[PIPE_RECORD + 16];
	unsigned char			 key[32], iv[12], ad[13];
	unsigned long long		 total = 0, seq = 0;
	double				 t0, dt;
	size_t				 olen;
	int				 ret, i, keybits;

	if (strcmp(cipher, "chacha") == 0) {
		info = mbedtls_cipher_info_from_type(
		    MBEDTLS_CIPHER_CHACHA20_POLY1305);
		keybits = 256;
	} else {
		info = mbedtls_cipher_info_from_type(
		    MBEDTLS_CIPHER_AES_128_GCM);
		keybits = 128;
	}
	memset(key, 0x42, sizeof(key));
	memset(iv, 0, sizeof(iv));
	memset(ad, 0x17, sizeof(ad));
	mbedtls_cipher_init(&ctx);
	if ((ret = mbedtls_cipher_setup(&ctx, info)) != 0)
		pipe_die("cipher setup", ret);
	if ((ret = mbedtls_cipher_setkey(&ctx, key, keybits,
	    MBEDTLS_ENCRYPT)) != 0)
		pipe_die("cipher key", ret);
	t0 = pipe_now();
	do {
		for (i = 0; i < 64; i++) {
			/* A fresh nonce per record, as TLS does. */
			memcpy(iv + 4, &seq, sizeof(seq));
			seq++;
			if ((ret = mbedtls_cipher_auth_encrypt_ext(&ctx, iv,
			    sizeof(iv), ad, sizeof(ad), in, sizeof(in), out,
			    sizeof(out), &olen, 16)) != 0)
				pipe_die("seal", ret);
			total += sizeof(in);
		}
		dt = pipe_now() - t0;
	} while (dt < seconds);
	printf("MB/s %.1f cipher %s\n", total / dt / 1e6,
	    mbedtls_cipher_get_name(&ctx));
	fflush(stdout);
	mbedtls_cipher_free(&ctx);
	return 0;
}

/* Usage of all commands. */
static void
pipe_usage(FILE *f)
{
	fprintf(f, "usage: %s server -listen ADDR -cert F -key F -ca F\n"
	    "       %s client -connect ADDR -cert F -key F -ca F [-bytes N]"
	    " [-cipher chacha|aes128] [-server-name NAME]\n"
	    "       %s seal [-cipher chacha|aes128] [-seconds N]\n"
	    "client and seal print \"MB/s <float> cipher <name>\" "
	    "(MB = 10^6 bytes)\n", prog, prog, prog);
}

/* Check the -cipher value; exits 2 when wrong. */
static const int *
pipe_cipher(const char *cipher)
{
	if (strcmp(cipher, "chacha") == 0)
		return pipe_suites_chacha;
	if (strcmp(cipher, "aes128") == 0)
		return pipe_suites_aes128;
	fprintf(stderr, "%s: invalid value \"%s\" for flag -cipher: want "
	    "chacha or aes128\n", prog, cipher);
	exit(2);
}

int
main(int argc, char **argv)
{
	const char	*listen = NULL, *connect = NULL, *cert = NULL;
	const char	*key = NULL, *ca = NULL, *cipher = "chacha";
	const char	*name = "localhost";
	long		 bytes = 1024L * 1024 * 1024, seconds = 2;
	int		 version = 0, idx = 2, r;
	const char	*cmd;
	const struct gt_flag server_flags[] = {
		{ "listen", GT_FLAG_STRING, &listen, 0, 0, "ADDR", "host:port to listen on" },
		{ "cert", GT_FLAG_STRING, &cert, 0, 0, "FILE", "server certificate" },
		{ "key", GT_FLAG_STRING, &key, 0, 0, "FILE", "its private key" },
		{ "ca", GT_FLAG_STRING, &ca, 0, 0, "FILE", "CA of client certificates" },
		{ NULL, 0, NULL, 0, 0, NULL, NULL }
	};
	const struct gt_flag client_flags[] = {
		{ "connect", GT_FLAG_STRING, &connect, 0, 0, "ADDR", "server host:port" },
		{ "cert", GT_FLAG_STRING, &cert, 0, 0, "FILE", "client certificate" },
		{ "key", GT_FLAG_STRING, &key, 0, 0, "FILE", "its private key" },
		{ "ca", GT_FLAG_STRING, &ca, 0, 0, "FILE", "CA of the server certificate" },
		{ "bytes", GT_FLAG_INT, &bytes, 1, 1L << 40, "N", "bytes to send (default 1 GiB)" },
		{ "cipher", GT_FLAG_STRING, &cipher, 0, 0, "chacha|aes128", "AEAD of the suite (default chacha)" },
		{ "server-name", GT_FLAG_STRING, &name, 0, 0, "NAME", "name to verify (default localhost)" },
		{ NULL, 0, NULL, 0, 0, NULL, NULL }
	};
	const struct gt_flag seal_flags[] = {
		{ "cipher", GT_FLAG_STRING, &cipher, 0, 0, "chacha|aes128", "AEAD (default chacha)" },
		{ "seconds", GT_FLAG_INT, &seconds, 1, 3600, "N", "how long (default 2)" },
		{ NULL, 0, NULL, 0, 0, NULL, NULL }
	};

	gt_log_init(prog);
	if (argc < 2) {
		pipe_usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "-help") == 0 ||
	    strcmp(cmd, "--help") == 0) {
		pipe_usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "-version") == 0 || strcmp(cmd, "--version") == 0)
		version = 1;
	if (version) {
		printf("%s %s\n", prog, GT_VERSION);
		return 0;
	}
	if (strcmp(cmd, "server") == 0) {
		r = gt_flags_parse(prog, "server -listen ADDR -cert F -key F -ca F",
		    server_flags, argc, argv, &idx);
		if (r != GT_FLAGS_OK)
			return r == GT_FLAGS_HELP ? 0 : 2;
		if (listen == NULL || cert == NULL || key == NULL ||
		    ca == NULL || idx != argc) {
			fprintf(stderr, "%s: server needs -listen, -cert, -key "
			    "and -ca, and nothing else\n", prog);
			return 2;
		}
		return pipe_server(listen, cert, key, ca);
	}
	if (strcmp(cmd, "client") == 0) {
		r = gt_flags_parse(prog, "client -connect ADDR -cert F -key F "
		    "-ca F [flags]", client_flags, argc, argv, &idx);
		if (r != GT_FLAGS_OK)
			return r == GT_FLAGS_HELP ? 0 : 2;
		if (connect == NULL || cert == NULL || key == NULL ||
		    ca == NULL || idx != argc) {
			fprintf(stderr, "%s: client needs -connect, -cert, -key "
			    "and -ca, and nothing else\n", prog);
			return 2;
		}
		return pipe_client(connect, cert, key, ca, name, bytes,
		    pipe_cipher(cipher));
	}
	if (strcmp(cmd, "seal") == 0) {
		r = gt_flags_parse(prog, "seal [-cipher chacha|aes128] "
		    "[-seconds N]", seal_flags, argc, argv, &idx);
		if (r != GT_FLAGS_OK)
			return r == GT_FLAGS_HELP ? 0 : 2;
		if (idx != argc) {
			fprintf(stderr, "%s: unexpected argument \"%s\"\n",
			    prog, argv[idx]);
			return 2;
		}
		(void)pipe_cipher(cipher);
		return pipe_seal(cipher, seconds);
	}
	fprintf(stderr, "%s: unknown command \"%s\" (server, client, seal)\n",
	    prog, cmd);
	return 2;
}
