"""Neural Cleanse, MM-BD, either, and `consensus` (both rank the same class first) on a zoo's rows
that carry both detectors' top classes (bench/results/*_nc_mm_stop40.jsonl; a zoo scanned with
`scan model --detector all` gives the same fields: NC's largest anomaly index, MM-BD's largest
ratio). Counts working backdoors (ASR >= 50%) and clean models; no threshold is tuned here.

    python3 bench/zoo_consensus.py bench/results/pytorch_zoo_18_fashion_nc_mm_stop40.jsonl
"""
import json, sys
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
