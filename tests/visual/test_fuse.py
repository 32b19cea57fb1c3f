"""Fusion C = f(C^v, C^t): the template always, an LLM when configured, the template on any LLM trouble."""

from __future__ import annotations

from transforms.llm_settings import LLMSettings
from transforms.visual.fuse import CaptionFuser, FusionInput, fuser_from_settings, template_fusion

AUDIO = "A woman saying 'See you tomorrow' in a happy voice"
SCENE = FusionInput(
    visual=("A dog on a beach", "A red car parked on a street"), audio=AUDIO, transcript="See you tomorrow"
)


class FakeChat:
    """Test double of the chat client: answers from a function, records the chats."""

    def __init__(self, answer):
        self.answer = answer
        self.chats = []

    def complete_many(self, chats):
        self.chats.extend(chats)
        return [self.answer(chat) for chat in chats]


class LLMError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def test_the_template_names_the_scenes_in_order_then_the_audio():
    assert template_fusion(SCENE.visual, AUDIO) == (
        "Scene: a dog on a beach, then a red car parked on a street. "
        "Audio: A woman saying 'See you tomorrow' in a happy voice"
    )


def test_without_an_llm_the_template_is_the_fused_caption():
    [result] = CaptionFuser().fuse_many([SCENE])
    assert (result.method, result.reason) == ("template", "no_llm")
    assert result.text.startswith("Scene: a dog on a beach")


def test_with_an_llm_its_validated_answer_is_the_fused_caption():
    answer = "On a beach with a dog nearby, a woman happily says 'See you tomorrow' beside a parked red car."
    chat = FakeChat(lambda _: answer)
    [result] = CaptionFuser(chat, model="fake").fuse_many([SCENE])
    assert (result.text, result.method, result.reason) == (answer, "llm", "ok")
    assert chat.chats[0][-1] == {"role": "user", "content": template_fusion(SCENE.visual, AUDIO)}


def test_an_answer_that_changes_the_transcript_falls_back_to_the_template():
    chat = FakeChat(lambda _: "A woman on a beach says goodbye to her dog next to a red car.")
    [result] = CaptionFuser(chat).fuse_many([SCENE])
    assert (result.method, result.reason) == ("template", "transcript_changed")
    assert result.text == template_fusion(SCENE.visual, AUDIO)


def test_an_llm_error_or_a_broken_client_falls_back_to_the_template():
    [timed_out] = CaptionFuser(FakeChat(lambda _: LLMError("timeout"))).fuse_many([SCENE])
    assert (timed_out.method, timed_out.reason) == ("template", "timeout")

    class Broken:
        def complete_many(self, chats):
            raise ConnectionError("down")

    [broken] = CaptionFuser(Broken()).fuse_many([SCENE])
    assert (broken.method, broken.reason) == ("template", "ConnectionError")


def test_the_llm_is_used_only_when_an_endpoint_is_configured():
    assert not fuser_from_settings(LLMSettings()).uses_llm
    fuser = fuser_from_settings(LLMSettings(url="http://127.0.0.1:9/v1", model="smollm2", cache_dir=None))
    assert fuser.uses_llm and fuser.model == "smollm2"
