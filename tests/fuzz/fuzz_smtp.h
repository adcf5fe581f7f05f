/*
 * fuzz_smtp.h: what the SMTP whole-session fuzzers check, shared by fuzz_smtp_session
 * (port 25) and fuzz_submission_session (AUTH inside TLS, the queue). Header-only:
 * each harness is one .c.
 *
 *   - every reply line is "NNN " or "NNN-", printable, at most 512 octets (RFC 5321
 *     §4.5.3.1.5), CRLF-terminated, and no partial line is left at the close;
 *   - a stored file (a Maildir or queue delivery) holds CRLF lines only and no NUL,
 *     so no smuggled or malformed message was accepted, and is named after its size.
 */
#ifndef LB_FUZZ_SMTP_H
#define LB_FUZZ_SMTP_H

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The client's view of the reply stream, fed as it arrives. */
struct fuzz_smtp_replies {
	int	 delivered;	/* "250 2.0.0 Ok: delivered" replies seen */
	int	 queued;	/* "250 2.0.0 Ok: queued" replies seen */
	int	 authenticated;	/* "235 " replies seen */
	char	 line[600];	/* the reply line being read */
	size_t	 len;
};

/* One reply line, CRLF removed: "NNN-text" or "NNN text", printable, RFC-sized. */
static inline void
fuzz_smtp_reply_line(struct fuzz_smtp_replies *c)
{
	static const char dlv[] = "250 2.0.0 Ok: delivered";
	static const char que[] = "250 2.0.0 Ok: queued";
	size_t i;

	if (c->len < 4 || c->len > 512 || c->line[0] < '2' || c->line[0] > '5' ||
	    c->line[1] < '0' || c->line[1] > '9' || c->line[2] < '0' || c->line[2] > '9' ||
	    (c->line[3] != ' ' && c->line[3] != '-'))
		abort();
	for (i = 0; i < c->len; i++)
		if ((unsigned char)c->line[i] < ' ' || (unsigned char)c->line[i] == 0x7f)
			abort();	/* no CR, LF or controls injected into a reply */
	if (c->len >= sizeof(dlv) - 1 && memcmp(c->line, dlv, sizeof(dlv) - 1) == 0)
		c->delivered++;
	if (c->len >= sizeof(que) - 1 && memcmp(c->line, que, sizeof(que) - 1) == 0)
		c->queued++;
	if (memcmp(c->line, "235 ", 4) == 0)
		c->authenticated++;
}

/* Bytes of the reply stream, in whatever pieces they came. */
static inline void
fuzz_smtp_replies_feed(struct fuzz_smtp_replies *c, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] == '\n') {
			if (c->len == 0 || c->line[c->len - 1] != '\r')
				abort();	/* replies end in CRLF */
			c->len--;
			fuzz_smtp_reply_line(c);
			c->len = 0;
		} else if (c->len < sizeof(c->line))
			c->line[c->len++] = b[i];
		else
			abort();
	}
}

/* The session closed: a partial reply line would be a bug. */
static inline void
fuzz_smtp_replies_end(const struct fuzz_smtp_replies *c)
{
	if (c->len != 0)
		abort();
}

/*
 * The message at off..size of the file: CRLF line ends only, no NUL, ending in CRLF.
 * A bare CR or LF here would mean a smuggled or malformed message was accepted.
 */
static inline void
fuzz_smtp_check_message(int dfd, const char *name, off_t off, size_t size)
{
	char *m;
	size_t i, got = 0;
	ssize_t r;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (m = malloc(size + 1)) == NULL)
		abort();
	while (got < size && (r = pread(fd, m + got, size - got, off + (off_t)got)) > 0)
		got += (size_t)r;
	close(fd);
	if (got != size || size < 2 || m[size - 2] != '\r' || m[size - 1] != '\n')
		abort();
	for (i = 0; i < size; i++)
		if (m[i] == '\0' || (m[i] == '\r' && m[i + 1] != '\n') ||
		    (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')))
			abort();
	free(m);
}

/*
 * Call each(dfd, name, arg) for every file in the directory dfd (a Maildir's or the
 * queue's), then remove it; return how many there were.
 */
static inline int
fuzz_smtp_drain_dir(int dfd, void (*each)(int, const char *, void *), void *arg)
{
	struct dirent *de;
	DIR *dir;
	int fd, n = 0;

	if ((fd = dup(dfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		abort();
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (each != NULL)
			each(dfd, de->d_name, arg);
		unlinkat(dfd, de->d_name, 0);
		n++;
	}
	closedir(dir);
	return n;
}

/*
 * A Maildir delivery: named ",S=<its size>" within a UIDL's 70 characters
 * (maildir.h), content as fuzz_smtp_check_message() wants.
 */
static inline void
fuzz_smtp_check_delivery(int dfd, const char *name, void *arg)
{
	struct stat st;
	const char *sz;

	(void)arg;
	if ((sz = strstr(name, ",S=")) == NULL || fstatat(dfd, name, &st, 0) == -1 ||
	    strtoull(sz + 3, NULL, 10) != (unsigned long long)st.st_size ||
	    strlen(name) > 70)
		abort();
	fuzz_smtp_check_message(dfd, name, 0, (size_t)st.st_size);
}

#endif
