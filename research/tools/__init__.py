"""Command-line tools over runs: sweeps (sweep.py, hyper.py) and reports over workdirs (report.py)."""
