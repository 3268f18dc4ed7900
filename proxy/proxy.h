/* proxy.h - the root context and the connection objects it owns.
 *
 * One Proxy per process (one event loop for now); everything mutable hangs off it and is
 * passed explicitly. Clients and servers are freed only by the reaper, never inside their own
 * callbacks (STYLE rule 7). */
#ifndef PGPIN_PROXY_H
#define PGPIN_PROXY_H

#include "auth.h"
#include "config.h"
#include "stats.h"
#include "track.h"
#include "wire.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

typedef struct Proxy Proxy;
typedef struct Client Client;
typedef struct Server Server;
typedef struct Pool Pool;
typedef struct SharedPool SharedPool;
typedef struct Root Root;

TAILQ_HEAD(Server_tq, Server);
TAILQ_HEAD(Client_tq, Client);

/* Reported GUCs of one server connection (what ParameterStatus said last). */
#define PARAMS_MAX 32
typedef struct Params {
    int n, cap; /* grown on demand: most connections carry a handful */
    char **name;
    char **value;
} Params;

/* Params: set (copying), get (borrowed or NULL; names compare case-insensitively), free. */
bool params_set(Params *p, const char *name, const char *value);
const char *params_get(const Params *p, const char *name);
void params_free(Params *p);

/* Where a relayed stream stands: bytes left of the message being moved. */
typedef struct Relay {
    uint32_t remain;
    bool paused; /* reading stopped for backpressure */
} Relay;

typedef enum {
    CL_STARTUP,     /* reading SSLRequest / StartupMessage */
    CL_AUTH,        /* password exchange (login.c) */
    CL_WAITING,     /* in a pool's FIFO, or its server is syncing parameters */
    CL_ACTIVE,      /* linked to a server, relaying */
    CL_IDLE,        /* pool_mode = auto: between transactions, holds no server */
    CL_ADMIN,       /* talking to pgpin's admin console (admin.c), no server */
    CL_FLUSH_CLOSE, /* writing a last message, then closed */
    CL_CLOSED,      /* on the reaper's list */
} ClientState;

struct Client {
    TAILQ_ENTRY(Client) link;      /* px->clients, then px->dead_clients */
    TAILQ_ENTRY(Client) wait_link; /* pool->waiters */
    Proxy *px;
    Config *cfg; /* snapshot this client started with (ref held) */
    ClientState state;
    char tag[16];
    evutil_socket_t fd;
    struct bufferevent *bev; /* plain socket, or TLS once the client asked (owns fd then) */
    struct event *timer;     /* login timeout, then wait timeout */
    struct Login *login;     /* while authenticating */
    double last_active;      /* for client_idle_timeout */
    uint8_t *startup;        /* the StartupMessage; user and database point into it */
    const char *user, *database;
    Params want; /* GUCs the client asked for (startup + options), applied on its server */
    Pool *pool;
    Server *server;
    double wait_since;            /* when it was queued (stats, notices) */
    bool wait_noticed;            /* the query_wait_notice was sent */
    bool auth_ok_sent;            /* AuthenticationOk went out before the wait */
    uint32_t key_pid, key_secret; /* pgpin's BackendKeyData for this client */
    Relay rx;                     /* client -> server */
    bool drain_close;             /* close at the next idle point (SIGTERM drain) */
    bool queued;                  /* in pool->waiters */
    bool tls;                     /* bev is a TLS bufferevent */
    bool started;                 /* the startup reply went out (later links only resume) */
    /* pool_mode = auto (proxy/auto.c). auto_mode is fixed at login; the rest is its state. */
    bool auto_mode;
    const char *pin_reason;   /* why it keeps its server for life (static text); NULL = not */
    uint64_t state_sig;       /* its session state's hash when it queued (server affinity) */
    struct AutoState *autost; /* recorded session state (NULL in session mode) */
    /* Admin console and snapshots (admin.c, pause.c, snapshot.c): */
    struct Admin *admin;      /* CL_ADMIN: the console session */
    bool held;                /* PAUSE: reading stopped at a transaction boundary until RESUME */
    uint16_t peer_port;       /* peer address, read at accept */
    char peer_addr[46];       /* INET6_ADDRSTRLEN; "" when unknown */
    double accepted_at;       /* proxy_now() at accept */
    struct ShapeState *shape; /* write shaping (shape.c), made on the first message it sees */
};

typedef enum {
    SV_CONNECTING, /* libpq PQconnectPoll in progress */
    SV_IDLE,       /* in pool->idle */
    SV_SYNCING,    /* applying a new client's parameters and prepared statements */
    SV_ACTIVE,     /* linked to a client */
    SV_RESETTING,  /* running server_reset_query */
    SV_CLOSED,     /* on the reaper's list */
} ServerState;

struct Server {
    TAILQ_ENTRY(Server) link;      /* pool->servers, then px->dead_servers */
    TAILQ_ENTRY(Server) idle_link; /* pool->idle */
    Proxy *px;
    Pool *pool;
    Client *client;
    ServerState state;
    char tag[16];
    PGconn *conn;
    struct event *ev; /* connect polling, connect timeout */
    struct event *timeout;
    struct bufferevent *bev;
    int backend_pid;
    Params params;
    char txstatus;         /* from the last ReadyForQuery */
    int inflight;          /* Query/Sync/FunctionCall sent minus ReadyForQuery received */
    double req_start;      /* when inflight last went from 0 to 1 (query time) */
    bool unsynced;         /* extended-protocol messages sent since the last Sync */
    bool fatal;            /* the server sent a FATAL/PANIC */
    bool tls;              /* bev relays through libpq's TLS session */
    bool idle_listed;      /* in pool->idle */
    Server *handoff_next;  /* SharedPool.handoff list while between workers */
    struct Budget *budget; /* the server's budget it holds a slot of */
    int generation;        /* pool generation it was opened under */
    double created_at, idle_since;
    Relay rx;        /* server -> client */
    bool pinned;     /* its client is pinned: outside the pool's size (pool.c) */
    Track track;     /* settings and statements applied on it beyond its defaults */
    TrackStep *sync; /* SV_SYNCING: the steps sent, one ReadyForQuery each */
    int nsync, sync_pos;
    bool sync_piped;    /* the client's messages were sent right behind the sync */
    uint64_t state_sig; /* state_sig of the client whose state it was left in; 0 = unknown */
    /* Faults (server.c, pool.c): */
    bool lost;             /* the connection ended (EOF or error): never reused */
    bool held_fatal;       /* a FATAL kept from its auto-mode client, told as an ERROR instead */
    char lost_sqlstate[6]; /* that FATAL's SQLSTATE and text */
    char lost_msg[256];
    const char *retire; /* why it must not be reused (a read-only server), static text; or NULL */
    char addr[80];      /* "host:port" it is connected to (libpq's pick of a multi-host list) */
};

struct Pool {
    TAILQ_ENTRY(Pool) link;
    Proxy *px;
    char *dbname; /* client-facing */
    char *user;
    char *conninfo;
    bool has_user, has_dbname;
    int size, min_size;
    bool orphan;           /* its [databases] entry is gone: no new clients */
    bool paused;           /* PAUSE: no new server work until RESUME */
    bool starved;          /* clients wait because the server's budget is used up */
    struct Budget *budget; /* the server it leads to */
    int generation;
    double backoff, retry_at; /* after a failed connect: no new attempt before retry_at */
    struct event *retry_ev;   /* fires at retry_at: the next attempt for waiting clients */
    /* The server is unreachable (pool.c): the last attempt failed with an error that waiting
     * may cure (refused, timeout, starting up, read-only). Waiters wait; one attempt at a time. */
    bool down;
    double down_since;
    char down_sqlstate[6]; /* the last attempt's error, told to clients that time out */
    char down_msg[256];
    int tsa; /* BudgetTsa: what the conninfo's target_session_attrs asks of a server */
    struct Server_tq servers;
    struct Server_tq idle;
    struct Client_tq waiters;
    int nservers, nidle, nconnecting, nwaiting;
    int npinned; /* servers of pinned clients: in servers, not counted in nservers */
    SharedPool *shared;
    PoolStats stats; /* this worker's share; read through snapshots */
};

/* Pool size is a cap across workers: each worker's Pool for (database, user) counts its
 * servers here too. Found under root->lock once per pool, then touched only atomically. */
struct SharedPool {
    SharedPool *next;
    char *dbname, *user;
    atomic_int nservers; /* open or opening, all workers */
    atomic_int nwaiting; /* clients queued, all workers */
    Server *handoff;     /* idle servers given up for another worker (root->lock) */
    atomic_int nhandoff; /* its length, to peek without the lock */
    atomic_int nstarved; /* workers whose pool for it waits on the server's budget */
};

typedef enum {
    MSG_RELOAD,
    MSG_DRAIN,
    MSG_STOP,
    MSG_CANCEL,
    MSG_SERVICE,
    MSG_RELOADED,      /* a reload attempt finished (after its MSG_RELOAD, if it succeeded) */
    MSG_SNAPSHOT,      /* fill this worker's part of a snapshot (snapshot.c) */
    MSG_SNAPSHOT_DONE, /* to the origin: every part is filled */
    MSG_PAUSE,         /* PAUSE [db] (pause.c) */
    MSG_RESUME,        /* RESUME [db] */
} MsgKind;

/* A message to a worker, posted by another thread (worker_post). */
typedef struct Msg {
    struct Msg *next;
    MsgKind kind;
    Config *cfg;               /* MSG_RELOAD: a reference for the worker */
    struct ssl_ctx_st *tls;    /* MSG_RELOAD: a reference (or NULL) */
    uint32_t pid, key;         /* MSG_CANCEL */
    unsigned seq;              /* MSG_RELOADED: root->reload_seq of that attempt */
    bool ok;                   /* MSG_RELOADED: the new config is in place */
    char *text;                /* owned: PAUSE/RESUME database (NULL = all), RELOADED error */
    struct Snapshot *snapshot; /* MSG_SNAPSHOT, MSG_SNAPSHOT_DONE (shared, see snapshot.h) */
} Msg;

/* Process-wide state, owned by the main thread; workers read it or use its atomics/lock. */
struct Root {
    const char *cfg_path;
    Config *cfg; /* main thread's current snapshot */
    struct ssl_ctx_st *tls;
    struct event_base *base; /* main thread: signals, worker exits */
    struct event *sig_hup, *sig_term, *sig_int, *exit_ev;
    int exit_fd; /* eventfd: a worker finished */
    Proxy **workers;
    int nworkers, nexited;
    atomic_int nclients;  /* all workers, for max_client_conn */
    pthread_mutex_t lock; /* guards shared pools */
    SharedPool *shared;
    AuthMockKey mock_key;   /* stable fake salts for unknown users */
    struct Budget *budgets; /* per server budgets (budget.c), list under lock */
    int budget_fd;          /* eventfd: a worker wants a budget read now */
    struct event *budget_ev, *budget_timer;
    int exit_code;
    atomic_uint reload_seq; /* reload attempts started (main thread increments) */
    /* PAUSE state, so pools created later start paused (pause.c; under lock): */
    bool paused_all;
    char **paused_dbs;
    int npaused_dbs;
};

/* One worker: a thread with its own event loop, listeners, clients, pools and servers. The
 * data path touches only its own worker (no locks). */
struct Proxy {
    Root *root;
    int index;
    pthread_t thread;
    bool started;
    struct event_base *base;
    Config *cfg;
    struct evconnlistener *listeners[16];
    int nlisteners;
    struct event *janitor, *reaper, *shutdown_timer, *wake_ev;
    struct event *accept_timer;  /* accepting again after running out of descriptors */
    double accept_logged_at;     /* last "accept failed" line (they are rate-limited) */
    unsigned long accept_failed; /* failures since that line */
    int wake_fd;                 /* eventfd other threads write to after queueing a Msg */
    pthread_mutex_t mq_lock;
    Msg *mq;
    struct ssl_ctx_st *tls; /* client-facing TLS (NULL: client_tls_sslmode = disable) */
    struct Client_tq clients;
    struct Client_tq dead_clients;
    struct Server_tq dead_servers;
    TAILQ_HEAD(, Pool) pools;
    int nclients;
    bool draining;
    struct SqlCache *sqlcache; /* statement classification (proxy_sql_cache) */
    struct ShapeQueue *shapeq; /* clients whose writes wait for a token, per server (shape.c) */
    uint32_t next_id;
    uint64_t rng;
    struct Metrics *metrics; /* worker 0 with metrics_listen set: the /metrics endpoint */
};

double proxy_now(void);
uint32_t proxy_random(Proxy *px);
/* A random seed from OpenSSL (time-based if its RNG fails). */
uint32_t proxy_random_seed(void);
/* Wake the reaper: frees px->dead_clients and px->dead_servers on the next loop turn. */
void proxy_schedule_reap(Proxy *px);
/* The worker's statement classification cache, made on first use (NULL: out of memory). */
struct SqlCache *proxy_sql_cache(Proxy *px);
/* Called when the last client left while draining. */
void proxy_maybe_finish_drain(Proxy *px);

#endif
