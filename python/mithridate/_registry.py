"""Python classes generated from the Rust registries: one entry, one class.

A registry entry's name becomes a class name (``trimmed-mean`` -> ``TrimmedMean``, with the
field's spellings for acronyms), and its summary, paper and taxonomy become the docstring, so
the Python API lists exactly what the library registers, as the CLI's help does.
"""

from __future__ import annotations

from typing import Any, Dict, List

from . import _native

# Spellings the field uses (ByzFL, Flower, the papers) where CamelCase would not.
_SPELLINGS = {
    "fedavg": "FedAvg",
    "dp": "DP",
    "nnm": "NNM",
    "fltrust": "FLTrust",
    "foolsgold": "FoolsGold",
    "flame": "FLAME",
    "geomed": "GeometricMedian",
    "alie": "ALIE",
    "ipm": "IPM",
    "sig": "SIG",
    "wanet": "WaNet",
    "badnets": "BadNets",
    "knn": "KNN",
    "strip": "STRIP",
    "scan": "SCAn",
    "spectre": "SPECTRE",
}


def class_name(entry_name: str) -> str:
    """The Python class name of a registry entry (``multi-krum`` -> ``MultiKrum``).

    >>> class_name("trimmed-mean"), class_name("nnm"), class_name("multi-krum")
    ('TrimmedMean', 'NNM', 'MultiKrum')
    """
    if entry_name in _SPELLINGS:
        return _SPELLINGS[entry_name]
    return "".join(_SPELLINGS.get(part, part.capitalize()) for part in entry_name.split("-"))


def entries(role: str) -> List[Dict[str, Any]]:
    return _native.registry(role)


def docstring(entry: Dict[str, Any], extra: str = "") -> str:
    """A docstring from a registry entry: summary, paper, taxonomy."""
    tax = entry["taxonomy"]
    ids = ", ".join(
        tax.get("mitre_atlas", []) + tax.get("owasp_ml", []) + tax.get("owasp_llm", [])
    )
    nist = tax.get("nist_ai_100_2", "")
    lines = [
        f"{entry['summary']}",
        "",
        f"Paper: {entry['paper']}.",
        f"Registry name: ``{entry['name']}``.",
    ]
    if ids or nist:
        lines.append(f"Taxonomy: {ids}{'; NIST AI 100-2 ' + nist if nist else ''}.")
    if extra:
        lines += ["", extra]
    return "\n".join(lines)
