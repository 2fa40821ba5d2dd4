/*
 * names.h: the one rule for a client's name, which is its certificate's CN
 * and a mapping's "client" field: 1..GT_NAME_MAX characters of
 * [A-Za-z0-9._-], the first a letter or a digit. Nothing a log line, a
 * shell or a URL path would treat specially.
 */
#ifndef GT_NAMES_H
#define GT_NAMES_H

#define GT_NAME_MAX	64

/* 1 if s is a valid client name, else 0 (NULL included). */
int	gt_name_valid(const char *s);

#endif
