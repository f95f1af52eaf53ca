"""mnist_cnn_int8: mnist_cnn's weights with Linear layers dynamically quantized to int8. CPU only.

Dynamic quantization only covers Linear layers: the two convolutions still run in float32.
"""

import os
import sys

import numpy as np


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        sys.path.insert(0, os.path.join(args["model_repository"], "..", "_nets"))
        from nets import build_mnist_cnn_int8
        from serving import TorchServer

        # Quantized dynamic kernels (fbgemm/onednn) exist for CPU only, so a GPU instance is refused at load.
        self.server = TorchServer(
            args, build_mnist_cnn_int8(), "image", np.float32, "logits", cpu_only_reason="dynamic int8 quantization"
        )

    def execute(self, requests: list) -> list:
        return self.server.execute(requests)

    def finalize(self) -> None:
        self.server = None
