/*
 * helper: start, restart and stop a daemon's helper processes (see helper.h).
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/helper.h"
#include "lib/listener.h"
#include "lib/log.h"
#include "lib/reload.h"
#include "lib/util.h"

pid_t
helper_fork(const int *close_fds, size_t nclose, sigset_t *mask_out)
{
	sigset_t stop;
	pid_t pid, parent = getpid();
	size_t i;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, mask_out);
	if ((pid = fork()) != 0) {
		sigprocmask(SIG_SETMASK, mask_out, NULL);
		return pid;
	}
	/*
	 * The daemon died without stopping us (kill -9, a crash): go at once. Not SIGTERM,
	 * which stays blocked outside the helper's ppoll(): an indexer waiting inside
	 * Berkeley DB for a lock would linger, holding the index, while the restarted
	 * daemon's indexer waits for it. Everything a helper writes is crash-safe.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(0);
	for (i = 0; i < nclose; i++)
		close(close_fds[i]);
	listener_forget();
	reload_forget();	/* no helper may ask the root opener for the key */
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	return 0;
}

void
helper_init(struct helper *h, const char *name, pid_t (*start)(void *), void *arg)
{
	h->name = name;
	h->start = start;
	h->arg = arg;
	h->pid = -1;
	h->window_start = 0;
	h->deaths = 0;
}

void
helper_spawn(struct helper *h)
{
	if ((h->pid = h->start(h->arg)) == -1)
		log_warn("cannot start the %s", h->name);
}

bool
helper_reaped(struct helper *h, pid_t pid, int status)
{
	int64_t now = util_now_ms();

	if (pid != h->pid || pid <= 0)
		return false;
	h->pid = -1;
	if (now - h->window_start > 60000) {
		h->window_start = now;
		h->deaths = 0;
	}
	if (++h->deaths <= HELPER_RESPAWN_MAX) {
		log_warnx("%s exited (status %#x); restarting", h->name, status);
		helper_spawn(h);
	} else
		log_warnx("%s exited (status %#x) %d times in a minute; retrying in a minute",
		    h->name, status, h->deaths);
	return true;
}

void
helper_tick(struct helper *h)
{
	if (h->pid <= 0 && h->start != NULL)
		helper_spawn(h);
}

void
helper_stop(struct helper *h)
{
	if (h->pid <= 0)	/* never started (0: a zeroed struct) or not running */
		return;
	kill(h->pid, SIGTERM);
	waitpid(h->pid, NULL, 0);
	h->pid = -1;
}
