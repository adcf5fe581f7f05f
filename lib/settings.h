/*
 * settings: the keys of etc/letterbox.conf, their defaults and bounds, and the
 * cross-field checks. Parsed once in the parent; const everywhere after.
 */
#ifndef LB_SETTINGS_H
#define LB_SETTINGS_H

#include "lib/conf.h"

struct settings {
	char			*hostname;		/* our name in the banner and Received: */
	struct conf_list	 domains;		/* the owner's domains */
	struct conf_list	 local_parts;		/* the owner's local parts */
	char			*subaddress_delimiters;	/* "+": alice+tag@ is alice@ */
	char			*maildir;
	int			 index;			/* keep the Berkeley DB index */
	char			*index_dir;		/* default <maildir>/letterbox-index */
	unsigned long long	 index_resync;		/* seconds between idle resyncs */
	char			*user;			/* drop to this user after binding */
	struct conf_list	 smtp_listen;		/* MX: plain, STARTTLS offered */
	struct conf_list	 smtps_listen;		/* MX over implicit TLS */
	struct conf_list	 submission_listen;	/* 587: STARTTLS, then AUTH (RFC 6409) */
	struct conf_list	 submissions_listen;	/* 465: implicit TLS, AUTH (RFC 8314) */
	struct conf_list	 pop3_listen;		/* POP3: plain, STLS offered */
	struct conf_list	 pop3s_listen;		/* POP3 over implicit TLS (995) */
	unsigned long long	 pop3_idle_timeout;	/* RFC 1939 §3: at least 10 minutes */
	unsigned long long	 pop3_session_timeout;
	int			 plaintext_auth_loopback; /* logins without TLS from loopback */
	char			*pam_service;		/* /etc/pam.d/<this> */
	char			*state_dir;		/* app passwords */
	char			*tls_cert;
	char			*tls_key;
	int			 tls_session_tickets;	/* RFC 5077 / 8446 tickets issued */
	unsigned long long	 tls_check_interval;	/* seconds between looks at the files; 0: never */
	unsigned long long	 max_message_size;
	unsigned long long	 max_recipients;
	unsigned long long	 max_sessions;
	unsigned long long	 max_sessions_per_ip;
	unsigned long long	 max_bad_commands;
	unsigned long long	 max_hops;
	unsigned long long	 idle_timeout;		/* seconds waiting for a command */
	unsigned long long	 data_timeout;		/* seconds waiting for DATA bytes */
	unsigned long long	 session_timeout;	/* seconds for the whole session */
	unsigned long long	 tmp_max_age;		/* seconds before a tmp/ file is stale */

	/* Outbound: the queue (<state_dir>/queue) and its delivery. */
	char			*dns_resolver;		/* "127.0.0.1:53"; NULL: resolv.conf */
	unsigned long long	 mx_port;		/* remote MX port: 25 (tests change it) */
	char			*smarthost;		/* "host:port"; NULL: deliver to MX */
	char			*smarthost_tls;		/* starttls | implicit | none */
	char			*smarthost_user;	/* AUTH as this; NULL: no AUTH */
	char			*smarthost_password_file; /* read before the privilege drop */
	int			 smarthost_verify;	/* check the smarthost's certificate */
	char			*tls_ca_file;		/* trust anchors; NULL: the system's */
	unsigned long long	 queue_concurrency;	/* delivery processes at once */
	unsigned long long	 retry_initial;		/* first retry after this, then doubled */
	unsigned long long	 retry_max;		/* the retry interval's ceiling */
	unsigned long long	 queue_lifetime;	/* give up (bounce) after this */
	unsigned long long	 delay_warning;		/* warn the sender after this; 0: never */
	unsigned long long	 connect_timeout;	/* outbound connect + greeting */
	unsigned long long	 command_timeout;	/* outbound: each reply */

	/* DKIM (RFC 6376, 8463): sign every outbound message with each key there is. */
	char			*dkim_domain;		/* d=; default: the first of domains */
	char			*dkim_selector;		/* s= */
	char			*dkim_ed25519_key;	/* PEM; default <state_dir>/dkim/<s>.ed25519.pem */
	char			*dkim_rsa_key;		/* PEM; default <state_dir>/dkim/<s>.rsa.pem */

	/* `letterbox check`: the address the world reaches hostname at; NULL: its A/AAAA. */
	char			*public_address;
};

/* Load path into s (defaults first). -1 with "file:line: why" in err. */
int	settings_load(struct settings *s, const char *path, char *err, size_t errsz);
/* The same from a buffer (tests and fuzzing). */
int	settings_parse(struct settings *s, const char *text, size_t len, const char *name,
	    char *err, size_t errsz);
/* Whether key (a name from the table) has the same value in a and b (a reload). */
int	settings_key_same(const struct settings *a, const struct settings *b, const char *key);
/* Exchange key's values between a and b (a reload keeping what needs a restart). */
void	settings_key_swap(struct settings *a, struct settings *b, const char *key);
void	settings_free(struct settings *s);

#endif
