/* main.c: gt-certgen, a CA, server and client certificates in one command. */
#include <stdio.h>
#include <string.h>

#include "gt/certgen.h"
#include "gt/flags.h"
#include "gt/log.h"

#define PROG	"gt-certgen"

static const char	*certgen_out, *certgen_ca, *certgen_cn, *certgen_san;
static const char	*certgen_cert, *certgen_serial;
static const char	*certgen_key_type = "ec256";
static long		 certgen_days;
static int		 certgen_force;
static int		 certgen_debug;

#define FLAG_OUT	{ "out", GT_FLAG_STRING, &certgen_out, 0, 0, "DIR", \
	"output folder (created 0700 if missing)" }
#define FLAG_CA		{ "ca", GT_FLAG_STRING, &certgen_ca, 0, 0, "DIR", \
	"folder holding the CA's ca.crt and ca.key" }
#define FLAG_DAYS	{ "days", GT_FLAG_INT, &certgen_days, 1, GT_CERTGEN_DAYS_MAX, \
	"N", "validity in days (CA 3650, others 825)" }
#define FLAG_KEY	{ "key-type", GT_FLAG_STRING, &certgen_key_type, 0, 0, \
	"ec256|rsa2048", "key type (default ec256)" }
#define FLAG_FORCE	{ "force", GT_FLAG_BOOL, &certgen_force, 0, 0, NULL, \
	"replace existing files" }
#define FLAG_DEBUG	{ "debug", GT_FLAG_BOOL, &certgen_debug, 0, 0, NULL, \
	"debug logging" }
#define FLAG_END	{ NULL, 0, NULL, 0, 0, NULL, NULL }

static const struct gt_flag certgen_init_flags[] = {
	FLAG_OUT,
	{ "cn", GT_FLAG_STRING, &certgen_cn, 0, 0, "NAME",
	    "server common name (default localhost)" },
	{ "san", GT_FLAG_STRING, &certgen_san, 0, 0, "LIST",
	    "server names (default DNS:localhost,IP:127.0.0.1)" },
	FLAG_DAYS, FLAG_KEY, FLAG_FORCE, FLAG_DEBUG, FLAG_END
};
static const struct gt_flag certgen_ca_flags[] = {
	FLAG_OUT,
	{ "cn", GT_FLAG_STRING, &certgen_cn, 0, 0, "NAME",
	    "CA common name (default \"gt CA\")" },
	FLAG_DAYS, FLAG_KEY, FLAG_FORCE, FLAG_DEBUG, FLAG_END
};
static const struct gt_flag certgen_server_flags[] = {
	FLAG_OUT, FLAG_CA,
	{ "cn", GT_FLAG_STRING, &certgen_cn, 0, 0, "NAME",
	    "server common name (required)" },
	{ "san", GT_FLAG_STRING, &certgen_san, 0, 0, "DNS:a,IP:1.2.3.4",
	    "server names (default: the CN)" },
	FLAG_DAYS, FLAG_KEY, FLAG_FORCE, FLAG_DEBUG, FLAG_END
};
static const struct gt_flag certgen_client_flags[] = {
	FLAG_OUT, FLAG_CA,
	{ "cn", GT_FLAG_STRING, &certgen_cn, 0, 0, "NAME",
	    "client name (required): the CN and the files NAME.crt, NAME.key" },
	FLAG_DAYS, FLAG_KEY, FLAG_FORCE, FLAG_DEBUG, FLAG_END
};
static const struct gt_flag certgen_revoke_flags[] = {
	{ "ca", GT_FLAG_STRING, &certgen_ca, 0, 0, "DIR",
	    "folder holding ca.crt and ca.key; the CRL is DIR/crl.pem" },
	{ "cert", GT_FLAG_STRING, &certgen_cert, 0, 0, "FILE",
	    "the certificate to revoke (issued by this CA)" },
	{ "serial", GT_FLAG_STRING, &certgen_serial, 0, 0, "HEX",
	    "or the serial number to revoke, in hex" },
	{ "days", GT_FLAG_INT, &certgen_days, 1, GT_CERTGEN_DAYS_MAX, "N",
	    "nextUpdate in N days (default: the CA's expiry)" },
	FLAG_DEBUG, FLAG_END
};

static const struct {
	const char		*c_name;
	enum gt_certgen_cmd	 c_cmd;
	const struct gt_flag	*c_flags;
	const char		*c_synopsis;
	const char		*c_what;
} certgen_cmds[] = {
	{ "init", GT_CERTGEN_CMD_INIT, certgen_init_flags,
	    "-out DIR [-cn NAME] [-san LIST] [-days N] [-key-type T] [-force]",
	    "CA, server and client pairs and jwt.key" },
	{ "ca", GT_CERTGEN_CMD_CA, certgen_ca_flags,
	    "-out DIR [-cn NAME] [-days N] [-key-type T] [-force]",
	    "ca.crt and ca.key" },
	{ "server", GT_CERTGEN_CMD_SERVER, certgen_server_flags,
	    "-out DIR -ca DIR -cn NAME [-san LIST] [-days N] [-key-type T] [-force]",
	    "server.crt and server.key" },
	{ "client", GT_CERTGEN_CMD_CLIENT, certgen_client_flags,
	    "-out DIR -ca DIR -cn NAME [-days N] [-key-type T] [-force]",
	    "NAME.crt and NAME.key" },
	{ "revoke", GT_CERTGEN_CMD_REVOKE, certgen_revoke_flags,
	    "-ca DIR (-cert FILE | -serial HEX) [-days N]",
	    "DIR/crl.pem, the CA's CRL, with one more certificate" },
};
#define CERTGEN_NCMDS	(sizeof(certgen_cmds) / sizeof(certgen_cmds[0]))

/* Print the overall usage: one line per subcommand. */
static void
certgen_usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: %s COMMAND [flags]\n", PROG);
	for (i = 0; i < CERTGEN_NCMDS; i++)
		fprintf(f, "  %s %s %s\n      writes %s\n", PROG,
		    certgen_cmds[i].c_name, certgen_cmds[i].c_synopsis,
		    certgen_cmds[i].c_what);
	fprintf(f, "  %s -version\n", PROG);
	fprintf(f, "Run \"%s COMMAND -help\" for a command's flags.\n", PROG);
}

/* Pick the subcommand, parse its flags Go-style, run it; exit 0 or 2. */
int
main(int argc, char **argv)
{
	struct gt_certgen_opts	 o;
	char			 prog[64], err[GT_CERTGEN_ERRLEN];
	const char		*a;
	size_t			 i;
	int			 idx = 2, r;

	gt_log_init(PROG);
	if (argc < 2) {
		fprintf(stderr, "%s: missing command: init, ca, server, client "
		    "or revoke (see -help)\n", PROG);
		return 2;
	}
	a = argv[1];
	if (a[0] == '-' && a[1] == '-')
		a++;
	if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0) {
		certgen_usage(stdout);
		return 0;
	}
	if (strcmp(a, "-version") == 0) {
		printf("%s %s\n", PROG, GT_VERSION);
		return 0;
	}
	for (i = 0; i < CERTGEN_NCMDS; i++)
		if (strcmp(argv[1], certgen_cmds[i].c_name) == 0)
			break;
	if (i == CERTGEN_NCMDS) {
		fprintf(stderr, "%s: unknown command \"%.64s\": want init, ca, "
		    "server, client or revoke (see -help)\n", PROG, argv[1]);
		return 2;
	}
	snprintf(prog, sizeof(prog), "%s %s", PROG, certgen_cmds[i].c_name);
	r = gt_flags_parse(prog, certgen_cmds[i].c_synopsis,
	    certgen_cmds[i].c_flags, argc, argv, &idx);
	if (r == GT_FLAGS_HELP)
		return 0;
	if (r != GT_FLAGS_OK)
		return 2;
	if (idx < argc) {
		fprintf(stderr, "%s: unexpected argument \"%.64s\" (see -help)\n",
		    prog, argv[idx]);
		return 2;
	}

	if (certgen_debug)
		gt_log_set_level(GT_LOG_DEBUG);
	memset(&o, 0, sizeof(o));
	o.o_out = certgen_out;
	o.o_ca = certgen_ca;
	o.o_cn = certgen_cn;
	o.o_san = certgen_san;
	o.o_days = certgen_days;
	o.o_force = certgen_force;
	o.o_cert = certgen_cert;
	o.o_serial = certgen_serial;
	if (gt_certgen_key_type_parse(certgen_key_type, &o.o_key_type, err,
	    sizeof(err)) == -1 ||
	    gt_certgen_run(certgen_cmds[i].c_cmd, &o, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	return 0;
}
