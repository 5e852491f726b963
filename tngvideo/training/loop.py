"""The one training loop of tngvideo: image runs, flow pre-training and every P-frame stage.

A task (:class:`TrainingTask`) owns its model, its data and its loss; the loop owns what every run
shares: Adam with linear warm-up and cosine decay, gradient clipping, checkpoint and resume, the
learning-curve log, and keeping the best checkpoint by the task's validation score.

A run directory holds ``last.safetensors`` + ``last.optim.pt`` (resume), ``best.safetensors``
(lowest validation score so far) and ``log.jsonl`` (the learning curve, with CPU seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from tngvideo.config_json import JsonConfig
from tngvideo.schedules import cosine_decay

ParameterGroup = dict[str, Any]  # {"params": [...], "lr_scale": float}: torch.optim's parameter group
SCORE_KEY = "score"  # the validation record's key the best checkpoint is chosen by (lower is better)


@dataclass(frozen=True)
class Schedule:
    """How long and how fast a run trains."""

    steps: int
    learning_rate: float
    warmup_steps: int = 500
    final_learning_rate: float = 1e-5
    grad_clip: float = 1.0
    eval_every: int = 1000
    checkpoint_every: int = 250
    bfloat16: bool = False  # autocast the training steps' convolutions to bfloat16 (validation stays float32)

    def learning_rate_at(self, step: int) -> float:
        """Linear warm-up to the peak, then cosine decay to the final rate."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps))
        return cosine_decay(self.learning_rate, self.final_learning_rate, progress)


def add_schedule_arguments(parser: argparse.ArgumentParser, steps: int, learning_rate: float, warmup_steps: int,
                           eval_every: int) -> None:
    """The options every training script shares, with that script's defaults: run folder, schedule, seed,
    threads (:func:`schedule_of` reads them back)."""
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoints and log; resumed when it has them")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--learning-rate", type=float, default=learning_rate)
    parser.add_argument("--warmup-steps", type=int, default=warmup_steps)
    parser.add_argument("--final-learning-rate", type=float, default=Schedule.final_learning_rate,
                        help="where the cosine decay ends")
    parser.add_argument("--grad-clip", type=float, default=Schedule.grad_clip, help="gradient norm clip")
    parser.add_argument("--eval-every", type=int, default=eval_every)
    parser.add_argument("--checkpoint-every", type=int, default=Schedule.checkpoint_every)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true",
                        help="train the convolutions in bfloat16 (autocast; ~2x faster on CPUs with AMX, slower on "
                             "some without: time both, docs/training.md); the entropy models and validation stay "
                             "float32")


def schedule_of(args: argparse.Namespace) -> Schedule:
    """The :class:`Schedule` of :func:`add_schedule_arguments`' options; also sets torch's threads and seed."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return Schedule(steps=args.steps, learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
                    final_learning_rate=args.final_learning_rate, grad_clip=args.grad_clip,
                    eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, bfloat16=args.bf16)


def start_or_resume_run(task: TrainingTask, schedule: Schedule, args: argparse.Namespace, run_config: JsonConfig,
                        initialise: Callable[[], dict[str, object]] = dict) -> None:
    """:meth:`TrainingLoop.start_or_resume` in the ``--run-dir`` and with the ``--seed`` of :func:`add_schedule_arguments`'
    options; ``schedule`` is :func:`schedule_of`'s, taken before the task was built (it seeds torch)."""
    TrainingLoop(task, schedule, args.run_dir, run_config.to_json(), seed=args.seed).start_or_resume(initialise)


class TrainingTask(Protocol):
    """What the loop needs from a task."""

    @property
    def model(self) -> nn.Module:
        """The network the run trains (the loop switches it between training and evaluation mode)."""
        ...

    def trainable_parameters(self) -> Iterable[nn.Parameter] | list[ParameterGroup]:
        """The parameters this run optimises (a stage may freeze the rest); or groups of them, each
        {"params": [...], "lr_scale": s} trained at s times the schedule's rate."""
        ...

    def loss(self, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """Draw a batch and return its loss and scalars to log."""
        ...

    def validate(self) -> dict[str, object]:
        """Measure on held-out data; the record's ``score`` (lower is better) chooses the best checkpoint."""
        ...

    def save(self, path: Path, metadata: dict[str, str]) -> None:
        """Write the model's weights (with its config) to ``path``."""
        ...

    def load(self, path: Path) -> None:
        """Restore weights written by :meth:`save`."""
        ...


class TrainingLoop:
    """Runs (or resumes) one task in ``run_dir``; ``run_config`` (JSON) is stored with every checkpoint."""

    def __init__(self, task: TrainingTask, schedule: Schedule, run_dir: Path, run_config: str, seed: int = 0):
        self.task = task
        self.schedule = schedule
        self.run_dir = run_dir
        self.run_config = run_config
        self.seed = seed
        run_dir.mkdir(parents=True, exist_ok=True)
        self.optimizer = torch.optim.Adam(list(task.trainable_parameters()), lr=schedule.learning_rate)  # type: ignore[arg-type]
        self.step = 0
        self.best_score = math.inf
        self.cpu_seconds = 0.0  # process CPU time spent on training steps, summed over resumes

    @property
    def resumable(self) -> bool:
        return (self.run_dir / "last.safetensors").exists()

    def resume(self) -> None:
        """Continue from ``last.*`` in the run directory."""
        self.task.load(self.run_dir / "last.safetensors")
        state = torch.load(self.run_dir / "last.optim.pt", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.best_score = float(state["best_score"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.log({"event": "resume", "step": self.step})

    def log(self, record: dict[str, object]) -> None:
        record = {"time": round(time.time(), 1), **record}
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    def _metadata(self) -> dict[str, str]:
        return {"train_config": self.run_config, "step": str(self.step), "cpu_seconds": str(round(self.cpu_seconds))}

    def _checkpoint(self) -> None:
        self.task.save(self.run_dir / "last.safetensors", self._metadata())
        state = {"optimizer": self.optimizer.state_dict(), "step": self.step, "best_score": self.best_score,
                 "cpu_seconds": self.cpu_seconds}
        torch.save(state, self.run_dir / "last.optim.pt")

    def _validate(self) -> None:
        self.task.model.eval()
        result = self.task.validate()
        self.task.model.train()
        self.log({"event": "eval", "step": self.step, "cpu_hours": round(self.cpu_seconds / 3600, 3), **result})
        score = result.get(SCORE_KEY)
        if isinstance(score, float) and score < self.best_score:
            self.best_score = score
            self.task.save(self.run_dir / "best.safetensors", {**self._metadata(), "validation": json.dumps(result)})

    def start_or_resume(self, initialise: Callable[[], dict[str, object]]) -> None:
        """Resume from the run folder's checkpoint, or call ``initialise`` (which sets the starting weights and
        returns what to log about them), then train to the schedule's end."""
        if self.resumable:
            self.resume()
        else:
            self.log({"event": "start", "config": self.run_config, **initialise()})
        self.run()

    def run(self) -> None:
        schedule = self.schedule
        rng = np.random.default_rng(self.seed + 1 + self.step)
        window: list[dict[str, float]] = []
        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        if schedule.steps == 0 and self.step == 0:  # a run of no steps scores and writes its starting weights
            self._validate()
            self._checkpoint()
        self.task.model.train()
        while self.step < schedule.steps:
            started = time.process_time()
            for group in self.optimizer.param_groups:
                group["lr"] = schedule.learning_rate_at(self.step) * group.get("lr_scale", 1.0)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=schedule.bfloat16):
                loss, stats = self.task.loss(rng)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, schedule.grad_clip)
            self.optimizer.step()
            self.step += 1
            self.cpu_seconds += time.process_time() - started
            window.append(stats)
            if self.step % 100 == 0:
                mean = {k: round(float(np.mean([w[k] for w in window])), 4) for k in window[0]}
                self.log({"event": "train", "step": self.step, "lr": schedule.learning_rate_at(self.step), **mean})
                window.clear()
            if self.step % schedule.eval_every == 0 or self.step == schedule.steps:
                self._validate()  # before the checkpoint, so a resumed run knows the best score so far
            if self.step % schedule.checkpoint_every == 0 or self.step == schedule.steps:
                self._checkpoint()
