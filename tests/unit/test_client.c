/* test_client.c: the client's -allow list and reconnect backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gt/client.h"

/* Good lists parse into the rules they say. */
static void
test_allow_parse_good(void **state)
{
	struct gt_allow	a;
	char		err[256];

	(void)state;
	assert_int_equal(gt_allow_parse("127.0.0.1:22,127.0.0.1:8000-8100,"
	    "10.0.0.5:*,[::1]:80,db.local:5432", &a, err, sizeof(err)), 0);
	assert_int_equal(a.n, 5);
	assert_string_equal(a.rules[0].host, "127.0.0.1");
	assert_int_equal(a.rules[0].port_lo, 22);
	assert_int_equal(a.rules[0].port_hi, 22);
	assert_int_equal(a.rules[1].port_lo, 8000);
	assert_int_equal(a.rules[1].port_hi, 8100);
	assert_int_equal(a.rules[2].port_lo, 1);
	assert_int_equal(a.rules[2].port_hi, 65535);
	assert_string_equal(a.rules[3].host, "::1");
	assert_int_equal(a.rules[3].port_lo, 80);
	assert_string_equal(a.rules[4].host, "db.local");
}

/* Each malformed entry is refused and named. */
static void
test_allow_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":22", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:22,", ",127.0.0.1:22",
		"127.0.0.1:9-8", "127.0.0.1:-8", "127.0.0.1:8-", "::1:22",
		"[::1]22", "[]:22", "host name:22", "127.0.0.1:22x",
		"127.0.0.1:+22", "a/b:22", "127.0.0.1:1-2-3",
	};
	struct gt_allow	a;
	char		err[256];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (gt_allow_parse(bad[i], &a, err, sizeof(err)) != -1)
			fail_msg("accepted bad -allow \"%s\"", bad[i]);
		assert_non_null(strstr(err, "-allow"));
		assert_null(strchr(err, '\n'));
	}
}

/* Matching: exact host (any case), port ranges, wildcards. */
static void
test_allow_match(void **state)
{
	struct gt_allow	a;
	char		err[256];

	(void)state;
	assert_int_equal(gt_allow_parse("127.0.0.1:22,127.0.0.1:8000-8100,"
	    "Db.Local:*", &a, err, sizeof(err)), 0);
	assert_true(gt_allow_match(&a, "127.0.0.1", 22));
	assert_false(gt_allow_match(&a, "127.0.0.1", 23));
	assert_true(gt_allow_match(&a, "127.0.0.1", 8000));
	assert_true(gt_allow_match(&a, "127.0.0.1", 8100));
	assert_false(gt_allow_match(&a, "127.0.0.1", 8101));
	assert_false(gt_allow_match(&a, "127.0.0.2", 22));
	assert_true(gt_allow_match(&a, "db.local", 1));
	assert_false(gt_allow_match(&a, "db.local.evil", 1));
	assert_false(gt_allow_match(&a, "localhost", 22));
	assert_int_equal(gt_allow_parse("*:443", &a, err, sizeof(err)), 0);
	assert_true(gt_allow_match(&a, "10.1.2.3", 443));
	assert_false(gt_allow_match(&a, "10.1.2.3", 444));
}

/* Backoff: full jitter under a cap doubling from 1 s to 30 s, floor 250 ms. */
static void
test_backoff(void **state)
{
	unsigned	n;
	uint32_t	r;

	(void)state;
	for (n = 0; n < 20; n++) {
		long cap = n >= 5 ? 30000 : 1000L << n;

		assert_int_equal(gt_client_backoff_ms(n, 0), 250);
		assert_int_equal(gt_client_backoff_ms(n, (uint32_t)cap), cap);
		for (r = 1; r < 100000; r += 7919)
			assert_true(gt_client_backoff_ms(n, r) <= cap);
	}
	assert_int_equal(gt_client_backoff_ms(1, 1500), 1500);
	assert_int_equal(gt_client_backoff_ms(10, 30001), 250);	/* 30001 % 30001 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_parse_good),
		cmocka_unit_test(test_allow_parse_bad),
		cmocka_unit_test(test_allow_match),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
