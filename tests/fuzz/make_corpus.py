#!/usr/bin/env python3
"""make_corpus.py - write the seed inputs in tests/fuzz/corpus/<target>/ (rerun after changing
an input layout; see README.md). Standard library only; output is deterministic."""
import base64
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def msg(t, body=b""):
    """A protocol message: type byte, int32 length (itself included), body."""
    return t.encode() + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def framed(stream, chunks=()):
    """fuzz_frame.h layout: flags (chunk-size count), chunk sizes (each byte + 1), stream."""
    assert len(chunks) <= 15
    return bytes([len(chunks)]) + bytes(c - 1 for c in chunks) + stream


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_startup: flags byte (bit 0: prepend a correct length word), then the packet ----
def startup_body(params):
    return struct.pack("!I", 3 << 16) + b"".join(cstr(k) + cstr(v) for k, v in params) + b"\0"


def with_len(body):
    return struct.pack("!I", len(body) + 4) + body


PSQL = [("user", "postgres"), ("database", "appdb"), ("application_name", "psql"),
        ("client_encoding", "UTF8")]
write("fuzz_startup", "startup_psql", b"\0" + with_len(startup_body(PSQL)))
write("fuzz_startup", "startup_prefixed", b"\1" + startup_body(PSQL))
write("fuzz_startup", "startup_options",
      b"\0" + with_len(startup_body([("user", "app"), ("options", "-c search_path=s1 -c x=y"),
                                     ("_pq_.proto", "1")])))
write("fuzz_startup", "ssl_request", b"\0" + struct.pack("!II", 8, 80877103))
write("fuzz_startup", "gssenc_request", b"\0" + struct.pack("!II", 8, 80877104))
write("fuzz_startup", "cancel_request", b"\0" + struct.pack("!IIII", 16, 80877102, 4242, 0xdeadbeef))

# ---- fuzz_frontend ----
extended = (msg("P", cstr("") + cstr("SELECT $1::int") + struct.pack("!hI", 1, 23)) +
            msg("B", cstr("") + cstr("") + struct.pack("!hh", 1, 0) + struct.pack("!hi", 1, 2) +
                b"42" + struct.pack("!hh", 1, 0)) +
            msg("D", b"P" + cstr("")) + msg("E", cstr("") + struct.pack("!i", 0)) + msg("S"))
write("fuzz_frontend", "query_terminate", framed(msg("Q", cstr("SELECT 1")) + msg("X")))
write("fuzz_frontend", "extended", framed(extended))
write("fuzz_frontend", "extended_chunked", framed(extended, [1, 3, 7, 2]))
write("fuzz_frontend", "password", framed(msg("p", cstr("secret")), [2]))
CFIRST = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"
write("fuzz_frontend", "sasl_initial",
      framed(msg("p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(CFIRST)) + CFIRST) +
             msg("p", b"c=biws,r=x,p=AAAA")))
write("fuzz_frontend", "copy_in",
      bytes([0x20]) + msg("Q", cstr("COPY t FROM STDIN")) + msg("d", b"1\tone\n") +
      msg("d", b"2\ttwo\n") + msg("c") + msg("H") + msg("C", b"S" + cstr("s1")))

# ---- fuzz_backend ----
def row_desc(cols):
    return msg("T", struct.pack("!h", len(cols)) +
               b"".join(cstr(c) + struct.pack("!IhIhih", 0, 0, 23, 4, -1, 0) for c in cols))


def data_row(vals):
    return msg("D", struct.pack("!h", len(vals)) +
               b"".join(struct.pack("!i", len(v)) + v for v in vals))


select = (row_desc(["a", "b"]) + data_row([b"1", b"one"]) + data_row([b"2", b"two"]) +
          msg("C", cstr("SELECT 2")) + msg("Z", b"I"))
login = (msg("R", struct.pack("!i", 0)) + msg("S", cstr("server_version") + cstr("15.5")) +
         msg("S", cstr("client_encoding") + cstr("UTF8")) + msg("K", struct.pack("!II", 7, 9)) +
         msg("Z", b"I"))
error = (msg("N", b"SNOTICE\0VNOTICE\0C00000\0Mhello\0\0") +
         msg("E", b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0\0") +
         msg("Z", b"E"))
write("fuzz_backend", "select", framed(select))
write("fuzz_backend", "select_chunked", framed(select, [1, 5, 2, 9]))
write("fuzz_backend", "login", framed(login))
write("fuzz_backend", "error_notice", framed(error, [3]))
write("fuzz_backend", "extended",
      framed(msg("1") + msg("2") + msg("t", struct.pack("!hI", 1, 23)) + row_desc(["int4"]) +
             data_row([b"42"]) + msg("C", cstr("SELECT 1")) + msg("Z", b"T")))

# ---- fuzz_scram: flags (bit 0: mock user), be16 split, client-first || client-final ----
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
SNONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"


def scram_final(first, cnonce):
    """client-final-message with a correct proof for password "pencil" (RFC 7677's verifier)."""
    gs2, bare = first[:3], first[3:]
    nonce = cnonce + SNONCE
    server_first = "r=%s,s=%s,i=4096" % (nonce, base64.b64encode(SALT).decode())
    without = "c=%s,r=%s" % (base64.b64encode(gs2.encode()).decode(), nonce)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", SALT, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    am = ",".join([bare, server_first, without]).encode()
    sig = hmac.new(stored, am, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    return without + ",p=" + base64.b64encode(proof).decode()


def scram_input(flags, first, final):
    return bytes([flags]) + struct.pack("!H", len(first)) + first.encode() + final.encode()


RFC_CNONCE = "rOprNGfwEbeRWgbNEkqO"
rfc_first = "n,,n=user,r=" + RFC_CNONCE
rfc_final = scram_final(rfc_first, RFC_CNONCE)
assert rfc_final.endswith("p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
write("fuzz_scram", "rfc7677", scram_input(0, rfc_first, rfc_final))
write("fuzz_scram", "rfc7677_mock", scram_input(1, rfc_first, rfc_final))
libpq_cnonce = "Zm9vYmFyYmF6cXV4MTIzNDU2"
libpq_first = "n,,n=,r=" + libpq_cnonce
write("fuzz_scram", "libpq", scram_input(0, libpq_first, scram_final(libpq_first, libpq_cnonce)))
y_first = "y,,n=,r=" + libpq_cnonce + ",x=ext"
write("fuzz_scram", "y_flag_ext", scram_input(0, y_first, scram_final(y_first, libpq_cnonce)))
write("fuzz_scram", "wrong_proof",
      scram_input(0, libpq_first, "c=biws,r=%s%s,p=%s" % (libpq_cnonce, SNONCE, "A" * 43 + "=")))

# ---- fuzz_config: the INI text ----
write("fuzz_config", "minimal",
      b"[pgpin]\nlisten_port = 6432\n[databases]\nappdb = host=127.0.0.1 port=5432 dbname=appdb\n")
write("fuzz_config", "pools",
      b"; pools\n[databases]\n"
      b"a = host=10.0.0.5 dbname=reports user=report pool_size=5 min_pool_size=1 pool_mode=auto\n"
      b"b = postgresql://u@localhost:5433/b?sslmode=disable\n"
      b"* = host=127.0.0.1 port=5432 options='-c x=\\'y\\''\n"
      b"[pgpin]\ndefault_pool_size = 30\nmin_pool_size = 2\n")
write("fuzz_config", "all_keys",
      b"[pgpin]\nlisten_addr = *\nlisten_port = 7000\npool_mode = auto\ndefault_pool_size = 20\n"
      b"min_pool_size = 0\nmax_client_conn = 1000\nserver_reset_query =\n"
      b"server_idle_timeout = 600.5\nserver_lifetime = 0\nserver_connect_timeout = 15\n"
      b"query_wait_timeout = 120\nshutdown_timeout = 30\nclient_login_timeout = 60\n"
      b"client_idle_timeout = 0\nmax_packet_size = 1024\nclient_tls_sslmode = disable\n"
      b"client_tls_cert_file =\nclient_tls_key_file =\nclient_tls_ca_file =\n"
      b"client_tls_protocols = all,!tlsv1.0,-tlsv1.1\nclient_tls_ciphers = HIGH:!aNULL\n"
      b"auth_type = trust\nauth_file =\nauth_user = pgpin\n"
      b"auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1\n"
      b"admin_users = admin, ops\nlog_level = debug ; comment\nworkers = 2\n"
      b"[databases]\nappdb = host=127.0.0.1 port=5432 dbname=appdb\n")
write("fuzz_config", "bad_auth",
      b"[pgpin]\nauth_type = scram-sha-256\nauth_file = missing.txt\n[databases]\n")

# ---- fuzz_sql: the statement text ----
write("fuzz_sql", "dbos_step",
      b"INSERT INTO \"dbos\".operation_outputs (workflow_uuid, function_id, output) VALUES "
      b"($1,$2,$3) ON CONFLICT (workflow_uuid,function_id) DO NOTHING")
write("fuzz_sql", "dequeue",
      b"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 "
      b"ORDER BY priority ASC, created_at ASC LIMIT 10 FOR UPDATE SKIP LOCKED")
write("fuzz_sql", "session",
      b"BEGIN; SET idle_in_transaction_session_timeout = 60000; LISTEN ch; "
      b"SELECT set_config('a.b', E'c\\'d', false), pg_try_advisory_lock(1); RESET ALL; COMMIT")
write("fuzz_sql", "lexical",
      b"/* a /* b */ */ SELECT 'x''y', E'\\'', \"q\"\"r\", $t$ ; $t$, U&'\\0041' -- c\n"
      b"FROM t WHERE a = $1;")
write("fuzz_sql", "ddl",
      b"CREATE TEMP TABLE t (a int) ON COMMIT DROP; DECLARE c CURSOR WITH HOLD FOR SELECT 1; "
      b"PREPARE p AS SELECT 1; EXPLAIN ANALYZE DELETE FROM t; SET SESSION CHARACTERISTICS AS "
      b"TRANSACTION READ ONLY")

# ---- fuzz_router: statement text, then NUL and Bind values split by 0x1f, each led by a byte
# choosing format (bit 0) and type (bits 1-3: unknown text varchar bpchar name uuid text[] uuid[])
write("fuzz_router", "key",
      b"SELECT status FROM \"dbos\".workflow_status WHERE workflow_uuid=$1\0"
      b"\x02a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-0")
write("fuzz_router", "array",
      b"UPDATE \"dbos\".workflow_status SET status=$1 WHERE workflow_uuid = ANY($2::text[])\0"
      b"\x02CANCELLED\x1f\x0c{w1,\"w 2\",NULL}")
write("fuzz_router", "rows",
      b"INSERT INTO \"dbos\".workflow_status (workflow_uuid, status) VALUES ($1,$2), ('b', ')') "
      b"ON CONFLICT (workflow_uuid) DO UPDATE SET status = $3 RETURNING workflow_uuid\0"
      b"\x02w1\x1f\x02x\x1f\xff")
write("fuzz_router", "dequeue",
      b"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 "
      b"ORDER BY priority ASC, created_at ASC LIMIT 10 OFFSET $3 FOR UPDATE SKIP LOCKED")
write("fuzz_router", "fork",
      b"WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES ($1::text,$2::text,$3::int,"
      b"$4::text)) INSERT INTO \"dbos\".workflow_events (workflow_uuid, key, value) SELECT "
      b"m.fork_id, e.key, e.value FROM mapping m JOIN \"dbos\".workflow_events e ON "
      b"e.workflow_uuid = m.orig_id\0\x0b\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9"
      b"\xbd\x38\x0a\x11\x1f\x02w1")
write("fuzz_router", "mixed",
      b"BEGIN; SELECT count(*), max(created_at) FROM dbos.workflow_status WHERE queue_name = 'q' "
      b"GROUP BY queue_name; SELECT * FROM dbos.queues q LEFT JOIN dbos.workflow_status ws ON "
      b"ws.queue_name = q.name; SELECT dbos.enqueue_workflow('w', 'q', workflow_id => $1); "
      b"LISTEN c; COPY x TO STDOUT; COMMIT")

