"""``crlft data ...``: validate conversation files, print their statistics, regenerate the offline dataset.

* ``crlft data validate FILE`` prints every problem (record, field, what is wrong) and exits 1 on any;
* ``crlft data stats FILE`` prints per-source counts, lengths and pass rates, per family;
* ``crlft data synth --seed N [--out DIR] [--check]`` writes (or, with ``--check``, compares against) the
  shipped ``train.jsonl``/``eval.jsonl``/``val.jsonl``/``facts.json``: by default it writes ``data/`` of the
  checkout (``./data`` after a plain ``pip install .``) and checks the shipped files the package reads;
  ``--regime premise|control`` does the same for a data regime (``data/<regime>/``, its own settings and seed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from course_utils.data.labeling import DEFAULT_LABEL_CONFIG, summarize
from course_utils.data.loaders import data_dir
from course_utils.data.schema import validate_facts_file, validate_file
from course_utils.data.regimes import REGIMES, regime
from course_utils.data.synth import SynthConfig, write_dataset
from course_utils.paths import data_output_dir, display_path


def _is_facts_file(path: Path) -> bool:
    if path.suffix != ".json":
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("kind") == "facts"


def cmd_validate(args: argparse.Namespace) -> int:
    """``crlft data validate``: print the report; exit status 1 when any record has a problem."""
    path = Path(args.file)
    if not path.exists():
        print(f"error: {display_path(path)} does not exist")
        return 2
    if args.kind == "facts" or (args.kind == "auto" and _is_facts_file(path)):
        report = validate_facts_file(path)
        good_ids = list(json.loads(path.read_text(encoding="utf-8"))["facts"])
        good_ids = [good_ids[i] for i in report.valid_indices]
    else:
        kind = None if args.kind == "auto" else args.kind
        known = None if args.any_source else DEFAULT_LABEL_CONFIG.known_sources
        good, report = validate_file(path, on_error="skip", kind=kind, known_sources=known)
        good_ids = [r["id"] for r in good]
    print(report.format(max_issues=None if args.all else 200))
    if report.issues and (args.verbose or report.n_records <= 100):
        for index, rid in zip(report.valid_indices, good_ids):
            print(f"  OK    record {index} (id {rid!r})")
    return 0 if report.ok else 1


def format_stats(stats: dict[str, Any]) -> str:
    """The table ``crlft data stats`` prints (see ``labeling.summarize``)."""

    def pct(x: float | None) -> str:
        return "   -  " if x is None else f"{100 * x:5.1f}%"

    lines = [f"records: {stats['n']}   multi-turn: {pct(stats['multi_turn_share'])}"]
    lines.append("per source: " + ", ".join(f"{s}={n}" for s, n in stats["per_source"].items()))
    for cls, row in stats["per_class"].items():
        lines.append(
            f"class {cls:<11} n={row['n']:<5} share={pct(stats['class_share'][cls])}  "
            f"pass={pct(row['pass_rate'])}  mean answer words={row['mean_words']:.1f}"
        )
    classes = list(stats["per_class"]) + ["all"]
    short = {c: c[:3] for c in classes}
    header = f"{'family':<12}" + "".join(f"{short[c] + ' n':>8}{short[c] + ' pass':>10}{short[c] + ' words':>10}" for c in classes)
    lines += ["", "(exp = expert, sub = suboptimal; pass = every constraint of every answer passes)", header]
    for family, row in stats["per_family"].items():
        cells = "".join(
            f"{row[c]['n']:>8}{pct(row[c]['pass_rate']):>10}{row[c]['mean_words']:>10.1f}" for c in classes
        )
        lines.append(f"{family:<12}{cells}")
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace) -> int:
    """``crlft data stats``: counts, lengths and pass rates per source, class and family."""
    good, report = validate_file(args.file, on_error="skip", kind=None, known_sources=None)
    if not report.ok:
        print(f"warning: {len(report.invalid_indices)} invalid record(s) left out (run `crlft data validate`)")
    if good and not any(m["role"] == "assistant" for m in good[0]["messages"][-1:]):
        families: dict[str, int] = {}
        for r in good:
            families[r.get("family", "-")] = families.get(r.get("family", "-"), 0) + 1
        multi = sum(sum(m["role"] == "user" for m in r["messages"]) > 1 for r in good)
        print(f"prompts: {len(good)}   multi-turn: {100 * multi / max(1, len(good)):.1f}%")
        for family, n in sorted(families.items()):
            print(f"  {family:<12}{n:>6}")
        return 0
    print(format_stats(summarize(good, DEFAULT_LABEL_CONFIG)))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``crlft data synth``: write the dataset for ``--seed``, or ``--check`` it against ``--out``.

    Without ``--out`` it writes ``data/`` of the checkout (``./data`` when the package is installed, never into
    site-packages) and ``--check`` compares with the shipped files the package reads (``data_dir()``)."""
    config, seed, sub = SynthConfig(), args.seed, ""
    if args.regime:
        chosen = regime(args.regime)
        config, seed, sub = chosen.config, chosen.seed if args.seed is None else args.seed, chosen.name
    seed = 0 if seed is None else seed
    if args.out:
        out = Path(args.out)
    else:
        out = (data_dir() if args.check else data_output_dir()) / sub
    if not args.check:
        paths = write_dataset(out, config, seed)
        for name, path in paths.items():
            print(f"wrote {display_path(path)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_dataset(tmp, config, seed)
        differ = [p.name for p in paths.values() if not (out / p.name).exists() or (out / p.name).read_bytes() != p.read_bytes()]
    if differ:
        print(f"differ from seed {seed}: {', '.join(differ)} in {display_path(out)}")
        return 1
    print(f"{display_path(out)}: identical to the files generated from seed {seed}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft data`` and its sub-commands."""
    data = subparsers.add_parser("data", help="validate, inspect and generate conversation data")
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("validate", help="report every invalid record (record, field, problem)")
    p.add_argument("file")
    p.add_argument("--kind", choices=("auto", "train", "prompts", "facts"), default="auto",
                   help="train: conversations with answers; prompts: held-out prompts (auto: eval*.jsonl, val*.jsonl)")
    p.add_argument("--any-source", action="store_true", help="accept sources the default labeling does not know")
    p.add_argument("--all", action="store_true", help="print every problem (default: the first 200)")
    p.add_argument("--verbose", "-v", action="store_true", help="also list the valid records")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("stats", help="per-source counts, lengths and pass rates, per family")
    p.add_argument("file")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("synth", help="generate the offline verifiable mixed-quality dataset")
    p.add_argument("--seed", type=int, default=None, help="generator seed (default: 0, or the regime's own)")
    p.add_argument("--regime", choices=tuple(REGIMES), default=None,
                   help="generate a data regime (course_utils.data.regimes) into data/<regime>/ instead")
    p.add_argument("--out", default=None,
                   help="output folder (default: data/ of the checkout, i.e. the shipped files; ./data when the "
                        "package is installed without a checkout)")
    p.add_argument("--check", action="store_true",
                   help="compare with the files in --out (default: the shipped files the package reads) instead of "
                        "writing")
    p.set_defaults(func=cmd_synth)


def main(argv: list[str] | None = None) -> int:
    """Run ``crlft data`` without the rest of the CLI (used by tests)."""
    parser = argparse.ArgumentParser(prog="crlft")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
