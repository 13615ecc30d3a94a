"""Issue 20's round-trip check: CSV and Parquet exports of built-in datasets, written by
pandas (CSV) and pandas + pyarrow (Parquet), read back by Mithridate's readers to the same
arrays and ids as its own .npz export.

Usage: python bench/byod_roundtrip.py MITHRIDATE_BIN WORKDIR DATASET[:SPLIT] ...
(run by bench/byod_roundtrip.sh, which builds the binary with the `parquet` feature).
Prints one line per (dataset, format): rows, columns, identical or the first difference,
and the seconds pandas took to write and Mithridate to read.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def export(binary: str, source: str, out: Path, split: str | None = None) -> None:
    cmd = [binary, "data", "export", source, "-o", str(out), "--raw"]
    if split:
        cmd += ["--split", split]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def compare(reference, back) -> str:
    for key in ("ids", "y", "x"):
        a, b = reference[key], back[key]
        if a.shape != b.shape:
            return f"{key}: shape {a.shape} vs {b.shape}"
        if not np.array_equal(a, b):
            i = int(np.flatnonzero(a.ravel() != b.ravel())[0])
            return f"{key}: first difference at flat index {i}: {a.ravel()[i]} vs {b.ravel()[i]}"
    return "identical"


def main() -> int:
    binary, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    failures = 0
    for item in sys.argv[3:]:
        name, _, split = item.partition(":")
        split = split or "train"
        ref_path = work / f"{name}-{split}.npz"
        export(binary, name, ref_path, split)
        ref = np.load(ref_path)
        x = ref["x"].reshape(len(ref["y"]), -1)
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
        frame.insert(0, "id", ref["ids"])
        frame["label"] = ref["y"]
        for fmt in ("csv", "parquet"):
            table = work / f"{name}-{split}.{fmt}"
            start = time.perf_counter()
            if fmt == "csv":
                frame.to_csv(table, index=False)
            else:
                frame.to_parquet(table, engine="pyarrow", index=False)
            written = time.perf_counter() - start
            back_path = work / f"{name}-{split}-from-{fmt}.npz"
            start = time.perf_counter()
            export(binary, str(table), back_path)
            read = time.perf_counter() - start
            back = np.load(back_path)
            back = {"ids": back["ids"], "y": back["y"], "x": back["x"].reshape(x.shape)}
            verdict = compare({"ids": ref["ids"], "y": ref["y"], "x": x}, back)
            failures += verdict != "identical"
            print(
                f"{name:14s} {split:5s} {fmt:7s} {x.shape[0]:>6} rows x {x.shape[1]:>4} "
                f"features: {verdict}; pandas wrote in {written:.1f} s, "
                f"mithridate read + exported in {read:.1f} s",
                flush=True,
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
