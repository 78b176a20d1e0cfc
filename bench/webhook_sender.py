"""Load tool for webhooks: sends every event of a file exactly once, signed as the provider signs.

``python -m bench.webhook_sender EVENTS URL SECRET CONNECTIONS RESULT``: EVENTS holds one event
payload (JSON) a line; each is signed with SECRET (Stripe's scheme: ``t=<unix time>,v1=<HMAC-SHA256
of "<t>.<payload>">``) just before it is sent, so the 300-second tolerance holds however long the
batch takes, and POSTed from CONNECTIONS threads. wrk replays a plan round and round for a
duration; a batch of events must go exactly once each, so this small sender is used instead
(its CPU use is reported as the load tool's, like wrk's). RESULT gets a JSON summary.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def main(argv: list[str]) -> int:
    events_path, url, secret, connections, result_path = argv
    with open(events_path, "rb") as events:
        payloads = [line for line in events.read().splitlines() if line]
    parts = urlsplit(url)
    lock = threading.Lock()
    cursor = iter(range(len(payloads)))
    latencies: list[float] = []
    statuses: Counter = Counter()
    socket_errors = 0

    def worker() -> None:
        nonlocal socket_errors
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            payload = payloads[index]
            status = 0
            for _attempt in range(3):  # a socket error is counted, and the event sent again
                headers = {"Content-Type": "application/json",
                           "Stripe-Signature": sign(payload, secret)}
                clock = time.perf_counter()
                try:
                    conn.request("POST", parts.path, body=payload, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    with lock:
                        socket_errors += 1
            if not status:
                continue
            elapsed = (time.perf_counter() - clock) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1
        conn.close()

    started = time.time()
    threads = [threading.Thread(target=worker) for _ in range(int(connections))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.time()
    with open(result_path, "w") as out:
        json.dump({"started": started, "finished": finished, "sent": len(payloads),
                   "latencies_ms": latencies, "statuses": statuses,
                   "socket_errors": socket_errors}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
