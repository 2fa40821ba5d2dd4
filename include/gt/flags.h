/* flags.h: Go-style command-line flags driven by a table (tmux's options shape). */
#ifndef GT_FLAGS_H
#define GT_FLAGS_H

#include <stdio.h>

enum gt_flag_type {
	GT_FLAG_BOOL,		/* int *: -name, -name=true|false */
	GT_FLAG_STRING,		/* const char **: borrowed from argv */
	GT_FLAG_INT,		/* long *: checked against [min, max] */
};

struct gt_flag {
	const char		*name;		/* without dashes */
	enum gt_flag_type	 type;
	void			*dst;
	long			 min, max;	/* GT_FLAG_INT only */
	const char		*arg;		/* shown in usage, e.g. "FILE" */
	const char		*help;
};

#define GT_FLAGS_OK	0
#define GT_FLAGS_HELP	1	/* -h/-help given: usage printed to stdout; exit 0 */
#define GT_FLAGS_ERROR	2	/* one line printed to stderr; exit 2 */

/*
 * Parse argv[*idx..] against a table ended by a NULL name. Accepts -name,
 * --name, -name=value and -name value; stops at "--" or the first
 * non-flag argument, leaving *idx on it. Each flag may be given once.
 */
int	gt_flags_parse(const char *prog, const char *synopsis,
	    const struct gt_flag *, int argc, char **argv, int *idx);
void	gt_flags_usage(FILE *, const char *prog, const char *synopsis,
	    const struct gt_flag *);
/* Nonzero when the named flag was present in the last parse of that table. */
int	gt_flags_given(const struct gt_flag *, const char *name);

#endif
