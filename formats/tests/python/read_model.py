#!/usr/bin/env python3
"""A second, independent reader of the .bemm model file, written from
formats/SPEC.md section 1 alone with the Python standard library (struct, no
numpy, no bemm code): header, layer and tensor tables, the postcard metadata,
f16 weights (and the i8, i32 and f32 tensors of version 1.1) and the XXH64
checksum. Prints JSON for the Rust test
`python_model_reader` to compare with `ModelFile::parse`.

usage: read_model.py MODEL.bemm
"""
import json
import struct
import sys

M64 = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def xxh64(data, seed=0):
    """XXH64 as specified by the xxHash project."""
    def rnd(acc, lane):
        return (rotl((acc + lane * P2) & M64, 31) * P1) & M64

    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [rnd(a, b) for a, b in zip(v, lanes)]
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M64
        for a in v:
            h = ((h ^ rnd(0, a)) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ ((struct.unpack_from("<I", data, i)[0] * P1) & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (rotl(h ^ ((data[i] * P5) & M64), 11) * P1) & M64
        i += 1
    h = ((h ^ (h >> 33)) * P2) & M64
    h = ((h ^ (h >> 29)) * P3) & M64
    return h ^ (h >> 32)


class Postcard:
    """The subset of postcard's wire format the metadata uses (SPEC 1.6)."""

    def __init__(self, b):
        self.b, self.i = b, 0

    def varint(self, max_bytes=5):
        v = 0
        for k in range(max_bytes):
            byte = self.b[self.i]
            self.i += 1
            v |= (byte & 0x7F) << (7 * k)
            if byte < 0x80:
                return v
        raise ValueError("varint too long")

    def f32(self):
        (v,) = struct.unpack_from("<f", self.b, self.i)
        self.i += 4
        return v

    def string(self):
        n = self.varint()
        s = self.b[self.i:self.i + n].decode("utf-8")
        self.i += n
        return s

    def seq(self, item, limit):
        n = self.varint()
        if n > limit:
            raise ValueError("list longer than its capacity")
        return [item() for _ in range(n)]


def read_model(path):
    data = open(path, "rb").read()
    (magic, vmaj, vmin, header_size, num_layers, num_tensors, meta_len, c, h, w,
     output_layer, feature_layer, num_classes, _reserved, file_len) = struct.unpack_from("<8sHHIIIIIIIIIIIQ", data, 0)
    assert magic == b"BEMMODEL" and vmaj == 1 and header_size == 64
    stored = struct.unpack_from("<Q", data, file_len - 8)[0]
    layers = [list(struct.unpack_from("<16I", data, 64 + 64 * k)) for k in range(num_layers)]
    t0 = 64 + 64 * num_layers
    tensors = []
    for k in range(num_tensors):
        offset, elements, d0, d1, d2, d3, rank, dtype = struct.unpack_from("<QQ4III", data, t0 + 40 * k)
        # SPEC 1.4: 1 = f16, and from version 1.1 on 2 = i8, 3 = i32, 4 = f32.
        code = {1: "e", 2: "b", 3: "i", 4: "f"}[dtype]
        assert offset % 64 == 0 and (dtype == 1 or vmin >= 1)
        values = struct.unpack_from("<%d%s" % (elements, code), data, offset)
        tensors.append({"offset": offset, "elements": elements, "dims": [d0, d1, d2, d3][:rank], "dtype": dtype,
                        "values": list(values)})
    pc = Postcard(data[t0 + 40 * num_tensors:t0 + 40 * num_tensors + meta_len])
    meta = {
        "classes": pc.seq(pc.string, 64),
        "thresholds": pc.seq(pc.f32, 64),
        "bands": pc.seq(pc.string, 16),
        "mean": pc.seq(pc.f32, 16),
        "std": pc.seq(pc.f32, 16),
        "arch": pc.string(),
        "training_data": pc.string(),
        "epochs": pc.varint(),
        "preprocessing": pc.string(),
        "scores": pc.seq(lambda: [pc.string(), pc.f32()], 16),
    }
    assert pc.i == meta_len, "metadata must use exactly meta_len bytes"
    return {
        "checksum_ok": xxh64(data[:file_len - 8]) == stored,
        "checksum": stored,
        "header": {"version": [vmaj, vmin], "input": [c, h, w], "output_layer": output_layer,
                   "feature_layer": feature_layer, "num_classes": num_classes, "file_len": file_len},
        "layers": layers,
        "tensors": tensors,
        "meta": meta,
    }


if __name__ == "__main__":
    print(json.dumps(read_model(sys.argv[1])))
