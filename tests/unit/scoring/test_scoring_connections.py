"""Connections and time (issue 16, items 1, 2 and 4) against a real server: bodies that stop
arriving, idle and slowloris connections, a ceiling on connections, one deadline over the whole
request, and a drain that ends. Raw sockets play the hostile clients."""

from __future__ import annotations

import json
import re
import signal
import socket
import struct
import threading
import time

import requests
from scoring_helpers import wait_until

ROW = [5.1, 3.5, 1.4, 0.2]
SLOW_HEAD = (
    b"POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    b"Content-Length: 500\r\n\r\n"
)


def _open(server, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    if data:
        sock.sendall(data)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (whatever it sent first)."""
    sock.settimeout(0.05)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(30)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _iris(start_server, iris_classifier, **settings):
    return start_server(
        model_dir=iris_classifier.directory, artifact_sha256=iris_classifier.sha256, **settings
    )


def _score(server, timeout: float = 30) -> requests.Response:
    return requests.post(server.url + "/score", json={"data": [ROW]}, timeout=timeout)


def test_a_body_that_stops_arriving_holds_no_slot_and_gets_408(start_server, iris_classifier):
    server = _iris(
        start_server,
        iris_classifier,
        max_concurrent_requests=4,
        request_timeout_ms=3000,
    )
    stalled = [_open(server, SLOW_HEAD + b'{"data":') for _ in range(4)]
    try:
        # four stalled bodies, a limit of four: still, nobody else is refused
        for _ in range(3):
            response = _score(server)
            assert response.status_code == 200, response.text
        for sock in stalled:
            answer = _answer(sock)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"did not arrive within the request timeout" in answer
            assert b"8 of 500 bytes received" in answer
    finally:
        for sock in stalled:
            sock.close()
    counts = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    assert (counts["answered"], counts["serverErrors"]) == (7, 0), "a slow client is no 5xx"
    # every answered call is in the latency histogram a rollout's p99 gate reads
    assert sum(counts["latencyCounts"]) == 7
    assert len(counts["latencyCounts"]) == len(counts["latencyBucketsMs"]) + 1


def test_the_batcher_does_not_wait_for_a_body_still_arriving(start_server, iris_classifier):
    # were a stalled body awaited, every batch would wait the full minute of MAX_BATCH_DELAY_MS
    server = _iris(
        start_server,
        iris_classifier,
        max_batch_delay_ms=60_000,
        request_timeout_ms=120_000,
    )
    stalled = _open(server, SLOW_HEAD + b'{"data":')
    try:
        for _ in range(3):
            assert _score(server, timeout=30).status_code == 200
    finally:
        stalled.close()


def test_sigterm_drains_although_a_body_never_arrives(start_server, iris_classifier):
    server = _iris(
        start_server,
        iris_classifier,
        request_timeout_ms=600_000,
        drain_timeout_ms=2000,
    )
    stalled = _open(server, SLOW_HEAD + b'{"data":')
    try:
        assert _score(server).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        # only the drain's deadline can end it: the body's own would come in ten minutes
        assert server.process.wait(timeout=60) == 0
    finally:
        stalled.close()


def test_idle_and_slowloris_connections_are_closed(start_server, iris_classifier):
    server = _iris(
        start_server,
        iris_classifier,
        header_timeout_s=1,
        keep_alive_timeout_s=1,
    )
    idle = [_open(server) for _ in range(20)]
    partial = [_open(server, b"POST /score HTTP/1.1\r\nHost: test\r\n") for _ in range(20)]
    kept_alive = requests.Session()
    assert kept_alive.post(server.url + "/score", json={"data": [ROW]}, timeout=10).ok
    sockets = idle + partial
    try:
        wait_until(lambda: all(_closed_by_server(s) for s in sockets), 30, "sockets to close")
        # meanwhile and after, ordinary clients are served
        assert _score(server).status_code == 200
        # the keep-alive connection was closed too; requests opens a new one transparently
        assert kept_alive.post(server.url + "/score", json={"data": [ROW]}, timeout=10).ok
    finally:
        for sock in sockets:
            sock.close()


def test_connections_over_the_ceiling_get_a_503_and_are_closed(start_server, iris_classifier):
    server = _iris(
        start_server,
        iris_classifier,
        max_connections=5,
        header_timeout_s=3,
    )
    held = [_open(server) for _ in range(5)]
    try:
        extra = _open(server)
        answer = _answer(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"MODELSERVE_MAX_CONNECTIONS" in answer
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: _score(server, timeout=10).status_code == 200, 30, "a connection slot")


def test_the_timeout_covers_decoding_a_large_body(start_server, iris_classifier):
    """A body at the size limit cannot be read and decoded in 20 ms: the answer is a timeout
    naming the setting (408 while reading, 504 after), never a late 200."""
    server = _iris(
        start_server,
        iris_classifier,
        request_timeout_ms=20,
    )
    rows = [ROW] * 200_000
    body = {"inputs": [{"name": "x", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}]}
    response = requests.post(server.url + "/v2/models/model/infer", json=body, timeout=60)
    assert response.status_code in (408, 504), response.text[:300]
    assert "timeout" in response.json()["error"] or "timed out" in response.json()["error"]
    assert _score(server).status_code in (200, 504)  # 20 ms is tight even for one row
    counts = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    assert counts["answered"] == 2


def test_a_large_body_decoded_in_the_worker_gives_the_models_answers(start_server, iris_classifier):
    server = _iris(
        start_server,
        iris_classifier,
        decode_offload_bytes=1024,
    )
    rows = iris_classifier.X[:150].tolist() * 20
    expected = iris_classifier.estimator.predict(rows).tolist()
    results: list[requests.Response] = []

    def post() -> None:
        results.append(requests.post(server.url + "/score", json={"data": rows}, timeout=60))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 4
    assert all(r.json() == expected for r in results)


# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, the segments received that carried data
_TCP_INFO_DATA_SEGS_IN = 152


def _data_segments_received(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", info, _TCP_INFO_DATA_SEGS_IN)[0]


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One keep-alive answer: (head, body), read by its Content-Length."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)\r\ncontent-length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_each_answer_reaches_the_client_as_one_segment(start_server, iris_classifier):
    # uvicorn writes an answer's head and body separately: two sends, and (TCP_NODELAY) two
    # segments for the client to read, for every call
    server = _iris(start_server, iris_classifier)
    body = json.dumps({"data": [ROW]}).encode()
    request = (
        b"POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    sock = _open(server)
    try:
        before = _data_segments_received(sock)
        for _ in range(20):
            sock.sendall(request)
            head, answer = _read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert json.loads(answer) == [0], answer
        assert _data_segments_received(sock) - before == 20
    finally:
        sock.close()


def test_an_answer_without_a_body_is_sent_and_the_connection_goes_on(start_server, iris_classifier):
    # a HEAD answer has no body to carry its head: it goes out when the answer is complete
    server = _iris(start_server, iris_classifier)
    sock = _open(server)
    try:
        sock.settimeout(10)
        sock.sendall(b"HEAD /openapi.json HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200 "), received[:200]
        assert received.endswith(b"\r\n\r\n"), "a HEAD answer carries no body"
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        head, answer = _read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert json.loads(answer) == {"status": "ok"}
    finally:
        sock.close()


def test_a_request_begun_is_not_cut_as_idle_however_slowly_its_headers_come(
    start_server, iris_classifier
):
    # idle means no request under way: a keep-alive connection that has begun its next
    # request is bound by the header deadline, not by KEEP_ALIVE_TIMEOUT_S
    server = _iris(start_server, iris_classifier, keep_alive_timeout_s=1, header_timeout_s=10)
    sock = _open(server, b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n")
    try:
        sock.settimeout(10)
        head, _ = _read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
        for piece in (b"GET /v2/health/live HTTP/1.1\r\n", b"Host: test\r\n", b"Accept: */*\r\n"):
            sock.sendall(piece)
            time.sleep(1.2)
        sock.sendall(b"\r\n")
        head, answer = _read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert json.loads(answer) == {"status": "ok"}
        # then, with nothing begun, the connection is idle and closed
        wait_until(lambda: _closed_by_server(sock), 10, "the idle connection to be closed")
    finally:
        sock.close()
