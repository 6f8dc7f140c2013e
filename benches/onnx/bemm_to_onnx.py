"""Convert a .bemm model file to an equivalent ONNX graph (f32 weights,
identical values: every f16 weight widened exactly), so ONNX Runtime and
bemm run the same network with the same weights.

Usage: python bemm_to_onnx.py MODEL.bemm OUT.onnx

Reads the format as formats/SPEC.md describes it: 64-byte header, 64-byte
layer records, 40-byte tensor records, f16 payload. Outputs `probs`
(sigmoid of the output layer) and `features` (the feature layer, flattened).
"""
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

KINDS = {1: "conv", 2: "relu", 3: "maxpool", 4: "avgpool", 5: "add", 6: "gap", 7: "linear", 8: "sigmoid"}
INPUT, NONE = 0xFFFFFFFE, 0xFFFFFFFF


def load(path):
    b = open(path, "rb").read()
    (magic, vmaj, vmin, hsize, nl, nt, meta_len, c, h, w, out_layer, feat_layer, ncls, _r, flen) = struct.unpack_from("<8sHHIIIIIIIIIIIQ", b, 0)
    assert magic == b"BEMMODEL" and vmaj == 1 and hsize == 64, "not a bemm model file"
    layers = [struct.unpack_from("<16I", b, 64 + 64 * i) for i in range(nl)]
    toff = 64 + 64 * nl
    tensors = []
    for i in range(nt):
        off, elems, d0, d1, d2, d3, rank, dtype = struct.unpack_from("<QQ4III", b, toff + 40 * i)
        assert dtype == 1
        dims = [d0, d1, d2, d3][:rank]
        tensors.append(np.frombuffer(b, dtype="<f2", count=elems, offset=off).astype(np.float32).reshape(dims))
    return (c, h, w), layers, tensors, out_layer, feat_layer


def convert(path, out):
    (c, h, w), layers, tensors, out_layer, feat_layer = load(path)
    nodes, inits = [], []
    name = lambda i: "input" if i == INPUT else f"l{i}"
    for i, rec in enumerate(layers):
        kind, inp, inp2, flags, in_c, in_h, in_w, out_c, out_h, out_w, kh, kw, stride, pad, wt, bias = rec
        k = KINDS[kind]
        y = f"l{i}" if not (flags & 1) else f"l{i}_pre"
        x = name(inp)
        if k == "conv":
            ins = [x, f"w{i}"]
            inits.append(numpy_helper.from_array(tensors[wt], f"w{i}"))
            if bias != NONE:
                inits.append(numpy_helper.from_array(tensors[bias], f"b{i}"))
                ins.append(f"b{i}")
            nodes.append(helper.make_node("Conv", ins, [y], kernel_shape=[kh, kw], strides=[stride, stride], pads=[pad] * 4))
        elif k in ("maxpool", "avgpool"):
            op = "MaxPool" if k == "maxpool" else "AveragePool"
            extra = {} if k == "maxpool" else {"count_include_pad": 0}
            nodes.append(helper.make_node(op, [x], [y], kernel_shape=[kh, kw], strides=[stride, stride], pads=[pad] * 4, **extra))
        elif k == "relu":
            nodes.append(helper.make_node("Relu", [x], [y]))
        elif k == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", [x], [y]))
        elif k == "add":
            nodes.append(helper.make_node("Add", [x, name(inp2)], [y]))
        elif k == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", [x], [y]))
        elif k == "linear":
            nodes.append(helper.make_node("Flatten", [x], [f"l{i}_flat"], axis=1))
            inits.append(numpy_helper.from_array(tensors[wt], f"w{i}"))
            ins = [f"l{i}_flat", f"w{i}"]
            if bias != NONE:
                inits.append(numpy_helper.from_array(tensors[bias], f"b{i}"))
                ins.append(f"b{i}")
            nodes.append(helper.make_node("Gemm", ins, [f"l{i}_2d"], transB=1))
            # Back to N x C x 1 x 1 like every other layer output.
            inits.append(numpy_helper.from_array(np.array([0, out_c, 1, 1], dtype=np.int64), f"shape{i}"))
            nodes.append(helper.make_node("Reshape", [f"l{i}_2d", f"shape{i}"], [y]))
        if flags & 1:
            nodes.append(helper.make_node("Relu", [y], [f"l{i}"]))
    nodes.append(helper.make_node("Flatten", [f"l{out_layer}"], ["logits"], axis=1))
    nodes.append(helper.make_node("Sigmoid", ["logits"], ["probs"]))
    nodes.append(helper.make_node("Flatten", [f"l{feat_layer}"], ["features"], axis=1))
    graph = helper.make_graph(
        nodes,
        "bemm",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, w])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", layers[out_layer][7] * layers[out_layer][8] * layers[out_layer][9]]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", layers[feat_layer][7] * layers[feat_layer][8] * layers[feat_layer][9]]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(f"wrote {out}: {len(nodes)} nodes, {sum(t.dims and int(np.prod(t.dims)) or 0 for t in inits)} weights")


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
