"""DDP recovery on two gloo ranks on the CPU: a SIGTERM is honoured within one step on every
rank, and resuming never hangs on a rank whose checkpoint copy is missing or damaged (that rank
receives the source rank's state by sharded tensor broadcasts, not one pickled object)."""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from model import distributed
from model.checkpoint import find_checkpoint, read_checkpoint
from tests.model.conftest import MICRO_OVERRIDES
from tests.model.gloo import rendezvous

WORLD = 2


def _argv(shards: str, run: str, steps: int, *extra: str) -> list[str]:
    argv = ["--device", "cpu", "--shards", shards, "--run", run, "--steps", str(steps), *extra]
    for override in [*MICRO_OVERRIDES, "log_every=1000", "val_every=1000"]:
        argv += ["--set", override]
    return argv


def _rank_env(rank: int, env: dict[str, str]) -> None:
    torch.set_num_threads(1)
    os.environ.update(env, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))


def _spawn(worker, args: tuple, deadline_s: float, what: str) -> None:
    with rendezvous(WORLD) as env:
        context = mp.start_processes(worker, args=(env, *args), nprocs=WORLD, join=False)
        deadline = time.monotonic() + deadline_s
        try:
            while not context.join(timeout=1):
                if time.monotonic() > deadline:
                    pytest.fail(f"ranks hung: {what}")
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()


def _sigterm_worker(rank: int, env: dict[str, str], shards: str, run: str, out: str) -> None:
    from model import train

    _rank_env(rank, env)
    step = train.Trainer.train_step

    def train_step(self, batches):
        result = step(self, batches)
        if rank == 1 and self.step == 3:  # a preemption notice reaches one rank only
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    train.Trainer.train_step = train_step
    code = train.main(_argv(shards, run, 40, "--set", "ckpt_every=1000"))
    Path(f"{out}.{rank}").write_text(f"{code} {distributed.live_gloo_threads()}")


@pytest.mark.slow
def test_a_sigterm_on_one_rank_stops_every_rank_within_one_step(toy_shards: Path, tmp_path: Path) -> None:
    run, out = tmp_path / "run", str(tmp_path / "code")
    _spawn(_sigterm_worker, (str(toy_shards), str(run), out), 120, "after a SIGTERM on rank 1")
    # Exit 143 on both, and main's teardown joined gloo's threads (issue #24: none may outlive it).
    assert [Path(f"{out}.{r}").read_text() for r in range(WORLD)] == ["143 0", "143 0"]
    assert read_checkpoint(run)["step"] == 4  # signalled during step 3; the vote lands one step later


def _resume_worker(rank: int, env: dict[str, str], shards: str, runs: list[str], resume: str, out: str) -> None:
    import torch.distributed as dist

    from model import train

    _rank_env(rank, env)
    pickled: list[int] = []
    send = dist.broadcast_object_list

    def recording(objects, *args, **kwargs):
        if dist.get_rank() == kwargs.get("src", args[0] if args else 0):
            pickled.append(max(len(pickle.dumps(o)) for o in objects))
        return send(objects, *args, **kwargs)

    dist.broadcast_object_list = recording
    started = train.Trainer.run

    def run(self):  # what this rank resumed, before training on
        weights = torch.cat([p.detach().flatten() for p in self.model.parameters()])
        torch.save({"step": self.step, "weights": weights}, f"{out}.{rank}.pt")
        return started(self)

    train.Trainer.run = run
    code = train.main(_argv(shards, runs[rank], 3, "--resume", resume, "--set", "ckpt_every=1"))
    Path(f"{out}.{rank}").write_text(f"{code} {max(pickled, default=0)}")


@pytest.fixture(scope="module")
def seed_run(toy_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-process run checkpointed at step 2 (tests copy its ``checkpoints`` folder)."""
    from model.train import main

    run = tmp_path_factory.mktemp("seed") / "run"
    torch.set_num_threads(1)
    assert main(_argv(str(toy_shards), str(run), 2, "--set", "ckpt_every=2")) == 0
    return run


def _copy_run(seed: Path, run: Path) -> Path:
    import shutil

    shutil.copytree(seed / "checkpoints", run / "checkpoints")
    return find_checkpoint(run)


def _truncate(checkpoint: Path) -> None:
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 3])


@pytest.mark.slow
def test_a_rank_with_a_truncated_checkpoint_receives_rank_0s_state_in_shards(
    toy_shards: Path, seed_run: Path, tmp_path: Path
) -> None:
    runs = [tmp_path / f"rank{r}" for r in range(WORLD)]
    saved = _copy_run(seed_run, runs[0])
    _truncate(_copy_run(seed_run, runs[1]))  # rank 1's disk holds a torn copy: torch.load raises there
    out = str(tmp_path / "resumed")
    _spawn(_resume_worker, (str(toy_shards), [str(r) for r in runs], "auto", out), 120, "with a torn copy on rank 1")

    reports = [Path(f"{out}.{r}").read_text().split() for r in range(WORLD)]
    assert [int(code) for code, _ in reports] == [0, 0]
    got = [torch.load(f"{out}.{r}.pt") for r in range(WORLD)]
    assert got[0]["step"] == got[1]["step"] == 2
    torch.testing.assert_close(got[0]["weights"], got[1]["weights"])
    # The source pickled only the checkpoint's structure and small values, not its tensors.
    assert int(reports[0][1]) < saved.stat().st_size // 20


def _unreadable_worker(rank: int, env: dict[str, str], run: str, out: str) -> None:
    from model import train

    _rank_env(rank, env)
    code = train.main(_argv("unused", run, 3, "--resume", "latest"))
    Path(f"{out}.{rank}").write_text(str(code))


@pytest.mark.slow
def test_when_no_rank_can_read_a_checkpoint_every_rank_fails_together(seed_run: Path, tmp_path: Path) -> None:
    _truncate(_copy_run(seed_run, tmp_path / "run"))
    out = str(tmp_path / "code")
    _spawn(_unreadable_worker, (str(tmp_path / "run"), out), 120, "with no readable checkpoint anywhere")
    assert [int(Path(f"{out}.{r}").read_text()) for r in range(WORLD)] == [2, 2]


def test_broadcast_state_skeleton_holds_no_tensor_and_rebuilds_the_state() -> None:
    state = {
        "model": {"w": torch.randn(3, 4), "b": torch.zeros(4, dtype=torch.bfloat16)},
        "ranks": [{"rng": (1, torch.arange(5, dtype=torch.uint8)), "positions": {0: (2, 3)}}],
        "step": 7,
    }
    skeleton, tensors = distributed.split_tensors(state)
    assert len(tensors) == 3
    assert not any(torch.is_tensor(x) for x in _leaves(skeleton))
    rebuilt = distributed.fill_tensors(skeleton, tensors)
    assert rebuilt["step"] == 7 and rebuilt["ranks"][0]["positions"] == {0: (2, 3)}
    assert rebuilt["model"]["w"] is state["model"]["w"] and rebuilt["ranks"][0]["rng"][1] is tensors[2]


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _broadcast_worker(rank: int, env: dict[str, str], out: str) -> None:
    _rank_env(rank, env)
    ctx = distributed.setup("cpu")
    try:
        g = torch.Generator().manual_seed(3)
        state = {"a": torch.randn(1000, generator=g), "b": [torch.arange(7), torch.tensor(2.5)], "n": "x"}
        got, shards = distributed.broadcast_state(state if rank == 1 else None, ctx, src=1, shard_bytes=1000)
        torch.save({"got": got, "shards": shards, "sent": state}, f"{out}.{rank}")
    finally:
        distributed.teardown()


@pytest.mark.slow
def test_broadcast_state_sends_the_tensors_in_shards_of_at_most_the_given_bytes(tmp_path: Path) -> None:
    out = str(tmp_path / "state")
    _spawn(_broadcast_worker, (out,), 60, "broadcasting a state")
    got = torch.load(f"{out}.0", weights_only=False)
    sent = got["sent"]
    assert got["shards"] == 5  # 4,000 + 56 + 4 bytes in shards of 1,000
    torch.testing.assert_close(got["got"]["a"], sent["a"])
    assert torch.equal(got["got"]["b"][0], sent["b"][0]) and got["got"]["b"][1].item() == 2.5
    assert got["got"]["n"] == "x"
