/* test_common_flags.c: Go-style flag parsing from a table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gt/flags.h"

static const char	*f_config;
static int		 f_debug;
static long		 f_ttl;

static const struct gt_flag table[] = {
	{ "config", GT_FLAG_STRING, &f_config, 0, 0, "FILE", "config file" },
	{ "debug", GT_FLAG_BOOL, &f_debug, 0, 0, NULL, "debug logging" },
	{ "token-ttl", GT_FLAG_INT, &f_ttl, 1, 3600, "SECONDS", "lifetime" },
	{ NULL, 0, NULL, 0, 0, NULL, NULL },
};

/* Parse a NULL-ended argument list (argv[0] included); returns the result. */
static int
parse(int *idx, const char *first, ...)
{
	static char	*argv[16];
	va_list		 ap;
	int		 argc = 0;
	const char	*a;

	f_config = NULL;
	f_debug = 0;
	f_ttl = 3600;
	argv[argc++] = (char *)"prog";
	va_start(ap, first);
	for (a = first; a != NULL && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	*idx = 1;
	return gt_flags_parse("prog", NULL, table, argc, argv, idx);
}

/* Every accepted spelling: -x v, -x=v, --x v, --x=v, bare booleans. */
static void
test_spellings(void **state)
{
	int idx;

	(void)state;
	assert_int_equal(parse(&idx, "-config", "a.yaml", NULL), GT_FLAGS_OK);
	assert_string_equal(f_config, "a.yaml");
	assert_int_equal(parse(&idx, "--config", "b.yaml", NULL), GT_FLAGS_OK);
	assert_string_equal(f_config, "b.yaml");
	assert_int_equal(parse(&idx, "-config=c.yaml", NULL), GT_FLAGS_OK);
	assert_string_equal(f_config, "c.yaml");
	assert_int_equal(parse(&idx, "--config=", NULL), GT_FLAGS_OK);
	assert_string_equal(f_config, "");
	assert_int_equal(parse(&idx, "-debug", NULL), GT_FLAGS_OK);
	assert_int_equal(f_debug, 1);
	assert_int_equal(parse(&idx, "-debug=false", NULL), GT_FLAGS_OK);
	assert_int_equal(f_debug, 0);
	assert_int_equal(parse(&idx, "--debug=T", "-token-ttl", "60", NULL),
	    GT_FLAGS_OK);
	assert_int_equal(f_debug, 1);
	assert_int_equal(f_ttl, 60);
	assert_true(gt_flags_given(table, "token-ttl"));
	assert_false(gt_flags_given(table, "config"));
}

/* Parsing stops at "--" or the first non-flag, leaving idx on it. */
static void
test_stops(void **state)
{
	int idx;

	(void)state;
	assert_int_equal(parse(&idx, "-debug", "init", "-config", "x", NULL),
	    GT_FLAGS_OK);
	assert_int_equal(idx, 2);
	assert_null(f_config);
	assert_int_equal(parse(&idx, "--", "-debug", NULL), GT_FLAGS_OK);
	assert_int_equal(idx, 2);
	assert_int_equal(f_debug, 0);
	assert_int_equal(parse(&idx, "-", NULL), GT_FLAGS_OK);
	assert_int_equal(idx, 1);
}

/* Every wrong input is an error (exit 2), never a silent default. */
static void
test_errors(void **state)
{
	int idx;

	(void)state;
	assert_int_equal(parse(&idx, "-nope", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-config", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-token-ttl", "0", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-token-ttl", "3601", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-token-ttl", "12x", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-token-ttl", "", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-token-ttl",
	    "99999999999999999999999", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-debug=maybe", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "---config", "x", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-=x", NULL), GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-config", "a", "-config", "b", NULL),
	    GT_FLAGS_ERROR);
	assert_int_equal(parse(&idx, "-configX", "a", NULL), GT_FLAGS_ERROR);
}

/* -h and -help ask for usage (exit 0). */
static void
test_help(void **state)
{
	int idx;

	(void)state;
	assert_int_equal(parse(&idx, "-h", NULL), GT_FLAGS_HELP);
	assert_int_equal(parse(&idx, "--help", NULL), GT_FLAGS_HELP);
	assert_int_equal(parse(&idx, "-debug", "-help", NULL), GT_FLAGS_HELP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spellings),
		cmocka_unit_test(test_stops),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
