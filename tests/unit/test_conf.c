/*
 * test_conf: lib/conf.c (types, suffixes, ranges, errors with file:line, lists,
 * defaults, comments and CRLF) and lib/settings.c (the Letterbox keys and the
 * cross-field checks of settings_parse).
 */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/settings.h"
#include "tests/unit/t.h"

struct all {
	char			*s;
	unsigned long long	 u, sz, sec;
	int			 b;
	struct conf_list	 l;
	char			*unset;
};

#define A(f)	offsetof(struct all, f)
static const struct conf_key all_keys[] = {
	{ "str",	CONF_STR,	"default string", 0, 0, A(s) },
	{ "uint",	CONF_UINT,	"5", 1, 100, A(u) },
	{ "size",	CONF_SIZE,	"1K", 0, 1ULL << 40, A(sz) },
	{ "secs",	CONF_SECONDS,	"1m", 10, 86400, A(sec) },
	{ "bool",	CONF_BOOL,	"no", 0, 0, A(b) },
	{ "list",	CONF_LIST,	"a b", 0, 0, A(l) },
	{ "unset",	CONF_STR,	NULL, 0, 0, A(unset) },
};
#define NALL	(sizeof(all_keys) / sizeof(all_keys[0]))

static int
parse(struct all *a, const char *text, char *err, size_t errsz)
{
	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	return conf_parse(all_keys, NALL, a, text, strlen(text), "t.conf", err, errsz);
}

static void
test_conf_defaults(void)
{
	struct all a;
	char err[256];

	test_begin("conf: defaults");
	test_assert(parse(&a, "", err, sizeof(err)) == 0);
	test_assert_str(a.s, "default string");
	test_assert(a.u == 5 && a.sz == 1024 && a.sec == 60 && a.b == 0);
	test_assert(a.l.n == 2 && strcmp(a.l.v[0], "a") == 0 && strcmp(a.l.v[1], "b") == 0);
	test_assert(a.unset == NULL);
	conf_free(all_keys, NALL, &a);
	test_assert(a.s == NULL && a.l.v == NULL && a.l.n == 0);
	test_end();
}

static void
test_conf_values(void)
{
	static const struct {
		const char		*text;
		unsigned long long	 u, sz, sec;
		int			 b;
		const char		*s;
	} cases[] = {
		{ "uint 1\n", 1, 1024, 60, 0, NULL },
		{ "uint 100\n", 100, 1024, 60, 0, NULL },
		{ "size 0\n", 5, 0, 60, 0, NULL },
		{ "size 10\n", 5, 10, 60, 0, NULL },
		{ "size 2K\n", 5, 2048, 60, 0, NULL },
		{ "size 2k\n", 5, 2048, 60, 0, NULL },
		{ "size 3M\n", 5, 3ULL << 20, 60, 0, NULL },
		{ "size 3m\n", 5, 3ULL << 20, 60, 0, NULL },
		{ "size 4G\n", 5, 4ULL << 30, 60, 0, NULL },
		{ "size 1024G\n", 5, 1ULL << 40, 60, 0, NULL },	/* at max */
		{ "secs 10\n", 5, 1024, 10, 0, NULL },
		{ "secs 10s\n", 5, 1024, 10, 0, NULL },
		{ "secs 5m\n", 5, 1024, 300, 0, NULL },
		{ "secs 2h\n", 5, 1024, 7200, 0, NULL },
		{ "secs 1d\n", 5, 1024, 86400, 0, NULL },
		{ "bool yes\n", 5, 1024, 60, 1, NULL },
		{ "bool no\n", 5, 1024, 60, 0, NULL },
		{ "str  hello   world  \n", 5, 1024, 60, 0, "hello   world" },
		{ "\tstr\tx\n", 5, 1024, 60, 0, "x" },
		{ "# comment\n\n   \n  # indented comment\nuint 7\n", 7, 1024, 60, 0, NULL },
		{ "uint 9\r\nsize 1M\r\n\r\n# c\r\n", 9, 1ULL << 20, 60, 0, NULL },	/* CRLF */
		{ "uint 9", 9, 1024, 60, 0, NULL },		/* no final newline */
		{ "str a # not a comment\n", 5, 1024, 60, 0, "a # not a comment" },
	};
	struct all a;
	char err[256];
	size_t i;

	test_begin("conf: every type, suffixes, comments, CRLF");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_assert_idx(parse(&a, cases[i].text, err, sizeof(err)) == 0, i);
		test_assert_idx(a.u == cases[i].u, i);
		test_assert_idx(a.sz == cases[i].sz, i);
		test_assert_idx(a.sec == cases[i].sec, i);
		test_assert_idx(a.b == cases[i].b, i);
		if (cases[i].s != NULL)
			test_assert_idx(a.s != NULL && strcmp(a.s, cases[i].s) == 0, i);
		conf_free(all_keys, NALL, &a);
	}
	test_end();
}

static void
test_conf_errors(void)
{
	static const struct {
		const char	*text;
		const char	*err;	/* expected message */
	} cases[] = {
		{ "uint 0\n", "t.conf:1: uint: 0 is out of range 1..100" },
		{ "uint 101\n", "t.conf:1: uint: 101 is out of range 1..100" },
		{ "\n\nuint -1\n", "t.conf:3: uint: not a valid number: \"-1\"" },
		{ "uint 1x\n", "t.conf:1: uint: not a valid number: \"1x\"" },
		{ "uint 5K\n", "t.conf:1: uint: not a valid number: \"5K\"" },	/* no suffix */
		{ "uint 99999999999999999999\n",
		    "t.conf:1: uint: not a valid number: \"99999999999999999999\"" },
		{ "uint +5\n", "t.conf:1: uint: not a valid number: \"+5\"" },
		{ "size 1T\n", "t.conf:1: size: not a valid size: \"1T\"" },
		{ "size 1KB\n", "t.conf:1: size: not a valid size: \"1KB\"" },
		{ "size 1025G\n", "t.conf:1: size: 1100585369600 is out of range 0..1099511627776" },
		{ "size 18446744073709551615K\n",
		    "t.conf:1: size: not a valid size: \"18446744073709551615K\"" },
		{ "secs 9\n", "t.conf:1: secs: 9 is out of range 10..86400" },
		{ "secs 2d\n", "t.conf:1: secs: 172800 is out of range 10..86400" },
		{ "secs 1w\n", "t.conf:1: secs: not a valid duration: \"1w\"" },
		{ "secs 1M\n", "t.conf:1: secs: not a valid duration: \"1M\"" },
		{ "bool YES\n", "t.conf:1: bool: expected yes or no, not \"YES\"" },
		{ "bool 1\n", "t.conf:1: bool: expected yes or no, not \"1\"" },
		{ "# c\nfrobnicate 1\n", "t.conf:2: unknown key \"frobnicate\"" },
		{ "Uint 5\n", "t.conf:1: unknown key \"Uint\"" },		/* case matters */
		{ "uint 5\nstr a\nuint 6\n", "t.conf:3: uint: set twice" },
		{ "str a\r\nstr a\r\n", "t.conf:2: str: set twice" },
		{ "uint\n", "t.conf:1: uint: missing value" },
		{ "uint   \n", "t.conf:1: uint: missing value" },
	};
	struct all a;
	char err[256];
	size_t i;

	test_begin("conf: errors name file:line");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_assert_idx(parse(&a, cases[i].text, err, sizeof(err)) == -1, i);
		test_assert_idx(strcmp(err, cases[i].err) == 0, i);
		if (strcmp(err, cases[i].err) != 0)
			fprintf(stderr, "\tgot \"%s\"\n", err);
		conf_free(all_keys, NALL, &a);
	}
	test_end();
}

static void
test_conf_raw_errors(void)
{
	char text[5000], err[256];
	struct all a;

	test_begin("conf: NUL byte and overlong line");
	memset(&a, 0, sizeof(a));
	test_assert(conf_parse(all_keys, NALL, &a, "uint 5\nstr a\0b\n", 15, "t.conf", err,
	    sizeof(err)) == -1);
	test_assert_str(err, "t.conf:2: NUL byte");
	conf_free(all_keys, NALL, &a);
	memset(text, 'x', sizeof(text));
	memcpy(text, "str ", 4);
	memset(&a, 0, sizeof(a));
	test_assert(conf_parse(all_keys, NALL, &a, text, sizeof(text), "t.conf", err,
	    sizeof(err)) == -1);
	test_assert_str(err, "t.conf:1: line too long");
	conf_free(all_keys, NALL, &a);
	test_end();
}

static void
test_conf_list(void)
{
	struct all a;
	char err[256];

	test_begin("conf: lists replace the default, then append");
	test_assert(parse(&a, "list x, y\tz\nlist w\nlist ,, v ,\n", err, sizeof(err)) == 0);
	test_assert(a.l.n == 5);
	if (a.l.n == 5) {
		test_assert_str(a.l.v[0], "x");
		test_assert_str(a.l.v[1], "y");
		test_assert_str(a.l.v[2], "z");
		test_assert_str(a.l.v[3], "w");
		test_assert_str(a.l.v[4], "v");
	}
	conf_free(all_keys, NALL, &a);
	test_assert(parse(&a, "list ,\n", err, sizeof(err)) == 0);
	test_assert(a.l.n == 0);	/* an explicit empty list */
	conf_free(all_keys, NALL, &a);
	test_end();
}

static void
test_conf_load(void)
{
	char path[] = "/tmp/lb-test-conf-XXXXXX", err[256];
	struct all a;
	FILE *f;
	int fd;

	test_begin("conf: conf_load from a file");
	fd = mkstemp(path);
	test_assert(fd != -1);
	if (fd == -1)
		return;
	f = fdopen(fd, "w");
	fputs("uint 42\r\n# x\r\nbogus 1\r\n", f);
	fclose(f);
	memset(&a, 0, sizeof(a));
	test_assert(conf_load(all_keys, NALL, &a, path, err, sizeof(err)) == -1);
	test_assert(strncmp(err, path, strlen(path)) == 0 &&
	    strcmp(err + strlen(path), ":3: unknown key \"bogus\"") == 0);
	conf_free(all_keys, NALL, &a);
	unlink(path);
	memset(&a, 0, sizeof(a));
	test_assert(conf_load(all_keys, NALL, &a, path, err, sizeof(err)) == -1);
	conf_free(all_keys, NALL, &a);
	test_end();
}

#define BASE	"domains example.org\nmaildir /var/mail/alice\n"

static void
test_settings(void)
{
	static const struct {
		const char	*text;
		const char	*err;	/* NULL: valid; else a substring of the message */
	} cases[] = {
		{ BASE, NULL },
		{ BASE "hostname mx.example.org\n", NULL },
		{ BASE "tls_cert /c.pem\ntls_key /k.pem\nsmtps_listen [::1]:465\n", NULL },
		{ BASE "smtp_listen 0.0.0.0:25, [::]:25\n", NULL },
		{ BASE "local_parts alice bob.smith\n", NULL },
		{ "maildir /m\n", "domains: at least one domain is required" },
		{ "domains example.org\n", "maildir: required" },
		{ BASE "smtp_listen localhost:25\n", "\"localhost:25\" is not ADDRESS:PORT" },
		{ BASE "smtp_listen 127.0.0.1\n", "is not ADDRESS:PORT" },
		{ BASE "smtp_listen 127.0.0.1:0\n", "is not ADDRESS:PORT" },
		{ BASE "smtp_listen 127.0.0.1:65536\n", "is not ADDRESS:PORT" },
		{ BASE "smtp_listen ::1:25\n", "is not ADDRESS:PORT" },
		{ BASE "smtps_listen 127.0.0.1:465\n", "smtps_listen needs tls_cert and tls_key" },
		{ BASE "tls_cert /c.pem\n", "tls_cert and tls_key go together" },
		{ BASE "tls_key /k.pem\n", "tls_cert and tls_key go together" },
		{ BASE "hostname bad_host\n", "is not a valid host name" },
		{ "domains exa mple..org\nmaildir /m\n", "is not a domain name" },
		{ BASE "local_parts a..b\n", "is not a plain local part" },
		{ BASE "max_message_size 1023\n", "out of range" },
		{ BASE "max_message_size 2G\n", "out of range" },
		{ BASE "tmp_max_age 59\n", "out of range" },
		{ BASE "max_hops 0\n", "out of range" },
		{ BASE "maildir /other\n", "t.conf:3: maildir: set twice" },
		{ BASE "domain example.org\n", "t.conf:3: unknown key \"domain\"" },
	};
	struct settings s;
	char err[256];
	size_t i;
	int r;

	test_begin("settings: parse and verify");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		r = settings_parse(&s, cases[i].text, strlen(cases[i].text), "t.conf", err,
		    sizeof(err));
		if (cases[i].err == NULL)
			test_assert_idx(r == 0, i);
		else {
			test_assert_idx(r == -1 && strstr(err, cases[i].err) != NULL, i);
			test_assert_idx(strncmp(err, "t.conf", 6) == 0, i);
		}
		if ((r == 0) != (cases[i].err == NULL))
			fprintf(stderr, "\t[%zu] \"%s\"\n", i, err);
		settings_free(&s);
	}
	test_end();

	test_begin("settings: defaults");
	test_assert(settings_parse(&s, BASE, strlen(BASE), "t.conf", err, sizeof(err)) == 0);
	test_assert(s.hostname != NULL && s.hostname[0] != '\0');	/* gethostname() */
	test_assert(s.domains.n == 1 && strcmp(s.domains.v[0], "example.org") == 0);
	test_assert(s.local_parts.n == 1 && strcmp(s.local_parts.v[0], "postmaster") == 0);
	test_assert_str(s.subaddress_delimiters, "+");
	test_assert(s.smtp_listen.n == 1 && strcmp(s.smtp_listen.v[0], "127.0.0.1:25") == 0);
	test_assert(s.smtps_listen.n == 0 && s.tls_cert == NULL && s.tls_key == NULL);
	test_assert(s.max_message_size == 35ULL << 20);
	test_assert(s.max_recipients == 100 && s.max_hops == 50 && s.max_bad_commands == 20);
	test_assert(s.idle_timeout == 300 && s.data_timeout == 600);
	test_assert(s.session_timeout == 3600 && s.tmp_max_age == 36 * 3600);
	settings_free(&s);
	test_end();
}

int
main(void)
{
	test_conf_defaults();
	test_conf_values();
	test_conf_errors();
	test_conf_raw_errors();
	test_conf_list();
	test_conf_load();
	test_settings();
	return test_exit();
}
