"""Errors raised by the recordings package.

RecordingError
├── RecordFormatError   a stored record is not a valid audit record (v1)
├── ChainBroken         the hash chain of a stream fails at a named sequence number
├── SegmentNameError    a recording segment's name is malformed or leaves the recordings root
└── SegmentError        a recording segment can't be written
"""

from __future__ import annotations


class RecordingError(Exception):
    """Base class of every error raised by the recordings package."""


class RecordFormatError(RecordingError, ValueError):
    """A stored record can't be read as an audit record of a known version."""


class ChainBroken(RecordingError):
    """The audit chain of `stream` is broken; `seq` is the first sequence number that fails."""

    def __init__(self, stream: str, seq: int, reason: str) -> None:
        super().__init__(f"Stream {stream}: event {seq} fails verification: {reason}")
        self.stream = stream
        self.seq = seq
        self.reason = reason


class SegmentNameError(RecordingError, ValueError):
    """A recording segment's name is malformed, or its path would leave the recordings root."""


class SegmentError(RecordingError):
    """A recording segment can't be written: its file exists already, or the muxer failed."""
