r"""Run a sweep: many `research.main` runs of one config with different overrides.

  python -m research.tools.sweep --config=configs/quickstart.py --sweep=experiments/quickstart_sweep/sweep.py \
      --root=workdirs/quickstart_sweep [--parallel=2] [--launcher=local|tpu_vm] [--dry_run]

The sweep file defines `get_sweep(hyper)` returning a list of override dicts (research/tools/hyper.py).
Each run gets its own workdir ROOT/<readable name> (e.g. `learning_rate=0.003,seed=1`), so the
launcher itself keeps no state: a finished run (results.md says the final step was reached) is
skipped, an interrupted one is started again and resumes from its checkpoints, a failed one is
reported and the others go on. The exit status is 1 when any run failed.

Launchers:
  local   subprocesses `python -m research.main ...`, `--parallel` at a time; output in ROOT/logs/<name>.log.
  tpu_vm  `gcloud compute tpus tpu-vm ssh NAME --zone=Z --worker=all --command=...`: one set-up invocation
          per VM (clone/checkout the code, install, mount a gs:// bucket), then one invocation per run;
          `--tpu_name=a,b` spreads the runs over several VMs.

Every mistake in the sweep file (unknown key, wrong type, duplicate run) is found before any run starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from absl import flags

from research import cli
from research.errors import UserError
from research.tools import hyper

FLAGS = flags.FlagValues()  # private: research.main's flags may live in the same process (tests)
flags.DEFINE_string("config", None, "Config file of every run, configs/<family>.py[:arg].", flag_values=FLAGS)
flags.DEFINE_string("sweep", None, "Sweep file defining get_sweep(hyper) (see research/tools/hyper.py).", flag_values=FLAGS)
flags.DEFINE_string("root", None, "Folder holding one workdir per run (ROOT/<run name>).", flag_values=FLAGS)
flags.DEFINE_integer("parallel", 1, "Local launcher: how many runs at a time.", flag_values=FLAGS)
flags.DEFINE_enum("launcher", "local", ["local", "tpu_vm"], "Where the runs go.", flag_values=FLAGS)
flags.DEFINE_bool("dry_run", False, "Print the commands and what would be skipped; run nothing.", flag_values=FLAGS)
flags.DEFINE_string("tpu_name", None, "tpu_vm: TPU VM name(s), comma-separated to spread runs over several.",
                    flag_values=FLAGS)
flags.DEFINE_string("tpu_zone", None, "tpu_vm: the VMs' zone, e.g. us-central2-b.", flag_values=FLAGS)
flags.DEFINE_string("tpu_project", None, "tpu_vm: Google Cloud project (default: gcloud's configured one).",
                    flag_values=FLAGS)
flags.DEFINE_string("tpu_workdir_root", None, "tpu_vm: where the runs write on the VM: gs://BUCKET/path (mounted "
                    "with gcsfuse on every worker, so multi-host checkpoints land in one place) or a local path "
                    "(single-host VMs). Default: --root.", flag_values=FLAGS)
flags.DEFINE_string("tpu_repo_url", None, "tpu_vm: git URL the VMs clone (default: this checkout's origin).",
                    flag_values=FLAGS)
flags.DEFINE_string("tpu_commit", None, "tpu_vm: commit the VMs check out (default: this checkout's HEAD).",
                    flag_values=FLAGS)
flags.DEFINE_string("tpu_repo_dir", "research", "tpu_vm: checkout folder on the VM, relative to $HOME.",
                    flag_values=FLAGS)
flags.DEFINE_string("tpu_python", "python3", "tpu_vm: the VM's Python.", flag_values=FLAGS)
flags.DEFINE_bool("tpu_setup", True, "tpu_vm: run the set-up invocation on each VM before the runs.",
                  flag_values=FLAGS)

GCS_MOUNT = "/tmp/gcs"  # where tpu_vm set-up mounts gs://BUCKET on every worker
_PRINT_LOCK = threading.Lock()


def _say(message: str) -> None:
  """One whole line per call, even from several launcher threads at once."""
  with _PRINT_LOCK:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


@dataclasses.dataclass
class Run:
  """One run of the sweep: its overrides ({'config.a.b': value}) and its folder name under ROOT."""

  name: str
  overrides: dict[str, Any]


# ----------------------------------------------------------------------------------------------
# Loading and checking the sweep.


def _load_module(path: str, what: str):
  if not os.path.isfile(path):
    raise UserError(f"{what} {path} not found")
  spec = importlib.util.spec_from_file_location(f"_research_{what.replace(' ', '_')}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except UserError:
    raise
  except BaseException as e:  # SyntaxError, ImportError, anything the file raises at import
    raise UserError(f"{what} {path} failed to load ({type(e).__name__}: {cli.one_line(e)})") from None
  return module


def load_config(config_arg: str):
  """`configs/x.py[:arg]` → the ConfigDict the runs start from (what research.main would build)."""
  if not config_arg:
    raise UserError("--config is required, e.g. --config=configs/quickstart.py")
  path, _, arg = config_arg.partition(":")
  module = _load_module(path, "config file")
  if not hasattr(module, "get_config"):
    raise UserError(f"config file {path} defines no get_config(arg=None)")
  try:
    return module.get_config(arg or None)
  except UserError:
    raise
  except Exception as e:
    raise UserError(f"config file {config_arg} failed in get_config ({type(e).__name__}: {cli.one_line(e)})") from None


def load_sweep(path: str) -> list[dict[str, Any]]:
  """Runs `get_sweep(hyper)` of the sweep file and checks the result's shape."""
  if not path:
    raise UserError("--sweep is required, e.g. --sweep=experiments/quickstart_sweep/sweep.py")
  module = _load_module(path, "sweep file")
  if not callable(getattr(module, "get_sweep", None)):
    raise UserError(f"sweep file {path} defines no get_sweep(hyper) function")
  try:
    runs = module.get_sweep(hyper)
  except UserError as e:
    raise UserError(f"sweep file {path}: {e}") from None
  except Exception as e:
    raise UserError(f"sweep file {path}: get_sweep raised {type(e).__name__}: {cli.one_line(e)}") from None
  try:
    return hyper.validate(runs)
  except UserError as e:
    raise UserError(f"sweep file {path}: {e}") from None


def check_overrides(config, runs: Sequence[dict[str, Any]]) -> None:
  """Applies every run's overrides to a locked copy of the config: unknown keys and values of the
  wrong type fail here, naming the run, instead of in the middle of the sweep."""
  for i, run in enumerate(runs):
    copy = config.copy_and_resolve_references()
    copy.lock()
    for key, value in run.items():
      node = copy
      parts = key[len(hyper.PREFIX):].split(".")
      for j, part in enumerate(parts):
        if not hasattr(node, "keys") or part not in node:
          options = list(node.keys()) if hasattr(node, "keys") else []
          close = difflib.get_close_matches(part, options, n=1)
          hint = f" (did you mean config.{'.'.join(parts[:j] + [close[0]])}?)" if close else ""
          raise UserError(f"sweep run {i} sets {key}, which the config does not define{hint}")
        if j < len(parts) - 1:
          node = node[part]
      old = node[parts[-1]]
      if isinstance(value, (list, tuple)) and isinstance(old, tuple):
        value = tuple(value)
      if value is None or isinstance(value, (dict, set)):
        raise UserError(f"sweep run {i} sets {key}={value!r}; sweep values must be numbers, strings, "
                        "booleans or tuples")
      try:
        setattr(node, parts[-1], value)
      except (TypeError, ValueError, AttributeError) as e:
        raise UserError(f"sweep run {i} sets {key}={value!r}: {cli.one_line(e)}") from None


# ----------------------------------------------------------------------------------------------
# Names and commands.


def format_value(value: Any) -> str:
  """A value as `--config.k=<text>` parses it back (config_flags parses by the field's type)."""
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, (list, tuple)):
    inner = ", ".join(repr(v) for v in value)
    return f"({inner},)" if len(value) == 1 else f"({inner})"
  return str(value)


def _name_value(value: Any) -> str:
  if isinstance(value, bool):
    text = "true" if value else "false"
  elif isinstance(value, float):
    text = f"{value:g}"
  elif isinstance(value, (list, tuple)):
    text = "x".join(_name_value(v) for v in value) or "empty"
  else:
    text = str(value)
  return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
  """Shortest dotted suffix of each key that is unique among `keys` ('config.optimizer.learning_rate'
  → 'learning_rate' unless another key also ends in 'learning_rate')."""
  out = {}
  for key in keys:
    parts = key[len(hyper.PREFIX):].split(".") if key.startswith(hyper.PREFIX) else key.split(".")
    for n in range(1, len(parts) + 1):
      suffix = ".".join(parts[-n:])
      clash = [k for k in keys if k != key and (k == suffix or k.endswith("." + suffix))]
      if not clash:
        break
    out[key] = suffix
  return out


def name_runs(runs: Sequence[dict[str, Any]]) -> list[Run]:
  """Readable, unique folder names from the keys whose value differs between runs."""
  keys: list[str] = []
  for run in runs:
    keys += [k for k in run if k not in keys]
  varying = [k for k in keys if len({repr(run.get(k, "<unset>")) for run in runs}) > 1] or keys
  short = short_keys(varying)
  names: list[str] = []
  for run in runs:
    parts = [f"{short[k]}={_name_value(run[k])}" for k in varying if k in run]
    name = ",".join(parts) or "base"
    if name in names:  # only possible when sanitizing merged two values
      name = f"{name},run{len(names)}"
    names.append(name)
  return [Run(name, dict(run)) for name, run in zip(names, runs, strict=True)]


def main_args(config_arg: str, workdir: str, run: Run) -> list[str]:
  """The `research.main` arguments of one run (without the interpreter)."""
  return ["-m", "research.main", f"--config={config_arg}", f"--workdir={workdir}",
          *[f"--{k}={format_value(v)}" for k, v in run.overrides.items()]]


# ----------------------------------------------------------------------------------------------
# Run state on disk.


def _read_text(path: str) -> str | None:
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return None


def is_finished(workdir: str) -> bool:
  """results.md is written only when a run ends; when it names the final and the total step
  (the supervised trainer's "Final evaluation (step N)" and "T steps of batch"), they must agree."""
  text = _read_text(os.path.join(workdir, "results.md"))
  if text is None:
    return False
  if "Early stopping:" in text:  # stopped before total_steps on purpose
    return True
  final = re.search(r"Final evaluation \(step (\d+)\)", text)
  total = re.search(r"(\d+) steps of batch", text)
  if final and total:
    return int(final.group(1)) == int(total.group(1))
  return True


def has_started(workdir: str) -> bool:
  checkpoints = os.path.join(workdir, "checkpoints")
  return os.path.isdir(checkpoints) and any(n.isdigit() for n in os.listdir(checkpoints))


def final_metrics(workdir: str) -> str:
  """'test accuracy 0.9712, loss 0.0954' from the last evaluation rows of metrics.jsonl."""
  text = _read_text(os.path.join(workdir, "metrics.jsonl")) or ""
  last: dict[str, dict[str, Any]] = {}
  for line in text.splitlines():
    try:
      row = json.loads(line)
    except json.JSONDecodeError:
      continue
    split = row.get("split")
    if split and split != "train" and row.get("step", -1) >= last.get(split, {}).get("step", -1):
      last[split] = row
  parts = []
  for split, row in sorted(last.items()):
    values = [f"{k} {v:.4g}" for k, v in row.items()
              if k not in ("step", "split", "time") and isinstance(v, (int, float))]
    parts.append(f"{split} " + ", ".join(values))
  return "; ".join(parts)


# ----------------------------------------------------------------------------------------------
# Launchers.


@dataclasses.dataclass
class Outcome:
  run: Run
  status: str          # done | skipped | failed
  seconds: float = 0.0
  message: str = ""


def _last_error(log: str) -> str:
  lines = [line.strip() for line in log.splitlines() if line.strip()]
  errors = [line for line in lines if line.startswith("error:")]
  return (errors or lines or ["(no output)"])[-1][:300]


class _Pool:
  """Runs jobs from a queue on `slots` threads; each slot may build its own command."""

  def __init__(self, slots: Sequence[Any]):
    self.slots = list(slots)
    self.procs: dict[int, subprocess.Popen] = {}
    self.lock = threading.Lock()
    self.stopping = False

  def run(self, jobs: Sequence[Any], work) -> None:
    q: queue.Queue = queue.Queue()
    for job in jobs:
      q.put(job)

    def worker(slot):
      while not self.stopping:
        try:
          job = q.get_nowait()
        except queue.Empty:
          return
        work(slot, job, self)

    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in self.slots]
    for t in threads:
      t.start()
    try:
      while any(t.is_alive() for t in threads):
        for t in threads:
          t.join(0.2)
    except KeyboardInterrupt:
      self.stopping = True
      with self.lock:
        for p in self.procs.values():
          p.terminate()  # the run's lock becomes stale; the next sweep takes it over and resumes
      raise

  def call(self, argv: list[str], log_path: str, env: dict[str, str]) -> tuple[int, str]:
    """Runs argv with its output appended to log_path; returns (exit status, this attempt's output)."""
    with open(log_path, "a") as log:
      start = log.tell()
      log.write(f"$ {shlex.join(argv)}\n")
      log.flush()
      p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
      with self.lock:
        self.procs[p.pid] = p
      rc = p.wait()
      with self.lock:
        self.procs.pop(p.pid, None)
    with open(log_path) as f:
      f.seek(start)
      return rc, f.read()


def _child_env() -> dict[str, str]:
  env = dict(os.environ)
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = os.pathsep.join([here, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  return env


def run_local(config_arg: str, runs: Sequence[Run], root: str, parallel: int, dry_run: bool,
              python: str = sys.executable) -> list[Outcome]:
  """Starts the runs that are not finished, `parallel` at a time; returns one Outcome per run."""
  outcomes: dict[str, Outcome] = {}
  todo = []
  for i, run in enumerate(runs):
    workdir = os.path.join(root, run.name)
    argv = [python, *main_args(config_arg, workdir, run)]
    if is_finished(workdir):
      outcomes[run.name] = Outcome(run, "skipped", message="finished earlier")
      print(f"[{i + 1}/{len(runs)}] {run.name}: finished earlier, skipped", flush=True)
      continue
    state = "resume" if has_started(workdir) else "new"
    if dry_run:
      print(f"# [{i + 1}/{len(runs)}] {run.name} ({state})\n{shlex.join(argv)}", flush=True)
      continue
    todo.append((i, run, argv, state))
  if dry_run or not todo:
    return [outcomes[r.name] for r in runs if r.name in outcomes]

  logs = os.path.join(root, "logs")
  os.makedirs(logs, exist_ok=True)
  _write_plan(root, config_arg, runs)
  env = _child_env()

  def work(slot, job, pool: _Pool) -> None:
    i, run, argv, state = job
    _say(f"[{i + 1}/{len(runs)}] {run.name}: {'resuming' if state == 'resume' else 'starting'}")
    t0 = time.time()
    rc, log = pool.call(argv, os.path.join(logs, f"{run.name}.log"), env)
    seconds = time.time() - t0
    if rc == 0:
      outcome = Outcome(run, "done", seconds, final_metrics(os.path.join(root, run.name)))
      _say(f"[{i + 1}/{len(runs)}] {run.name}: done in {seconds:.1f} s")
    else:
      outcome = Outcome(run, "failed", seconds, f"exit {rc}: {_last_error(log)}")
      _say(f"[{i + 1}/{len(runs)}] {run.name}: FAILED ({outcome.message}); log {logs}/{run.name}.log")
    with pool.lock:
      outcomes[run.name] = outcome

  _Pool(range(parallel)).run(todo, work)
  return [outcomes[r.name] for r in runs]


def _write_plan(root: str, config_arg: str, runs: Sequence[Run]) -> None:
  """ROOT/sweep.json: the config and every run's overrides (for the record; the launcher needs no state)."""
  os.makedirs(root, exist_ok=True)
  plan = {"config": config_arg, "runs": [{"name": r.name, "overrides": r.overrides} for r in runs]}
  with open(os.path.join(root, "sweep.json.tmp"), "w") as f:
    json.dump(plan, f, indent=2, default=repr)
  os.replace(os.path.join(root, "sweep.json.tmp"), os.path.join(root, "sweep.json"))


@dataclasses.dataclass
class TpuTarget:
  """Where tpu_vm runs go and how each VM is prepared."""

  names: list[str]
  zone: str
  project: str | None
  workdir_root: str
  repo_url: str
  commit: str
  repo_dir: str = "research"
  python: str = "python3"

  def ssh(self, name: str, command: str) -> list[str]:
    argv = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", name, f"--zone={self.zone}"]
    if self.project:
      argv.append(f"--project={self.project}")
    return argv + ["--worker=all", f"--command={command}"]

  def remote_root(self) -> str:
    """The folder the runs' workdirs live in, as the VM sees it."""
    if self.workdir_root.startswith("gs://"):
      return f"{GCS_MOUNT}/{self.workdir_root[len('gs://'):].rstrip('/')}"
    return self.workdir_root

  def setup_command(self) -> str:
    q = shlex.quote
    repo = q(self.repo_dir)
    steps = [
        f"if [ ! -d {repo}/.git ]; then git clone -q {q(self.repo_url)} {repo}; fi",
        f"cd {repo}",
        "git fetch -q origin",
        f"git checkout -q {q(self.commit)}",
        f"{q(self.python)} -m pip install -q -U 'jax[tpu]'",
        f"{q(self.python)} -m pip install -q -e '.[dev]'",
    ]
    if self.workdir_root.startswith("gs://"):
      bucket = self.workdir_root[len("gs://"):].split("/", 1)[0]
      mount = q(f"{GCS_MOUNT}/{bucket}")
      steps += [
          "command -v gcsfuse >/dev/null || { echo 'error: gcsfuse is not installed on this VM "
          "(see docs/sweeps.md)'; exit 1; }",
          f"mkdir -p {mount}",
          # checkpoints are committed by renaming a folder; gcsfuse allows that only with a limit set
          f"mountpoint -q {mount} || gcsfuse -o rw --implicit-dirs --rename-dir-limit=100000 {q(bucket)} {mount}",
      ]
    return "set -e; " + "; ".join(steps)

  def run_command(self, config_arg: str, run: Run) -> str:
    workdir = f"{self.remote_root().rstrip('/')}/{run.name}"
    args = " ".join(shlex.quote(a) for a in main_args(config_arg, workdir, run))
    finished = shlex.quote(f"{workdir}/results.md")
    # A run whose results.md exists finished earlier; anything else (re)starts and resumes itself.
    return (f"cd {shlex.quote(self.repo_dir)} && if [ -f {finished} ]; then echo {shlex.quote(run.name)}: finished; "
            f"else RESEARCH_DISTRIBUTED=1 {shlex.quote(self.python)} {args}; fi")


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  except (OSError, subprocess.TimeoutExpired):
    return None
  return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def tpu_target(root: str) -> TpuTarget:
  """TpuTarget from the --tpu_* flags, with this checkout's origin and HEAD as defaults."""
  if not FLAGS.tpu_name:
    raise UserError("--launcher=tpu_vm needs --tpu_name=NAME (the TPU VM, or several comma-separated)")
  if not FLAGS.tpu_zone:
    raise UserError("--launcher=tpu_vm needs --tpu_zone=ZONE (e.g. us-central2-b)")
  repo_url = FLAGS.tpu_repo_url or _git("remote", "get-url", "origin")
  if not repo_url:
    raise UserError("--launcher=tpu_vm needs --tpu_repo_url (this checkout has no 'origin' remote to default to)")
  commit = FLAGS.tpu_commit or _git("rev-parse", "HEAD")
  if not commit:
    raise UserError("--launcher=tpu_vm needs --tpu_commit (could not read this checkout's HEAD)")
  names = [n.strip() for n in FLAGS.tpu_name.split(",") if n.strip()]
  return TpuTarget(names=names, zone=FLAGS.tpu_zone, project=FLAGS.tpu_project,
                   workdir_root=FLAGS.tpu_workdir_root or root, repo_url=repo_url, commit=commit,
                   repo_dir=FLAGS.tpu_repo_dir, python=FLAGS.tpu_python)


def run_tpu_vm(config_arg: str, runs: Sequence[Run], root: str, target: TpuTarget, dry_run: bool,
               setup: bool = True) -> list[Outcome]:
  """Set-up on every VM, then each run as one ssh invocation on the next free VM."""
  if dry_run:
    if setup:
      for name in target.names:
        print(f"# set-up of {name}\n{shlex.join(target.ssh(name, target.setup_command()))}")
    for i, run in enumerate(runs):
      name = target.names[i % len(target.names)]
      print(f"# [{i + 1}/{len(runs)}] {run.name}\n{shlex.join(target.ssh(name, target.run_command(config_arg, run)))}")
    sys.stdout.flush()
    return []
  if shutil.which("gcloud") is None:
    raise UserError("gcloud not found on PATH; install the Google Cloud SDK (https://cloud.google.com/sdk) "
                    "or pass --dry_run to print the commands")
  logs = os.path.join(root, "logs")
  os.makedirs(logs, exist_ok=True)
  _write_plan(root, config_arg, runs)
  env = dict(os.environ)
  pool = _Pool(target.names)
  if setup:
    for name in target.names:
      rc, log = pool.call(target.ssh(name, target.setup_command()), os.path.join(logs, f"setup-{name}.log"), env)
      if rc != 0:
        raise UserError(f"set-up of TPU VM {name} failed ({_last_error(log)}); see {logs}/setup-{name}.log")
  outcomes: dict[str, Outcome] = {}

  def work(vm, job, pool: _Pool) -> None:
    i, run = job
    _say(f"[{i + 1}/{len(runs)}] {run.name}: starting on {vm}")
    t0 = time.time()
    rc, log = pool.call(target.ssh(vm, target.run_command(config_arg, run)), os.path.join(logs, f"{run.name}.log"),
                        env)
    seconds = time.time() - t0
    outcome = Outcome(run, "done", seconds) if rc == 0 else Outcome(run, "failed", seconds,
                                                                    f"exit {rc}: {_last_error(log)}")
    _say(f"[{i + 1}/{len(runs)}] {run.name}: {outcome.status} in {seconds:.1f} s {outcome.message}")
    with pool.lock:
      outcomes[run.name] = outcome

  pool.run(list(enumerate(runs)), work)
  return [outcomes[r.name] for r in runs]


# ----------------------------------------------------------------------------------------------
# Entry point.


def summary(outcomes: Sequence[Outcome]) -> str:
  rows = [(o.run.name, o.status, f"{o.seconds:.1f}" if o.seconds else "-", o.message or "-") for o in outcomes]
  header = ("run", "status", "seconds", "final evaluation / error")
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
  return "\n".join(lines)


def plan(config_arg: str, sweep_path: str) -> list[Run]:
  """Loads and checks config and sweep; returns the named runs. Nothing is written."""
  config = load_config(config_arg)
  runs = load_sweep(sweep_path)
  check_overrides(config, runs)
  return name_runs(runs)


def main(argv: Sequence[str]) -> int:
  rest = cli.parse_flags(argv, FLAGS, __doc__)
  if isinstance(rest, int):
    return rest
  try:
    if len(rest) > 1:
      raise UserError(f"unexpected arguments {' '.join(rest[1:])}; use --flag=value")
    if not FLAGS.root:
      raise UserError("--root is required: the folder that holds one workdir per run")
    if FLAGS.parallel < 1:
      raise UserError(f"--parallel={FLAGS.parallel} must be >= 1")
    root = os.path.abspath(os.path.expanduser(FLAGS.root))
    if os.path.exists(root) and not os.path.isdir(root):
      raise UserError(f"--root={FLAGS.root} is a file, not a folder; choose another path")
    runs = plan(FLAGS.config, FLAGS.sweep)
    print(f"sweep {FLAGS.sweep}: {len(runs)} runs of {FLAGS.config} under {root}", flush=True)
    if FLAGS.launcher == "tpu_vm":
      target = tpu_target(root)
      outcomes = run_tpu_vm(FLAGS.config, runs, root, target, FLAGS.dry_run, setup=FLAGS.tpu_setup)
    else:
      outcomes = run_local(FLAGS.config, runs, root, FLAGS.parallel, FLAGS.dry_run)
  except UserError as e:
    return cli.print_error(cli.one_line(e))
  except KeyboardInterrupt:
    print("\ninterrupted; run the same command again to resume", file=sys.stderr, flush=True)
    return 130
  if FLAGS.dry_run:
    return 0
  print("\n" + summary(outcomes), flush=True)
  failed = [o for o in outcomes if o.status == "failed"]
  if failed:
    print(f"\n{len(failed)} of {len(outcomes)} runs failed: {', '.join(o.run.name for o in failed)}", flush=True)
    return 1
  print(f"\nall {len(outcomes)} runs finished; table: python -m research.tools.report {root}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
