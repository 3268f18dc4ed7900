#!/usr/bin/python3
"""tests/soak_clients.py - the LISTEN/NOTIFY and connection-churn half of tests/soak.sh.

Runs for --secs seconds against pgpin on 127.0.0.1:--port and prints one JSON line:
  notify_sent / notify_received / notify_out_of_order: one listener (pool_mode = auto, so it
      is pinned) hears every NOTIFY of one notifier, in order;
  churn: connections opened and closed by the churn threads, each in one of four ways
      (clean close; close inside a transaction; prepared statements and a SET, then close;
      a raw client that asks for a 5 MB result and hangs up after reading 1 kB of it);
  errors: {message: count} of anything unexpected.
Bounded: every socket has a timeout and every loop a deadline.
"""
import argparse
import json
import select
import socket
import struct
import threading
import time
from collections import Counter

import psycopg

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--secs", type=float, required=True)
ap.add_argument("--db", default="soak")            # session mode
ap.add_argument("--db-auto", default="soak_auto")  # pool_mode = auto
ap.add_argument("--churn-threads", type=int, default=2)
args = ap.parse_args()

DEADLINE = time.monotonic() + args.secs
errors = Counter()
lock = threading.Lock()
stats = Counter()


def dsn(db, app):
    return (f"host=127.0.0.1 port={args.port} user=postgres dbname={db} "
            f"application_name={app} connect_timeout=10")


def error(what, exc):
    msg = f"{what}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    with lock:
        errors[msg[:200]] += 1


# ---- LISTEN/NOTIFY ----
received = []


def listener(ready):
    try:
        with psycopg.connect(dsn(args.db_auto, "soak_listener"), autocommit=True) as c:
            c.add_notify_handler(lambda n: received.append(int(n.payload)))
            c.execute("LISTEN soak")
            ready.set()
            # Notifications are dispatched while a command runs: wait for the socket, then
            # run an empty query to take them in.
            while time.monotonic() < DEADLINE + 3:
                select.select([c.fileno()], [], [], 0.5)
                c.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001 - every failure is a finding
        error("listener", e)
        ready.set()


def notifier():
    seq = 0
    try:
        with psycopg.connect(dsn(args.db_auto, "soak_notifier"), autocommit=True) as c:
            while time.monotonic() < DEADLINE:
                seq += 1
                c.execute("SELECT pg_notify('soak', %s)", (str(seq),))
                with lock:
                    stats["notify_sent"] += 1
                time.sleep(0.02)
    except Exception as e:  # noqa: BLE001
        error("notifier", e)


# ---- connection churn ----
def startup_packet(db):
    body = struct.pack("!I", 196608) + b"user\0postgres\0database\0" + db.encode() + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


def recv_until_ready(s):
    buf = b""
    while True:
        while len(buf) >= 5:
            t, n = buf[0:1], struct.unpack("!I", buf[1:5])[0]
            if len(buf) < n + 1:
                break
            if t == b"E":
                raise RuntimeError("ErrorResponse " + buf[5:n + 1].decode(errors="replace"))
            if t == b"Z":
                return
            buf = buf[n + 1:]
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("closed before ReadyForQuery")
        buf += chunk


def hang_up_mid_result():
    with socket.create_connection(("127.0.0.1", args.port), timeout=10) as s:
        s.sendall(startup_packet(args.db))
        recv_until_ready(s)
        q = b"SELECT repeat('x', 100000) FROM generate_series(1, 50)\0"
        s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
        s.recv(1024)


def churn_one(i):
    kind = i % 4
    if kind == 0:
        with psycopg.connect(dsn(args.db, "soak_churn")) as c:
            c.execute("SELECT 1").fetchall()
    elif kind == 1:
        c = psycopg.connect(dsn(args.db_auto, "soak_churn_tx"))
        c.execute("INSERT INTO soak_churn (n) VALUES (%s)", (i,))
        c.close()  # inside the transaction: pgpin must not pool that server as it is
    elif kind == 2:
        with psycopg.connect(dsn(args.db_auto, "soak_churn_prep"), autocommit=True) as c:
            c.execute("SET statement_timeout = '5s'")
            for _ in range(3):
                c.execute("SELECT count(*) FROM soak_churn WHERE n > %s", (i,), prepare=True)
    else:
        hang_up_mid_result()


def churner(k):
    i = k
    while time.monotonic() < DEADLINE:
        try:
            churn_one(i)
            with lock:
                stats["churn"] += 1
        except Exception as e:  # noqa: BLE001
            error(f"churn kind {i % 4}", e)
        i += args.churn_threads
        time.sleep(0.02)


ready = threading.Event()
threads = [threading.Thread(target=listener, args=(ready,))]
threads[0].start()
ready.wait(15)
threads.append(threading.Thread(target=notifier))
threads += [threading.Thread(target=churner, args=(k,)) for k in range(args.churn_threads)]
for t in threads[1:]:
    t.start()
for t in threads:
    t.join(args.secs + 60)

out_of_order = sum(1 for a, b in zip(received, received[1:]) if b != a + 1)
print(json.dumps({
    "notify_sent": stats["notify_sent"],
    "notify_received": len(received),
    "notify_out_of_order": out_of_order,
    "churn": stats["churn"],
    "errors": dict(errors),
}), flush=True)
