"""OCR service overhead under concurrent load on loopback: client-observed latency minus the
engine's own time (HTTP + auth + upload + routing + event enqueue), with the fast engine path
(digital PDFs through the text layer). Target: p99 overhead <= 5 ms.

The service reports ``Server-Timing``: queue (waiting for a free engine process while the other
client's document is read), engine (the reads, as the pipeline awaits them: worker time plus the
pipe to it), pipeline, total. Overhead = client latency - queue - engine. The overhead is also
printed as a share of the engine time, with the queue wait beside it. The anchor measured in the
same run (``floor_app``) is the same transport, upload and engine round trip with nothing of ours
between: what the service adds is the difference.

Usage: python bench/bench_service.py [--requests 400] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocr_engines.pool import PooledEngine  # noqa: E402
from ocr_engines.evaluation import golden_documents  # noqa: E402
from rollout.actions import apply_action  # noqa: E402
from rollout.distribution import FlagReader  # noqa: E402
from rollout.events import EventWriter  # noqa: E402
from rollout.flags import FlagStore  # noqa: E402
from service.pipeline import OcrPipeline  # noqa: E402
from service.app import ServiceLimits, create_app  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def client(port: int, worker: int, clients: int, requests: int, golden: str,
           path: str = "/v1/ocr") -> list[tuple[float, float, float]]:
    """One load-generating process: (overhead, engine, queue) ms per request, from Server-Timing.

    HTTP/1.1 keep-alive over a plain socket, each request written at once: the load generator's
    own work must stay out of what is measured as the service's (http.client would add ~0.6 ms:
    it writes the headers and the body separately and parses the response with the email parser)."""
    docs = [d.path for d in golden_documents(Path(golden)) if d.group == "digital"]
    pdfs = [d.read_bytes() for d in docs]
    out = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(worker, requests, clients):
        body = pdfs[i % len(pdfs)]
        request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: bench-key\r\nX-User-Id: u{i}\r\n"
                   f"X-Bench-Doc: {docs[i % len(docs)]}\r\n"
                   f"Content-Type: application/pdf\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        start = time.perf_counter()
        sock.sendall(request)
        status, headers, payload = _response(sock)
        total_ms = (time.perf_counter() - start) * 1000
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")
        timing = {part.split(";dur=")[0].strip(): float(part.split(";dur=")[1])
                  for part in headers["server-timing"].split(",")}
        out.append((total_ms - timing["engine"] - timing["queue"], timing["engine"], timing["queue"]))
    sock.close()
    return out


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the service closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def floor_app(engine: PooledEngine, concurrency: int):
    """The anchor: the same transport (uvicorn, uvloop, httptools), the same upload and the same
    engine round trip (the client names the golden file), and nothing of ours in between: no
    framework, auth, upload file, routing, events or JSON. What the service adds is the difference."""
    semaphore = asyncio.Semaphore(concurrency)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        doc = dict(scope["headers"])[b"x-bench-doc"].decode()
        queued = time.perf_counter()
        async with semaphore:
            start = time.perf_counter()
            await engine.extract_async(Path(doc))
            end = time.perf_counter()
        timing = f"queue;dur={(start - queued) * 1000:.2f}, engine;dur={(end - start) * 1000:.2f}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", b"2"), (b"server-timing", timing)]})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def serve_and_load(app, args, path: str) -> tuple[list[float], list[float], list[float]]:
    """Serve ``app`` on a free loopback port and load it from ``args.clients`` processes."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    # The load comes from other processes, as it would: in-process clients would compete
    # with the server for the GIL and be measured as its overhead.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.clients) as pool:
        shares = pool.starmap(client, [(port, w, args.clients, args.requests, str(args.golden), path)
                                       for w in range(args.clients)])
    server.should_exit = True
    thread.join(10)
    rows = [row for share in shares for row in share]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1,
                        help="engine processes (default 1: on 2 cores, one core stays with the web tier)")
    parser.add_argument("--golden", type=Path, default=ROOT / "expectations" / "golden")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        store = FlagStore(url)
        store.init()
        apply_action(store, "enable", "bench", "all documents to the open-source engine")
        reader = FlagReader(store, None, refresh_s=60)
        reader.refresh()
        writer = EventWriter(url, Path(tmp) / "spool.jsonl")
        writer.init_schema()
        writer.start()
        engine = PooledEngine("tesseract", workers=args.workers, deadline_s=300)  # as the service runs it
        engine.warm_up()
        pipeline = OcrPipeline(reader.get, {"tesseract": engine}, writer)
        app = create_app(pipeline, reader, {"bench-key": "bench"}, {}, ServiceLimits(max_concurrency=args.workers))
        overheads, engine_ms, queue_ms = serve_and_load(app, args, "/v1/ocr")
        floor, _, _ = serve_and_load(floor_app(engine, args.workers), args, "/floor")
        pipeline.close()
        writer.close()
        engine.close()
    p50, p99 = percentile(overheads, 50), percentile(overheads, 99)
    print(f"service overhead over the engine: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= 5 ms) on "
          f"{len(overheads)} requests, {args.clients} concurrent clients, {args.workers} engine process(es); engine p50 "
          f"{statistics.median(engine_ms):.1f} ms (overhead p50 = {p50 / statistics.median(engine_ms):.1%} of it); "
          f"queue wait p50 {statistics.median(queue_ms):.2f} ms")
    f50, f99 = percentile(floor, 50), percentile(floor, 99)
    print(f"anchor, the same transport + upload + engine round trip with nothing of ours between: p50 {f50:.2f} ms, "
          f"p99 {f99:.2f} ms; the service adds p50 {p50 - f50:+.2f} ms, p99 {p99 - f99:+.2f} ms "
          f"(ratio p50 {p50 / f50:.2f}x, p99 {p99 / f99:.2f}x)")
    print(json.dumps({"requests": len(overheads), "clients": args.clients, "overhead_p50_ms": round(p50, 3),
                      "overhead_p99_ms": round(p99, 3), "engine_p50_ms": round(statistics.median(engine_ms), 2),
                      "anchor_p50_ms": round(f50, 3), "anchor_p99_ms": round(f99, 3)}))


if __name__ == "__main__":
    main()
