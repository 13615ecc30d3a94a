"""Neural Cleanse, MM-BD, either, and `consensus` (both rank the same class first) on a zoo's rows
that carry both detectors' top classes (bench/results/*_nc_mm_stop40.jsonl; a zoo scanned with
`scan model --detector all` gives the same fields: NC's largest anomaly index, MM-BD's largest
ratio). Counts working backdoors (ASR >= 50%) and clean models; no threshold is tuned here.
Rows with per-class values (`nc.indices`, `mm.ratios`, from bench/zoo_consensus_rows.py) also
get consensus's continuous score, as `scan model --detector consensus` computes it: per class
the smaller of Neural Cleanse's anomaly index and MM-BD's robust z-score of the ratio
((r - median) / (1.4826 MAD)); a model's score is its largest class score. Its AUROC and TPR at
5% FPR are printed (working backdoors against clean models).

    python3 bench/zoo_consensus.py bench/results/pytorch_zoo_18_fashion_nc_mm_stop40.jsonl
"""
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
took = [r for r in rows if r["target"] >= 0 and (r["asr"] or 0) >= 0.5]
clean = [r for r in rows if r["target"] < 0]
rules = {
    "Neural Cleanse": lambda r: set(r["nc"]["flagged"]),
    "MM-BD": lambda r: set(r["mm"]["flagged"]),
    "either": lambda r: set(r["nc"]["flagged"]) | set(r["mm"]["flagged"]),
    "consensus": lambda r: {r["nc"]["top_class"]} if r["nc"]["top_class"] == r["mm"]["top_class"] else set(),
}
print(f"| detector | working backdoors detected | right class | clean models flagged |")
print("|---|---|---|---|")
for name, flagged in rules.items():
    det = [r for r in took if flagged(r)]
    right = [r for r in det if r["target"] in flagged(r)]
    fp = [r for r in clean if flagged(r)]
    print(f"| {name} | {len(det)}/{len(took)} | {len(right)}/{len(det)} | {len(fp)}/{len(clean)} |")


def robust_z(values):
    finite = [v for v in values if v is not None]
    med = statistics.median(finite)
    mad = statistics.median([abs(v - med) for v in finite])
    return [None if v is None else (v - med) / (1.4826 * mad) if mad > 0 else
            (float("inf") if v > med else 0.0) for v in values]


def score(r):
    z = robust_z(r["mm"]["ratios"])
    both = [min(a, b) for a, b in zip(r["nc"]["indices"], z)
            if a is not None and b is not None and abs(a) != float("inf") and abs(b) != float("inf")]
    return max(both)


def auroc(pos, neg):
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def tpr_at(pos, neg, fpr=0.05):
    # The smallest threshold that flags at most fpr of the clean models (strictly above it).
    allowed = int(fpr * len(neg))
    t = sorted(neg, reverse=True)[allowed] if allowed < len(neg) else float("-inf")
    return sum(p > t for p in pos) / len(pos)


if all("indices" in r["nc"] and "ratios" in r["mm"] for r in took + clean):
    pos, neg = [score(r) for r in took], [score(r) for r in clean]
    print(f"\nconsensus score: AUROC {auroc(pos, neg):.3f}, TPR at 5% FPR {tpr_at(pos, neg):.2f} "
          f"({len(pos)} working backdoors, {len(neg)} clean); "
          f"backdoors {min(pos):.2f}-{max(pos):.2f}, clean {min(neg):.2f}-{max(neg):.2f}")
