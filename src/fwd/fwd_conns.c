/*
 * fwd_conns.c: the forwarder's table of live public sessions, direct and
 * tunnel, so that the API can list them and close one by id. A list in id
 * order (ids only grow, so appending keeps it sorted) and a hash by id
 * (chains, doubled when fuller than one a slot): O(1) at accept and close.
 * A direct session is closed through fwd_direct.c's one teardown; a tunnel
 * session through the mux's (gt_mux_close_stream), whose watcher removes
 * the record here.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gt/fwd.h"
#include "gt/mux.h"
#include "fwd_local.h"

#define FWD_CTAB_INITIAL	64

/* Ids are the process's, not one forwarder's: never given twice. */
static uint64_t fwd_conn_next_id = 1;

/* Slot of id in fw's table. */
static size_t
fwd_conn_slot(const struct gt_fwd *fw, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32) &
	    (fw->fw_ctsize - 1);
}

/* Double the table (or make the first); on ENOMEM chains just grow longer. */
static void
fwd_conn_grow(struct gt_fwd *fw)
{
	struct fwd_conn	**nt, **ot = fw->fw_ctab, *c, *next;
	size_t		  osize = fw->fw_ctsize, nsize, i, slot;

	nsize = osize == 0 ? FWD_CTAB_INITIAL : osize * 2;
	if ((nt = calloc(nsize, sizeof(*nt))) == NULL)
		return;
	fw->fw_ctab = nt;
	fw->fw_ctsize = nsize;
	for (i = 0; i < osize; i++)
		for (c = ot[i]; c != NULL; c = next) {
			next = c->fc_hnext;
			slot = fwd_conn_slot(fw, c->fc_id);
			c->fc_hnext = nt[slot];
			nt[slot] = c;
		}
	free(ot);
}

/* The live session of id, or NULL. */
static struct fwd_conn *
fwd_conn_find(const struct gt_fwd *fw, uint64_t id)
{
	struct fwd_conn *c;

	if (fw->fw_ctsize == 0)
		return NULL;
	for (c = fw->fw_ctab[fwd_conn_slot(fw, id)]; c != NULL; c = c->fc_hnext)
		if (c->fc_id == id)
			return c;
	return NULL;
}

/*
 * Give fc (zeroed but for its kind and owner fields) its id and figures,
 * and make it findable. The one place ids are handed out.
 */
void
fwd_conn_insert(struct gt_fwd *fw, struct fwd_conn *fc, uint16_t port,
    const char *peer, const char *client, const char *host, uint16_t tport)
{
	size_t slot;

	if (fw->fw_nconns >= fw->fw_ctsize)
		fwd_conn_grow(fw);
	fc->fc_fwd = fw;
	fc->fc_id = fwd_conn_next_id++;
	fc->fc_port = port;
	fc->fc_started = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &fc->fc_mono);
	snprintf(fc->fc_peer, sizeof(fc->fc_peer), "%s", peer);
	snprintf(fc->fc_client, sizeof(fc->fc_client), "%s", client ? client : "");
	snprintf(fc->fc_target, sizeof(fc->fc_target),
	    strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, tport);
	TAILQ_INSERT_TAIL(&fw->fw_conns, fc, fc_entry);
	if (fw->fw_ctsize > 0) {
		slot = fwd_conn_slot(fw, fc->fc_id);
		fc->fc_hnext = fw->fw_ctab[slot];
		fw->fw_ctab[slot] = fc;
	}
	fw->fw_nconns++;
}

/* Unlink fc from the table (the caller frees it, or it goes with its session). */
void
fwd_conn_remove(struct fwd_conn *fc)
{
	struct gt_fwd	 *fw = fc->fc_fwd;
	struct fwd_conn	**pp;

	if (fw == NULL)
		return;		/* never inserted */
	TAILQ_REMOVE(&fw->fw_conns, fc, fc_entry);
	if (fw->fw_ctsize > 0)
		for (pp = &fw->fw_ctab[fwd_conn_slot(fw, fc->fc_id)];
		    *pp != NULL; pp = &(*pp)->fc_hnext)
			if (*pp == fc) {
				*pp = fc->fc_hnext;
				break;
			}
	fw->fw_nconns--;
	fc->fc_fwd = NULL;
}

/* The mux's watcher: the tunnel stream of fc is gone. */
void
fwd_conn_tunnel_ended(void *arg)
{
	struct fwd_conn *fc = arg;

	fwd_conn_remove(fc);
	free(fc);
}

/*
 * The forwarder goes: direct records went with their sessions; the tunnel
 * ones left belong to streams of closing tunnels, whose watchers must not
 * call into freed memory.
 */
void
fwd_conns_free(struct gt_fwd *fw)
{
	struct fwd_conn *fc;

	while ((fc = TAILQ_FIRST(&fw->fw_conns)) != NULL) {
		fwd_conn_remove(fc);
		if (fc->fc_tunnel) {
			gt_mux_unwatch(fc->fc_mux, fc->fc_stream);
			free(fc);
		}
	}
	free(fw->fw_ctab);
	fw->fw_ctab = NULL;
	fw->fw_ctsize = 0;
}

void
gt_fwd_sessions_foreach(struct gt_fwd *fw, gt_fwd_session_cb *cb, void *arg)
{
	struct gt_fwd_session_info	 si;
	struct fwd_conn			*fc;
	struct timespec			 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	TAILQ_FOREACH(fc, &fw->fw_conns, fc_entry) {
		memset(&si, 0, sizeof(si));
		si.id = fc->fc_id;
		si.port = fc->fc_port;
		si.tunnel = fc->fc_tunnel;
		si.peer = fc->fc_peer;
		si.client = fc->fc_client;
		si.target = fc->fc_target;
		si.started_at = fc->fc_started;
		si.age = (double)(now.tv_sec - fc->fc_mono.tv_sec) +
		    (double)(now.tv_nsec - fc->fc_mono.tv_nsec) / 1e9;
		if (fc->fc_tunnel)
			(void)gt_mux_stream_bytes(fc->fc_mux, fc->fc_stream,
			    &si.bytes_in, &si.bytes_out);
		else
			fwd_direct_bytes(fc->fc_session, &si.bytes_in,
			    &si.bytes_out);
		cb(&si, arg);
	}
}

int
gt_fwd_session_close(struct gt_fwd *fw, uint64_t id, const char *why)
{
	struct fwd_conn *fc;

	if ((fc = fwd_conn_find(fw, id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	/* Either teardown removes fc from the table (and frees it). */
	if (!fc->fc_tunnel)
		fwd_direct_close(fc->fc_session, why);
	else if (gt_mux_close_stream(fc->fc_mux, fc->fc_stream, why) == -1) {
		/* Cannot be (the watcher would have removed fc): do not keep it. */
		fwd_conn_tunnel_ended(fc);
		errno = ENOENT;
		return -1;
	}
	return 0;
}
