/*
 * authd: the authentication process (see auth.h).
 *
 * Its loop waits on the request socket, on the pipes of its workers and on the time
 * of the next throttled attempt. Nothing in it blocks: PAM and argon2id run in the
 * workers, and a reply goes on a non-blocking socket that only its session reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/auth.h"
#include "auth/throttle.h"
#include "lib/fdpass.h"
#include "lib/helper.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define AUTHD_WORKERS		4	/* checks at once; argon2id takes 64 MiB each */
#define AUTHD_PENDING		256	/* waiting attempts; beyond: try again later */
#define AUTHD_PENDING_PER_ADDR	2	/* waiting attempts of one client address */
#define AUTHD_WORKER_MS		30000	/* a check that takes longer is killed */
#define AUTHD_ADDRS		4096	/* client addresses remembered by the throttle */
#define AUTHD_THROTTLE_FILE	"auth-throttle"	/* in state_dir, shared by both daemons */
/*
 * A failure is answered after this (plus up to AUTHD_FAIL_JITTER_MS): PAM's usual
 * delay, kept here on a timer instead of in pam_unix, where it would hold a worker
 * for its length and answer an unknown user faster than a wrong password.
 */
#define AUTHD_FAIL_DELAY_MS	2000
#define AUTHD_FAIL_JITTER_MS	500

struct pending {
	struct auth_request	 req;
	char			 addr[64];	/* the throttle's key for req.ip */
	unsigned char		 cred[THROTTLE_CRED_LEN];
	int			 reply_fd;
	int64_t			 at_ms;		/* not before */
};

struct worker {
	pid_t		pid;		/* 0 = free */
	int		pipe;
	int64_t		deadline_ms;
	struct pending	p;		/* its request, password already wiped */
};

/* A failure verdict waiting for its time. */
struct late_reply {
	int		fd;
	int64_t		due_ms;
	char		addr[64];
};

static struct auth_policy policy;
static struct late_reply late[AUTHD_PENDING];
static size_t nlate;
static struct throttle *throttle;
static struct pending pending[AUTHD_PENDING];
static size_t npending;
static struct worker workers[AUTHD_WORKERS];
static unsigned char cred_key[crypto_generichash_KEYBYTES];

static void
authd_reply(int fd, enum auth_result r, const char *method)
{
	struct auth_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.result = (int32_t)r;
	snprintf(rep.method, sizeof(rep.method), "%s", method);
	/* The session may have given up; its socket is then gone, which is fine. */
	(void)send(fd, &rep, sizeof(rep), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* One line per attempt: what fail2ban (issue 7) and the owner read. Never the password. */
static void authd_addr_key(const char *, char *, size_t);

static void
authd_log(const struct auth_request *q, enum auth_result r, const char *method)
{
	static const char *const words[] = { "ok", "fail", "tempfail", "throttled" };
	char user[96], why[128], key[64];

	authd_addr_key(q->ip, key, sizeof(key));
	log_escape(user, sizeof(user), q->user, strlen(q->user));
	log_escape(why, sizeof(why), method, strlen(method));
	log_info("auth result=%s service=%s mech=%s user=\"%s\" client=%s via=\"%s\" "
	    "session=%s failures=%u", words[r], q->service, q->mech, user, q->ip, why,
	    q->session, throttle_failures(throttle, key, util_now_ms()));
}

/* A keyed hash of user and password: lets the throttle spot a repeat, reveals nothing. */
static void
authd_cred_hash(const struct auth_request *q, unsigned char out[THROTTLE_CRED_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, cred_key, sizeof(cred_key), THROTTLE_CRED_LEN);
	crypto_generichash_update(&st, (const unsigned char *)q->user, strlen(q->user) + 1);
	crypto_generichash_update(&st, (const unsigned char *)q->pass, strlen(q->pass));
	crypto_generichash_final(&st, out, THROTTLE_CRED_LEN);
	sodium_memzero(&st, sizeof(st));
}

/*
 * The address the throttle counts for ip: an IPv6 client is counted by its /64, since
 * one home or one server usually has a whole /64 to pick addresses from (RFC 6177);
 * an IPv4-mapped address is the IPv4 address.
 */
static void
authd_addr_key(const char *ip, char *out, size_t outsz)
{
	unsigned char a[16];

	if (strchr(ip, ':') == NULL || inet_pton(AF_INET6, ip, a) != 1) {
		snprintf(out, outsz, "%s", ip);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
		snprintf(out, outsz, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
		return;
	}
	memset(a + 8, 0, 8);
	if (inet_ntop(AF_INET6, a, out, (socklen_t)outsz) == NULL ||
	    strlen(out) + 4 >= outsz) {
		snprintf(out, outsz, "%s", ip);
		return;
	}
	strcat(out, "/64");
}

/* Attempts of addr already waiting or being checked. */
static unsigned
authd_addr_busy(const char *addr)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < npending; i++)
		n += strcmp(pending[i].addr, addr) == 0;
	for (i = 0; i < AUTHD_WORKERS; i++)
		n += workers[i].pid != 0 && strcmp(workers[i].p.addr, addr) == 0;
	for (i = 0; i < nlate; i++)
		n += strcmp(late[i].addr, addr) == 0;
	return n;
}

/* Read one request and its reply socket; answer at once or queue it. */
static void
authd_receive(int sock)
{
	struct auth_request q;
	unsigned char cred[THROTTLE_CRED_LEN];
	char addr[64];
	int64_t now = util_now_ms(), at;
	int reply_fd;
	ssize_t n;

	memset(&q, 0, sizeof(q));
	if ((n = fdpass_recv(sock, &q, sizeof(q), &reply_fd, MSG_DONTWAIT)) == -1 ||
	    reply_fd == -1)
		goto wipe;
	if (n != (ssize_t)sizeof(q) || q.magic != AUTH_REQUEST_MAGIC) {
		authd_reply(reply_fd, AUTH_TEMPFAIL, "bad request");
		goto wipe;
	}
	/* Sessions are less trusted than this process: terminate every field. */
	q.session[sizeof(q.session) - 1] = q.service[sizeof(q.service) - 1] = '\0';
	q.mech[sizeof(q.mech) - 1] = q.ip[sizeof(q.ip) - 1] = '\0';
	q.user[sizeof(q.user) - 1] = q.pass[sizeof(q.pass) - 1] = '\0';
	authd_cred_hash(&q, cred);
	authd_addr_key(q.ip, addr, sizeof(addr));
	/*
	 * One address cannot fill the queue: clients log in one connection at a time, so
	 * more waiting attempts than this are someone trying passwords in parallel.
	 */
	if (authd_addr_busy(addr) >= AUTHD_PENDING_PER_ADDR) {
		authd_log(&q, AUTH_THROTTLED, "too many attempts at once");
		authd_reply(reply_fd, AUTH_THROTTLED, "too many attempts at once");
		goto wipe;
	}
	switch (throttle_admit(throttle, addr, cred, now, &at)) {
	case THROTTLE_REFUSED:
		authd_log(&q, AUTH_THROTTLED, "too many failures");
		authd_reply(reply_fd, AUTH_THROTTLED, "too many failures");
		goto wipe;
	case THROTTLE_REPEAT:
		authd_log(&q, AUTH_FAIL, "repeat of a failed password");
		authd_reply(reply_fd, AUTH_FAIL, "repeat");
		goto wipe;
	case THROTTLE_RUN:
		break;
	}
	if (npending == AUTHD_PENDING) {
		authd_log(&q, AUTH_TEMPFAIL, "too many logins waiting");
		authd_reply(reply_fd, AUTH_TEMPFAIL, "busy");
		goto wipe;
	}
	pending[npending].req = q;
	snprintf(pending[npending].addr, sizeof(pending[npending].addr), "%s", addr);
	memcpy(pending[npending].cred, cred, sizeof(cred));
	pending[npending].reply_fd = reply_fd;
	pending[npending].at_ms = at;
	npending++;
wipe:
	sodium_memzero(&q, sizeof(q));
}

static void __attribute__((noreturn))
authd_worker_main(struct pending *p, int out)
{
	struct auth_reply rep;
	char ip[64];

	memset(&rep, 0, sizeof(rep));
	snprintf(ip, sizeof(ip), "%s", p->req.ip);
	rep.result = (int32_t)auth_verify(&policy, p->req.user, p->req.pass, ip,
	    rep.method, sizeof(rep.method));
	sodium_memzero(p->req.pass, sizeof(p->req.pass));
	(void)!write(out, &rep, sizeof(rep));
	_exit(0);
}

/* Start a worker for pending[i]; the password leaves this process's memory. */
static void
authd_dispatch(size_t i, int sock)
{
	struct worker *w = NULL;
	int fds[2];
	size_t k;

	for (k = 0; k < AUTHD_WORKERS; k++)
		if (workers[k].pid == 0) {
			w = &workers[k];
			break;
		}
	if (w == NULL)
		return;
	w->p = pending[i];
	memmove(&pending[i], &pending[i + 1], (npending - i - 1) * sizeof(pending[0]));
	npending--;
	sodium_memzero(&pending[npending], sizeof(pending[0]));
	fds[0] = fds[1] = -1;	/* pipe2 leaves them alone when it fails */
	if (pipe2(fds, O_CLOEXEC) == -1 || (w->pid = fork()) == -1) {
		log_warn("cannot start an auth worker");
		if (fds[0] != -1) {	/* fork failed: the pipe is not needed */
			close(fds[0]);
			close(fds[1]);
		}
		authd_log(&w->p.req, AUTH_TEMPFAIL, "no worker");
		authd_reply(w->p.reply_fd, AUTH_TEMPFAIL, "no worker");
		w->pid = 0;
		goto wipe;
	}
	if (w->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		close(sock);
		authd_worker_main(&w->p, fds[1]);
	}
	close(fds[1]);
	w->pipe = fds[0];
	w->deadline_ms = util_now_ms() + AUTHD_WORKER_MS;
wipe:
	sodium_memzero(w->p.req.pass, sizeof(w->p.req.pass));
}

/* A worker answered (or died, or ran out of time: kill set). */
static void
authd_finish(struct worker *w, bool kill_it)
{
	struct auth_reply rep;
	enum auth_result r = AUTH_TEMPFAIL;

	memset(&rep, 0, sizeof(rep));
	snprintf(rep.method, sizeof(rep.method), "%s", kill_it ? "timeout" : "worker died");
	if (kill_it)
		kill(w->pid, SIGKILL);
	else if (read(w->pipe, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) &&
	    rep.result >= AUTH_OK && rep.result <= AUTH_TEMPFAIL)
		r = (enum auth_result)rep.result;
	rep.method[sizeof(rep.method) - 1] = '\0';
	waitpid(w->pid, NULL, 0);
	close(w->pipe);
	if (r == AUTH_FAIL && nlate < AUTHD_PENDING) {
		/* The throttle counts from the moment the client hears the verdict. */
		late[nlate].fd = w->p.reply_fd;
		late[nlate].due_ms = util_now_ms() + AUTHD_FAIL_DELAY_MS +
		    randombytes_uniform(AUTHD_FAIL_JITTER_MS);
		snprintf(late[nlate].addr, sizeof(late[nlate].addr), "%s", w->p.addr);
		throttle_record(throttle, w->p.addr, w->p.cred, false, late[nlate].due_ms);
		authd_log(&w->p.req, r, rep.method);
		nlate++;
	} else {
		if (r == AUTH_OK || r == AUTH_FAIL)
			throttle_record(throttle, w->p.addr, w->p.cred, r == AUTH_OK,
			    util_now_ms());
		authd_log(&w->p.req, r, rep.method);
		authd_reply(w->p.reply_fd, r, r == AUTH_OK ? rep.method : "");
	}
	memset(w, 0, sizeof(*w));
}

/* Send the failure verdicts whose time has come; the earliest one still waiting. */
static int64_t
authd_late_replies(int64_t now, int64_t wake)
{
	size_t i = 0;

	while (i < nlate) {
		if (late[i].due_ms <= now) {
			authd_reply(late[i].fd, AUTH_FAIL, "");
			late[i] = late[--nlate];
			continue;
		}
		if (late[i].due_ms < wake)
			wake = late[i].due_ms;
		i++;
	}
	return wake;
}

static void __attribute__((noreturn))
authd_main(int sock)
{
	struct pollfd pfd[1 + AUTHD_WORKERS];
	struct worker *map[1 + AUTHD_WORKERS];
	int64_t now, wake;
	size_t i, n, busy;
	int timeout;

	for (;;) {
		now = util_now_ms();
		/* Due attempts to free workers, oldest first. */
		for (i = 0; i < npending;) {
			size_t before = npending;

			if (pending[i].at_ms <= now)
				authd_dispatch(i, sock);
			if (npending == before)
				i++;
		}
		/*
		 * With every worker busy, a due attempt waits for a worker's pipe, not for
		 * its time: its time, already past, made poll's timeout 0, a busy loop for as
		 * long as the workers took (PAM's delay after a wrong password: seconds).
		 */
		for (i = 0, busy = 0; i < AUTHD_WORKERS; i++)
			busy += workers[i].pid != 0;
		wake = now + 60000;
		for (i = 0; i < npending && busy < AUTHD_WORKERS; i++)
			if (pending[i].at_ms < wake)
				wake = pending[i].at_ms;
		wake = authd_late_replies(now, wake);
		n = 0;
		pfd[n].fd = npending < AUTHD_PENDING ? sock : -1;
		pfd[n].events = POLLIN;
		map[n++] = NULL;
		for (i = 0; i < AUTHD_WORKERS; i++) {
			if (workers[i].pid == 0)
				continue;
			if (workers[i].deadline_ms < wake)
				wake = workers[i].deadline_ms;
			pfd[n].fd = workers[i].pipe;
			pfd[n].events = POLLIN;
			map[n++] = &workers[i];
		}
		timeout = wake > now ? (int)(wake - now) : 0;
		if (poll(pfd, n, timeout) == -1 && errno != EINTR)
			fatal("poll");
		/* The daemon is gone (kill -9): nobody can ask any more. */
		if (getppid() == 1)
			_exit(0);
		now = util_now_ms();
		for (i = 1; i < n; i++) {
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				authd_finish(map[i], false);
			else if (map[i]->deadline_ms <= now)
				authd_finish(map[i], true);
		}
		if (pfd[0].revents & POLLIN)
			authd_receive(sock);
	}
}

pid_t
authd_start(const struct settings *cfg, int state_fd, int req_fd, const int *close_fds,
    size_t nclose)
{
	static char account[256];
	char err[256];
	struct passwd *pw;
	sigset_t none, saved;
	pid_t pid;

	/* The owner's login is the daemon's account (it runs as the owner). */
	if (cfg->user != NULL)
		snprintf(account, sizeof(account), "%s", cfg->user);
	else if ((pw = getpwuid(getuid())) != NULL)
		snprintf(account, sizeof(account), "%s", pw->pw_name);
	else {
		log_warnx("no account name for uid %ld", (long)getuid());
		return -1;
	}
	if ((pid = helper_fork(close_fds, nclose, &saved)) != 0)
		return pid;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	log_set_session("auth");
	if (sodium_init() < 0)
		fatalx("libsodium cannot start");
	util_random(cred_key, sizeof(cred_key));
	policy.cfg = cfg;
	policy.account = account;
	policy.state_dir = ".";
	if (state_fd == -1 || fchdir(state_fd) == -1) {
		log_warnx("no state_dir %s: app passwords cannot be used", cfg->state_dir);
		policy.state_dir = "/nonexistent";
	}
	/*
	 * One table for both daemons (they share state_dir): the failures of one address
	 * on submission and on POP3 add up, instead of each port giving its own allowance.
	 */
	if (strcmp(policy.state_dir, ".") != 0 || (throttle = throttle_open_shared(AT_FDCWD,
	    AUTHD_THROTTLE_FILE, AUTHD_ADDRS, err, sizeof(err))) == NULL) {
		if (strcmp(policy.state_dir, ".") == 0)
			log_warnx("failed-login throttle: %s; counting this daemon's failures "
			    "alone", err);
		throttle = throttle_new(AUTHD_ADDRS);
	}
	authd_main(req_fd);
}
