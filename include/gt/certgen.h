/* certgen.h: the pieces of gt-certgen (SAN parsing, extension encoders, keys, certificates, files). */
#ifndef GT_CERTGEN_H
#define GT_CERTGEN_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

/*
 * Every function that can fail returns 0 on success and -1 on failure,
 * with one line (no newline, no program name) naming the problem in err.
 */

#define GT_CERTGEN_ERRLEN	256
#define GT_CERTGEN_CN_MAX	64	/* bytes, as RFC 5280's ub-common-name */
#define GT_CERTGEN_DNS_MAX	253
#define GT_CERTGEN_SAN_MAX	32	/* entries in one -san list */
#define GT_CERTGEN_PEM_MAX	8192	/* a certificate or key in PEM */
#define GT_CERTGEN_CA_DAYS	3650
#define GT_CERTGEN_LEAF_DAYS	825
#define GT_CERTGEN_DAYS_MAX	36500
#define GT_CERTGEN_SKEW		3600	/* notBefore is this many seconds ago */
#define GT_CERTGEN_JWT_BYTES	32
#define GT_CERTGEN_SERIAL_MAX	20	/* octets, RFC 5280 §4.1.2.2 */

enum gt_certgen_san_type {
	GT_CERTGEN_SAN_DNS,
	GT_CERTGEN_SAN_IP,
};

/* One subjectAltName: a DNS name (its bytes, no NUL) or an IP (4 or 16 bytes). */
struct gt_certgen_san {
	enum gt_certgen_san_type san_type;
	size_t			 san_len;
	unsigned char		 san_data[GT_CERTGEN_DNS_MAX];
};

struct gt_certgen_san_list {
	size_t			 sl_n;
	struct gt_certgen_san	 sl_v[GT_CERTGEN_SAN_MAX];
};

enum gt_certgen_key_type {
	GT_CERTGEN_KEY_EC256,
	GT_CERTGEN_KEY_RSA2048,
};

enum gt_certgen_kind {
	GT_CERTGEN_CA,
	GT_CERTGEN_SERVER,
	GT_CERTGEN_CLIENT,
};

/* extendedKeyUsage purposes, OR-ed. */
#define GT_CERTGEN_EKU_SERVER	0x1
#define GT_CERTGEN_EKU_CLIENT	0x2

/* The random source: CTR-DRBG seeded from the system entropy. */
struct gt_certgen_rng {
	mbedtls_entropy_context		rng_entropy;
	mbedtls_ctr_drbg_context	rng_drbg;
};

/* What to put into one certificate. */
struct gt_certgen_req {
	enum gt_certgen_kind			 req_kind;
	const char				*req_cn;	/* checked with gt_certgen_cn_check */
	const struct gt_certgen_san_list	*req_sans;	/* server only; NULL or empty: none */
	time_t					 req_not_before;
	time_t					 req_not_after;
};

/* A file to write: name inside the output folder, contents (borrowed), mode. */
struct gt_certgen_file {
	const char		*f_name;
	const unsigned char	*f_data;
	size_t			 f_len;
	int			 f_secret;	/* 0600 if set, else 0644 */
};

/* Parse "DNS:a,IP:1.2.3.4,IP:::1" (prefixes case-insensitive) into out. */
int	gt_certgen_san_parse(const char *, struct gt_certgen_san_list *out,
	    char *err, size_t errlen);
/* Whether s (len bytes) is a DNS name we accept in a SAN: 1 or 0. */
int	gt_certgen_dns_valid(const char *s, size_t len);
/* Check a common name: 1..64 bytes of UTF-8 without control characters. */
int	gt_certgen_cn_check(const char *cn, char *err, size_t errlen);
/* Check a client name that also names files: letters, digits, . _ - and no leading dot. */
int	gt_certgen_filename_check(const char *name, char *err, size_t errlen);
/* Parse "ec256" or "rsa2048". */
int	gt_certgen_key_type_parse(const char *, enum gt_certgen_key_type *,
	    char *err, size_t errlen);

/*
 * DER encoders for the extensions x509write has no setter for. They write
 * backwards into buf[0..size); on success they return 0, *der points
 * into buf and *len is the encoding's length. An empty input or a short
 * buf gives a negative mbedTLS error.
 */
int	gt_certgen_san_encode(const struct gt_certgen_san_list *,
	    unsigned char *buf, size_t size, unsigned char **der, size_t *len);
int	gt_certgen_eku_encode(int purposes, unsigned char *buf, size_t size,
	    unsigned char **der, size_t *len);

int	gt_certgen_rng_init(struct gt_certgen_rng *, char *err, size_t errlen);
void	gt_certgen_rng_free(struct gt_certgen_rng *);

/* Generate a key of the type into pk (initialised by the caller, empty). */
int	gt_certgen_key_generate(mbedtls_pk_context *, enum gt_certgen_key_type,
	    struct gt_certgen_rng *, char *err, size_t errlen);
/* Write a private key as PEM (NUL-terminated) into buf; *len excludes the NUL. */
int	gt_certgen_key_pem(mbedtls_pk_context *, unsigned char *buf, size_t size,
	    size_t *len, char *err, size_t errlen);

/* Set notBefore to now - GT_CERTGEN_SKEW and notAfter to now + days. */
void	gt_certgen_validity(struct gt_certgen_req *, time_t now, long days);

/*
 * Issue a certificate for key, signed with SHA-256 by issuer_key. For a
 * self-signed CA pass issuer_crt NULL and issuer_key == key. The PEM
 * (NUL-terminated) goes into pem; *len excludes the NUL.
 */
int	gt_certgen_issue(const struct gt_certgen_req *, mbedtls_pk_context *key,
	    const mbedtls_x509_crt *issuer_crt, mbedtls_pk_context *issuer_key,
	    struct gt_certgen_rng *, unsigned char *pem, size_t size, size_t *len,
	    char *err, size_t errlen);

/*
 * Load DIR/ca.crt and DIR/ca.key into crt and key (initialised by the
 * caller); fails unless the key matches the certificate and it is a CA.
 */
int	gt_certgen_ca_load(const char *dir, mbedtls_x509_crt *crt,
	    mbedtls_pk_context *key, char *err, size_t errlen);

/* 32 random bytes as 64 lowercase hex characters, a newline and a NUL. */
int	gt_certgen_jwt_key(struct gt_certgen_rng *, char out[2 * GT_CERTGEN_JWT_BYTES + 2],
	    char *err, size_t errlen);

/* Fail naming the first of names that exists in dir, unless force. */
int	gt_certgen_check_targets(const char *dir, const char *const *names,
	    size_t n, int force, char *err, size_t errlen);
/*
 * Create dir (0700) if missing, write every file to a temp file there,
 * then rename them all into place. Without force an existing target is
 * never replaced: it is checked before any rename, and each rename is
 * no-replace. Logs one line per file written.
 */
int	gt_certgen_write_files(const char *dir, const struct gt_certgen_file *,
	    size_t n, int force, char *err, size_t errlen);

enum gt_certgen_cmd {
	GT_CERTGEN_CMD_INIT,
	GT_CERTGEN_CMD_CA,
	GT_CERTGEN_CMD_SERVER,
	GT_CERTGEN_CMD_CLIENT,
	GT_CERTGEN_CMD_REVOKE,
};

/* A subcommand's options, as main.c got them from the flags (borrowed). */
struct gt_certgen_opts {
	const char			*o_out;		/* required, except by revoke */
	const char			*o_ca;		/* server, client: required */
	const char			*o_cn;		/* NULL: the command's default */
	const char			*o_san;		/* NULL: the command's default */
	long				 o_days;	/* 0: 3650 for a CA, 825 for a leaf */
	enum gt_certgen_key_type	 o_key_type;
	int				 o_force;
	const char			*o_cert;	/* revoke: -cert FILE */
	const char			*o_serial;	/* revoke: -serial HEX */
};

/*
 * Run one subcommand: check every input, load the CA, check the targets,
 * make everything in memory, then write the files. On -1 nothing was
 * written (barring an I/O error among the final renames).
 */
int	gt_certgen_run(enum gt_certgen_cmd, const struct gt_certgen_opts *,
	    char *err, size_t errlen);

/* A serial number: an INTEGER's content octets, minimal DER (positive). */
struct gt_certgen_serial {
	size_t		s_len;
	unsigned char	s_v[GT_CERTGEN_SERIAL_MAX + 1];	/* + a leading 0x00 */
};

/* One revokedCertificates entry. */
struct gt_certgen_crl_entry {
	struct gt_certgen_serial	e_serial;
	time_t				e_when;		/* revocationDate */
};

/* Parse a hex serial ("0x" and ':' separators allowed). */
int	gt_certgen_serial_parse(const char *hex, struct gt_certgen_serial *,
	    char *err, size_t errlen);
/* Whether crt names ca as its issuer and carries a valid signature by it: 1 or 0. */
int	gt_certgen_issued_by(const mbedtls_x509_crt *crt,
	    const mbedtls_x509_crt *ca);
/*
 * A v2 CRL of ca listing the n entries, with CRL number number,
 * thisUpdate now (backdated GT_CERTGEN_SKEW) and nextUpdate next, signed
 * with SHA-256 by ca_key. *pem is allocated (free it), *pemlen excludes
 * its NUL.
 */
int	gt_certgen_crl_make(const mbedtls_x509_crt *ca, mbedtls_pk_context *ca_key,
	    const struct gt_certgen_crl_entry *, size_t n, int number, time_t now,
	    time_t next, struct gt_certgen_rng *, unsigned char **pem,
	    size_t *pemlen, char *err, size_t errlen);
/*
 * gt-certgen revoke: add o_cert's serial (a certificate of the CA in
 * o_ca) or o_serial to o_ca/crl.pem, written atomically (0644). Revoking
 * a serial the CRL already lists changes nothing.
 */
int	gt_certgen_revoke(const struct gt_certgen_opts *, char *err,
	    size_t errlen);

#endif
