"""Evaluation metrics and statistics for experiment reports: chrF / chrF++ (`chrf`), bootstrap
confidence intervals, paired significance tests and seed summaries (`stats`)."""
