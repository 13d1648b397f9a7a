"""The one value a finished song is, in every service: what the generator answers
(``billionsongs.v1.Song`` at the gRPC edge), what pregen and the website cache in
Redis and what the website renders and sends to the votes service."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Song:
    """A finished song of one model release. A failed song (no end of text within
    the limit, or no lyrics) keeps ``failed`` and why in ``failure``; it is never
    shown, pooled or voted on."""
    song_id: int        # 0 .. 2**64 - 1
    model_release: str  # the release that wrote it ("" only inside the generator, before the server names it)
    title: str
    lyrics: str
    failed: bool = False
    failure: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["song_id"] = str(self.song_id)  # uint64 does not survive every JSON reader
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Song:
        """From ``to_json()``'s text; KeyError/TypeError/ValueError when it is not that."""
        data = json.loads(text)
        data["song_id"] = int(data["song_id"])
        return cls(**data)

    @classmethod
    def from_proto(cls, message) -> Song:
        """From a ``billionsongs.v1.Song`` message."""
        return cls(song_id=message.song_id, model_release=message.model_release, title=message.title,
                   lyrics=message.lyrics, failed=message.failed, failure=message.failure)
