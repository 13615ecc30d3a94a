"""Independent reference for `mithridate_onnx::export_classifier` (src/export_tests.rs).

Usage: python3 export_reference.py DIR

DIR/cases.txt lists one case per line, `NAME N,D1,D2,...` (the input shape). For each case
this checks DIR/NAME.onnx with `onnx.checker.check_model(full_check=True)` (schema, types and
shape inference), runs it with ONNX Runtime's CPU provider on DIR/NAME.input.f32 (float32
little-endian) and writes the `logits` output to DIR/NAME.logits.f32. The Rust test compares
them with the engine's own logits.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def main(directory: Path) -> None:
    for line in (directory / "cases.txt").read_text().splitlines():
        name, shape = line.split()
        shape = [int(d) for d in shape.split(",")]
        path = directory / f"{name}.onnx"
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        x = np.fromfile(directory / f"{name}.input.f32", dtype="<f4").reshape(shape)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        (logits,) = session.run(["logits"], {"input": x})
        assert logits.shape[0] == shape[0], (name, logits.shape)
        logits.astype("<f4").tofile(directory / f"{name}.logits.f32")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
