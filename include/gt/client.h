/*
 * client.h: gt-client. It dials out to the server, keeps one tunnel up
 * (reconnecting with backoff), and answers the server's connect requests
 * by dialling local targets its -allow list permits.
 */
#ifndef GT_CLIENT_H
#define GT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evdns_base;
struct gt_client;

#define GT_ALLOW_MAX	128

struct gt_allow_rule {
	char		host[256];	/* "*" = any host; IPv6 without brackets */
	uint16_t	port_lo, port_hi;
};

struct gt_allow {
	struct gt_allow_rule	rules[GT_ALLOW_MAX];
	size_t			n;
};

/*
 * Parse "127.0.0.1:22,127.0.0.1:8000-8100,10.0.0.5:*,[::1]:80". 0, or -1
 * with one line in err naming the bad entry.
 */
int	gt_allow_parse(const char *, struct gt_allow *, char *err, size_t errlen);
/* May the server ask for host:port? Host names compare without case. */
int	gt_allow_match(const struct gt_allow *, const char *host, uint16_t port);

struct gt_client_opts {
	const char	*server_host;	/* borrowed, as the options live */
	uint16_t	 server_port;
	const char	*server_name;	/* checked in the server certificate */
	const char	*cert, *key, *ca;
	int		 no_tls;
	struct gt_allow	 allow;
	int		 dial_timeout;	/* seconds; 0 = 8 */
	unsigned	 max_sessions;	/* streams at once; 0 = the mux's default */
	uint32_t	 window;	/* initial stream window; 0 = default */
	uint64_t	 buffer;	/* window growth budget; 0 = default */
	size_t		 output_max;	/* unsent frames that drop the tunnel; 0 = default */
};

/* NULL + err when the TLS material cannot be loaded. */
struct gt_client *gt_client_new(struct event_base *, struct evdns_base *,
	    const struct gt_client_opts *, char *err, size_t errlen);
/* Start connecting (and keep reconnecting). */
void	gt_client_start(struct gt_client *);
void	gt_client_free(struct gt_client *);

/* Backoff before attempt n (0-based): full jitter over min(30, 2^n) s, >= 250 ms. */
long	gt_client_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
