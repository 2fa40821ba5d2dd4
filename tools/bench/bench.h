/* bench.h: gt-bench internals, shared with its unit test (private). */
#ifndef GT_BENCH_H
#define GT_BENCH_H

#include <sys/socket.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Wire: a client of the sink may open its stream with a 24-byte header,
 * a 16-byte tag (ASCII, NUL padded) and an 8-byte big-endian value.
 *   "GTBENCH-UP" + seed:   the sink verifies the rest of the stream as
 *                          pattern(seed) from offset 0; on the client's
 *                          FIN it answers "GTBENCH-RP" + verified bytes.
 *   "GTBENCH-DL" + count:  the sink sends count bytes of pattern(BENCH_DL_SEED).
 * Any other stream is read and discarded.
 */
#define BENCH_TAG_LEN		16
#define BENCH_HDR_LEN		24
#define BENCH_TAG_UP		"GTBENCH-UP"
#define BENCH_TAG_DL		"GTBENCH-DL"
#define BENCH_TAG_RP		"GTBENCH-RP"
#define BENCH_DL_SEED		0x474244554c4f4144ULL

#define BENCH_IO_CHUNK		(256 * 1024)	/* read/write size */
#define BENCH_CONNECT_MS	5000
#define BENCH_IDLE_MS		10000		/* no progress: failed */
#define BENCH_GRACE_S		10		/* hard deadline = duration + this */
#define BENCH_MAX_LIST		32
#define BENCH_MAX_PIDS		16

/* pattern.c: the deterministic byte stream, one 64-bit word per 8 bytes. */
uint64_t bench_pattern_word(uint64_t seed, uint64_t idx);
void	bench_pattern_fill(uint64_t seed, uint64_t off, void *, size_t);
/* Index of the first byte that differs from pattern(seed) at off, or len. */
size_t	bench_pattern_check(uint64_t seed, uint64_t off, const void *, size_t);
void	bench_put_be64(unsigned char *, uint64_t);
uint64_t bench_get_be64(const unsigned char *);
void	bench_make_header(unsigned char *, const char *tag, uint64_t value);
/* 1 if buf[0..len) (len <= BENCH_HDR_LEN) may start the header with tag. */
int	bench_header_prefix(const unsigned char *, size_t, const char *tag);

/* stats.c: latency histogram in microseconds; exact below BENCH_HIST_EXACT. */
#define BENCH_HIST_EXACT	8192
#define BENCH_HIST_SUBBITS	10
struct bench_hist {
	uint64_t	*bh_counts;
	size_t		 bh_nbuckets;
	uint64_t	 bh_n;
	uint64_t	 bh_max;
	uint64_t	 bh_min;
	double		 bh_sum;
};
int	bench_hist_init(struct bench_hist *);
void	bench_hist_free(struct bench_hist *);
void	bench_hist_add(struct bench_hist *, uint64_t us);
void	bench_hist_merge(struct bench_hist *, const struct bench_hist *);
/* Nearest-rank percentile (0 < p <= 100); 0 when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *, double p);
double	bench_hist_mean(const struct bench_hist *);

/* "1,2,5" or "64,4K,1M" into out[]; 0 or -1 with a message in err. */
int	bench_parse_list(const char *, long min, long max, long *out,
	    size_t maxn, size_t *n, char *err, size_t errlen);
/* host:port or [v6]:port (port 0 only if allow0); 0 or -1 with err. */
int	bench_parse_addr(const char *, int allow0, struct sockaddr_storage *,
	    socklen_t *, char *err, size_t errlen);
void	bench_format_addr(const struct sockaddr *, char *, size_t);
uint64_t bench_now_ns(void);
void	bench_sleep_ms(long);
void	bench_raise_nofile(void);

/* net.c: blocking-style client I/O on non-blocking sockets with poll(). */
struct bench_conn {
	int		 bc_fd;
	uint64_t	 bc_seed;
	uint64_t	 bc_sent;	/* stream offsets */
	uint64_t	 bc_recvd;
	uint64_t	 bc_deadline;	/* hard, CLOCK_MONOTONIC ns */
	size_t		 bc_bufsize;
	unsigned char	*bc_sbuf;	/* staged pattern [bc_soff, +bc_slen) */
	uint64_t	 bc_soff;
	size_t		 bc_slen;
	unsigned char	*bc_rbuf;
	_Atomic uint64_t *bc_progress;	/* bytes echoed, for live figures */
	int		 bc_verify_error;
	uint64_t	 bc_bad_off;
	char		 bc_err[160];
};
int	bench_conn_init(struct bench_conn *, uint64_t seed, uint64_t deadline,
	    size_t bufsize);
int	bench_conn_connect(struct bench_conn *, const struct sockaddr *,
	    socklen_t);
void	bench_conn_close(struct bench_conn *);
void	bench_conn_free(struct bench_conn *);
/*
 * Echo nbytes more with at most window bytes in flight and verify them.
 * With stop, stop sending once *stop is set and drain what is in flight.
 * 0 done; -1 connection failure; -2 verification error (bc_err says).
 */
int	bench_conn_echo(struct bench_conn *, uint64_t nbytes, uint64_t window,
	    const atomic_int *stop);
int	bench_conn_send_all(struct bench_conn *, const void *, size_t);
/* Receive exactly len bytes; 0, or -1 on failure/EOF. */
int	bench_conn_recv_all(struct bench_conn *, void *, size_t);
/* Wait for fd events until the deadline or idle timeout: revents, 0, or -1. */
int	bench_wait(int fd, short events, uint64_t deadline, int slice_ms);

/* server.c */
int	bench_serve(int sink, const char *listen, long duration_s);

/* client.c: the measuring modes. */
struct bench_opts {
	const char		*bo_mode;
	const char		*bo_target;
	struct sockaddr_storage	 bo_addr;
	socklen_t		 bo_addrlen;
	long			 bo_duration;	/* seconds */
	uint64_t		 bo_size;
	long			 bo_sizes[BENCH_MAX_LIST];
	size_t			 bo_nsizes;
	long			 bo_conns[BENCH_MAX_LIST];
	size_t			 bo_nconns;
	long			 bo_count;	/* latency: 0 = by duration */
	long			 bo_interval;	/* hold, seconds */
	long			 bo_hold;	/* hold: connections */
	int			 bo_pids[BENCH_MAX_PIDS];
	size_t			 bo_npids;
	int			 bo_progress;	/* live line on stderr */
	uint64_t		 bo_seed;
};
/* Each runs one mode, fills out and returns the number of errors. */
long	bench_speed(const struct bench_opts *, json_t *out);
long	bench_latency(const struct bench_opts *, json_t *out);
long	bench_upload(const struct bench_opts *, json_t *out);
long	bench_download(const struct bench_opts *, json_t *out);
long	bench_concurrency(const struct bench_opts *, json_t *out);
long	bench_sizes(const struct bench_opts *, json_t *out);
long	bench_bandwidth(const struct bench_opts *, json_t *out);
long	bench_rate(const struct bench_opts *, json_t *out);

/* hold.c */
long	bench_hold(const struct bench_opts *, json_t *out);
/* VmRSS and VmHWM of pid in KiB; -1 if unreadable. */
int	bench_proc_mem(int pid, long *rss_kb, long *hwm_kb);

/* report.c */
void	bench_print_human(FILE *, const json_t *);
void	bench_progress(int on, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	bench_progress_end(int on);
double	bench_mbps(uint64_t bytes, uint64_t ns);

#endif
