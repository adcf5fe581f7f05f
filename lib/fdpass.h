/*
 * fdpass: one message with at most one file descriptor attached (SCM_RIGHTS), over a
 * Unix socket. The listener hands connections to session processes with it, and a
 * session hands the auth process the socket its answer goes to.
 */
#ifndef LB_FDPASS_H
#define LB_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Send len bytes of p with fd attached (fd -1: none). The bytes sent, or -1. */
ssize_t	fdpass_send(int sock, const void *p, size_t len, int fd, int flags);
/*
 * Receive one message into p (at most len bytes); *fd gets the attached descriptor
 * (close-on-exec) or -1. Retries on EINTR. The bytes received (0: EOF), or -1. A
 * truncated message or a truncated descriptor list is an error (EMSGSIZE), and any
 * descriptor that came with it is closed.
 */
ssize_t	fdpass_recv(int sock, void *p, size_t len, int *fd, int flags);

#endif
