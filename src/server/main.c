/* main.c: gt-server, the public side of gt (see server.c). */
#include "server.h"

/* Hand over to gt_server_main. */
int
main(int argc, char **argv)
{
	return gt_server_main(argc, argv);
}
