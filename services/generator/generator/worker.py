"""A generation worker process: loads the model once, then runs the engine
on the songs the server sends it over a pipe.

Protocol: the dataclasses of generator/messages.py over a multiprocessing Connection
(Generate, Stream, Expedite, Cancel, Stop in; Ready, StartFailed, Piece, Done, Stats out).
A one-shot worker (per-request mode) generates one song and exits.
"""
from __future__ import annotations

import signal
import time
import traceback

from generator.messages import (
    Cancel,
    Done,
    Expedite,
    Generate,
    Piece,
    Ready,
    StartFailed,
    Stats,
    Stop,
    Stream,
    ToWorker,
)

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
            conn.send(StartFailed(traceback.format_exc()))
        except OSError:
            pass  # the server is gone too
        conn.close()
        return
    engine, tokenizer = runtime.engine, runtime.tokenizer
    try:
        conn.send(Ready(runtime.device))
    except OSError:
        conn.close()
        return  # the server stopped while this worker was loading

    streams: dict[int, PieceTracker | None] = {}   # song id -> tracker when streamed
    tokens_so_far: dict[int, list[int]] = {}
    served = 0
    stat_tokens, stat_since = 0, time.monotonic()

    def handle(message: ToWorker) -> bool:
        nonlocal served
        match message:
            case Stop():
                return False
            case Generate():
                for song_id in message.song_ids:
                    if song_id in tokens_so_far:
                        continue  # already running here
                    tokens_so_far[song_id] = []
                    streams[song_id] = (PieceTracker(tokenizer, runtime.prefix, runtime.plans)
                                         if message.stream else None)
                    engine.submit(song_id, urgent=message.urgent)
                    served += 1
            case Stream(song_id=song_id) if song_id in streams and streams[song_id] is None:
                streams[song_id] = PieceTracker(tokenizer, runtime.prefix, runtime.plans)
            case Expedite(song_id=song_id):
                engine.expedite(song_id)
            case Cancel(song_id=song_id) if song_id in tokens_so_far:
                engine.cancel(song_id)
                del tokens_so_far[song_id], streams[song_id]
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
                        conn.send(Piece(song_id, *piece))
            for f in finished:
                del tokens_so_far[f.song_id]
                tracker = streams.pop(f.song_id)
                song = assemble(tokenizer, f.song_id, f.tokens, f.failed, engine.gen.max_new_tokens,
                                runtime.prefix, runtime.plans)
                rest = tracker.finish(song) if tracker is not None else None
                if rest:
                    conn.send(Piece(f.song_id, *rest))  # the stream adds up to the song
                conn.send(Done(song, len(f.tokens)))
            now = time.monotonic()
            # Also when going idle, so the gauges do not keep the last busy figures.
            if now - stat_since >= STATS_INTERVAL_S or not engine.busy:
                conn.send(Stats(waiting=len(engine.waiting), active=engine.active, tokens=stat_tokens,
                                seconds=now - stat_since))
                stat_tokens, stat_since = 0, now
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the server went away or is shutting down
    finally:
        conn.close()
