/*
 * queue: the outbound queue's files (see queue.h for the layout and the formats).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"

#define QUEUE_STATE_MAX	(QUEUE_RCPT_MAX * (QUEUE_REPLY_MAX + 300) + 4096)

int
queue_open(struct queue *q, int root, const char *hostname, uid_t uid, gid_t gid)
{
	const char *const sub[3] = { "tmp", "msg", "state" };

	if (maildir_open_at(&q->spool, root, "queue", sub, hostname, uid, gid) == -1)
		return -1;
	q->dfd_state = q->spool.dfd_cur;
	return 0;
}

void
queue_close(struct queue *q)
{
	maildir_close(&q->spool);
	q->dfd_state = -1;
}

bool
queue_id_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= QUEUE_ID_MAX && s[0] != '.' && strchr(s, '/') == NULL;
}

/* An address or a reply must stay on its line: no controls at all. */
static bool
queue_value_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return false;
	return n > 0 && n <= max;
}

int
queue_begin(struct queue *q, struct maildir_delivery *d, const char *from,
    const char *const *rcpts, size_t n, const char *user, const char *client)
{
	struct buf b;
	size_t i;
	int r, saved;

	if (n == 0 || n > QUEUE_RCPT_MAX || (from[0] != '\0' &&
	    !queue_value_ok(from, QUEUE_ADDR_MAX)) || !queue_value_ok(user, 256) ||
	    !queue_value_ok(client, 64)) {
		errno = EINVAL;
		return -1;
	}
	buf_init(&b, QUEUE_ENVELOPE_MAX);
	buf_printf(&b, "LBQ1\ncreated %lld\nfrom %s\nuser %s\nclient %s\n",
	    (long long)time(NULL), from, user, client);
	for (i = 0; i < n; i++) {
		if (!queue_value_ok(rcpts[i], QUEUE_ADDR_MAX)) {
			buf_clear(&b);
			errno = EINVAL;
			return -1;
		}
		buf_printf(&b, "rcpt %s\n", rcpts[i]);
	}
	buf_printf(&b, "\n");
	r = maildir_delivery_begin(&q->spool, d);
	if (r == 0 && (r = maildir_delivery_write(d, buf_head(&b), buf_unread(&b))) == -1) {
		saved = errno;
		maildir_delivery_abort(&q->spool, d);
		errno = saved;
	}
	buf_clear(&b);
	return r;
}

/* The next "key value" line of text: key and value NUL-terminated in place. */
static char *
queue_next_line(char **p, char *end, char **value)
{
	char *line = *p, *nl, *sp;

	if (line >= end)
		return NULL;
	if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
		nl = end;
	*nl = '\0';
	*p = nl + 1;
	if ((sp = strchr(line, ' ')) != NULL) {
		*sp = '\0';
		*value = sp + 1;
	} else
		*value = line + strlen(line);
	return line;
}

/* A NUL-terminated copy of text to parse in place; NULL if over max. */
static char *
queue_text_copy(const char *text, size_t len, size_t max)
{
	char *copy;

	if (len > max)
		return NULL;
	copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

/* A decimal number filling all of s, at most max. */
static bool
queue_number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return *end == '\0' && errno == 0 && *out <= max;
}

int
queue_envelope_parse(const char *text, size_t len, struct queue_msg *m)
{
	char *copy, *p, *end, *key, *val;
	unsigned long long t;
	size_t cap = 0;
	int r = -1;

	if ((copy = queue_text_copy(text, len, QUEUE_ENVELOPE_MAX)) == NULL)
		return -1;
	p = copy;
	end = copy + len;
	if ((key = queue_next_line(&p, end, &val)) == NULL || strcmp(key, "LBQ1") != 0)
		goto out;
	while ((key = queue_next_line(&p, end, &val)) != NULL) {
		if (strcmp(key, "created") == 0 && queue_number(val, 1ULL << 40, &t))
			m->created = (time_t)t;
		else if (strcmp(key, "from") == 0 && m->from == NULL)
			m->from = xstrdup(val);
		else if (strcmp(key, "user") == 0 && m->user == NULL)
			m->user = xstrdup(val);
		else if (strcmp(key, "client") == 0 && m->client == NULL)
			m->client = xstrdup(val);
		else if (strcmp(key, "rcpt") == 0 && queue_value_ok(val, QUEUE_ADDR_MAX) &&
		    m->nrcpt < QUEUE_RCPT_MAX) {
			if (m->nrcpt == cap) {
				cap = cap ? cap * 2 : 8;
				m->rcpt = xreallocarray(m->rcpt, cap, sizeof(*m->rcpt));
			}
			memset(&m->rcpt[m->nrcpt], 0, sizeof(m->rcpt[0]));
			m->rcpt[m->nrcpt++].addr = xstrdup(val);
		} else
			goto out;	/* unknown, repeated or bad: not ours, or damaged */
	}
	if (m->from != NULL && m->user != NULL && m->client != NULL && m->nrcpt > 0 &&
	    m->created > 0)
		r = 0;
out:
	free(copy);
	return r;
}

static const char *const status_names[] = {
	[QR_PENDING] = "pending", [QR_DEFERRED] = "deferred", [QR_DONE] = "done",
	[QR_FAILED] = "failed",
};

const char *
queue_rcpt_status_name(enum queue_rcpt_status st)
{
	return status_names[st];
}

/* "<i> <status> <time> <dsn> <remote> <reply...>" */
static int
queue_state_rcpt(struct queue_msg *m, char *val)
{
	char *f[5], *save = NULL;
	unsigned long long i, t;
	struct queue_rcpt *r;
	size_t k;
	int st;

	for (k = 0; k < 5; k++)
		if ((f[k] = strtok_r(k == 0 ? val : NULL, " ", &save)) == NULL)
			return -1;
	if (!queue_number(f[0], m->nrcpt - 1, &i) || !queue_number(f[2], 1ULL << 40, &t))
		return -1;
	for (st = QR_DEFERRED; st <= QR_FAILED; st++)
		if (strcmp(f[1], status_names[st]) == 0)
			break;
	if (st > QR_FAILED)
		return -1;
	r = &m->rcpt[i];
	r->status = (enum queue_rcpt_status)st;
	r->last = (time_t)t;
	snprintf(r->dsn, sizeof(r->dsn), "%s", f[3]);
	snprintf(r->remote, sizeof(r->remote), "%s", strcmp(f[4], "-") == 0 ? "" : f[4]);
	snprintf(r->reply, sizeof(r->reply), "%s", save != NULL ? save : "");
	return 0;
}

int
queue_state_parse(const char *text, size_t len, struct queue_msg *m)
{
	char *copy, *p, *end, *key, *val;
	unsigned long long v;
	int r = -1;

	if ((copy = queue_text_copy(text, len, QUEUE_STATE_MAX)) == NULL)
		return -1;
	p = copy;
	end = copy + len;
	while ((key = queue_next_line(&p, end, &val)) != NULL) {
		if (strcmp(key, "attempts") == 0 && queue_number(val, 1U << 20, &v))
			m->attempts = (unsigned)v;
		else if (strcmp(key, "next") == 0 && queue_number(val, 1ULL << 40, &v))
			m->next = (time_t)v;
		else if (strcmp(key, "warned") == 0 && queue_number(val, 1, &v))
			m->warned = v == 1;
		else if (strcmp(key, "rcpt") == 0 && m->nrcpt > 0 &&
		    queue_state_rcpt(m, val) == 0)
			continue;
		else if (key[0] != '\0')
			goto out;
	}
	r = 0;
out:
	free(copy);
	return r;
}

/*
 * Read an open file from offset 0, at most max bytes, in growing chunks, stopping once
 * the bytes read hold stop (if not NULL): the envelope of a 35 MB message is a few
 * hundred bytes, and the runner reads every envelope at each scan.
 */
static char *
queue_read(int fd, size_t max, const char *stop, size_t *len)
{
	size_t n = 0, cap = 8192, want;
	char *p = NULL;
	ssize_t r;

	for (;;) {
		if (cap > max)
			cap = max;
		p = xreallocarray(p, cap + 1, 1);
		want = cap - n;
		if (want == 0)
			break;
		r = pread(fd, p + n, want, (off_t)n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(p);
			return NULL;
		}
		if (r == 0)
			break;
		/* The stop string may straddle two reads: look from just before this one. */
		if (stop != NULL && memmem(p + (n > 1 ? n - 1 : 0), n + (size_t)r -
		    (n > 1 ? n - 1 : 0), stop, strlen(stop)) != NULL) {
			n += (size_t)r;
			break;
		}
		n += (size_t)r;
		if (n == cap)
			cap *= 2;
	}
	*len = n;
	return p;
}

int
queue_msg_load(struct queue *q, const char *id, struct queue_msg *m)
{
	char *text, *blank;
	size_t len;
	int sfd;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	if ((m->fd = openat(q->spool.dfd_new, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	/* The envelope is at most QUEUE_ENVELOPE_MAX: read up to its end, no further. */
	text = queue_read(m->fd, QUEUE_ENVELOPE_MAX + 2, "\n\n", &len);
	if (text == NULL || (blank = memmem(text, len, "\n\n", 2)) == NULL ||
	    queue_envelope_parse(text, (size_t)(blank - text) + 1, m) == -1) {
		free(text);
		errno = EINVAL;
		return -1;
	}
	m->body_off = (off_t)(blank - text) + 2;
	free(text);
	m->size = lseek(m->fd, 0, SEEK_END) - m->body_off;
	m->next = m->created;
	if ((sfd = openat(q->dfd_state, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT ? 0 : -1;
	text = queue_read(sfd, QUEUE_STATE_MAX, NULL, &len);
	close(sfd);
	if (text == NULL || queue_state_parse(text, len, m) == -1) {
		free(text);
		errno = EINVAL;
		return -1;
	}
	free(text);
	return 0;
}

void
queue_msg_free(struct queue_msg *m)
{
	size_t i;

	if (m->fd != -1)
		close(m->fd);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpt[i].addr);
	free(m->rcpt);
	free(m->from);
	free(m->user);
	free(m->client);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

bool
queue_msg_finished(const struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].status != QR_DONE && m->rcpt[i].status != QR_FAILED)
			return false;
	return true;
}

/* A reply on one line, in printable ASCII: it goes into a line-based file. */
static void
queue_clean_reply(char *out, size_t outsz, const char *in)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < outsz; i++)
		out[i] = (in[i] < ' ' || in[i] > '~') ? ' ' : in[i];
	out[i] = '\0';
}

int
queue_state_save(struct queue *q, const struct queue_msg *m)
{
	char tmp[QUEUE_ID_MAX + 8], reply[QUEUE_REPLY_MAX];
	struct buf b;
	size_t i;
	int fd, saved;

	buf_init(&b, QUEUE_STATE_MAX);
	buf_printf(&b, "attempts %u\nnext %lld\nwarned %d\n", m->attempts,
	    (long long)m->next, m->warned ? 1 : 0);
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		if (r->status == QR_PENDING)
			continue;
		queue_clean_reply(reply, sizeof(reply), r->reply);
		buf_printf(&b, "rcpt %zu %s %lld %s %s %s\n", i, status_names[r->status],
		    (long long)r->last, r->dsn[0] ? r->dsn : "-",
		    r->remote[0] ? r->remote : "-", reply);
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp", m->id);
	if ((fd = openat(q->dfd_state, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		goto fail;
	if (write(fd, buf_head(&b), buf_unread(&b)) != (ssize_t)buf_unread(&b) ||
	    fdatasync(fd) == -1) {
		saved = errno ? errno : EIO;
		close(fd);
		unlinkat(q->dfd_state, tmp, 0);
		errno = saved;
		goto fail;
	}
	if (close(fd) == -1 || renameat(q->dfd_state, tmp, q->dfd_state, m->id) == -1 ||
	    fsync(q->dfd_state) == -1) {
		saved = errno;
		unlinkat(q->dfd_state, tmp, 0);
		errno = saved;
		goto fail;
	}
	buf_clear(&b);
	return 0;
fail:
	saved = errno;
	buf_clear(&b);
	errno = saved;
	return -1;
}

int
queue_remove(struct queue *q, const char *id)
{
	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* msg/ first: a message without a state file is whole; a state alone is junk. */
	if (unlinkat(q->spool.dfd_new, id, 0) == -1)
		return -1;
	if (fsync(q->spool.dfd_new) == -1)
		return -1;
	if (unlinkat(q->dfd_state, id, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
queue_ids_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
queue_list_ids(struct queue *q, char ***ids, size_t *n)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int fd;

	*ids = NULL;
	*n = 0;
	if ((fd = dup(q->spool.dfd_new)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*ids = xreallocarray(*ids, cap, sizeof(**ids));
		}
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof(**ids), queue_ids_cmp);
	return 0;
}

size_t
queue_prune_states(struct queue *q, char *const *ids, size_t n)
{
	DIR *d;
	struct dirent *de;
	size_t pruned = 0;
	int fd;

	if ((fd = dup(q->dfd_state)) == -1)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name) || (n > 0 && bsearch(&(const char *){
		    de->d_name }, ids, n, sizeof(*ids), queue_ids_cmp) != NULL))
			continue;
		/* Committed since the listing? Then its state is not junk. */
		if (faccessat(q->spool.dfd_new, de->d_name, F_OK, 0) == 0 || errno != ENOENT)
			continue;
		if (unlinkat(q->dfd_state, de->d_name, 0) == 0)
			pruned++;
	}
	closedir(d);
	return pruned;
}

void
queue_ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}
