"""Answers checked under load: each response compared with the outputs its request's entry expects (perf_analyzer's
validation_data, or the original model's outputs for a variant under --validate-outputs). The Python engine calls
this; the compiled engine (cpp/lean_engine.cc, ValidateResponse) implements the same rule and the same messages,
held together by the parity tests.

An expected output, as the config frame carries it (protocol.py): [name, datatype, shape, raw bytes, atol, rtol,
top1]. The rule per output: with top1 (a classifier's [rows, classes] float output), every row's top-1 class must
be the expected one; otherwise the bytes are equal, or, for FP32/FP64, every element is within
atol + rtol x |expected|. A mismatch is one line naming the entry and the output: "validation: entry 3, output
'logits': 0.51 at element 2, expected 0.5". Responses are parsed with tritonclient's ModelInferResponse, imported
only when a check is configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_FLOATS = {"FP32": np.float32, "FP64": np.float64}
PREFIX = "validation: "  # every mismatch message starts so: a wrong answer, not a server that failed to answer


@dataclass(frozen=True)
class Expected:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: bytes
    atol: float = 0.0
    rtol: float = 0.0
    top1: bool = False

    def frame(self) -> list[Any]:
        return [self.name, self.datatype, list(self.shape), self.data, self.atol, self.rtol, self.top1]

    @classmethod
    def from_frame(cls, item: Sequence[Any]) -> Expected:
        name, datatype, shape, data, atol, rtol, top1 = item
        return cls(str(name), str(datatype), tuple(int(d) for d in shape), bytes(data), float(atol), float(rtol), bool(top1))


class Validator:
    """The expected outputs of every payload (by payload index, as the engine cycles through them)."""

    def __init__(self, expect: Sequence[Sequence[Sequence[Any]]]) -> None:
        from tritonclient.grpc import service_pb2  # only where answers are checked

        self._parse = service_pb2.ModelInferResponse.FromString
        self.expect = [[Expected.from_frame(item) for item in entry] for entry in expect]

    def check(self, index: int, response: bytes) -> str | None:
        """None when the response carries what entry `index` expects, else the one-line mismatch."""
        message = self._parse(response)
        got = {tensor.name: raw for tensor, raw in zip(message.outputs, message.raw_output_contents, strict=False)}
        for want in self.expect[index % len(self.expect)]:
            problem = "missing from the response" if want.name not in got else mismatch(want, got[want.name])
            if problem:
                return f"{PREFIX}entry {index}, output {want.name!r}: {problem}"
        return None


def mismatch(want: Expected, got: bytes) -> str | None:
    """How `got` (raw output bytes) differs from what is expected, None when it does not."""
    if len(got) != len(want.data):
        return f"{len(got)} bytes, expected {len(want.data)}"
    floating = _FLOATS.get(want.datatype)
    if want.top1 and floating is not None and len(want.shape) >= 2 and want.shape[-1] >= 2:
        rows_got = np.frombuffer(got, floating).reshape(-1, want.shape[-1]).argmax(axis=1)
        rows_want = np.frombuffer(want.data, floating).reshape(-1, want.shape[-1]).argmax(axis=1)
        wrong = np.flatnonzero(rows_got != rows_want)
        return f"top-1 class {rows_got[wrong[0]]} in row {wrong[0]}, expected {rows_want[wrong[0]]}" if wrong.size else None
    if got == want.data:
        return None
    if floating is None:
        return "differs from the expected bytes"
    values, expected = np.frombuffer(got, floating).astype(np.float64), np.frombuffer(want.data, floating).astype(np.float64)
    bad = np.flatnonzero(~(np.abs(values - expected) <= want.atol + want.rtol * np.abs(expected)))
    if not bad.size:
        return None
    return f"{values[bad[0]]:.9g} at element {bad[0]}, expected {expected[bad[0]]:.9g}"
