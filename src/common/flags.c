/* flags.c: Go-style flag parsing (one or two dashes, "=" or a separate value). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gt/flags.h"

#define FLAGS_MAX	64

/* Which table entries the last parse saw; keyed by table address. */
static const struct gt_flag	*flags_table;
static unsigned char		 flags_seen[FLAGS_MAX];

/* Print usage: one line per flag with its argument name and help. */
void
gt_flags_usage(FILE *f, const char *prog, const char *synopsis,
    const struct gt_flag *t)
{
	char	name[64];

	fprintf(f, "usage: %s %s\n", prog, synopsis ? synopsis : "[flags]");
	for (; t->name != NULL; t++) {
		if (t->type == GT_FLAG_BOOL || t->arg == NULL)
			snprintf(name, sizeof(name), "-%s", t->name);
		else
			snprintf(name, sizeof(name), "-%s %s", t->name, t->arg);
		fprintf(f, "  %-24s %s\n", name, t->help ? t->help : "");
	}
	fprintf(f, "  %-24s %s\n", "-h, -help", "show this help");
}

/* Parse a boolean value as Go's strconv.ParseBool does. */
static int
flags_parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Store one value into its flag, checking type and bounds. */
static int
flags_set(const char *prog, const struct gt_flag *f, const char *v)
{
	char	*end;
	long	 n;

	switch (f->type) {
	case GT_FLAG_BOOL:
		if (flags_parse_bool(v, f->dst) == -1) {
			fprintf(stderr, "%s: invalid boolean value \"%s\" for flag -%s\n",
			    prog, v, f->name);
			return -1;
		}
		return 0;
	case GT_FLAG_STRING:
		*(const char **)f->dst = v;
		return 0;
	case GT_FLAG_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno == ERANGE) {
			fprintf(stderr, "%s: invalid value \"%s\" for flag -%s: not an integer\n",
			    prog, v, f->name);
			return -1;
		}
		if (n < f->min || n > f->max) {
			fprintf(stderr, "%s: invalid value \"%s\" for flag -%s: must be %ld..%ld\n",
			    prog, v, f->name, f->min, f->max);
			return -1;
		}
		*(long *)f->dst = n;
		return 0;
	}
	return -1;
}

int
gt_flags_parse(const char *prog, const char *synopsis, const struct gt_flag *t,
    int argc, char **argv, int *idx)
{
	const struct gt_flag	*f;
	const char		*arg, *name, *eq, *val;
	size_t			 nlen, n;

	flags_table = t;
	memset(flags_seen, 0, sizeof(flags_seen));
	while (*idx < argc) {
		arg = argv[*idx];
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (strcmp(arg, "--") == 0) {
			(*idx)++;
			break;
		}
		name = arg + 1;
		if (*name == '-')
			name++;
		if (*name == '\0' || *name == '-' || *name == '=') {
			fprintf(stderr, "%s: bad flag syntax: %s\n", prog, arg);
			return GT_FLAGS_ERROR;
		}
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		if ((nlen == 1 && name[0] == 'h') ||
		    (nlen == 4 && strncmp(name, "help", 4) == 0)) {
			gt_flags_usage(stdout, prog, synopsis, t);
			return GT_FLAGS_HELP;
		}
		for (f = t, n = 0; f->name != NULL; f++, n++)
			if (strlen(f->name) == nlen && strncmp(f->name, name, nlen) == 0)
				break;
		if (f->name == NULL) {
			fprintf(stderr, "%s: flag provided but not defined: -%.*s "
			    "(see -help)\n", prog, (int)nlen, name);
			return GT_FLAGS_ERROR;
		}
		if (n < FLAGS_MAX && flags_seen[n]) {
			fprintf(stderr, "%s: flag -%s given twice\n", prog, f->name);
			return GT_FLAGS_ERROR;
		}
		(*idx)++;
		if (eq != NULL)
			val = eq + 1;
		else if (f->type == GT_FLAG_BOOL)
			val = "true";
		else if (*idx < argc)
			val = argv[(*idx)++];
		else {
			fprintf(stderr, "%s: flag needs an argument: -%s\n", prog, f->name);
			return GT_FLAGS_ERROR;
		}
		if (flags_set(prog, f, val) == -1)
			return GT_FLAGS_ERROR;
		if (n < FLAGS_MAX)
			flags_seen[n] = 1;
	}
	return GT_FLAGS_OK;
}

int
gt_flags_given(const struct gt_flag *t, const char *name)
{
	size_t n;

	if (t != flags_table)
		return 0;
	for (n = 0; t[n].name != NULL && n < FLAGS_MAX; n++)
		if (strcmp(t[n].name, name) == 0)
			return flags_seen[n];
	return 0;
}
