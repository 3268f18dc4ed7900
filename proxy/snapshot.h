/* snapshot.h - a consistent-enough picture of every worker's pools, clients and servers, for
 * the admin console and /metrics, without a lock on the data path.
 *
 * Only a worker may read its own objects. The origin worker posts MSG_SNAPSHOT to every worker
 * (itself included, through its queue like the others); each fills its own part and decrements
 * `pending`; the one that brings it to zero posts MSG_SNAPSHOT_DONE to the origin, which reads
 * the server budgets (thread-safe), runs `done` and frees the snapshot. Whoever the answer is for
 * is named by value (arg/id), never by a pointer to a Client that may be gone meanwhile. */
#ifndef PGPIN_SNAPSHOT_H
#define PGPIN_SNAPSHOT_H

#include "budget.h"
#include "proxy.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* What to collect (bits of Snapshot.what); pools and client counts are always collected. */
#define SNAP_CLIENTS 1u
#define SNAP_SERVERS 2u

typedef struct SnapPool {
    char *dbname, *user; /* owned (NULL only when out of memory) */
    Budget *budget;      /* the server it leads to (budgets live as long as the process) */
    const char *mode;    /* effective pool mode (static text) */
    bool paused;
    int size;
    int cl_active, cl_waiting, cl_held; /* held: active, stopped at a boundary by PAUSE */
    int sv_active, sv_idle, sv_connecting, sv_syncing, sv_resetting;
    double max_wait; /* seconds the oldest waiter has waited; 0 when none waits */
    PoolStats stats;
} SnapPool;

typedef struct SnapClient {
    char tag[16];
    int worker;
    char *user, *dbname, *app; /* owned; NULL while unknown (before startup) */
    const char *state;         /* login, waiting, active, held, idle, admin, closing */
    char addr[46];
    int port;
    double connect_time; /* wall clock (seconds since the epoch) */
    double wait;         /* seconds waited so far when waiting, else 0 */
    char server[16];     /* linked server's tag, "" when none */
    const char *pinned;  /* why it holds its server: "session", or auto mode's pin reason */
    bool tls;
} SnapClient;

typedef struct SnapServer {
    char tag[16];
    int worker;
    char *dbname, *user; /* owned: the pool's (client-facing) names */
    const char *server;  /* "host:port" of its budget (lives as long as the process) */
    const char *state;   /* connecting, idle, syncing, active, resetting */
    int backend_pid;
    char client[16]; /* linked client's tag, "" when none */
    double connect_time;
    bool tls;
} SnapServer;

/* One worker's answer; written only by that worker. */
typedef struct SnapPart {
    SnapPool *pools;
    int npools;
    SnapClient *clients;
    int nclients;
    SnapServer *servers;
    int nservers;
    int cl_login, cl_waiting, cl_active, cl_held, cl_admin; /* all its clients, by state */
    int cl_idle; /* auto mode, between transactions: no server */
    bool oom;    /* the part is incomplete */
} SnapPart;

typedef struct SnapBudget {
    Budget *budget;
    BudgetInfo info;
} SnapBudget;

typedef struct Snapshot Snapshot;
/* Runs on the origin's thread once every worker answered; the snapshot is freed after. */
typedef void (*SnapDoneFn)(Proxy *origin, Snapshot *s);

struct Snapshot {
    atomic_int pending; /* workers yet to fill their part */
    unsigned what;      /* SNAP_* bits */
    Proxy *origin;
    SnapDoneFn done;
    void *arg;           /* for done (opaque) */
    uint64_t id;         /* for done (opaque) */
    Msg *done_msg;       /* MSG_SNAPSHOT_DONE, allocated up front; NULL once posted */
    SnapBudget *budgets; /* every server's budget, read on the origin before done */
    int nbudgets;
    int nparts;
    SnapPart parts[]; /* indexed by worker */
};

/* Ask every worker of origin's root for its part; done(origin, s) runs later on origin's
 * thread. False when out of memory (nothing was posted). */
bool snapshot_request(Proxy *origin, unsigned what, SnapDoneFn done, void *arg, uint64_t id);
/* MSG_SNAPSHOT on worker w: fill w's part, post DONE when it was the last. */
void snapshot_fill(Proxy *w, Snapshot *s);
/* MSG_SNAPSHOT_DONE on the origin: read the budgets, run done, free s. */
void snapshot_finish(Proxy *origin, Snapshot *s);
/* A snapshot message freed without being handled (a worker stopped): the last reference frees
 * the snapshot, without running done. */
void snapshot_drop(Msg *m);

/* The pools of every part merged by (database, user), sorted by database then user. Names are
 * borrowed from s. Returns a malloc'd array (caller frees; NULL when there is none or out of
 * memory) and its length in *n. */
SnapPool *snapshot_pools(const Snapshot *s, int *n);

/* Wall-clock seconds since the epoch. */
double snapshot_wall_now(void);

#endif
