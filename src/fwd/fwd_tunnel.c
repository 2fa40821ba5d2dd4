/*
 * fwd_tunnel.c: tunnel-mode hand-off. An accepted public socket goes to the
 * mux of the mapping's client (or of any client), which owns it from then
 * on; with no tunnel connected it is closed at once (SPEC 4).
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/util.h>

#include "gt/counters.h"
#include "gt/endpoint.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proxy_hdr.h"
#include "gt/rate.h"
#include "gt/registry.h"
#include "fwd_local.h"

/* A public connection to a tunnel mapping: give fd (ours) to a tunnel. */
void
fwd_tunnel_accept(struct fwd_map *fm, evutil_socket_t fd, const char *peer)
{
	const struct gt_mapping *m = &fm->fm_map;
	struct gt_registry *reg = fm->fm_fwd->fw_reg;
	struct gt_mux *mux = NULL;
	struct gt_ep *ep;
	struct gt_proxy_addr pa;
	int has_pa;
	struct fwd_conn *fc;
	char label[FWD_ADDRSTRLEN + 32];

	if (reg != NULL)
		mux = gt_registry_pick(reg,
		    m->client[0] != '\0' ? m->client : NULL);
	if (mux == NULL) {
		log_info("fwd", "port %u: %s closed: no client connected%s%s",
		    m->source_port, peer, m->client[0] != '\0' ? " as " : "",
		    m->client);
		evutil_closesocket(fd);
		return;
	}
	if (fwd_tunnel_loops(fm, gt_mux_peer_addr(mux))) {
		fwd_loop_note(fm);
		evutil_closesocket(fd);
		return;
	}
	/* The version is the mapping's now: an update applies to new sessions. */
	if (fwd_proxy_addr(fm, fd, &pa, &has_pa) == -1) {
		log_info("fwd", "port %u: %s closed: no addresses for the "
		    "PROXY header", m->source_port, peer);
		evutil_closesocket(fd);
		return;
	}
	snprintf(label, sizeof(label), "port %u from %s", m->source_port, peer);
	if ((fc = calloc(1, sizeof(*fc))) == NULL ||
	    (ep = gt_ep_plain_open(fm->fm_fwd->fw_base, fd, NULL, NULL)) == NULL) {
		log_warnx("fwd", "port %u: %s dropped: out of memory",
		    m->source_port, peer);
		if (fc == NULL)
			evutil_closesocket(fd);
		free(fc);
		return;
	}
	/*
	 * bandwidth_limit: the user's endpoint is paced both ways, reading
	 * (toward the target) and writing (back): a paced write leaves the
	 * stream's bytes in its output, so the mux grants the peer no more
	 * credit until they leave, and nothing grows past the stream's window.
	 */
	gt_ep_set_rate(ep, fm->fm_rate[FWD_UP], fm->fm_rate[FWD_DOWN]);
	/*
	 * The mux owns ep from here, and frees it itself on failure; on
	 * success it tells fc's watcher when the stream ends, whatever ends it.
	 */
	if (gt_mux_open_watched(mux, ep, m->target_host, m->target_port,
	    has_pa ? &pa : NULL, fm->fm_ctr, label, fwd_conn_tunnel_ended, fc,
	    &fc->fc_stream) == -1) {
		log_info("fwd", "port %u: %s closed: the tunnel is closing",
		    m->source_port, peer);
		free(fc);
		return;
	}
	fc->fc_tunnel = 1;
	fc->fc_mux = mux;
	fwd_conn_insert(fm->fm_fwd, fc, m->source_port, peer, gt_mux_name(mux),
	    m->target_host, m->target_port);
}
