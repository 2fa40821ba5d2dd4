/* test_config.c: gt-server's config: defaults, a full file, bad files, file checks. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gt/config.h"

static char	tdir[256];

/* Load a NUL-terminated YAML text as "test.yaml". */
static int
load(const char *yaml, struct gt_config *c, char *err, size_t errlen)
{
	return gt_config_load_buf(yaml, strlen(yaml), "test.yaml", c, err,
	    errlen);
}

/* Load must fail with a message holding every given substring. */
static void
expect_bad(const char *yaml, const char *want1, const char *want2)
{
	struct gt_config	c;
	char			err[512];

	memset(err, 0, sizeof(err));
	if (load(yaml, &c, err, sizeof(err)) != -1)
		fail_msg("accepted:\n%s", yaml);
	if (strchr(err, '\n') != NULL)
		fail_msg("message is not one line: %s", err);
	if (strstr(err, want1) == NULL)
		fail_msg("\"%s\" not in \"%s\" for:\n%s", want1, err, yaml);
	if (want2 != NULL && strstr(err, want2) == NULL)
		fail_msg("\"%s\" not in \"%s\" for:\n%s", want2, err, yaml);
}

/* Write a file under tdir with the given bytes and mode; returns its path. */
static const char *
put_file(const char *name, const char *data, size_t len, mode_t mode)
{
	static char	path[PATH_MAX];
	int		fd;

	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* A fresh temp dir for each file test. */
static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tdir, sizeof(tdir), "%s/gt-config-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tdir) == NULL ? -1 : 0;
}

/* Remove the temp dir and whatever tests put in it. */
static int
teardown_dir(void **state)
{
	char	cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Check every field against SPEC §3's defaults. */
static void
assert_defaults(const struct gt_config *c)
{
	assert_int_equal(c->port_range.from, 10000);
	assert_int_equal(c->port_range.end, 10100);
	assert_int_equal(c->tunnel.enabled, 1);
	assert_string_equal(c->tunnel.listen_addr, "0.0.0.0");
	assert_int_equal(c->tunnel.listen_port, 9000);
	assert_int_equal(c->tunnel.heartbeat_interval, 10);
	assert_int_equal(c->tunnel.heartbeat_timeout, 30);
	assert_string_equal(c->api.listen_addr, "127.0.0.1");
	assert_int_equal(c->api.listen_port, 8080);
	assert_string_equal(c->database.path, "./data/mappings.db");
	assert_int_equal(c->security.api.enable_auth, 1);
	assert_string_equal(c->security.api.jwt_secret_file, "certs/jwt.key");
	assert_int_equal(c->security.api.n_allowed_ips, 2);
	assert_string_equal(c->security.api.allowed_ips[0], "127.0.0.1/32");
	assert_string_equal(c->security.api.allowed_ips[1], "::1/128");
	assert_int_equal(c->security.tunnel.enable_tls, 1);
	assert_string_equal(c->security.tunnel.cert_file, "certs/server.crt");
	assert_string_equal(c->security.tunnel.key_file, "certs/server.key");
	assert_string_equal(c->security.tunnel.client_ca, "certs/ca.crt");
	assert_int_equal(c->security.port_range.n_blacklist, 3);
	assert_int_equal(c->security.port_range.blacklist[0], 22);
	assert_int_equal(c->security.port_range.blacklist[1], 3389);
	assert_int_equal(c->security.port_range.blacklist[2], 5432);
	assert_string_equal(c->log.level, "info");
	assert_int_equal(c->stats.record_interval, 60);
	assert_int_equal(c->stats.retention_days, 7);
}

static void
test_defaults(void **state)
{
	struct gt_config	c;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	gt_config_defaults(&c);
	assert_defaults(&c);
}

/* Empty documents (and a bare null) leave every default. */
static void
test_empty(void **state)
{
	static const char *const docs[] = { "", "# nothing\n", "---\n",
	    "~\n", "---\n...\n", "{}\n" };
	struct gt_config	c;
	char			err[256];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		memset(&c, 0, sizeof(c));
		if (load(docs[i], &c, err, sizeof(err)) != 0)
			fail_msg("doc %zu: %s", i, err);
		assert_defaults(&c);
	}
}

/* The shipped config.yaml is valid and equals the defaults. */
static void
test_shipped(void **state)
{
	struct gt_config	c;
	char			path[PATH_MAX], err[256];
	const char		*src = getenv("GT_SRC");

	(void)state;
	if (src == NULL)
		skip();
	snprintf(path, sizeof(path), "%s/config.yaml", src);
	if (gt_config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_defaults(&c);
}

static const char full_yaml[] =
    "# every key, none at its default\n"
    "port_range: {from: 20000, end: 20010}\n"
    "tunnel:\n"
    "  enabled: No\n"
    "  listen_addr: \"::\"\n"
    "  listen_port: 9443\n"
    "  heartbeat_interval: 5\n"
    "  heartbeat_timeout: 16\n"
    "api:\n"
    "  listen_addr: 10.1.2.3\n"
    "  listen_port: 18080\n"
    "  tls: true\n"
    "  cert_file: api.crt\n"
    "  key_file: api.key\n"
    "  client_ca: apica.crt\n"
    "  max_connections: 77\n"
    "  max_connections_per_ip: 7\n"
    "  header_timeout: 3\n"
    "  body_timeout: 4\n"
    "  idle_timeout: 5\n"
    "database:\n"
    "  path: '/var/lib/gt/m.db'\n"
    "  busy_timeout: 50\n"
    "security:\n"
    "  api:\n"
    "    enable_auth: off\n"
    "    jwt_secret_file: /etc/gt/jwt.key\n"
    "    allowed_ips:\n"
    "      - 10.0.0.0/8\n"
    "      - 192.168.1.7\n"
    "      - \"fd00::/8\"\n"
    "      - 2001:db8::1\n"
    "  tunnel:\n"
    "    enable_tls: FALSE\n"
    "    cert_file: a.crt\n"
    "    key_file: a.key\n"
    "    client_ca: ca2.crt\n"
    "  port_range:\n"
    "    blacklist: [20001, 65535, 1]\n"
    "log:\n"
    "  level: DEBUG\n";

static void
test_full(void **state)
{
	struct gt_config	c;
	char			err[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	if (load(full_yaml, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.port_range.from, 20000);
	assert_int_equal(c.port_range.end, 20010);
	assert_int_equal(c.tunnel.enabled, 0);
	assert_string_equal(c.tunnel.listen_addr, "::");
	assert_int_equal(c.tunnel.listen_port, 9443);
	assert_int_equal(c.tunnel.heartbeat_interval, 5);
	assert_int_equal(c.tunnel.heartbeat_timeout, 16);
	assert_string_equal(c.api.listen_addr, "10.1.2.3");
	assert_int_equal(c.api.listen_port, 18080);
	assert_int_equal(c.api.tls, 1);
	assert_string_equal(c.api.cert_file, "api.crt");
	assert_string_equal(c.api.key_file, "api.key");
	assert_string_equal(c.api.client_ca, "apica.crt");
	assert_int_equal(c.api.max_connections, 77);
	assert_int_equal(c.api.max_connections_per_ip, 7);
	assert_int_equal(c.api.header_timeout, 3);
	assert_int_equal(c.api.body_timeout, 4);
	assert_int_equal(c.api.idle_timeout, 5);
	assert_int_equal(c.database.busy_timeout, 50);
	assert_string_equal(c.database.path, "/var/lib/gt/m.db");
	assert_int_equal(c.security.api.enable_auth, 0);
	assert_string_equal(c.security.api.jwt_secret_file, "/etc/gt/jwt.key");
	assert_int_equal(c.security.api.n_allowed_ips, 4);
	assert_string_equal(c.security.api.allowed_ips[0], "10.0.0.0/8");
	assert_string_equal(c.security.api.allowed_ips[1], "192.168.1.7/32");
	assert_string_equal(c.security.api.allowed_ips[2], "fd00::/8");
	assert_string_equal(c.security.api.allowed_ips[3], "2001:db8::1/128");
	assert_int_equal(c.security.tunnel.enable_tls, 0);
	assert_string_equal(c.security.tunnel.cert_file, "a.crt");
	assert_string_equal(c.security.tunnel.key_file, "a.key");
	assert_string_equal(c.security.tunnel.client_ca, "ca2.crt");
	assert_int_equal(c.security.port_range.n_blacklist, 3);
	assert_int_equal(c.security.port_range.blacklist[0], 20001);
	assert_int_equal(c.security.port_range.blacklist[1], 65535);
	assert_int_equal(c.security.port_range.blacklist[2], 1);
	assert_string_equal(c.log.level, "debug");
}

/* Omitted keys keep defaults; given lists replace (not extend) them. */
static void
test_partial(void **state)
{
	struct gt_config	c;
	char			err[256];

	(void)state;
	assert_int_equal(load("tunnel:\n  listen_port: 9001\n"
	    "security:\n  port_range:\n    blacklist: []\n"
	    "log: {level: warning}\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.tunnel.listen_port, 9001);
	assert_int_equal(c.tunnel.heartbeat_interval, 10);
	assert_int_equal(c.security.port_range.n_blacklist, 0);
	assert_int_equal(c.security.api.n_allowed_ips, 2);
	assert_string_equal(c.log.level, "warn");
	assert_int_equal(load("tunnel: {enabled: yes, heartbeat_interval: 1, "
	    "heartbeat_timeout: 2}\nport_range: {from: 1, end: 1}\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.tunnel.enabled, 1);
	assert_int_equal(c.port_range.end, 1);
	assert_int_equal(load("tunnel: {enabled: ON}\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.tunnel.enabled, 1);
}

/* A failed load leaves the caller's struct as it was. */
static void
test_untouched(void **state)
{
	struct gt_config	c, before;
	char			err[256];

	(void)state;
	memset(&c, 0x3c, sizeof(c));
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(load("tunnel:\n  listen_port: 1\n  bad: 2\n", &c,
	    err, sizeof(err)), -1);
	assert_memory_equal(&c, &before, sizeof(c));
}

struct bad {
	const char	*yaml;
	const char	*want1, *want2;
};

static const struct bad bad_files[] = {
	/* unknown keys */
	{ "bogus: 1\n", "test.yaml:1: bogus: unknown key", NULL },
	{ "tunnel:\n  foo: 1\n", "test.yaml:2: tunnel.foo: unknown key", NULL },
	{ "security:\n  api:\n    foo: 1\n",
	    "test.yaml:3: security.api.foo: unknown key", NULL },
	{ "security:\n  port_range: {blacklist: [], whitelist: []}\n",
	    "security.port_range.whitelist: unknown key", NULL },
	{ "\"tunnel.enabled\": true\n", "tunnel.enabled: unknown key", NULL },
	{ "Tunnel: {}\n", "Tunnel: unknown key", NULL },
	{ "? [a, b]\n: 1\n", "expected a key", NULL },
	/* plain HTTP off loopback must be asked for */
	{ "api:\n  listen_addr: 0.0.0.0\n", "test.yaml:2: api.listen_addr",
	    "api.allow_plain_http" },
	{ "api:\n  listen_addr: \"::\"\n", "api.listen_addr", "in clear" },
	{ "api:\n  max_connections: 0\n", "api.max_connections", NULL },
	{ "database:\n  busy_timeout: 5000\n", "database.busy_timeout", NULL },
	{ "stats:\n  record_interval: 0\n", "stats.record_interval", NULL },
	{ "stats:\n  record_interval: 3601\n", "stats.record_interval", NULL },
	{ "stats:\n  retention_days: 0\n", "stats.retention_days", NULL },
	{ "stats:\n  retention_days: 3651\n", "stats.retention_days", NULL },
	{ "stats:\n  interval: 5\n", "stats.interval: unknown key", NULL },
	/* wrong types: bool */
	{ "tunnel:\n  enabled: maybe\n", "tunnel.enabled", "true or false" },
	{ "tunnel:\n  enabled: \"true\"\n", "tunnel.enabled", "quoted" },
	{ "tunnel:\n  enabled: 1\n", "tunnel.enabled", "true or false" },
	{ "tunnel:\n  enabled: [true]\n", "tunnel.enabled", "got a list" },
	{ "tunnel:\n  enabled:\n", "tunnel.enabled", "empty value" },
	/* int and port */
	{ "tunnel:\n  heartbeat_interval: abc\n", "tunnel.heartbeat_interval",
	    "expected an integer" },
	{ "tunnel:\n  heartbeat_interval: 2.5\n", "tunnel.heartbeat_interval",
	    "2.5" },
	{ "tunnel:\n  listen_port: 80.0\n", "tunnel.listen_port", "80.0" },
	{ "tunnel:\n  listen_port: \"9000\"\n", "tunnel.listen_port",
	    "quoted" },
	{ "tunnel:\n  listen_port: 0x2328\n", "tunnel.listen_port", NULL },
	{ "tunnel:\n  listen_port: 09000\n", "tunnel.listen_port", "decimal" },
	{ "tunnel:\n  listen_port: {a: 1}\n", "tunnel.listen_port",
	    "got a mapping" },
	{ "tunnel:\n  listen_port: ~\n", "tunnel.listen_port", "empty value" },
	{ "tunnel:\n  listen_port: null\n", "tunnel.listen_port", "empty" },
	{ "tunnel:\n  listen_port: 99999999999999999999999\n",
	    "tunnel.listen_port", "out of range" },
	/* strings, paths, addresses */
	{ "database:\n  path: {a: b}\n", "database.path", "got a mapping" },
	{ "database:\n  path: [a]\n", "database.path", "got a list" },
	{ "database:\n  path:\n", "database.path", "empty value" },
	{ "database:\n  path: \"\"\n", "database.path", "empty value" },
	{ "database:\n  path: \"a\\0b\"\n", "database.path", "NUL" },
	{ "database:\n  path: \"a\\nb\"\n", "database.path", "control" },
	{ "api:\n  listen_addr: [127.0.0.1]\n", "api.listen_addr", "list" },
	{ "api:\n  listen_addr: localhost\n", "api.listen_addr",
	    "not an IPv4 or IPv6 address" },
	{ "tunnel:\n  listen_addr: 1.2.3.4:80\n", "tunnel.listen_addr",
	    "not an IP" },
	{ "tunnel:\n  listen_addr: 1.2.3\n", "tunnel.listen_addr", "not an IP" },
	{ "tunnel:\n  listen_addr: \"fe80::1%eth0\"\n", "tunnel.listen_addr",
	    "not an IP" },
	/* sections and lists */
	{ "tunnel: 5\n", "tunnel", "expected a mapping" },
	{ "tunnel:\n", "tunnel", "expected a mapping, got an empty value" },
	{ "security: [api]\n", "security", "expected a mapping" },
	{ "security:\n  port_range:\n    blacklist: 22\n",
	    "security.port_range.blacklist", "expected a list of ports" },
	{ "security:\n  port_range:\n    blacklist: [[22]]\n",
	    "security.port_range.blacklist", "got a list" },
	{ "security:\n  port_range:\n    blacklist: [ssh]\n",
	    "security.port_range.blacklist", "expected an integer" },
	{ "security:\n  api:\n    allowed_ips: 10.0.0.0/8\n",
	    "security.api.allowed_ips", "expected a list of CIDR" },
	{ "security:\n  api:\n    allowed_ips: [{a: b}]\n",
	    "security.api.allowed_ips", "got a mapping" },
	{ "security:\n  api:\n    allowed_ips: []\n",
	    "security.api.allowed_ips", "empty list" },
	/* duplicates */
	{ "tunnel:\n  listen_port: 1\n  listen_port: 2\n",
	    "test.yaml:3: tunnel.listen_port: duplicate key", NULL },
	{ "log: {level: info}\nlog: {level: info}\n", "log", "duplicate key" },
	/* anchors, aliases, tags */
	{ "tunnel:\n  listen_port: &p 9001\napi:\n  listen_port: *p\n",
	    "tunnel.listen_port", "anchors are not allowed" },
	{ "api:\n  listen_port: *p\n", "api.listen_port",
	    "aliases are not allowed" },
	{ "tunnel: &t {enabled: true}\n", "tunnel", "anchors" },
	{ "tunnel:\n  listen_port: !!int 9001\n", "tunnel.listen_port",
	    "tags are not allowed" },
	/* range */
	{ "tunnel:\n  listen_port: 70000\n",
	    "tunnel.listen_port: 70000 is out of range 1..65535", NULL },
	{ "api:\n  listen_port: 0\n", "api.listen_port", "out of range" },
	{ "api:\n  listen_port: -1\n", "api.listen_port", "out of range" },
	{ "port_range: {from: 0, end: 10}\n", "port_range.from",
	    "out of range" },
	{ "port_range: {from: 10, end: 65536}\n", "port_range.end",
	    "out of range" },
	{ "security:\n  port_range:\n    blacklist: [22, 70000]\n",
	    "security.port_range.blacklist[1]", "out of range 1..65535" },
	{ "security:\n  port_range:\n    blacklist: [0]\n",
	    "security.port_range.blacklist", "out of range" },
	{ "port_range: {from: 10200, end: 10100}\n", "port_range.from",
	    "greater than port_range.end" },
	{ "port_range: {end: 9999}\n", "port_range.from",
	    "greater than port_range.end" },
	{ "tunnel: {heartbeat_interval: 30, heartbeat_timeout: 30}\n",
	    "tunnel.heartbeat_timeout", "greater than" },
	{ "tunnel: {heartbeat_timeout: 5}\n", "tunnel.heartbeat_timeout",
	    "greater than" },
	{ "tunnel: {heartbeat_interval: 0}\n", "tunnel.heartbeat_interval",
	    "out of range" },
	{ "api: {listen_port: 9000}\n", "api.listen_port",
	    "also tunnel.listen_port" },
	/* CIDR */
	{ "security:\n  api:\n    allowed_ips: [10.0.0.0/33]\n",
	    "security.api.allowed_ips[0]", "prefix length" },
	{ "security:\n  api:\n    allowed_ips: [127.0.0.1/32, 10.0.0/8]\n",
	    "security.api.allowed_ips[1]", "not a CIDR" },
	{ "security:\n  api:\n    allowed_ips: [300.1.1.1/8]\n",
	    "security.api.allowed_ips", "not a CIDR" },
	{ "security:\n  api:\n    allowed_ips: [10.0.0.0/]\n",
	    "security.api.allowed_ips", "prefix length" },
	{ "security:\n  api:\n    allowed_ips: [10.0.0.0/+8]\n",
	    "security.api.allowed_ips", "prefix length" },
	{ "security:\n  api:\n    allowed_ips: [10.0.0.0/8/8]\n",
	    "security.api.allowed_ips", NULL },
	{ "security:\n  api:\n    allowed_ips: [\"::1/129\"]\n",
	    "security.api.allowed_ips", "prefix length must be 0..128" },
	{ "security:\n  api:\n    allowed_ips: [\"fe80::zz/64\"]\n",
	    "security.api.allowed_ips", "not a CIDR" },
	{ "security:\n  api:\n    allowed_ips: [\"1::2::3/64\"]\n",
	    "security.api.allowed_ips", "not a CIDR" },
	{ "security:\n  api:\n    allowed_ips: [\"\"]\n",
	    "security.api.allowed_ips", "empty" },
	/* log level */
	{ "log:\n  level: verbose\n", "log.level", "not a log level" },
	{ "log:\n  level: [info]\n", "log.level", "list" },
	/* document shape and syntax */
	{ "- a\n- b\n", "top level must be a mapping", NULL },
	{ "hello\n", "top level must be a mapping", NULL },
	{ "tunnel: {}\n---\napi: {}\n", "only one YAML document", NULL },
	{ "security:\n  port_range:\n    blacklist: [1, 2\n",
	    "test.yaml:4:", "YAML syntax error" },
	{ "tunnel:\n  enabled: true\n bad indent: 1\n", "test.yaml:3:",
	    "YAML syntax error" },
	{ "tunnel: {enabled: true\n", "YAML syntax error", NULL },
	{ "\"\\xff\": 1\n", "unknown key", NULL },
	{ "a: \xff\xfe\n", "YAML error", NULL },
};

static void
test_bad(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++)
		expect_bad(bad_files[i].yaml, bad_files[i].want1,
		    bad_files[i].want2);
}

/* Strings over their buffer and lists over GT_CONFIG_MAX_LIST. */
static void
test_too_long(void **state)
{
	char	*y, *p;
	size_t	 i;

	(void)state;
	y = malloc(GT_CONFIG_PATH_MAX + 64);
	assert_non_null(y);
	p = y + sprintf(y, "database:\n  path: ");
	memset(p, 'a', GT_CONFIG_PATH_MAX);
	strcpy(p + GT_CONFIG_PATH_MAX, "\n");
	expect_bad(y, "database.path", "longer than the maximum 1023");
	/* exactly the buffer less its NUL fits */
	p[GT_CONFIG_PATH_MAX - 1] = '\n';
	p[GT_CONFIG_PATH_MAX] = '\0';
	{
		struct gt_config	c;
		char			err[256];

		if (load(y, &c, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(strlen(c.database.path),
		    GT_CONFIG_PATH_MAX - 1);
	}
	free(y);

	expect_bad("api:\n  listen_addr: "
	    "\"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd\"\n",
	    "api.listen_addr", NULL);

	y = malloc(64 * (GT_CONFIG_MAX_LIST + 2) + 64);
	assert_non_null(y);
	p = y + sprintf(y, "security:\n  port_range:\n    blacklist: [");
	for (i = 0; i <= GT_CONFIG_MAX_LIST; i++)
		p += sprintf(p, "%zu, ", i + 1);
	strcpy(p, "1]\n");
	expect_bad(y, "security.port_range.blacklist", "more than 64 entries");
	p = y + sprintf(y, "security:\n  api:\n    allowed_ips:\n");
	for (i = 0; i <= GT_CONFIG_MAX_LIST; i++)
		p += sprintf(p, "      - 10.0.0.%zu/32\n", i);
	expect_bad(y, "security.api.allowed_ips", "more than 64 entries");
	free(y);
}

/* Inputs over 1 MiB are refused before parsing. */
static void
test_big(void **state)
{
	struct gt_config	c;
	char			err[256], *y;
	size_t			n = 1024 * 1024 + 1;

	(void)state;
	y = malloc(n);
	assert_non_null(y);
	memset(y, '#', n);
	assert_int_equal(gt_config_load_buf(y, n, "big.yaml", &c, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "big.yaml"));
	assert_non_null(strstr(err, "1 MiB"));
	/* one byte less is a comment-only document: fine */
	y[n - 2] = '\n';
	assert_int_equal(gt_config_load_buf(y, n - 1, "big.yaml", &c, err,
	    sizeof(err)), 0);
	free(y);
}

/* gt_config_load: reads the file; errors name it. */
static void
test_load_file(void **state)
{
	struct gt_config	c;
	char			err[512], path[PATH_MAX];
	const char		*f;

	(void)state;
	f = put_file("c.yaml", full_yaml, strlen(full_yaml), 0600);
	assert_int_equal(gt_config_load(f, &c, err, sizeof(err)), 0);
	assert_int_equal(c.api.listen_port, 18080);

	f = put_file("bad.yaml", "a: 1\nb: 2\n", 10, 0600);
	assert_int_equal(gt_config_load(f, &c, err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/bad.yaml:1: a: unknown key", tdir);
	assert_string_equal(err, path);

	snprintf(path, sizeof(path), "%s/none.yaml", tdir);
	assert_int_equal(gt_config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOENT)));

	assert_int_equal(gt_config_load(tdir, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, tdir));
}

/* A config whose file names all live in tdir. */
static void
files_config(struct gt_config *c)
{
	gt_config_defaults(c);
	snprintf(c->security.tunnel.cert_file, GT_CONFIG_PATH_MAX,
	    "%s/server.crt", tdir);
	snprintf(c->security.tunnel.key_file, GT_CONFIG_PATH_MAX,
	    "%s/server.key", tdir);
	snprintf(c->security.tunnel.client_ca, GT_CONFIG_PATH_MAX,
	    "%s/ca.crt", tdir);
	snprintf(c->security.api.jwt_secret_file, GT_CONFIG_PATH_MAX,
	    "%s/jwt.key", tdir);
}

static const char key32[] = "0123456789abcdef0123456789ABCDEF";

/* TLS files are needed only with TLS on and the tunnel enabled. */
static void
test_check_tls(void **state)
{
	struct gt_config	c;
	char			err[2048], want[PATH_MAX + 128];

	(void)state;
	files_config(&c);
	c.security.api.enable_auth = 0;
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "security.tunnel.cert_file: %s/server.crt: "
	    "%s", tdir, strerror(ENOENT));
	assert_string_equal(err, want);

	put_file("server.crt", "x", 1, 0644);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "security.tunnel.key_file: "));
	put_file("server.key", "x", 1, 0600);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "security.tunnel.client_ca: "));
	put_file("ca.crt", "x", 1, 0644);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);

	/* unreadable (when not root, who reads anything) */
	if (geteuid() != 0) {
		chmod(c.security.tunnel.client_ca, 0);
		assert_int_equal(gt_config_check_files(&c, err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "security.tunnel.client_ca"));
		assert_non_null(strstr(err, strerror(EACCES)));
		chmod(c.security.tunnel.client_ca, 0644);
	}
	/* a directory is not a certificate */
	snprintf(c.security.tunnel.client_ca, GT_CONFIG_PATH_MAX, "%s", tdir);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "security.tunnel.client_ca"));

	/* off: nothing is checked */
	files_config(&c);
	snprintf(c.security.tunnel.cert_file, GT_CONFIG_PATH_MAX,
	    "%s/missing.crt", tdir);
	c.security.api.enable_auth = 0;
	c.security.tunnel.enable_tls = 0;
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);
	c.security.tunnel.enable_tls = 1;
	c.tunnel.enabled = 0;
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);
}

/* The JWT key: needed only with auth on, >= 32 bytes after stripping. */
static void
test_check_jwt(void **state)
{
	struct gt_config	c;
	char			err[2048], buf[128];

	(void)state;
	files_config(&c);
	c.security.tunnel.enable_tls = 0;
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "security.api.jwt_secret_file: "));
	assert_non_null(strstr(err, strerror(ENOENT)));

	put_file("jwt.key", "0123456789", 10, 0600);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "security.api.jwt_secret_file: key is 10 "
	    "bytes, need at least 32");

	/* 31 bytes plus trailing white space is still 31 */
	snprintf(buf, sizeof(buf), "%.31s \t\r\n\n", key32);
	put_file("jwt.key", buf, strlen(buf), 0600);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key is 31 bytes"));

	put_file("jwt.key", key32, 32, 0600);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);
	snprintf(buf, sizeof(buf), "%s\n", key32);
	put_file("jwt.key", buf, strlen(buf), 0600);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);

	c.security.api.enable_auth = 0;
	unlink(c.security.api.jwt_secret_file);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);
}

/* gt_config_read_jwt_key returns the stripped bytes, refuses big files. */
static void
test_read_jwt(void **state)
{
	unsigned char	*k;
	char		 err[2048], buf[128], *big;
	const char	*f;
	size_t		 len;

	(void)state;
	snprintf(buf, sizeof(buf), "%s  \n", key32);
	f = put_file("jwt.key", buf, strlen(buf), 0600);
	k = gt_config_read_jwt_key(f, &len, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(len, 32);
	assert_memory_equal(k, key32, 32);
	free(k);

	/* inner white space is key material */
	f = put_file("jwt.key", "0123456789 abcdef0123456789ABCDE\n", 33, 0600);
	k = gt_config_read_jwt_key(f, &len, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(len, 32);
	free(k);

	f = put_file("jwt.key", "short\n", 6, 0600);
	assert_null(gt_config_read_jwt_key(f, &len, err, sizeof(err)));
	assert_non_null(strstr(err, f));
	assert_non_null(strstr(err, "key is 5 bytes, need at least 32"));

	big = malloc(64 * 1024 + 1);
	assert_non_null(big);
	memset(big, 'k', 64 * 1024 + 1);
	f = put_file("jwt.key", big, 64 * 1024, 0600);
	k = gt_config_read_jwt_key(f, &len, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(len, 64 * 1024);
	free(k);
	f = put_file("jwt.key", big, 64 * 1024 + 1, 0600);
	assert_null(gt_config_read_jwt_key(f, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "64 KiB"));
	free(big);

	assert_null(gt_config_read_jwt_key(tdir, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
}

/* Key files open to group/other give a warning on stderr, not a failure. */
static void
test_key_mode_warning(void **state)
{
	struct gt_config	c;
	char			err[2048], log[4096], path[PATH_MAX];
	int			fd, saved;
	ssize_t			n;

	(void)state;
	files_config(&c);
	put_file("server.crt", "x", 1, 0644);
	put_file("server.key", "x", 1, 0640);
	put_file("ca.crt", "x", 1, 0644);
	put_file("jwt.key", key32, 32, 0604);

	snprintf(path, sizeof(path), "%s/stderr.log", tdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, "security.tunnel.key_file"));
	assert_non_null(strstr(log, "security.api.jwt_secret_file"));
	assert_non_null(strstr(log, "group/other"));
	assert_null(strstr(log, key32));	/* never the key itself */

	/* 0600 files: silence */
	put_file("server.key", "x", 1, 0600);
	put_file("jwt.key", key32, 32, 0600);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	assert_int_equal(gt_config_check_files(&c, err, sizeof(err)), 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_untouched),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_big),
		cmocka_unit_test_setup_teardown(test_load_file, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_check_tls, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_check_jwt, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_jwt, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_mode_warning,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
