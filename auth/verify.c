/*
 * verify: app passwords, then PAM (see verify.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <security/pam_appl.h>

#include "auth/apppass.h"
#include "auth/verify.h"
#include "lib/log.h"
#include "lib/util.h"

bool
auth_login_is_owner(const struct auth_policy *p, const char *login)
{
	const struct settings *cfg = p->cfg;
	const char *at = strrchr(login, '@');
	size_t i, j, lplen;

	if (strcmp(login, p->account) == 0)
		return true;
	if (at == NULL)
		return false;
	lplen = (size_t)(at - login);
	for (i = 0; i < cfg->local_parts.n; i++) {
		if (strlen(cfg->local_parts.v[i]) != lplen ||
		    strncasecmp(cfg->local_parts.v[i], login, lplen) != 0)
			continue;
		for (j = 0; j < cfg->domains.n; j++)
			if (util_ascii_ieq(cfg->domains.v[j], at + 1))
				return true;
	}
	return false;
}

struct pam_creds {
	const char	*user;
	const char	*pass;
};

/*
 * The PAM conversation: the password for a hidden prompt, the user name for a visible
 * one; messages are ignored. Replies are malloc'ed: PAM frees (and pam_unix wipes) them.
 */
static int
pam_conv_fn(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
	const struct pam_creds *c = arg;
	struct pam_response *r;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		const char *answer = NULL;

		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF: answer = c->pass; break;
		case PAM_PROMPT_ECHO_ON: answer = c->user; break;
		default: break;
		}
		if (answer != NULL && (r[i].resp = strdup(answer)) == NULL) {
			while (--i >= 0)
				free(r[i].resp);
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/*
 * PAM_FAIL_DELAY: pam_unix asks libpam to sleep ~2 s after a wrong password. The auth
 * process delays every failure itself, on a timer (authd.c), so a worker is not held
 * for it and an unknown user is not answered faster than a wrong password.
 */
static void
pam_no_delay(int retval, unsigned usec, void *arg)
{
	(void)retval;
	(void)usec;
	(void)arg;
}

static enum auth_result
auth_pam(const struct auth_policy *p, const char *pass, const char *ip, char *method,
    size_t msz)
{
	struct pam_creds creds = { p->account, pass };
	struct pam_conv conv = { pam_conv_fn, &creds };
	pam_handle_t *h = NULL;
	int r;

	if ((r = pam_start(p->cfg->pam_service, p->account, &conv, &h)) != PAM_SUCCESS) {
		snprintf(method, msz, "pam_start: %s", pam_strerror(NULL, r));
		return AUTH_TEMPFAIL;
	}
	pam_set_item(h, PAM_RHOST, ip);
	pam_set_item(h, PAM_FAIL_DELAY, (const void *)(uintptr_t)pam_no_delay);
	if ((r = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK)) ==
	    PAM_SUCCESS)
		r = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	snprintf(method, msz, "pam%s%s", r == PAM_SUCCESS ? "" : ": ",
	    r == PAM_SUCCESS ? "" : pam_strerror(h, r));
	pam_end(h, r);
	switch (r) {
	case PAM_SUCCESS:
		return AUTH_OK;
	case PAM_AUTHINFO_UNAVAIL:
	case PAM_SYSTEM_ERR:
	case PAM_BUF_ERR:
	case PAM_CONV_ERR:
	case PAM_ABORT:
	case PAM_SERVICE_ERR:
	case PAM_TRY_AGAIN:
		return AUTH_TEMPFAIL;
	default:
		return AUTH_FAIL;	/* wrong password, expired account, ... */
	}
}

enum auth_result
auth_verify(const struct auth_policy *p, const char *login, const char *pass,
    const char *ip, char *method_out, size_t msz)
{
	char device[APPPASS_NAME_MAX + 1];
	int r;

	if (!auth_login_is_owner(p, login)) {
		snprintf(method_out, msz, "unknown user");
		return AUTH_FAIL;
	}
	if (pass[0] == '\0') {
		snprintf(method_out, msz, "empty password");
		return AUTH_FAIL;
	}
	if ((r = apppass_verify(p->state_dir, pass, device)) == 1) {
		snprintf(method_out, msz, "app:%s", device);
		return AUTH_OK;
	}
	if (r == -1)	/* the store is unreadable: PAM can still say yes */
		log_warnx("app passwords in %s cannot be read; trying PAM", p->cfg->state_dir);
	return auth_pam(p, pass, ip, method_out, msz);
}
