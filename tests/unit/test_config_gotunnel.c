/*
 * test_config_gotunnel.c: go-tunnel's config keys. The table's promise
 * (every key gt lacks has advice), the advice instead of "unknown key" at
 * a plain load, and -check-config's walk naming every go-tunnel key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gt/config.h"

/* go-tunnel's own config.yaml of its latest release (config.go's keys). */
static const char gotunnel_yaml[] =
    "port_range:\n"
    "  from: 30000\n"
    "  end: 40000\n"
    "tunnel:\n"
    "  enabled: true\n"
    "  listen_port: 9000\n"
    "api:\n"
    "  listen_port: 8080\n"
    "  api_key: \"your-secret-api-key-here\"\n"
    "database:\n"
    "  path: \"./data/mappings.db\"\n"
    "stats:\n"
    "  enabled: true\n"
    "  record_interval: 60\n"
    "  retention_days: 7\n";

#define MAXSEEN	32

struct seen {
	size_t	n;
	char	key[MAXSEEN][64];
	size_t	line[MAXSEEN];
	int	lacks[MAXSEEN];
	char	text[MAXSEEN][512];
};

/* Record what -check-config would print. */
static void
collect(void *arg, const char *name, size_t line, const char *key, int lacks,
    const char *text)
{
	struct seen *s = arg;

	assert_string_equal(name, "go.yaml");
	assert_true(s->n < MAXSEEN);
	snprintf(s->key[s->n], sizeof(s->key[0]), "%s", key);
	snprintf(s->text[s->n], sizeof(s->text[0]), "%s", text);
	s->line[s->n] = line;
	s->lacks[s->n] = lacks;
	s->n++;
}

/* The index of key among those seen, or -1. */
static int
found(const struct seen *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0)
			return (int)i;
	return -1;
}

/* Every key gt lacks has advice; every entry is a key go-tunnel has. */
static void
test_table(void **state)
{
	const struct gt_config_gtkey	*t;
	size_t				 n, i;

	(void)state;
	t = gt_config_gotunnel_keys(&n);
	assert_true(n >= 11);
	for (i = 0; i < n; i++) {
		if (!gt_config_key_known(t[i].gk_key) && t[i].gk_lacks == NULL)
			fail_msg("%s: gt lacks it and the table says nothing",
			    t[i].gk_key);
		assert_ptr_equal(gt_config_gotunnel_key(t[i].gk_key), &t[i]);
	}
	assert_non_null(strstr(gt_config_gotunnel_key("api.api_key")->gk_lacks,
	    "-issue-token"));
	assert_non_null(strstr(gt_config_gotunnel_key("api.api_key")->gk_lacks,
	    "gt-certgen init"));
	assert_null(gt_config_gotunnel_key("api.listen_addr"));
	assert_null(gt_config_gotunnel_key("api"));
	assert_true(gt_config_gotunnel_section("stats"));
	assert_true(gt_config_gotunnel_section("api"));
	assert_false(gt_config_gotunnel_section("stat"));
	assert_false(gt_config_gotunnel_section("security"));
	assert_false(gt_config_gotunnel_section("api.api_key"));
}

/* A plain load refuses with the advice, one line, not "unknown key". */
static void
test_load_advice(void **state)
{
	struct gt_config	c;
	char			err[1024];

	(void)state;
	assert_int_equal(gt_config_load_buf(gotunnel_yaml,
	    strlen(gotunnel_yaml), "go.yaml", &c, err, sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "go.yaml:9: api.api_key: "));
	assert_non_null(strstr(err, "-issue-token"));
	assert_null(strstr(err, "unknown key"));
}

/* -check-config names every go-tunnel key, in file order, with its line. */
static void
test_check_all(void **state)
{
	struct gt_config	 c;
	struct seen		*s;
	char			 err[1024];
	int			 i;
	static const char *const lacked[] = { "stats.enabled",
	    "stats.record_interval", "stats.retention_days" };
	size_t			 k;

	(void)state;
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(gt_config_check_buf(gotunnel_yaml,
	    strlen(gotunnel_yaml), "go.yaml", &c, collect, s, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "go-tunnel key"));
	assert_int_not_equal(i = found(s, "api.api_key"), -1);
	assert_true(s->lacks[i]);
	assert_int_equal(s->line[i], 9);
	assert_non_null(strstr(s->text[i], "-issue-token"));
	/* Keys gt may learn (SPEC 9's stats) are advice only while it lacks them. */
	for (k = 0; k < sizeof(lacked) / sizeof(lacked[0]); k++) {
		i = found(s, lacked[k]);
		if (gt_config_key_known(lacked[k]))
			assert_true(i == -1 || !s->lacks[i]);
		else {
			assert_int_not_equal(i, -1);
			assert_true(s->lacks[i]);
		}
	}
	/* A go-tunnel file: the notes on the keys gt treats differently. */
	assert_int_not_equal(i = found(s, "database.path"), -1);
	assert_false(s->lacks[i]);
	assert_int_equal(s->line[i], 11);
	assert_non_null(strstr(s->text[i], "-import-gotunnel"));
	assert_int_not_equal(found(s, "tunnel.listen_port"), -1);
	assert_int_not_equal(found(s, "port_range"), -1);
	assert_int_equal(found(s, "tunnel.enabled"), -1);	/* same meaning */
	for (k = 1; k < s->n; k++)
		assert_true(s->line[k] > s->line[k - 1]);
	free(s);
}

/* gt's own file: no notes; its go-tunnel-named keys load as usual. */
static void
test_check_gt_file(void **state)
{
	static const char yaml[] =
	    "port_range: {from: 30000, end: 30100}\n"
	    "api: {listen_addr: 127.0.0.1, listen_port: 8080}\n"
	    "database: {path: ./data/gt.db}\n";
	struct gt_config	 c;
	struct seen		*s;
	char			 err[512];

	(void)state;
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(gt_config_check_buf(yaml, strlen(yaml), "go.yaml",
	    &c, collect, s, err, sizeof(err)), 0);
	assert_int_equal(s->n, 0);
	assert_int_equal(c.port_range.end, 30100);
	/* A walk cut short by an error has not seen the keys after it. */
	static const char early[] = "port_range: {from: 1, end: 2}\n"
	    "tunnel: {enabled: maybe}\napi: {listen_addr: 127.0.0.1}\n";
	assert_int_equal(gt_config_check_buf(early, strlen(early), "go.yaml",
	    &c, collect, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tunnel.enabled"));
	assert_int_equal(s->n, 0);
	free(s);
}

/* Lenient only for go-tunnel's keys: others still stop the walk. */
static void
test_check_still_strict(void **state)
{
	struct gt_config	 c;
	struct seen		*s;
	char			 err[512];

	(void)state;
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	/* A value of any shape under a key gt lacks is skipped whole. */
	static const char nested[] =
	    "api:\n  api_key: [a, {b: [c, d]}, e]\n  listen_port: 8081\n";
	assert_int_equal(gt_config_check_buf(nested, strlen(nested), "go.yaml",
	    &c, collect, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 go-tunnel key that gt does not take"));
	assert_int_equal(s->n, 2);	/* api_key, and api.listen_port's note */
	memset(s, 0, sizeof(*s));
	static const char typo[] = "api:\n  api_key: x\n  listen_prot: 1\n";
	assert_int_equal(gt_config_check_buf(typo, strlen(typo), "go.yaml",
	    &c, collect, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "go.yaml:3: api.listen_prot: unknown key"));
	memset(s, 0, sizeof(*s));
	static const char bad[] = "api:\n  api_key: x\n  listen_port: 0\n";
	assert_int_equal(gt_config_check_buf(bad, strlen(bad), "go.yaml",
	    &c, collect, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "api.listen_port: 0 is out of range"));
	memset(s, 0, sizeof(*s));
	static const char sect[] = "stats: 5\n";
	assert_int_equal(gt_config_check_buf(sect, strlen(sect), "go.yaml",
	    &c, collect, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "stats: expected a mapping"));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_load_advice),
		cmocka_unit_test(test_check_all),
		cmocka_unit_test(test_check_gt_file),
		cmocka_unit_test(test_check_still_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
