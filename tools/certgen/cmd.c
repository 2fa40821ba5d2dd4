/* cmd.c: the init, ca, server, client (and revoke) subcommands on top of the certgen pieces. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/platform_util.h>

#include "gt/certgen.h"
#include "gt/names.h"

#define CERTGEN_FILES	7
#define CERTGEN_NAMELEN	(GT_CERTGEN_CN_MAX + 8)

/* Everything one run makes, kept in memory until it is all ready. */
struct certgen_job {
	const struct gt_certgen_opts	*j_opts;
	struct gt_certgen_rng		 j_rng;
	int				 j_rng_ok;
	mbedtls_x509_crt		 j_ca_crt;
	mbedtls_pk_context		 j_ca_key;
	mbedtls_pk_context		 j_keys[3];
	size_t				 j_nkeys;
	unsigned char			 j_buf[CERTGEN_FILES][GT_CERTGEN_PEM_MAX];
	char				 j_names[CERTGEN_FILES][CERTGEN_NAMELEN];
	struct gt_certgen_file		 j_files[CERTGEN_FILES];
	size_t				 j_nfiles;
	time_t				 j_now;
};

/* Release a job and wipe its key material; safe on a half-made job. */
static void
certgen_job_free(struct certgen_job *j)
{
	size_t	i;

	if (j == NULL)
		return;
	for (i = 0; i < 3; i++)
		mbedtls_pk_free(&j->j_keys[i]);
	mbedtls_pk_free(&j->j_ca_key);
	mbedtls_x509_crt_free(&j->j_ca_crt);
	if (j->j_rng_ok)
		gt_certgen_rng_free(&j->j_rng);
	mbedtls_platform_zeroize(j, sizeof(*j));
	free(j);
}

/* Reserve the next file slot, named name. */
static struct gt_certgen_file *
certgen_job_file(struct certgen_job *j, const char *name, int secret)
{
	struct gt_certgen_file	*f = &j->j_files[j->j_nfiles];

	snprintf(j->j_names[j->j_nfiles], CERTGEN_NAMELEN, "%s", name);
	f->f_name = j->j_names[j->j_nfiles];
	f->f_data = j->j_buf[j->j_nfiles];
	f->f_len = 0;
	f->f_secret = secret;
	j->j_nfiles++;
	return f;
}

/* Make a key and a certificate for it, queued as base.crt and base.key. */
static int
certgen_pair(struct certgen_job *j, enum gt_certgen_kind kind, const char *cn,
    const struct gt_certgen_san_list *sans, const mbedtls_x509_crt *ca_crt,
    mbedtls_pk_context *ca_key, const char *base, char *err, size_t errlen)
{
	struct gt_certgen_req	 req;
	struct gt_certgen_file	*fc, *fk;
	mbedtls_pk_context	*key = &j->j_keys[j->j_nkeys++];
	char			 name[CERTGEN_NAMELEN];
	long			 days;

	days = j->j_opts->o_days != 0 ? j->j_opts->o_days :
	    kind == GT_CERTGEN_CA ? GT_CERTGEN_CA_DAYS : GT_CERTGEN_LEAF_DAYS;
	memset(&req, 0, sizeof(req));
	req.req_kind = kind;
	req.req_cn = cn;
	req.req_sans = sans;
	gt_certgen_validity(&req, j->j_now, days);
	snprintf(name, sizeof(name), "%s.crt", base);
	fc = certgen_job_file(j, name, 0);
	snprintf(name, sizeof(name), "%s.key", base);
	fk = certgen_job_file(j, name, 1);
	if (gt_certgen_key_generate(key, j->j_opts->o_key_type, &j->j_rng, err,
	    errlen) == -1 ||
	    gt_certgen_issue(&req, key, ca_crt, ca_key != NULL ? ca_key : key,
	    &j->j_rng, (unsigned char *)fc->f_data, GT_CERTGEN_PEM_MAX,
	    &fc->f_len, err, errlen) == -1 ||
	    gt_certgen_key_pem(key, (unsigned char *)fk->f_data,
	    GT_CERTGEN_PEM_MAX, &fk->f_len, err, errlen) == -1)
		return -1;
	return 0;
}

/* The SAN of a server without -san: its CN if that is a DNS name or an IP. */
static void
certgen_san_from_cn(const char *cn, struct gt_certgen_san_list *l)
{
	struct gt_certgen_san	*s = &l->sl_v[0];
	size_t			 len = strlen(cn);

	l->sl_n = 0;
	if (gt_certgen_dns_valid(cn, len)) {
		s->san_type = GT_CERTGEN_SAN_DNS;
		memcpy(s->san_data, cn, len);
		s->san_len = len;
		l->sl_n = 1;
	} else if (inet_pton(AF_INET, cn, s->san_data) == 1) {
		s->san_type = GT_CERTGEN_SAN_IP;
		s->san_len = 4;
		l->sl_n = 1;
	} else if (inet_pton(AF_INET6, cn, s->san_data) == 1) {
		s->san_type = GT_CERTGEN_SAN_IP;
		s->san_len = 16;
		l->sl_n = 1;
	}
}

/* Check the options of cmd; fills sans for init and server. */
static int
certgen_check_opts(enum gt_certgen_cmd cmd, const struct gt_certgen_opts *o,
    const char **cn, struct gt_certgen_san_list *sans, char *err, size_t errlen)
{
	int	leaf = cmd == GT_CERTGEN_CMD_SERVER || cmd == GT_CERTGEN_CMD_CLIENT;

	if (o->o_out == NULL || *o->o_out == '\0') {
		snprintf(err, errlen, "-out DIR is required");
		return -1;
	}
	if (leaf && (o->o_ca == NULL || *o->o_ca == '\0')) {
		snprintf(err, errlen, "-ca DIR is required");
		return -1;
	}
	if (leaf && o->o_cn == NULL) {
		snprintf(err, errlen, "-cn NAME is required");
		return -1;
	}
	if (o->o_days != 0 && (o->o_days < 1 || o->o_days > GT_CERTGEN_DAYS_MAX)) {
		snprintf(err, errlen, "-days: must be 1..%d", GT_CERTGEN_DAYS_MAX);
		return -1;
	}
	*cn = o->o_cn;
	if (*cn == NULL)
		*cn = cmd == GT_CERTGEN_CMD_CA ? "gt CA" : "localhost";
	if (gt_certgen_cn_check(*cn, err, errlen) == -1)
		return -1;
	if (cmd == GT_CERTGEN_CMD_CLIENT) {
		if (gt_certgen_filename_check(*cn, err, errlen) == -1)
			return -1;
		if (strcmp(*cn, "ca") == 0) {
			snprintf(err, errlen, "-cn: client name \"ca\" is reserved "
			    "(its files would be the CA's)");
			return -1;
		}
		/* The server would refuse any other name at the handshake. */
		if (!gt_name_valid(*cn)) {
			snprintf(err, errlen, "-cn: a client name is 1..%d of "
			    "A-Z a-z 0-9 . _ -, starting with a letter or digit",
			    GT_NAME_MAX);
			return -1;
		}
	}
	sans->sl_n = 0;
	if (cmd == GT_CERTGEN_CMD_INIT || cmd == GT_CERTGEN_CMD_SERVER) {
		if (o->o_san != NULL)
			return gt_certgen_san_parse(o->o_san, sans, err, errlen);
		if (cmd == GT_CERTGEN_CMD_INIT)
			return gt_certgen_san_parse("DNS:localhost,IP:127.0.0.1",
			    sans, err, errlen);
		certgen_san_from_cn(*cn, sans);
	}
	return 0;
}

/* One subcommand from checked options to written files. */
int
gt_certgen_run(enum gt_certgen_cmd cmd, const struct gt_certgen_opts *o,
    char *err, size_t errlen)
{
	struct gt_certgen_san_list		 sans;
	struct certgen_job			*j = NULL;
	const char				*cn, *names[CERTGEN_FILES];
	char					 crtname[CERTGEN_NAMELEN];
	char					 keyname[CERTGEN_NAMELEN];
	size_t					 n = 0, i;
	int					 rv = -1;

	/* revoke changes the CA's CRL and makes no pair. */
	if (cmd == GT_CERTGEN_CMD_REVOKE)
		return gt_certgen_revoke(o, err, errlen);
	if (certgen_check_opts(cmd, o, &cn, &sans, err, errlen) == -1)
		return -1;
	switch (cmd) {
	case GT_CERTGEN_CMD_INIT:
		names[n++] = "ca.crt";
		names[n++] = "ca.key";
		/* FALLTHROUGH */
	case GT_CERTGEN_CMD_SERVER:
		names[n++] = "server.crt";
		names[n++] = "server.key";
		if (cmd == GT_CERTGEN_CMD_SERVER)
			break;
		names[n++] = "client.crt";
		names[n++] = "client.key";
		names[n++] = "jwt.key";
		break;
	case GT_CERTGEN_CMD_CA:
		names[n++] = "ca.crt";
		names[n++] = "ca.key";
		break;
	case GT_CERTGEN_CMD_CLIENT:
		snprintf(crtname, sizeof(crtname), "%s.crt", cn);
		snprintf(keyname, sizeof(keyname), "%s.key", cn);
		names[n++] = crtname;
		names[n++] = keyname;
		break;
	default:
		snprintf(err, errlen, "unknown command");
		return -1;
	}

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	j->j_opts = o;
	j->j_now = time(NULL);
	mbedtls_x509_crt_init(&j->j_ca_crt);
	mbedtls_pk_init(&j->j_ca_key);
	for (i = 0; i < 3; i++)
		mbedtls_pk_init(&j->j_keys[i]);
	if ((cmd == GT_CERTGEN_CMD_SERVER || cmd == GT_CERTGEN_CMD_CLIENT) &&
	    gt_certgen_ca_load(o->o_ca, &j->j_ca_crt, &j->j_ca_key, err,
	    errlen) == -1)
		goto out;
	if (gt_certgen_check_targets(o->o_out, names, n, o->o_force, err,
	    errlen) == -1)
		goto out;
	if (gt_certgen_rng_init(&j->j_rng, err, errlen) == -1)
		goto out;
	j->j_rng_ok = 1;

	switch (cmd) {
	case GT_CERTGEN_CMD_INIT:
		/* The CA first, then parsed back to issue the leaves with. */
		if (certgen_pair(j, GT_CERTGEN_CA, "gt CA", NULL, NULL, NULL,
		    "ca", err, errlen) == -1)
			goto out;
		if (mbedtls_x509_crt_parse(&j->j_ca_crt, j->j_files[0].f_data,
		    j->j_files[0].f_len + 1) != 0) {
			snprintf(err, errlen, "cannot parse the new CA certificate");
			goto out;
		}
		if (certgen_pair(j, GT_CERTGEN_SERVER, cn, &sans, &j->j_ca_crt,
		    &j->j_keys[0], "server", err, errlen) == -1 ||
		    certgen_pair(j, GT_CERTGEN_CLIENT, "client", NULL,
		    &j->j_ca_crt, &j->j_keys[0], "client", err, errlen) == -1)
			goto out;
		if (gt_certgen_jwt_key(&j->j_rng, (char *)certgen_job_file(j,
		    "jwt.key", 1)->f_data, err, errlen) == -1)
			goto out;
		j->j_files[j->j_nfiles - 1].f_len = 2 * GT_CERTGEN_JWT_BYTES + 1;
		break;
	case GT_CERTGEN_CMD_CA:
		if (certgen_pair(j, GT_CERTGEN_CA, cn, NULL, NULL, NULL, "ca",
		    err, errlen) == -1)
			goto out;
		break;
	case GT_CERTGEN_CMD_SERVER:
		if (certgen_pair(j, GT_CERTGEN_SERVER, cn, &sans, &j->j_ca_crt,
		    &j->j_ca_key, "server", err, errlen) == -1)
			goto out;
		break;
	case GT_CERTGEN_CMD_CLIENT:
		if (certgen_pair(j, GT_CERTGEN_CLIENT, cn, NULL, &j->j_ca_crt,
		    &j->j_ca_key, cn, err, errlen) == -1)
			goto out;
		break;
	case GT_CERTGEN_CMD_REVOKE:
		break;	/* handled above */
	}
	rv = gt_certgen_write_files(o->o_out, j->j_files, j->j_nfiles,
	    o->o_force, err, errlen);
out:
	certgen_job_free(j);
	return rv;
}
