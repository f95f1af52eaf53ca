"""identity: OUTPUT0 = INPUT0, numpy only. The floor of Triton + Python-backend overhead, for calibrating clients."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        pass  # No torch import: it would only add load time and memory to a model that never uses it.

    def execute(self, requests: list) -> list:
        return [
            pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())]
            )
            for r in requests
        ]

    def finalize(self) -> None:
        pass
