/*
 * verify: is this the owner, with a right password? Runs in a short-lived worker
 * process of the auth process, so PAM's deliberate delays and argon2id's memory
 * stall no one else.
 */
#ifndef LB_AUTH_VERIFY_H
#define LB_AUTH_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/settings.h"

enum auth_result {
	AUTH_OK		= 0,
	AUTH_FAIL	= 1,	/* wrong user or password */
	AUTH_TEMPFAIL	= 2,	/* could not check now (PAM or the store failed) */
	AUTH_THROTTLED	= 3,	/* too many failures from this address: later */
};

/* What the worker needs; set up once in the auth process. */
struct auth_policy {
	const struct settings	*cfg;
	const char		*account;	/* the owner's login: PAM's user */
	const char		*state_dir;	/* the app-password store's directory */
};

/*
 * The login names that mean the owner: the account itself and the owner's addresses
 * (local_parts x domains, case-insensitive), which is what mail clients offer as the
 * user name by default.
 */
bool	auth_login_is_owner(const struct auth_policy *p, const char *login);

/*
 * Check login/pass: an app password first (only if pass has their shape), then PAM
 * (service cfg->pam_service, user p->account, PAM_RHOST = ip). method_out gets "pam"
 * or "app:<device>" on success, a reason otherwise (for the log; never the password).
 */
enum auth_result auth_verify(const struct auth_policy *p, const char *login,
	    const char *pass, const char *ip, char *method_out, size_t msz);

#endif
