"""The summary table of a model zoo's zoo.jsonl (bench/model_zoo.sh, bench/pytorch_zoo.sh): per
detector, AUROC, TPR at 5% FPR, detections, right-class rate, false positives, seconds per scan.

    python3 bench/zoo_summary.py OUT_DIR/zoo.jsonl
"""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))
def tpr_at_5_fpr(scores, labels):
    # The largest threshold whose false-positive rate is at most 5%, and the TPR there.
    neg = sorted((s for s, y in zip(scores, labels) if not y), reverse=True)
    pos = [s for s, y in zip(scores, labels) if y]
    if not neg or not pos:
        return float("nan")
    allowed = int(0.05 * len(neg))
    t = neg[allowed] if allowed < len(neg) else float("-inf")
    return sum(p > t for p in pos) / len(pos)
def summary(name, rs):
    troj = [r for r in rs if r["target"] >= 0]
    clean = [r for r in rs if r["target"] < 0]
    for d, label in (("nc", "Neural Cleanse"), ("mm", "MM-BD")):
        if not rs or any(r.get(d) is None for r in rs):
            continue
        detected = [r for r in troj if r[d]["flagged"]]
        right = [r for r in detected if r["target"] in r[d]["flagged"]]
        fp = [r for r in clean if r[d]["flagged"]]
        labels = [r["target"] >= 0 for r in rs]
        # MM-BD ranks by its effect (top statistic / median statistic) where the scans carry it,
        # declared at stop 37 before the zoo of models 80-119 was built; else by 1 - p.
        key = "effect" if d == "mm" and all(r[d].get("effect") for r in rs) else "score"
        scores = [r[d][key] for r in rs]
        a, tpr = auroc(scores, labels), tpr_at_5_fpr(scores, labels)
        secs = sum(r[d]["seconds"] for r in rs) / max(len(rs), 1)
        label_key = f"{label} ({'effect' if key == 'effect' else '1 - p' if d == 'mm' else 'index'})"
        if key == "effect":
            # the two scores disagree by zoo (stop 37: Fashion-MNIST 0.912 vs 0.963), so show both
            label_key += f"; 1 - p: {auroc([r[d]['score'] for r in rs], labels):.3f}"
        print(f"| {name} | {label_key} | {len(troj)} / {len(clean)} | {a:.3f} | {tpr:.2f} | "
              f"{len(detected)}/{len(troj)} | {len(right)}/{len(detected)} | "
              f"{len(fp)}/{len(clean)} | {secs:.1f} |")
print("| models | detector | trojaned / clean | AUROC | TPR at 5% FPR | detected | right class | false positives | s / scan |")
print("|---|---|---|---|---|---|---|---|---|")
summary("all", rows)
for arch in dict.fromkeys(r["arch"] for r in rows):
    summary(arch, [r for r in rows if r["arch"] == arch])
# Local triggers (a patch anywhere) against triggers spread over the image.
PATCHES = ("badnets", "x-corner", "moving-square", "dim-checker")
patch = [r for r in rows if r["target"] < 0 or r["attack"].startswith(PATCHES)]
summary("patch triggers + clean", patch)
full = [r for r in rows if r["target"] < 0 or not r["attack"].startswith(PATCHES)]
summary("full-image triggers + clean", full)
took = [r for r in rows if r["target"] < 0 or (r["asr"] or 0) >= 0.5]
summary("backdoors that took (ASR >= 50%) + clean", took)
weak = [r for r in rows if r["target"] >= 0 and (r["asr"] or 0) < 0.5]
if weak:
    print(f"\n{len(weak)} trojaned models whose backdoor did not take (ASR < 50%): "
          + ", ".join(f'{r["index"]} ({r["attack"]}, {r["asr"]:.2f})' for r in weak))
