"""The course notes' worked example of judging a translation by matching n-grams.

The notes compare a prediction ŷ with a reference y and count 3 matching unigrams, 2 bigrams and
1 trigram. This demo picks an English pair with exactly those counts, prints which n-grams match, and
turns the counts into BLEU's n-gram precisions and score with research.evaluation.bleu.

    python -m experiments.seq2seq.bleu_demo
"""

from __future__ import annotations

from research.evaluation import bleu

REFERENCE = "the weather is nice today"   # y
PREDICTION = "the weather is cold tonight"  # ŷ


def match_table(prediction: list[str], reference: list[str], max_order: int = 4) -> list[str]:
  """One line per n-gram of the prediction: order, the n-gram, and whether the reference has it."""
  lines = []
  for n in range(1, max_order + 1):
    ref_grams = bleu.ngram_counts(reference, n)
    for i in range(len(prediction) - n + 1):
      gram = tuple(prediction[i:i + n])
      lines.append(f"  {n}-gram  {' '.join(gram):<28} {'match' if ref_grams[gram] else '-'}")
  return lines


def main() -> None:
  prediction, reference = PREDICTION.split(), REFERENCE.split()
  print(f"reference  y = {REFERENCE!r}")
  print(f"prediction ŷ = {PREDICTION!r}\n")
  print("\n".join(match_table(prediction, reference)))
  print("\n  order  matches / n-grams in ŷ  precision")
  for n in range(1, 5):
    matched, total = bleu.ngram_matches(prediction, reference, n)
    print(f"  {n}      {matched} / {total}                  {matched / total:.3f}")

  plain = bleu.sentence_bleu(PREDICTION, [REFERENCE], smooth_method="none", use_effective_order=False)
  smoothed = bleu.sentence_bleu(PREDICTION, [REFERENCE])  # sacrebleu's sentence defaults: exp smoothing
  up_to_3 = bleu.sentence_bleu(PREDICTION, [REFERENCE], smooth_method="none", max_ngram_order=3)
  print(f"\nBLEU-4, no smoothing:        {plain}")
  print("  (no 4-gram matches, so the geometric mean of the four precisions is 0)")
  print(f"BLEU-4, exp smoothing:       {smoothed}")
  print(f"BLEU-3, no smoothing:        {up_to_3}")
  print("  = BP · (3/5 · 2/4 · 1/3)^(1/3) · 100, BP = 1 since |ŷ| = |y| = 5")


if __name__ == "__main__":
  main()
