/*
 * jwt.c: HS256 API tokens. The header is decoded and its alg checked by us
 * before libjwt sees the token, so "none" and every other alg are refused
 * up front; libjwt 1.10 checks the signature but not exp/nbf, which we do.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "gt/auth.h"

#define JWT_TOKEN_MAX	8192	/* longer is not one of ours */
#define JWT_HS256_LEN	32	/* HMAC-SHA256 output */

/* Compare n bytes without an early exit, so timing says nothing. */
int
gt_ct_memcmp(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *pa = a, *pb = b;
	volatile unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= pa[i] ^ pb[i];
	return acc != 0;
}

/* Short text for a GT_JWT_* code, for logs and 401 bodies. */
const char *
gt_jwt_strerror(int code)
{
	switch (code) {
	case GT_JWT_OK:
		return "ok";
	case GT_JWT_E_MALFORMED:
		return "malformed token";
	case GT_JWT_E_ALG:
		return "algorithm not allowed";
	case GT_JWT_E_SIGNATURE:
		return "bad signature";
	case GT_JWT_E_EXPIRED:
		return "token expired";
	case GT_JWT_E_NO_EXP:
		return "token has no exp";
	case GT_JWT_E_NOT_YET:
		return "token not yet valid";
	case GT_JWT_E_ROLE:
		return "role missing or unknown";
	}
	return "unknown token error";
}

/* Is c in the base64url alphabet (no padding)? */
static int
jwt_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Decode len bytes of unpadded base64url at s into a malloc'ed buffer
 * (*out, *outlen; NUL-terminated for convenience). 0 or -1.
 */
static int
jwt_b64url_decode(const char *s, size_t len, unsigned char **out,
    size_t *outlen)
{
	char *std;
	unsigned char *dec;
	size_t i, slen, dlen;

	*out = NULL;
	*outlen = 0;
	if (len == 0 || len % 4 == 1 || len > JWT_TOKEN_MAX)
		return -1;
	if ((std = malloc(len + 4)) == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		if (!jwt_b64url_char(s[i])) {
			free(std);
			return -1;
		}
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	}
	slen = len;
	while (slen % 4 != 0)
		std[slen++] = '=';
	if ((dec = malloc(slen / 4 * 3 + 1)) == NULL) {
		free(std);
		return -1;
	}
	if (mbedtls_base64_decode(dec, slen / 4 * 3, &dlen,
	    (const unsigned char *)std, slen) != 0) {
		free(std);
		free(dec);
		return -1;
	}
	free(std);
	dec[dlen] = '\0';
	*out = dec;
	*outlen = dlen;
	return 0;
}

/* Decode one part as a JSON object (duplicate keys refused). NULL if not. */
static json_t *
jwt_part_json(const char *s, size_t len)
{
	unsigned char *raw;
	size_t rawlen;
	json_t *j;

	if (jwt_b64url_decode(s, len, &raw, &rawlen) == -1)
		return NULL;
	j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES,
	    NULL);
	free(raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/*
 * Our own constant-time check of the HS256 signature over "header.payload"
 * (libjwt compares with strcmp), so a forged token never reaches libjwt.
 */
static int
jwt_hs256_ok(const char *token, size_t signedlen, const char *sig,
    size_t siglen, const unsigned char *key, size_t keylen)
{
	const mbedtls_md_info_t *md;
	unsigned char mac[JWT_HS256_LEN], *got;
	size_t gotlen;
	int ok;

	if ((md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256)) == NULL)
		return 0;
	if (jwt_b64url_decode(sig, siglen, &got, &gotlen) == -1)
		return 0;
	if (gotlen != sizeof(mac) || mbedtls_md_hmac(md, key, keylen,
	    (const unsigned char *)token, signedlen, mac) != 0) {
		free(got);
		return 0;
	}
	ok = gt_ct_memcmp(mac, got, sizeof(mac)) == 0;
	mbedtls_platform_zeroize(mac, sizeof(mac));
	free(got);
	return ok;
}

/* Check exp, nbf and role in the verified claims; fill role and sub. */
static int
jwt_check_claims(json_t *claims, time_t now, enum gt_role *role, char *sub,
    size_t sublen)
{
	json_t *exp, *nbf, *r, *s;
	const char *rs;

	exp = json_object_get(claims, "exp");
	if (exp == NULL || !json_is_integer(exp))
		return GT_JWT_E_NO_EXP;
	if ((json_int_t)now >= json_integer_value(exp))
		return GT_JWT_E_EXPIRED;
	if ((nbf = json_object_get(claims, "nbf")) != NULL) {
		if (!json_is_integer(nbf))
			return GT_JWT_E_MALFORMED;
		if (json_integer_value(nbf) > (json_int_t)now)
			return GT_JWT_E_NOT_YET;
	}
	r = json_object_get(claims, "role");
	if (r == NULL || !json_is_string(r))
		return GT_JWT_E_ROLE;
	rs = json_string_value(r);
	if (strcmp(rs, "admin") == 0)
		*role = GT_ROLE_ADMIN;
	else if (strcmp(rs, "read") == 0)
		*role = GT_ROLE_READ;
	else
		return GT_JWT_E_ROLE;
	s = json_object_get(claims, "sub");
	if (sub != NULL && sublen > 0 && s != NULL && json_is_string(s))
		snprintf(sub, sublen, "%s", json_string_value(s));
	return GT_JWT_OK;
}

/* Check token: alg first, then signature, exp, nbf, role. */
int
gt_jwt_verify(const char *token, const unsigned char *key, size_t keylen,
    time_t now, enum gt_role *role, char *sub, size_t sublen)
{
	const char *dot1, *dot2, *p;
	size_t len;
	json_t *hdr = NULL, *claims = NULL, *alg;
	jwt_t *jwt = NULL;
	enum gt_role r = GT_ROLE_NONE;
	int ret;

	if (role != NULL)
		*role = GT_ROLE_NONE;
	if (sub != NULL && sublen > 0)
		sub[0] = '\0';
	if (token == NULL)
		return GT_JWT_E_MALFORMED;
	len = strnlen(token, JWT_TOKEN_MAX + 1);
	if (len == 0 || len > JWT_TOKEN_MAX)
		return GT_JWT_E_MALFORMED;
	/* Exactly three parts of base64url. */
	for (p = token; *p != '\0'; p++)
		if (*p != '.' && !jwt_b64url_char(*p))
			return GT_JWT_E_MALFORMED;
	if ((dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL)
		return GT_JWT_E_MALFORMED;

	/* The header's alg decides before anything else is trusted. */
	if ((hdr = jwt_part_json(token, (size_t)(dot1 - token))) == NULL)
		return GT_JWT_E_MALFORMED;
	alg = json_object_get(hdr, "alg");
	if (alg == NULL || !json_is_string(alg) ||
	    strcmp(json_string_value(alg), "HS256") != 0) {
		ret = GT_JWT_E_ALG;
		goto out;
	}
	/* We understand no critical extension (RFC 7515 4.1.11). */
	if (json_object_get(hdr, "crit") != NULL) {
		ret = GT_JWT_E_MALFORMED;
		goto out;
	}
	if ((claims = jwt_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) ==
	    NULL) {
		ret = GT_JWT_E_MALFORMED;
		goto out;
	}
	if (key == NULL || keylen == 0 || keylen > INT_MAX ||
	    dot2[1] == '\0' ||
	    !jwt_hs256_ok(token, (size_t)(dot2 - token), dot2 + 1,
	    len - (size_t)(dot2 + 1 - token), key, keylen)) {
		ret = GT_JWT_E_SIGNATURE;
		goto out;
	}
	/* libjwt checks the signature again, with the key, never without. */
	if (jwt_decode(&jwt, token, key, (int)keylen) != 0 || jwt == NULL) {
		ret = GT_JWT_E_SIGNATURE;
		goto out;
	}
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		ret = GT_JWT_E_ALG;
		goto out;
	}
	/* claims are the signed bytes, parsed strictly (no duplicate keys). */
	if ((ret = jwt_check_claims(claims, now, &r, sub, sublen)) !=
	    GT_JWT_OK) {
		if (sub != NULL && sublen > 0)
			sub[0] = '\0';
		goto out;
	}
	if (role != NULL)
		*role = r;
 out:
	if (jwt != NULL)
		jwt_free(jwt);
	json_decref(claims);
	json_decref(hdr);
	return ret;
}

/* Sign a new HS256 token for sub with role, valid [now, now + ttl). */
char *
gt_jwt_issue(const unsigned char *key, size_t keylen, const char *sub,
    enum gt_role role, time_t now, long ttl)
{
	jwt_t *jwt = NULL;
	const char *rs;
	char *enc = NULL, *copy = NULL;

	if (key == NULL || keylen == 0 || keylen > INT_MAX || ttl <= 0 ||
	    now < 0 || (long)now > LONG_MAX - ttl)
		return NULL;
	if (role == GT_ROLE_ADMIN)
		rs = "admin";
	else if (role == GT_ROLE_READ)
		rs = "read";
	else
		return NULL;
	if (jwt_new(&jwt) != 0 || jwt == NULL)
		return NULL;
	if (jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen) != 0)
		goto out;
	if (sub != NULL && jwt_add_grant(jwt, "sub", sub) != 0)
		goto out;
	if (jwt_add_grant(jwt, "role", rs) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "nbf", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)now + ttl) != 0)
		goto out;
	if ((enc = jwt_encode_str(jwt)) == NULL)
		goto out;
	copy = strdup(enc);
	free(enc);	/* libjwt 1.10 has no jwt_free_str */
 out:
	jwt_free(jwt);
	return copy;
}
