/*
 * tunnel.h: the server's tunnel listener. Accepts client connections
 * (mutual TLS, or plain TCP), checks the client certificate, wraps each in
 * a mux and registers it by name in the registry.
 */
#ifndef GT_TUNNEL_H
#define GT_TUNNEL_H

#include <stddef.h>

struct event_base;
struct gt_config;
struct gt_registry;
struct gt_tunnel_server;

/* Load TLS material and listen on tunnel.listen_addr:listen_port. NULL + err on failure. */
struct gt_tunnel_server *gt_tunnel_server_new(struct event_base *,
	    const struct gt_config *, struct gt_registry *, char *err, size_t errlen);
/*
 * SIGHUP: reload certificates, CA and CRL for new connections; on error
 * keep the old ones. Live tunnels whose certificate the new CRL lists end.
 */
int	gt_tunnel_server_reload(struct gt_tunnel_server *, const struct gt_config *,
	    char *err, size_t errlen);
/* Close the listener, every handshake in progress and every tunnel. */
void	gt_tunnel_server_free(struct gt_tunnel_server *);

#endif
