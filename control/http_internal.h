/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the HTTP server (control/http.c) for its tests and fuzz
 * target: not part of the public interface.
 */
#ifndef SLUICE_HTTP_INTERNAL_H
#define SLUICE_HTTP_INTERNAL_H

#include <sluice/http.h>

/*
 * Serve fd, a connected stream socket of any family (a socketpair end in
 * the fuzz target), exactly as if the listener had accepted it: the fd is
 * consumed (made non-blocking, closed by the server). Past connections_max
 * it is answered 503 and closed like an accepted one. 0, or -errno with fd
 * closed.
 */
int sl_http_server_adopt(struct sl_http_server *s, int fd);

#endif /* SLUICE_HTTP_INTERNAL_H */
