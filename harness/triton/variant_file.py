"""Which models of a repository are variants of which, and how well they agree: each variant folder holds a small
variant.json (harness.record.model.Agreement as JSON), written by `harness variants` and read here by every
command that names a variant (latency, sweep; a plan later). Read without a server, like harness.triton.repository.

Names: the variant `int8` of NAME is NAME_int8, `onnx-int8` is NAME_onnx_int8; `fp32` is NAME itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness.errors import ConfigError
from harness.record.model import Agreement
from harness.triton.repository import model_names

VARIANTS = ("fp32", "int8", "onnx", "onnx-int8", "bf16", "fp16")
FILE_NAME = "variant.json"
_HELP = f"choose from {', '.join(VARIANTS)}"


def parse_variants(text: str, flag: str = "--variants") -> tuple[str, ...]:
    """'fp32,int8,onnx' -> ('fp32', 'int8', 'onnx'), in the order given, each once; one line on a typo."""
    names = tuple(dict.fromkeys(item.strip().lower().replace("_", "-") for item in text.split(",") if item.strip()))
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise ConfigError(f"{flag} {text!r}: {unknown[0] if unknown else 'nothing'} is not a variant; {_HELP}")
    return names


def variant_model(original: str, variant: str) -> str:
    """The model name a variant is written under."""
    return original if variant == "fp32" else f"{original}_{variant.replace('-', '_')}"


def write_variant(folder: Path, agreement: Agreement) -> None:
    (folder / FILE_NAME).write_text(json.dumps(dataclasses.asdict(agreement), indent=2) + "\n")


def read_variant(repository: Path, model: str) -> Agreement | None:
    """The agreement a variant model carries; None for a model that is no variant (or an unreadable file)."""
    path = repository / model / FILE_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    known = {f.name for f in dataclasses.fields(Agreement)}
    try:
        return Agreement(**{k: v for k, v in data.items() if k in known})
    except TypeError:  # a file missing a required field: not ours to trust
        return None


def variants_of(repository: Path, original: str) -> list[tuple[str, Agreement]]:
    """Every variant of `original` in the repository, as (model name, agreement), in VARIANTS order."""
    found = [(name, read_variant(repository, name)) for name in model_names(repository) if name.startswith(f"{original}_")]
    mine = [(name, a) for name, a in found if a is not None and a.original == original]
    return sorted(mine, key=lambda item: VARIANTS.index(item[1].variant) if item[1].variant in VARIANTS else len(VARIANTS))
