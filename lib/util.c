/*
 * util: shared pure helpers (see util.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

bool
util_is_hostname(const char *s)
{
	size_t n = 0, label = 0;
	unsigned char c, prev = '.';

	for (; (c = (unsigned char)*s) != '\0'; s++, n++) {
		if (c == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') {
			if (c == '-' && label == 0)
				return false;
			if (++label > 63)
				return false;
		} else
			return false;
		prev = c;
	}
	/* A trailing dot (absolute name) is not used in mail domains. */
	return n > 0 && n <= 253 && prev != '.' && prev != '-';
}

bool
util_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

bool
util_is_local_part(const char *s)
{
	size_t n = 0;
	unsigned char prev = '.';

	for (; *s != '\0'; s++, n++) {
		if (*s == '.') {
			if (prev == '.')
				return false;
		} else if (!util_is_atext((unsigned char)*s))
			return false;
		prev = (unsigned char)*s;
	}
	return n > 0 && n <= 64 && prev != '.';
}

int
util_parse_hostport(const char *s, char *host, size_t hostsz, unsigned *port_out)
{
	const char *colon, *h = s;
	char *end;
	unsigned long port;
	size_t hl;

	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	hl = (size_t)(colon - s);
	if (hl > 2 && s[0] == '[' && s[hl - 1] == ']') {
		h = s + 1;	/* an IPv6 literal: the brackets are not part of the name */
		hl -= 2;
	} else if (memchr(s, ':', hl) != NULL)
		return -1;
	if (hl == 0 || hl > 253)
		return -1;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || port == 0 ||
	    port > 65535)
		return -1;
	if (host != NULL) {
		if (hl >= hostsz)
			return -1;
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	if (port_out != NULL)
		*port_out = (unsigned)port;
	return 0;
}

int
util_parse_listen(const char *s, struct lb_sockaddr *sa)
{
	char host[64];
	unsigned port;
	struct sockaddr_in *sin = (struct sockaddr_in *)&sa->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa->ss;

	memset(sa, 0, sizeof(*sa));
	if (util_parse_hostport(s, host, sizeof(host), &port) == -1)
		return -1;
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sa->len = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sa->len = sizeof(*sin);
	return 0;
}

void
util_sockaddr_ntop(const struct sockaddr_storage *sa, char *out, size_t outsz)
{
	const void *addr = NULL;

	if (sa->ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->ss_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (addr == NULL || inet_ntop(sa->ss_family, addr, out, (socklen_t)outsz) == NULL)
		snprintf(out, outsz, "unknown");
}

bool
util_sockaddr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

void
util_random(void *buf, size_t n)
{
	char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			fatal("getrandom");
		p += r;
		n -= (size_t)r;
	}
}

void
util_random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	size_t i;

	if (n > sizeof(raw))
		n = sizeof(raw);
	util_random(raw, n);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * n] = '\0';
}

int
util_read_file(const char *path, size_t max_bytes, char **out, size_t *len_out)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	char *data;
	int fd, saved;

	*out = NULL;
	*len_out = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		saved = errno;
	else if (!S_ISREG(st.st_mode))
		saved = EINVAL;
	else if ((uint64_t)st.st_size > max_bytes)
		saved = EFBIG;
	else
		saved = 0;
	if (saved != 0) {
		close(fd);
		errno = saved;
		return -1;
	}
	if ((data = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, data + got, (size_t)st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	data[got] = '\0';
	*out = data;
	*len_out = got;
	return 0;
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
util_ascii_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

int
util_mkdirat_open(int root, const char *name, uid_t uid, gid_t gid)
{
	int fd;

	if (mkdirat(root, name, 0700) == -1) {
		if (errno != EEXIST)
			return -1;
		return openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if ((fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1 &&
	    uid != (uid_t)-1 && fchown(fd, uid, gid) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}
