"""The inference API: shapes, determinism, resampling and cropping (model/api.py)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from model.api import ClaraModel


@pytest.fixture(scope="module")
def clara(tiny_run) -> ClaraModel:
    return ClaraModel.from_checkpoint(tiny_run, device="cpu")


def _clips(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (4_800, 24_000, 12_000)]


def test_audio_embeddings_are_unit_vectors_one_per_clip(clara):
    embeddings = clara.get_audio_embeddings(_clips())
    assert embeddings.shape == (3, clara.embed_dim)
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_audio_embeddings_are_deterministic_and_independent_of_batching(clara):
    first = clara.get_audio_embeddings(_clips(), batch_size=3)
    again = clara.get_audio_embeddings(_clips(), batch_size=3)
    one_by_one = clara.get_audio_embeddings(_clips(), batch_size=1)
    assert torch.equal(first, again)
    assert torch.allclose(first, one_by_one, atol=1e-5)


def test_clip_longer_than_the_model_window_is_centre_cropped(clara):
    window = clara.max_samples
    rng = np.random.default_rng(1)
    long_clip = rng.standard_normal(window + 9_600).astype(np.float32) * 0.1
    centre = long_clip[4_800 : 4_800 + window]
    both = clara.get_audio_embeddings([long_clip, centre])
    assert torch.allclose(both[0], both[1], atol=1e-6)


def test_other_sample_rates_are_resampled_to_48k(clara, tmp_path):
    t = np.arange(16_000) / 16_000
    tone_16k = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert len(clara.prepare_audio(tone_16k, sample_rate=16_000)) == 48_000
    sf.write(tmp_path / "tone.wav", np.stack([tone_16k, tone_16k], axis=1), 16_000)
    from_file = clara.get_audio_embeddings([tmp_path / "tone.wav"])
    from_array = clara.get_audio_embeddings([tone_16k], sample_rate=16_000)
    assert torch.allclose(from_file, from_array, atol=1e-3)


def test_text_embeddings_depend_on_the_language_token(clara):
    english = clara.get_text_embeddings(["a man talking"], language="en")
    french = clara.get_text_embeddings(["a man talking"], language="fr")
    default = clara.get_text_embeddings(["a man talking"])
    assert english.shape == (1, clara.embed_dim)
    assert torch.equal(english, default)
    assert not torch.allclose(english, french)


def test_text_embeddings_per_text_languages_and_batching(clara):
    texts = ["un homme parle", "eine Frau spricht", "a dog barks"]
    batched = clara.get_text_embeddings(texts, language=["fr", "de", "en"], batch_size=2)
    single = torch.cat([clara.get_text_embeddings([t], language=lang) for t, lang in zip(texts, ["fr", "de", "en"])])
    assert torch.allclose(batched, single, atol=1e-5)
    with pytest.raises(ValueError):
        clara.get_text_embeddings(texts, language=["fr"])


def test_similarity_is_audio_by_text_cosine_times_tau(clara):
    audio = clara.get_audio_embeddings(_clips())
    text = clara.get_text_embeddings(["one", "two"])
    logits = clara.compute_similarity(audio, text)
    with torch.no_grad():
        tau_a = clara.model.temperatures()[0].item()
    assert logits.shape == (3, 2)
    assert torch.allclose(logits, tau_a * audio @ text.T)


def test_encoder_features_for_probes_have_the_encoder_width(clara):
    features = clara.get_audio_embeddings(_clips()[:2], projected=False)
    assert features.shape == (2, clara.model.audio_encoder.out_dim)
