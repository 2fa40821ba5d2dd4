/*
 * config.h: gt-server's configuration (SPEC §3), loaded from YAML with
 * libyaml into a typed struct. Every key, its type, bounds and default live
 * in one table in src/config/config.c.
 */
#ifndef GT_CONFIG_H
#define GT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define GT_CONFIG_MAX_LIST	64	/* blacklist / allowed_ips entries */
#define GT_CONFIG_PATH_MAX	1024

struct gt_config {
	struct {
		uint16_t	from, end;
	} port_range;
	char		public_addr[64];	/* the mapping ports' bind address */
	struct {
		int		enabled;
		char		listen_addr[64];
		uint16_t	listen_port;
		int		heartbeat_interval;	/* seconds */
		int		heartbeat_timeout;
	} tunnel;
	struct {
		char		listen_addr[64];
		uint16_t	listen_port;
		int		tls;			/* HTTPS (mbedTLS) */
		char		cert_file[GT_CONFIG_PATH_MAX];
		char		key_file[GT_CONFIG_PATH_MAX];
		char		client_ca[GT_CONFIG_PATH_MAX];	/* "": no client cert */
		int		allow_plain_http;	/* plain HTTP off loopback */
		int		max_connections;	/* open API connections */
		int		max_connections_per_ip;
		int		max_sessions_listed;	/* per /api/connections answer */
		int		header_timeout;		/* s for a request head */
		int		body_timeout;		/* s for a request body */
		int		idle_timeout;		/* s between requests */
	} api;
	struct {
		char		path[GT_CONFIG_PATH_MAX];
		int		busy_timeout;		/* ms a write may wait */
	} database;
	struct {
		int		record_interval;	/* seconds per history record */
		int		retention_days;		/* history older than this is pruned */
	} stats;
	struct {
		struct {
			int	enable_auth;
			char	jwt_secret_file[GT_CONFIG_PATH_MAX];
			char	allowed_ips[GT_CONFIG_MAX_LIST][64];	/* CIDR text, checked */
			size_t	n_allowed_ips;
		} api;
		struct {
			int	enable_tls;
			char	cert_file[GT_CONFIG_PATH_MAX];
			char	key_file[GT_CONFIG_PATH_MAX];
			char	client_ca[GT_CONFIG_PATH_MAX];
			char	crl_file[GT_CONFIG_PATH_MAX];	/* "": none */
		} tunnel;
		struct {
			uint16_t blacklist[GT_CONFIG_MAX_LIST];
			size_t	n_blacklist;
		} port_range;
	} security;
	struct {
		int		max_sessions;		/* public sessions, whole server */
		int		max_sessions_per_mapping;
		int		stream_window;		/* bytes */
		int		stream_window_max;
		int		tunnel_buffer;		/* bytes of window growth per tunnel */
		int		process_buffer;		/* the same, all tunnels */
		int		tunnel_output_max;	/* unsent frames that end a tunnel */
	} limits;
	struct {
		char		level[16];	/* debug|info|warn|error */
		int		rate_limit;	/* lines per 10 s from one source */
	} log;
};

/* Fill with SPEC §3's defaults. */
void	gt_config_defaults(struct gt_config *);
/*
 * Load path over the defaults and validate. 0 on success; -1 with one line
 * naming the key (or file) in err, e.g. "tunnel.listen_port: 70000 is out of
 * range 1..65535". Relative file paths stay as written (relative to cwd).
 */
int	gt_config_load(const char *path, struct gt_config *, char *err, size_t errlen);
/* Same, from a memory buffer (tests, fuzzing); name is used in messages. */
int	gt_config_load_buf(const char *buf, size_t len, const char *name,
	    struct gt_config *, char *err, size_t errlen);
/* Checks needing the file system (files TLS/auth need, JWT key length). */
int	gt_config_check_files(const struct gt_config *, char *err, size_t errlen);
/*
 * Read the JWT key: the file's bytes less trailing white space, >= 32 bytes.
 * Returns a malloc'ed buffer (caller frees) and its length, or NULL with err.
 */
unsigned char *gt_config_read_jwt_key(const char *path, size_t *len, char *err, size_t errlen);

/* --- go-tunnel's config keys (gotunnel_keys.c) --- */

struct gt_config_gtkey {
	const char	*gk_key;	/* key path, e.g. "api.api_key" */
	const char	*gk_note;	/* gt has the key, treats it so; NULL: same meaning */
	const char	*gk_lacks;	/* gt has no such key: what to do instead */
};
/* go-tunnel's key path (e.g. "api.api_key"), or NULL for a key it never had. */
const struct gt_config_gtkey *gt_config_gotunnel_key(const char *path);
/* Whether go-tunnel has keys under section path (e.g. "stats"). */
int	gt_config_gotunnel_section(const char *path);
/* The whole table (static), *n entries. */
const struct gt_config_gtkey *gt_config_gotunnel_keys(size_t *n);
/* Whether gt's own table has the key path (sections included). */
int	gt_config_key_known(const char *path);

/*
 * One go-tunnel key found by -check-config: at line of file name; lacks
 * set when gt has no such key (text: what to do), else a note on a key
 * gt treats differently.
 */
typedef void	gt_config_gt_fn(void *arg, const char *name, size_t line,
		    const char *key, int lacks, const char *text);
/*
 * -check-config: gt_config_load, but keys of go-tunnel's that gt lacks
 * do not stop the walk; each is passed to fn, and so are the notes when
 * the file is go-tunnel's (such a key in it, or only keys go-tunnel has
 * too). 0 when the file loads, -1 with err: the first other problem, or
 * how many go-tunnel keys must go.
 */
int	gt_config_check(const char *path, struct gt_config *, gt_config_gt_fn *fn,
	    void *arg, char *err, size_t errlen);
int	gt_config_check_buf(const char *buf, size_t len, const char *name,
	    struct gt_config *, gt_config_gt_fn *fn, void *arg, char *err,
	    size_t errlen);

#endif
