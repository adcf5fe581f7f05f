/*
 * xml: escaping text for XML 1.0 (see xml.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/xml.h"

/*
 * The length of the UTF-8 sequence at s that is one XML 1.0 Char (§2.2: #x9 | #xA |
 * #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]), or 0. Overlong forms
 * are refused (RFC 3629 §3), as every XML parser does.
 */
static size_t
xml_char_len(const unsigned char *s)
{
	uint32_t c;
	size_t n, i;

	if (s[0] < 0x80)
		return s[0] >= 0x20 || s[0] == '\t' || s[0] == '\n' || s[0] == '\r';
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	if ((c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
		return 0;
	return n;
}

int
xml_escape(char *out, size_t outsz, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, n, rlen;
	const char *rep;
	char num[8];

	if (outsz == 0)
		return -1;
	while (*p != '\0') {
		if ((n = xml_char_len(p)) == 0)
			return -1;
		rep = NULL;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;	/* needed only after "]]", but harmless */
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\t':
		case '\n':
		case '\r':
			snprintf(num, sizeof(num), "&#%u;", (unsigned)*p);
			rep = num;
			break;
		default: break;
		}
		rlen = rep != NULL ? strlen(rep) : n;
		if (rlen >= outsz - o)
			return -1;
		memcpy(out + o, rep != NULL ? rep : (const char *)p, rlen);
		o += rlen;
		p += n;
	}
	out[o] = '\0';
	return o > INT32_MAX ? -1 : (int)o;
}
