/* server.h: gt-server's program, wired in server.c; main.c only calls it. */
#ifndef GT_SERVER_H
#define GT_SERVER_H

/* Run gt-server with argv; returns the exit status (0, 1, or 2 for usage). */
int	gt_server_main(int argc, char **argv);
/*
 * -reg install|uninstall (reg.c): write or remove gt-server.service for the
 * config at cfgpath; returns the exit status.
 */
int	gt_server_reg(const char *action, const char *cfgpath, int debug);

#endif
