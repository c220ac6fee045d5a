"""A cached answer replayed as a stream: the text in word-bounded pieces (shared by
the framework adapters' streaming paths)."""

from __future__ import annotations

#: Characters per replayed piece (about: a piece ends after a space when one is near).
DEFAULT_REPLAY_CHUNK_CHARS = 24


def split_for_replay(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, each ending after a
    space when the piece has one (text without spaces, e.g. Chinese, is cut at
    ``size``). Joining the pieces gives ``text`` back; ``""`` gives ``[""]``."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            space = text.rfind(" ", start, end)
            if space > start:
                end = space + 1
        pieces.append(text[start:end])
        start = end
    return pieces or [""]
