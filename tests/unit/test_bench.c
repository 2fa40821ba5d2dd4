/* test_bench.c: gt-bench's pattern, percentiles and list/address parsers. */
#include <sys/socket.h>

#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench.h"

#define PLEN	4099

/* Filling at any offset gives the same bytes as one fill from zero. */
static void
test_pattern_fill_offsets(void **state)
{
	unsigned char	*all, *part;
	size_t		 off, len;

	(void)state;
	all = malloc(PLEN);
	part = malloc(PLEN);
	bench_pattern_fill(42, 0, all, PLEN);
	for (off = 0; off < 40; off++) {
		for (len = 0; len + off <= PLEN && len < 70; len++) {
			memset(part, 0xaa, len);
			bench_pattern_fill(42, off, part, len);
			assert_memory_equal(part, all + off, len);
		}
	}
	bench_pattern_fill(42, 1001, part, PLEN - 1001);
	assert_memory_equal(part, all + 1001, PLEN - 1001);
	/* A different seed is a different stream. */
	bench_pattern_fill(43, 0, part, PLEN);
	assert_int_not_equal(memcmp(part, all, 64), 0);
	free(all);
	free(part);
}

/* Checking in arbitrary chunks accepts the stream exactly. */
static void
test_pattern_check_chunks(void **state)
{
	unsigned char	*buf;
	size_t		 off, step, n;
	size_t		 steps[] = { 1, 3, 7, 8, 9, 13, 64, 100, 1000 };
	size_t		 k;

	(void)state;
	buf = malloc(PLEN);
	bench_pattern_fill(7, 5, buf, PLEN);	/* stream starts mid-word */
	for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		step = steps[k];
		for (off = 0; off < PLEN; off += n) {
			n = PLEN - off < step ? PLEN - off : step;
			assert_int_equal(bench_pattern_check(7, 5 + off,
			    buf + off, n), n);
		}
	}
	/* Wrong offset or seed is caught. */
	assert_int_not_equal(bench_pattern_check(7, 6, buf, PLEN), PLEN);
	assert_int_not_equal(bench_pattern_check(8, 5, buf, PLEN), PLEN);
	assert_int_equal(bench_pattern_check(7, 5, buf, 0), 0);
	free(buf);
}

/* A flipped byte is found at its exact index, wherever the chunk starts. */
static void
test_pattern_flip(void **state)
{
	unsigned char	*buf;
	size_t		 pos, start, len, got;
	unsigned	 bit;

	(void)state;
	buf = malloc(PLEN);
	for (start = 0; start < 11; start++) {
		bench_pattern_fill(99, 1000 + start, buf, PLEN);
		for (pos = 0; pos < PLEN; pos += (pos < 80 ? 1 : 97)) {
			bit = 1u << (pos % 8);
			buf[pos] ^= (unsigned char)bit;
			got = bench_pattern_check(99, 1000 + start, buf, PLEN);
			assert_int_equal(got, pos);
			/* In a chunk that begins before the flip. */
			len = PLEN - pos + (pos > 5 ? 5 : pos);
			got = bench_pattern_check(99, 1000 + start + (PLEN - len),
			    buf + (PLEN - len), len);
			assert_int_equal(got, pos - (PLEN - len));
			buf[pos] ^= (unsigned char)bit;
		}
		assert_int_equal(bench_pattern_check(99, 1000 + start, buf,
		    PLEN), PLEN);
	}
	/* The last byte of a long buffer. */
	buf[PLEN - 1] ^= 0x80;
	assert_int_equal(bench_pattern_check(99, 1010, buf, PLEN), PLEN - 1);
	free(buf);
}

/* Two swapped words (reordering) are caught at the first. */
static void
test_pattern_reorder(void **state)
{
	unsigned char	buf[256], tmp[8];

	(void)state;
	bench_pattern_fill(1, 0, buf, sizeof(buf));
	memcpy(tmp, buf + 64, 8);
	memcpy(buf + 64, buf + 128, 8);
	memcpy(buf + 128, tmp, 8);
	assert_in_range(bench_pattern_check(1, 0, buf, sizeof(buf)), 64, 71);
}

/* Header encoding and prefix recognition. */
static void
test_header(void **state)
{
	unsigned char h[BENCH_HDR_LEN];

	(void)state;
	bench_make_header(h, BENCH_TAG_DL, 0x0102030405060708ULL);
	assert_memory_equal(h, "GTBENCH-DL\0\0\0\0\0\0", 16);
	assert_int_equal(h[16], 1);
	assert_int_equal(h[23], 8);
	assert_true(bench_get_be64(h + 16) == 0x0102030405060708ULL);
	assert_true(bench_header_prefix(h, 3, BENCH_TAG_UP));	/* "GTB" */
	assert_true(bench_header_prefix(h, 24, BENCH_TAG_DL));
	assert_false(bench_header_prefix(h, 24, BENCH_TAG_UP));
	assert_false(bench_header_prefix((const unsigned char *)"GTX", 3,
	    BENCH_TAG_UP));
}

/* Nearest-rank percentiles on known data. */
static void
test_percentiles(void **state)
{
	struct bench_hist	h, h2;
	uint64_t		v;
	int			i;

	(void)state;
	assert_int_equal(bench_hist_init(&h), 0);
	assert_int_equal(bench_hist_percentile(&h, 50), 0);
	bench_hist_add(&h, 77);
	assert_int_equal(bench_hist_percentile(&h, 50), 77);
	assert_int_equal(bench_hist_percentile(&h, 99), 77);
	bench_hist_free(&h);

	assert_int_equal(bench_hist_init(&h), 0);
	for (i = 1000; i >= 1; i--)
		bench_hist_add(&h, (uint64_t)i);
	assert_int_equal(bench_hist_percentile(&h, 50), 500);
	assert_int_equal(bench_hist_percentile(&h, 90), 900);
	assert_int_equal(bench_hist_percentile(&h, 99), 990);
	assert_int_equal(bench_hist_percentile(&h, 99.9), 999);
	assert_int_equal(bench_hist_percentile(&h, 100), 1000);
	assert_int_equal(bench_hist_percentile(&h, 0.01), 1);
	assert_true(bench_hist_mean(&h) == 500.5);
	assert_int_equal(h.bh_min, 1);
	assert_int_equal(h.bh_max, 1000);

	/* Merging doubles every count; percentiles stay. */
	assert_int_equal(bench_hist_init(&h2), 0);
	for (i = 1; i <= 1000; i++)
		bench_hist_add(&h2, (uint64_t)i);
	bench_hist_merge(&h, &h2);
	assert_int_equal(h.bh_n, 2000);
	assert_int_equal(bench_hist_percentile(&h, 50), 500);
	assert_int_equal(bench_hist_percentile(&h, 99), 990);
	bench_hist_free(&h2);
	bench_hist_free(&h);

	/* Beyond the exact range: within 0.1%, never above the max. */
	assert_int_equal(bench_hist_init(&h), 0);
	for (i = 0; i < 99; i++)
		bench_hist_add(&h, 10);
	bench_hist_add(&h, 1234567);
	v = bench_hist_percentile(&h, 99);
	assert_int_equal(v, 10);
	v = bench_hist_percentile(&h, 99.5);
	assert_int_equal(v, 1234567);
	bench_hist_add(&h, 5000000);
	bench_hist_add(&h, 5000001);
	v = bench_hist_percentile(&h, 99.2);
	assert_in_range(v, 5000000, 5005000);
	bench_hist_add(&h, UINT64_MAX / 2);
	assert_true(bench_hist_percentile(&h, 100) == UINT64_MAX / 2);
	bench_hist_free(&h);
}

/* Lists of counts and sizes. */
static void
test_lists(void **state)
{
	long	v[BENCH_MAX_LIST];
	size_t	n;
	char	err[128];

	(void)state;
	assert_int_equal(bench_parse_list("1,2,5", 1, 100, v, 8, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[2], 5);
	assert_int_equal(bench_parse_list("64,4K,1M,2k", 1, 1 << 30, v, 8, &n,
	    err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[1], 4096);
	assert_int_equal(v[2], 1048576);
	assert_int_equal(v[3], 2048);
	assert_int_equal(bench_parse_list("7", 1, 10, v, 1, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(v[0], 7);

	assert_int_equal(bench_parse_list("", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("1,,2", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("1,", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("a", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a number"));
	assert_int_equal(bench_parse_list("0", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "range"));
	assert_int_equal(bench_parse_list("-1", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list(" 1", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("5x", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("K", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("99999999999999999999", 1, 10, v, 8,
	    &n, err, sizeof(err)), -1);
	assert_int_equal(bench_parse_list("9999999999999999G", 1, 10, v, 8,
	    &n, err, sizeof(err)), -1);
	assert_int_equal(bench_parse_list("1,2", 1, 10, v, 1, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_list("11", 1, 10, v, 8, &n, err,
	    sizeof(err)), -1);
}

/* host:port and [v6]:port. */
static void
test_addrs(void **state)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	char			err[128], buf[64];

	(void)state;
	assert_int_equal(bench_parse_addr("127.0.0.1:8080", 0, &ss, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	bench_format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8080");
	assert_int_equal(bench_parse_addr("[::1]:9", 0, &ss, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	bench_format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:9");
	assert_int_equal(bench_parse_addr("127.0.0.1:0", 1, &ss, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(bench_parse_addr("127.0.0.1:0", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr("127.0.0.1:65536", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr("127.0.0.1", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr(":80", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr("::1:80", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr("[::1]80", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr("127.0.0.1:8x", 0, &ss, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(bench_parse_addr("127.0.0.1:+80", 0, &ss, &len, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_fill_offsets),
		cmocka_unit_test(test_pattern_check_chunks),
		cmocka_unit_test(test_pattern_flip),
		cmocka_unit_test(test_pattern_reorder),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_addrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
