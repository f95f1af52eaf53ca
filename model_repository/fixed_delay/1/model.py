"""fixed_delay: OUTPUT0 = INPUT0 after delay_ms per request: a model whose service time is known in advance.

With one instance and no dynamic batching its capacity is 1000 / delay_ms requests/s, which checks the harness's
queueing and throughput arithmetic against a known answer.
"""

import json
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        params = json.loads(args["model_config"]).get("parameters", {})
        raw = params.get("delay_ms", {}).get("string_value", "10")
        try:
            self.delay_s = float(raw) / 1000.0
        except ValueError:
            raise ValueError(f"fixed_delay: parameter delay_ms must be a number of milliseconds, got {raw!r}") from None
        if self.delay_s < 0:
            raise ValueError(f"fixed_delay: parameter delay_ms must be >= 0, got {raw!r}")

    def execute(self, requests: list) -> list:
        responses = []
        for r in requests:  # Sequential: every request costs delay_ms, however Triton groups them.
            # Sleep to a deadline so the response-building time is inside delay_ms, not added to it.
            deadline = time.perf_counter() + self.delay_s
            out = pb_utils.Tensor("OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())
            remaining = deadline - time.perf_counter()
            if remaining > 0:
                time.sleep(remaining)
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses

    def finalize(self) -> None:
        pass
