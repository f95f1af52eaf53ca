"""Reading a local Triton model repository without a server: which models it holds and their configs.

Folders whose name starts with '_' or '.' hold shared code (model_repository/_nets), not models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from harness.errors import ConfigError, ModelError, UnknownModel


def _bundled_repository() -> Path:
    """The bundled models: inside the package in a wheel install (setup.py copies them there), else the checkout's
    top-level model_repository/ (a source checkout or an editable install)."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "model_repository"
    return packaged if packaged.is_dir() else package.parent / "model_repository"


BUNDLED_REPOSITORY = _bundled_repository()


def is_model_name(name: str) -> bool:
    return not name.startswith(("_", "."))


def resolve_repository(path: str | Path | None) -> Path:
    repository = Path(path) if path else BUNDLED_REPOSITORY
    if not repository.is_dir():
        raise ConfigError(f"model repository {str(repository)!r} is not a folder; fix --model-repository")
    return repository.resolve()


def model_names(repository: Path) -> list[str]:
    return sorted(p.parent.name for p in repository.glob("*/config.pbtxt") if is_model_name(p.parent.name))


def read_config(repository: Path, model: str) -> dict[str, Any]:
    """config.pbtxt as a dict with protobuf field names (what Triton's config API returns)."""
    path = repository / model / "config.pbtxt"
    if not path.is_file():
        raise UnknownModel(model, model_names(repository), where=str(repository))
    try:
        message = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ModelError(f"{path}: broken config ({exc}); fix the file") from exc
    config = json_format.MessageToDict(message, preserving_proto_field_name=True)
    config.setdefault("name", model)
    return config
