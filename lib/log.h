/*
 * log: syslog or stderr, key=value lines, a per-session id on every line.
 * Never pass a password here: callers log AUTH lines masked.
 */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stddef.h>

/* ident is the program name; to_stderr logs to stderr instead of syslog. */
void	log_init(const char *ident, int to_stderr, int verbose);
/*
 * Format every line as usual but write it nowhere (fuzzing and unit tests run whole
 * sessions in process; formatting still runs so its bugs stay visible).
 */
void	log_discard(int on);
/* Every later line carries "session=<id>" (child processes set it once). */
void	log_set_session(const char *id);
const char *log_session(void);

void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));	/* + errno */
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copy peer-supplied text into out (size outsz, always NUL-terminated) so it is safe in
 * a log line: control bytes, backslash, quote and bytes >= 0x7f become \xHH, and the
 * result is cut at outsz. Returns out.
 */
char	*log_escape(char *out, size_t outsz, const char *in, size_t inlen);

#endif
