/*
 * auth.h: who may call the API. An allowlist of IPv4/IPv6 CIDRs checked on
 * the peer address, then HS256 JWTs (libjwt) with exp/nbf and a role.
 */
#ifndef GT_AUTH_H
#define GT_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>

#include "gt/addr.h"	/* struct gt_cidr */

/* Parse "a.b.c.d/n", "x::y/n", or a bare address (/32, /128). 0 or -1. */
int	gt_cidr_parse(const char *, struct gt_cidr *);

enum gt_role {
	GT_ROLE_NONE = 0,
	GT_ROLE_READ,		/* GET only */
	GT_ROLE_ADMIN,		/* everything */
};

#define GT_JWT_OK		0
#define GT_JWT_E_MALFORMED	(-1)	/* not a JWT, bad base64/JSON */
#define GT_JWT_E_ALG		(-2)	/* alg is not HS256 (none, HS384, RS256, ...) */
#define GT_JWT_E_SIGNATURE	(-3)
#define GT_JWT_E_EXPIRED	(-4)
#define GT_JWT_E_NO_EXP		(-5)
#define GT_JWT_E_NOT_YET	(-6)	/* nbf in the future */
#define GT_JWT_E_ROLE		(-7)	/* role missing or unknown */

/*
 * Verify token against key (HS256) at time now. On GT_JWT_OK *role is set
 * and, if sub is not NULL, the subject is copied into it (truncated).
 */
int	gt_jwt_verify(const char *token, const unsigned char *key, size_t keylen,
	    time_t now, enum gt_role *role, char *sub, size_t sublen);
const char *gt_jwt_strerror(int);
/* A new HS256 token; malloc'ed string (caller frees), NULL on failure. */
char	*gt_jwt_issue(const unsigned char *key, size_t keylen, const char *sub,
	    enum gt_role role, time_t now, long ttl);
/* Constant-time comparison: 0 when equal. */
int	gt_ct_memcmp(const void *, const void *, size_t);

#endif
