/*
 * commands: THE SMTP command table and the dispatcher's gate (style.md §5.3).
 * Handlers never re-check what the gate checks: verb, state, argument presence.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cmdtab.h"
#include "lib/log.h"
#include "smtpd/session.h"

enum {
	CMD_ARGS_NONE	= 1 << 0,	/* no argument allowed */
	CMD_ARGS_NEEDED	= 1 << 1,	/* an argument is required */
	CMD_SYNC	= 1 << 2,	/* ends a pipelined group: flush replies (RFC 2920 §3.1) */
};

struct smtp_command {
	/* Read through the bsearch comparator, which cppcheck 2.10 does not follow. */
	/* cppcheck-suppress unusedStructMember */
	const char	*verb;
	unsigned	 states;	/* enum smtp_state bits where the verb is legal */
	unsigned	 flags;
	void		(*handler)(struct smtp_session *, char *);
	const char	*usage;		/* 501 text when the arguments are wrong */
	const char	*out_of_order;	/* 503 text in a wrong state (after HELO) */
};

#define TX	(SMTP_STATE_MAIL | SMTP_STATE_RCPT)

/* Sorted by verb: looked up with bsearch. */
static const struct smtp_command smtp_commands[] = {
	{ "AUTH", SMTP_STATE_GREETED, CMD_ARGS_NEEDED | CMD_SYNC, cmd_auth,
	    "Syntax: AUTH mechanism [initial-response]", "MAIL transaction in progress" },
	{ "DATA", TX, CMD_ARGS_NONE | CMD_SYNC, cmd_data,
	    "Syntax: DATA", "need MAIL command" },
	{ "EHLO", SMTP_STATE_ANY, CMD_ARGS_NEEDED | CMD_SYNC, cmd_ehlo,
	    "Syntax: EHLO hostname", NULL },
	{ "EXPN", SMTP_STATE_ANY, CMD_ARGS_NEEDED | CMD_SYNC, cmd_expn,
	    "Syntax: EXPN list", NULL },
	{ "HELO", SMTP_STATE_ANY, CMD_ARGS_NEEDED | CMD_SYNC, cmd_helo,
	    "Syntax: HELO hostname", NULL },
	{ "HELP", SMTP_STATE_ANY, 0, cmd_help, NULL, NULL },
	{ "MAIL", SMTP_STATE_GREETED, CMD_ARGS_NEEDED, cmd_mail,
	    "Syntax: MAIL FROM:<address>", "nested MAIL command" },
	{ "NOOP", SMTP_STATE_ANY, CMD_SYNC, cmd_noop, NULL, NULL },
	{ "QUIT", SMTP_STATE_ANY, CMD_ARGS_NONE | CMD_SYNC, cmd_quit, "Syntax: QUIT", NULL },
	{ "RCPT", TX, CMD_ARGS_NEEDED, cmd_rcpt,
	    "Syntax: RCPT TO:<address>", "need MAIL command" },
	{ "RSET", SMTP_STATE_ANY, CMD_ARGS_NONE, cmd_rset, "Syntax: RSET", NULL },
	{ "STARTTLS", SMTP_STATE_GREETED, CMD_ARGS_NONE | CMD_SYNC, cmd_starttls,
	    "Syntax: STARTTLS", "STARTTLS not allowed during a mail transaction" },
	{ "VRFY", SMTP_STATE_ANY, CMD_ARGS_NEEDED | CMD_SYNC, cmd_vrfy,
	    "Syntax: VRFY address", NULL },
};

void
smtp_command(struct smtp_session *s, char *line)
{
	const struct smtp_command *cmd;
	char esc[64];
	char *args;
	size_t vlen;

	cmd = cmdtab_find(smtp_commands, sizeof(smtp_commands) / sizeof(smtp_commands[0]),
	    sizeof(smtp_commands[0]), line, &vlen, &args);
	/* RFC 5321 §4.1.1: one SP between verb and argument; we tolerate more. */
	while (*args == ' ')
		args++;
	/* 1. Unknown verb: RFC 5321 §4.2.4, 500 for an unrecognized command. */
	if (cmd == NULL && cmdtab_foreign_verb(line, vlen)) {
		log_info("client=%s closing: non-SMTP command \"%s\"", s->peer_ip,
		    log_escape(esc, sizeof(esc), line, vlen));
		smtp_reply(s, "221 2.7.0 Error: not an SMTP command, closing connection");
		s->quit = true;
		return;
	}
	if (cmd == NULL) {
		log_debug("unknown command \"%s\"", log_escape(esc, sizeof(esc), line, vlen));
		smtp_reply(s, "500 5.5.1 Error: command not recognized");
		smtp_bad_command(s);
		return;
	}
	/* 2. Wrong state: RFC 5321 §4.1.4 orders the commands; 503 "bad sequence". */
	if (!(cmd->states & s->state)) {
		if (s->state == SMTP_STATE_CONNECTED)
			smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		else
			smtp_replyf(s, "503 5.5.1 Error: %s", cmd->out_of_order ?
			    cmd->out_of_order : "bad sequence of commands");
		smtp_bad_command(s);
		return;
	}
	/* 3-4. TLS and AUTH requirements: cmd_auth.c and cmd_mail (RFC 3207 §4, 4954 §6). */
	/* 5. Argument presence: RFC 5321 §4.2.2, 501 "syntax error in parameters". */
	if (((cmd->flags & CMD_ARGS_NONE) && *args != '\0') ||
	    ((cmd->flags & CMD_ARGS_NEEDED) && *args == '\0')) {
		smtp_replyf(s, "501 5.5.4 %s", cmd->usage);
		smtp_bad_command(s);
		return;
	}
	cmd->handler(s, args);
	/* RFC 2920 §3.1: these end a group, so their replies go out now. */
	if ((cmd->flags & CMD_SYNC) && !s->quit && conn_flush(&s->conn,
	    (int)s->srv->cfg->idle_timeout * 1000) == -1)
		s->quit = true;
}
