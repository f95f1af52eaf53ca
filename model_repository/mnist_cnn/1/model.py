"""mnist_cnn: small float32 CNN classifier, image [1,28,28] -> logits [10]."""

import os
import sys

import numpy as np


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        # args["model_repository"] is this model's folder; the shared torch code sits beside it in _nets.
        sys.path.insert(0, os.path.join(args["model_repository"], "..", "_nets"))
        from nets import build_mnist_cnn
        from serving import TorchServer

        self.server = TorchServer(args, build_mnist_cnn(), "image", np.float32, "logits")

    def execute(self, requests: list) -> list:
        return self.server.execute(requests)

    def finalize(self) -> None:
        self.server = None
