/*
 * validate.c: turn hostile request bodies into checked requests. Pure
 * functions: JSON in, a mapping or an HTTP status and a message out.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gt/addr.h"
#include "gt/api.h"
#include "gt/config.h"
#include "gt/names.h"
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
	/* SPEC 9's edge controls: only their "nothing" values, for now. */
	"bandwidth_limit", "access_rule", "access_ips", "max_connections",
	"proxy_protocol",
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

/* Is v access_ips' "no list": "", "[]" (go-tunnel's encoded form) or []? */
static int
validate_no_ips(const json_t *v)
{
	const char	*s;
	json_t		*j;
	int		 empty;

	if (json_is_array(v))
		return json_array_size(v) == 0;
	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return 0;
	if (strspn(s, " \t\r\n") == strlen(s))
		return 1;
	if ((j = json_loads(s, JSON_DECODE_ANY, NULL)) == NULL)
		return 0;
	empty = json_is_array(j) && json_array_size(j) == 0;
	json_decref(j);
	return empty;
}

/* Is v the string "", or one of the words allowed (NULL-terminated)? */
static int
validate_word(const json_t *v, const char *w)
{
	const char *s;

	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	return s[0] == '\0' || (w != NULL && strcmp(s, w) == 0);
}

/*
 * The edge controls of SPEC 9 are not built yet. Their "nothing" values
 * keep go-tunnel's UI working (it sends the defaults); anything else would
 * be silently ignored (a whitelist asked for, an open port given), so it
 * is refused: fail closed.
 */
static int
validate_edge(const json_t *o, char *msg, size_t msglen)
{
	static const struct {
		const char	*name;
		const char	*allowed;
	} f[] = {
		{ "bandwidth_limit",	"0" },
		{ "access_rule",	"\"disabled\" or \"\"" },
		{ "access_ips",		"\"\", \"[]\" or []" },
		{ "max_connections",	"0" },
		{ "proxy_protocol",	"\"\"" },
	};
	json_t	*v;
	size_t	 i;
	int	 ok;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		v = json_object_get(o, f[i].name);
		if (v == NULL || json_is_null(v))
			continue;
		switch (i) {
		case 0:
		case 3:
			ok = json_is_integer(v) && json_integer_value(v) == 0;
			break;
		case 1:
			ok = validate_word(v, "disabled");
			break;
		case 2:
			ok = validate_no_ips(v);
			break;
		default:
			ok = validate_word(v, NULL);
			break;
		}
		if (!ok)
			return validate_fail(400, msg, msglen,
			    "field %s is not supported by this server yet "
			    "(only %s is accepted)", f[i].name, f[i].allowed);
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
	    (rc = validate_edge(o, msg, msglen)) != 0)
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

/* Check a remove request: one port, either alias. */
int
gt_api_check_remove(const json_t *o, uint16_t *port, char *msg, size_t msglen)
{
	json_t	*v;
	int	 conflict, rc;

	if (!json_is_object(o))
		return validate_fail(400, msg, msglen, "the body must be a JSON object");
	if ((rc = validate_known(o, validate_remove_fields, msg, msglen)) != 0)
		return rc;
	v = validate_alias(o, "port", "source_port", &conflict);
	if (conflict)
		return validate_fail(400, msg, msglen,
		    "port and source_port are the same field and differ");
	if (v == NULL)
		return validate_fail(400, msg, msglen, "missing field: port");
	return validate_port(v, "port", port, msg, msglen);
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
