/* pattern.c: gt-bench's deterministic stream, cheap to make and to check. */
#include <string.h>

#include "bench.h"

/*
 * One word per 8 bytes of the stream, a mix of (seed, word index): every
 * byte depends on its offset, so a flipped, lost, duplicated or reordered
 * byte is caught wherever it lands. Two multiplies per 8 bytes.
 */
uint64_t
bench_pattern_word(uint64_t seed, uint64_t idx)
{
	uint64_t x;

	x = (idx + seed) * 0x9e3779b97f4a7c15ULL;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return x;
}

/* Load 8 bytes as a little-endian word, whatever the host order. */
static inline uint64_t
pattern_load_le(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Store a word as 8 little-endian bytes. */
static inline void
pattern_store_le(unsigned char *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

/* Fill buf with the stream bytes [off, off + len). */
void
bench_pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	unsigned char	*p = buf;
	uint64_t	 idx, w;
	size_t		 i;

	/* Head: up to the next word boundary. */
	while (len > 0 && (off & 7) != 0) {
		w = bench_pattern_word(seed, off >> 3);
		*p++ = (unsigned char)(w >> (8 * (off & 7)));
		off++;
		len--;
	}
	idx = off >> 3;
	for (i = 0; i + 8 <= len; i += 8)
		pattern_store_le(p + i, bench_pattern_word(seed, idx++));
	if (i < len) {
		w = bench_pattern_word(seed, idx);
		for (; i < len; i++, w >>= 8)
			p[i] = (unsigned char)w;
	}
}

/* First byte that differs from the stream, or len; 8 bytes a compare. */
size_t
bench_pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	uint64_t		 idx, w, got;
	size_t			 i = 0, j;

	while (i < len && ((off + i) & 7) != 0) {
		w = bench_pattern_word(seed, (off + i) >> 3);
		if (p[i] != (unsigned char)(w >> (8 * ((off + i) & 7))))
			return i;
		i++;
	}
	idx = (off + i) >> 3;
	for (; i + 8 <= len; i += 8) {
		w = bench_pattern_word(seed, idx++);
		got = pattern_load_le(p + i);
		if (got != w) {
			for (j = 0; j < 8; j++, w >>= 8, got >>= 8)
				if ((unsigned char)w != (unsigned char)got)
					return i + j;
		}
	}
	if (i < len) {
		w = bench_pattern_word(seed, idx);
		for (; i < len; i++, w >>= 8)
			if (p[i] != (unsigned char)w)
				return i;
	}
	return len;
}

/* Big-endian store of a 64-bit value. */
void
bench_put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* Big-endian load of a 64-bit value. */
uint64_t
bench_get_be64(const unsigned char *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Write a BENCH_HDR_LEN header: the tag NUL padded, then the value. */
void
bench_make_header(unsigned char *h, const char *tag, uint64_t value)
{
	memset(h, 0, BENCH_TAG_LEN);
	memcpy(h, tag, strlen(tag));
	bench_put_be64(h + BENCH_TAG_LEN, value);
}

/* Whether the bytes seen so far could still be a header with this tag. */
int
bench_header_prefix(const unsigned char *buf, size_t len, const char *tag)
{
	unsigned char	tagf[BENCH_TAG_LEN];
	size_t		n;

	memset(tagf, 0, sizeof(tagf));
	memcpy(tagf, tag, strlen(tag));
	n = len < BENCH_TAG_LEN ? len : BENCH_TAG_LEN;
	return memcmp(buf, tagf, n) == 0;
}
