/*
 * cmd_client: letterbox client-config thunderbird|outlook|manual — what a mail client
 * needs to set up the owner's account, from the configured listeners:
 *
 *   thunderbird  Mozilla's autoconfig file (config-v1.1.xml, the ISPDB format,
 *                wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat),
 *                fetched by Thunderbird from https://autoconfig.<domain>/mail/
 *                config-v1.1.xml or https://<domain>/.well-known/autoconfig/mail/
 *   outlook      the "POX" Autodiscover response (MS-OXDSCLI, responseschema 2006a),
 *                fetched from https://autodiscover.<domain>/autodiscover/autodiscover.xml
 *   manual       the same for a person typing it into a client's manual set-up
 *
 * Only submission (587 STARTTLS, 465 implicit TLS, RFC 8314) is offered for sending:
 * port 25 never takes AUTH. Implicit TLS comes first (RFC 8314 §3.3 and §4.1 prefer it
 * to STARTTLS); a plain POP3 listener is offered only with a certificate (STLS).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/verify.h"
#include "cli/cli.h"
#include "lib/util.h"
#include "lib/xml.h"

#define SERVERS_MAX	8	/* distinct ports per protocol and TLS mode */
#define ADDRS_SHOWN	12	/* owner's addresses listed by "manual" */

struct server {
	unsigned	port;
	bool		implicit_tls;	/* else STARTTLS */
	bool		public;		/* some listener of the port is not loopback-only */
};

struct servers {
	struct server	v[SERVERS_MAX];
	size_t		n;
};

struct client_conf {
	const struct settings	*cfg;
	const char		*host;		/* the name clients connect to */
	char			 address[320];	/* the owner's address: the login shown */
	struct servers		 pop3;
	struct servers		 smtp;
};

static bool
is_loopback(const struct lb_sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&sa->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&sa->ss;

	if (sa->ss.ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	return sa->ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

/* Add the ports of list (settings checked that every entry parses), one per port. */
static void
add_servers(struct servers *s, const struct conf_list *list, bool implicit_tls)
{
	struct lb_sockaddr sa;
	unsigned port;
	size_t i, j;
	bool public;

	for (i = 0; i < list->n; i++) {
		if (util_parse_listen(list->v[i], &sa) == -1)
			continue;
		port = sa.ss.ss_family == AF_INET6 ?
		    ntohs(((const struct sockaddr_in6 *)&sa.ss)->sin6_port) :
		    ntohs(((const struct sockaddr_in *)&sa.ss)->sin_port);
		public = !is_loopback(&sa);
		for (j = 0; j < s->n; j++)
			if (s->v[j].port == port && s->v[j].implicit_tls == implicit_tls)
				break;
		if (j < s->n)
			s->v[j].public |= public;
		else if (s->n < SERVERS_MAX)
			s->v[s->n++] = (struct server){ port, implicit_tls, public };
	}
}

/* A --host value: a host name as settings requires of "hostname", or an IP literal. */
static bool
valid_host(const char *h)
{
	unsigned char a[sizeof(struct in6_addr)];

	return util_is_hostname(h) || inet_pton(AF_INET, h, a) == 1 ||
	    inet_pton(AF_INET6, h, a) == 1;
}

/* The address shown as the login: the first local part that is not postmaster. */
static void
owner_address(const struct settings *cfg, char *out, size_t outsz)
{
	const char *lp = cfg->local_parts.n > 0 ? cfg->local_parts.v[0] : "postmaster";
	size_t i;

	for (i = 0; i < cfg->local_parts.n; i++)
		if (strcasecmp(cfg->local_parts.v[i], "postmaster") != 0) {
			lp = cfg->local_parts.v[i];
			break;
		}
	snprintf(out, outsz, "%s@%s", lp, cfg->domains.v[0]);
}

/* The account name the auth process takes as PAM's user (authd_start). */
static const char *
owner_login(const struct settings *cfg)
{
	const struct passwd *pw;

	if (cfg->user != NULL)
		return cfg->user;
	return (pw = getpwuid(getuid())) != NULL ? pw->pw_name : NULL;
}

/* Whether the auth process takes login for the owner: the same test it makes. */
static bool
login_works(const struct settings *cfg, const char *login)
{
	struct auth_policy p = { cfg, owner_login(cfg), cfg->state_dir };

	return p.account != NULL && auth_login_is_owner(&p, login);
}

/* Print s escaped for XML; the values were checked, so failing here is a bug. */
static int
put_xml(const char *before, const char *s, const char *after)
{
	char buf[1024];

	if (xml_escape(buf, sizeof(buf), s) == -1) {
		fprintf(stderr, "letterbox: \"%.64s\" cannot be written in XML\n", s);
		return -1;
	}
	printf("%s%s%s", before, buf, after);
	return 0;
}

static void
warn_loopback(const struct client_conf *cc)
{
	const struct servers *all[] = { &cc->pop3, &cc->smtp };
	const char *names[] = { "POP3", "submission" };
	size_t i, j;

	for (i = 0; i < 2; i++)
		for (j = 0; j < all[i]->n; j++)
			if (!all[i]->v[j].public)
				fprintf(stderr, "letterbox: warning: the %s port %u listens on "
				    "loopback only: clients on other machines cannot reach it\n",
				    names[i], all[i]->v[j].port);
}

/* Both kinds of server, or EX_CONFIG: neither client takes a half account. */
static int
need_both(const struct client_conf *cc)
{
	if (cc->pop3.n == 0) {
		fprintf(stderr, "letterbox: no pop3s_listen, nor pop3_listen with a tls_cert: "
		    "a mail client has nothing to fetch mail from\n");
		return EX_CONFIG;
	}
	if (cc->smtp.n == 0) {
		fprintf(stderr, "letterbox: no submissions_listen or submission_listen: a mail "
		    "client has nothing to send mail through\n");
		return EX_CONFIG;
	}
	return 0;
}

/*
 * Thunderbird's readFromXML needs emailProvider with an id and a <domain>, and at least
 * one incomingServer and one outgoingServer, each with hostname, port, socketType,
 * username and authentication; the first of each is used, the others are offered as
 * alternatives. %EMAILADDRESS% is what the user typed: any of the owner's addresses
 * is a login the auth process takes. "password-cleartext" is Thunderbird's "Normal
 * password" (AUTH PLAIN, LOGIN or USER/PASS, here always inside TLS).
 */
static int
thunderbird(const struct client_conf *cc)
{
	const struct settings *cfg = cc->cfg;
	const struct servers *all[] = { &cc->pop3, &cc->smtp };
	const struct server *sv;
	size_t i, j;

	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	if (put_xml("<clientConfig version=\"1.1\">\n  <emailProvider id=\"",
	    cfg->domains.v[0], "\">\n") == -1)
		return EX_DATAERR;
	for (i = 0; i < cfg->domains.n; i++)
		if (put_xml("    <domain>", cfg->domains.v[i], "</domain>\n") == -1)
			return EX_DATAERR;
	if (put_xml("    <displayName>", cfg->domains.v[0], " (Letterbox)</displayName>\n") ==
	    -1 || put_xml("    <displayShortName>", cfg->domains.v[0],
	    "</displayShortName>\n") == -1)
		return EX_DATAERR;
	for (i = 0; i < 2; i++)
		for (j = 0; j < all[i]->n; j++) {
			sv = &all[i]->v[j];
			printf("    <%s type=\"%s\">\n", i == 0 ? "incomingServer" :
			    "outgoingServer", i == 0 ? "pop3" : "smtp");
			if (put_xml("      <hostname>", cc->host, "</hostname>\n") == -1)
				return EX_DATAERR;
			printf("      <port>%u</port>\n", sv->port);
			printf("      <socketType>%s</socketType>\n",
			    sv->implicit_tls ? "SSL" : "STARTTLS");
			printf("      <username>%%EMAILADDRESS%%</username>\n");
			printf("      <authentication>password-cleartext</authentication>\n");
			/*
			 * The owner reads on a laptop and a phone: each gets every
			 * message, and the server is emptied after two weeks (the UIDLs
			 * never change, so nothing is fetched twice).
			 */
			if (i == 0)
				printf("      <pop3>\n"
				    "        <leaveMessagesOnServer>true</leaveMessagesOnServer>\n"
				    "        <daysToLeaveMessagesOnServer>14"
				    "</daysToLeaveMessagesOnServer>\n"
				    "        <downloadOnBiff>true</downloadOnBiff>\n"
				    "      </pop3>\n");
			printf("    </%s>\n", i == 0 ? "incomingServer" : "outgoingServer");
		}
	printf("  </emailProvider>\n");
	if (put_xml("  <clientConfigUpdate url=\"https://autoconfig.", cfg->domains.v[0],
	    "/mail/config-v1.1.xml\"/>\n") == -1)
		return EX_DATAERR;
	printf("</clientConfig>\n");
	return 0;
}

/*
 * One Protocol of the Autodiscover response. SPA must be "off": its default is "on",
 * Microsoft's own NTLM logon, which Letterbox does not offer (clients.md). Encryption
 * (Outlook 2010 on; it overrides SSL) says which TLS: "SSL" is TLS from the first
 * byte, "TLS" is STARTTLS, as in Outlook's own account dialog.
 */
static int
outlook_protocol(const struct client_conf *cc, const char *type, const struct server *sv,
    const char *login)
{
	printf("      <Protocol>\n        <Type>%s</Type>\n", type);
	if (put_xml("        <Server>", cc->host, "</Server>\n") == -1)
		return -1;
	printf("        <Port>%u</Port>\n", sv->port);
	if (put_xml("        <LoginName>", login, "</LoginName>\n") == -1)
		return -1;
	printf("        <DomainRequired>off</DomainRequired>\n"
	    "        <SPA>off</SPA>\n"
	    "        <SSL>on</SSL>\n"
	    "        <Encryption>%s</Encryption>\n"
	    "        <AuthRequired>on</AuthRequired>\n", sv->implicit_tls ? "SSL" : "TLS");
	if (strcmp(type, "SMTP") == 0)
		printf("        <UsePOPAuth>on</UsePOPAuth>\n"
		    "        <SMTPLast>off</SMTPLast>\n");
	printf("      </Protocol>\n");
	return 0;
}

/*
 * Only the first (preferred) POP3 and SMTP server: Outlook sets up one of each and no
 * document says which of several of a type it takes.
 */
static int
outlook(const struct client_conf *cc, const char *login)
{
	printf("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/"
	    "responseschema/2006\">\n"
	    "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
	    "responseschema/2006a\">\n"
	    "    <Account>\n"
	    "      <AccountType>email</AccountType>\n"
	    "      <Action>settings</Action>\n");
	if (outlook_protocol(cc, "POP3", &cc->pop3.v[0], login) == -1 ||
	    outlook_protocol(cc, "SMTP", &cc->smtp.v[0], login) == -1)
		return EX_DATAERR;
	printf("    </Account>\n  </Response>\n</Autodiscover>\n");
	return 0;
}

static void
manual_servers(const char *title, const struct client_conf *cc, const struct servers *s,
    const char *listen_keys)
{
	size_t i;

	printf("%s\n", title);
	if (s->n == 0) {
		printf("  none configured (%s)\n\n", listen_keys);
		return;
	}
	printf("  server          %s\n", cc->host);
	for (i = 0; i < s->n; i++)
		printf("  port %-10u %s%s%s\n", s->v[i].port, s->v[i].implicit_tls ?
		    "SSL/TLS (TLS from the first byte)" : "STARTTLS",
		    i == 0 && s->n > 1 ? ", preferred" : "",
		    s->v[i].public ? "" : " (loopback only)");
	printf("  authentication  normal password (Thunderbird: \"Normal password\"; "
	    "Outlook: SPA off)\n\n");
}

static int
manual(const struct client_conf *cc)
{
	const struct settings *cfg = cc->cfg;
	const char *login = owner_login(cfg);
	char other[320];
	size_t i, j, shown = 0;

	printf("Mail settings for %s\n\n", cc->address);
	manual_servers("Incoming mail: POP3", cc, &cc->pop3,
	    "pop3s_listen, or pop3_listen with tls_cert");
	manual_servers("Outgoing mail: SMTP submission", cc, &cc->smtp,
	    "submissions_listen, submission_listen");
	printf("User name\n  %s\n", cc->address);
	for (i = 0; i < cfg->local_parts.n; i++)
		for (j = 0; j < cfg->domains.n; j++) {
			snprintf(other, sizeof(other), "%s@%s", cfg->local_parts.v[i],
			    cfg->domains.v[j]);
			if (strcasecmp(other, cc->address) == 0 || shown++ >= ADDRS_SHOWN)
				continue;
			printf("%s %s", shown == 1 ? "  or any other of the owner's "
			    "addresses:" : ",", other);
		}
	printf("%s%s", shown > ADDRS_SHOWN ? ", ..." : "", shown > 0 ? "\n" : "");
	if (login != NULL)
		printf("  or the account name \"%s\"\n", login);
	printf("\nPassword\n"
	    "  an app password for this device, made with\n"
	    "    letterbox passwd add DEVICE-NAME\n"
	    "  (shown once; \"letterbox passwd remove DEVICE-NAME\" revokes it).\n");
	if (login != NULL)
		printf("  The password of the account \"%s\" works too.\n", login);
	printf("Logins are only accepted inside TLS.\n");
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: letterbox client-config thunderbird [--host NAME]\n"
	    "       letterbox client-config outlook [--host NAME] [EMAIL]\n"
	    "       letterbox client-config manual [--host NAME]\n");
	return EX_USAGE;
}

int
cli_client(const struct settings *cfg, int argc, char *argv[])
{
	struct client_conf cc;
	const char *kind, *email = NULL;
	int i, rc;

	if (argc < 1)
		return usage();
	kind = argv[0];
	memset(&cc, 0, sizeof(cc));
	cc.cfg = cfg;
	cc.host = cfg->hostname;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			cc.host = argv[++i];
		else if (argv[i][0] != '-' && email == NULL && strcmp(kind, "outlook") == 0)
			email = argv[i];
		else
			return usage();
	}
	if (strcmp(kind, "thunderbird") != 0 && strcmp(kind, "outlook") != 0 &&
	    strcmp(kind, "manual") != 0)
		return usage();
	if (!valid_host(cc.host)) {
		fprintf(stderr, "letterbox: \"%.64s\" is not a host name or an IP address\n",
		    cc.host);
		return EX_USAGE;
	}
	owner_address(cfg, cc.address, sizeof(cc.address));
	if (email != NULL && !login_works(cfg, email)) {
		fprintf(stderr, "letterbox: \"%.64s\" is not one of the owner's addresses "
		    "(local_parts x domains): the server would refuse it as a login\n", email);
		return EX_USAGE;
	}
	add_servers(&cc.pop3, &cfg->pop3s_listen, true);
	if (cfg->tls_cert != NULL)	/* STLS needs a certificate */
		add_servers(&cc.pop3, &cfg->pop3_listen, false);
	add_servers(&cc.smtp, &cfg->submissions_listen, true);
	add_servers(&cc.smtp, &cfg->submission_listen, false);
	warn_loopback(&cc);
	if (strcmp(kind, "manual") == 0)
		return manual(&cc);
	if ((rc = need_both(&cc)) != 0)
		return rc;
	if (strcmp(kind, "thunderbird") == 0)
		return thunderbird(&cc);
	return outlook(&cc, email != NULL ? email : cc.address);
}
