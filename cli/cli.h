/*
 * cli: the `letterbox` administration command. Each subcommand group is a file.
 * Exit codes (sysexits.h): 0 done, 1 found a problem (verify), 64 usage, 65 bad
 * data, 69 unavailable (in use), 70 internal, 78 configuration.
 */
#ifndef LB_CLI_H
#define LB_CLI_H

#include <sys/types.h>

#include "dkim/dkim.h"
#include "lib/settings.h"

/*
 * Open state_dir (creating it for the owner), become the owner ("user") when root,
 * and make state_dir the working directory. 0, or an exit code.
 */
int	cli_become_owner(const struct settings *cfg);
/* The owner's uid and gid when root with "user" set, else -1s. 0, or an exit code. */
int	cli_owner_ids(const struct settings *cfg, uid_t *uid, gid_t *gid);

/* "letterbox queue list | flush [ID] | delete ID" */
int	cli_queue(const struct settings *cfg, int argc, char *argv[]);
/* "letterbox index verify|sync|rebuild|dump" */
int	cli_index(const struct settings *cfg, int argc, char *argv[]);
/* "letterbox passwd add|remove NAME | list" */
int	cli_passwd(const struct settings *cfg, int argc, char *argv[]);
/* "letterbox dkim keygen | show" */
int	cli_dkim(const struct settings *cfg, int argc, char *argv[]);
/* The zone file line publishing DKIM key record rec (cmd_dkim.c). */
void	cli_dkim_print_record(const struct settings *cfg, enum dkim_alg alg, const char *rec);
/*
 * "letterbox [-f FILE] check [--no-dns] [--no-relay-test] [--relay-to ADDR]": loads
 * the configuration itself (a bad one is a failed check). 0 all ok, 1 warnings, 2
 * failures, 64 usage.
 */
int	cli_check(const char *config, int argc, char *argv[]);
/* "letterbox client-config thunderbird | outlook [EMAIL] | manual [--host NAME]" */
int	cli_client(const struct settings *cfg, int argc, char *argv[]);

#endif
