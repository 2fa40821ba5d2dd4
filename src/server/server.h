/* server.h: gt-server's program, wired in server.c; main.c only calls it. */
#ifndef GT_SERVER_H
#define GT_SERVER_H

struct gt_config;

/* Run gt-server with argv; returns the exit status (0, 1, or 2 for usage). */
int	gt_server_main(int argc, char **argv);
/*
 * -reg install|uninstall (reg.c): write or remove gt-server.service for the
 * config at cfgpath; returns the exit status.
 */
int	gt_server_reg(const char *action, const char *cfgpath, int debug);

/*
 * -import-gotunnel (import.c): copy the mappings of go-tunnel's database
 * at path into cfg's store, a report line a row on stdout. Returns 0
 * (every row imported or already there), 1 (a row skipped, or the store
 * failed) or 2 (path unreadable or not go-tunnel's).
 */
int	gt_server_import(const struct gt_config *cfg, const char *path);

#endif
