/*
 * t_dnsmsg.h: DNS messages built by hand for the resolver's unit tests (test_dns,
 * test_dns_records): header, question, names, compression pointers. Header-only.
 */
#ifndef LB_T_DNSMSG_H
#define LB_T_DNSMSG_H

#include <arpa/nameser.h>
#include <stdint.h>
#include <string.h>

/* A DNS message under construction. */
struct msg {
	unsigned char	b[16384];
	int		len;
};

static inline void
put8(struct msg *m, unsigned v)
{
	m->b[m->len++] = (unsigned char)v;
}

static inline void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static inline void
put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

/* "a.b.c" as uncompressed labels with the root; "" is the root alone. */
static inline void
put_name(struct msg *m, const char *name)
{
	const char *dot;
	size_t n;

	while (*name != '\0') {
		dot = strchr(name, '.');
		n = dot != NULL ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)n);
		memcpy(m->b + m->len, name, n);
		m->len += (int)n;
		name += n;
		if (*name == '.')
			name++;
	}
	put8(m, 0);
}

static inline void
put_ptr(struct msg *m, unsigned off)
{
	put16(m, 0xc000 | off);
}

/* Header (a response, NOERROR) and one question; the name is at offset 12. */
static inline void
msg_start(struct msg *m, const char *qname, unsigned qtype, unsigned an, unsigned ns,
    unsigned ar)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, ns_c_in);
}

#endif
