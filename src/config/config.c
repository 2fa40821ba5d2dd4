/*
 * config.c: gt-server's configuration (SPEC §3). One table holds every key
 * path with its type, bounds, default and place in struct gt_config; a walk
 * over libyaml's events fills the struct from it, refusing anything the
 * table does not describe.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "gt/addr.h"
#include "gt/config.h"
#include "gt/log.h"

#define CONFIG_MAX_FILE		(1024 * 1024)	/* config.yaml */
#define CONFIG_MAX_KEYFILE	(64 * 1024)	/* jwt_secret_file */
#define CONFIG_JWT_MIN		32
#define CONFIG_KEYPATH_MAX	96		/* longest key path shown */
#define CONFIG_SHOW_MAX		40		/* longest value echoed */
#define CONFIG_MSG_MAX		512
#define CONFIG_GT_HITS		32		/* go-tunnel keys noted (it has 12) */

enum config_type {
	CONFIG_SECTION,		/* a mapping of further keys */
	CONFIG_BOOL,		/* int */
	CONFIG_INT,		/* int in [min, max] */
	CONFIG_PORT,		/* uint16_t in [min, max] */
	CONFIG_ADDR,		/* char[size]: an IPv4 or IPv6 literal */
	CONFIG_PATH,		/* char[size]: a file name */
	CONFIG_LOGLEVEL,	/* char[size]: debug|info|warn|error */
	CONFIG_PORTS,		/* uint16_t[size], count at noff */
	CONFIG_CIDRS,		/* char[size][64], count at noff */
};

struct config_entry {
	const char		*path;
	enum config_type	 type;
	size_t			 off;	/* into struct gt_config */
	size_t			 size;	/* string buffer bytes, or list capacity */
	size_t			 noff;	/* list entry count */
	long			 min, max;
	const char		*def;	/* default; lists comma-separated */
	const char		*help;
};

#define CF(m)		offsetof(struct gt_config, m)
#define CFS(m)		sizeof(((struct gt_config *)NULL)->m)
#define CFN(m)		(sizeof(((struct gt_config *)NULL)->m) / \
			    sizeof(((struct gt_config *)NULL)->m[0]))
#define SECTION(p, h)	{ p, CONFIG_SECTION, 0, 0, 0, 0, 0, NULL, h }

static const struct config_entry config_table[] = {
	{ "public_addr", CONFIG_ADDR, CF(public_addr), CFS(public_addr), 0,
	    0, 0, "0.0.0.0", "IP address the mapping ports listen on (\"::\": "
	    "IPv6 and IPv4)" },
	SECTION("port_range", "public ports mappings may use"),
	{ "port_range.from", CONFIG_PORT, CF(port_range.from), 0, 0,
	    1, 65535, "10000", "lowest public port a mapping may use" },
	{ "port_range.end", CONFIG_PORT, CF(port_range.end), 0, 0,
	    1, 65535, "10100", "highest public port a mapping may use" },

	SECTION("tunnel", "the listener tunnel clients connect to"),
	{ "tunnel.enabled", CONFIG_BOOL, CF(tunnel.enabled), 0, 0,
	    0, 1, "true", "accept tunnel clients" },
	{ "tunnel.listen_addr", CONFIG_ADDR, CF(tunnel.listen_addr),
	    CFS(tunnel.listen_addr), 0, 0, 0, "0.0.0.0",
	    "IP address the tunnel listener binds" },
	{ "tunnel.listen_port", CONFIG_PORT, CF(tunnel.listen_port), 0, 0,
	    1, 65535, "9000", "TCP port of the tunnel listener" },
	{ "tunnel.heartbeat_interval", CONFIG_INT,
	    CF(tunnel.heartbeat_interval), 0, 0, 1, 3600, "10",
	    "seconds between keep-alives" },
	{ "tunnel.heartbeat_timeout", CONFIG_INT,
	    CF(tunnel.heartbeat_timeout), 0, 0, 2, 86400, "30",
	    "seconds of silence before a tunnel is dropped" },

	SECTION("api", "the REST API listener"),
	{ "api.listen_addr", CONFIG_ADDR, CF(api.listen_addr),
	    CFS(api.listen_addr), 0, 0, 0, "127.0.0.1",
	    "IP address the API binds" },
	{ "api.listen_port", CONFIG_PORT, CF(api.listen_port), 0, 0,
	    1, 65535, "8080", "TCP port of the API" },
	{ "api.tls", CONFIG_BOOL, CF(api.tls), 0, 0, 0, 1, "false",
	    "HTTPS on the API port (mbedTLS); plain HTTP is then refused" },
	{ "api.cert_file", CONFIG_PATH, CF(api.cert_file), CFS(api.cert_file),
	    0, 0, 0, "certs/server.crt", "the API's certificate (PEM), with api.tls" },
	{ "api.key_file", CONFIG_PATH, CF(api.key_file), CFS(api.key_file),
	    0, 0, 0, "certs/server.key", "the API's private key (PEM), with api.tls" },
	{ "api.client_ca", CONFIG_PATH, CF(api.client_ca), CFS(api.client_ca),
	    0, 0, 0, "", "set: API callers need a certificate from this CA too" },
	{ "api.allow_plain_http", CONFIG_BOOL, CF(api.allow_plain_http), 0, 0,
	    0, 1, "false", "serve plain HTTP on a non-loopback api.listen_addr "
	    "(tokens then cross the network in clear)" },
	{ "api.max_connections", CONFIG_INT, CF(api.max_connections), 0, 0,
	    1, 100000, "64", "open API connections at once; more are closed at accept" },
	{ "api.max_connections_per_ip", CONFIG_INT,
	    CF(api.max_connections_per_ip), 0, 0, 1, 100000, "32",
	    "open API connections at once from one address" },
	{ "api.max_sessions_listed", CONFIG_INT,
	    CF(api.max_sessions_listed), 0, 0, 1, 1000000, "10000",
	    "live sessions one answer of /api/connections lists at most" },
	{ "api.header_timeout", CONFIG_INT, CF(api.header_timeout), 0, 0,
	    1, 3600, "10", "seconds to receive a whole request head" },
	{ "api.body_timeout", CONFIG_INT, CF(api.body_timeout), 0, 0,
	    1, 3600, "10", "seconds to receive a whole request body" },
	{ "api.idle_timeout", CONFIG_INT, CF(api.idle_timeout), 0, 0,
	    1, 86400, "30", "seconds a connection may wait between requests" },

	SECTION("database", "mapping storage"),
	{ "database.path", CONFIG_PATH, CF(database.path),
	    CFS(database.path), 0, 0, 0, "./data/mappings.db",
	    "SQLite file holding the mappings" },
	{ "database.busy_timeout", CONFIG_INT, CF(database.busy_timeout), 0, 0,
	    1, 1000, "20", "milliseconds a write waits for a database another "
	    "process has locked before the API answers 503" },

	SECTION("stats", "traffic history"),
	{ "stats.record_interval", CONFIG_INT, CF(stats.record_interval), 0, 0,
	    1, 3600, "60", "seconds per traffic history record (one per "
	    "mapping per interval)" },
	{ "stats.retention_days", CONFIG_INT, CF(stats.retention_days), 0, 0,
	    1, 3650, "7", "days traffic history is kept; older records are "
	    "pruned" },

	SECTION("security", "authentication and transport security"),
	SECTION("security.api", "API access control"),
	{ "security.api.enable_auth", CONFIG_BOOL,
	    CF(security.api.enable_auth), 0, 0, 0, 1, "true",
	    "require a JWT on every API path but /health" },
	{ "security.api.jwt_secret_file", CONFIG_PATH,
	    CF(security.api.jwt_secret_file),
	    CFS(security.api.jwt_secret_file), 0, 0, 0, "certs/jwt.key",
	    "HS256 key: the file's bytes less trailing white space, >= 32" },
	{ "security.api.allowed_ips", CONFIG_CIDRS,
	    CF(security.api.allowed_ips), CFN(security.api.allowed_ips),
	    CF(security.api.n_allowed_ips), 0, 0, "127.0.0.1/32,::1/128",
	    "CIDR blocks (IPv4, IPv6) allowed to reach the API" },
	SECTION("security.tunnel", "tunnel transport security"),
	{ "security.tunnel.enable_tls", CONFIG_BOOL,
	    CF(security.tunnel.enable_tls), 0, 0, 0, 1, "true",
	    "mutual TLS on the tunnel listener" },
	{ "security.tunnel.cert_file", CONFIG_PATH,
	    CF(security.tunnel.cert_file), CFS(security.tunnel.cert_file),
	    0, 0, 0, "certs/server.crt", "server certificate (PEM)" },
	{ "security.tunnel.key_file", CONFIG_PATH,
	    CF(security.tunnel.key_file), CFS(security.tunnel.key_file),
	    0, 0, 0, "certs/server.key", "server private key (PEM)" },
	{ "security.tunnel.client_ca", CONFIG_PATH,
	    CF(security.tunnel.client_ca), CFS(security.tunnel.client_ca),
	    0, 0, 0, "certs/ca.crt", "CA that signs client certificates" },
	{ "security.tunnel.crl_file", CONFIG_PATH,
	    CF(security.tunnel.crl_file), CFS(security.tunnel.crl_file),
	    0, 0, 0, "", "revoked client certificates (PEM CRL from gt-certgen "
	    "revoke); reloaded on SIGHUP" },
	SECTION("security.port_range", "public port restrictions"),
	{ "security.port_range.blacklist", CONFIG_PORTS,
	    CF(security.port_range.blacklist),
	    CFN(security.port_range.blacklist),
	    CF(security.port_range.n_blacklist), 1, 65535, "22,3389,5432",
	    "public ports no mapping may use" },

	SECTION("limits", "memory and session bounds (docs/OPERATIONS.md)"),
	{ "limits.max_sessions", CONFIG_INT, CF(limits.max_sessions), 0, 0,
	    1, 1000000, "20000",
	    "public sessions at once in the whole server; accepting pauses "
	    "at the limit" },
	{ "limits.max_sessions_per_mapping", CONFIG_INT,
	    CF(limits.max_sessions_per_mapping), 0, 0, 1, 1000000, "10000",
	    "public sessions at once on one mapping; its port stops "
	    "accepting at the limit" },
	{ "limits.stream_window", CONFIG_INT, CF(limits.stream_window), 0, 0,
	    16384, 16777216, "32768",
	    "initial receive window of a tunnel stream, bytes" },
	{ "limits.stream_window_max", CONFIG_INT,
	    CF(limits.stream_window_max), 0, 0, 16384, 16777216, "4194304",
	    "a stream that drains fast grows its window up to this" },
	{ "limits.tunnel_buffer", CONFIG_INT, CF(limits.tunnel_buffer), 0, 0,
	    65536, 1073741824, "8388608",
	    "per tunnel: bytes of window growth beyond the initial windows" },
	{ "limits.process_buffer", CONFIG_INT, CF(limits.process_buffer), 0, 0,
	    65536, 1073741824, "268435456",
	    "all tunnels together: bytes of window growth" },
	{ "limits.tunnel_output_max", CONFIG_INT,
	    CF(limits.tunnel_output_max), 0, 0, 262144, 1073741824, "4194304",
	    "our unsent frames to a tunnel peer that does not read: past "
	    "this the tunnel is cut off" },

	SECTION("log", "logging"),
	{ "log.level", CONFIG_LOGLEVEL, CF(log.level), CFS(log.level), 0,
	    0, 0, "info", "debug, info, warn or error" },
	{ "log.rate_limit", CONFIG_INT, CF(log.rate_limit), 0, 0, 1, 100000,
	    "10", "warnings of one kind from one peer per 10 s; the rest are "
	    "counted and reported as suppressed" },
};
#define CONFIG_NENTRIES	(sizeof(config_table) / sizeof(config_table[0]))

/* A go-tunnel key met in the file (-check-config). */
struct config_gthit {
	size_t				 line;
	const struct gt_config_gtkey	*key;
	int				 lacks;
};

/* One parse: the libyaml parser, the struct being filled, where keys were. */
struct config_parse {
	yaml_parser_t		 parser;
	const char		*name;
	struct gt_config	*cfg;
	size_t			 line[CONFIG_NENTRIES];	/* 1-based; 0: unset */
	char			*err;
	size_t			 errlen;
	/* -check-config: go-tunnel keys gt lacks are noted, not fatal */
	int			 lenient;
	struct config_gthit	 hits[CONFIG_GT_HITS];
	size_t			 nhits;
	size_t			 nlacks;	/* keys gt lacks, all of them */
	size_t			 ngtonly;	/* leaf keys go-tunnel never had */
};

static const char *const config_levels[] = { "debug", "info", "warn", "error" };

/* Copy a value for a message: printable ASCII only, bounded. */
static void
config_show(const char *s, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	if (outlen == 0)
		return;
	for (i = 0; i < len && o + 1 < outlen; i++) {
		if (i == CONFIG_SHOW_MAX) {
			if (o + 4 < outlen) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	}
	out[o] = '\0';
}

/* Write "name[:line]: [key: ]message" into the caller's error buffer. */
static void
config_seterr(char *err, size_t errlen, const char *name, size_t line,
    const char *key, const char *msg)
{
	char	where[CONFIG_MSG_MAX];

	if (err == NULL || errlen == 0)
		return;
	if (name == NULL)
		name = "config";
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%zu", name, line);
	else
		snprintf(where, sizeof(where), "%s", name);
	if (key != NULL)
		snprintf(err, errlen, "%s: %s: %s", where, key, msg);
	else
		snprintf(err, errlen, "%s: %s", where, msg);
}

/* Report a parse error at a line (0: none) for a key (NULL: none). */
static void __attribute__((format(printf, 4, 5)))
config_err(struct config_parse *p, size_t line, const char *key,
    const char *fmt, ...)
{
	char	msg[CONFIG_MSG_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_seterr(p->err, p->errlen, p->name, line, key, msg);
}

/* Find a key path in the table; -1 if unknown. */
static int
config_lookup(const char *path)
{
	size_t	i;

	for (i = 0; i < CONFIG_NENTRIES; i++)
		if (strcmp(config_table[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* Whether gt's own table has the key path. */
int
gt_config_key_known(const char *path)
{
	return config_lookup(path) != -1;
}

/* The table index of a known entry (for cross-key checks). */
static size_t
config_index(const char *path)
{
	int	i;

	i = config_lookup(path);
	if (i < 0)
		abort();	/* a path missing from our own table */
	return (size_t)i;
}

/* What a value of this type is called in "expected ..." messages. */
static const char *
config_type_name(enum config_type t)
{
	switch (t) {
	case CONFIG_SECTION:
		return "a mapping";
	case CONFIG_BOOL:
		return "a boolean (true/false)";
	case CONFIG_INT:
		return "an integer";
	case CONFIG_PORT:
		return "a port number";
	case CONFIG_ADDR:
		return "an IP address";
	case CONFIG_PATH:
		return "a file name";
	case CONFIG_LOGLEVEL:
		return "a log level";
	case CONFIG_PORTS:
		return "a list of ports";
	case CONFIG_CIDRS:
		return "a list of CIDR blocks";
	}
	return "a value";
}

/* What a YAML event found where a value belongs is, for messages. */
static const char *
config_event_name(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_SCALAR_EVENT:
		return "a scalar";
	default:
		return "nothing";
	}
}

/* A plain empty, ~ or null scalar: YAML's null. */
static int
config_is_null(const char *s, size_t len, int plain)
{
	if (!plain)
		return 0;
	return len == 0 || (len == 1 && s[0] == '~') ||
	    (len == 4 && strncasecmp(s, "null", 4) == 0);
}

/*
 * A decimal integer in [min, max]: the whole plain scalar, no leading zeros
 * (YAML 1.1 reads 010 as octal), no floats. Message without the key in msg.
 */
static int
config_integer(const char *s, size_t len, int plain, long min, long max,
    long *out, char *msg, size_t msglen)
{
	char	 show[CONFIG_SHOW_MAX + 8];
	char	*end;
	size_t	 i;
	long	 v;

	config_show(s, len, show, sizeof(show));
	if (!plain) {
		snprintf(msg, msglen, "expected an integer, got quoted "
		    "string \"%s\"", show);
		return -1;
	}
	i = (len > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
	if (i == len || s[i] < '0' || s[i] > '9' || strlen(s) != len) {
		snprintf(msg, msglen, "expected an integer, got \"%s\"", show);
		return -1;
	}
	if (s[i] == '0' && i + 1 < len) {
		snprintf(msg, msglen, "expected a decimal integer, got \"%s\"",
		    show);
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (end != s + len) {
		snprintf(msg, msglen, "expected an integer, got \"%s\"", show);
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		snprintf(msg, msglen, "%s is out of range %ld..%ld", show,
		    min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A string for a char[size] field: no control bytes, must fit. */
static int
config_string(const char *s, size_t len, size_t size, char *msg,
    size_t msglen)
{
	size_t	i;

	if (len == 0) {
		snprintf(msg, msglen, "empty value");
		return -1;
	}
	if (len >= size) {
		snprintf(msg, msglen, "value is %zu bytes, longer than the "
		    "maximum %zu", len, size - 1);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(msg, msglen, "control character in value");
			return -1;
		}
	}
	return 0;
}

/* The unspecified address (0.0.0.0 or ::), which binds every address. */
static int
config_is_any(const char *s)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const uint8_t		*a;
	size_t			 n, i;

	if (gt_addr_parse_ip(s, 0, 0, &ss, &sl) == -1)
		return 0;
	n = gt_addr_bytes((struct sockaddr *)&ss, sl, &a);
	for (i = 0; i < n; i++)
		if (a[i] != 0)
			return 0;
	return n > 0;
}

/* Whether s is a loopback literal: 127.0.0.0/8, ::1, or ::ffff:127.x. */
static int
config_is_loopback(const char *s)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const uint8_t		*a;
	static const uint8_t	 v6lo[16] = { [15] = 1 };
	static const uint8_t	 mapped[12] = { [10] = 0xff, [11] = 0xff };
	size_t			 n;

	if (gt_addr_parse_ip(s, 0, 0, &ss, &sl) == -1)
		return 0;
	n = gt_addr_bytes((struct sockaddr *)&ss, sl, &a);
	if (n == 4)
		return a[0] == 127;
	if (n == 16)
		return memcmp(a, v6lo, 16) == 0 ||
		    (memcmp(a, mapped, 12) == 0 && a[12] == 127);
	return 0;
}

/*
 * A CIDR block "addr/prefix" (a bare address means a host: /32 or /128),
 * parsed by gt_cidr_scan; no leading zeros in the prefix, as everywhere in
 * the file. Writes the normalised text to out[outlen].
 */
static int
config_cidr(const char *s, size_t len, char *out, size_t outlen, char *msg,
    size_t msglen)
{
	char		 show[CONFIG_SHOW_MAX + 8], buf[64], *slash;
	struct gt_cidr	 cidr;
	unsigned	 maxp;
	int		 rc;

	config_show(s, len, show, sizeof(show));
	if (config_string(s, len, outlen, msg, msglen) == -1)
		return -1;
	if (len >= sizeof(buf))
		goto bad;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((rc = gt_cidr_scan(buf, GT_CIDR_STRICT, &cidr)) == GT_CIDR_EADDR)
		goto bad;
	/* The limit as written: ::ffff:a.b.c.d counts as IPv6 here. */
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	maxp = gt_addr_ip_family(buf) == AF_INET ? 32 : 128;
	if (rc == GT_CIDR_EPREFIX) {
		snprintf(msg, msglen, "\"%s\": prefix length must be 0..%u",
		    show, maxp);
		return -1;
	}
	if (slash == NULL) {
		if (snprintf(out, outlen, "%s/%u", buf, maxp) >= (int)outlen)
			goto bad;
		return 0;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
bad:
	snprintf(msg, msglen, "\"%s\" is not a CIDR block (e.g. 10.0.0.0/8, "
	    "fd00::/8)", show);
	return -1;
}

/*
 * Store one scalar (or one list entry) of entry e into c. Returns -1 with
 * the reason (without the key) in msg.
 */
static int
config_store(struct gt_config *c, const struct config_entry *e,
    const char *s, size_t len, int plain, char *msg, size_t msglen)
{
	char	 show[CONFIG_SHOW_MAX + 8];
	char	*base = (char *)c + e->off;
	size_t	*n;
	long	 v;
	size_t	 i;

	config_show(s, len, show, sizeof(show));
	if (strlen(s) != len) {
		snprintf(msg, msglen, "NUL byte in value");
		return -1;
	}
	/* A path whose default is empty is optional: "" turns it off. */
	if (e->type == CONFIG_PATH && len == 0 && e->def[0] == '\0') {
		*base = '\0';
		return 0;
	}
	if (config_is_null(s, len, plain)) {
		snprintf(msg, msglen, "expected %s, got an empty value",
		    config_type_name(e->type));
		return -1;
	}
	switch (e->type) {
	case CONFIG_BOOL:
		if (plain && (strcasecmp(s, "true") == 0 ||
		    strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0))
			v = 1;
		else if (plain && (strcasecmp(s, "false") == 0 ||
		    strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0))
			v = 0;
		else {
			snprintf(msg, msglen, "expected true or false, got "
			    "%s\"%s\"", plain ? "" : "quoted string ", show);
			return -1;
		}
		*(int *)base = (int)v;
		return 0;
	case CONFIG_INT:
		if (config_integer(s, len, plain, e->min, e->max, &v, msg,
		    msglen) == -1)
			return -1;
		*(int *)base = (int)v;
		return 0;
	case CONFIG_PORT:
		if (config_integer(s, len, plain, e->min, e->max, &v, msg,
		    msglen) == -1)
			return -1;
		*(uint16_t *)base = (uint16_t)v;
		return 0;
	case CONFIG_ADDR:
		if (config_string(s, len, e->size, msg, msglen) == -1)
			return -1;
		if (gt_addr_ip_family(s) == 0) {
			snprintf(msg, msglen, "\"%s\" is not an IPv4 or IPv6 "
			    "address", show);
			return -1;
		}
		memcpy(base, s, len + 1);
		return 0;
	case CONFIG_PATH:
		if (config_string(s, len, e->size, msg, msglen) == -1)
			return -1;
		memcpy(base, s, len + 1);
		return 0;
	case CONFIG_LOGLEVEL:
		for (i = 0; i < sizeof(config_levels) / sizeof(config_levels[0]);
		    i++) {
			if (strlen(s) == len && strcasecmp(s, config_levels[i]) == 0)
				break;
		}
		if (i == sizeof(config_levels) / sizeof(config_levels[0]) &&
		    strlen(s) == len && strcasecmp(s, "warning") == 0)
			i = 2;
		if (i == sizeof(config_levels) / sizeof(config_levels[0])) {
			snprintf(msg, msglen, "\"%s\" is not a log level "
			    "(debug, info, warn, error)", show);
			return -1;
		}
		snprintf(base, e->size, "%s", config_levels[i]);
		return 0;
	case CONFIG_PORTS:
		n = (size_t *)((char *)c + e->noff);
		if (*n >= e->size) {
			snprintf(msg, msglen, "more than %zu entries", e->size);
			return -1;
		}
		if (config_integer(s, len, plain, e->min, e->max, &v, msg,
		    msglen) == -1)
			return -1;
		((uint16_t *)base)[(*n)++] = (uint16_t)v;
		return 0;
	case CONFIG_CIDRS:
		n = (size_t *)((char *)c + e->noff);
		if (*n >= e->size) {
			snprintf(msg, msglen, "more than %zu entries", e->size);
			return -1;
		}
		if (config_cidr(s, len, base + *n * CFS(security.api.allowed_ips[0]),
		    CFS(security.api.allowed_ips[0]), msg, msglen) == -1)
			return -1;
		(*n)++;
		return 0;
	case CONFIG_SECTION:
		break;
	}
	snprintf(msg, msglen, "expected %s", config_type_name(e->type));
	return -1;
}

/* Checks between keys, after all are read; lines say where keys were. */
static int
config_validate(struct gt_config *c, const size_t *line, const char *name,
    char *err, size_t errlen)
{
	char	msg[CONFIG_MSG_MAX];
	size_t	lf, le, li, lt;

	lf = line[config_index("port_range.from")];
	le = line[config_index("port_range.end")];
	if (c->port_range.from > c->port_range.end) {
		snprintf(msg, sizeof(msg), "%u is greater than port_range.end "
		    "%u", c->port_range.from, c->port_range.end);
		config_seterr(err, errlen, name, lf ? lf : le,
		    "port_range.from", msg);
		return -1;
	}
	li = line[config_index("tunnel.heartbeat_interval")];
	lt = line[config_index("tunnel.heartbeat_timeout")];
	if (c->tunnel.heartbeat_timeout <= c->tunnel.heartbeat_interval) {
		snprintf(msg, sizeof(msg), "%d must be greater than "
		    "tunnel.heartbeat_interval %d", c->tunnel.heartbeat_timeout,
		    c->tunnel.heartbeat_interval);
		config_seterr(err, errlen, name, lt ? lt : li,
		    "tunnel.heartbeat_timeout", msg);
		return -1;
	}
	if (c->limits.stream_window_max < c->limits.stream_window) {
		snprintf(msg, sizeof(msg), "%d is less than limits.stream_window "
		    "%d", c->limits.stream_window_max, c->limits.stream_window);
		config_seterr(err, errlen, name,
		    line[config_index("limits.stream_window_max")],
		    "limits.stream_window_max", msg);
		return -1;
	}
	if (c->security.api.n_allowed_ips == 0) {
		config_seterr(err, errlen, name,
		    line[config_index("security.api.allowed_ips")],
		    "security.api.allowed_ips", "empty list (to allow every "
		    "address say so: [0.0.0.0/0, \"::/0\"])");
		return -1;
	}
	if (!c->api.tls && !c->api.allow_plain_http &&
	    !config_is_loopback(c->api.listen_addr)) {
		snprintf(msg, sizeof(msg), "%s is not a loopback address and "
		    "api.tls is off: tokens would cross the network in clear "
		    "(set api.tls: true, or api.allow_plain_http: true to accept "
		    "that)", c->api.listen_addr);
		config_seterr(err, errlen, name,
		    line[config_index("api.listen_addr")], "api.listen_addr",
		    msg);
		return -1;
	}
	if (c->tunnel.enabled &&
	    c->tunnel.listen_port == c->api.listen_port &&
	    (strcmp(c->tunnel.listen_addr, c->api.listen_addr) == 0 ||
	    config_is_any(c->tunnel.listen_addr) ||
	    config_is_any(c->api.listen_addr))) {
		snprintf(msg, sizeof(msg), "%u is also tunnel.listen_port",
		    c->api.listen_port);
		config_seterr(err, errlen, name,
		    line[config_index("api.listen_port")], "api.listen_port",
		    msg);
		return -1;
	}
	return 0;
}

void
gt_config_defaults(struct gt_config *c)
{
	const struct config_entry	*e;
	const char			*s, *comma;
	char				 msg[CONFIG_MSG_MAX], item[64];
	size_t				 i, len;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < CONFIG_NENTRIES; i++) {
		e = &config_table[i];
		if (e->type == CONFIG_SECTION)
			continue;
		if (e->type != CONFIG_PORTS && e->type != CONFIG_CIDRS) {
			if (config_store(c, e, e->def, strlen(e->def), 1, msg,
			    sizeof(msg)) == -1)
				abort();	/* our own default is broken */
			continue;
		}
		for (s = e->def; *s != '\0'; s = *comma ? comma + 1 : comma) {
			comma = strchr(s, ',');
			if (comma == NULL)
				comma = s + strlen(s);
			len = (size_t)(comma - s);
			if (len >= sizeof(item))
				abort();
			memcpy(item, s, len);
			item[len] = '\0';
			if (config_store(c, e, item, len, 1, msg,
			    sizeof(msg)) == -1)
				abort();
		}
	}
}

/*
 * Next event, refusing what the schema never uses: aliases, anchors and
 * tags. On a YAML error the message has libyaml's line and problem.
 */
static int
config_next(struct config_parse *p, yaml_event_t *ev, const char *key)
{
	const yaml_char_t	*anchor = NULL, *tag = NULL;
	size_t			 line;

	if (!yaml_parser_parse(&p->parser, ev)) {
		if (p->parser.error == YAML_MEMORY_ERROR)
			config_err(p, 0, NULL, "out of memory");
		else if (p->parser.error == YAML_READER_ERROR)
			config_err(p, 0, NULL, "YAML error at byte %zu: %s",
			    p->parser.problem_offset, p->parser.problem ?
			    p->parser.problem : "unreadable input");
		else
			config_err(p, p->parser.problem_mark.line + 1, NULL,
			    "YAML syntax error: %s%s%s",
			    p->parser.problem ? p->parser.problem : "unknown",
			    p->parser.context ? " " : "",
			    p->parser.context ? p->parser.context : "");
		return -1;
	}
	line = ev->start_mark.line + 1;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		config_err(p, line, key, "YAML aliases are not allowed");
		yaml_event_delete(ev);
		return -1;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor != NULL) {
		config_err(p, line, key, "YAML anchors are not allowed");
		yaml_event_delete(ev);
		return -1;
	}
	if (tag != NULL) {
		config_err(p, line, key, "YAML tags are not allowed");
		yaml_event_delete(ev);
		return -1;
	}
	return 0;
}

static int	config_mapping(struct config_parse *, const char *);

/* The value of known key e: check and store it. */
static int
config_value(struct config_parse *p, const struct config_entry *e)
{
	yaml_event_t	 ev;
	char		 msg[CONFIG_MSG_MAX], key[CONFIG_KEYPATH_MAX + 16];
	size_t		*n, i, line;
	int		 rc;

	if (config_next(p, &ev, e->path) == -1)
		return -1;
	line = ev.start_mark.line + 1;
	if (e->type == CONFIG_SECTION) {
		if (ev.type != YAML_MAPPING_START_EVENT) {
			config_err(p, line, e->path, "expected a mapping, got %s",
			    ev.type == YAML_SCALAR_EVENT && config_is_null(
			    (char *)ev.data.scalar.value, ev.data.scalar.length,
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) ?
			    "an empty value" : config_event_name(&ev));
			yaml_event_delete(&ev);
			return -1;
		}
		yaml_event_delete(&ev);
		return config_mapping(p, e->path);
	}
	if (e->type != CONFIG_PORTS && e->type != CONFIG_CIDRS) {
		if (ev.type != YAML_SCALAR_EVENT) {
			config_err(p, line, e->path, "expected %s, got %s",
			    config_type_name(e->type), config_event_name(&ev));
			yaml_event_delete(&ev);
			return -1;
		}
		rc = config_store(p->cfg, e, (char *)ev.data.scalar.value,
		    ev.data.scalar.length,
		    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE, msg,
		    sizeof(msg));
		yaml_event_delete(&ev);
		if (rc == -1)
			config_err(p, line, e->path, "%s", msg);
		return rc;
	}

	/* A list replaces the default list entirely. */
	if (ev.type != YAML_SEQUENCE_START_EVENT) {
		config_err(p, line, e->path, "expected %s, got %s",
		    config_type_name(e->type), ev.type == YAML_SCALAR_EVENT &&
		    config_is_null((char *)ev.data.scalar.value,
		    ev.data.scalar.length,
		    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) ?
		    "an empty value" : config_event_name(&ev));
		yaml_event_delete(&ev);
		return -1;
	}
	yaml_event_delete(&ev);
	n = (size_t *)((char *)p->cfg + e->noff);
	*n = 0;
	for (i = 0;; i++) {
		snprintf(key, sizeof(key), "%s[%zu]", e->path, i);
		if (config_next(p, &ev, key) == -1)
			return -1;
		line = ev.start_mark.line + 1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			config_err(p, line, key, "expected a list entry, got %s",
			    config_event_name(&ev));
			yaml_event_delete(&ev);
			return -1;
		}
		rc = config_store(p->cfg, e, (char *)ev.data.scalar.value,
		    ev.data.scalar.length,
		    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE, msg,
		    sizeof(msg));
		yaml_event_delete(&ev);
		if (rc == -1) {
			config_err(p, line, *n >= e->size ? e->path : key,
			    "%s", msg);
			return -1;
		}
	}
}

/* Remember a go-tunnel key for -check-config's report (the first few). */
static void
config_gthit(struct config_parse *p, size_t line,
    const struct gt_config_gtkey *k, int lacks)
{
	if (p->nhits < CONFIG_GT_HITS) {
		p->hits[p->nhits].line = line;
		p->hits[p->nhits].key = k;
		p->hits[p->nhits].lacks = lacks;
		p->nhits++;
	}
}

/* Count a known key: go-tunnel's (noted if gt differs) or ours alone. */
static void
config_gtnote(struct config_parse *p, const char *path, size_t line,
    const struct config_entry *e)
{
	const struct gt_config_gtkey *k;

	if ((k = gt_config_gotunnel_key(path)) != NULL) {
		if (k->gk_note != NULL)
			config_gthit(p, line, k, 0);
	} else if (e->type != CONFIG_SECTION)
		p->ngtonly++;
}

/* Consume one value node, however nested, without looking at it. */
static int
config_skip(struct config_parse *p, const char *key)
{
	yaml_event_t	ev;
	size_t		depth = 0;

	do {
		if (config_next(p, &ev, key) == -1)
			return -1;
		if (ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (ev.type == YAML_MAPPING_END_EVENT ||
		    ev.type == YAML_SEQUENCE_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
	} while (depth > 0);
	return 0;
}

/*
 * A key gt does not have (path NULL: not even a well-formed one; show is
 * its printable form). go-tunnel's keys get what to do instead of
 * "unknown key" (and, under -check-config, do not stop the walk); a
 * section of go-tunnel's that gt lacks is walked for its keys.
 */
static int
config_unknown(struct config_parse *p, const char *path, const char *show,
    size_t line)
{
	const struct gt_config_gtkey	*k;
	yaml_event_t			 ev;

	k = path != NULL ? gt_config_gotunnel_key(path) : NULL;
	if (k != NULL && k->gk_lacks != NULL) {
		if (!p->lenient) {
			config_err(p, line, path, "go-tunnel key that gt does "
			    "not take: %s", k->gk_lacks);
			return -1;
		}
		config_gthit(p, line, k, 1);
		p->nlacks++;
		return config_skip(p, path);
	}
	if (path == NULL || !gt_config_gotunnel_section(path)) {
		config_err(p, line, show, "unknown key");
		return -1;
	}
	if (config_next(p, &ev, path) == -1)
		return -1;
	if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		return config_mapping(p, path);
	}
	if (ev.type == YAML_SCALAR_EVENT && config_is_null(
	    (char *)ev.data.scalar.value, ev.data.scalar.length,
	    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
		yaml_event_delete(&ev);
		return 0;
	}
	config_err(p, ev.start_mark.line + 1, path, "expected a mapping, "
	    "got %s", config_event_name(&ev));
	yaml_event_delete(&ev);
	return -1;
}

/* The keys of a mapping at prefix ("" at the top), up to its end. */
static int
config_mapping(struct config_parse *p, const char *prefix)
{
	yaml_event_t	 ev;
	char		 path[CONFIG_KEYPATH_MAX], show[CONFIG_SHOW_MAX + 8];
	const char	*k;
	size_t		 klen, line;
	int		 idx, ok;

	for (;;) {
		if (config_next(p, &ev, *prefix ? prefix : NULL) == -1)
			return -1;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		line = ev.start_mark.line + 1;
		if (ev.type != YAML_SCALAR_EVENT) {
			config_err(p, line, *prefix ? prefix : NULL,
			    "expected a key, got %s", config_event_name(&ev));
			yaml_event_delete(&ev);
			return -1;
		}
		k = (const char *)ev.data.scalar.value;
		klen = ev.data.scalar.length;
		config_show(k, klen, show, sizeof(show));
		/* A dotted key must not reach a nested entry. */
		ok = klen > 0 && strlen(k) == klen && strchr(k, '.') == NULL &&
		    snprintf(path, sizeof(path), "%s%s%s", prefix,
		    *prefix ? "." : "", k) < (int)sizeof(path);
		idx = ok ? config_lookup(path) : -1;
		if (idx == -1)
			snprintf(path, sizeof(path), "%s%s%s", prefix,
			    *prefix ? "." : "", show);
		yaml_event_delete(&ev);
		if (idx == -1) {
			if (config_unknown(p, ok ? path : NULL, path, line) == -1)
				return -1;
			continue;
		}
		config_gtnote(p, path, line, &config_table[idx]);
		if (p->line[idx] != 0) {
			config_err(p, line, path, "duplicate key (first at "
			    "line %zu)", p->line[idx]);
			return -1;
		}
		p->line[idx] = line;
		if (config_value(p, &config_table[idx]) == -1)
			return -1;
	}
}

/* The whole stream: nothing, or one document holding a mapping (or null). */
static int
config_stream(struct config_parse *p)
{
	yaml_event_t	ev;
	size_t		line;
	int		rc = 0;

	if (config_next(p, &ev, NULL) == -1)
		return -1;
	yaml_event_delete(&ev);		/* STREAM-START */
	if (config_next(p, &ev, NULL) == -1)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev);		/* DOCUMENT-START */
	if (config_next(p, &ev, NULL) == -1)
		return -1;
	line = ev.start_mark.line + 1;
	if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		if (config_mapping(p, "") == -1)
			return -1;
	} else if (ev.type == YAML_SCALAR_EVENT &&
	    config_is_null((char *)ev.data.scalar.value, ev.data.scalar.length,
	    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
		yaml_event_delete(&ev);
	} else {
		config_err(p, line, NULL, "the top level must be a mapping of "
		    "keys, not %s", config_event_name(&ev));
		yaml_event_delete(&ev);
		return -1;
	}
	if (config_next(p, &ev, NULL) == -1)
		return -1;
	yaml_event_delete(&ev);		/* DOCUMENT-END */
	if (config_next(p, &ev, NULL) == -1)
		return -1;
	if (ev.type != YAML_STREAM_END_EVENT) {
		config_err(p, ev.start_mark.line + 1, NULL,
		    "only one YAML document is allowed");
		rc = -1;
	}
	yaml_event_delete(&ev);
	return rc;
}

/*
 * Load buf over the defaults. lenient (-check-config): go-tunnel's keys
 * that gt lacks are passed to fn and skipped, and notes too when the
 * file is go-tunnel's; -1 at the end if there were any.
 */
static int
config_load(const char *buf, size_t len, const char *name,
    struct gt_config *out, int lenient, gt_config_gt_fn *fn, void *arg,
    char *err, size_t errlen)
{
	struct config_parse		*p;
	struct gt_config		*c;
	const struct config_gthit	*h;
	size_t				 i;
	int				 rc, walked;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > CONFIG_MAX_FILE) {
		config_seterr(err, errlen, name, 0, NULL,
		    "file is larger than 1 MiB");
		return -1;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (c = malloc(sizeof(*c))) == NULL) {
		free(p);
		config_seterr(err, errlen, name, 0, NULL, strerror(ENOMEM));
		return -1;
	}
	gt_config_defaults(c);
	p->name = name;
	p->cfg = c;
	p->err = err;
	p->errlen = errlen;
	p->lenient = lenient;
	if (!yaml_parser_initialize(&p->parser)) {
		config_seterr(err, errlen, name, 0, NULL, strerror(ENOMEM));
		free(c);
		free(p);
		return -1;
	}
	yaml_parser_set_input_string(&p->parser, (const unsigned char *)buf,
	    len);
	rc = config_stream(p);
	yaml_parser_delete(&p->parser);
	/*
	 * go-tunnel's file: a key gt lacks, or (the walk done: no key after
	 * an error is counted) no key go-tunnel lacks.
	 */
	walked = rc == 0;
	if (rc == 0)
		rc = config_validate(c, p->line, name, err, errlen);
	if (fn != NULL && (p->nlacks > 0 ||
	    (walked && p->ngtonly == 0 && p->nhits > 0))) {
		for (i = 0; i < p->nhits; i++) {
			h = &p->hits[i];
			fn(arg, name, h->line, h->key->gk_key, h->lacks,
			    h->lacks ? h->key->gk_lacks : h->key->gk_note);
		}
	}
	if (rc == 0 && p->nlacks > 0) {
		snprintf(err, errlen, "%s: %zu go-tunnel key%s that gt does "
		    "not take (each named above): remove or change %s",
		    name, p->nlacks, p->nlacks == 1 ? "" : "s",
		    p->nlacks == 1 ? "it" : "them");
		rc = -1;
	}
	if (rc == 0)
		memcpy(out, c, sizeof(*c));
	free(c);
	free(p);
	return rc;
}

int
gt_config_load_buf(const char *buf, size_t len, const char *name,
    struct gt_config *out, char *err, size_t errlen)
{
	return config_load(buf, len, name, out, 0, NULL, NULL, err, errlen);
}

int
gt_config_check_buf(const char *buf, size_t len, const char *name,
    struct gt_config *out, gt_config_gt_fn *fn, void *arg, char *err,
    size_t errlen)
{
	return config_load(buf, len, name, out, 1, fn, arg, err, errlen);
}

/* Read path whole (at most 1 MiB and a byte) and load it as asked. */
static int
config_load_file(const char *path, struct gt_config *out, int lenient,
    gt_config_gt_fn *fn, void *arg, char *err, size_t errlen)
{
	struct stat	 st;
	FILE		*fp;
	char		*buf;
	size_t		 n;
	int		 rc;

	if ((fp = fopen(path, "re")) == NULL) {
		config_seterr(err, errlen, path, 0, NULL, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1) {
		config_seterr(err, errlen, path, 0, NULL, strerror(errno));
		fclose(fp);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		config_seterr(err, errlen, path, 0, NULL,
		    "not a regular file");
		fclose(fp);
		return -1;
	}
	if ((buf = malloc(CONFIG_MAX_FILE + 1)) == NULL) {
		config_seterr(err, errlen, path, 0, NULL, strerror(errno));
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, CONFIG_MAX_FILE + 1, fp);
	if (ferror(fp)) {
		config_seterr(err, errlen, path, 0, NULL, "read error");
		rc = -1;
	} else
		rc = config_load(buf, n, path, out, lenient, fn, arg, err,
		    errlen);
	free(buf);
	fclose(fp);
	return rc;
}

int
gt_config_load(const char *path, struct gt_config *out, char *err,
    size_t errlen)
{
	return config_load_file(path, out, 0, NULL, NULL, err, errlen);
}

int
gt_config_check(const char *path, struct gt_config *out, gt_config_gt_fn *fn,
    void *arg, char *err, size_t errlen)
{
	return config_load_file(path, out, 1, fn, arg, err, errlen);
}

#define CONFIG_KEY_EFILE	-1	/* msg is an errno text: prefix the path */
#define CONFIG_KEY_EKEY		-2	/* msg is about the contents */

/*
 * Read a secret key file: regular, at most 64 KiB, >= 32 bytes once
 * trailing white space is gone. Its mode goes to *mode.
 */
static unsigned char *
config_read_key(const char *path, size_t *lenp, mode_t *mode, int *why,
    char *msg, size_t msglen)
{
	struct stat	 st;
	unsigned char	*buf;
	size_t		 len = 0;
	ssize_t		 r;
	int		 fd;

	*why = CONFIG_KEY_EFILE;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(msg, msglen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(msg, msglen, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	*mode = st.st_mode;
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, msglen, "not a regular file");
		close(fd);
		return NULL;
	}
	if ((buf = malloc(CONFIG_MAX_KEYFILE + 1)) == NULL) {
		snprintf(msg, msglen, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	while (len <= CONFIG_MAX_KEYFILE) {
		r = read(fd, buf + len, CONFIG_MAX_KEYFILE + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(msg, msglen, "%s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*why = CONFIG_KEY_EKEY;
	if (len > CONFIG_MAX_KEYFILE) {
		snprintf(msg, msglen, "key file is larger than 64 KiB");
		goto fail;
	}
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
	    buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == '\v' || buf[len - 1] == '\f'))
		len--;
	if (len < CONFIG_JWT_MIN) {
		snprintf(msg, msglen, "key is %zu bytes, need at least %d",
		    len, CONFIG_JWT_MIN);
		goto fail;
	}
	explicit_bzero(buf + len, CONFIG_MAX_KEYFILE + 1 - len);
	buf[len] = '\0';
	close(fd);
	*lenp = len;
	return buf;
fail:
	explicit_bzero(buf, CONFIG_MAX_KEYFILE + 1);
	free(buf);
	close(fd);
	return NULL;
}

unsigned char *
gt_config_read_jwt_key(const char *path, size_t *len, char *err,
    size_t errlen)
{
	unsigned char	*key;
	char		 msg[CONFIG_MSG_MAX];
	mode_t		 mode;
	int		 why;

	if ((key = config_read_key(path, len, &mode, &why, msg,
	    sizeof(msg))) == NULL && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, msg);
	return key;
}

/* Warn when a private key file is open to group or other. */
static void
config_warn_mode(const char *key, const char *path, mode_t mode)
{
	if (mode & (S_IRWXG | S_IRWXO))
		log_warnx("config", "%s: %s is accessible by group/other "
		    "(mode %04o); chmod 600 it", key, path,
		    (unsigned)(mode & 07777));
}

/* A file an enabled feature needs: a readable regular file. */
static int
config_need_file(const char *key, const char *path, int is_key, char *err,
    size_t errlen)
{
	struct stat	st;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s: %s", key, path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s: not a regular file", key, path);
		return -1;
	}
	if (is_key)
		config_warn_mode(key, path, st.st_mode);
	return 0;
}

int
gt_config_check_files(const struct gt_config *c, char *err, size_t errlen)
{
	const char	*k = "security.api.jwt_secret_file";
	unsigned char	*key;
	char		 msg[CONFIG_MSG_MAX], dummy[1];
	size_t		 len;
	mode_t		 mode;
	int		 why;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (c->tunnel.enabled && c->security.tunnel.enable_tls) {
		if (config_need_file("security.tunnel.cert_file",
		    c->security.tunnel.cert_file, 0, err, errlen) == -1 ||
		    config_need_file("security.tunnel.key_file",
		    c->security.tunnel.key_file, 1, err, errlen) == -1 ||
		    config_need_file("security.tunnel.client_ca",
		    c->security.tunnel.client_ca, 0, err, errlen) == -1 ||
		    (c->security.tunnel.crl_file[0] != '\0' && config_need_file(
		    "security.tunnel.crl_file", c->security.tunnel.crl_file, 0,
		    err, errlen) == -1))
			return -1;
	}
	if (c->api.tls) {
		if (config_need_file("api.cert_file", c->api.cert_file, 0, err,
		    errlen) == -1 || config_need_file("api.key_file",
		    c->api.key_file, 1, err, errlen) == -1 ||
		    (c->api.client_ca[0] != '\0' && config_need_file(
		    "api.client_ca", c->api.client_ca, 0, err, errlen) == -1))
			return -1;
	}
	if (c->security.api.enable_auth) {
		key = config_read_key(c->security.api.jwt_secret_file, &len,
		    &mode, &why, msg, sizeof(msg));
		if (key == NULL) {
			if (why == CONFIG_KEY_EFILE)
				snprintf(err, errlen, "%s: %s: %s", k,
				    c->security.api.jwt_secret_file, msg);
			else
				snprintf(err, errlen, "%s: %s", k, msg);
			return -1;
		}
		explicit_bzero(key, len);
		free(key);
		config_warn_mode(k, c->security.api.jwt_secret_file, mode);
	}
	return 0;
}
