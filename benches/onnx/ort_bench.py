"""ONNX Runtime side of the benchmark: batch-1 latency (1 and 2 threads) and
batch-16 throughput (1 and 2 threads), CPU execution provider, all graph
optimisations on, median of repeated runs. Also checks that ONNX Runtime and
bemm compute the same probabilities on one input (written by engine_bench
as raw f16). Writes a JSON file for engine_bench to print beside its own.

With CALIB.bin (raw f16 patches, `engine_bench patches`), it also quantizes
the model with ONNX Runtime's own static quantization (`quantize_static`: QDQ
format, per-channel int8 weights, uint8 activations, min/max calibration on
those patches) and times it the same way (`int8_*` keys).

Usage: python ort_bench.py MODEL.onnx OUT.json [SECONDS [PROBE.bin [CALIB.bin]]]
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path, threads):
    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def median_time(f, budget):
    f()
    v, start = [], time.perf_counter()
    while len(v) < 3 or (time.perf_counter() - start < budget and len(v) < 1000):
        t = time.perf_counter()
        f()
        v.append(time.perf_counter() - t)
    v.sort()
    return v[len(v) // 2]


def quantize(path, calib_path, shape):
    """ORT's int8 twin of `path`, calibrated on the patches of `calib_path`."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    n = int(np.prod(shape[1:]))
    raw = np.fromfile(calib_path, dtype="<f2")
    if raw.size == 0 or raw.size % n:
        sys.exit(f"{calib_path}: {raw.size} f16 values, expected a non-zero multiple of {n} (patches of {shape[1:]})")
    patches = raw.astype(np.float32).reshape(-1, *shape[1:])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": patches[i:i + 1]} for i in range(len(patches))])

        def get_next(self):
            return next(self.it, None)

    out = path[:-len(".onnx")] + ".int8.onnx" if path.endswith(".onnx") else path + ".int8"
    quantize_static(path, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    print(f"ORT int8: quantize_static (QDQ, per-channel) on {len(patches)} calibration patches -> {out}", file=sys.stderr)
    return out


def measure(res, prefix, path, budget, rng):
    """Batch-1 latency and batch-16 throughput on 1 and 2 threads, batch-16 CPU throughput on 1."""
    for threads in (1, 2):
        s = session(path, threads)
        shape = s.get_inputs()[0].shape
        x1 = rng.uniform(-2, 2, size=(1, *shape[1:])).astype(np.float16).astype(np.float32)
        x16 = rng.uniform(-2, 2, size=(16, *shape[1:])).astype(np.float16).astype(np.float32)
        res[f"{prefix}latency_b1_t{threads}"] = median_time(lambda: s.run(["probs"], {"input": x1}), budget)
        res[f"{prefix}throughput_b16_t{threads}"] = 16 / median_time(lambda: s.run(["probs"], {"input": x16}), budget)
        if threads == 1:
            # CPU time of this process: with one intra-op thread ORT computes
            # on the calling thread, so this is robust to other jobs.
            runs, c0 = 0, time.process_time()
            while runs < 2 or time.process_time() - c0 < budget:
                s.run(["probs"], {"input": x16})
                runs += 1
            res[f"{prefix}cpu_throughput_b16_t1"] = 16 * runs / (time.process_time() - c0)
        print(f"ORT {prefix or 'f32 '}{threads} thread(s): batch-1 {res[f'{prefix}latency_b1_t{threads}']*1e3:.2f} ms, "
              f"batch-16 {res[f'{prefix}throughput_b16_t{threads}']:.1f} patches/s", file=sys.stderr)


def main():
    path, out = sys.argv[1], sys.argv[2]
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    rng = np.random.default_rng(7)
    res = {"version": ort.__version__}
    if len(sys.argv) > 4:
        # Parity: the same f16 input through ORT must give bemm's probabilities.
        s = session(path, 1)
        shape = s.get_inputs()[0].shape
        n = int(np.prod(shape[1:]))
        raw = open(sys.argv[4], "rb").read()
        x = np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32).reshape(1, *shape[1:])
        got, feats = s.run(["probs", "features"], {"input": x})
        want = np.frombuffer(raw, dtype="<f4", offset=2 * n, count=got.shape[1])
        want_f = np.frombuffer(raw, dtype="<f4", offset=2 * n + 4 * got.shape[1])
        res["parity_max_abs_diff"] = float(np.abs(got[0] - want).max())
        res["parity_feature_rel_diff"] = float(np.abs(feats[0] - want_f).max() / max(np.abs(want_f).max(), 1e-30))
        print(f"parity: max |p_ort - p_bemm| = {res['parity_max_abs_diff']:.2e}, features {res['parity_feature_rel_diff']:.2e}", file=sys.stderr)
    measure(res, "", path, budget, rng)
    if len(sys.argv) > 5:
        shape = session(path, 1).get_inputs()[0].shape
        measure(res, "int8_", quantize(path, sys.argv[5], shape), budget, rng)
    json.dump(res, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
