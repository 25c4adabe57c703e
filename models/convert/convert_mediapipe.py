#!/usr/bin/env python3
"""Converts mediapipe's face detection, face landmark and iris landmark TFLite models to ONNX.

The three models use a dozen TFLite operators (CONV_2D, DEPTHWISE_CONV_2D, ADD, RELU, PRELU, PAD,
MAX_POOL_2D, RESHAPE, CONCATENATION and DEQUANTIZE of float16 weights). Off-the-shelf converters
either need all of TensorFlow (tf2onnx) or fail on the landmark model (tflite2onnx 0.4.1), so this
is a small converter of our own for exactly that operator set. It refuses anything else, so a new
mediapipe release with other operators fails loudly instead of producing a wrong model.

Layout: the ONNX graph keeps the TFLite NHWC input and output shapes (what the Rust side feeds and
reads); inside, activations are NCHW (ONNX's native convolution layout) with one transpose at the
input and one before each reshape/output. float16 weights are widened to float32 here, so the
runtime graph has no Dequantize/Cast of constants.

    python3 models/convert/convert_mediapipe.py [--wheel mediapipe-0.10.14-...whl] [--out models/]

Without --wheel the wheel is fetched with `pip download` (PyPI only; nothing at run time).
"""
import argparse
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

MEDIAPIPE_VERSION = "0.10.14"
MODELS = [
    # (manifest name, path inside the wheel, output file, output names)
    ("face_detection", "mediapipe/modules/face_detection/face_detection_short_range.tflite",
     "face_detection_short_range.onnx", ["regressors", "classificators"]),
    ("face_landmark", "mediapipe/modules/face_landmark/face_landmark.tflite",
     "face_landmark.onnx", ["landmarks", "face_flag"]),
    ("iris_landmark", "mediapipe/modules/iris_landmark/iris_landmark.tflite",
     "iris_landmark.onnx", ["eye_contours", "iris"]),
]

OP = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
TFL_DTYPE = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
             tflite.TensorType.INT32: np.int32, tflite.TensorType.INT64: np.int64}


class Converter:
    def __init__(self, buf):
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.graph = self.model.Subgraphs(0)
        self.nodes, self.inits = [], []
        self.consts = {}     # tflite tensor index -> numpy array (weights)
        self.names = {}      # tflite tensor index -> ONNX value name (activations, NCHW if 4-D)
        self.counter = 0

    def tensor(self, i):
        return self.graph.Tensors(i)

    def shape(self, i):
        return self.tensor(i).ShapeAsNumpy().tolist()

    def fresh(self, base):
        self.counter += 1
        return f"{base}_{self.counter}"

    def buffer_array(self, i):
        t = self.tensor(i)
        data = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data is None or len(data) == 0:
            return None
        dt = TFL_DTYPE[t.Type()]
        return np.frombuffer(data.tobytes(), dtype=dt).reshape(self.shape(i) or ())

    def const(self, i):
        if i not in self.consts:
            a = self.buffer_array(i)
            if a is None:
                raise SystemExit(f"tensor {self.tensor(i).Name().decode()} is not a constant")
            self.consts[i] = a.astype(np.float32) if a.dtype == np.float16 else a
        return self.consts[i]

    def init(self, array, base):
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, base, **attrs):
        out = self.fresh(base)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def activation(self, name, fused):
        if fused == tflite.ActivationFunctionType.NONE:
            return name
        if fused == tflite.ActivationFunctionType.RELU:
            return self.node("Relu", [name], "relu")
        if fused == tflite.ActivationFunctionType.RELU6:
            return self.node("Clip", [name, self.init(np.float32(0), "zero"), self.init(np.float32(6), "six")], "relu6")
        raise SystemExit(f"fused activation {fused} not supported")

    @staticmethod
    def same_pads(in_hw, k, stride, dil):
        pads_begin, pads_end = [], []
        for n, kk, s, d in zip(in_hw, k, stride, dil):
            out = -(-n // s)
            total = max((out - 1) * s + (kk - 1) * d + 1 - n, 0)
            pads_begin.append(total // 2)
            pads_end.append(total - total // 2)
        return pads_begin + pads_end

    def options(self, op, cls):
        o = cls()
        t = op.BuiltinOptions()
        o.Init(t.Bytes, t.Pos)
        return o

    def convert(self, input_name, output_names):
        g = self.graph
        assert g.InputsLength() == 1
        inp = g.Inputs(0)
        in_shape = self.shape(inp)
        self.names[inp] = self.node("Transpose", [input_name], "to_nchw", perm=[0, 3, 1, 2])
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            name = OP.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            ins = op.InputsAsNumpy().tolist()
            outs = op.OutputsAsNumpy().tolist()
            handler = getattr(self, "op_" + name.lower(), None)
            if handler is None:
                raise SystemExit(f"TFLite operator {name} is not supported by this converter")
            handler(op, ins, outs)
        graph_outputs = []
        for j, oname in zip(range(g.OutputsLength()), output_names):
            i = g.Outputs(j)
            shape = self.shape(i)
            value = self.names[i]
            if len(shape) == 4:
                value = self.node("Transpose", [value], "to_nhwc", perm=[0, 2, 3, 1])
            self.nodes.append(helper.make_node("Identity", [value], [oname]))
            graph_outputs.append(helper.make_tensor_value_info(oname, TensorProto.FLOAT, shape))
        graph = helper.make_graph(
            self.nodes, "mediapipe", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
            graph_outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="speakface convert_mediapipe.py")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m

    # -- operators ---------------------------------------------------------------------------
    def op_dequantize(self, op, ins, outs):
        self.consts[outs[0]] = self.buffer_array(ins[0]).astype(np.float32)

    def conv(self, op, ins, outs, o, weight_onnx, w_base, node_base, **attrs):
        """A TFLite (depthwise) convolution as an ONNX Conv: explicit SAME pads, optional bias,
        fused activation. `weight_onnx` is the kernel already in ONNX [O, I/group, KH, KW] order."""
        kernel = list(weight_onnx.shape[2:])
        stride, dil = [o.StrideH(), o.StrideW()], [o.DilationHFactor(), o.DilationWFactor()]
        in_hw = self.shape(ins[0])[1:3]
        pads = self.same_pads(in_hw, kernel, stride, dil) if o.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        args = [self.names[ins[0]], self.init(weight_onnx, w_base)]
        if len(ins) > 2 and ins[2] >= 0:
            args.append(self.init(self.const(ins[2]).astype(np.float32), "b"))
        y = self.node("Conv", args, node_base, strides=stride, dilations=dil, pads=pads, kernel_shape=kernel, **attrs)
        self.names[outs[0]] = self.activation(y, o.FusedActivationFunction())

    def op_conv_2d(self, op, ins, outs):
        w = self.const(ins[1])                      # [O, KH, KW, I]
        self.conv(op, ins, outs, self.options(op, tflite.Conv2DOptions), w.transpose(0, 3, 1, 2), "w", "conv")

    def op_depthwise_conv_2d(self, op, ins, outs):
        w = self.const(ins[1])                      # [1, KH, KW, C*M]
        self.conv(op, ins, outs, self.options(op, tflite.DepthwiseConv2DOptions), w.transpose(3, 0, 1, 2), "dw",
                  "dwconv", group=self.shape(ins[0])[3])

    def op_add(self, op, ins, outs):
        o = self.options(op, tflite.AddOptions)
        y = self.node("Add", [self.names[ins[0]], self.names[ins[1]]], "add")
        self.names[outs[0]] = self.activation(y, o.FusedActivationFunction())

    def op_relu(self, op, ins, outs):
        self.names[outs[0]] = self.node("Relu", [self.names[ins[0]]], "relu")

    def op_prelu(self, op, ins, outs):
        alpha = self.const(ins[1])                  # broadcastable in NHWC, e.g. [1, 1, C]
        channels = alpha.shape[-1]
        a = alpha.reshape(-1)[-channels:] if alpha.size == channels else None
        if a is None:
            raise SystemExit(f"PRELU alpha of shape {alpha.shape} is not per-channel")
        self.names[outs[0]] = self.node("PRelu", [self.names[ins[0]], self.init(a.reshape(channels, 1, 1), "alpha")], "prelu")

    def op_pad(self, op, ins, outs):
        p = self.const(ins[1]).astype(np.int64)     # [[n0,n1],[h0,h1],[w0,w1],[c0,c1]] in NHWC
        nchw = p[[0, 3, 1, 2]]
        pads = np.concatenate([nchw[:, 0], nchw[:, 1]])
        self.names[outs[0]] = self.node("Pad", [self.names[ins[0]], self.init(pads, "pads")], "pad", mode="constant")

    def op_max_pool_2d(self, op, ins, outs):
        o = self.options(op, tflite.Pool2DOptions)
        k, s = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
        in_hw = self.shape(ins[0])[1:3]
        pads = self.same_pads(in_hw, k, s, [1, 1]) if o.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        y = self.node("MaxPool", [self.names[ins[0]]], "maxpool", kernel_shape=k, strides=s, pads=pads)
        self.names[outs[0]] = self.activation(y, o.FusedActivationFunction())

    def op_reshape(self, op, ins, outs):
        x = self.names[ins[0]]
        if len(self.shape(ins[0])) == 4:
            x = self.node("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])
        target = np.array(self.shape(outs[0]), dtype=np.int64)
        y = self.node("Reshape", [x, self.init(target, "shape")], "reshape")
        if len(target) == 4:
            y = self.node("Transpose", [y], "to_nchw", perm=[0, 3, 1, 2])
        self.names[outs[0]] = y

    def op_concatenation(self, op, ins, outs):
        o = self.options(op, tflite.ConcatenationOptions)
        rank = len(self.shape(outs[0]))
        axis = o.Axis() % rank
        if rank == 4:
            axis = [0, 2, 3, 1][axis]
        y = self.node("Concat", [self.names[i] for i in ins], "concat", axis=axis)
        self.names[outs[0]] = self.activation(y, o.FusedActivationFunction())


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def fetch_wheel(dest):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"mediapipe=={MEDIAPIPE_VERSION}",
                    "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64",
                    "-d", dest], check=True)
    return glob.glob(os.path.join(dest, "mediapipe-*.whl"))[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="mediapipe wheel (default: pip download mediapipe==%s)" % MEDIAPIPE_VERSION)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="speakface-convert-")
    wheel = args.wheel or fetch_wheel(tmp)
    os.makedirs(args.out, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name, inner, out_file, out_names in MODELS:
            buf = z.read(inner)
            m = Converter(buf).convert("input", out_names)
            path = os.path.join(args.out, out_file)
            onnx.save(m, path)
            print(f"{name}: {inner} (sha256 {hashlib.sha256(buf).hexdigest()}) -> {path} "
                  f"({os.path.getsize(path)} bytes, sha256 {sha256(path)})")


if __name__ == "__main__":
    main()
