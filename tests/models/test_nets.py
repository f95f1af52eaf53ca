"""The model repository's torch networks and batching helper, without Triton."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "model_repository" / "_nets"))

import nets  # noqa: E402
import serving  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    # The CI box has 2 cores; one torch thread keeps timings stable and leaves a core to pytest.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    return nets.build_resnet50()


@pytest.fixture(scope="module")
def mnist() -> torch.nn.Module:
    return nets.build_mnist_cnn()


@pytest.fixture(scope="module")
def sentiment() -> torch.nn.Module:
    return nets.build_sentiment()


@pytest.fixture(scope="module")
def mnist_int8() -> torch.nn.Module:
    return nets.build_mnist_cnn_int8()


def _images(n: int, shape: tuple[int, ...] = (1, 28, 28), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape), dtype=np.float32)


def _tokens(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, nets.SENTIMENT_VOCAB, (n, nets.SENTIMENT_SEQ_LEN), dtype=np.int64)


def _run(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    return serving.run_batched(module, [x], dtype=x.dtype)[0]


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("n", [1, 3])
def test_mnist_shapes(mnist, mnist_int8, n):
    for module in (mnist, mnist_int8):
        out = _run(module, _images(n))
        assert out.shape == (n, 10) and out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("n", [1, 3])
def test_sentiment_shape(sentiment, n):
    out = _run(sentiment, _tokens(n))
    assert out.shape == (n, 2) and out.dtype == np.float32 and np.isfinite(out).all()


def test_sentiment_all_padding_is_finite(sentiment):
    out = _run(sentiment, np.zeros((2, nets.SENTIMENT_SEQ_LEN), dtype=np.int64))
    assert np.isfinite(out).all()


def test_resnet50_shape_and_size(resnet):
    # Batch 1 and 3 in one pass each, kept to the minimum on a 2-core box.
    for n in (1, 3):
        out = _run(resnet, _images(n, (3, 224, 224)))
        assert out.shape == (n, 1000) and out.dtype == np.float32 and np.isfinite(out).all()
    # torchvision's resnet50 has 25,557,032 parameters: same architecture, same count.
    assert sum(p.numel() for p in resnet.parameters()) == 25_557_032
    assert not resnet.training


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("build", [nets.build_mnist_cnn, nets.build_sentiment])
def test_builds_are_identical(build):
    a, b = build().state_dict(), build().state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resnet50_build_is_identical(resnet):
    other = nets.build_resnet50().state_dict()
    assert all(torch.equal(v, other[k]) for k, v in resnet.state_dict().items())


def test_builds_do_not_depend_on_prior_rng_state():
    torch.manual_seed(999)
    torch.rand(10)
    a = nets.build_mnist_cnn().state_dict()
    b = nets.build_mnist_cnn().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_same_input_same_logits(mnist, mnist_int8, sentiment, resnet):
    cases = [
        (mnist, _images(3)),
        (mnist_int8, _images(3)),
        (sentiment, _tokens(3)),
        (resnet, _images(1, (3, 224, 224))),
    ]
    for module, x in cases:
        assert np.array_equal(_run(module, x), _run(module, x))


# ---------------------------------------------------------------- int8


def test_int8_has_quantized_linears_and_float_convs(mnist_int8):
    kinds = [type(m) for m in mnist_int8.modules()]
    assert kinds.count(torch.ao.nn.quantized.dynamic.Linear) == 2
    assert torch.nn.Linear not in kinds
    assert kinds.count(torch.nn.Conv2d) == 2  # Dynamic quantization leaves convolutions float.


def test_int8_close_to_float(mnist, mnist_int8):
    x = _images(64, seed=1)
    ref, q = _run(mnist, x), _run(mnist_int8, x)
    assert np.abs(ref - q).max() < 0.05 * np.abs(ref).max()
    assert (ref.argmax(1) == q.argmax(1)).mean() >= 0.9


# ---------------------------------------------------------------- run_batched


def test_run_batched_splits_per_request(mnist):
    sizes = [1, 3, 2]
    arrays = [_images(n, seed=i) for i, n in enumerate(sizes)]
    outs = serving.run_batched(mnist, arrays)
    assert [o.shape for o in outs] == [(n, 10) for n in sizes]
    for a, o in zip(arrays, outs, strict=False):
        # Alone or batched with others, a request's logits match (up to float summation order).
        np.testing.assert_allclose(o, _run(mnist, a), rtol=1e-5, atol=1e-5)
        assert o.flags.c_contiguous


def test_run_batched_single_request_and_dtype_cast(sentiment):
    tokens = _tokens(2)
    (out,) = serving.run_batched(sentiment, [tokens.astype(np.int32)], dtype=np.int64)
    np.testing.assert_array_equal(out, _run(sentiment, tokens))


def test_run_batched_rejects_row_count_mismatch():
    with pytest.raises(RuntimeError, match="rows"):
        serving.run_batched(torch.nn.Flatten(0), [_images(2)])


# ---------------------------------------------------------------- device / threads


def test_pick_device():
    assert serving.pick_device("CPU", 0, "m") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="mnist_cnn_int8 is a CPU-only model"):
        serving.pick_device("GPU", 0, "mnist_cnn_int8", cpu_only_reason="dynamic int8 quantization")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="GPU instance requested but torch sees no CUDA device"):
            serving.pick_device("GPU", 0, "m")
    else:
        assert serving.pick_device("GPU", 0, "m") == torch.device("cuda:0")


def test_configure_threads_from_the_config_parameter():
    config = {"parameters": {serving.THREADS_PARAMETER: {"string_value": "2"}}}
    assert serving.configure_threads({"model_config": json.dumps(config)}) == 2 and torch.get_num_threads() == 2
    assert serving.configure_threads({"model_config": json.dumps({"name": "m"})}) == 1
    assert torch.get_num_threads() == 1
    bad = {"parameters": {serving.THREADS_PARAMETER: {"string_value": "zero"}}}
    assert serving.configure_threads({"model_config": json.dumps(bad)}) == 1
