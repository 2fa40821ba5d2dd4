/* names.c: the client-name rule, kept in one place (see names.h). */
#include <stddef.h>

#include "gt/names.h"

/* A letter or a digit, in ASCII only (not the locale's idea of one). */
static int
name_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* The whole rule: first an alphanumeric, then alphanumerics and ._- only. */
int
gt_name_valid(const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i;

	if (s == NULL || !name_alnum(u[0]))
		return 0;
	for (i = 1; u[i] != '\0'; i++) {
		if (i >= GT_NAME_MAX)
			return 0;
		if (!name_alnum(u[i]) && u[i] != '.' && u[i] != '_' &&
		    u[i] != '-')
			return 0;
	}
	return 1;
}
