/*
 * conf: table-driven "key value" parser (see conf.h). One key per line, '#' starts a
 * comment at the beginning of a line, values are the rest of the line with surrounding
 * blanks removed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/util.h"

#define CONF_FILE_MAX	(1024 * 1024)
#define CONF_LINE_MAX	4096
#define CONF_LIST_MAX	256

static void *
conf_field(void *dst, const struct conf_key *k)
{
	return (char *)dst + k->offset;
}

static int
conf_parse_number(const char *v, enum conf_type type, unsigned long long *out)
{
	unsigned long long n, mult = 1;
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return -1;
	if (type == CONF_SIZE && *end != '\0') {
		switch (*end++) {
		case 'K': case 'k': mult = 1ULL << 10; break;
		case 'M': case 'm': mult = 1ULL << 20; break;
		case 'G': case 'g': mult = 1ULL << 30; break;
		default: return -1;
		}
	} else if (type == CONF_SECONDS && *end != '\0') {
		switch (*end++) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -1;
		}
	}
	if (*end != '\0')
		return -1;
	if (n > ULLONG_MAX / mult)
		return -1;
	*out = n * mult;
	return 0;
}

static int
conf_set(void *dst, const struct conf_key *k, const char *v, char *why, size_t whysz)
{
	unsigned long long n;
	struct conf_list *l;
	char **nv, *copy, *w, *save = NULL;

	switch (k->type) {
	case CONF_STR:
		if ((copy = strdup(v)) == NULL)
			goto nomem;
		free(*(char **)conf_field(dst, k));
		*(char **)conf_field(dst, k) = copy;
		return 0;
	case CONF_UINT:
	case CONF_SIZE:
	case CONF_SECONDS:
		if (conf_parse_number(v, k->type, &n) == -1) {
			snprintf(why, whysz, "%s: not a valid %s: \"%.64s\"", k->name,
			    k->type == CONF_SIZE ? "size" : k->type == CONF_SECONDS ?
			    "duration" : "number", v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			snprintf(why, whysz, "%s: %llu is out of range %llu..%llu", k->name,
			    n, k->min, k->max);
			return -1;
		}
		*(unsigned long long *)conf_field(dst, k) = n;
		return 0;
	case CONF_BOOL:
		if (strcmp(v, "yes") == 0)
			*(int *)conf_field(dst, k) = 1;
		else if (strcmp(v, "no") == 0)
			*(int *)conf_field(dst, k) = 0;
		else {
			snprintf(why, whysz, "%s: expected yes or no, not \"%.64s\"", k->name, v);
			return -1;
		}
		return 0;
	case CONF_LIST:
		l = conf_field(dst, k);
		if ((copy = strdup(v)) == NULL)
			goto nomem;
		for (w = strtok_r(copy, " \t,", &save); w != NULL;
		    w = strtok_r(NULL, " \t,", &save)) {
			if (l->n >= CONF_LIST_MAX) {
				free(copy);
				snprintf(why, whysz, "%s: more than %d values", k->name,
				    CONF_LIST_MAX);
				return -1;
			}
			if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL) {
				free(copy);
				goto nomem;
			}
			l->v = nv;
			if ((l->v[l->n] = strdup(w)) == NULL) {
				free(copy);
				goto nomem;
			}
			l->n++;
		}
		free(copy);
		return 0;
	}
	snprintf(why, whysz, "%s: bad key type", k->name);
	return -1;
nomem:
	snprintf(why, whysz, "out of memory");
	return -1;
}

static const struct conf_key *
conf_find(const struct conf_key *keys, size_t nkeys, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0) {
			*idx = i;
			return &keys[i];
		}
	return NULL;
}

void
conf_free(const struct conf_key *keys, size_t nkeys, void *dst)
{
	struct conf_list *l;
	size_t i, j;

	for (i = 0; i < nkeys; i++) {
		if (keys[i].type == CONF_STR) {
			free(*(char **)conf_field(dst, &keys[i]));
			*(char **)conf_field(dst, &keys[i]) = NULL;
		} else if (keys[i].type == CONF_LIST) {
			l = conf_field(dst, &keys[i]);
			for (j = 0; j < l->n; j++)
				free(l->v[j]);
			free(l->v);
			l->v = NULL;
			l->n = 0;
		}
	}
}

int
conf_parse(const struct conf_key *keys, size_t nkeys, void *dst, const char *text,
    size_t len, const char *fname, char *err, size_t errsz)
{
	char line[CONF_LINE_MAX], why[256];
	unsigned char seen[256];
	const struct conf_key *k;
	const char *p = text, *end = text + len, *nl;
	char *name, *val, *e;
	size_t n, idx, lineno = 0;

	if (nkeys > sizeof(seen)) {
		snprintf(err, errsz, "%s: too many keys in table", fname);
		return -1;
	}
	memset(seen, 0, sizeof(seen));
	for (idx = 0; idx < nkeys; idx++)
		if (keys[idx].def != NULL &&
		    conf_set(dst, &keys[idx], keys[idx].def, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s: default: %s", fname, why);
			return -1;
		}
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n >= sizeof(line)) {
			snprintf(err, errsz, "%s:%zu: line too long", fname, lineno);
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl ? nl + 1 : end;
		if (memchr(line, '\0', n) != NULL) {
			snprintf(err, errsz, "%s:%zu: NUL byte", fname, lineno);
			return -1;
		}
		for (name = line; *name == ' ' || *name == '\t'; name++)
			;
		/* Trailing blanks and a CR from a file edited on Windows. */
		e = name + strlen(name);
		while (e > name && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*name == '\0' || *name == '#')
			continue;
		for (val = name; *val != '\0' && *val != ' ' && *val != '\t'; val++)
			;
		if (*val != '\0')
			*val++ = '\0';
		while (*val == ' ' || *val == '\t')
			val++;
		if ((k = conf_find(keys, nkeys, name, &idx)) == NULL) {
			snprintf(err, errsz, "%s:%zu: unknown key \"%.64s\"", fname, lineno, name);
			return -1;
		}
		if (*val == '\0') {
			snprintf(err, errsz, "%s:%zu: %s: missing value", fname, lineno, name);
			return -1;
		}
		if (k->type != CONF_LIST) {
			if (seen[idx]) {
				snprintf(err, errsz, "%s:%zu: %s: set twice", fname, lineno, name);
				return -1;
			}
		} else if (!seen[idx]) {
			/* The first line of a list replaces its default. */
			struct conf_list *l = conf_field(dst, k);
			size_t j;

			for (j = 0; j < l->n; j++)
				free(l->v[j]);
			l->n = 0;
		}
		seen[idx] = 1;
		if (conf_set(dst, k, val, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s:%zu: %s", fname, lineno, why);
			return -1;
		}
	}
	return 0;
}

int
conf_load(const struct conf_key *keys, size_t nkeys, void *dst, const char *path,
    char *err, size_t errsz)
{
	char *text;
	size_t len;
	int rc;

	if (util_read_file(path, CONF_FILE_MAX, &text, &len) == -1) {
		if (errno == EFBIG || errno == EINVAL)
			snprintf(err, errsz, "%s: not a regular file of at most %d bytes", path,
			    CONF_FILE_MAX);
		else
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = conf_parse(keys, nkeys, dst, text, len, path, err, errsz);
	free(text);
	return rc;
}
