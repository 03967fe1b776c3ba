r"""Compare systems decoded on the same test set, with confidence intervals and paired significance tests.

    python -m research.tools.compare BASELINE.jsonl OTHER.jsonl [...] [--names=lstm,luong] \
        [--buckets=10,20,30] [--out=table.md]

Each argument is a decodes file a run wrote (WORKDIR/decodes/<split>.<method>.jsonl, research/evaluation/outputs.py),
or, for classifiers, a per-example outputs file (WORKDIR/examples/<split>.jsonl): then the table is accuracy with its
95% bootstrap interval and the paired bootstrap p-value against the first run.
Prints (or writes to --out) a markdown table: per system corpus BLEU and chrF with their 95% bootstrap intervals
(1000 resamples of the sentences, seed 0), and for every system after the first the paired bootstrap p-value of its
BLEU and chrF against the first (sacrebleu's --paired-bs: 1000 resamples, seed 12345). With --buckets the same
table is repeated per source-length bucket (edges in source tokens: `10,20` gives ≤10, 11–20, >20), each bucket
resampled on its own. Experiment READMEs copy these tables; `comparison_table` is the function behind them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from absl import flags

from research import cli
from research.errors import UserError
from research.evaluation import chrf, outputs, stats

FLAGS = flags.FlagValues()
flags.DEFINE_list("names", None, "System names for the table (default: the file names).", flag_values=FLAGS)
flags.DEFINE_list("buckets", None, "Source-length bucket edges (tokens), e.g. 10,20,30.", flag_values=FLAGS)
flags.DEFINE_string("out", None, "Write the markdown here instead of stdout.", flag_values=FLAGS)
flags.DEFINE_integer("num_samples", 1000, "Bootstrap resamples for intervals and paired tests.", flag_values=FLAGS)


def _cell(interval: stats.Interval) -> str:
  return f"{interval.estimate:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


@dataclasses.dataclass(frozen=True)
class SystemScores:
  """One system on one group of sentences: intervals, and (None for the baseline) paired tests against it."""

  name: str
  sentences: int
  bleu: stats.Interval
  chrf: stats.Interval
  bleu_test: stats.PairedTestResult | None
  chrf_test: stats.PairedTestResult | None

  def row(self) -> list[str]:
    """[name, n, BLEU [CI], chrF [CI], p BLEU, p chrF] ('—' for the baseline's p cells)."""
    tests = [stats.format_p(t.p_value) if t else "—" for t in (self.bleu_test, self.chrf_test)]
    return [self.name, str(self.sentences), _cell(self.bleu), _cell(self.chrf), *tests]


@dataclasses.dataclass(frozen=True)
class Comparison:
  """`overall[i]` scores system i on every sentence; `buckets` is [(label, [SystemScores per system])]."""

  names: list[str]
  overall: list[SystemScores]
  buckets: list[tuple[str, list[SystemScores]]]


def score_systems(systems: Sequence[outputs.Decodes], names: Sequence[str], *,
                  num_samples: int = 1000) -> list[SystemScores]:
  """Intervals of each system and paired tests of every system after the first against the first."""
  base = systems[0]
  return [SystemScores(name, len(d.references), d.bleu_ci(num_samples=num_samples),
                       d.chrf_ci(num_samples=num_samples),
                       None if i == 0 else outputs.paired_bleu(base, d, num_samples=num_samples),
                       None if i == 0 else outputs.paired_chrf(base, d, num_samples=num_samples))
          for i, (name, d) in enumerate(zip(names, systems, strict=True))]


def bucket_index(lengths: np.ndarray, edges: Sequence[int]) -> list[tuple[str, np.ndarray]]:
  """(label, sentence indices) per bucket of source length: ≤e0, e0+1–e1, …, >e_last (empty buckets dropped)."""
  edges = sorted(int(e) for e in edges)
  if np.any(lengths < 0):
    raise UserError("these decodes have no source lengths (written before source_length was saved); re-run the "
                    "evaluation to bucket by length")
  out, low = [], 0
  for e in [*edges, None]:
    mask = (lengths > low) & (lengths <= e) if e is not None else lengths > low
    label = (f"≤{e}" if low == 0 else f"{low + 1}–{e}") if e is not None else f">{low}"
    if mask.any():
      out.append((label, np.flatnonzero(mask)))
    low = e if e is not None else low
  return out


def compare(systems: Sequence[outputs.Decodes], names: Sequence[str], *, buckets: Sequence[int] = (),
            num_samples: int = 1000) -> Comparison:
  """Scores every system overall and (with bucket edges) per source-length bucket, each bucket resampled on
  its own. Raises UserError when the files do not hold the same test set."""
  if len(systems) < 1 or len(systems) != len(names):
    raise UserError(f"{len(systems)} decodes files but {len(names)} names")
  for d in systems[1:]:
    outputs._check_same_sentences(systems[0], d)
  names = list(names)
  groups = [(label, score_systems([d.subset(index) for d in systems], names, num_samples=num_samples))
            for label, index in (bucket_index(systems[0].source_lengths, buckets) if buckets else ())]
  return Comparison(names, score_systems(systems, names, num_samples=num_samples), groups)


def render(c: Comparison) -> str:
  """The markdown tables of a `Comparison`: overall, then one row per bucket and system."""
  head = (f"| system | sentences | BLEU [95% CI] | chrF [95% CI] | p BLEU vs {c.names[0]} | p chrF vs {c.names[0]} |\n"
          "|---|---:|---|---|---:|---:|\n")
  parts = [head + "".join("| " + " | ".join(s.row()) + " |\n" for s in c.overall)]
  if c.buckets:
    head_b = "| source length | " + head[2:].replace("|---|", "|---|---|", 1)
    parts.append(head_b + "".join("| " + " | ".join([label, *s.row()]) + " |\n"
                                  for label, group in c.buckets for s in group))
  return "\n".join(parts)


def comparison_table(systems: Sequence[outputs.Decodes], names: Sequence[str], *, buckets: Sequence[int] = (),
                     num_samples: int = 1000) -> str:
  """The markdown of `python -m research.tools.compare` (see the module docstring)."""
  return render(compare(systems, names, buckets=buckets, num_samples=num_samples))


def accuracy_table(systems: Sequence[outputs.Examples], names: Sequence[str], *, num_samples: int = 1000) -> str:
  """Markdown: per classifier its accuracy with a 95% bootstrap CI and the paired bootstrap p-value against the
  first, from per-example outputs (WORKDIR/examples/<split>.jsonl)."""
  if len(systems) < 1 or len(systems) != len(names):
    raise UserError(f"{len(systems)} per-example files but {len(names)} names")
  rows = []
  for i, (name, e) in enumerate(zip(names, systems, strict=True)):
    p = "—" if i == 0 else stats.format_p(outputs.paired_accuracy(systems[0], e, num_samples=num_samples).p_value)
    ci = e.accuracy_ci(num_samples=num_samples)
    rows.append(f"| {name} | {len(e)} | {ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}] | {p} |\n")
  return (f"| system | examples | accuracy [95% CI] | p vs {names[0]} |\n|---|---:|---|---:|\n" + "".join(rows))


@dataclasses.dataclass(frozen=True)
class SeedsAccuracy:
  """One classifier over its seeds: per-seed accuracies, their t-interval (None for one seed), the bootstrap
  interval of the seed-averaged accuracy over test examples, and the paired test against the first system."""

  name: str
  per_seed: list[float]
  seeds: stats.SeedSummary | None
  interval: stats.Interval
  test: stats.PairedTestResult | None

  def row(self) -> list[str]:
    """[name, seeds, mean ± t half-width ('—' for one seed), accuracy [CI], p ('—' for the baseline)]."""
    ci = self.interval
    return [self.name, str(len(self.per_seed)), self.seeds.fmt(4) if self.seeds else "—",
            f"{ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}]",
            stats.format_p(self.test.p_value) if self.test else "—"]


def _check_groups(groups: Sequence[Sequence[Any]], names: Sequence[str], same: Callable[[Any, Any], None]) -> None:
  """One name per system, >= 1 run each, and every run on the first run's test set (`same` raises otherwise)."""
  if not groups or len(groups) != len(names) or any(len(g) == 0 for g in groups):
    raise UserError(f"{len(groups)} systems (each needs >= 1 run) but {len(names)} names")
  for g in groups:
    for run in g:
      same(groups[0][0], run)


def seeds_accuracy(groups: Sequence[Sequence[outputs.Examples]], names: Sequence[str], *,
                   num_samples: int = 1000) -> list[SeedsAccuracy]:
  """Classifiers with one or more seeds each, all on the same test set, each against the first.

  The bootstrap treats each system as the average of its seeds: example i scores the fraction of the system's
  seeds that classify it correctly, and test examples are resampled (paired: the same resamples for both
  systems), so the interval and the p-value account for which examples are hard, the seed column for seeds.
  """
  _check_groups(groups, names, outputs._check_same_examples)
  n = len(groups[0][0])

  def accuracy_of(s: np.ndarray) -> float:
    return float(s[0]) / n

  pooled = [np.mean([e._column("correct").astype(np.float64) for e in g], axis=0)[:, None] for g in groups]
  out = []
  for i, (name, g) in enumerate(zip(names, groups, strict=True)):
    per_seed = [e.accuracy() for e in g]
    out.append(SeedsAccuracy(
        name, per_seed, stats.seed_summary(per_seed) if len(g) > 1 else None,
        stats.bootstrap_ci(pooled[i], accuracy_of, num_samples=num_samples),
        None if i == 0 else outputs.same_outcomes_p(pooled[0], pooled[i], stats.paired_bootstrap(
            pooled[0], pooled[i], accuracy_of, num_samples=num_samples))))
  return out


def seeds_accuracy_rows(groups: Sequence[Sequence[outputs.Examples]], names: Sequence[str], *,
                        num_samples: int = 1000) -> list[list[str]]:
  """`seeds_accuracy` as table rows (`SeedsAccuracy.row`)."""
  return [r.row() for r in seeds_accuracy(groups, names, num_samples=num_samples)]


@dataclasses.dataclass(frozen=True)
class SeedsCorpus:
  """One decoder over its seeds on the same test sentences: corpus BLEU and chrF of every seed, the scores of
  its seed-pooled corpus (every seed's 1-best of every sentence) with bootstrap intervals, and paired tests of
  those against the first system's (None for the first)."""

  name: str
  bleu_per_seed: list[float]
  chrf_per_seed: list[float]
  bleu: stats.Interval
  chrf: stats.Interval
  bleu_test: stats.PairedTestResult | None
  chrf_test: stats.PairedTestResult | None

  def row(self) -> list[str]:
    """[name, seeds, BLEU mean ± t half-width, pooled BLEU [CI], p, chrF mean ± t half-width, pooled chrF [CI], p]."""
    def spread(values: list[float]) -> str:
      return stats.seed_summary(values).fmt(2) if len(values) > 1 else "—"

    def p(test: stats.PairedTestResult | None) -> str:
      return stats.format_p(test.p_value) if test else "—"
    return [self.name, str(len(self.bleu_per_seed)), spread(self.bleu_per_seed), _cell(self.bleu), p(self.bleu_test),
            spread(self.chrf_per_seed), _cell(self.chrf), p(self.chrf_test)]


SEEDS_CORPUS_HEADER = ["system", "seeds", "BLEU per seed, mean ± t half-width (95%)", "seed-pooled BLEU [95% CI]",
                       "paired p (BLEU)", "chrF per seed, mean ± t half-width", "seed-pooled chrF [95% CI]",
                       "paired p (chrF)"]


def seeds_corpus(groups: Sequence[Sequence[outputs.Decodes]], names: Sequence[str], *,
                 num_samples: int = 1000) -> list[SeedsCorpus]:
  """Decoders with one or more seeds each, all on the same test sentences, each against the first.

  A sentence's statistics are summed over the system's seeds, so the pooled score is the corpus score of all
  seeds' hypotheses together, and the bootstrap resamples sentences with every seed's hypothesis of them (a
  cluster): the interval and the p-value account for which sentences are hard, the per-seed column for seeds.
  With one seed per system this is Decodes.bleu_ci / chrf_ci and outputs.paired_bleu / paired_chrf.
  """
  _check_groups(groups, names, outputs._check_same_sentences)
  pooled_bleu = [np.sum([d.bleu_stats for d in g], axis=0) for g in groups]
  pooled_chrf = [np.sum([d.chrf_stats for d in g], axis=0) for g in groups]
  bleu32, chrf32 = stats.paired_bleu_metric(), stats.paired_chrf_metric()
  out = []
  for i, (name, g) in enumerate(zip(names, groups, strict=True)):
    out.append(SeedsCorpus(
        name, [d.bleu() for d in g], [d.chrf() for d in g],
        stats.bootstrap_ci(pooled_bleu[i], stats.bleu_from_statistics, num_samples=num_samples),
        stats.bootstrap_ci(pooled_chrf[i], chrf.chrf_from_statistics, num_samples=num_samples),
        None if i == 0 else stats.paired_bootstrap(pooled_bleu[0], pooled_bleu[i], bleu32, num_samples=num_samples,
                                                   resample_dtype=np.float32),
        None if i == 0 else stats.paired_bootstrap(pooled_chrf[0], pooled_chrf[i], chrf32, num_samples=num_samples,
                                                   resample_dtype=np.float32)))
  return out


def _is_examples_file(path: str) -> bool:
  try:
    with outputs._open(path, "r") as f:
      return outputs.EXAMPLES_FORMAT in f.readline()
  except (OSError, UnicodeDecodeError):
    return False  # read_decodes reports it


def _default_name(path: str) -> str:
  """WORKDIR/decodes/test.beam.jsonl → 'WORKDIR-name beam'."""
  run = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(path))))
  method = os.path.basename(path).removesuffix(".jsonl").split(".", 1)[-1]
  return f"{run} {method}"


def main(argv: Sequence[str]) -> int:
  FLAGS.unparse_flags()  # flag values of an earlier in-process call must not leak into this one
  args = cli.parse_flags(argv, FLAGS, __doc__)
  if isinstance(args, int):
    return args
  paths = args[1:]
  if not paths:
    return cli.print_error("give one or more decodes files (WORKDIR/decodes/<split>.<method>.jsonl)")
  try:
    names = FLAGS.names or [_default_name(p) for p in paths]
    try:
      buckets = [int(b) for b in FLAGS.buckets or ()]
    except ValueError:
      raise UserError(f"--buckets={','.join(FLAGS.buckets)} must be integers (source tokens)") from None
    if all(_is_examples_file(p) for p in paths):  # classifiers: accuracy
      if buckets:
        raise UserError("--buckets needs decodes files (source lengths); these are per-example classifier outputs")
      table = accuracy_table([outputs.read_examples(p) for p in paths], names, num_samples=FLAGS.num_samples)
    else:
      table = comparison_table([outputs.read_decodes(p) for p in paths], names, buckets=buckets,
                               num_samples=FLAGS.num_samples)
  except UserError as e:
    return cli.print_error(cli.one_line(e))
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      f.write(table)
  else:
    print(table, end="")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
