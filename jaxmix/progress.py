"""A progress bar for long loops (many generations, streaming): tqdm when installed, else a
plain text fallback. Output goes to stderr, so stdout stays clean for results.

    for t in progress(range(generations), desc="generations"):
        ...

tqdm is optional (it is in the ``test`` extra only); without it a line such as
``generations: 30/100 (30%)`` is rewritten in place on a terminal, or printed at every 10 % when
stderr is not a terminal.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    enable: bool = True,
    file=None,
    use_tqdm: bool | None = None,
) -> Iterator[T]:
    """Yield from ``iterable`` while showing progress on ``file`` (default stderr).

    Args:
        iterable: what to loop over.
        total: number of items (default ``len(iterable)`` when it has one).
        desc: a short label printed before the counter.
        enable: False yields silently (a quiet flag or a short loop).
        file: a text stream; default ``sys.stderr``.
        use_tqdm: force (True) or forbid (False) tqdm; None uses it when it is installed.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enable:
        yield from iterable
        return
    stream = sys.stderr if file is None else file
    tqdm = None
    if use_tqdm is not False:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if use_tqdm:
                raise
    if tqdm is not None:
        yield from tqdm(iterable, total=total, desc=desc or None, file=stream, leave=False)
        return
    yield from _plain(iterable, total, desc, stream)


def _plain(iterable, total, desc, stream):
    tty = bool(getattr(stream, "isatty", lambda: False)())
    label = f"{desc}: " if desc else ""
    last_decile = -1
    count = 0
    for item in iterable:
        yield item
        count += 1
        if total:
            decile = (10 * count) // total
            if tty:
                stream.write(f"\r{label}{count}/{total} ({100 * count // total}%)")
            elif decile != last_decile:
                stream.write(f"{label}{count}/{total} ({100 * count // total}%)\n")
            last_decile = decile
        elif tty:
            stream.write(f"\r{label}{count}")
        stream.flush()
    if tty:
        stream.write("\n")
        stream.flush()
