/*
 * xml: text for XML documents that Letterbox writes (the mail clients' autoconfig
 * files, cli/cmd_client.c). Only escaping: there is no XML parser in Letterbox.
 */
#ifndef LB_XML_H
#define LB_XML_H

#include <stddef.h>

/*
 * Write s into out (outsz bytes, NUL-terminated) so that it reads back as s both as
 * element content and inside a quoted attribute value (XML 1.0 §2.4, §3.3.3): & < > "
 * and ' become entity references, and tab, LF and CR character references (an
 * attribute value would otherwise turn them into spaces). Returns the length written,
 * or -1 when s cannot be in an XML 1.0 document at all (a control character other
 * than those three, bytes that are not UTF-8, a surrogate, U+FFFE or U+FFFF: §2.2's
 * Char production) or when out is too small.
 */
int	xml_escape(char *out, size_t outsz, const char *s);

#endif
