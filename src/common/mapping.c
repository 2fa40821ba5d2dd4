/*
 * mapping.c: the per-mapping access rule (SPEC 9), shared by the store
 * (its text form), the API (names) and the forwarder (the check at accept).
 */
#include <stdio.h>
#include <string.h>

#include "gt/mapping.h"

static const char *const mapping_rules[] = {
	[GT_ACCESS_DISABLED] = "disabled",
	[GT_ACCESS_WHITELIST] = "whitelist",
	[GT_ACCESS_BLACKLIST] = "blacklist",
};

/* The API and database word of rule r. */
const char *
gt_mapping_rule_name(enum gt_access r)
{
	if ((unsigned)r >= sizeof(mapping_rules) / sizeof(mapping_rules[0]))
		return "disabled";
	return mapping_rules[r];
}

/* The rule of word s. */
int
gt_mapping_rule_parse(const char *s, enum gt_access *out)
{
	size_t i;

	for (i = 0; i < sizeof(mapping_rules) / sizeof(mapping_rules[0]); i++)
		if (strcmp(s, mapping_rules[i]) == 0) {
			*out = (enum gt_access)i;
			return 0;
		}
	return -1;
}

/* The rule applied to one peer; an unknown rule admits nobody (fail closed). */
int
gt_mapping_admits(const struct gt_mapping *m, const struct sockaddr *sa)
{
	size_t n = m->n_access_ips;

	if (n > GT_ACCESS_IPS_MAX)
		n = GT_ACCESS_IPS_MAX;
	switch (m->access_rule) {
	case GT_ACCESS_DISABLED:
		return 1;
	case GT_ACCESS_WHITELIST:
		return gt_cidr_match(m->access_ips, n, sa);
	case GT_ACCESS_BLACKLIST:
		return !gt_cidr_match(m->access_ips, n, sa);
	}
	return 0;
}

/* The list as "a/n,b/m" for the database. */
int
gt_mapping_ips_format(const struct gt_mapping *m, char *buf, size_t len)
{
	char	one[GT_CIDR_STRLEN];
	size_t	i, used = 0, l;

	if (len == 0 || m->n_access_ips > GT_ACCESS_IPS_MAX)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < m->n_access_ips; i++) {
		if (gt_cidr_format(&m->access_ips[i], one, sizeof(one)) == -1)
			return -1;
		l = strlen(one);
		if (used + l + (i > 0) + 1 > len)
			return -1;
		if (i > 0)
			buf[used++] = ',';
		memcpy(buf + used, one, l + 1);
		used += l;
	}
	return 0;
}

/* Read the database's "a/n,b/m" back; all or nothing. */
int
gt_mapping_ips_parse(struct gt_mapping *m, const char *s)
{
	struct gt_cidr	 list[GT_ACCESS_IPS_MAX];
	char		 one[GT_CIDR_STRLEN];
	const char	*comma;
	size_t		 n = 0, l;

	while (*s != '\0') {
		comma = strchr(s, ',');
		l = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (l == 0 || l >= sizeof(one) || n == GT_ACCESS_IPS_MAX)
			return -1;
		memcpy(one, s, l);
		one[l] = '\0';
		if (gt_cidr_scan(one, 0, &list[n]) != GT_CIDR_OK)
			return -1;
		n++;
		s += l;
		if (*s == ',' && *++s == '\0')
			return -1;	/* a trailing comma */
	}
	memcpy(m->access_ips, list, n * sizeof(list[0]));
	m->n_access_ips = n;
	return 0;
}
