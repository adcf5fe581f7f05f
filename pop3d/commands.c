/*
 * commands: THE POP3 command table and the dispatcher's gate (style.md §5.3).
 * Handlers never re-check what the gate checks: verb, state, TLS, argument presence.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cmdtab.h"
#include "lib/log.h"
#include "pop3d/session.h"

enum {
	CMD_ARGS_NONE	= 1 << 0,	/* no argument allowed */
	CMD_ARGS_NEEDED	= 1 << 1,	/* an argument is required */
	CMD_LOGIN	= 1 << 2,	/* carries a password: only where logins are allowed */
	CMD_RAW		= 1 << 3,	/* the argument as sent (PASS: spaces are part of it) */
};

struct pop3_command {
	/* Read through the bsearch comparator, which cppcheck 2.10 does not follow. */
	/* cppcheck-suppress unusedStructMember */
	const char	*verb;
	unsigned	 states;
	unsigned	 flags;
	void		(*handler)(struct pop3_session *, char *);
};

#define AUTHZ	POP3_AUTHORIZATION
#define TRANS	POP3_TRANSACTION

/* Sorted by verb: looked up with bsearch. */
static const struct pop3_command pop3_commands[] = {
	{ "APOP", AUTHZ,		CMD_ARGS_NEEDED,		cmd_apop },
	{ "AUTH", AUTHZ,		CMD_LOGIN,			cmd_auth },
	{ "CAPA", AUTHZ | TRANS,	CMD_ARGS_NONE,			cmd_capa },
	{ "DELE", TRANS,		CMD_ARGS_NEEDED,		cmd_dele },
	{ "LIST", TRANS,		0,				cmd_list },
	{ "NOOP", AUTHZ | TRANS,	CMD_ARGS_NONE,			cmd_noop },
	{ "PASS", AUTHZ,		CMD_ARGS_NEEDED | CMD_LOGIN | CMD_RAW, cmd_pass },
	{ "QUIT", AUTHZ | TRANS,	CMD_ARGS_NONE,			cmd_quit },
	{ "RETR", TRANS,		CMD_ARGS_NEEDED,		cmd_retr },
	{ "RSET", TRANS,		CMD_ARGS_NONE,			cmd_rset },
	{ "STAT", TRANS,		CMD_ARGS_NONE,			cmd_stat },
	{ "STLS", AUTHZ,		CMD_ARGS_NONE,			cmd_stls },
	{ "TOP",  TRANS,		CMD_ARGS_NEEDED,		cmd_top },
	{ "UIDL", TRANS,		0,				cmd_uidl },
	{ "USER", AUTHZ,		CMD_ARGS_NEEDED | CMD_LOGIN,	cmd_user },
};

void
pop3_command(struct pop3_session *s, char *line, size_t len)
{
	const struct pop3_command *cmd;
	char esc[64];
	char *args;
	size_t vlen;

	cmd = cmdtab_find(pop3_commands, sizeof(pop3_commands) / sizeof(pop3_commands[0]),
	    sizeof(pop3_commands[0]), line, &vlen, &args);
	/* Only the verb is ever logged: the arguments may be a password. */
	if (cmd == NULL && cmdtab_foreign_verb(line, vlen)) {
		log_info("client=%s closing: non-POP3 command \"%s\"", s->peer_ip,
		    log_escape(esc, sizeof(esc), line, vlen));
		pop3_reply(s, "-ERR Not a POP3 command, closing connection.");
		s->quit = true;
		return;
	}
	if (cmd == NULL) {
		log_debug("unknown command \"%s\"", log_escape(esc, sizeof(esc), line,
		    vlen < len ? vlen : len));
		pop3_reply(s, "-ERR Unknown command.");
		pop3_bad_command(s);
		return;
	}
	if (!(cmd->states & s->state)) {
		pop3_reply(s, s->state == POP3_AUTHORIZATION ?
		    "-ERR Log in first." : "-ERR Already logged in.");
		pop3_bad_command(s);
		return;
	}
	if ((cmd->flags & CMD_LOGIN) && !pop3_login_allowed(s)) {
		/* RFC 3206 §4 [AUTH]; the same words as Dovecot, which clients know. */
		pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure "
		    "(SSL/TLS) connections.");
		pop3_bad_command(s);
		return;
	}
	if (!(cmd->flags & CMD_RAW))
		while (*args == ' ')	/* RFC 1939 §3: one space; more is tolerated */
			args++;
	if (((cmd->flags & CMD_ARGS_NONE) && *args != '\0') ||
	    ((cmd->flags & CMD_ARGS_NEEDED) && *args == '\0')) {
		pop3_reply(s, "-ERR Invalid arguments.");
		pop3_bad_command(s);
		return;
	}
	cmd->handler(s, args);
}
