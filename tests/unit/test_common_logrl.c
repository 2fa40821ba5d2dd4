/* test_common_logrl.c: the log rate limiter with an injected clock, and the client-name rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "gt/log.h"
#include "gt/names.h"

/* A fresh limiter per test: the table is large for the stack of some runners. */
static struct gt_logrl *
rl_new(void)
{
	struct gt_logrl *rl = calloc(1, sizeof(*rl));

	assert_non_null(rl);
	return rl;
}

/* N lines a window pass, the rest are counted and told with the next allowed line. */
static void
test_window(void **state)
{
	struct gt_logrl		*rl = rl_new();
	struct gt_logrl_verdict	 v;
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++) {
		gt_logrl_check(rl, "10.0.0.1", 100, 3, &v);
		assert_true(v.allow);
		assert_int_equal(v.dropped, 0);
	}
	for (i = 0; i < 1000; i++) {
		gt_logrl_check(rl, "10.0.0.1", 100 + i % GT_LOGRL_WINDOW, 3, &v);
		assert_false(v.allow);
		assert_int_equal(v.evicted_dropped, 0);
	}
	/* The window rolls over: one line again, carrying the count. */
	gt_logrl_check(rl, "10.0.0.1", 100 + GT_LOGRL_WINDOW, 3, &v);
	assert_true(v.allow);
	assert_int_equal(v.dropped, 1000);
	gt_logrl_check(rl, "10.0.0.1", 100 + GT_LOGRL_WINDOW, 3, &v);
	assert_true(v.allow);
	assert_int_equal(v.dropped, 0);
	/* A clock that goes back opens a window rather than muting forever. */
	gt_logrl_check(rl, "10.0.0.1", 100 + GT_LOGRL_WINDOW, 3, &v);
	gt_logrl_check(rl, "10.0.0.1", 100 + GT_LOGRL_WINDOW, 3, &v);
	assert_false(v.allow);
	gt_logrl_check(rl, "10.0.0.1", 50, 3, &v);
	assert_true(v.allow);
	assert_int_equal(v.dropped, 1);
	free(rl);
}

/* Keys are independent: one noisy peer does not mute another. */
static void
test_keys(void **state)
{
	struct gt_logrl		*rl = rl_new();
	struct gt_logrl_verdict	 v;

	(void)state;
	gt_logrl_check(rl, "a", 0, 1, &v);
	assert_true(v.allow);
	gt_logrl_check(rl, "a", 0, 1, &v);
	assert_false(v.allow);
	gt_logrl_check(rl, "b", 0, 1, &v);
	assert_true(v.allow);
	/* A limit below 1 still lets the first line through. */
	gt_logrl_check(rl, "c", 0, 0, &v);
	assert_true(v.allow);
	gt_logrl_check(rl, NULL, 0, 1, &v);
	assert_true(v.allow);
	gt_logrl_check(rl, "", 0, 1, &v);
	assert_false(v.allow);		/* NULL and "" are the same key "-" */
	free(rl);
}

/* Past GT_LOGRL_SLOTS keys the least recently used goes, its count told once. */
static void
test_bounded(void **state)
{
	struct gt_logrl		*rl = rl_new();
	struct gt_logrl_verdict	 v;
	char			 k[32], lk[3 * GT_LOGRL_KEYMAX];
	int			 i, told = 0;

	(void)state;
	gt_logrl_check(rl, "old", 0, 1, &v);
	gt_logrl_check(rl, "old", 0, 1, &v);
	gt_logrl_check(rl, "old", 0, 1, &v);
	assert_false(v.allow);
	for (i = 0; i < 10 * GT_LOGRL_SLOTS; i++) {
		snprintf(k, sizeof(k), "peer%d", i);
		gt_logrl_check(rl, k, 1 + i, 1, &v);
		assert_true(v.allow);
		if (v.evicted_dropped > 0) {
			assert_string_equal(v.evicted, "old");
			assert_int_equal(v.evicted_dropped, 2);
			told++;
		}
	}
	assert_int_equal(told, 1);
	/* "old" was forgotten: it starts afresh. */
	gt_logrl_check(rl, "old", 10000, 1, &v);
	assert_true(v.allow);
	assert_int_equal(v.dropped, 0);
	/* A long key is cut to the slot, consistently. */
	memset(lk, 'x', sizeof(lk) - 1);
	lk[sizeof(lk) - 1] = '\0';
	gt_logrl_check(rl, lk, 20000, 1, &v);
	assert_true(v.allow);
	gt_logrl_check(rl, lk, 20000, 1, &v);
	assert_false(v.allow);
	free(rl);
}

/* gt_log_rl and gt_logrl_flush through the real clock: counts reach the table. */
static void
test_log_rl(void **state)
{
	struct gt_logrl	*rl = rl_new();
	int		 i;
	unsigned long	 dropped = 0;

	(void)state;
	gt_log_set_rate_limit(0);
	assert_int_equal(gt_log_get_rate_limit(), 1);
	gt_log_set_rate_limit(2);
	gt_log_set_level(GT_LOG_ERROR);		/* filtered: not even counted */
	for (i = 0; i < 10; i++)
		gt_log_rl(rl, GT_LOG_WARN, "test", "p", "line %d", i);
	for (i = 0; i < GT_LOGRL_SLOTS; i++)
		assert_int_equal(rl->rl_slot[i].rs_key[0], '\0');
	gt_log_set_level(GT_LOG_INFO);
	for (i = 0; i < 10; i++)
		gt_log_rl(rl, GT_LOG_WARN, "test", "p", "line %d", i);
	for (i = 0; i < GT_LOGRL_SLOTS; i++)
		if (strcmp(rl->rl_slot[i].rs_key, "p") == 0)
			dropped = rl->rl_slot[i].rs_dropped;
	/* Two lines a window (8 dropped, unless the run straddled a boundary). */
	assert_in_range(dropped, 0, 8);
	gt_logrl_flush(rl, GT_LOG_WARN, "test", "p");
	for (i = 0; i < GT_LOGRL_SLOTS; i++)
		if (strcmp(rl->rl_slot[i].rs_key, "p") == 0)
			assert_int_equal(rl->rl_slot[i].rs_dropped, 0);
	gt_logrl_flush(rl, GT_LOG_WARN, "test", "unknown");
	gt_log_set_rate_limit(10);
	free(rl);
}

/* The client-name rule of names.h. */
static void
test_names(void **state)
{
	char		 buf[80];
	size_t		 i;
	static const char *const good[] = {
		"a", "Z", "0", "client", "client-1", "web_01.example", "a-", "9.9",
	};
	static const char *const bad[] = {
		"", " a", "a b", "bad name", "-a", ".a", "_a", "a\tb", "a\nb",
		"a@b", "a/b", "a:b", "\x7f", "caf\xc3\xa9", "a\x01", "a;b", "a*",
	};

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!gt_name_valid(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gt_name_valid(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	assert_false(gt_name_valid(NULL));
	memset(buf, 'a', sizeof(buf));
	buf[GT_NAME_MAX] = '\0';
	assert_true(gt_name_valid(buf));
	buf[GT_NAME_MAX] = 'a';
	buf[GT_NAME_MAX + 1] = '\0';
	assert_false(gt_name_valid(buf));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_log_rl),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
