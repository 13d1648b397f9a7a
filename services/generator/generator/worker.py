"""A generation worker process: loads the model once, then runs the engine
on the songs the server sends it over a pipe.

Protocol (tuples over a multiprocessing Connection):
  server -> worker: ("songs", [song_id, ...], stream: bool, urgent: bool), ("stream", song_id),
                    ("expedite", song_id), ("cancel", song_id), ("stop",)
  worker -> server: ("ready", {"device", "pid"}), ("error", text),
                    ("piece", song_id, title_delta, lyrics_delta), ("done", SongResult),
                    ("stats", {"waiting", "active", "tokens", "seconds"})
A one-shot worker (per-request mode) generates one song and exits.
"""
from __future__ import annotations

import os
import signal
import time
import traceback

STATS_INTERVAL_S = 0.5


def worker_main(conn, settings, one_shot: bool) -> None:
    # The server stops its workers itself once in-flight RPCs have drained;
    # a Ctrl-C or SIGTERM sent to the whole process group must not cut them off.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # torch is imported here, in the worker, never in the server process.
    from generator.runtime import load_runtime
    from generator.songs import PieceTracker, assemble

    try:
        runtime = load_runtime(settings)
    except Exception:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass  # the server is gone too
        conn.close()
        return
    engine, tokenizer = runtime.engine, runtime.tokenizer
    try:
        conn.send(("ready", {"device": runtime.device, "pid": os.getpid()}))
    except OSError:
        conn.close()
        return  # the server stopped while this worker was loading

    streams: dict[int, PieceTracker | None] = {}   # song id -> tracker when streamed
    tokens_so_far: dict[int, list[int]] = {}
    served = 0
    stat_tokens, stat_since = 0, time.monotonic()

    def handle(message) -> bool:
        nonlocal served
        kind = message[0]
        if kind == "stop":
            return False
        if kind == "songs":
            for song_id in message[1]:
                if song_id in tokens_so_far:
                    continue  # already running here
                tokens_so_far[song_id] = []
                streams[song_id] = PieceTracker(tokenizer, runtime.prefix) if message[2] else None
                engine.submit(song_id, urgent=message[3])
                served += 1
        elif kind == "stream" and message[1] in streams and streams[message[1]] is None:
            streams[message[1]] = PieceTracker(tokenizer, runtime.prefix)
        elif kind == "expedite":
            engine.expedite(message[1])
        elif kind == "cancel" and message[1] in tokens_so_far:
            engine.cancel(message[1])
            del tokens_so_far[message[1]], streams[message[1]]
        return True

    try:
        while True:
            # Block while idle; between steps only take what has already arrived.
            if not engine.busy and one_shot and served:
                return
            if not engine.busy or conn.poll():
                if not handle(conn.recv()):
                    return
                continue
            emitted, finished = engine.step()
            stat_tokens += len(emitted)
            for song_id, token in emitted:
                tokens = tokens_so_far[song_id]
                tokens.append(token)
                tracker = streams[song_id]
                if tracker is not None and token != engine.gen.eot_id:
                    piece = tracker.update(tokens)
                    if piece:
                        conn.send(("piece", song_id, *piece))
            for f in finished:
                del tokens_so_far[f.song_id]
                tracker = streams.pop(f.song_id)
                song = assemble(tokenizer, f.song_id, f.tokens, f.failed, engine.gen.max_new_tokens,
                                runtime.prefix)
                rest = tracker.finish(song) if tracker is not None else None
                if rest:
                    conn.send(("piece", f.song_id, *rest))  # the stream adds up to the song
                conn.send(("done", song))
            now = time.monotonic()
            # Also when going idle, so the gauges do not keep the last busy figures.
            if now - stat_since >= STATS_INTERVAL_S or not engine.busy:
                conn.send(("stats", {"waiting": len(engine.waiting), "active": engine.active,
                                     "tokens": stat_tokens, "seconds": now - stat_since}))
                stat_tokens, stat_since = 0, now
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the server went away or is shutting down
    finally:
        conn.close()
