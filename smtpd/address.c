/*
 * address: RFC 5321 Path and ESMTP parameter parsing (see address.h).
 *
 *   Path       = "<" [ A-d-l ":" ] Mailbox ">"
 *   Mailbox    = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "smtpd/address.h"

static bool
addr_is_utf8(unsigned char c)
{
	return c >= 0x80;
}

/* sub-domain *("." sub-domain), or a U-label form with utf8 (RFC 6531 §3.3). */
static const char *
addr_domain(const char *p, bool utf8, char *out, size_t outsz, enum addr_result *err)
{
	size_t n = 0, label = 0;
	unsigned char c, prev = '.';

	for (; (c = (unsigned char)*p) != '\0'; p++) {
		if (c == '.') {
			if (label == 0 || prev == '-')
				break;
			label = 0;
		} else if (isalnum(c) || c == '-' || (utf8 && addr_is_utf8(c))) {
			if (c == '-' && label == 0)
				break;
			/* RFC 1035 §2.3.4: labels are 63 octets or less. */
			if (++label > 63) {
				*err = ADDR_TOOLONG;
				return NULL;
			}
		} else if (addr_is_utf8(c)) {
			*err = ADDR_UTF8;
			return NULL;
		} else
			break;
		if (n + 1 >= outsz) {
			*err = ADDR_TOOLONG;
			return NULL;
		}
		out[n++] = (char)c;
		prev = c;
	}
	out[n] = '\0';
	if (n == 0 || prev == '.' || prev == '-') {
		*err = ADDR_SYNTAX;
		return NULL;
	}
	return p;
}

/* "[" ( IPv4 / "IPv6:" IPv6 / General ) "]", RFC 5321 §4.1.3; kept verbatim. */
static const char *
addr_literal(const char *p, char *out, size_t outsz, enum addr_result *err)
{
	const char *end = strchr(p, ']');
	size_t n;

	if (end == NULL || end == p + 1) {
		*err = ADDR_SYNTAX;
		return NULL;
	}
	n = (size_t)(end - p) + 1;
	if (n >= outsz) {
		*err = ADDR_TOOLONG;
		return NULL;
	}
	for (const char *q = p + 1; q < end; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f || *q == '[' ||
		    *q == '\\') {
			*err = ADDR_SYNTAX;
			return NULL;
		}
	memcpy(out, p, n);
	out[n] = '\0';
	return end + 1;
}

enum addr_result
smtp_parse_path(const char *in, bool allow_null, bool allow_postmaster, bool utf8,
    struct smtp_path *out, const char **rest)
{
	enum addr_result err = ADDR_SYNTAX;
	const char *p = in, *start;
	size_t n = 0;
	unsigned char c;

	memset(out, 0, sizeof(*out));
	*rest = in;
	if (*p++ != '<')
		return ADDR_SYNTAX;
	if (*p == '>') {
		if (!allow_null)
			return ADDR_SYNTAX;
		out->is_null = true;
		*rest = p + 1;
		return ADDR_OK;
	}
	/* A-d-l: "@dom,@dom:" — obsolete source route, accepted and ignored (§C). */
	if (*p == '@') {
		char skip[SMTP_DOMAIN_MAX + 1];

		for (;;) {
			if (*p++ != '@')
				return ADDR_SYNTAX;
			if ((p = addr_domain(p, utf8, skip, sizeof(skip), &err)) == NULL)
				return err;
			if (*p == ',')
				p++;
			else if (*p == ':') {
				p++;
				break;
			} else
				return ADDR_SYNTAX;
		}
	}
	start = p;
	if (*p == '"') {
		/* Quoted-string: qtextSMTP / "\" %d32-126 (RFC 5321 §4.1.2). */
		out->is_quoted = true;
		for (p++; *p != '"'; p++) {
			c = (unsigned char)*p;
			if (c == '\\') {
				c = (unsigned char)*++p;
				if (c < 32 || c > 126)
					return ADDR_SYNTAX;
			} else if (c < 32 || c == 127)	/* NUL too: unterminated */
				return ADDR_SYNTAX;
			else if (addr_is_utf8(c) && !utf8)
				return ADDR_UTF8;
			if (n + 1 >= sizeof(out->local))
				return ADDR_TOOLONG;
			out->local[n++] = (char)c;
		}
		p++;
	} else {
		/* Dot-string: Atom *("." Atom). */
		unsigned char prev = '.';

		for (; (c = (unsigned char)*p) != '\0' && c != '@' && c != '>'; p++) {
			if (c == '.') {
				if (prev == '.')
					return ADDR_SYNTAX;
			} else if (addr_is_utf8(c)) {
				if (!utf8)
					return ADDR_UTF8;
			} else if (!util_is_atext(c))
				return ADDR_SYNTAX;
			if (n + 1 >= sizeof(out->local))
				return ADDR_TOOLONG;
			out->local[n++] = (char)c;
			prev = c;
		}
		if (n == 0 || prev == '.')
			return ADDR_SYNTAX;
	}
	out->local[n] = '\0';
	if ((size_t)(p - start) > SMTP_LOCAL_MAX)
		return ADDR_TOOLONG;
	if (*p == '>' && allow_postmaster && !out->is_quoted &&
	    strcasecmp(out->local, "postmaster") == 0) {
		/* RCPT TO:<Postmaster> (RFC 5321 §4.1.1.3). */
	} else {
		if (*p++ != '@')
			return ADDR_SYNTAX;
		if (*p == '[') {
			out->is_literal = true;
			p = addr_literal(p, out->domain, sizeof(out->domain), &err);
		} else
			p = addr_domain(p, utf8, out->domain, sizeof(out->domain), &err);
		if (p == NULL)
			return err;
	}
	if (*p != '>')
		return ADDR_SYNTAX;
	n = (size_t)(p - start);
	if (n + 2 > SMTP_PATH_MAX)
		return ADDR_TOOLONG;
	memcpy(out->text, start, n);
	out->text[n] = '\0';
	*rest = p + 1;
	return ADDR_OK;
}

static bool
param_is(const char *word, size_t wlen, const char *key, const char **val)
{
	size_t klen = strlen(key);

	if (wlen < klen || strncasecmp(word, key, klen) != 0)
		return false;
	if (wlen == klen) {
		*val = NULL;
		return true;
	}
	if (word[klen] != '=')
		return false;
	*val = word + klen + 1;
	return true;
}

enum addr_result
smtp_parse_mail_params(const char *in, struct smtp_mail_params *out)
{
	const char *p = in, *word, *val;
	size_t wlen, vlen;
	char num[24];
	char *end;

	memset(out, 0, sizeof(*out));
	out->body = SMTP_BODY_7BIT;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return ADDR_OK;
		word = p;
		while (*p != '\0' && *p != ' ')
			p++;
		wlen = (size_t)(p - word);
		if (param_is(word, wlen, "SIZE", &val)) {
			/* size-value = 1*20DIGIT (RFC 1870 §3). */
			vlen = val ? (size_t)(p - val) : 0;
			if (out->has_size || vlen == 0 || vlen > 20)
				return ADDR_PARAM;
			memcpy(num, val, vlen);
			num[vlen] = '\0';
			for (size_t i = 0; i < vlen; i++)
				if (!isdigit((unsigned char)num[i]))
					return ADDR_PARAM;
			errno = 0;
			out->size = strtoull(num, &end, 10);
			if (errno == ERANGE)
				out->size = UINT64_MAX;	/* too big in any case */
			out->has_size = true;
		} else if (param_is(word, wlen, "BODY", &val)) {
			vlen = val ? (size_t)(p - val) : 0;
			if (vlen == 4 && strncasecmp(val, "7BIT", 4) == 0)
				out->body = SMTP_BODY_7BIT;
			else if (vlen == 8 && strncasecmp(val, "8BITMIME", 8) == 0)
				out->body = SMTP_BODY_8BITMIME;
			else
				return ADDR_PARAM;
		} else if (param_is(word, wlen, "SMTPUTF8", &val) && val == NULL) {
			out->smtputf8 = true;
		} else
			return ADDR_PARAM;
	}
}

const char *
smtp_path_arg(const char *args, const char *keyword)
{
	size_t k = strlen(keyword);

	if (strncasecmp(args, keyword, k) != 0 || args[k] != ':')
		return NULL;
	args += k + 1;
	while (*args == ' ')
		args++;
	return args;
}
