/*
 * util: small pure helpers shared by the daemons: name syntax, listen addresses,
 * randomness and clocks.
 */
#ifndef LB_UTIL_H
#define LB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct lb_sockaddr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

/* RFC 1035/5321 host name: labels of letters, digits and '-', 1..253 octets. */
bool	util_is_hostname(const char *s);
/* RFC 5322 atext character (the alphabet of an unquoted local part). */
bool	util_is_atext(unsigned char c);
/* A dot-atom local part (RFC 5321 §4.1.2 Dot-string), 1..64 octets. */
bool	util_is_local_part(const char *s);

/*
 * "host:port", "192.0.2.1:25" or "[2001:db8::1]:25": the host (without brackets) into
 * host (hostsz; may be NULL), the port (1..65535) into *port (may be NULL). 0 or -1.
 */
int	util_parse_hostport(const char *s, char *host, size_t hostsz, unsigned *port);
/* "127.0.0.1:25" or "[::1]:25" into sa. 0 or -1. */
int	util_parse_listen(const char *s, struct lb_sockaddr *sa);
/* The numeric address of sa into out ("192.0.2.1", "2001:db8::1"). */
void	util_sockaddr_ntop(const struct sockaddr_storage *sa, char *out, size_t outsz);
/* Whether a and b hold the same IP address (ports ignored). */
bool	util_sockaddr_same_ip(const struct sockaddr_storage *a,
	    const struct sockaddr_storage *b);

/* Fill buf with n random bytes (getrandom); fatal if the kernel cannot. */
void	util_random(void *buf, size_t n);
/* n random bytes as 2n lowercase hex digits + NUL into out (size >= 2n + 1). */
void	util_random_hex(char *out, size_t n);

/*
 * Read the regular file at path, at most max_bytes, into a fresh buffer (one spare
 * NUL byte after the data, so an empty file still gets a valid pointer); the caller
 * frees *out. 0, or -1 with errno (EFBIG: larger than max_bytes; EINVAL: not a file).
 */
int	util_read_file(const char *path, size_t max_bytes, char **out, size_t *len_out);

/*
 * Open the directory root/name (root may be AT_FDCWD), creating it with mode 0700 and
 * giving it to uid:gid (unless uid is (uid_t)-1) when it is missing: a root parent
 * prepares directories for the account it is about to become. fd, or -1 with errno.
 */
int	util_mkdirat_open(int root, const char *name, uid_t uid, gid_t gid);

/* Monotonic milliseconds. */
int64_t	util_now_ms(void);

/* Case-insensitive ASCII comparison of n bytes / of NUL-terminated strings. */
bool	util_ascii_ieq(const char *a, const char *b);

#endif
