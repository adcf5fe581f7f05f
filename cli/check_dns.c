/*
 * check_dns: the DNS part of `letterbox check`, asked of dns_resolver (or resolv.conf's
 * servers, as delivery does). What mail to and from the owner's domains needs:
 *  - hostname's A/AAAA (holding public_address when set);
 *  - each domain's MX naming hostname (RFC 5321 §5.1);
 *  - each domain's SPF record (RFC 7208) letting hostname send;
 *  - each DKIM key's record at <selector>._domainkey.<dkim_domain> with our key
 *    (RFC 6376 §3.6.2.1);
 *  - each domain's DMARC record (RFC 7489 §6.1);
 *  - the PTR of the public address naming hostname, whose A/AAAA holds the address
 *    again (forward-confirmed reverse DNS, which the large providers demand).
 * Where one is missing or wrong, the record to publish follows as a zone file line.
 *
 * The public address: public_address when set (behind a NAT router nothing on the
 * machine knows it, and nothing here asks an outside service); otherwise the
 * addresses hostname's A/AAAA records give, which is what the world connects to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/check.h"
#include "cli/cli.h"
#include "dkim/dkim.h"
#include "lib/util.h"
#include "relay/dns.h"
#include "relay/dns_records.h"
#include "relay/mailrec.h"

#define CHECK_DNS_TIMEOUT	5	/* seconds per answer, each query tried twice */

struct dns_check {
	struct check		*c;
	struct dns_resolver	 r;
	struct sockaddr_storage	 pub[DNS_TARGETS_MAX];	/* the public address(es) */
	size_t			 npub;
	struct dns_txt		 txt[DNS_RECORDS_MAX];
};

static bool
name_is(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static void
addr_text(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	util_sockaddr_ntop(ss, out, outsz);
}

/* A TXT record's text as a zone file string: quotes and backslashes escaped. */
static void
print_txt_record(const char *owner, const char *text)
{
	printf("%s. IN TXT \"", owner);
	for (; *text != '\0'; text++) {
		if (*text == '"' || *text == '\\')
			putchar('\\');
		putchar(*text);
	}
	printf("\"\n");
}

static void
dns_unanswered(struct check *c, const char *what, const char *name)
{
	check_warn(c, "%s %s: no answer from DNS (%s); not checked", what, name,
	    c->cfg->dns_resolver ? c->cfg->dns_resolver : "resolv.conf's servers");
}

/* hostname's A/AAAA, and from them (or public_address) the public addresses. */
static void
check_host(struct dns_check *d)
{
	const struct settings *cfg = d->c->cfg;
	struct dns_target t[DNS_TARGETS_MAX];
	struct sockaddr_storage pub;
	char list[512], a[INET6_ADDRSTRLEN];
	enum dns_status st;
	size_t n, i, len = 0;
	bool have_pub = false, found = false;

	memset(&pub, 0, sizeof(pub));
	if (cfg->public_address != NULL) {
		if (inet_pton(AF_INET, cfg->public_address,
		    &((struct sockaddr_in *)&pub)->sin_addr) == 1)
			pub.ss_family = AF_INET;
		else if (inet_pton(AF_INET6, cfg->public_address,
		    &((struct sockaddr_in6 *)&pub)->sin6_addr) == 1)
			pub.ss_family = AF_INET6;
		have_pub = pub.ss_family != 0;
	}
	st = dns_host_targets(&d->r, cfg->hostname, 0, t, DNS_TARGETS_MAX, &n);
	if (st == DNS_TEMPFAIL) {
		dns_unanswered(d->c, "A/AAAA of", cfg->hostname);
		n = 0;
	}
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		addr_text(&t[i].addr, a, sizeof(a));
		len += (size_t)snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0,
		    "%s%s", i ? ", " : "", a);
		if (len >= sizeof(list))
			len = sizeof(list) - 1;
		if (have_pub && util_sockaddr_same_ip(&t[i].addr, &pub))
			found = true;
		if (!have_pub)
			d->pub[d->npub++] = t[i].addr;
	}
	if (have_pub)
		d->pub[d->npub++] = pub;
	if (st == DNS_TEMPFAIL)
		return;
	if (n == 0 || (have_pub && !found)) {
		if (n == 0)
			check_fail(d->c, "A/AAAA of hostname %s: none", cfg->hostname);
		else
			check_fail(d->c, "A/AAAA of hostname %s: %s; public_address %s is not "
			    "among them", cfg->hostname, list, cfg->public_address);
		if (have_pub)
			printf("%s. IN %s %s\n", cfg->hostname, pub.ss_family == AF_INET ? "A" :
			    "AAAA", cfg->public_address);
		else
			printf("%s. IN A <this server's public IPv4 address>\n", cfg->hostname);
		return;
	}
	check_ok(d->c, "A/AAAA of hostname %s: %s", cfg->hostname, list);
}

/* One domain's MX. true if it names hostname. */
static bool
check_mx(struct dns_check *d, const char *domain)
{
	const char *host = d->c->cfg->hostname;
	struct dns_mx mx[DNS_RECORDS_MAX];
	char list[512];
	size_t n, i, len = 0;
	bool ours = false, null_mx = false;

	switch (dns_lookup_mx(&d->r, domain, mx, DNS_RECORDS_MAX, &n)) {
	case DNS_TEMPFAIL:
		dns_unanswered(d->c, "MX of", domain);
		return false;
	case DNS_NOTFOUND:
	case DNS_NULLMX:
		n = 0;
		break;
	case DNS_OK:
		break;
	}
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0,
		    "%s%u %s", i ? ", " : "", mx[i].pref, mx[i].host);
		if (len >= sizeof(list))
			len = sizeof(list) - 1;
		if (name_is(mx[i].host, host))
			ours = true;
		if (strcmp(mx[i].host, ".") == 0)
			null_mx = true;
	}
	if (ours) {
		check_ok(d->c, "MX of %s: %s", domain, list);
		return true;
	}
	if (n == 0)
		check_fail(d->c, "MX of %s: none; mail for it cannot find %s", domain, host);
	else
		check_fail(d->c, "MX of %s: %s%s; not %s", domain, list,
		    null_mx ? " (a null MX: \"no mail\", RFC 7505)" : "", host);
	printf("%s. IN MX 10 %s.\n", domain, host);
	return false;
}

/* One domain's SPF record: present, one, and letting us send (RFC 7208). */
static void
check_spf(struct dns_check *d, const char *domain, bool mx_is_us)
{
	const struct settings *cfg = d->c->cfg;
	struct spf_result res, later;
	const char *spf = NULL;
	size_t n, i, count = 0;

	switch (dns_lookup_txt(&d->r, domain, d->txt, DNS_RECORDS_MAX, &n)) {
	case DNS_TEMPFAIL:
		dns_unanswered(d->c, "SPF of", domain);
		return;
	case DNS_OK:
		break;
	default:
		n = 0;
	}
	for (i = 0; i < n; i++)
		if (mailrec_is_spf(d->txt[i].text)) {
			spf = d->txt[i].text;
			count++;
		}
	if (count == 0) {
		check_fail(d->c, "SPF of %s: none; receivers cannot tell your mail from forgeries",
		    domain);
		print_txt_record(domain, "v=spf1 mx -all");
		return;
	}
	if (count > 1) {
		check_fail(d->c, "SPF of %s: %zu records; RFC 7208 §4.5 makes that an error: "
		    "keep one", domain, count);
		return;
	}
	mailrec_spf_eval(spf, domain, cfg->hostname, mx_is_us, d->pub, d->npub, &res);
	switch (res.verdict) {
	case SPF_COVERED:
		if (res.pass_all)
			check_warn(d->c, "SPF of %s: \"%s\": \"%s\" lets anyone send as %s",
			    domain, spf, res.term, domain);
		else
			check_ok(d->c, "SPF of %s: \"%s\" (%s is allowed by \"%s\")", domain, spf,
			    cfg->hostname, res.term);
		return;
	case SPF_UNKNOWN:
		check_warn(d->c, "SPF of %s: \"%s\": whether \"%s\" allows %s needs more "
		    "look-ups; not verified", domain, spf, res.term, cfg->hostname);
		return;
	case SPF_NOT_COVERED:
		/* Covered as soon as the MX (a failure above) names us: say so, no record. */
		if (!mx_is_us) {
			mailrec_spf_eval(spf, domain, cfg->hostname, true, d->pub, d->npub,
			    &later);
			if (later.verdict == SPF_COVERED && !later.pass_all) {
				check_warn(d->c, "SPF of %s: \"%s\" allows %s by \"%s\" once the "
				    "MX of %s names it", domain, spf, cfg->hostname, later.term,
				    domain);
				return;
			}
		}
		check_warn(d->c, "SPF of %s: \"%s\" does not allow %s%s%s", domain, spf,
		    cfg->hostname, res.term[0] ? ": \"" : "", res.term[0] ? res.term : "");
		if (res.term[0])
			printf(CHECK_DETAIL "(the first term that matches is \"%s\")\n", res.term);
		break;
	case SPF_INVALID:
		check_fail(d->c, "SPF of %s: \"%s\": \"%s\" is an error (RFC 7208 §4.6)",
		    domain, spf, res.term);
		break;
	}
	print_txt_record(domain, "v=spf1 mx -all");
}

/* One domain's DMARC record (RFC 7489 §6.1: TXT at _dmarc.<domain>). */
static void
check_dmarc(struct dns_check *d, const char *domain)
{
	char name[DNS_HOST_MAX], policy[16], rec[DNS_HOST_MAX + 64];
	const char *bad = NULL;
	size_t n, i, valid = 0;
	int rc;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	switch (dns_lookup_txt(&d->r, name, d->txt, DNS_RECORDS_MAX, &n)) {
	case DNS_TEMPFAIL:
		dns_unanswered(d->c, "DMARC", name);
		return;
	case DNS_OK:
		break;
	default:
		n = 0;
	}
	for (i = 0; i < n; i++) {
		if ((rc = mailrec_dmarc(d->txt[i].text, policy, sizeof(policy))) == 1)
			valid++;
		else if (rc == -1)
			bad = d->txt[i].text;
	}
	if (valid == 1 && bad == NULL) {
		check_ok(d->c, "DMARC of %s: p=%s", domain, policy);
		return;
	}
	if (valid + (bad != NULL) > 1)
		check_fail(d->c, "DMARC of %s: several records at %s; RFC 7489 §6.6.3 then "
		    "applies none: keep one", domain, name);
	else if (bad != NULL)
		check_fail(d->c, "DMARC of %s: \"%s\" lacks a valid p= (RFC 7489 §6.3)",
		    domain, bad);
	else
		check_fail(d->c, "DMARC of %s: none at %s", domain, name);
	snprintf(rec, sizeof(rec), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s",
	    domain);
	print_txt_record(name, rec);
}

/* One DKIM key's record: published at its selector, with our public key. */
static void
check_dkim_key(struct dns_check *d, const char *path, enum dkim_alg want)
{
	const struct settings *cfg = d->c->cfg;
	enum dkim_alg alg;
	char err[512], sel[64], name[DNS_HOST_MAX + 80], *rec, *ours, *theirs;
	size_t n, i, keys = 0;
	bool same = false;

	if ((rec = dkim_key_record(path, &alg, err, sizeof(err))) == NULL) {
		if (errno != ENOENT)
			check_fail(d->c, "DKIM key: %s", err);
		return;
	}
	ours = malloc(DNS_TXT_MAX);
	theirs = malloc(DNS_TXT_MAX);
	if (ours == NULL || theirs == NULL || alg != want ||
	    dkim_selector_name(cfg->dkim_selector, alg, sel, sizeof(sel)) == -1 ||
	    mailrec_dkim_key(rec, ours, DNS_TXT_MAX) != 1) {
		check_fail(d->c, "DKIM key %s: %s", path, alg != want ? "not of its kind" :
		    "cannot make its record");
		goto done;
	}
	snprintf(name, sizeof(name), "%s._domainkey.%s", sel, cfg->dkim_domain);
	switch (dns_lookup_txt(&d->r, name, d->txt, DNS_RECORDS_MAX, &n)) {
	case DNS_TEMPFAIL:
		dns_unanswered(d->c, "DKIM", name);
		goto done;
	case DNS_OK:
		break;
	default:
		n = 0;
	}
	for (i = 0; i < n; i++)
		if (mailrec_dkim_key(d->txt[i].text, theirs, DNS_TXT_MAX) == 1) {
			keys++;
			if (strcmp(theirs, ours) == 0)
				same = true;
		}
	if (same && keys == 1)
		check_ok(d->c, "DKIM %s: the key of %s", name, path);
	else if (same)
		check_warn(d->c, "DKIM %s: %zu key records (RFC 6376 §3.6.2.2: the result is "
		    "undefined); keep only this one:", name, keys);
	else if (keys > 0)
		check_fail(d->c, "DKIM %s: the published key differs from %s (signatures "
		    "will not verify); publish instead:", name, path);
	else
		check_fail(d->c, "DKIM %s: no key record published", name);
	if (!same || keys > 1)
		cli_dkim_print_record(cfg, alg, rec);
done:
	free(ours);
	free(theirs);
	free(rec);
}

/* PTR of each public address: hostname, itself resolving to the address (FCrDNS). */
static void
check_ptr(struct dns_check *d)
{
	const char *host = d->c->cfg->hostname;
	struct dns_target t[DNS_TARGETS_MAX];
	struct dns_name names[DNS_RECORDS_MAX];
	char a[INET6_ADDRSTRLEN], rev[80], list[512];
	size_t n, i, j, nt, len;
	bool named, forward;

	if (d->npub == 0) {
		check_warn(d->c, "PTR: no public address to check (set public_address, or "
		    "publish hostname's A/AAAA)");
		return;
	}
	if (dns_host_targets(&d->r, host, 0, t, DNS_TARGETS_MAX, &nt) != DNS_OK)
		nt = 0;
	for (i = 0; i < d->npub; i++) {
		addr_text(&d->pub[i], a, sizeof(a));
		if (dns_reverse_name(&d->pub[i], rev, sizeof(rev)) == -1)
			continue;
		switch (dns_lookup_ptr(&d->r, &d->pub[i], names, DNS_RECORDS_MAX, &n)) {
		case DNS_TEMPFAIL:
			dns_unanswered(d->c, "PTR of", a);
			continue;
		case DNS_OK:
			break;
		default:
			n = 0;
		}
		named = false;
		list[0] = '\0';
		for (j = 0, len = 0; j < n; j++) {
			len += (size_t)snprintf(list + len, len < sizeof(list) ?
			    sizeof(list) - len : 0, "%s%s", j ? ", " : "", names[j].host);
			if (len >= sizeof(list))
				len = sizeof(list) - 1;
			if (name_is(names[j].host, host))
				named = true;
		}
		for (j = 0, forward = false; j < nt; j++)
			if (util_sockaddr_same_ip(&t[j].addr, &d->pub[i]))
				forward = true;
		if (named && forward) {
			check_ok(d->c, "PTR of %s: %s, whose A/AAAA holds %s again (FCrDNS)", a,
			    host, a);
			continue;
		}
		if (named)
			check_fail(d->c, "PTR of %s: %s, but %s's A/AAAA does not hold %s "
			    "(not forward-confirmed)", a, host, host, a);
		else if (n == 0)
			check_fail(d->c, "PTR of %s: none; many receivers refuse mail from an "
			    "address without one", a);
		else
			check_fail(d->c, "PTR of %s: %s; not %s", a, list, host);
		if (!named) {
			printf("%s. IN PTR %s.\n", rev, host);
			printf(CHECK_DETAIL "(published by whoever holds the address: your ISP "
			    "or hosting provider sets it on request)\n");
		}
	}
}

void
check_dns(struct check *c)
{
	const struct settings *cfg = c->cfg;
	struct dns_check *d;
	size_t i;
	bool mx_is_us;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		check_fail(c, "DNS: out of memory");
		return;
	}
	d->c = c;
	if (dns_resolver_init(&d->r, cfg->dns_resolver, CHECK_DNS_TIMEOUT) == -1) {
		check_fail(c, "DNS: cannot set up the resolver%s%s",
		    cfg->dns_resolver ? " " : "", cfg->dns_resolver ? cfg->dns_resolver : "");
		dns_resolver_free(&d->r);
		free(d);
		return;
	}
	check_host(d);
	for (i = 0; i < cfg->domains.n; i++) {
		mx_is_us = check_mx(d, cfg->domains.v[i]);
		check_spf(d, cfg->domains.v[i], mx_is_us);
		check_dmarc(d, cfg->domains.v[i]);
	}
	if (access(cfg->dkim_ed25519_key, F_OK) == -1 && errno == ENOENT &&
	    access(cfg->dkim_rsa_key, F_OK) == -1 && errno == ENOENT)
		check_warn(c, "DKIM: no keys (%s, %s): outbound mail goes unsigned; make them "
		    "with \"letterbox dkim keygen\"", cfg->dkim_ed25519_key, cfg->dkim_rsa_key);
	else {
		check_dkim_key(d, cfg->dkim_ed25519_key, DKIM_ED25519);
		check_dkim_key(d, cfg->dkim_rsa_key, DKIM_RSA);
	}
	check_ptr(d);
	dns_resolver_free(&d->r);
	free(d);
}
