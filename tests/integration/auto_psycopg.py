#!/usr/bin/env python3
"""tests/integration/auto_psycopg.py - psycopg 3 through pgpin in pool_mode = auto.

N concurrent clients (threads, one connection each). Each sets its own session settings
(statement_timeout, application_name, a custom GUC), then runs Q parameterised queries that read
them back, every 4th inside an explicit transaction. psycopg prepares a statement by name
(_pg3_N) after 5 executions, so the named statement must follow the client from server to server.
Prints one JSON line: {"clients", "queries", "ok", "errors": [...], "pids": n, "prepared": n}.
Usage: auto_psycopg.py CONNINFO [CLIENTS] [QUERIES]
"""
import json
import sys
import threading

import psycopg

DSN = sys.argv[1]
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
QUERIES = int(sys.argv[3]) if len(sys.argv) > 3 else 200

lock = threading.Lock()
errors = []
pids = set()
ok = 0
prepared = 0

SQL = ("SELECT %s::int + 1, current_setting('statement_timeout'), "
       "current_setting('application_name'), current_setting('pgpin.client'), pg_backend_pid()")


def client(i):
    global ok, prepared
    mine = set()
    good = 0
    try:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = {10001 + i}")
            conn.execute(f"SET application_name = 'py-{i}'")
            conn.execute(f"SET pgpin.client = '{i}'")
            want = (f"{10001 + i}ms", f"py-{i}", str(i))
            for k in range(QUERIES):
                v = i * 100000 + k
                if k % 4 == 3:
                    with conn.transaction():
                        row = conn.execute(SQL, (v,)).fetchone()
                else:
                    row = conn.execute(SQL, (v,)).fetchone()
                if row[0] != v + 1 or tuple(row[1:4]) != want:
                    raise AssertionError(f"client {i} query {k}: got {row!r}, want {v + 1} {want}")
                mine.add(row[4])
                good += 1
            # Whatever server it has now holds its _pg3_ statement (synced there if need be).
            npre = conn.execute("SELECT count(*) FROM pg_prepared_statements "
                                "WHERE name LIKE '_pg3_%%'").fetchone()[0]
    except Exception as e:  # noqa: BLE001 - every failure is reported
        with lock:
            errors.append(f"client {i}: {type(e).__name__}: {e}")
        return
    with lock:
        ok += good
        pids.update(mine)
        prepared += 1 if npre > 0 else 0


threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"driver": "psycopg " + psycopg.__version__, "clients": CLIENTS,
                  "queries": CLIENTS * QUERIES, "ok": ok, "errors": errors[:5],
                  "nerrors": len(errors), "pids": len(pids), "prepared": prepared}))
sys.exit(0 if not errors and ok == CLIENTS * QUERIES and prepared == CLIENTS else 1)
