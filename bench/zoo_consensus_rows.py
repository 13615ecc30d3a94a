"""Rows for bench/zoo_consensus.py from a zoo's metadata and its scans: for each model of ZOO_ROWS
(a zoo.jsonl: index, arch, attack, target, asr), the per-class Neural Cleanse anomaly indices and
MM-BD referenced ratios read from the first scan JSON found for its index in the given
directories (`scan-I.json` or `scan-DETECTOR-I.json`, holding that detector), with each
detector's flagged classes, top class and seconds. Models missing either scan are skipped
(and counted on stderr). MM-BD scans from before its effect floor (stop 36: no `min-effect`
parameter) get today's verdict recomputed from their own values: flagged when p < p-threshold
and the top ratio is at least 1.5 times the classes' median ratio.

    python3 bench/zoo_consensus_rows.py target/zoo-mnist-80/zoo.jsonl \\
        --nc target/nc-mnist --mm target/zoo-mnist-80 > rows.jsonl
"""
import argparse, json, os, statistics, sys

p = argparse.ArgumentParser()
p.add_argument("zoo_rows")
p.add_argument("--nc", nargs="+", required=True, help="directories with Neural Cleanse scans")
p.add_argument("--mm", nargs="+", required=True, help="directories with MM-BD scans")
a = p.parse_args()


def scan(dirs, detector, i):
    for d in dirs:
        for name in (f"scan-{i}.json", f"scan-{detector}-{i}.json"):
            path = os.path.join(d, name)
            if os.path.exists(path) and os.path.getsize(path) > 0:
                found = json.load(open(path))["detectors"].get(detector)
                if found is not None:
                    return found
    return None


def top(values):
    finite = [(v, c) for c, v in enumerate(values) if v is not None]
    best = max(finite)[0]
    at = [c for v, c in finite if v == best]
    return at[0] if len(at) == 1 else None


skipped = 0
for line in open(a.zoo_rows):
    if not line.strip():
        continue
    r = json.loads(line)
    nc, mm = scan(a.nc, "neural-cleanse", r["index"]), scan(a.mm, "max-margin", r["index"])
    if nc is None or mm is None:
        skipped += 1
        continue
    k = max(len(nc["classes"]), len(mm["classes"]))
    index = [None] * k
    for c in nc["classes"]:
        index[c["class"]] = c["anomaly_index"]
    ratio = [None] * k
    for c in mm["classes"]:
        ratio[c["class"]] = c["ratio"] if c.get("ratio") is not None else c["max_margin"]
    out = {key: r.get(key) for key in ("index", "dataset", "arch", "attack", "target", "rate", "asr")}
    out["nc"] = {"indices": index, "flagged": nc["target_classes"], "top_class": top(index),
                 "steps": [c.get("steps") for c in nc["classes"]], "seconds": nc["seconds"]}
    flagged = mm["target_classes"]
    if "min-effect" not in mm["parameters"]:
        effect = max(v for v in ratio if v is not None) / statistics.median(v for v in ratio if v is not None)
        significant = mm["p_value"] < mm["parameters"]["p-threshold"] and effect >= 1.5
        flagged = [top(ratio)] if significant else []
    out["mm"] = {"ratios": ratio, "flagged": flagged, "top_class": top(ratio),
                 "seconds": mm["seconds"]}
    print(json.dumps(out))
if skipped:
    print(f"{skipped} models without both scans skipped", file=sys.stderr)
