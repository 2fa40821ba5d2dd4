/* test_api.c: request validation, routes, JSON envelopes and metrics of the API. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/http.h>

#include "gt/api.h"
#include "gt/names.h"
#include "gt/config.h"
#include "gt/counters.h"
#include "gt/ui.h"

/* A config as SPEC §3's defaults, without calling the config module. */
static void
test_cfg(struct gt_config *cfg, int tunnel)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port_range.from = 10000;
	cfg->port_range.end = 10100;
	cfg->tunnel.enabled = tunnel;
	cfg->tunnel.listen_port = 9000;
	cfg->api.listen_port = 8080;
	cfg->security.port_range.blacklist[0] = 10022;
	cfg->security.port_range.blacklist[1] = 3389;
	cfg->security.port_range.n_blacklist = 2;
}

/* Parse text and check a create request; returns the status, m filled. */
static int
create(const char *text, int tunnel, struct gt_mapping *m, char *msg, size_t len)
{
	struct gt_config	 cfg;
	json_t			*j;
	int			 rc;

	test_cfg(&cfg, tunnel);
	rc = gt_api_parse_body(text, strlen(text), &j, msg, len);
	if (rc != 0)
		return rc;
	rc = gt_api_check_create(j, &cfg, m, msg, len);
	json_decref(j);
	return rc;
}

/* Status of a create request (message discarded). */
static int
create_rc(const char *text, int tunnel)
{
	struct gt_mapping	m;
	char			msg[GT_API_MSG_MAX];

	return create(text, tunnel, &m, msg, sizeof(msg));
}

static void
test_create_ok_direct(void **state)
{
	struct gt_mapping	m;
	char			msg[GT_API_MSG_MAX];

	(void)state;
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"10.0.0.5\","
	    "\"target_port\":80}", 0, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.source_port, 10001);
	assert_string_equal(m.target_host, "10.0.0.5");
	assert_int_equal(m.target_port, 80);
	assert_int_equal(m.use_tunnel, 0);
	assert_string_equal(m.client, "");
	/* Aliases. */
	assert_int_equal(create("{\"source_port\":10002,\"target_ip\":\"::1\","
	    "\"target_port\":22}", 0, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.source_port, 10002);
	assert_string_equal(m.target_host, "::1");
	/* Both aliases, equal: fine (unknown fields: test_unknown_fields). */
	assert_int_equal(create("{\"port\":10003,\"source_port\":10003,\"target_host\":"
	    "\"db.example.org\",\"target_ip\":\"db.example.org\"}", 0, &m, msg,
	    sizeof(msg)), 0);
	assert_int_equal(m.target_port, 10003);	/* default = port */
	/* Range ends. */
	assert_int_equal(create_rc("{\"port\":10000,\"target_host\":\"h\",\"target_port\":1}", 0), 0);
	assert_int_equal(create_rc("{\"port\":10100,\"target_host\":\"h\",\"target_port\":65535}", 0), 0);
}

static void
test_create_ok_tunnel(void **state)
{
	struct gt_mapping	m;
	char			msg[GT_API_MSG_MAX];

	(void)state;
	/* use_tunnel defaults to tunnel.enabled; host and target port default. */
	assert_int_equal(create("{\"port\":10005}", 1, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.use_tunnel, 1);
	assert_string_equal(m.target_host, "127.0.0.1");
	assert_int_equal(m.target_port, 10005);
	assert_int_equal(create("{\"port\":10006,\"target_port\":22,\"client\":\"office-1\","
	    "\"use_tunnel\":true}", 1, &m, msg, sizeof(msg)), 0);
	assert_string_equal(m.client, "office-1");
	assert_int_equal(m.target_port, 22);
	/* A direct mapping on a tunnel server. */
	assert_int_equal(create("{\"port\":10007,\"use_tunnel\":false,\"target_host\":"
	    "\"1.2.3.4\"}", 1, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.use_tunnel, 0);
	/* null counts as absent. */
	assert_int_equal(create("{\"port\":10008,\"client\":null,\"use_tunnel\":null}", 1,
	    &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.use_tunnel, 1);
}

static void
test_create_bad(void **state)
{
	struct gt_mapping	m;
	char			msg[GT_API_MSG_MAX];

	(void)state;
	/* Missing fields. */
	assert_int_equal(create("{}", 0, &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "port"));
	assert_int_equal(create("{\"port\":10001}", 0, &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "target_host"));
	/* Wrong types and ranges for port. */
	assert_int_equal(create_rc("{\"port\":\"10001\",\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001.0,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001.5,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":-1,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":0,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":70000,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":true,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":[10001],\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":{},\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":null,\"target_host\":\"h\"}", 0), 400);
	/* Range and blacklist. */
	assert_int_equal(create("{\"port\":9999,\"target_host\":\"h\"}", 0, &m, msg,
	    sizeof(msg)), 400);
	assert_non_null(strstr(msg, "port_range"));
	assert_int_equal(create_rc("{\"port\":10101,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create("{\"port\":10022,\"target_host\":\"h\"}", 0, &m, msg,
	    sizeof(msg)), 400);
	assert_non_null(strstr(msg, "blacklist"));
	/* Alias conflicts. */
	assert_int_equal(create_rc("{\"port\":10001,\"source_port\":10002,\"target_host\":\"h\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"a\",\"target_ip\":\"b\"}", 0), 400);
	/* target_port. */
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"h\",\"target_port\":0}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"h\",\"target_port\":65536}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"h\",\"target_port\":\"80\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"h\",\"target_port\":8.0}", 0), 400);
	/* target_host. */
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":5}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"a b\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"a\\u0000b\"}", 0), 400);
	/* use_tunnel. */
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"h\",\"use_tunnel\":1}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"h\",\"use_tunnel\":\"true\"}", 0), 400);
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\",\"use_tunnel\":true}", 0,
	    &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "tunnel.enabled"));
	/* client. */
	assert_int_equal(create_rc("{\"port\":10001,\"client\":7}", 1), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"client\":\"a b\"}", 1), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"client\":\"\\u00e9t\\u00e9\"}", 1), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"client\":\"a\",\"use_tunnel\":false,"
	    "\"target_host\":\"h\"}", 1), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"client\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 1), 400);	/* 65 chars */
	/* A direct mapping onto itself. */
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"127.0.0.1\"}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"localhost\","
	    "\"target_port\":10001}", 0), 400);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"127.0.0.1\","
	    "\"target_port\":10002}", 0), 0);
}

static void
test_body(void **state)
{
	char	 msg[GT_API_MSG_MAX];
	char	*big, *deep;
	json_t	*j;
	size_t	 i;

	(void)state;
	assert_int_equal(gt_api_parse_body("", 0, &j, msg, sizeof(msg)), 400);
	assert_null(j);
	assert_int_equal(gt_api_parse_body("{\"port\":", 8, &j, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "malformed JSON"));
	assert_int_equal(gt_api_parse_body("[1,2]", 5, &j, msg, sizeof(msg)), 400);
	assert_int_equal(gt_api_parse_body("42", 2, &j, msg, sizeof(msg)), 400);
	assert_int_equal(gt_api_parse_body("{} x", 4, &j, msg, sizeof(msg)), 400);
	assert_int_equal(gt_api_parse_body("{\"a\":1,\"a\":2}", 13, &j, msg, sizeof(msg)), 400);
	assert_int_equal(gt_api_parse_body("{\"port\":1e400}", 14, &j, msg, sizeof(msg)), 400);
	assert_int_equal(gt_api_parse_body("{\"port\":99999999999999999999}", 29, &j, msg,
	    sizeof(msg)), 400);
	assert_int_equal(gt_api_parse_body("{\"a\":\"\0\"}", 9, &j, msg, sizeof(msg)), 400);
	/* Deep nesting is refused, not recursed into without end. */
	deep = malloc(200001);
	assert_non_null(deep);
	for (i = 0; i < 100000; i++) {
		deep[i] = '[';
		deep[200000 - 1 - i] = ']';
	}
	assert_int_equal(gt_api_parse_body(deep, 200000, &j, msg, sizeof(msg)), 413);
	assert_int_equal(gt_api_parse_body(deep + 100000 - 5000, 10000, &j, msg,
	    sizeof(msg)), 400);
	free(deep);
	/* Over 64 KiB: 413. */
	big = malloc(GT_API_BODY_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', GT_API_BODY_MAX + 1);
	big[0] = '{';
	big[GT_API_BODY_MAX] = '}';
	assert_int_equal(gt_api_parse_body(big, GT_API_BODY_MAX + 1, &j, msg, sizeof(msg)), 413);
	big[GT_API_BODY_MAX - 1] = '}';
	assert_int_equal(gt_api_parse_body(big, GT_API_BODY_MAX, &j, msg, sizeof(msg)), 0);
	json_decref(j);
	free(big);
	assert_int_equal(gt_api_parse_body("{\"port\":1}", 10, &j, msg, sizeof(msg)), 0);
	assert_true(json_is_object(j));
	json_decref(j);
}

static void
test_remove(void **state)
{
	char		 msg[GT_API_MSG_MAX];
	uint16_t	 port = 0;
	json_t		*j;

	(void)state;
	j = json_loads("{\"port\":10001}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 0);
	assert_int_equal(port, 10001);
	json_decref(j);
	j = json_loads("{\"source_port\":10002}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 0);
	assert_int_equal(port, 10002);
	json_decref(j);
	j = json_loads("{\"port\":\"10001\"}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 400);
	json_decref(j);
	j = json_loads("{\"port\":0}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 400);
	json_decref(j);
	j = json_loads("{}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 400);
	json_decref(j);
	j = json_loads("{\"port\":1,\"source_port\":2}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 400);
	json_decref(j);
	j = json_loads("[1]", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 400);
	json_decref(j);
}

/* Disconnect: one client name, the CN rule, nothing else; 400 names the field. */
static void
test_disconnect(void **state)
{
	static const struct {
		const char	*body;
		const char	*text;	/* in the 400 message; NULL: accepted */
	} c[] = {
		{ "{\"name\":\"edge-1.a_b\"}", NULL },
		{ "{}", "missing field: name" },
		{ "{\"name\":null}", "missing field: name" },
		{ "{\"name\":5}", "name: must be a string" },
		{ "{\"name\":\"\"}", "name: must be 1..64" },
		{ "{\"name\":\"a b\"}", "name: must be 1..64" },
		{ "{\"name\":\"-a\"}", "name: must be 1..64" },
		{ "{\"name\":\"a\\u0000b\"}", "name: must be 1..64" },
		{ "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		    "name: must be 1..64" },
		{ "{\"name\":\"a\",\"force\":true}", "unknown field \"force\"" },
		{ "[\"a\"]", "JSON object" },
	};
	char	 msg[GT_API_MSG_MAX], name[GT_NAME_MAX + 1];
	json_t	*j;
	size_t	 i;
	int	 rc;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		j = json_loads(c[i].body, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(j);
		msg[0] = '\0';
		rc = gt_api_check_disconnect(j, name, sizeof(name), msg, sizeof(msg));
		json_decref(j);
		if (c[i].text == NULL) {
			assert_int_equal(rc, 0);
			assert_string_equal(name, "edge-1.a_b");
		} else {
			if (rc != 400 || strstr(msg, c[i].text) == NULL)
				fail_msg("%s: %d [%s]", c[i].body, rc, msg);
		}
	}
}

/* A field outside the known ones is a 400 that names it, create and remove alike. */
static void
test_unknown_fields(void **state)
{
	struct gt_mapping	 m;
	char			 msg[GT_API_MSG_MAX];
	uint16_t		 port;
	json_t			*j;

	(void)state;
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\",\"foo\":1}", 0,
	    &m, msg, sizeof(msg)), 400);
	assert_string_equal(msg, "unknown field \"foo\"");
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\",\"Port\":1}", 0,
	    &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "\"Port\""));
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\",\"id\":null}", 0,
	    &m, msg, sizeof(msg)), 400);
	/* A hostile name is printed tamed and bounded. */
	assert_int_equal(create("{\"port\":10001,\"a\\\"\\nb\":1}", 0, &m, msg,
	    sizeof(msg)), 400);
	assert_string_equal(msg, "unknown field \"a??b\"");
	j = json_loads("{\"port\":10001,\"force\":true}", 0, NULL);
	assert_int_equal(gt_api_check_remove(j, &port, msg, sizeof(msg)), 400);
	assert_string_equal(msg, "unknown field \"force\"");
	json_decref(j);
}

/* SPEC 9's fields: good values taken, bad ones refused naming the field. */
static void
test_edge_fields(void **state)
{
	static const char *const ok[] = {
		"\"bandwidth_limit\":0", "\"bandwidth_limit\":null",
		"\"access_rule\":\"disabled\"", "\"access_rule\":\"\"",
		"\"access_rule\":\"whitelist\"", "\"access_rule\":\"blacklist\"",
		"\"access_ips\":\"\"", "\"access_ips\":\"[]\"",
		"\"access_ips\":\" [ ] \"", "\"access_ips\":[]",
		"\"max_connections\":0", "\"max_connections\":1000000",
		"\"proxy_protocol\":\"\"", "\"proxy_protocol\":\"v1\"",
		"\"proxy_protocol\":\"v2\"", "\"proxy_protocol\":null",
		/* go-tunnel's UI's defaults, all at once */
		("\"bandwidth_limit\":0,\"access_rule\":\"disabled\",\"access_ips\":\"[]\","
		"\"max_connections\":0,\"proxy_protocol\":\"\""),
		"\"bandwidth_limit\":1024", "\"bandwidth_limit\":2000000",
		"\"bandwidth_limit\":10737418240",
	};
	static const struct {
		const char *f, *name;
	} bad[] = {
		{ "\"proxy_protocol\":\"v3\"", "proxy_protocol" },
		{ "\"proxy_protocol\":\"V1\"", "proxy_protocol" },
		{ "\"proxy_protocol\":\"v1 \"", "proxy_protocol" },
		{ "\"proxy_protocol\":\"v2\\n\"", "proxy_protocol" },
		{ "\"proxy_protocol\":\"1\"", "proxy_protocol" },
		{ "\"proxy_protocol\":2", "proxy_protocol" },
		{ "\"proxy_protocol\":true", "proxy_protocol" },
		{ "\"proxy_protocol\":[\"v1\"]", "proxy_protocol" },
		{ "\"access_rule\":\"allow\"", "access_rule" },
		{ "\"access_rule\":\"Whitelist\"", "access_rule" },
		{ "\"access_rule\":false", "access_rule" },
		{ "\"access_ips\":\"10.0.0.1\"", "access_ips" },
		{ "\"access_ips\":\"10.0.0.1,10.0.0.2\"", "access_ips" },
		{ "\"access_ips\":{}", "access_ips" },
		{ "\"access_ips\":[1]", "access_ips" },
		{ "\"access_ips\":[\"10.0.0.1\",\"nope\"]", "\"nope\"" },
		{ "\"access_ips\":[\"10.0.0.0/33\"]", "\"10.0.0.0/33\"" },
		{ "\"access_ips\":[\"::1/129\"]", "\"::1/129\"" },
		{ "\"access_ips\":\"[\\\"1.2.3.4\\\",\\\"x/8\\\"]\"", "\"x/8\"" },
		{ "\"max_connections\":-1", "max_connections" },
		{ "\"max_connections\":1000001", "max_connections" },
		{ "\"max_connections\":\"5\"", "max_connections" },
		{ "\"max_connections\":5.5", "max_connections" },
		{ "\"bandwidth_limit\":-1", "bandwidth_limit" },
		{ "\"bandwidth_limit\":1", "bandwidth_limit" },
		{ "\"bandwidth_limit\":1023", "bandwidth_limit" },
		{ "\"bandwidth_limit\":10737418241", "bandwidth_limit" },
		{ "\"bandwidth_limit\":9223372036854775807", "bandwidth_limit" },
		{ "\"bandwidth_limit\":\"0\"", "bandwidth_limit" },
		{ "\"bandwidth_limit\":\"2000000\"", "bandwidth_limit" },
		{ "\"bandwidth_limit\":0.0", "bandwidth_limit" },
		{ "\"bandwidth_limit\":2e6", "bandwidth_limit" },
		{ "\"bandwidth_limit\":true", "bandwidth_limit" },
	};
	struct gt_mapping	m;
	char			msg[GT_API_MSG_MAX], body[4096];
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(body, sizeof(body), "{\"port\":10001,\"target_host\":\"h\",%s}",
		    ok[i]);
		if (create(body, 0, &m, msg, sizeof(msg)) != 0)
			fail_msg("%s refused: %s", body, msg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"port\":10001,\"target_host\":\"h\",%s}",
		    bad[i].f);
		if (create(body, 0, &m, msg, sizeof(msg)) != 400)
			fail_msg("%s accepted", body);
		if (strstr(msg, bad[i].name) == NULL)
			fail_msg("%s: message \"%s\" does not name %s", body, msg,
			    bad[i].name);
	}

	/* Both forms of access_ips, IPv4 and IPv6, read into the mapping. */
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\","
	    "\"access_rule\":\"whitelist\",\"access_ips\":[\"127.0.0.1\","
	    "\"10.0.0.0/8\",\"::1\",\"2001:db8::/32\"],\"max_connections\":2}",
	    0, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.access_rule, GT_ACCESS_WHITELIST);
	assert_int_equal(m.n_access_ips, 4);
	assert_int_equal(m.access_ips[0].prefix, 32);
	assert_int_equal(m.access_ips[3].prefix, 32);
	assert_int_equal(m.max_connections, 2);
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\","
	    "\"access_rule\":\"blacklist\",\"access_ips\":"
	    "\"[\\\"1.2.3.4\\\",\\\"10.0.0.0/8\\\"]\"}", 0, &m, msg,
	    sizeof(msg)), 0);
	assert_int_equal(m.access_rule, GT_ACCESS_BLACKLIST);
	assert_int_equal(m.n_access_ips, 2);
	assert_int_equal(m.access_ips[1].prefix, 8);
	/* proxy_protocol is stored as sent; absent is "". */
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\","
	    "\"proxy_protocol\":\"v2\"}", 0, &m, msg, sizeof(msg)), 0);
	assert_string_equal(m.proxy_protocol, "v2");
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\"}", 0,
	    &m, msg, sizeof(msg)), 0);
	assert_string_equal(m.proxy_protocol, "");
	/* bandwidth_limit is read into the mapping; absent is 0. */
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\","
	    "\"bandwidth_limit\":2000000}", 0, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.bandwidth_limit, 2000000);
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\"}", 0,
	    &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.bandwidth_limit, 0);
	/* A whitelist with no entries is allowed (it admits nobody). */
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\","
	    "\"access_rule\":\"whitelist\"}", 0, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.n_access_ips, 0);

	/* The bound: GT_ACCESS_IPS_MAX entries pass, one more does not. */
	for (n = GT_ACCESS_IPS_MAX; n <= GT_ACCESS_IPS_MAX + 1; n++) {
		size_t used;

		used = (size_t)snprintf(body, sizeof(body),
		    "{\"port\":10001,\"target_host\":\"h\",\"access_ips\":[");
		for (i = 0; i < n; i++)
			used += (size_t)snprintf(body + used, sizeof(body) - used,
			    "%s\"10.0.%zu.0/24\"", i ? "," : "", i);
		snprintf(body + used, sizeof(body) - used, "]}");
		assert_int_equal(create(body, 0, &m, msg, sizeof(msg)),
		    n == GT_ACCESS_IPS_MAX ? 0 : 400);
	}
	assert_non_null(strstr(msg, "access_ips"));
}

/* Run an update body against old; the status, m filled. */
static int
update(const char *text, const struct gt_mapping *old, struct gt_mapping *m,
    char *msg, size_t len)
{
	struct gt_config	 cfg;
	json_t			*j;
	int			 rc;

	test_cfg(&cfg, 1);
	if ((rc = gt_api_parse_body(text, strlen(text), &j, msg, len)) != 0)
		return rc;
	rc = gt_api_check_update(j, &cfg, old, m, msg, len);
	json_decref(j);
	return rc;
}

/* update: only the fields sent change; the rules of create hold. */
static void
test_update(void **state)
{
	struct gt_mapping	old, m;
	char			msg[GT_API_MSG_MAX];
	uint16_t		port;
	json_t			*j;

	(void)state;
	assert_int_equal(create("{\"port\":10001,\"target_host\":\"h\","
	    "\"target_port\":80,\"max_connections\":3}", 0, &old, msg,
	    sizeof(msg)), 0);
	assert_int_equal(update("{\"port\":10001,\"access_rule\":\"whitelist\","
	    "\"access_ips\":[\"127.0.0.1/32\"]}", &old, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.access_rule, GT_ACCESS_WHITELIST);
	assert_int_equal(m.n_access_ips, 1);
	assert_int_equal(m.max_connections, 3);
	assert_string_equal(m.target_host, "h");
	assert_int_equal(m.target_port, 80);
	assert_int_equal(update("{\"source_port\":10001,\"target_ip\":\"10.1.1.1\","
	    "\"target_port\":81,\"max_connections\":0}", &old, &m, msg,
	    sizeof(msg)), 0);
	assert_string_equal(m.target_host, "10.1.1.1");
	assert_int_equal(m.target_port, 81);
	assert_int_equal(m.max_connections, 0);
	/* proxy_protocol: set, kept when absent, cleared with "". */
	assert_int_equal(update("{\"port\":10001,\"proxy_protocol\":\"v1\"}",
	    &old, &m, msg, sizeof(msg)), 0);
	assert_string_equal(m.proxy_protocol, "v1");
	old = m;
	assert_int_equal(update("{\"port\":10001,\"target_port\":82}", &old, &m,
	    msg, sizeof(msg)), 0);
	assert_string_equal(m.proxy_protocol, "v1");
	assert_int_equal(update("{\"port\":10001,\"proxy_protocol\":\"\"}",
	    &old, &m, msg, sizeof(msg)), 0);
	assert_string_equal(m.proxy_protocol, "");
	assert_int_equal(update("{\"port\":10001,\"proxy_protocol\":\"v9\"}",
	    &old, &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "proxy_protocol"));
	/* refusals name the field */
	assert_int_equal(update("{\"port\":10001,\"colour\":1}", &old, &m, msg,
	    sizeof(msg)), 400);
	assert_non_null(strstr(msg, "\"colour\""));
	assert_int_equal(update("{\"port\":10001,\"access_rule\":\"x\"}", &old,
	    &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "access_rule"));
	assert_int_equal(update("{\"port\":10001,\"bandwidth_limit\":5}", &old,
	    &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "bandwidth_limit"));
	/* a limit set, changed and lifted; other fields stay */
	assert_int_equal(update("{\"port\":10001,\"bandwidth_limit\":4000000}",
	    &old, &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.bandwidth_limit, 4000000);
	assert_int_equal(m.max_connections, 3);
	old = m;
	assert_int_equal(update("{\"port\":10001,\"target_port\":81}", &old,
	    &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.bandwidth_limit, 4000000);
	assert_int_equal(update("{\"port\":10001,\"bandwidth_limit\":0}", &old,
	    &m, msg, sizeof(msg)), 0);
	assert_int_equal(m.bandwidth_limit, 0);
	assert_int_equal(update("{\"port\":10001,\"bandwidth_limit\":-5}",
	    &old, &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "bandwidth_limit"));
	assert_int_equal(update("{\"port\":10001,\"use_tunnel\":true}", &old,
	    &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "use_tunnel"));
	assert_int_equal(update("{\"port\":10001,\"client\":\"dc1\"}", &old,
	    &m, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "client"));
	assert_int_equal(update("{\"port\":10001,\"target_port\":10001,"
	    "\"target_host\":\"127.0.0.1\"}", &old, &m, msg, sizeof(msg)), 400);
	assert_int_equal(update("{\"access_rule\":\"disabled\"}", &old, &m, msg,
	    sizeof(msg)), 400);
	assert_non_null(strstr(msg, "port"));
	/* the port alone, for the 404 before the rest */
	j = json_loads("{\"port\":10002,\"max_connections\":1}", 0, NULL);
	assert_int_equal(gt_api_check_update_port(j, &port, msg, sizeof(msg)), 0);
	assert_int_equal(port, 10002);
	json_decref(j);
	j = json_loads("{\"port\":10002,\"extra\":1}", 0, NULL);
	assert_int_equal(gt_api_check_reload(j, &port, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "\"extra\""));
	json_decref(j);
}

/* Self targets: the API port, the tunnel port, the mapping's own port, any spelling. */
static void
test_self_targets(void **state)
{
	static const char *const hosts[] = {
		"127.0.0.1", "127.3.2.1", "localhost", "::1", "0.0.0.0", "::",
		"::ffff:127.0.0.1", "0:0:0:0:0:ffff:7f00:1", "::ffff:0.0.0.0",
	};
	struct gt_mapping	m;
	char			msg[GT_API_MSG_MAX], body[256];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		snprintf(body, sizeof(body), "{\"port\":10001,\"target_host\":\"%s\","
		    "\"target_port\":8080,\"use_tunnel\":false}", hosts[i]);
		assert_int_equal(create(body, 1, &m, msg, sizeof(msg)), 400);
		assert_int_equal(create(body, 0, &m, msg, sizeof(msg)), 400);
		if (strstr(msg, "own API port") == NULL)
			fail_msg("%s: %s", body, msg);
		snprintf(body, sizeof(body), "{\"port\":10001,\"target_host\":\"%s\","
		    "\"target_port\":9000,\"use_tunnel\":false}", hosts[i]);
		assert_int_equal(create(body, 1, &m, msg, sizeof(msg)), 400);
		assert_non_null(strstr(msg, "own tunnel port"));
		/* With the tunnel off, 9000 is nobody's port. */
		assert_int_equal(create(body, 0, &m, msg, sizeof(msg)), 0);
		snprintf(body, sizeof(body), "{\"port\":10001,\"target_host\":\"%s\","
		    "\"use_tunnel\":false}", hosts[i]);
		assert_int_equal(create(body, 1, &m, msg, sizeof(msg)), 400);
		assert_non_null(strstr(msg, "this very mapping"));
	}
	/* A tunnel mapping's target is on the client's side: allowed. */
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"127.0.0.1\","
	    "\"target_port\":8080,\"use_tunnel\":true}", 1), 0);
	/* Another host, or a name, at the API port: the dialer decides for names. */
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"192.0.2.1\","
	    "\"target_port\":8080}", 0), 0);
	assert_int_equal(create_rc("{\"port\":10001,\"target_host\":\"example.com\","
	    "\"target_port\":8080}", 0), 0);
}

/* Rules (a) and (b) against the mappings served now: no chains, no cycles. */
static void
test_chain(void **state)
{
	struct gt_mapping	ms[3], m;
	char			msg[GT_API_MSG_MAX];

	(void)state;
	memset(ms, 0, sizeof(ms));
	/* 10001 -> ::ffff:127.0.0.1:10050 (direct, to a port nobody maps yet) */
	ms[0].source_port = 10001;
	snprintf(ms[0].target_host, sizeof(ms[0].target_host), "::ffff:127.0.0.1");
	ms[0].target_port = 10050;
	/* 10002 -> 192.0.2.1:10060 (direct, elsewhere) */
	ms[1].source_port = 10002;
	snprintf(ms[1].target_host, sizeof(ms[1].target_host), "192.0.2.1");
	ms[1].target_port = 10060;
	/* 10003: tunnel to 127.0.0.1:10070 on the client's side */
	ms[2].source_port = 10003;
	ms[2].use_tunnel = 1;
	snprintf(ms[2].target_host, sizeof(ms[2].target_host), "127.0.0.1");
	ms[2].target_port = 10070;

	/* (a) a direct mapping onto mapping 10001's public port. */
	memset(&m, 0, sizeof(m));
	m.source_port = 10010;
	snprintf(m.target_host, sizeof(m.target_host), "localhost");
	m.target_port = 10001;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "own port 10001"));
	/* ... onto a tunnel mapping's port too. */
	m.target_port = 10003;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 400);
	/* ... but a tunnel mapping's target is the client's side. */
	m.use_tunnel = 1;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 0);
	m.use_tunnel = 0;
	/* ... and another host at that port is fine. */
	snprintf(m.target_host, sizeof(m.target_host), "192.0.2.1");
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 0);

	/* (b) a mapping on 10050, which direct mapping 10001 targets here. */
	memset(&m, 0, sizeof(m));
	m.source_port = 10050;
	snprintf(m.target_host, sizeof(m.target_host), "192.0.2.7");
	m.target_port = 22;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "direct mapping 10001"));
	m.use_tunnel = 1;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 400);
	/* 10060 is targeted on another host, 10070 on a client: no chain. */
	m.source_port = 10060;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 0);
	m.source_port = 10070;
	assert_int_equal(gt_api_check_chain(&m, ms, 3, msg, sizeof(msg)), 0);
	assert_int_equal(gt_api_check_chain(&m, NULL, 0, msg, sizeof(msg)), 0);
}

static void
test_host(void **state)
{
	char name[300];

	(void)state;
	assert_true(gt_api_host_valid("127.0.0.1"));
	assert_true(gt_api_host_valid("::1"));
	assert_true(gt_api_host_valid("fe80::1:2"));
	assert_true(gt_api_host_valid("localhost"));
	assert_true(gt_api_host_valid("a-b.example.org"));
	assert_true(gt_api_host_valid("x1"));
	assert_false(gt_api_host_valid(""));
	assert_false(gt_api_host_valid("-a.example"));
	assert_false(gt_api_host_valid("a-.example"));
	assert_false(gt_api_host_valid("a..b"));
	assert_false(gt_api_host_valid("a.b."));
	assert_false(gt_api_host_valid(".a"));
	assert_false(gt_api_host_valid("a_b"));
	assert_false(gt_api_host_valid("a b"));
	assert_false(gt_api_host_valid("256.1.1.1"));
	assert_false(gt_api_host_valid("1.2.3"));
	assert_false(gt_api_host_valid("[::1]"));
	assert_false(gt_api_host_valid("host:80"));
	/* A 63-character label is fine, 64 is not; 253 characters total at most. */
	memset(name, 'a', 63);
	name[63] = '\0';
	assert_true(gt_api_host_valid(name));
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_false(gt_api_host_valid(name));
	memset(name, 'a', 253);
	for (int i = 50; i < 253; i += 51)
		name[i] = '.';
	name[253] = '\0';
	assert_true(gt_api_host_valid(name));
	name[253] = 'a';
	name[254] = '\0';
	assert_false(gt_api_host_valid(name));

	assert_true(gt_api_client_valid("client"));
	assert_true(gt_api_client_valid("a.b-c_d@e"));
	assert_false(gt_api_client_valid(""));
	assert_false(gt_api_client_valid("a b"));
	assert_false(gt_api_client_valid("a\tb"));
	assert_false(gt_api_client_valid("\x7f"));
}

/* Status of a history query; f filled, msg kept. */
static int
hist_query(const char *q, struct gt_api_history_filter *f, char *msg,
    size_t len)
{
	memset(msg, 0, len);
	return gt_api_check_history_query(q, f, msg, len);
}

/* The history query: port, from, to, limit; times as unix or RFC 3339. */
static void
test_history_query(void **state)
{
	static const struct {
		const char	*q, *name;
	} bad[] = {
		{ "port=0", "port" }, { "port=65536", "port" },
		{ "port=", "port" }, { "port=1&port=2", "port" },
		{ "from=x", "from" }, { "from=-5", "from" },
		{ "from=1234567890123", "from" },
		{ "to=2024-05-01", "to" }, { "to=2024-05-01T25:00:00Z", "to" },
		{ "to=2024-02-30T00:00:00Z", "to" },
		{ "to=2024-05-01T12:00:00", "to" },
		{ "to=2024-05-01T12:00:00+8:00", "to" },
		{ "to=2024-05-01T12:00:00Zjunk", "to" },
		{ "to=2024-05-01T12:00:00.Z", "to" },
		{ "limit=0", "limit" }, { "limit=abc", "limit" },
		{ "limit=1e3", "limit" }, { "limit=9999999999", "limit" },
		{ "from=20&to=10", "from" }, { "lmit=1", "lmit" },
		{ "%zz=1", "query parameter" },
	};
	struct gt_api_history_filter	f;
	char				msg[GT_API_MSG_MAX];
	int64_t				t;
	size_t				i;

	(void)state;
	assert_int_equal(hist_query(NULL, &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.port, 0);
	assert_int_equal(f.from, 0);
	assert_true(f.to == INT64_MAX);
	assert_int_equal(f.limit, GT_API_HISTORY_LIMIT);
	assert_int_equal(hist_query("port=80&from=100&to=200&limit=5", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f.port, 80);
	assert_int_equal(f.from, 100);
	assert_int_equal(f.to, 200);
	assert_int_equal(f.limit, 5);
	assert_int_equal(hist_query("limit=5000", &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.limit, GT_API_HISTORY_MAX);
	assert_int_equal(hist_query("from=100&to=100", &f, msg, sizeof(msg)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hist_query(bad[i].q, &f, msg, sizeof(msg)) != 400)
			fail_msg("%s: not refused", bad[i].q);
		if (strstr(msg, bad[i].name) == NULL)
			fail_msg("%s: \"%s\" does not name %s", bad[i].q, msg,
			    bad[i].name);
	}

	assert_int_equal(gt_api_parse_time("2024-05-01T12:00:00Z", &t), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(gt_api_parse_time("2024-05-01t12:00:00.123z", &t), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(gt_api_parse_time("2024-05-01T20:00:00+08:00", &t), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(gt_api_parse_time("2024-05-01T20:00:00 08:00", &t), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(gt_api_parse_time("2024-05-01T07:30:00-04:30", &t), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(gt_api_parse_time("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(gt_api_parse_time("2023-02-29T00:00:00Z", &t), -1);
	assert_int_equal(gt_api_parse_time("1714564800", &t), 0);
	assert_int_equal(t, 1714564800);
	assert_int_equal(gt_api_parse_time("", &t), -1);
}

/* Status of a connections query; f filled, msg kept. */
static int
conn_query(const char *q, struct gt_api_conn_filter *f, char *msg, size_t len)
{
	memset(msg, 0, len);
	return gt_api_check_conn_query(q, f, msg, len);
}

/* The connections query: port and client filters, each value checked, nothing else. */
static void
test_conn_query(void **state)
{
	struct gt_api_conn_filter	f;
	char				msg[GT_API_MSG_MAX], q[GT_API_QUERY_MAX + 8];

	(void)state;
	assert_int_equal(conn_query(NULL, &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.port, 0);
	assert_string_equal(f.client, "");
	assert_int_equal(conn_query("", &f, msg, sizeof(msg)), 0);
	assert_int_equal(conn_query("port=10001", &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.port, 10001);
	assert_string_equal(f.client, "");
	assert_int_equal(conn_query("client=alice&port=1", &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.port, 1);
	assert_string_equal(f.client, "alice");
	assert_int_equal(conn_query("port=65535&", &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.port, 65535);
	/* Percent escapes decode: a name with '&' and '='. */
	assert_int_equal(conn_query("client=a%26b%3Dc&&", &f, msg, sizeof(msg)), 0);
	assert_string_equal(f.client, "a&b=c");
	assert_int_equal(conn_query("%70ort=7", &f, msg, sizeof(msg)), 0);
	assert_int_equal(f.port, 7);

	/* Bad ports, each naming the parameter. */
	assert_int_equal(conn_query("port=0", &f, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "port"));
	assert_int_equal(conn_query("port=65536", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port=-1", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port=+80", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port=80x", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port=", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port=000080", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("port=99999999999999999999", &f, msg,
	    sizeof(msg)), 400);
	assert_int_equal(conn_query("port=1&port=1", &f, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "twice"));
	/* Bad clients. */
	assert_int_equal(conn_query("client=", &f, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "client"));
	assert_int_equal(conn_query("client=a+b", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("client=a%20b", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("client=a%00b", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("client=a%zzb", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("client=ab%4", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("client=%7F", &f, msg, sizeof(msg)), 400);
	memset(q, 'x', sizeof(q));
	memcpy(q, "client=", 7);
	q[7 + GT_CLIENT_MAX] = '\0';
	assert_int_equal(conn_query(q, &f, msg, sizeof(msg)), 0);
	q[7 + GT_CLIENT_MAX] = 'x';
	q[8 + GT_CLIENT_MAX] = '\0';
	assert_int_equal(conn_query(q, &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("client=a&client=b", &f, msg, sizeof(msg)), 400);
	/* Unknown parameters, named. */
	assert_int_equal(conn_query("limit=5", &f, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "\"limit\""));
	assert_int_equal(conn_query("port=1&api_key=x", &f, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "\"api_key\""));
	assert_int_equal(conn_query("=1", &f, msg, sizeof(msg)), 400);
	assert_int_equal(conn_query("%zz=1", &f, msg, sizeof(msg)), 400);
	/* Too long as a whole. */
	memset(q, 'a', sizeof(q));
	q[GT_API_QUERY_MAX + 1] = '\0';
	assert_int_equal(conn_query(q, &f, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "query string"));
}

/* Status of a close body. */
static int
conn_close(const char *text, uint64_t *id, char *msg, size_t len)
{
	json_t	*j;
	int	 rc;

	rc = gt_api_parse_body(text, strlen(text), &j, msg, len);
	if (rc != 0)
		return rc;
	rc = gt_api_check_conn_close(j, id, msg, len);
	json_decref(j);
	return rc;
}

/* The close body: {"id":N}, N a positive integer, nothing else. */
static void
test_conn_close(void **state)
{
	char		msg[GT_API_MSG_MAX];
	uint64_t	id = 0;

	(void)state;
	assert_int_equal(conn_close("{\"id\":1}", &id, msg, sizeof(msg)), 0);
	assert_true(id == 1);
	assert_int_equal(conn_close("{\"id\":9223372036854775807}", &id, msg,
	    sizeof(msg)), 0);
	assert_true(id == 9223372036854775807ull);
	assert_int_equal(conn_close("{\"id\":0}", &id, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "id"));
	assert_int_equal(conn_close("{\"id\":-5}", &id, msg, sizeof(msg)), 400);
	assert_int_equal(conn_close("{\"id\":1.5}", &id, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "real"));
	assert_int_equal(conn_close("{\"id\":\"3\"}", &id, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "string"));
	assert_int_equal(conn_close("{\"id\":true}", &id, msg, sizeof(msg)), 400);
	assert_int_equal(conn_close("{\"id\":null}", &id, msg, sizeof(msg)), 400);
	assert_int_equal(conn_close("{}", &id, msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "missing field: id"));
	assert_int_equal(conn_close("{\"id\":1,\"port\":80}", &id, msg,
	    sizeof(msg)), 400);
	assert_non_null(strstr(msg, "unknown field \"port\""));
	assert_int_equal(conn_close("{\"id\":99999999999999999999}", &id, msg,
	    sizeof(msg)), 400);
	assert_int_equal(conn_close("[1]", &id, msg, sizeof(msg)), 400);
}

static void
test_routes(void **state)
{
	const struct gt_api_route	*r;
	char				 allow[64];
	int				 st = 0;

	(void)state;
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/health", &st, allow,
	    sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_op, GT_API_OP_HEALTH);
	assert_int_equal(r->r_role, GT_ROLE_NONE);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_POST, "/api/mapping/create", &st,
	    allow, sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_op, GT_API_OP_CREATE);
	assert_int_equal(r->r_role, GT_ROLE_ADMIN);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/api/mapping/list", &st,
	    allow, sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_role, GT_ROLE_READ);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/metrics", &st, allow,
	    sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_role, GT_ROLE_READ);
	/* Wrong method: 405 and the methods allowed. */
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/api/mapping/create", &st,
	    allow, sizeof(allow));
	assert_null(r);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "POST");
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_DELETE, "/health", &st, allow,
	    sizeof(allow));
	assert_null(r);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "GET");
	/* Unknown path: 404. */
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/api/mapping/list/", &st,
	    allow, sizeof(allow));
	assert_null(r);
	assert_int_equal(st, 404);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/", &st, allow, sizeof(allow));
	assert_null(r);
	assert_int_equal(st, 404);
	assert_true(gt_api_path_known(gt_api_routes, "/api/tunnel/clients"));
	/* Live sessions: listing is a read, closing a write. */
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET, "/api/connections",
	    &st, allow, sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_op, GT_API_OP_CONNS);
	assert_int_equal(r->r_role, GT_ROLE_READ);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_POST,
	    "/api/connections/close", &st, allow, sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_op, GT_API_OP_CONN_CLOSE);
	assert_int_equal(r->r_role, GT_ROLE_ADMIN);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET,
	    "/api/stats/connections", &st, allow, sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_op, GT_API_OP_STATS_CONNS);
	assert_int_equal(r->r_role, GT_ROLE_READ);
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_GET,
	    "/api/connections/close", &st, allow, sizeof(allow));
	assert_null(r);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "POST");
	r = gt_api_route_find(gt_api_routes, EVHTTP_REQ_POST,
	    "/api/tunnel/clients/disconnect", &st, allow, sizeof(allow));
	assert_non_null(r);
	assert_int_equal(r->r_op, GT_API_OP_DISCONNECT);
	assert_int_equal(r->r_role, GT_ROLE_ADMIN);
	assert_false(gt_api_path_known(gt_api_routes, "/api/tunnel"));
	assert_string_equal(gt_api_method_name(EVHTTP_REQ_PATCH), "PATCH");
	assert_string_equal(gt_api_status_text(405), "Method Not Allowed");
	assert_string_equal(gt_api_status_text(413), "Payload Too Large");
}

static void
test_envelope(void **state)
{
	struct gt_mapping	 m;
	struct gt_counters	 ctr;
	char			*s, ts[32];
	json_t			*j;

	(void)state;
	j = gt_api_envelope(0, "bad port", NULL);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"data\":{},\"message\":\"bad port\",\"success\":false}");
	free(s);
	json_decref(j);
	j = gt_api_envelope(1, "ok", json_pack("{s:i}", "port", 5));
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"data\":{\"port\":5},\"message\":\"ok\",\"success\":true}");
	free(s);
	json_decref(j);

	memset(&m, 0, sizeof(m));
	m.id = 7;
	m.source_port = 10001;
	snprintf(m.target_host, sizeof(m.target_host), "10.1.2.3");
	m.target_port = 80;
	m.created_at = 86400 * 365;
	memset(&ctr, 0, sizeof(ctr));
	ctr.active = 2;
	ctr.bytes_in = 100;
	ctr.bytes_out = 200;
	j = gt_api_mapping_json(&m, &ctr, NULL);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"access_ips\":[],\"access_rule\":\"disabled\","
	    "\"active_connections\":2,\"bandwidth_limit\":0,\"bytes_in\":100,\"bytes_out\":200,"
	    "\"client\":\"\",\"created_at\":\"1971-01-01T00:00:00Z\",\"id\":7,"
	    "\"max_connections\":0,\"proxy_protocol\":\"\",\"refused_connections\":0,"
	    "\"source_port\":10001,\"target_host\":\"10.1.2.3\",\"target_ip\":\"10.1.2.3\","
	    "\"target_port\":80,\"use_tunnel\":false}");
	free(s);
	json_decref(j);
	/* Not served: zero figures and the reason. */
	j = gt_api_mapping_json(&m, NULL, "bind: Address already in use");
	assert_string_equal(json_string_value(json_object_get(j, "error")),
	    "bind: Address already in use");
	assert_int_equal(json_integer_value(json_object_get(j, "bytes_in")), 0);
	json_decref(j);
	j = gt_api_mapping_json(&m, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "not listening");
	json_decref(j);
	assert_string_equal(gt_api_time(0, ts, sizeof(ts)), "1970-01-01T00:00:00Z");
}

static void
test_metrics(void **state)
{
	struct gt_api_figures	 f;
	uint64_t		 codes[GT_API_CODE_MAX - GT_API_CODE_MIN + 1];
	char			*t;
	size_t			 len;
	static const uint16_t	 ports[2] = { 10001, 10002 };
	static const uint64_t	 refused[2] = { 0, 1 }, bw[2] = { 0, 2000000 };
	static const uint64_t	 thr[4] = { 0, 0, 7, 9 };
	static const uint64_t	 waited[4] = { 0, 0, 250000000, 1500000000 };

	(void)state;
	memset(codes, 0, sizeof(codes));
	codes[200 - GT_API_CODE_MIN] = 12;
	codes[401 - GT_API_CODE_MIN] = 3;
	memset(&f, 0, sizeof(f));
	f.mappings = 4;
	f.sessions_active = 2;
	f.sessions_total = 9;
	f.bytes_in = 1234567890123ULL;
	f.bytes_out = 42;
	f.tunnel_clients = 1;
	f.codes = codes;
	t = gt_api_metrics_text(&f, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "\ngt_mappings 4\n"));
	assert_non_null(strstr(t, "# TYPE gt_mappings gauge\n"));
	assert_non_null(strstr(t, "\ngt_sessions_active 2\n"));
	assert_non_null(strstr(t, "\ngt_sessions_total 9\n"));
	assert_non_null(strstr(t, "\ngt_bytes_in_total 1234567890123\n"));
	assert_non_null(strstr(t, "\ngt_bytes_out_total 42\n"));
	assert_non_null(strstr(t, "\ngt_tunnel_clients 1\n"));
	assert_non_null(strstr(t, "\ngt_api_requests_total{code=\"200\"} 12\n"));
	assert_non_null(strstr(t, "\ngt_api_requests_total{code=\"401\"} 3\n"));
	assert_null(strstr(t, "code=\"404\""));
	assert_non_null(strstr(t, "gt_build_info{version=\"" GT_VERSION "\"} 1\n"));
	assert_int_equal(t[len - 1], '\n');
	assert_null(strstr(t, "gt_mapping_bandwidth_limit_bytes"));
	free(t);

	/* Per mapping: its limit, and waits by direction. */
	f.nmaps = 2;
	f.map_port = ports;
	f.map_refused = refused;
	f.map_bw = bw;
	f.map_throttled = thr;
	f.map_waited_ns = waited;
	t = gt_api_metrics_text(&f, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, "# TYPE gt_mapping_bandwidth_limit_bytes gauge\n"));
	assert_non_null(strstr(t, "\ngt_mapping_bandwidth_limit_bytes{port=\"10001\"} 0\n"));
	assert_non_null(strstr(t, "\ngt_mapping_bandwidth_limit_bytes{port=\"10002\"} 2000000\n"));
	assert_non_null(strstr(t, "\ngt_mapping_throttled_total{port=\"10002\",direction=\"in\"} 7\n"));
	assert_non_null(strstr(t, "\ngt_mapping_throttled_total{port=\"10002\",direction=\"out\"} 9\n"));
	assert_non_null(strstr(t, "\ngt_mapping_throttled_seconds_total{port=\"10002\",direction=\"out\"} 1.500\n"));
	assert_non_null(strstr(t, "\ngt_mapping_throttled_seconds_total{port=\"10001\",direction=\"in\"} 0.000\n"));
	free(t);
}

/* The console's compiled-in files are byte for byte those of ui/. */
static void
test_ui(void **state)
{
	static const char *const names[] = { "index.html", "app.js", "style.css" };
	const struct gt_ui_file	*f, *g;
	const char		*src = getenv("GT_SRC");
	char			 path[512], url[64], *buf;
	FILE			*fp;
	long			 len;
	size_t			 i;

	(void)state;
	f = gt_ui_find("/ui/");
	assert_non_null(f);
	assert_string_equal(f->uf_path, "/ui/index.html");
	assert_string_equal(f->uf_ctype, "text/html; charset=utf-8");
	assert_ptr_equal(gt_ui_find("/ui/index.html"), f);
	g = gt_ui_find("/ui/app.js");
	assert_non_null(g);
	assert_string_equal(g->uf_ctype, "text/javascript; charset=utf-8");
	assert_string_equal(gt_ui_find("/ui/style.css")->uf_ctype,
	    "text/css; charset=utf-8");
	assert_null(gt_ui_find(NULL));
	assert_null(gt_ui_find("/ui"));
	assert_null(gt_ui_find("/ui/x"));
	assert_null(gt_ui_find("/ui/../ui/app.js"));
	assert_null(gt_ui_find("/ui//app.js"));
	assert_null(gt_ui_find("/ui/APP.JS"));
	assert_null(gt_ui_find("/ui/app.js/"));
	assert_null(gt_ui_find("ui/app.js"));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(url, sizeof(url), "/ui/%s", names[i]);
		assert_non_null(f = gt_ui_find(url));
		if (src == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/ui/%s", src, names[i]);
		assert_non_null(fp = fopen(path, "rb"));
		assert_int_equal(fseek(fp, 0, SEEK_END), 0);
		len = ftell(fp);
		rewind(fp);
		assert_true(len > 0);
		assert_int_equal((size_t)len, f->uf_len);
		assert_non_null(buf = malloc((size_t)len));
		assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
		assert_memory_equal(buf, f->uf_data, f->uf_len);
		free(buf);
		fclose(fp);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_ok_direct),
		cmocka_unit_test(test_create_ok_tunnel),
		cmocka_unit_test(test_create_bad),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_disconnect),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_edge_fields),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_self_targets),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_conn_query),
		cmocka_unit_test(test_history_query),
		cmocka_unit_test(test_conn_close),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_ui),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
