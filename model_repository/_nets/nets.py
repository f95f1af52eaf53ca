"""Torch networks served by the model repository. Plain torch: no Triton imports, so tests can build them directly.

Weights are never downloaded: every builder seeds torch before constructing, so each load (each Triton instance, each
test) gets bit-identical weights. The numbers are random-init, but the compute cost is that of the real architecture,
which is all a capacity test needs.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

MNIST_SEED = 1234
SENTIMENT_SEED = 2345
RESNET50_SEED = 3456

SENTIMENT_VOCAB = 8000
SENTIMENT_SEQ_LEN = 64
PAD_TOKEN = 0


# ---------------------------------------------------------------- MNIST


def _mnist_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16x14x14
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32x7x7
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def build_mnist_cnn() -> nn.Module:
    """[N,1,28,28] float32 -> [N,10] logits."""
    torch.manual_seed(MNIST_SEED)
    return _mnist_cnn().eval()


def build_mnist_cnn_int8() -> nn.Module:
    """The same weights as build_mnist_cnn, with Linear layers dynamically quantized to int8 (CPU only).

    Dynamic quantization covers Linear (and RNN) layers only: the convolutions stay float32.
    """
    model = build_mnist_cnn()
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it is deprecated in favour of torchao, which is not installed here.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8).eval()


# ---------------------------------------------------------------- sentiment


class SentimentNet(nn.Module):
    """Token ids [N,64] int64 -> [N,2] logits: embedding + 2-layer transformer encoder + masked mean-pool."""

    def __init__(
        self, vocab: int = SENTIMENT_VOCAB, seq_len: int = SENTIMENT_SEQ_LEN, dim: int = 128, heads: int = 4, layers: int = 2
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=PAD_TOKEN)
        self.pos = nn.Parameter(torch.randn(seq_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True)
        # Nested tensors only pay off with a padding mask; off also silences torch's warning about it.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(tokens) + self.pos[: tokens.shape[1]])
        # Mean over real tokens only; no attention mask, so an all-padding row still gives finite logits.
        keep = (tokens != PAD_TOKEN).unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.head(pooled)


def build_sentiment() -> nn.Module:
    torch.manual_seed(SENTIMENT_SEED)
    return SentimentNet().eval()


# ---------------------------------------------------------------- ResNet-50


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride, as in torchvision's "v1.5"), 1x1 expand x4, plus the shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class ResNet50(nn.Module):
    """[N,3,224,224] float32 -> [N,1000] logits. Bottleneck blocks [3,4,6,3], about 25.6M parameters."""

    def __init__(self, blocks: tuple[int, ...] = (3, 4, 6, 3), num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        in_ch = 64
        for i, count in enumerate(blocks):
            width = 64 * 2**i
            for j in range(count):
                stages.append(Bottleneck(in_ch, width, stride=2 if (j == 0 and i > 0) else 1))
                in_ch = width * Bottleneck.expansion
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's scheme; without it the default conv init shrinks activations through 50 layers.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def build_resnet50() -> nn.Module:
    """Eval mode: BatchNorm uses its running statistics (mean 0, var 1 at init), not the batch's."""
    torch.manual_seed(RESNET50_SEED)
    return ResNet50().eval()
