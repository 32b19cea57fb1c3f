"""Natural-language descriptions from metadata (paper §III-A1 and Table II).

The paper's speech template is "A {gender} saying {transcription} in a {emotion} voice";
Table II's zero-shot templates ('A person talking in a {label} voice', 'The sound of
{label}', '{label} speaker', 'A {label}') are the vocabulary the captions share, so
descriptions and zero-shot prompts speak the same language. Each caption records its
language and origin: templates are English (translation is a later stage), a transcript is
in the speaker's language, human captions are kept verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Caption, Failure
from schemas.vocab import language_name
from transforms.diarize.gender import caption_gender
from transforms.stage import Sample, Stage, StageSpec

STAGE = "describe"

_WHO = {"male": "man", "female": "woman", "unknown": "person"}
_WHO_BY_AGE = {
    ("child", "male"): "boy",
    ("child", "female"): "girl",
    ("child", "unknown"): "child",
    ("teen", "male"): "teenage boy",
    ("teen", "female"): "teenage girl",
    ("teen", "unknown"): "teenager",
    ("senior", "male"): "elderly man",
    ("senior", "female"): "elderly woman",
    ("senior", "unknown"): "elderly person",
}
_AGE_SUFFIX = {
    "twenties": "in their twenties",
    "thirties": "in their thirties",
    "forties": "in their forties",
    "fifties": "in their fifties",
}


def article(word: str) -> str:
    """'a' or 'an' before ``word`` (by its first letter: good enough for labels we generate)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def who(gender: str, age: str | None = None) -> str:
    """'man', 'woman', 'person', 'girl', 'elderly man', ..."""
    gender = gender if gender in _WHO else "unknown"
    return _WHO_BY_AGE.get((age or "", gender), _WHO[gender])


def speech_caption(gender: str, transcript: str, emotion: str | None, age: str | None = None) -> str:
    """The paper's template: "A woman saying 'It's eleven o'clock' in an angry voice"."""
    person = who(gender, age)
    text = f"{article(person).capitalize()} {person} saying '{transcript.strip()}'"
    if emotion and emotion != "neutral":
        text += f" in {article(emotion)} {emotion} voice"
    elif emotion == "neutral":
        text += " in a neutral voice"
    return text


def speaker_caption(language: str, gender: str, emotion: str | None, age: str | None = None) -> str:
    """Who speaks, in which language and how: "A French-speaking woman talking in a happy voice"."""
    person = who(gender, age)
    name = language_name(language)
    text = f"{article(name).capitalize()} {name}-speaking {person}"
    if age in _AGE_SUFFIX:
        text += f" {_AGE_SUFFIX[age]}"
    if emotion:
        text += f" talking in {article(emotion)} {emotion} voice"
    return text


def sound_caption(labels: list[str]) -> str:
    """Table II's sound template over one or more labels: "The sound of a dog barking and rain"."""
    return "The sound of " + " and ".join(label.replace("_", " ") for label in labels)


def attribute_caption(said: dict[str, str], gender: str, emotion: str | None = None, age: str | None = None) -> str:
    """The measured attributes' template (:mod:`transforms.attributes.words`): "A woman speaks
    quickly in a high-pitched, angry voice; the recording is clean and close-sounding"."""
    from transforms.attributes.words import ENGLISH

    def word(key: str) -> str:
        return ENGLISH[key].get(said.get(key, ""), "")

    person = who(gender, age)
    text = f"{article(person).capitalize()} {person} speaks"
    if word("rate"):
        text += f" {word('rate')}"
    voice = [
        w for w in (word("pitch"), word("expressiveness"), emotion if emotion and emotion != "neutral" else "") if w
    ]
    if voice:
        text += f" in {article(voice[0])} {', '.join(voice)} voice"
    recording = [w for w in (word("noise"), word("reverberation"), word("quality")) if w]
    if recording:
        said_of_it = recording[0] if len(recording) == 1 else f"{', '.join(recording[:-1])} and {recording[-1]}"
        text += f"; the recording is {said_of_it}"
    return text


def sample_attribute_caption(sample: Sample, said: dict[str, str] | None = None) -> str | None:
    """The attribute caption :func:`describe` gives ``sample`` for the levels ``said`` (default: its
    measured ones), or None when it gives none (no words, or nobody speaks)."""
    item = sample.item
    if said is None:
        said = (sample.original_data.get("attributes") or {}).get("words")
    if not said or not ((sample.segment.transcript or "").strip() or "speech" in item.labels):
        return None
    gender = caption_gender(item.gender, sample.original_data.get("diarization"))
    return attribute_caption(said, gender, item.emotion, item.age)


def describe(sample: Sample) -> tuple[list[Caption], list[str]]:
    """Captions and tags of a sample from its item's metadata and its segment's transcript."""
    item = sample.item
    gender = caption_gender(item.gender, sample.original_data.get("diarization"))  # the dataset's label wins
    captions: list[Caption] = []
    transcript = (sample.segment.transcript or "").strip()
    sound_labels = [lab for lab in item.labels if lab != "speech"]
    if transcript:
        captions.append(Caption(speech_caption(gender, transcript, item.emotion, item.age), "en", "template"))
    if item.language != "und" and (transcript or "speech" in item.labels):
        captions.append(Caption(speaker_caption(item.language, gender, item.emotion, item.age), "en", "template"))
    elif item.emotion and not transcript:
        person = who(gender, item.age)
        captions.append(
            Caption(
                f"{article(person).capitalize()} {person} talking in {article(item.emotion)} {item.emotion} voice",
                "en",
                "template",
            )
        )
    measured = sample_attribute_caption(sample)
    if measured is not None:
        captions.append(Caption(measured, "en", "template"))
    if sound_labels:
        captions.append(Caption(sound_caption(sound_labels), "en", "template"))
    caption_language = item.extra.get("caption_language", "en")
    captions.extend(Caption(c.strip(), caption_language, "human") for c in item.captions if c.strip())
    if transcript:
        captions.append(Caption(transcript, item.language, "transcript"))
    tags = list(
        dict.fromkeys(
            [
                *item.labels,
                *([item.emotion] if item.emotion else []),
                *([gender] if gender != "unknown" else []),
            ]
        )
    )
    return captions, tags


@dataclass
class DescribeStage(Stage):
    """Adds the metadata captions to every sample; a sample with nothing to say is a failure."""

    name: str = STAGE

    def setup(self) -> None:
        pass

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        out: list[Sample] = []
        failures: list[Failure] = []
        for sample in samples:
            captions, tags = describe(sample)
            if not captions and not sample.captions:
                failures.append(
                    sample.fail(STAGE, "no_caption", "no transcript, label, caption or emotion in metadata")
                )
                continue
            out.append(sample.derive(captions=[*sample.captions, *captions], tags=[*sample.tags, *tags]))
        return out, failures


@dataclass(frozen=True)
class DescribeSettings:
    """Descriptions from metadata (paper §III-A1): no knobs yet; the templates are the contract."""


SPEC = StageSpec(name=STAGE, settings=DescribeSettings, build=lambda config: DescribeStage(), order=20)
