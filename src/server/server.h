/* server.h: gt-server's program, wired in server.c; main.c only calls it. */
#ifndef GT_SERVER_H
#define GT_SERVER_H

/* Run gt-server with argv; returns the exit status (0, 1, or 2 for usage). */
int	gt_server_main(int argc, char **argv);

#endif
