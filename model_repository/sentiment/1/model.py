"""sentiment: token ids [64] (vocab 8000, 0 = padding) -> logits [2], small transformer encoder."""

import os
import sys

import numpy as np


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        sys.path.insert(0, os.path.join(args["model_repository"], "..", "_nets"))
        from nets import SENTIMENT_VOCAB, build_sentiment
        from serving import TorchServer

        def check_ids(tokens: np.ndarray) -> "str | None":
            # An out-of-range id would make the embedding throw for the whole batch; reject just this request.
            if tokens.size and (tokens.min() < 0 or tokens.max() >= SENTIMENT_VOCAB):
                return f"sentiment: token ids must be in [0, {SENTIMENT_VOCAB})"
            return None

        self.server = TorchServer(args, build_sentiment(), "tokens", np.int64, "logits", validate=check_ids)

    def execute(self, requests: list) -> list:
        return self.server.execute(requests)

    def finalize(self) -> None:
        self.server = None
