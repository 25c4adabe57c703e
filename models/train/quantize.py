"""Static int8 quantization of the audio-to-motion graph with onnxruntime's quantizer, calibrated
on real feature chunks: every MatMul becomes a QLinearMatMul (uint8 activations, int8 weights,
per-tensor scales), the rest stays float. Usage: quantize.py FLOAT.onnx CALIB.npz OUT.onnx"""
import sys

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

import model as M


class Reader(CalibrationDataReader):
    def __init__(self, chunks):
        self.it = iter(chunks)

    def get_next(self):
        x = next(self.it, None)
        if x is None:
            return None
        feed = {"mel": x.astype(np.float32)}
        for d in M.DILATIONS:
            feed[f"state{d}"] = np.zeros((2 * d, M.C), np.float32)
        return feed


def quantize(float_path, chunks, out_path):
    quantize_static(
        float_path,
        out_path,
        Reader(chunks),
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=["MatMul"],
        per_channel=False,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile,
        extra_options={"CalibPercentile": 99.99},
    )
    import onnx

    # The quantizer records intermediate shapes with the free chunk length as a named symbol;
    # drop them so a runtime plans every chunk length from the input shape alone.
    m = onnx.load(out_path)
    del m.graph.value_info[:]
    for v in list(m.graph.input) + list(m.graph.output):
        for d in v.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                d.Clear()
    onnx.save(m, out_path)


if __name__ == "__main__":
    data = np.load(sys.argv[2])
    quantize(sys.argv[1], [data[k] for k in data.files], sys.argv[3])
