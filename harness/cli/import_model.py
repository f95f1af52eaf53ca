"""`harness import-model FILE --name NAME`: a TorchScript, torch.export or ONNX file becomes a model the embedded
server serves (and the harness sweeps and compares like a bundled one); prints the native-backend config too."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.variants import add_variant_flags
from harness.errors import ConfigError


def add_import_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("import-model", help="bring your own model file (TorchScript, torch.export, ONNX)")
    p.add_argument("file", metavar="FILE", help="the model file: TorchScript (.pt), torch.export (.pt2) or ONNX")
    p.add_argument("--name", required=True, help="model name: the folder written in the repository")
    p.add_argument("--model-repository", metavar="DIR", help="where to write it (default: the bundled repository)")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME:DTYPE:DIMS",
        help="an input, in forward's order, e.g. image:FP32:-1,1,28,28 (full shape, -1 = variable; a "
        "leading -1 is the batch dimension). Needed for TorchScript, which records no shapes",
    )
    p.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="NAME:DTYPE:DIMS",
        help="an output, in order (default: read from the file, or found by running it once)",
    )
    p.add_argument("--force", action="store_true", help="replace a model of that name (and its variants)")
    add_variant_flags(p, required=False)
    p.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    from harness.triton import model_import as mi  # reads the file with torch: imported only for this command

    repository = Path(args.model_repository) if args.model_repository else mi.BUNDLED_REPOSITORY
    if not repository.is_dir():
        raise ConfigError(f"model repository {str(repository)!r} is not a folder; create it or fix --model-repository")
    mi.check_name(args.name)
    if (repository / args.name).exists() and not args.force:
        raise ConfigError(f"model {args.name!r} already exists in {repository}; pick another --name or add --force")
    source = Path(args.file)
    fmt = mi.detect_format(source)
    inputs = tuple(mi.parse_tensor(text, "--input") for text in args.input)
    outputs = tuple(mi.parse_tensor(text, "--output") for text in args.output)
    signature = mi.read_signature(source, fmt, inputs, outputs)
    if args.variants:
        _import_with_variants(args, repository, source, signature)
    folder = repository / args.name if args.variants else mi.write_model(repository, args.name, source, signature, args.force)
    runtime = "onnxruntime" if fmt == "onnx" else "torch"
    print(f"imported {source} ({fmt.replace('_', '.')}) as {folder}/ (Python backend running {runtime})")
    for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
        for t in tensors:
            print(f"  {kind}  {t.name} {t.datatype} {list(t.shape)}")
    where = f" --model-repository {repository}" if args.model_repository else ""
    print(f"serve it: harness serve --models {args.name}{where}")
    native = mi.native_config(args.name, signature)
    if native is None:
        print("\nno native Triton backend serves torch.export programs: use the Python-backend folder above on NGC too")
    else:
        print(
            f"\nnative-backend config.pbtxt for an NGC server (the file as {args.name}/1/{native['default_model_filename']}):\n"
        )
        print(mi.config_text(native), end="")
    return 0


def _import_with_variants(args: argparse.Namespace, repository: Path, source: Path, signature: object) -> None:
    """The import and its variants, written together (or nothing, on an error): harness.cli.variants runs them."""
    from harness.cli.variants import make_and_report
    from harness.triton.model_import import Signature, stage
    from harness.triton.model_variants import Original
    from harness.triton.variant_file import parse_variants

    assert isinstance(signature, Signature)
    variants = parse_variants(args.variants)
    original = Original(args.name, signature, path=source)
    make_and_report(
        args, repository, original, variants, lambda staging: stage(staging.folder(args.name), args.name, source, signature)
    )
