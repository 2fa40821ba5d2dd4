/*
 * validate.c: turn hostile request bodies into checked requests. Pure
 * functions: JSON in, a mapping or an HTTP status and a message out.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gt/addr.h"
#include "gt/api.h"
#include "gt/config.h"
#include "gt/names.h"
#include "gt/proxy_hdr.h"
#include "gt/selfaddr.h"

/* Format msg and return status (for one-line error returns). */
static int __attribute__((format(printf, 4, 5)))
validate_fail(int status, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* Parse a body into a JSON object, or say why not. */
int
gt_api_parse_body(const char *buf, size_t len, json_t **out, char *msg,
    size_t msglen)
{
	json_error_t	 jerr;
	json_t		*j;

	*out = NULL;
	if (len > GT_API_BODY_MAX)
		return validate_fail(413, msg, msglen,
		    "body of %zu bytes is over the limit of %d", len, GT_API_BODY_MAX);
	if (len == 0)
		return validate_fail(400, msg, msglen, "empty body: a JSON object is expected");
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		return validate_fail(400, msg, msglen, "malformed JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	}
	*out = j;
	return 0;
}

/*
 * Read one of two alias fields (a, b). Returns the value (borrowed) or
 * NULL when neither is present (JSON null counts as absent). Both present
 * with different values: *conflict is set.
 */
static json_t *
validate_alias(const json_t *o, const char *a, const char *b, int *conflict)
{
	json_t *va, *vb;

	*conflict = 0;
	va = json_object_get(o, a);
	vb = json_object_get(o, b);
	if (json_is_null(va))
		va = NULL;
	if (json_is_null(vb))
		vb = NULL;
	if (va != NULL && vb != NULL && !json_equal(va, vb))
		*conflict = 1;
	return va != NULL ? va : vb;
}

/* A port value: a JSON integer 1..65535. 0 with *port, else 400 with msg. */
static int
validate_port(const json_t *v, const char *name, uint16_t *port, char *msg,
    size_t msglen)
{
	json_int_t n;

	if (!json_is_integer(v))
		return validate_fail(400, msg, msglen, "%s: must be an integer 1..65535, got %s",
		    name, json_is_real(v) ? "a real number" : json_is_string(v) ?
		    "a string" : json_is_boolean(v) ? "a boolean" : json_is_array(v) ?
		    "an array" : "an object");
	n = json_integer_value(v);
	if (n < 1 || n > 65535)
		return validate_fail(400, msg, msglen, "%s: %lld is out of range 1..65535",
		    name, (long long)n);
	*port = (uint16_t)n;
	return 0;
}

/* A DNS label of name[0..len): 1..63 of [A-Za-z0-9-], no '-' at either end. */
static int
validate_label(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/* Accept an IP literal or a plausible DNS name. */
int
gt_api_host_valid(const char *h)
{
	const char	*p, *dot, *last;
	size_t		 len, i;
	int		 digits;

	len = strlen(h);
	if (len < 1 || len > GT_HOSTNAME_MAX)
		return 0;
	if (gt_addr_ip_family(h) != 0)
		return 1;
	p = last = h;
	for (;;) {
		dot = strchr(p, '.');
		if (!validate_label(p, dot ? (size_t)(dot - p) : strlen(p)))
			return 0;
		last = p;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	/* An all-numeric last label is a mistyped address, not a name. */
	digits = 1;
	for (i = 0; last[i] != '\0'; i++)
		if (last[i] < '0' || last[i] > '9')
			digits = 0;
	return !digits;
}

/* Accept a client name: printable ASCII, no spaces. */
int
gt_api_client_valid(const char *c)
{
	const unsigned char	*u = (const unsigned char *)c;
	size_t			 i;

	for (i = 0; u[i] != '\0'; i++)
		if (u[i] <= 0x20 || u[i] >= 0x7f || i >= GT_CLIENT_MAX)
			return 0;
	return i > 0;
}

/* Fields a create body may hold; anything else is a 400 naming it. */
static const char *const validate_create_fields[] = {
	"port", "source_port", "target_host", "target_ip", "target_port",
	"use_tunnel", "client",
	/* SPEC 9 */
	"bandwidth_limit", "access_rule", "access_ips", "max_connections",
	"proxy_protocol",
	NULL
};

/* Fields an update body may hold (use_tunnel: only its current value). */
static const char *const validate_update_fields[] = {
	"port", "source_port", "target_host", "target_ip", "target_port",
	"use_tunnel", "client", "bandwidth_limit", "access_rule", "access_ips",
	"max_connections", "proxy_protocol",
	NULL
};

/* Fields a remove body may hold. */
static const char *const validate_remove_fields[] = {
	"port", "source_port", NULL
};

/* Fields a disconnect body may hold. */
static const char *const validate_disconnect_fields[] = {
	"name", NULL
};

/* Copy a field name for a message: printable ASCII only, bounded. */
static void
validate_name(const char *k, char *buf, size_t len)
{
	size_t i;

	for (i = 0; k[i] != '\0' && i + 1 < len; i++)
		buf[i] = (k[i] > 0x20 && k[i] < 0x7f && k[i] != '"') ? k[i] : '?';
	buf[i] = '\0';
	if (k[i] != '\0' && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

/*
 * Refuse a field we do not know: a misspelt or unimplemented one would be
 * ignored, and an operator would get something other than asked for.
 */
static int
validate_known(const json_t *o, const char *const *known, char *msg,
    size_t msglen)
{
	const char	*k;
	json_t		*v;
	char		 name[64];
	size_t		 i;

	json_object_foreach((json_t *)o, k, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			validate_name(k, name, sizeof(name));
			return validate_fail(400, msg, msglen,
			    "unknown field \"%s\"", name);
		}
	}
	return 0;
}

/*
 * access_ips' entries: a JSON array of strings, or go-tunnel's form, a
 * string holding that array ("[\"1.2.3.4\"]"; "" is the empty list).
 * All or nothing into m.
 */
static int
validate_ips(const json_t *v, struct gt_mapping *m, char *msg, size_t msglen)
{
	struct gt_cidr	 list[GT_ACCESS_IPS_MAX];
	json_t		*arr = NULL, *e;
	const char	*s;
	char		 name[64];
	size_t		 i, n;
	int		 rc = 0;

	if (json_is_string(v)) {
		s = json_string_value(v);
		if (strlen(s) != json_string_length(v))
			return validate_fail(400, msg, msglen,
			    "access_ips: holds a NUL byte");
		if (strspn(s, " \t\r\n") == strlen(s)) {
			m->n_access_ips = 0;
			return 0;
		}
		arr = json_loads(s, JSON_DECODE_ANY, NULL);
		if (!json_is_array(arr)) {
			json_decref(arr);
			return validate_fail(400, msg, msglen, "access_ips: a "
			    "string must hold a JSON array of addresses, as "
			    "\"[\\\"10.0.0.0/8\\\"]\"");
		}
		v = arr;
	} else if (!json_is_array(v))
		return validate_fail(400, msg, msglen,
		    "access_ips: must be an array of addresses and CIDRs");
	n = json_array_size(v);
	if (n > GT_ACCESS_IPS_MAX) {
		rc = validate_fail(400, msg, msglen, "access_ips: %zu entries, "
		    "over the limit of %d", n, GT_ACCESS_IPS_MAX);
		goto done;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			rc = validate_fail(400, msg, msglen, "access_ips: "
			    "entry %zu is not a string", i);
			goto done;
		}
		s = json_string_value(e);
		if (strlen(s) != json_string_length(e) ||
		    gt_cidr_scan(s, 0, &list[i]) != GT_CIDR_OK) {
			validate_name(s, name, sizeof(name));
			rc = validate_fail(400, msg, msglen, "access_ips: "
			    "\"%s\" is not an IP address or CIDR", name);
			goto done;
		}
	}
	memcpy(m->access_ips, list, n * sizeof(list[0]));
	m->n_access_ips = n;
 done:
	json_decref(arr);
	return rc;
}

/*
 * SPEC 9's fields of a create or update body into m; a field absent
 * leaves m's value. 0, or 400 naming the field.
 */
static int
validate_edge(const json_t *o, struct gt_mapping *m, char *msg, size_t msglen)
{
	json_t		*v;
	json_int_t	 n;
	int		 rc;

	v = json_object_get(o, "access_rule");
	if (v != NULL && !json_is_null(v)) {
		/* go-tunnel's UI sends "" for "no rule". */
		if (json_is_string(v) && json_string_value(v)[0] == '\0')
			m->access_rule = GT_ACCESS_DISABLED;
		else if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    gt_mapping_rule_parse(json_string_value(v),
		    &m->access_rule) == -1)
			return validate_fail(400, msg, msglen, "access_rule: "
			    "must be \"whitelist\", \"blacklist\" or "
			    "\"disabled\"");
	}
	v = json_object_get(o, "access_ips");
	if (v != NULL && !json_is_null(v) &&
	    (rc = validate_ips(v, m, msg, msglen)) != 0)
		return rc;
	/* Bytes/s each way; a limit below the floor would starve TCP itself. */
	v = json_object_get(o, "bandwidth_limit");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 ||
		    (n > 0 && n < GT_BANDWIDTH_MIN) ||
		    (uint64_t)n > GT_BANDWIDTH_MAX)
			return validate_fail(400, msg, msglen, "bandwidth_limit: "
			    "must be an integer, bytes per second each way: 0 "
			    "(no limit) or %u..%llu", GT_BANDWIDTH_MIN,
			    (unsigned long long)GT_BANDWIDTH_MAX);
		m->bandwidth_limit = (uint64_t)n;
	}
	v = json_object_get(o, "max_connections");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 ||
		    n > GT_MAXCONN_MAX)
			return validate_fail(400, msg, msglen, "max_connections: "
			    "must be an integer 0..%d (0: the server's "
			    "default)", GT_MAXCONN_MAX);
		m->max_connections = (unsigned)n;
	}
	/* The PROXY header to the target: "" (none), "v1" or "v2". */
	v = json_object_get(o, "proxy_protocol");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    gt_proxy_version_parse(json_string_value(v)) == -1)
			return validate_fail(400, msg, msglen, "proxy_protocol: "
			    "must be \"\" (none), \"v1\" or \"v2\"");
		snprintf(m->proxy_protocol, sizeof(m->proxy_protocol), "%s",
		    json_string_value(v));
	}
	return 0;
}

/*
 * Self-target rule (a) against the configuration: a direct mapping whose
 * target is this host at the API port, the tunnel port or its own port
 * feeds the server back into itself (and the API past allowed_ips).
 */
static int
validate_self(const struct gt_mapping *m, const struct gt_config *cfg,
    char *msg, size_t msglen)
{
	if (m->use_tunnel || gt_self_host(m->target_host) != 1)
		return 0;
	if (m->target_port == cfg->api.listen_port)
		return validate_fail(400, msg, msglen,
		    "target %s:%u is this server's own API port "
		    "(api.listen_port): refused, it would publish the API past "
		    "allowed_ips", m->target_host, m->target_port);
	if (cfg->tunnel.enabled && m->target_port == cfg->tunnel.listen_port)
		return validate_fail(400, msg, msglen,
		    "target %s:%u is this server's own tunnel port "
		    "(tunnel.listen_port)", m->target_host, m->target_port);
	if (m->target_port == m->source_port)
		return validate_fail(400, msg, msglen,
		    "target %s:%u is this very mapping's port (a loop)",
		    m->target_host, m->target_port);
	return 0;
}

/* Check m against the mappings served now (rules a and b of the self guard). */
int
gt_api_check_chain(const struct gt_mapping *m, const struct gt_mapping *ms,
    size_t n, char *msg, size_t msglen)
{
	size_t i;
	int self = m->use_tunnel ? 0 : gt_self_host(m->target_host) == 1;

	for (i = 0; i < n; i++) {
		/* (a) into another mapping's public port: a chain, maybe a cycle. */
		if (self && ms[i].source_port == m->target_port &&
		    ms[i].source_port != m->source_port)
			return validate_fail(400, msg, msglen,
			    "target %s:%u is this server's own port %u (mapping "
			    "%u -> %s:%u): mappings may not chain through this "
			    "server", m->target_host, m->target_port,
			    ms[i].source_port, ms[i].source_port,
			    ms[i].target_host, ms[i].target_port);
		/* (b) an existing direct mapping already points at this port. */
		if (!ms[i].use_tunnel && ms[i].target_port == m->source_port &&
		    ms[i].source_port != m->source_port &&
		    gt_self_host(ms[i].target_host) == 1)
			return validate_fail(400, msg, msglen,
			    "port %u is the target of direct mapping %u -> %s:%u "
			    "on this server: mapping it would chain or loop "
			    "through this server", m->source_port,
			    ms[i].source_port, ms[i].target_host,
			    ms[i].target_port);
	}
	return 0;
}

/* Check a create request field by field; aliases, types, ranges, defaults. */
int
gt_api_check_create(const json_t *o, const struct gt_config *cfg,
    struct gt_mapping *m, char *msg, size_t msglen)
{
	json_t		*v;
	const char	*s;
	size_t		 i;
	int		 conflict, rc;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(o))
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	if ((rc = validate_known(o, validate_create_fields, msg, msglen)) != 0 ||
	    (rc = validate_edge(o, m, msg, msglen)) != 0)
		return rc;

	/* port / source_port */
	v = validate_alias(o, "port", "source_port", &conflict);
	if (conflict)
		return validate_fail(400, msg, msglen,
		    "port and source_port are the same field and differ");
	if (v == NULL)
		return validate_fail(400, msg, msglen, "missing field: port");
	if ((rc = validate_port(v, "port", &m->source_port, msg, msglen)) != 0)
		return rc;
	if (m->source_port < cfg->port_range.from || m->source_port > cfg->port_range.end)
		return validate_fail(400, msg, msglen,
		    "port: %u is outside port_range %u..%u", m->source_port,
		    cfg->port_range.from, cfg->port_range.end);
	for (i = 0; i < cfg->security.port_range.n_blacklist; i++)
		if (cfg->security.port_range.blacklist[i] == m->source_port)
			return validate_fail(400, msg, msglen,
			    "port: %u is blacklisted", m->source_port);

	/* use_tunnel */
	v = json_object_get(o, "use_tunnel");
	if (v == NULL || json_is_null(v))
		m->use_tunnel = cfg->tunnel.enabled ? 1 : 0;
	else if (!json_is_boolean(v))
		return validate_fail(400, msg, msglen, "use_tunnel: must be true or false");
	else
		m->use_tunnel = json_is_true(v);
	if (m->use_tunnel && !cfg->tunnel.enabled)
		return validate_fail(400, msg, msglen,
		    "use_tunnel: tunnels are disabled on this server (tunnel.enabled)");

	/* target_host / target_ip */
	v = validate_alias(o, "target_host", "target_ip", &conflict);
	if (conflict)
		return validate_fail(400, msg, msglen,
		    "target_host and target_ip are the same field and differ");
	if (v == NULL) {
		if (!m->use_tunnel)
			return validate_fail(400, msg, msglen,
			    "missing field: target_host (a direct mapping needs it)");
		snprintf(m->target_host, sizeof(m->target_host), "%s", "127.0.0.1");
	} else {
		if (!json_is_string(v))
			return validate_fail(400, msg, msglen, "target_host: must be a string");
		s = json_string_value(v);
		if (strlen(s) != json_string_length(v) || !gt_api_host_valid(s))
			return validate_fail(400, msg, msglen,
			    "target_host: not an IP address or a DNS name");
		snprintf(m->target_host, sizeof(m->target_host), "%s", s);
	}

	/* target_port */
	v = json_object_get(o, "target_port");
	if (v == NULL || json_is_null(v))
		m->target_port = m->source_port;
	else if ((rc = validate_port(v, "target_port", &m->target_port, msg, msglen)) != 0)
		return rc;

	/* client */
	v = json_object_get(o, "client");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v))
			return validate_fail(400, msg, msglen, "client: must be a string");
		s = json_string_value(v);
		if (s[0] != '\0') {
			if (!m->use_tunnel)
				return validate_fail(400, msg, msglen,
				    "client: only a tunnel mapping goes through a client");
			if (strlen(s) != json_string_length(v) || !gt_name_valid(s))
				return validate_fail(400, msg, msglen,
				    "client: must be 1..%d of A-Z a-z 0-9 . _ -, "
				    "starting with a letter or digit", GT_NAME_MAX);
			snprintf(m->client, sizeof(m->client), "%s", s);
		}
	}

	return validate_self(m, cfg, msg, msglen);
}

/* The port of a body that names one mapping (either alias). */
static int
validate_target_port(const json_t *o, uint16_t *port, char *msg, size_t msglen)
{
	json_t	*v;
	int	 conflict;

	v = validate_alias(o, "port", "source_port", &conflict);
	if (conflict)
		return validate_fail(400, msg, msglen,
		    "port and source_port are the same field and differ");
	if (v == NULL)
		return validate_fail(400, msg, msglen, "missing field: port");
	return validate_port(v, "port", port, msg, msglen);
}

/* Check a remove request: one port, either alias. */
int
gt_api_check_remove(const json_t *o, uint16_t *port, char *msg, size_t msglen)
{
	int rc;

	if (!json_is_object(o))
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	if ((rc = validate_known(o, validate_remove_fields, msg, msglen)) != 0)
		return rc;
	return validate_target_port(o, port, msg, msglen);
}

/* Which mapping an update body names, before the caller looks it up. */
int
gt_api_check_update_port(const json_t *o, uint16_t *port, char *msg,
    size_t msglen)
{
	int rc;

	if (!json_is_object(o))
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	if ((rc = validate_known(o, validate_update_fields, msg, msglen)) != 0)
		return rc;
	return validate_target_port(o, port, msg, msglen);
}

/* Apply an update body to a copy of old: only the fields it holds change. */
int
gt_api_check_update(const json_t *o, const struct gt_config *cfg,
    const struct gt_mapping *old, struct gt_mapping *m, char *msg,
    size_t msglen)
{
	json_t		*v;
	const char	*s;
	uint16_t	 port;
	int		 conflict, rc;

	*m = *old;
	if ((rc = gt_api_check_update_port(o, &port, msg, msglen)) != 0)
		return rc;
	if (port != old->source_port)
		return validate_fail(400, msg, msglen, "port: %u is not the "
		    "mapping updated (%u)", port, old->source_port);
	v = json_object_get(o, "use_tunnel");
	if (v != NULL && !json_is_null(v) && (!json_is_boolean(v) ||
	    json_is_true(v) != (old->use_tunnel != 0)))
		return validate_fail(400, msg, msglen, "use_tunnel: cannot be "
		    "changed by update (remove the mapping and create it again)");

	v = validate_alias(o, "target_host", "target_ip", &conflict);
	if (conflict)
		return validate_fail(400, msg, msglen,
		    "target_host and target_ip are the same field and differ");
	if (v != NULL) {
		if (!json_is_string(v))
			return validate_fail(400, msg, msglen, "target_host: must be a string");
		s = json_string_value(v);
		if (strlen(s) != json_string_length(v) || !gt_api_host_valid(s))
			return validate_fail(400, msg, msglen,
			    "target_host: not an IP address or a DNS name");
		snprintf(m->target_host, sizeof(m->target_host), "%s", s);
	}
	v = json_object_get(o, "target_port");
	if (v != NULL && !json_is_null(v) &&
	    (rc = validate_port(v, "target_port", &m->target_port, msg, msglen)) != 0)
		return rc;
	v = json_object_get(o, "client");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v))
			return validate_fail(400, msg, msglen, "client: must be a string");
		s = json_string_value(v);
		if (s[0] != '\0' && !m->use_tunnel)
			return validate_fail(400, msg, msglen,
			    "client: only a tunnel mapping goes through a client");
		if (s[0] != '\0' && (strlen(s) != json_string_length(v) ||
		    !gt_name_valid(s)))
			return validate_fail(400, msg, msglen,
			    "client: must be 1..%d of A-Z a-z 0-9 . _ -, "
			    "starting with a letter or digit", GT_NAME_MAX);
		snprintf(m->client, sizeof(m->client), "%s", s);
	}
	if ((rc = validate_edge(o, m, msg, msglen)) != 0)
		return rc;
	return validate_self(m, cfg, msg, msglen);
}

/* Check a reload request: one port, either alias, nothing else. */
int
gt_api_check_reload(const json_t *o, uint16_t *port, char *msg, size_t msglen)
{
	return gt_api_check_remove(o, port, msg, msglen);
}

/* The value of one hex digit, or -1. */
static int
validate_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode s[0..len) of a query string into buf (NUL-terminated): %XX and,
 * as in HTML forms and libevent, '+' for a space. -1 on a bad or NUL
 * escape, or when it does not fit.
 */
static int
validate_qdecode(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t	i, o = 0;
	int	hi, lo;
	char	c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			if ((hi = validate_hex(s[i + 1])) == -1 ||
			    (lo = validate_hex(s[i + 2])) == -1 ||
			    (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+')
			c = ' ';
		if (o + 1 >= buflen)
			return -1;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return 0;
}

/* A query's port: decimal digits only, 1..65535. */
static int
validate_qport(const char *v, uint16_t *port)
{
	unsigned long	n = 0;
	size_t		i;

	if (v[0] == '\0' || strlen(v) > 5)
		return -1;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (unsigned long)(v[i] - '0');
	}
	if (n < 1 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

/*
 * One decoded parameter of a query: k its index in the caller's known
 * list, val its value ("" and bad set when it had no '=' or a bad escape).
 * 0, or 400 with msg.
 */
typedef int validate_qparam_cb(size_t k, const char *val, int bad, void *arg,
    char *msg, size_t msglen);

/*
 * Walk a raw query string: each parameter must be one of known (a NULL-
 * terminated list, at most 32), at most once; cb judges each value. The
 * one parser of every GET query, so all answer alike.
 */
static int
validate_query(const char *query, const char *const *known,
    validate_qparam_cb *cb, void *arg, char *msg, size_t msglen)
{
	const char	*p, *end, *eq;
	char		 key[64], val[128], name[64], list[128];
	uint32_t	 have = 0;
	size_t		 k;
	int		 bad, rc;

	if (query == NULL)
		return 0;
	if (strlen(query) > GT_API_QUERY_MAX)
		return validate_fail(400, msg, msglen,
		    "query string over %d bytes", GT_API_QUERY_MAX);
	for (p = query; *p != '\0'; p = *end ? end + 1 : end) {
		if ((end = strchr(p, '&')) == NULL)
			end = p + strlen(p);
		if (end == p)
			continue;	/* "a=1&&b=2", a trailing '&' */
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			eq = end;
		if (validate_qdecode(p, (size_t)(eq - p), key, sizeof(key)) == -1) {
			validate_name(p, name, sizeof(name));
			return validate_fail(400, msg, msglen,
			    "bad query parameter name near \"%s\"", name);
		}
		validate_name(key, name, sizeof(name));
		for (k = 0; known[k] != NULL; k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (known[k] == NULL) {
			list[0] = '\0';
			for (k = 0; known[k] != NULL; k++)
				snprintf(list + strlen(list), sizeof(list) -
				    strlen(list), "%s%s", k ? ", " : "", known[k]);
			return validate_fail(400, msg, msglen,
			    "unknown query parameter \"%s\" (known: %s)", name,
			    list);
		}
		if (have & (1u << k))
			return validate_fail(400, msg, msglen,
			    "query parameter %s given twice", known[k]);
		have |= 1u << k;
		/* No '=', a bad escape: the value is wrong, and named so. */
		bad = eq == end || validate_qdecode(eq + 1,
		    (size_t)(end - eq - 1), val, sizeof(val)) == -1;
		if (bad)
			val[0] = '\0';
		if ((rc = cb(k, val, bad, arg, msg, msglen)) != 0)
			return rc;
	}
	return 0;
}

/* A parameter of GET /api/connections: 0 port, 1 client. */
static int
validate_conn_param(size_t k, const char *val, int bad, void *arg, char *msg,
    size_t msglen)
{
	struct gt_api_conn_filter *f = arg;

	if (k == 0) {
		if (bad || validate_qport(val, &f->port) == -1)
			return validate_fail(400, msg, msglen,
			    "port: must be an integer 1..65535");
		return 0;
	}
	if (bad || !gt_api_client_valid(val))
		return validate_fail(400, msg, msglen,
		    "client: must be a client name (printable ASCII without "
		    "spaces, 1..%d characters)", GT_CLIENT_MAX);
	snprintf(f->client, sizeof(f->client), "%s", val);
	return 0;
}

int
gt_api_check_conn_query(const char *query, struct gt_api_conn_filter *f,
    char *msg, size_t msglen)
{
	static const char *const known[] = { "port", "client", NULL };

	memset(f, 0, sizeof(*f));
	return validate_query(query, known, validate_conn_param, f, msg, msglen);
}

/* Two decimal digits at s into *v; -1 if they are not digits. */
static int
validate_2digits(const char *s, int *v)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

/*
 * A history bound: unix seconds (decimal digits, at most 12) or RFC 3339
 * ("2024-05-01T12:00:00Z", a fraction ignored, "+08:00" or "-05:00"; a
 * '+' sent unencoded arrives as a space and is taken as '+').
 */
int
gt_api_parse_time(const char *v, int64_t *out)
{
	struct tm	 tm;
	const char	*p;
	int		 y1, y2, mo, d, h, mi, sec, oh, om, sign;
	int64_t		 n = 0, t;
	size_t		 i, len = strlen(v);

	if (len == 0)
		return -1;
	if (strspn(v, "0123456789") == len) {
		if (len > 12)
			return -1;
		for (i = 0; i < len; i++)
			n = n * 10 + (v[i] - '0');
		*out = n;
		return 0;
	}
	if (len < 20 || validate_2digits(v, &y1) == -1 ||
	    validate_2digits(v + 2, &y2) == -1 || v[4] != '-' ||
	    validate_2digits(v + 5, &mo) == -1 || v[7] != '-' ||
	    validate_2digits(v + 8, &d) == -1 ||
	    (v[10] != 'T' && v[10] != 't') ||
	    validate_2digits(v + 11, &h) == -1 || v[13] != ':' ||
	    validate_2digits(v + 14, &mi) == -1 || v[16] != ':' ||
	    validate_2digits(v + 17, &sec) == -1)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	p = v + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
		if (p == v + 20)
			return -1;
	}
	oh = om = 0;
	sign = 1;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == ' ' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (validate_2digits(p + 1, &oh) == -1 || p[3] != ':' ||
		    validate_2digits(p + 4, &om) == -1 || oh > 23 || om > 59)
			return -1;
		p += 6;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y1 * 100 + y2 - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	/* timegm normalizes: 31 April would come back as 1 May. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	*out = t - sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

/* A parameter of GET /api/stats/history: 0 port, 1 from, 2 to, 3 limit. */
static int
validate_history_param(size_t k, const char *val, int bad, void *arg,
    char *msg, size_t msglen)
{
	struct gt_api_history_filter *f = arg;

	switch (k) {
	case 0:
		if (bad || validate_qport(val, &f->port) == -1)
			return validate_fail(400, msg, msglen,
			    "port: must be an integer 1..65535");
		break;
	case 1:
	case 2:
		if (bad || gt_api_parse_time(val, k == 1 ? &f->from :
		    &f->to) == -1)
			return validate_fail(400, msg, msglen,
			    "%s: must be unix seconds or an RFC 3339 "
			    "time (2024-05-01T12:00:00Z)", k == 1 ? "from" : "to");
		break;
	default:
		if (bad || val[0] == '\0' || strlen(val) > 9 ||
		    strspn(val, "0123456789") != strlen(val) ||
		    (f->limit = strtoul(val, NULL, 10)) == 0)
			return validate_fail(400, msg, msglen,
			    "limit: must be an integer 1..%d",
			    GT_API_HISTORY_MAX);
		/* go-tunnel answers at most 1000 rather than refuse. */
		if (f->limit > GT_API_HISTORY_MAX)
			f->limit = GT_API_HISTORY_MAX;
		break;
	}
	return 0;
}

int
gt_api_check_history_query(const char *query, struct gt_api_history_filter *f,
    char *msg, size_t msglen)
{
	static const char *const known[] = { "port", "from", "to", "limit",
	    NULL };
	int rc;

	memset(f, 0, sizeof(*f));
	f->from = 0;
	f->to = INT64_MAX;
	f->limit = GT_API_HISTORY_LIMIT;
	if ((rc = validate_query(query, known, validate_history_param, f, msg,
	    msglen)) != 0)
		return rc;
	if (f->from > f->to)
		return validate_fail(400, msg, msglen,
		    "from: must not be after to");
	return 0;
}

int
gt_api_check_conn_close(const json_t *o, uint64_t *id, char *msg,
    size_t msglen)
{
	static const char *const known[] = { "id", NULL };
	json_t		*v;
	json_int_t	 n;
	int		 rc;

	if (!json_is_object(o))
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	if ((rc = validate_known(o, known, msg, msglen)) != 0)
		return rc;
	if ((v = json_object_get(o, "id")) == NULL || json_is_null(v))
		return validate_fail(400, msg, msglen, "missing field: id");
	if (!json_is_integer(v))
		return validate_fail(400, msg, msglen,
		    "id: must be a session id (a positive integer), got %s",
		    json_is_real(v) ? "a real number" : json_is_string(v) ?
		    "a string" : json_is_boolean(v) ? "a boolean" :
		    json_is_array(v) ? "an array" : "an object");
	if ((n = json_integer_value(v)) < 1)
		return validate_fail(400, msg, msglen,
		    "id: %lld is not a session id (ids start at 1)", (long long)n);
	*id = (uint64_t)n;
	return 0;
}

/* Check a disconnect request: one client name, the certificate CN rule. */
int
gt_api_check_disconnect(const json_t *o, char *name, size_t size, char *msg,
    size_t msglen)
{
	json_t		*v;
	const char	*s;
	int		 rc;

	if (!json_is_object(o))
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	if ((rc = validate_known(o, validate_disconnect_fields, msg, msglen)) != 0)
		return rc;
	v = json_object_get(o, "name");
	if (v == NULL || json_is_null(v))
		return validate_fail(400, msg, msglen, "missing field: name");
	if (!json_is_string(v))
		return validate_fail(400, msg, msglen, "name: must be a string");
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !gt_name_valid(s) ||
	    strlen(s) >= size)
		return validate_fail(400, msg, msglen,
		    "name: must be 1..%d of A-Z a-z 0-9 . _ -, starting with a "
		    "letter or digit", GT_NAME_MAX);
	snprintf(name, size, "%s", s);
	return 0;
}
