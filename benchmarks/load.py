"""A bounded HTTP load client: threads with keep-alive `http.client` connections to the
benchmark server on the loopback address. Every run is bounded in requests and in time and
stops by itself."""

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Result:
    name: str
    latencies: list = field(default_factory=list)  # seconds, successful requests only
    statuses: dict = field(default_factory=dict)
    elapsed: float = 0.0
    bodies: list = field(default_factory=list)

    @property
    def count(self):
        return sum(self.statuses.values())

    @property
    def throughput(self):
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, share):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
        return ordered[index]

    @property
    def p50(self):
        return self.percentile(0.50)

    @property
    def p99(self):
        return self.percentile(0.99)

    @property
    def server_errors(self):
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self):
        return (
            f"{self.name}: {self.count} requests in {self.elapsed:.1f} s, {self.throughput:.1f}/s, "
            f"p50 {self.p50 * 1000:.1f} ms, p99 {self.p99 * 1000:.1f} ms, "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


class Client:
    """One keep-alive connection with the headers of one signed-in user."""

    def __init__(self, host, port, token=None, timeout=120):
        if host not in LOOPBACK:
            raise ValueError(f"The benchmark only sends requests to the loopback address, not {host}.")
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.connection = None

    def request(self, method, path, body=None, headers=None):
        """(status, body bytes, response headers, seconds)."""
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {**self.headers, **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=payload, headers=all_headers)
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection closed by the server between requests: reconnect once.
                self.close()
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, data, dict(response.getheaders()), seconds
        raise RuntimeError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run_load(name, *, host, port, token, paths, concurrency, requests, time_limit, headers=None, ok=(200,)):
    """GET `paths` (cycled) from `concurrency` threads until `requests` are answered or
    `time_limit` seconds have passed, whichever comes first."""
    result = Result(name)
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + time_limit

    def worker():
        client = Client(host, port, token)
        try:
            while time.monotonic() < deadline:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                status, _, _, seconds = client.request("GET", paths[index % len(paths)], headers=headers)
                with lock:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if status in ok:
                        result.latencies.append(seconds)
        finally:
            client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_limit + 60)
    result.elapsed = time.perf_counter() - started
    return result


def run_sequence(name, client, calls, ok=(200,)):
    """Send `calls` [(method, path, body[, headers])] one after another; time each."""
    result = Result(name)
    started = time.perf_counter()
    for method, path, body, *headers in calls:
        status, data, _, seconds = client.request(method, path, body, headers[0] if headers else None)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status in ok:
            result.latencies.append(seconds)
        else:
            result.bodies.append(data[:500])
    result.elapsed = time.perf_counter() - started
    return result


def run_at_once(name, *, host, port, requests, time_limit=120):
    """Send `requests` [(token, method, path, body, headers)] from one thread each, released
    together by a barrier; (result, [(status, body)] in the order given).

    `port` may be a list of ports (several app servers on one database): request i goes to
    port[i % len(port)], so the load is spread evenly over them; `result.per_port` counts
    the requests each one answered."""
    result = Result(name)
    answers = [None] * len(requests)
    barrier = threading.Barrier(len(requests))
    ports = port if isinstance(port, (list, tuple)) else [port]
    clients = [Client(host, ports[index % len(ports)], token) for index, (token, *_) in enumerate(requests)]
    result.per_port = {}
    for client in clients:
        result.per_port[client.port] = result.per_port.get(client.port, 0) + 1

    def worker(index):
        _, method, path, body, headers = requests[index]
        try:
            barrier.wait(timeout=30)
            status, data, _, seconds = clients[index].request(method, path, body, headers)
        except Exception as error:  # noqa: BLE001 — a failed request is counted, not raised
            answers[index] = (0, str(error).encode())
            return
        finally:
            clients[index].close()
        answers[index] = (status, data)
        result.latencies.append(seconds)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_limit)
    result.elapsed = time.perf_counter() - started
    for answer in answers:
        status = answer[0] if answer else 0
        result.statuses[status] = result.statuses.get(status, 0) + 1
    return result, answers


def median(values):
    return statistics.median(values) if values else float("nan")
