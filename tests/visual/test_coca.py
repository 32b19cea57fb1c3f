"""The CoCa handler: load a saved checkpoint by path through open_clip, caption frames in batches."""

from __future__ import annotations

import numpy as np
import pytest

from tests.visual.conftest import scene_image
from transforms.visual.coca import CocaCaptioner, clean_caption
from transforms.visual.options import DECODINGS


def captioner(tiny_coca: dict[str, str], decoding: str = "greedy", batch_size: int = 4) -> CocaCaptioner:
    return CocaCaptioner(
        model_name=tiny_coca["coca_model"],
        pretrained=tiny_coca["coca_pretrained"],
        device="auto",
        batch_size=batch_size,
        generation={**DECODINGS[decoding], "seq_len": 12},
    )


@pytest.fixture(scope="module")
def loaded(tiny_coca):
    handler = captioner(tiny_coca)
    return handler, handler.load_model()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<start_of_text>a dog running on the beach . <end_of_text>!!!!!!", "A dog running on the beach"),
        ("<start_of_text>a a man man riding a horse<end_of_text>", "A man riding a horse"),
        ("<start_of_text>a red car a red car a red car parked<end_of_text>", "A red car parked"),
        ("<start_of_text>two cats , sleeping ( on a sofa )<end_of_text>", "Two cats, sleeping (on a sofa)"),
        ("<start_of_text>!!!!!!!!!!!!!!!!!!!", None),
        ('<start_of_text>"""""""""$', None),
    ],
)
def test_generated_text_is_cleaned(raw, expected):
    assert clean_caption(raw) == expected


def test_the_checkpoint_loads_by_path_with_the_saved_weights(tiny_coca, loaded):
    import torch

    _, model = loaded
    saved = torch.load(tiny_coca["coca_pretrained"], weights_only=True)["state_dict"]
    state = model.model.state_dict()
    assert set(saved) == set(state)
    assert all(torch.equal(saved[name], state[name].cpu()) for name in saved)
    assert model.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_frames_get_one_clean_caption_each_and_batching_does_not_change_them(loaded):
    handler, model = loaded
    frames = [scene_image(i, size=(120, 160)) for i in range(5)]
    batched = list(handler.run_inference(frames, model))
    one_by_one = [next(iter(handler.run_inference([f], model))) for f in frames]
    assert len(batched) == 5
    assert batched == one_by_one
    assert all(text and text[0].isupper() and "<" not in text for text in batched)


def test_beam_search_decoding_runs_with_this_transformers(tiny_coca):
    """transformers >= 4.57 broke open_clip's beam search; this runs the real generate path."""
    handler = captioner(tiny_coca, decoding="beam")
    texts = list(handler.run_inference([scene_image(0)], handler.load_model()))
    assert len(texts) == 1 and isinstance(texts[0], str)  # random weights may say nothing: ""


def test_the_handler_runs_inside_beam_run_inference(tiny_coca):
    import apache_beam as beam
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that

    frames = [("a", scene_image(0)), ("b", scene_image(1)), ("c", scene_image(2))]

    def check(results):
        assert sorted(key for key, _ in results) == ["a", "b", "c"]
        assert all(isinstance(text, str) and text for _, text in results)

    with TestPipeline() as p:
        captions = p | beam.Create(frames) | RunInference(KeyedModelHandler(captioner(tiny_coca)))
        assert_that(captions, check)


def test_an_unknown_generation_argument_is_refused(tiny_coca):
    with pytest.raises(ValueError, match="unknown CoCa generation"):
        captioner(tiny_coca).validate_inference_args({"beams": 3})


def test_frames_of_any_size_are_captioned(loaded):
    handler, model = loaded
    frames = [np.zeros((8, 300, 3), np.uint8), np.full((500, 20, 3), 200, np.uint8)]
    assert len(list(handler.run_inference(frames, model))) == 2


def test_the_offline_stand_in_checkpoint_says_its_weights_are_random(tiny_coca_random):
    model = captioner(tiny_coca_random).load_model()
    assert model.weights.real is False and model.weights.source == "random_init"
    assert "stand-in" in model.weights.detail


def test_weights_marked_trained_load_as_real(loaded):
    _, model = loaded
    assert model.weights.real is True and model.weights.source == "test:stands-in-for-trained"


def test_provenance_of_tags_unmarked_checkpoints_and_no_weights(tmp_path):
    import torch

    from transforms.visual.coca import weights_provenance

    assert weights_provenance(
        "coca_ViT-B-32", "mscoco_finetuned_laion2b_s13b_b90k", "mscoco_finetuned_laion2b_s13b_b90k"
    ).real
    assert weights_provenance("coca_ViT-B-32", None, None).real is False
    unmarked = tmp_path / "finetuned.pt"
    torch.save({"w": torch.zeros(2)}, unmarked)
    taken = weights_provenance("coca_ViT-B-32", str(unmarked), str(unmarked))
    assert taken.real and taken.source == "checkpoint:finetuned.pt" and "unmarked" in taken.detail
