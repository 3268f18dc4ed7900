/* admin.c - the admin console session: startup reply, simple query protocol, commands. The
 * result sets of the SHOW commands are built in admin_show.c. */
#include "admin.h"

#include "admin_show.h"
#include "client.h"
#include "conn.h"
#include "log.h"
#include "pause.h"
#include "pqmsg.h"
#include "snapshot.h"
#include "worker.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Admin commands are short; a longer Query is refused rather than buffered. */
#define ADMIN_QUERY_MAX (64 * 1024)

typedef enum { STEP_DONE, STEP_WAIT, STEP_FAILED } Step;

typedef struct Admin {
    char *query;              /* the Query being run (owned), NUL-terminated */
    size_t pos;               /* where its next statement starts */
    int ran;                  /* statements of it run so far */
    bool busy;                /* a statement waits for a snapshot or a reload: input is held */
    bool skip_to_sync;        /* an extended-protocol message was refused: ignore until Sync */
    uint32_t skip;            /* bytes left of a message being discarded */
    AdminCmdKind waiting_for; /* the SHOW a snapshot is for */
    uint32_t seq;             /* the snapshot awaited (with the client's key_pid) */
    unsigned reload_want;     /* RELOAD: the reload attempt awaited; 0 = none */
    int signal_after;         /* SHUTDOWN: the signal to raise once the reply is out */
} Admin;

bool admin_wanted(const Client *cl)
{
    if (!cl->database || strcmp(cl->database, ADMIN_DBNAME) != 0) return false;
    for (int i = 0; i < cl->cfg->ndbs; i++)
        if (strcmp(cl->cfg->dbs[i].name, ADMIN_DBNAME) == 0) return false;
    return true;
}

void admin_free(Client *cl)
{
    if (!cl->admin) return;
    free(cl->admin->query);
    free(cl->admin);
    cl->admin = NULL;
}

/* ---- Sending ---- */

/* Send b (and free it). False after closing the client (out of memory). */
static bool admin_send(Client *cl, WireBuf *b)
{
    bool ok = conn_send(cl->bev, b);
    wire_buf_free(b);
    if (!ok) client_close(cl, "out of memory");
    return ok;
}

static void admin_error(Client *cl, const char *sqlstate, const char *msg)
{
    WireBuf b;
    wire_buf_init(&b);
    wire_build_error(&b, "ERROR", sqlstate, msg);
    admin_send(cl, &b);
}

static Step admin_complete(Client *cl, const char *tag)
{
    WireBuf b;
    wire_buf_init(&b);
    wire_build_command_complete(&b, tag);
    return admin_send(cl, &b) ? STEP_DONE : STEP_FAILED;
}

void admin_start(Client *cl)
{
    if (!cfg_is_admin_user(cl->cfg, cl->user)) {
        log_info(cl->tag, "%s is not in admin_users: admin console refused", cl->user);
        client_fail(cl, SQLSTATE_NO_PRIVILEGE, "not allowed to use the admin console");
        return;
    }
    if (!(cl->admin = calloc(1, sizeof *cl->admin))) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return;
    }
    const char *app = params_get(&cl->want, "application_name");
    const char *params[][2] = {
        {"server_version", PGPIN_VERSION},
        {"server_encoding", "UTF8"},
        {"client_encoding", "UTF8"},
        {"DateStyle", "ISO, MDY"},
        {"IntervalStyle", "postgres"},
        {"TimeZone", "UTC"},
        {"integer_datetimes", "on"},
        {"standard_conforming_strings", "on"},
        {"is_superuser", "off"},
        {"session_authorization", cl->user},
        {"application_name", app ? app : ""},
    };
    WireBuf b;
    wire_buf_init(&b);
    wire_build_auth_ok(&b);
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        wire_build_param_status(&b, params[i][0], params[i][1]);
    wire_build_backend_key(&b, cl->key_pid, cl->key_secret);
    wire_build_ready(&b, 'I');
    evtimer_del(cl->timer); /* client_login_timeout no longer applies */
    cl->state = CL_ADMIN;
    if (!admin_send(cl, &b)) return;
    log_info(cl->tag, "admin console for %s", cl->user);
    bufferevent_enable(cl->bev, EV_READ);
    admin_read(cl); /* a Query pipelined after the startup */
}

/* ---- Running a Query ---- */

static Step admin_statement(Client *cl, const char *stmt, size_t len);

static void admin_end_query(Client *cl)
{
    Admin *ad = cl->admin;
    WireBuf b;
    free(ad->query);
    ad->query = NULL;
    ad->busy = false;
    wire_buf_init(&b);
    wire_build_ready(&b, 'I');
    if (!admin_send(cl, &b)) return;
    if (ad->signal_after) {
        int sig = ad->signal_after;
        ad->signal_after = 0;
        /* The main thread owns signals (workers block them): this reaches it. */
        if (kill(getpid(), sig) != 0) log_error(cl->tag, "kill: %s", strerror(errno));
    }
}

/* Run the statements left in the query; stop at one that waits or fails. */
static void admin_continue(Client *cl)
{
    Admin *ad = cl->admin;
    const char *stmt;
    size_t len;
    while (cl->state == CL_ADMIN && admin_next_statement(ad->query, &ad->pos, &stmt, &len)) {
        ad->ran++;
        Step st = admin_statement(cl, stmt, len);
        if (st == STEP_WAIT) {
            ad->busy = true;
            return;
        }
        if (st == STEP_FAILED) break; /* as Postgres: the rest of the query is not run */
    }
    if (cl->state != CL_ADMIN) return;
    if (ad->ran == 0) {
        WireBuf b;
        wire_buf_init(&b);
        wire_build_empty_query(&b);
        if (!admin_send(cl, &b)) return;
    }
    admin_end_query(cl);
}

/* The statement that waited has answered (failed: the rest of the query is dropped): go on,
 * then read the next messages. */
static void admin_resume(Client *cl, bool failed)
{
    cl->admin->busy = false;
    if (failed)
        admin_end_query(cl);
    else
        admin_continue(cl);
    if (cl->state == CL_ADMIN && !cl->admin->busy) {
        bufferevent_enable(cl->bev, EV_READ);
        admin_read(cl);
    }
}

/* ---- Commands ---- */

static void admin_snapshot_done(Proxy *origin, Snapshot *s)
{
    uint32_t pid = (uint32_t)(s->id >> 32), seq = (uint32_t)s->id;
    Client *cl;
    TAILQ_FOREACH(cl, &origin->clients, link)
    {
        if (cl->key_pid == pid) break;
    }
    /* The console may have gone (or moved on) meanwhile: then nobody wants the answer. */
    if (!cl || cl->state != CL_ADMIN || !cl->admin->busy || cl->admin->seq != seq) return;
    WireBuf b;
    AdminCmdKind kind = cl->admin->waiting_for;
    wire_buf_init(&b);
    if (kind == ADMIN_PAUSE || kind == ADMIN_RESUME) { /* the snapshot was only a barrier */
        wire_build_command_complete(&b, kind == ADMIN_PAUSE ? "PAUSE" : "RESUME");
    } else {
        admin_show_snapshot(&b, kind, s);
        wire_build_command_complete(&b, "SHOW");
    }
    if (admin_send(cl, &b)) admin_resume(cl, false);
}

static Step admin_snapshot(Client *cl, AdminCmdKind kind)
{
    Admin *ad = cl->admin;
    unsigned what = kind == ADMIN_SHOW_CLIENTS   ? SNAP_CLIENTS
                    : kind == ADMIN_SHOW_SERVERS ? SNAP_SERVERS
                                                 : 0;
    ad->waiting_for = kind;
    ad->seq++;
    if (!snapshot_request(cl->px, what, admin_snapshot_done, NULL,
                          (uint64_t)cl->key_pid << 32 | ad->seq)) {
        if (kind == ADMIN_PAUSE || kind == ADMIN_RESUME) return STEP_FAILED; /* caller answers */
        admin_error(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return STEP_FAILED;
    }
    return STEP_WAIT;
}

static Step admin_reload(Client *cl)
{
    Root *root = cl->px->root;
    /* Any reload that starts after this reading loads the file as it is now. */
    cl->admin->reload_want = atomic_load(&root->reload_seq) + 1;
    log_info(cl->tag, "admin: RELOAD");
    if (kill(getpid(), SIGHUP) != 0) {
        cl->admin->reload_want = 0;
        admin_error(cl, SQLSTATE_INTERNAL_ERROR, "cannot signal the main thread");
        return STEP_FAILED;
    }
    return STEP_WAIT;
}

void admin_reloaded(Proxy *w, unsigned seq, bool ok, const char *text)
{
    Client *cl, *next;
    char msg[600];
    for (cl = TAILQ_FIRST(&w->clients); cl; cl = next) {
        next = TAILQ_NEXT(cl, link);
        if (cl->state != CL_ADMIN || !cl->admin->busy || !cl->admin->reload_want ||
            (int)(seq - cl->admin->reload_want) < 0)
            continue;
        cl->admin->reload_want = 0;
        WireBuf b;
        wire_buf_init(&b);
        if (ok && text) {
            snprintf(msg, sizeof msg, "changed keys need a restart to take effect: %s", text);
            wire_build_notice(&b, "01000", msg);
        }
        if (ok) {
            wire_build_command_complete(&b, "RELOAD");
        } else {
            snprintf(msg, sizeof msg, "reload failed, keeping the running configuration: %s",
                     text ? text : "see the log");
            wire_build_error(&b, "ERROR", SQLSTATE_CONFIG_FILE_ERROR, msg);
        }
        if (admin_send(cl, &b)) admin_resume(cl, !ok);
    }
}

static Step admin_pause(Client *cl, const AdminCmd *c)
{
    Root *root = cl->px->root;
    bool pause = c->kind == ADMIN_PAUSE;
    const char *db = c->has_db ? c->db : NULL;
    char err[300];
    if (db && !cfg_find_db(cl->px->cfg, db)) {
        snprintf(err, sizeof err, "database \"%.200s\" does not exist in pgpin's [databases]", db);
        admin_error(cl, SQLSTATE_INVALID_CATALOG_NAME, err);
        return STEP_FAILED;
    }
    if (!pause_set(root, pause, db, err, sizeof err)) {
        admin_error(cl, SQLSTATE_OBJECT_STATE, err);
        return STEP_FAILED;
    }
    log_info(cl->tag, "admin: %s %s", pause ? "PAUSE" : "RESUME", db ? db : "(all databases)");
    /* Every worker (this one too, through its queue) brings its pools in line with the set. */
    for (int i = 0; i < root->nworkers; i++) {
        Msg *m = calloc(1, sizeof *m);
        if (m && db && !(m->text = strdup(db))) {
            free(m);
            m = NULL;
        }
        if (!m) {
            log_warn(cl->tag, "out of memory: worker %d applies %s at the next one", i,
                     pause ? "PAUSE" : "RESUME");
            continue;
        }
        m->kind = pause ? MSG_PAUSE : MSG_RESUME;
        worker_post(root->workers[i], m);
    }
    /* Answer once every worker has applied it: a snapshot queued behind the messages is the
     * barrier. Then a query sent after the answer is held for sure. */
    Step st = admin_snapshot(cl, c->kind);
    return st == STEP_FAILED ? admin_complete(cl, pause ? "PAUSE" : "RESUME") : st;
}

static Step admin_statement(Client *cl, const char *stmt, size_t len)
{
    AdminCmd cmd;
    char err[300];
    WireBuf b;
    if (!admin_parse(stmt, len, &cmd, err, sizeof err)) {
        admin_error(cl, SQLSTATE_SYNTAX_ERROR, err);
        return STEP_FAILED;
    }
    switch (cmd.kind) {
    case ADMIN_SHOW_POOLS:
    case ADMIN_SHOW_CLIENTS:
    case ADMIN_SHOW_SERVERS:
    case ADMIN_SHOW_STATS:
    case ADMIN_SHOW_LIMITS: return admin_snapshot(cl, cmd.kind);
    case ADMIN_SHOW_CONFIG:
    case ADMIN_SHOW_VERSION:
    case ADMIN_SHOW_HELP:
        wire_buf_init(&b);
        admin_show_local(&b, cmd.kind, cl->px->cfg);
        wire_build_command_complete(&b, "SHOW");
        return admin_send(cl, &b) ? STEP_DONE : STEP_FAILED;
    case ADMIN_RELOAD: return admin_reload(cl);
    case ADMIN_PAUSE:
    case ADMIN_RESUME: return admin_pause(cl, &cmd);
    case ADMIN_SHUTDOWN:
    case ADMIN_SHUTDOWN_WAIT:
        /* Raised once ReadyForQuery is out, so the console sees its answer. */
        cl->admin->signal_after = cmd.kind == ADMIN_SHUTDOWN ? SIGINT : SIGTERM;
        log_info(cl->tag, "admin: SHUTDOWN%s",
                 cmd.kind == ADMIN_SHUTDOWN ? "" : " WAIT_FOR_CLIENTS");
        return admin_complete(cl, "SHUTDOWN");
    }
    return STEP_FAILED;
}

/* ---- Reading the protocol ---- */

/* A whole Query message of declared length len is (or will be) in the input. False when more
 * bytes are needed. */
static bool admin_query_msg(Client *cl, uint32_t len)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    size_t n = len - 4;
    if (n > ADMIN_QUERY_MAX) {
        client_fail(cl, SQLSTATE_PROGRAM_LIMIT, "admin command too long");
        return true;
    }
    if (evbuffer_get_length(in) < (size_t)len + 1) return false;
    char *q = malloc(n + 1);
    if (!q) {
        client_close(cl, "out of memory");
        return true;
    }
    evbuffer_drain(in, 5);
    if (evbuffer_remove(in, q, n) != (int)n || n == 0 || memchr(q, '\0', n) != q + n - 1) {
        free(q);
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "invalid Query message");
        return true;
    }
    Admin *ad = cl->admin;
    ad->query = q;
    ad->pos = 0;
    ad->ran = 0;
    admin_continue(cl);
    return true;
}

/* One frontend message whose header is buffered. False when more bytes are needed. */
static bool admin_message(Client *cl, uint8_t type, uint32_t len)
{
    Admin *ad = cl->admin;
    WireBuf b;
    char msg[120];
    WireCheck chk = wire_check_frontend(type, len, (uint32_t)cl->cfg->max_packet_size);
    if (chk != WIRE_OK || type == PqMsg_PasswordMessage) {
        snprintf(msg, sizeof msg, "invalid frontend message (type %d, length %u)", type, len);
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, msg);
        return true;
    }
    switch (type) {
    case PqMsg_Terminate:
        evbuffer_drain(bufferevent_get_input(cl->bev), 5);
        client_close(cl, "client terminated");
        return true;
    case PqMsg_Query:
        if (!ad->skip_to_sync) return admin_query_msg(cl, len);
        break;
    case PqMsg_Sync:
        ad->skip_to_sync = false;
        wire_buf_init(&b);
        wire_build_ready(&b, 'I');
        if (!admin_send(cl, &b)) return true;
        break;
    case PqMsg_Parse:
    case PqMsg_Bind:
    case PqMsg_Describe:
    case PqMsg_Execute:
    case PqMsg_Close:
    case PqMsg_FunctionCall:
        if (ad->skip_to_sync) break;
        admin_error(cl, SQLSTATE_FEATURE_NOT_SUPPORTED,
                    "the admin console speaks only the simple query protocol");
        if (type == PqMsg_FunctionCall) { /* a simple-protocol message: it ends here */
            wire_buf_init(&b);
            wire_build_ready(&b, 'I');
            admin_send(cl, &b);
        } else {
            ad->skip_to_sync = true; /* as Postgres after an error in an extended query */
        }
        break;
    default: break; /* Flush; CopyData/CopyDone/CopyFail outside COPY are ignored */
    }
    ad->skip = len + 1; /* discarded by length, never buffered whole */
    return true;
}

void admin_read(Client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    while (cl->state == CL_ADMIN && !cl->admin->busy) {
        Admin *ad = cl->admin;
        uint8_t type;
        uint32_t len;
        if (ad->skip > 0) {
            size_t n = evbuffer_get_length(in);
            if (n == 0) break;
            if (n > ad->skip) n = ad->skip;
            evbuffer_drain(in, n);
            ad->skip -= (uint32_t)n;
            continue;
        }
        if (!conn_peek_header(in, &type, &len) || !admin_message(cl, type, len)) break;
    }
    /* While a statement waits, stop reading: the next messages stay in the socket. */
    if (cl->state == CL_ADMIN && cl->admin->busy) bufferevent_disable(cl->bev, EV_READ);
}

/* ---- Parsing ---- */

bool admin_next_statement(const char *q, size_t *pos, const char **start, size_t *len)
{
    size_t i = *pos;
    while (q[i] && (isspace((unsigned char)q[i]) || q[i] == ';'))
        i++;
    if (!q[i]) {
        *pos = i;
        return false;
    }
    size_t s = i;
    char quote = 0;
    for (; q[i]; i++) {
        if (quote) {
            if (q[i] == quote) quote = 0; /* a doubled quote closes and reopens: same result */
        } else if (q[i] == '"' || q[i] == '\'') {
            quote = q[i];
        } else if (q[i] == ';') {
            break;
        }
    }
    size_t e = i;
    while (e > s && isspace((unsigned char)q[e - 1]))
        e--;
    *start = q + s;
    *len = e - s;
    *pos = q[i] ? i + 1 : i;
    return true;
}

/* The next word of s[*i..len): bare (up to a blank) or "quoted" ("" is a quote). 1: a word in
 * out, 0: the end, -1: unterminated quote, -2: longer than outlen - 1. */
static int next_word(const char *s, size_t len, size_t *i, char *out, size_t outlen, bool *quoted)
{
    size_t n = 0;
    while (*i < len && isspace((unsigned char)s[*i]))
        (*i)++;
    if (*i >= len) return 0;
    *quoted = s[*i] == '"';
    if (*quoted) {
        for ((*i)++;; (*i)++) {
            if (*i >= len) return -1;
            if (s[*i] == '"' && (*i + 1 >= len || s[*i + 1] != '"')) break;
            if (s[*i] == '"') (*i)++;
            if (n + 1 >= outlen) return -2;
            out[n++] = s[*i];
        }
        (*i)++;
    } else {
        for (; *i < len && !isspace((unsigned char)s[*i]); (*i)++) {
            if (n + 1 >= outlen) return -2;
            out[n++] = s[*i];
        }
    }
    out[n] = '\0';
    return 1;
}

static const struct {
    const char *word;
    AdminCmdKind kind;
} show_targets[] = {
    {"POOLS", ADMIN_SHOW_POOLS},     {"CLIENTS", ADMIN_SHOW_CLIENTS},
    {"SERVERS", ADMIN_SHOW_SERVERS}, {"STATS", ADMIN_SHOW_STATS},
    {"LIMITS", ADMIN_SHOW_LIMITS},   {"CONFIG", ADMIN_SHOW_CONFIG},
    {"VERSION", ADMIN_SHOW_VERSION}, {"HELP", ADMIN_SHOW_HELP},
};

static bool parse_show(const char *stmt, size_t len, size_t *i, AdminCmd *cmd, char *err,
                       size_t errlen)
{
    char w[32];
    bool quoted;
    int r = next_word(stmt, len, i, w, sizeof w, &quoted);
    for (size_t k = 0; r == 1 && !quoted && k < sizeof show_targets / sizeof show_targets[0]; k++) {
        if (strcasecmp(w, show_targets[k].word) == 0) {
            cmd->kind = show_targets[k].kind;
            return true;
        }
    }
    snprintf(err, errlen,
             "unknown SHOW command \"%.*s\": SHOW POOLS, CLIENTS, SERVERS, STATS, LIMITS, "
             "CONFIG, VERSION or HELP",
             (int)(len > 100 ? 100 : len), stmt);
    return false;
}

bool admin_parse(const char *stmt, size_t len, AdminCmd *cmd, char *err, size_t errlen)
{
    char w[32];
    bool quoted = false;
    size_t i = 0;
    int r = next_word(stmt, len, &i, w, sizeof w, &quoted);
    memset(cmd, 0, sizeof *cmd);
    if (r == 1 && !quoted && strcasecmp(w, "SHOW") == 0) {
        if (!parse_show(stmt, len, &i, cmd, err, errlen)) return false;
    } else if (r == 1 && !quoted && strcasecmp(w, "RELOAD") == 0) {
        cmd->kind = ADMIN_RELOAD;
    } else if (r == 1 && !quoted && (strcasecmp(w, "PAUSE") == 0 || strcasecmp(w, "RESUME") == 0)) {
        cmd->kind = strcasecmp(w, "PAUSE") == 0 ? ADMIN_PAUSE : ADMIN_RESUME;
        r = next_word(stmt, len, &i, cmd->db, sizeof cmd->db, &quoted);
        if (r < 0 || (r == 1 && !cmd->db[0])) {
            snprintf(err, errlen, "%s",
                     r == -1   ? "unterminated quoted database name"
                     : r == -2 ? "database name too long"
                               : "empty database name");
            return false;
        }
        cmd->has_db = r == 1;
    } else if (r == 1 && !quoted && strcasecmp(w, "SHUTDOWN") == 0) {
        cmd->kind = ADMIN_SHUTDOWN;
        size_t at = i;
        r = next_word(stmt, len, &i, w, sizeof w, &quoted);
        if (r == 1 && !quoted && strcasecmp(w, "WAIT_FOR_CLIENTS") == 0)
            cmd->kind = ADMIN_SHUTDOWN_WAIT;
        else
            i = at;
    } else {
        snprintf(err, errlen, "unknown admin command \"%.*s\" (SHOW HELP lists the commands)",
                 (int)(len > 100 ? 100 : len), stmt);
        return false;
    }
    while (i < len && isspace((unsigned char)stmt[i]))
        i++;
    if (i < len) {
        snprintf(err, errlen, "unexpected \"%.*s\" at the end of the command",
                 (int)(len - i > 100 ? 100 : len - i), stmt + i);
        return false;
    }
    return true;
}
