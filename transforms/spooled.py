"""Long recordings carried on disk: 48 kHz float32 in an unlinked temporary file, read a span at a time.

A 2-hour recording is 1.4 GB of 48 kHz float32; held whole in a worker, beside the models, it
would take that worker past 2 GB. The decode parent (:mod:`transforms.decode_worker`) writes
an item's samples to a temporary file once they pass ``DecodeStage.spill_after_s`` (the pipe's
bytes are spliced into it, never copied through Python), and the sample carries a
:class:`SpooledAudio` instead of an array:

- ``len()``, ``shape``, ``size``, ``dtype`` as for the array it stands for;
- ``audio[a:b]`` reads just that span (``pread`` into a new float32 array): the segment stage's
  VAD pieces, Whisper windows and pause search read the recording a block at a time;
- :meth:`span` is a lazy view of a span (no samples read): the segment stage gives each cut
  segment one, so a recording's segments do not hold it in memory either; each is read when a
  later stage asks for its samples (``np.asarray``), a segment at a time;
- ``np.asarray(audio)`` (and any ndarray attribute) reads the whole span it stands for: what a
  stage that needs the samples of a (short) segment does.

The samples are the exact float32 values the array would hold (the file is raw float32), so
segments cut from a spooled recording are byte-identical to segments cut from the array. The file
has no name (unlinked at creation, in ``tempfile.gettempdir()``): it is freed when the last view
of it goes, and nothing is left behind by a crash.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

_ITEM = 4  # float32


class Spool:
    """The open file behind one recording's views (closed when the last view goes)."""

    def __init__(self, directory: str | None = None) -> None:
        self.file = tempfile.TemporaryFile(dir=directory)  # unlinked: nothing outlives the process
        self.fd = self.file.fileno()
        self.samples = 0
        self._partial = 0  # bytes of a sample not yet whole (a splice may stop mid-sample)

    def append(self, samples: np.ndarray | memoryview) -> None:
        view = memoryview(samples).cast("B")
        offset, size = self.samples * _ITEM, view.nbytes
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written
        self.samples += size // _ITEM

    def splice(self, pipe: int, nbytes: int) -> int:
        """Move up to ``nbytes`` of samples from ``pipe`` to the end of the file (in the kernel, no copy
        through Python); the bytes moved. ``BlockingIOError`` when a non-blocking pipe is empty."""
        offset = self.samples * _ITEM + self._partial
        if hasattr(os, "splice"):
            moved = os.splice(pipe, self.fd, nbytes, offset_dst=offset)
        else:  # not Linux: through a buffer
            data = os.read(pipe, min(nbytes, 1 << 20))
            moved = os.pwrite(self.fd, data, offset) if data else 0
        self._partial += moved
        self.samples += self._partial // _ITEM
        self._partial %= _ITEM
        return moved

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty(max(0, stop - start), dtype=np.float32)
        view, done = memoryview(out).cast("B"), 0
        while done < len(view):
            got = os.preadv(self.fd, [view[done:]], start * _ITEM + done)
            if not got:
                raise OSError(f"spooled audio ends at byte {start * _ITEM + done}, wanted {stop * _ITEM}")
            done += got
        return out


class SpooledAudio:
    """``samples[start:stop]`` of a recording on disk, standing in for a mono float32 array."""

    dtype = np.dtype(np.float32)
    ndim = 1

    def __init__(self, spool: Spool, start: int = 0, stop: int | None = None) -> None:
        self._spool = spool
        self._start = start
        self._stop = spool.samples if stop is None else stop

    @classmethod
    def from_array(cls, audio: np.ndarray, directory: str | None = None) -> SpooledAudio:
        """A spooled copy of ``audio`` (tests, tools)."""
        spool = Spool(directory)
        spool.append(np.ascontiguousarray(audio, dtype=np.float32))
        return cls(spool)

    # -- what an array would say ---------------------------------------------------------------
    def __len__(self) -> int:
        return self._stop - self._start

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    @property
    def size(self) -> int:
        return len(self)

    @property
    def nbytes(self) -> int:
        return len(self) * _ITEM

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return self.__array__()[index]
            return self._spool.read(self._start + start, self._start + max(start, stop))
        if isinstance(index, (int, np.integer)):
            i = range(len(self))[index]  # IndexError as an array's
            return self._spool.read(self._start + i, self._start + i + 1)[0]
        return self.__array__()[index]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        audio = self._spool.read(self._start, self._stop)
        return audio if dtype is None else audio.astype(dtype, copy=False)

    def __getattr__(self, name: str) -> Any:
        """Any other ndarray attribute (``mean``, ``astype``, ...), of the samples read now."""
        if name.startswith("__") or name in ("_spool", "_start", "_stop"):
            raise AttributeError(name)
        return getattr(self.__array__(), name)

    def __reduce__(self) -> tuple:
        return (np.asarray, (self.__array__(),))  # a pickled copy is a plain array

    def __repr__(self) -> str:
        return f"SpooledAudio({len(self)} samples at {self._start} of fd {self._spool.fd})"

    # -- views ---------------------------------------------------------------------------------
    def span(self, start: int, stop: int) -> SpooledAudio:
        """A lazy view of ``[start:stop]`` (clipped like a slice): nothing is read until asked."""
        start, stop, _ = slice(start, stop).indices(len(self))
        return SpooledAudio(self._spool, self._start + start, self._start + max(start, stop))


def _delegate(name: str) -> Any:
    def method(self: SpooledAudio, *args: Any) -> Any:
        return getattr(self.__array__(), name)(*args)

    method.__name__ = name
    return method


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__neg__", "__abs__", "__pow__", "__lt__", "__le__", "__gt__", "__ge__", "__iter__",
):  # fmt: skip
    setattr(SpooledAudio, _name, _delegate(_name))


def span_of(audio: np.ndarray | SpooledAudio, start: int, stop: int) -> np.ndarray | SpooledAudio:
    """``audio[start:stop]`` as a segment keeps it: a lazy view of a spooled recording, else an array."""
    if isinstance(audio, SpooledAudio):
        return audio.span(start, stop)
    return np.ascontiguousarray(audio[start:stop])
