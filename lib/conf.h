/*
 * conf: a table-driven parser for "key value" files (style.md §5.9, vsftpd parseconf).
 * It knows types and bounds, not Letterbox: the keys live in settings.c.
 */
#ifndef LB_CONF_H
#define LB_CONF_H

#include <stddef.h>

enum conf_type {
	CONF_STR,	/* char *: the rest of the line */
	CONF_UINT,	/* unsigned long long, min..max */
	CONF_SIZE,	/* unsigned long long bytes; suffix K, M or G (binary) */
	CONF_SECONDS,	/* unsigned long long seconds; suffix s, m, h or d */
	CONF_BOOL,	/* int: yes/no */
	CONF_LIST,	/* struct conf_list: words; a repeated key appends */
};

struct conf_list {
	size_t	  n;
	char	**v;
};

struct conf_key {
	const char		*name;
	enum conf_type		 type;
	const char		*def;		/* default as it would be written; NULL = unset */
	unsigned long long	 min, max;	/* numeric types */
	size_t			 offset;	/* into the destination struct */
};

/*
 * Parse text (len bytes, need not be NUL-terminated) into dst. Every key of the table is
 * first set to its default. An unknown key, a bad value, a number out of range or a
 * repeated scalar key is an error: -1 with "fname:line: what" in err. 0 on success.
 * dst must be released with conf_free() in both cases.
 */
int	conf_parse(const struct conf_key *keys, size_t nkeys, void *dst, const char *text,
	    size_t len, const char *fname, char *err, size_t errsz);
/* The same, reading the file at path. */
int	conf_load(const struct conf_key *keys, size_t nkeys, void *dst, const char *path,
	    char *err, size_t errsz);
void	conf_free(const struct conf_key *keys, size_t nkeys, void *dst);

#endif
