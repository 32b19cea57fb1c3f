"""What a GPU run relies on, checked on the CPU: int16 batches, no per-step host syncs, TF32,
a mask-free (flash-eligible) text path, DDP settings and torch.compile without per-batch recompiles."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
import soundfile as sf
import torch
import torch._dynamo
import torch._dynamo.testing
import torch.nn.functional as F

from model import distributed
from model.config import TrainConfig
from model.data import ShardStream, bucket_length
from model.heads import Clara
from model.shards import resolve_shards
from model.tokenizer import CaptionTokenizer
from model.train import Trainer, build_parser, compile_model, resolve_config
from tests.model.conftest import MICRO_OVERRIDES

TOKENIZER = CaptionTokenizer(32)


def _batches(shards: Path, config: TrainConfig, n: int) -> list[dict]:
    urls = resolve_shards([str(shards)], "train").urls
    stream = iter(ShardStream(urls, config.data, TOKENIZER, train=True, seed=3))
    return [next(stream) for _ in range(n)]


def test_batches_carry_int16_pcm_that_embeds_exactly_like_the_decoded_float(
    toy_shards: Path, micro_config: TrainConfig
) -> None:
    (batch,) = _batches(toy_shards, micro_config, 1)
    assert batch["audio"].dtype == torch.int16
    key, length = batch["keys"][0], int(batch["audio_lengths"][0])
    for tar_path in sorted((toy_shards / "train").glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            if f"{key}.flac" in tar.getnames():
                reference, _ = sf.read(io.BytesIO(tar.extractfile(f"{key}.flac").read()), dtype="float32")
    assert length == len(reference)  # toy clips are shorter than max_audio_s: no crop
    assert torch.equal(batch["audio"][0, :length].float() / 32768.0, torch.from_numpy(reference))
    model = Clara(micro_config.model).eval()
    floats = batch["audio"].float() / 32768.0
    torch.testing.assert_close(
        model.encode_audio(batch["audio"], batch["audio_lengths"]),
        model.encode_audio(floats, batch["audio_lengths"]),
        rtol=0,
        atol=0,
    )


def _trainer(shards: Path, run: Path, steps: int, *extra: str) -> Trainer:
    argv = ["--shards", str(shards), "--run", str(run), "--steps", str(steps)]
    for override in [*MICRO_OVERRIDES, "ckpt_every=1000", "val_every=1000", *extra]:
        argv += ["--set", override]
    args = build_parser().parse_args(argv)
    return Trainer(resolve_config(args, None), args, distributed.setup("cpu"))


def test_training_reads_values_back_from_the_device_only_at_logging_steps(
    toy_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"item": 0}
    item = torch.Tensor.item

    def counting_item(self):
        calls["item"] += 1
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    counts = []
    for steps in (2, 6):
        calls["item"] = 0
        trainer = _trainer(toy_shards, tmp_path / f"run{steps}", steps, f"log_every={steps}")
        trainer.run()
        assert len(trainer.losses) == steps and all(isinstance(x, float) for x in trainer.losses)
        counts.append(calls["item"])
    assert counts[0] == counts[1]  # one logging step each: no read-back per training step


def test_tf32_is_switched_on_for_cuda_devices_only() -> None:
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    saved_precision = torch.get_float32_matmul_precision()
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        distributed.enable_tf32(torch.device("cpu"))
        assert not torch.backends.cuda.matmul.allow_tf32
        distributed.enable_tf32(torch.device("cuda"))
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
        torch.set_float32_matmul_precision(saved_precision)


def test_causal_text_path_calls_attention_without_a_mask_and_ignores_padding(
    micro_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    micro_config.model.text.causal = True
    model = Clara(micro_config.model).eval()
    seen = []
    sdpa = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append((kwargs.get("attn_mask"), kwargs.get("is_causal")))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    tokens = torch.tensor([[50259, 257, 1877, 50257]])
    alone = model.encode_text(tokens, torch.ones_like(tokens, dtype=torch.bool))
    padded = torch.tensor([[50259, 257, 1877, 50257, 999, 999], [50259, 1, 2, 3, 4, 50257]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(model.encode_text(padded, mask)[0], alone[0], atol=1e-5, rtol=1e-5)
    assert seen and all(attn_mask is None and causal for attn_mask, causal in seen)  # flash-eligible


def test_buckets_round_up_and_never_exceed_the_cap() -> None:
    assert bucket_length(1, 16, 64) == 16 and bucket_length(16, 16, 64) == 16 and bucket_length(17, 16, 64) == 32
    assert bucket_length(60, 16, 64) == 64 and bucket_length(70, 16, 64) == 70


def test_compiled_model_does_not_recompile_for_batches_in_the_same_bucket(
    toy_shards: Path, micro_config: TrainConfig
) -> None:
    micro_config.data.pad_to = "bucket"
    micro_config.data.audio_bucket_s = 1.0  # = max_audio_s: one audio shape
    batches = _batches(toy_shards, micro_config, 4)
    assert len({int(b["audio_lengths"].max()) for b in batches}) > 1  # "longest" would give new shapes
    assert len({tuple(b["audio"].shape) for b in batches}) == 1 and len({b["tokens"].shape for b in batches}) == 1
    model = Clara(micro_config.model)
    counter = torch._dynamo.testing.CompileCounter()
    torch._dynamo.reset()
    compiled = compile_model(model, model, micro_config, backend=counter)
    for b in batches:
        compiled(b["audio"], b["audio_lengths"], b["tokens"], b["text_mask"])
    assert counter.frame_count == 1  # one graph, no graph breaks, no recompiles


def test_make_train_counts_gpus_with_torch_and_honours_cuda_visible_devices() -> None:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        ["make", "-n", "-C", str(root), "train", "SHARDS=x", "STAMP=", "NGPU=auto"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "--nproc-per-node auto" in out  # model.launch resolves auto with torch.cuda.device_count()
    assert "nvidia-smi" not in (root / "Makefile").read_text()


@pytest.mark.slow
def test_every_bucketed_shape_compiles_past_dynamos_default_recompile_limit(micro_config: TrainConfig) -> None:
    from model.train import batch_shapes

    micro_config.data.pad_to = "bucket"
    micro_config.data.audio_bucket_s = 0.25  # 1 s clips: 4 audio buckets
    micro_config.data.text_bucket = 8  # 32 tokens: 4 text buckets
    assert batch_shapes(micro_config) == 16  # the 100M preset: 10 x 8 = 80
    model = Clara(micro_config.model)
    counter = torch._dynamo.testing.CompileCounter()
    torch._dynamo.reset()
    saved = torch._dynamo.config.recompile_limit
    try:
        compiled = compile_model(model, model, micro_config, backend=counter)
        shapes = [(samples, tokens) for samples in (12_000, 24_000, 36_000) for tokens in (8, 16, 32)]
        for samples, tokens in shapes:  # 9 shapes: dynamo's default limit of 8 left one uncompiled
            audio = torch.zeros(2, samples, dtype=torch.int16)
            ids = torch.randint(0, 50_000, (2, tokens))
            compiled(audio, torch.tensor([samples, samples // 2]), ids, torch.ones(2, tokens, dtype=torch.bool))
        assert counter.frame_count == len(shapes)
    finally:
        torch._dynamo.config.recompile_limit = saved
        torch._dynamo.reset()
