/* login.h - client authentication exchange (cleartext, md5, SCRAM-SHA-256) against the auth
 * file, run between the StartupMessage and the pool queue. */
#ifndef PGPIN_LOGIN_H
#define PGPIN_LOGIN_H

#include "proxy.h"

/* Begin authenticating cl. Returns true when no exchange is needed (trust): the caller goes on.
 * Otherwise the first request is sent (or the client failed) and false is returned. */
bool login_start(Client *cl);

/* One whole frontend message while authenticating. Returns true when the client has just
 * proved who it is; false when more is needed or the client was failed (cl->state says). */
bool login_message(Client *cl, uint8_t type, const uint8_t *body, uint32_t len);

/* Free the exchange state (after success, or with the client). NULL-safe. */
void login_free(Client *cl);

#endif
