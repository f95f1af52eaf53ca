"""`harness variants --model NAME --variants int8,onnx,...`: cheaper variants of a model already in a repository
(imported, or bundled), each written beside it and checked against it; `harness import-model FILE --variants ...`
does the same for the model it imports. The flags and the run are shared by both commands (here).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.cli.flags import add_input_data_flags
from harness.errors import ConfigError

if TYPE_CHECKING:  # the parser is built on every `harness` command: what runs a command is imported when it runs
    from harness.triton.model_import import Staging
    from harness.triton.model_variants import Original

VARIANT_NAMES = "fp32, int8, onnx, onnx-int8, bf16, fp16"  # harness.triton.variant_file.VARIANTS, for --help


def add_variants_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("variants", help="int8, ONNX Runtime, bf16/fp16 variants of a model, checked against it")
    p.add_argument("--model", required=True, help="the original: a model imported by import-model, or a bundled one")
    p.add_argument("--model-repository", metavar="DIR", help="where it is and the variants go (default: the bundled one)")
    add_variant_flags(p, required=True)
    p.add_argument("--force", action="store_true", help="replace variants written before")
    p.set_defaults(handler=run_variants)


def add_variant_flags(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--variants",
        required=required,
        metavar="LIST",
        help=f"comma-separated, of {VARIANT_NAMES} (fp32: the original itself); "
        "each written as NAME_<variant>, e.g. NAME_int8, NAME_onnx_int8",
    )
    p.add_argument(
        "--min-agreement",
        default="top1=0.99",
        metavar="BOUND",
        help="a variant below this is written but marked: top1=FRACTION for classifier outputs, max-abs=NUMBER for "
        "others (default top1=0.99, max-abs 1%% of the original's largest |output|)",
    )
    p.add_argument(
        "--calibration-data",
        metavar="PATH",
        help="onnx-int8 by static quantization, calibrated on this data (the formats of --input-data); default: dynamic",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs checked without --input-data")
    add_input_data_flags(p)


def run_variants(args: argparse.Namespace) -> int:
    from harness.triton.model_variants import from_repository
    from harness.triton.repository import resolve_repository
    from harness.triton.variant_file import parse_variants, read_variant

    variants = parse_variants(args.variants)
    repository = resolve_repository(args.model_repository)
    made_of = read_variant(repository, args.model)
    if made_of is not None:
        raise ConfigError(f"model {args.model!r} is itself a variant of {made_of.original!r}; make variants of that one")
    return make_and_report(args, repository, from_repository(repository, args.model), variants)


def make_and_report(
    args: argparse.Namespace,
    repository: Path,
    original: Original,
    variants: tuple[str, ...],
    stage_original: Callable[[Staging], None] | None = None,
) -> int:
    """Check the flags, make and check every variant, commit them together, print the table. `stage_original`
    (import-model) stages the original itself into the same commit: all are written, or none."""
    from harness.analysis.agreement import AGREEMENT_HEADERS, agreement_cells, parse_bound
    from harness.textfmt import text_table
    from harness.triton.model_import import Staging
    from harness.triton.variant_file import variant_model
    from harness.triton.variant_set import check_inputs, make_variants, spec_of

    bound = parse_bound(args.min_agreement)
    if args.calibration_data and "onnx-int8" not in variants:
        raise ConfigError("--calibration-data calibrates onnx-int8; add onnx-int8 to --variants or drop it")
    fix = "add --force to replace it" if stage_original is None else "pick another --name or add --force"
    check = Staging(repository, args.force, fix)
    for name in [variant_model(original.name, v) for v in variants if v != "fp32"]:
        check.check(name)  # before any work: a name that exists is one line, nothing made
    spec = spec_of(original)
    inputs = check_inputs(spec, _resolved(args.input_data), args.shape, args.seed)
    calibration = check_inputs(spec, _resolved(args.calibration_data), args.shape, args.seed) if args.calibration_data else None
    with Staging(repository, args.force, fix) as staging:
        if stage_original is not None:
            stage_original(staging)
        outcomes = make_variants(original, variants, staging, inputs, bound, calibration)
        staging.commit()
    print(f"\nvariants of {original.name} (agreement on {inputs.description}; bound {bound}):")
    rows = [agreement_cells(o.variant, o.model, o.status.split(":")[0], o.agreement) for o in outcomes]
    print(text_table(AGREEMENT_HEADERS, rows))
    for outcome in outcomes:
        if outcome.status.startswith("refused"):
            print(f"  {outcome.variant}: {outcome.status}")
        elif outcome.agreement is not None and outcome.agreement.below_bound:
            print(f"  {outcome.variant}: BELOW BOUND, written but marked ({outcome.agreement.why})")
    return 0


def _resolved(path: str | None) -> str:
    return str(Path(path).resolve()) if path else ""
