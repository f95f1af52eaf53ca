"""resnet50: ResNet-50 (random-init, eval-mode BatchNorm), image [3,224,224] -> logits [1000]."""

import os
import sys

import numpy as np


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        sys.path.insert(0, os.path.join(args["model_repository"], "..", "_nets"))
        from nets import build_resnet50
        from serving import TorchServer

        self.server = TorchServer(args, build_resnet50(), "image", np.float32, "logits")

    def execute(self, requests: list) -> list:
        return self.server.execute(requests)

    def finalize(self) -> None:
        self.server = None
