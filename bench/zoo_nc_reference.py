"""Neural Cleanse against clean reference models, measured offline on stored zoo scans (stop 44).

MM-BD divides each class's statistic by clean reference models' (crates/mithridate-gate/src/
margin_reference.rs). This asks whether the same per-class correction helps Neural Cleanse, whose
misses and false alarms on Fashion-MNIST come from classes every clean model favours (the bag).
The rows keep NC's per-class anomaly indices, not its mask norms, so the correction is made on
the indices: `a_c - mean_ref a_c` ("sub"), and that difference re-standardised across classes by
median / 1.4826 MAD ("sub_rz"). References: the zoo's clean models of the same family (MLP for
MLPs, CNN for convolutional graphs), leaving the scanned model out; for the held-out PyTorch zoo,
the clean models of a second rows file (the Fashion-MNIST engine zoo), which is what `scan model`
would train on the trusted set. Working backdoors are ASR >= 50%; NC flags at index > 2;
consensus = both top classes agree, its score per class min(NC value, MM-BD robust z).

    python3 bench/zoo_nc_reference.py ZOO.jsonl [REFERENCES.jsonl]
"""
import json
import statistics as st
import sys


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def family(arch):
    return "mlp" if "mlp" in arch else "cnn"


def robust_z(values):
    m = st.median(values)
    mad = st.median([abs(v - m) for v in values]) * 1.4826 or 1e-12
    return [(v - m) / mad for v in values]


def auroc(pos, neg):
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def nc_values(row, refs, mode):
    a = row["nc"]["indices"]
    if mode == "raw":
        return a
    level = [st.mean(r["nc"]["indices"][c] for r in refs) for c in range(len(a))]
    diff = [a[c] - level[c] for c in range(len(a))]
    return robust_z(diff) if mode == "sub_rz" else diff


def main():
    rows = load(sys.argv[1])
    pool = load(sys.argv[2]) if len(sys.argv) > 2 else rows
    clean_pool = [r for r in pool if r["attack"] == "none"]
    print("| NC values | NC AUROC | NC detected (right class) | NC clean flagged | consensus detected | consensus clean flagged | consensus score AUROC |")
    print("|---|---|---|---|---|---|---|")
    for mode in ["raw", "sub", "sub_rz"]:
        pos, neg, cpos, cneg = [], [], [], []
        det = right = fp = cdet = cfp = 0
        for r in rows:
            refs = [c for c in clean_pool if family(c["arch"]) == family(r["arch"]) and c is not r and c["index"] != r["index"]]
            s = nc_values(r, refs, mode)
            top = max(range(len(s)), key=lambda c: s[c])
            mm = r["mm"]["ratios"]
            mm_top = max(range(len(mm)), key=lambda c: mm[c])
            score = max(min(a, b) for a, b in zip(s, robust_z(mm)))
            if r["target"] >= 0 and (r["asr"] or 0) >= 0.5:
                pos.append(max(s))
                cpos.append(score)
                det += max(s) > 2
                right += max(s) > 2 and top == r["target"]
                cdet += top == mm_top
            elif r["attack"] == "none":
                neg.append(max(s))
                cneg.append(score)
                fp += max(s) > 2
                cfp += top == mm_top
        print(f"| {mode} | {auroc(pos, neg):.3f} | {det}/{len(pos)} ({right}) | {fp}/{len(neg)} | {cdet}/{len(pos)} | {cfp}/{len(neg)} | {auroc(cpos, cneg):.3f} |")


main()
