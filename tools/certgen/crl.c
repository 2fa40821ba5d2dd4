/* crl.c: the CA's certificate revocation list (RFC 5280 §5), written with asn1write and signed by the CA key. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crl.h>

#include "gt/certgen.h"
#include "gt/log.h"

#define CRL_PEM_BEGIN	"-----BEGIN X509 CRL-----\n"
#define CRL_PEM_END	"-----END X509 CRL-----\n"
#define CRL_ENTRY_MAX	64	/* DER bytes of one revokedCertificates entry, at most */

/* MBEDTLS_ASN1_CHK_ADD that leaves through "cleanup" instead of returning. */
#define CRL_CHK(g, f) do {						\
	if ((ret = (f)) < 0)						\
		goto cleanup;						\
	(g) += ret;							\
} while (0)

/* Describe an mbedTLS error code in err after a prefix. */
static void
crl_mbedtls_err(char *err, size_t errlen, const char *what, int ret)
{
	char	msg[128];

	mbedtls_strerror(ret, msg, sizeof(msg));
	snprintf(err, errlen, "%s: %s (-0x%04x)", what, msg, (unsigned)-ret);
}

/*
 * Reduce an INTEGER's content octets to DER's minimal form, in place:
 * mbedTLS compares serials byte for byte, so the CRL must carry exactly
 * what a certificate carries.
 */
static size_t
crl_serial_norm(unsigned char *b, size_t len)
{
	size_t	skip = 0;

	while (len - skip > 1 && b[skip] == 0 && (b[skip + 1] & 0x80) == 0)
		skip++;
	memmove(b, b + skip, len - skip);
	return len - skip;
}

/* Parse a hex serial ("0x" optional, ':' allowed between bytes) into DER content. */
int
gt_certgen_serial_parse(const char *hex, struct gt_certgen_serial *s,
    char *err, size_t errlen)
{
	unsigned char	nib[2 * GT_CERTGEN_SERIAL_MAX];
	size_t		n = 0, i, off;
	const char	*p = hex;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n == sizeof(nib)) {
			snprintf(err, errlen, "-serial: want up to %d bytes in hex",
			    GT_CERTGEN_SERIAL_MAX);
			return -1;
		}
		nib[n++] = (unsigned char)(isdigit((unsigned char)*p) ? *p - '0' :
		    tolower((unsigned char)*p) - 'a' + 10);
	}
	if (n == 0) {
		snprintf(err, errlen, "-serial: want up to %d bytes in hex",
		    GT_CERTGEN_SERIAL_MAX);
		return -1;
	}
	/* A leading 0x00 keeps a serial with its top bit set positive. */
	memset(s, 0, sizeof(*s));
	off = 2 + (n & 1);	/* nibbles after the 0x00 byte, right-aligned */
	for (i = 0; i < n; i++)
		s->s_v[(off + i) / 2] |= (unsigned char)(nib[i] <<
		    (((off + i) & 1) ? 0 : 4));
	s->s_len = crl_serial_norm(s->s_v, 1 + (n + 1) / 2);
	if (s->s_len == 1 && s->s_v[0] == 0) {
		snprintf(err, errlen, "-serial: a serial number is positive");
		return -1;
	}
	return 0;
}

/* Copy an INTEGER's content octets (a certificate's or an entry's) into s. */
static int
crl_serial_from_buf(const mbedtls_x509_buf *b, struct gt_certgen_serial *s)
{
	if (b->len == 0 || b->len > sizeof(s->s_v))
		return -1;
	memcpy(s->s_v, b->p, b->len);
	s->s_len = crl_serial_norm(s->s_v, b->len);
	return 0;
}

/* Write a time as RFC 5280 wants it: UTCTime until 2049, then GeneralizedTime. */
static int
crl_write_time(unsigned char **p, unsigned char *start, int year, int mon,
    int day, int hour, int min, int sec)
{
	char	buf[80];	/* fits any int, so no truncation to check */
	size_t	len;
	int	ret, n = 0;

	if (year < 2050) {
		snprintf(buf, sizeof(buf), "%02d%02d%02d%02d%02d%02dZ",
		    year % 100, mon, day, hour, min, sec);
	} else {
		snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ",
		    year, mon, day, hour, min, sec);
	}
	len = strlen(buf);
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(p, start,
	    (const unsigned char *)buf, len));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start, year < 2050 ?
	    MBEDTLS_ASN1_UTC_TIME : MBEDTLS_ASN1_GENERALIZED_TIME));
	return n;
}

/* Write a time_t (UTC) as a Time. */
static int
crl_write_time_t(unsigned char **p, unsigned char *start, time_t t)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL)
		return MBEDTLS_ERR_ASN1_INVALID_DATA;
	return crl_write_time(p, start, tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Write an INTEGER from its (minimal) content octets. */
static int
crl_write_serial(unsigned char **p, unsigned char *start,
    const struct gt_certgen_serial *s)
{
	int	ret, n = 0;

	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(p, start, s->s_v,
	    s->s_len));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, s->s_len));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_INTEGER));
	return n;
}

/*
 * The signature AlgorithmIdentifier: ECDSA's carries no parameters
 * (RFC 5758), RSA's a NULL (RFC 4055), and mbedTLS 2.28's own helper
 * always writes the NULL.
 */
static int
crl_write_sigalg(unsigned char **p, unsigned char *start, mbedtls_pk_type_t pk)
{
	const char	*oid;
	size_t		 oidlen;
	int		 ret, n = 0;

	if ((ret = mbedtls_oid_get_oid_by_sig_alg(pk, MBEDTLS_MD_SHA256, &oid,
	    &oidlen)) != 0)
		return ret;
	if (pk != MBEDTLS_PK_ECDSA && pk != MBEDTLS_PK_ECKEY)
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_null(p, start));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_oid(p, start, oid, oidlen));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, (size_t)n));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return n;
}

/* crlExtensions [0]: only the (non-critical) CRL number. */
static int
crl_write_exts(unsigned char **p, unsigned char *start, int number)
{
	int	ret, n = 0, v = 0;

	MBEDTLS_ASN1_CHK_ADD(v, mbedtls_asn1_write_int(p, start, number));
	MBEDTLS_ASN1_CHK_ADD(n, v);
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, (size_t)v));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_OCTET_STRING));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_oid(p, start,
	    MBEDTLS_OID_CRL_NUMBER, MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER)));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, (size_t)n));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, (size_t)n));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, (size_t)n));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
	return n;
}

/* The CRL number of a parsed CRL, 0 if it has none we can read. */
static int
crl_number(const mbedtls_x509_crl *crl)
{
	unsigned char	*p = crl->crl_ext.p, *end, *ext_end;
	mbedtls_asn1_buf oid;
	size_t		 len;
	int		 crit, v;

	if (p == NULL || crl->crl_ext.len == 0)
		return 0;
	end = p + crl->crl_ext.len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0)
		return 0;
	while (p < end) {
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
		    MBEDTLS_ASN1_SEQUENCE) != 0)
			return 0;
		ext_end = p + len;
		if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len,
		    MBEDTLS_ASN1_OID) != 0)
			return 0;
		oid.p = p;
		p += oid.len;
		/* critical is DEFAULT FALSE: absent, or a BOOLEAN. */
		(void)mbedtls_asn1_get_bool(&p, ext_end, &crit);
		if (mbedtls_asn1_get_tag(&p, ext_end, &len,
		    MBEDTLS_ASN1_OCTET_STRING) != 0)
			return 0;
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_CRL_NUMBER, &oid) == 0) {
			if (mbedtls_asn1_get_int(&p, ext_end, &v) != 0 || v < 0)
				return 0;
			return v;
		}
		p = ext_end;
	}
	return 0;
}

/* Whether sig over tbs verifies with the CA's public key. */
static int
crl_sig_ok(const mbedtls_x509_crt *ca, const mbedtls_x509_buf *tbs,
    mbedtls_md_type_t md, mbedtls_pk_type_t pk, const void *opts,
    const mbedtls_x509_buf *sig)
{
	unsigned char		 hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t	*info;

	if ((info = mbedtls_md_info_from_type(md)) == NULL ||
	    mbedtls_md(info, tbs->p, tbs->len, hash) != 0)
		return 0;
	return mbedtls_pk_verify_ext(pk, opts, (mbedtls_pk_context *)&ca->pk, md,
	    hash, mbedtls_md_get_size(info), sig->p, sig->len) == 0;
}

/* Whether crt was issued (name and signature) by ca. */
int
gt_certgen_issued_by(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *ca)
{
	return crt->issuer_raw.len == ca->subject_raw.len &&
	    memcmp(crt->issuer_raw.p, ca->subject_raw.p, ca->subject_raw.len) == 0 &&
	    crl_sig_ok(ca, &crt->tbs, crt->sig_md, crt->sig_pk, crt->sig_opts,
	    &crt->sig);
}

/* Build and sign the CRL. */
int
gt_certgen_crl_make(const mbedtls_x509_crt *ca, mbedtls_pk_context *ca_key,
    const struct gt_certgen_crl_entry *v, size_t n, int number, time_t now,
    time_t next, struct gt_certgen_rng *r, unsigned char **pem, size_t *pemlen,
    char *err, size_t errlen)
{
	unsigned char	*der = NULL, *p, *start, *out = NULL;
	unsigned char	 hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	unsigned char	 sb[MBEDTLS_PK_SIGNATURE_MAX_SIZE + 64], *sp;
	size_t		 size, siglen, i, olen;
	mbedtls_pk_type_t pk;
	int		 ret, len = 0, l, tbslen, sl;

	pk = mbedtls_pk_get_type(ca_key) == MBEDTLS_PK_RSA ? MBEDTLS_PK_RSA :
	    MBEDTLS_PK_ECDSA;
	size = 4096 + ca->subject_raw.len + n * CRL_ENTRY_MAX;
	if ((der = malloc(size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	start = der;
	p = der + size;

	/* TBSCertList, written backwards: extensions first. */
	CRL_CHK(len, crl_write_exts(&p, start, number));
	if (n > 0) {
		l = 0;
		for (i = n; i-- > 0;) {
			int	e = 0;
			struct tm tm;

			if (gmtime_r(&v[i].e_when, &tm) == NULL) {
				ret = MBEDTLS_ERR_ASN1_INVALID_DATA;
				goto cleanup;
			}
			CRL_CHK(e, crl_write_time(&p, start,
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			    tm.tm_hour, tm.tm_min, tm.tm_sec));
			CRL_CHK(e, crl_write_serial(&p, start,
			    &v[i].e_serial));
			CRL_CHK(e, mbedtls_asn1_write_len(&p,
			    start, (size_t)e));
			CRL_CHK(e, mbedtls_asn1_write_tag(&p,
			    start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
			l += e;
		}
		CRL_CHK(l, mbedtls_asn1_write_len(&p, start,
		    (size_t)l));
		CRL_CHK(l, mbedtls_asn1_write_tag(&p, start,
		    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
		len += l;
	}
	CRL_CHK(len, crl_write_time_t(&p, start, next));
	/* thisUpdate backdated like notBefore: a slow peer clock is no "future CRL". */
	CRL_CHK(len, crl_write_time_t(&p, start,
	    now - GT_CERTGEN_SKEW));
	CRL_CHK(len, mbedtls_asn1_write_raw_buffer(&p, start,
	    ca->subject_raw.p, ca->subject_raw.len));
	CRL_CHK(len, crl_write_sigalg(&p, start, pk));
	CRL_CHK(len, mbedtls_asn1_write_int(&p, start, 1));
	CRL_CHK(len, mbedtls_asn1_write_len(&p, start,
	    (size_t)len));
	CRL_CHK(len, mbedtls_asn1_write_tag(&p, start,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	tbslen = len;

	/* Sign SHA-256(TBS) with the CA key, as its type dictates. */
	if ((ret = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), p,
	    (size_t)tbslen, hash)) != 0 ||
	    (ret = mbedtls_pk_sign(ca_key, MBEDTLS_MD_SHA256, hash, sizeof(hash),
	    sig, &siglen, mbedtls_ctr_drbg_random, &r->rng_drbg)) != 0) {
		crl_mbedtls_err(err, errlen, "signing the CRL", ret);
		ret = -1;
		goto out;
	}
	/*
	 * The writer goes backwards but the signature follows the TBS: write
	 * it apart, slide the TBS down and put the signature after it.
	 */
	sp = sb + sizeof(sb);
	sl = 0;
	CRL_CHK(sl, mbedtls_asn1_write_bitstring(&sp, sb, sig, siglen * 8));
	CRL_CHK(sl, crl_write_sigalg(&sp, sb, pk));
	if ((size_t)(p - start) < (size_t)sl + 16) {
		ret = MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
		goto cleanup;
	}
	memmove(p - sl, p, (size_t)tbslen);
	p -= sl;
	memcpy(p + tbslen, sp, (size_t)sl);
	len += sl;
	CRL_CHK(len, mbedtls_asn1_write_len(&p, start,
	    (size_t)len));
	CRL_CHK(len, mbedtls_asn1_write_tag(&p, start,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));

	olen = 4 * ((size_t)len / 3 + 1) + (size_t)len / 48 + 128;
	if ((out = malloc(olen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		ret = -1;
		goto out;
	}
	if ((ret = mbedtls_pem_write_buffer(CRL_PEM_BEGIN, CRL_PEM_END, p,
	    (size_t)len, out, olen, &olen)) != 0) {
		crl_mbedtls_err(err, errlen, "writing the CRL as PEM", ret);
		ret = -1;
		goto out;
	}
	*pem = out;
	*pemlen = olen - 1;	/* olen counts the NUL */
	out = NULL;
	ret = 0;
	goto out;
cleanup:
	crl_mbedtls_err(err, errlen, "encoding the CRL", ret);
	ret = -1;
out:
	free(out);
	free(der);
	return ret;
}

/* Whether path exists; errno is kept for the caller when it cannot tell. */
static int
crl_exists(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0;
}

/* Load the CA's existing CRL entries into *v (grown), refusing a foreign or forged one. */
static int
crl_load(const char *path, const mbedtls_x509_crt *ca,
    struct gt_certgen_crl_entry **v, size_t *n, int *number, char *err,
    size_t errlen)
{
	mbedtls_x509_crl	 crl;
	mbedtls_x509_crl_entry	*e;
	struct gt_certgen_crl_entry *nv;
	struct tm		 tm;
	int			 ret, rv = -1;

	*n = 0;
	*number = 0;
	if (!crl_exists(path))
		return 0;
	mbedtls_x509_crl_init(&crl);
	if ((ret = mbedtls_x509_crl_parse_file(&crl, path)) != 0) {
		crl_mbedtls_err(err, errlen, "cannot parse the existing CRL", ret);
		goto out;
	}
	if (crl.next != NULL || crl.issuer_raw.len != ca->subject_raw.len ||
	    memcmp(crl.issuer_raw.p, ca->subject_raw.p,
	    ca->subject_raw.len) != 0 ||
	    !crl_sig_ok(ca, &crl.tbs, crl.sig_md, crl.sig_pk, crl.sig_opts,
	    &crl.sig)) {
		snprintf(err, errlen, "%s is not one CRL signed by this CA", path);
		goto out;
	}
	for (e = &crl.entry; e != NULL; e = e->next) {
		if (e->serial.len == 0)
			continue;
		if ((nv = reallocarray(*v, *n + 1, sizeof(**v))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		*v = nv;
		if (crl_serial_from_buf(&e->serial, &nv[*n].e_serial) == -1) {
			snprintf(err, errlen, "%s: a serial number is too long", path);
			goto out;
		}
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = e->revocation_date.year - 1900;
		tm.tm_mon = e->revocation_date.mon - 1;
		tm.tm_mday = e->revocation_date.day;
		tm.tm_hour = e->revocation_date.hour;
		tm.tm_min = e->revocation_date.min;
		tm.tm_sec = e->revocation_date.sec;
		nv[*n].e_when = timegm(&tm);
		(*n)++;
	}
	*number = crl_number(&crl);
	rv = 0;
out:
	mbedtls_x509_crl_free(&crl);
	return rv;
}

/* The serial to revoke: from -cert (issued by this CA) or from -serial. */
static int
crl_target(const struct gt_certgen_opts *o, const mbedtls_x509_crt *ca,
    struct gt_certgen_serial *s, char *err, size_t errlen)
{
	mbedtls_x509_crt	crt;
	int			ret, rv = -1;

	if (o->o_serial != NULL)
		return gt_certgen_serial_parse(o->o_serial, s, err, errlen);
	mbedtls_x509_crt_init(&crt);
	if ((ret = mbedtls_x509_crt_parse_file(&crt, o->o_cert)) != 0) {
		crl_mbedtls_err(err, errlen, "-cert: cannot parse the certificate",
		    ret > 0 ? MBEDTLS_ERR_X509_INVALID_FORMAT : ret);
		goto out;
	}
	if (!gt_certgen_issued_by(&crt, ca)) {
		snprintf(err, errlen, "-cert: %s was not issued by this CA",
		    o->o_cert);
		goto out;
	}
	if (crl_serial_from_buf(&crt.serial, s) == -1) {
		snprintf(err, errlen, "-cert: the serial number is too long");
		goto out;
	}
	rv = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return rv;
}

/* gt-certgen revoke: add one serial to DIR/crl.pem, signed again by the CA. */
int
gt_certgen_revoke(const struct gt_certgen_opts *o, char *err, size_t errlen)
{
	struct gt_certgen_crl_entry	*v = NULL, *nv;
	struct gt_certgen_serial	 s;
	struct gt_certgen_rng		 rng;
	struct gt_certgen_file		 f;
	mbedtls_x509_crt		 ca;
	mbedtls_pk_context		 key;
	char				 path[PATH_MAX];
	unsigned char			*pem = NULL;
	size_t				 n = 0, i, pemlen;
	time_t				 now, next;
	int				 number, rv = -1, rng_ok = 0;
	struct tm			 tm;

	if (o->o_ca == NULL || *o->o_ca == '\0') {
		snprintf(err, errlen, "-ca DIR is required");
		return -1;
	}
	if ((o->o_cert == NULL) == (o->o_serial == NULL)) {
		snprintf(err, errlen, "want one of -cert FILE or -serial HEX");
		return -1;
	}
	if (o->o_days != 0 && (o->o_days < 1 || o->o_days > GT_CERTGEN_DAYS_MAX)) {
		snprintf(err, errlen, "-days: must be 1..%d", GT_CERTGEN_DAYS_MAX);
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/crl.pem", o->o_ca) >=
	    sizeof(path)) {
		snprintf(err, errlen, "-ca: path too long");
		return -1;
	}
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&key);
	if (gt_certgen_ca_load(o->o_ca, &ca, &key, err, errlen) == -1 ||
	    crl_target(o, &ca, &s, err, errlen) == -1 ||
	    crl_load(path, &ca, &v, &n, &number, err, errlen) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (v[i].e_serial.s_len == s.s_len &&
		    memcmp(v[i].e_serial.s_v, s.s_v, s.s_len) == 0) {
			log_info("certgen", "%s already revokes that serial", path);
			rv = 0;
			goto out;
		}
	}
	if ((nv = reallocarray(v, n + 1, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	v = nv;
	now = time(NULL);
	v[n].e_serial = s;
	v[n].e_when = now;
	n++;
	/*
	 * mbedTLS refuses every peer while a CRL is past its nextUpdate, so
	 * by default the CRL lasts as long as the CA itself.
	 */
	if (o->o_days != 0)
		next = now + (time_t)o->o_days * 86400;
	else {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = ca.valid_to.year - 1900;
		tm.tm_mon = ca.valid_to.mon - 1;
		tm.tm_mday = ca.valid_to.day;
		tm.tm_hour = ca.valid_to.hour;
		tm.tm_min = ca.valid_to.min;
		tm.tm_sec = ca.valid_to.sec;
		next = timegm(&tm);
		if (next <= now)
			next = now + 86400;
	}
	if (gt_certgen_rng_init(&rng, err, errlen) == -1)
		goto out;
	rng_ok = 1;
	if (gt_certgen_crl_make(&ca, &key, v, n, number + 1, now, next, &rng,
	    &pem, &pemlen, err, errlen) == -1)
		goto out;
	memset(&f, 0, sizeof(f));
	f.f_name = "crl.pem";
	f.f_data = pem;
	f.f_len = pemlen;
	f.f_secret = 0;
	if (gt_certgen_write_files(o->o_ca, &f, 1, 1, err, errlen) == -1)
		goto out;
	log_info("certgen", "%s revokes %zu certificate%s (CRL number %d)",
	    path, n, n == 1 ? "" : "s", number + 1);
	rv = 0;
out:
	if (rng_ok)
		gt_certgen_rng_free(&rng);
	free(pem);
	free(v);
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&ca);
	return rv;
}
