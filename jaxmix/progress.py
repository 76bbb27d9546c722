"""Progress bars for long runs (many generations, streaming): tqdm when installed, else a plain
text fallback. Output goes to stderr, so stdout stays clean for results.

Two forms over one implementation:

    for t in progress(range(generations), desc="generations"):    # wrap an iterable
        ...

    with ProgressBar(total=num_rows, desc="rows", unit="rows") as bar:   # count work done
        for chunk in chunks:
            ...
            bar.update(len(chunk))

tqdm is optional (it is in the ``test`` extra only). Without it a line such as
``generations: 30/100 (30%)`` is rewritten in place on a terminal, or printed at every 10 %
(plus the first update) when stderr is not a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class ProgressBar:
    """A counter shown on ``file`` (default stderr) as work is done.

    Args:
        total: the amount of work (None when unknown).
        desc: a short label printed before the counter.
        unit: what is counted (shown by tqdm; the fallback prints ``done/total unit``).
        enable: False shows nothing (a quiet flag or a short run).
        file: a text stream; default ``sys.stderr``.
        use_tqdm: force (True) or forbid (False) tqdm; None uses it when it is installed.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        desc: str = "",
        unit: str = "it",
        enable: bool = True,
        file=None,
        use_tqdm: bool | None = None,
    ):
        self.total, self.desc, self.unit, self.enable = total, desc, unit, enable
        self.done = 0
        self._stream = sys.stderr if file is None else file
        self._bar = None
        self._last_decile = -1
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        if not enable or use_tqdm is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if use_tqdm:
                raise
            return
        self._bar = tqdm(total=total, desc=desc or None, unit=unit, file=self._stream, leave=False)

    def update(self, k: int = 1) -> None:
        """Record ``k`` more units of work done."""
        self.done += k
        if not self.enable:
            return
        if self._bar is not None:
            self._bar.update(k)
            return
        label = f"{self.desc}: " if self.desc else ""
        unit = "" if self.unit == "it" else f" {self.unit}"
        if self.total:
            text = f"{label}{self.done}/{self.total}{unit} ({100 * self.done // self.total}%)"
            decile = (10 * self.done) // self.total
            if self._tty:
                self._stream.write("\r" + text)
            elif decile != self._last_decile:
                self._stream.write(text + "\n")
            self._last_decile = decile
        elif self._tty:
            self._stream.write(f"\r{label}{self.done}{unit}")
        self._stream.flush()

    def close(self) -> None:
        """Finish the bar (ends the in-place line on a terminal)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enable and self._tty and self.done:
            self._stream.write("\n")
            self._stream.flush()
        self.enable = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    enable: bool = True,
    file=None,
    use_tqdm: bool | None = None,
) -> Iterator[T]:
    """Yield from ``iterable`` while showing a :class:`ProgressBar` (one update per item).

    ``total`` defaults to ``len(iterable)`` when it has one; the other arguments are those of
    :class:`ProgressBar`.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with ProgressBar(total, desc=desc, enable=enable, file=file, use_tqdm=use_tqdm) as bar:
        for item in iterable:
            yield item
            bar.update(1)
