"""The LLM answer cache where a cluster can use it: inside the corpus folder (or any URI), written
atomically, safe with concurrent writers, and never the reason a sample fails."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pipelines.options import config_from, with_run_paths
from tests.augment.fake_llm import FakeLLM
from transforms import storage
from transforms.llm import ChatClient, LLMConfig


def test_the_cache_defaults_to_the_corpus_folder_not_a_relative_path(tmp_path: Path) -> None:
    corpus = str(tmp_path / "out" / "demo-en")
    assert with_run_paths(config_from(), corpus).llm.cache_dir == f"{corpus}/.cache/llm"
    assert with_run_paths(config_from(), "s3://b/out/demo-en").llm.cache_dir == "s3://b/out/demo-en/.cache/llm"
    assert with_run_paths(config_from({"llm_cache_dir": "none"}), corpus).llm.cache_dir is None
    given = with_run_paths(config_from({"llm_cache_dir": "rel/cache"}), corpus).llm.cache_dir
    assert Path(given).is_absolute() and given.endswith("rel/cache")
    assert with_run_paths(config_from({"llm_cache_dir": "gs://c/llm"}), corpus).llm.cache_dir == "gs://c/llm"


def test_the_launcher_states_where_the_cache_is(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from pipelines.cli import main

    code = main(
        ["shards", "--demo-items", "2", "--lang", "en", "--augment", "none", "--llm-url", "http://127.0.0.1:9/v1",
         "--output", str(tmp_path), "--name", "c", "--workers", "1"]
    )  # fmt: skip
    assert code == 0
    assert f"LLM answer cache: {tmp_path}/c/.cache/llm" in capsys.readouterr().err


def _chat(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"caption {i}"}]


def test_concurrent_writers_of_one_answer_leave_one_whole_answer_and_no_temporaries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clients = [ChatClient(LLMConfig(url="http://127.0.0.1:9/v1", cache_dir=str(cache))) for _ in range(8)]
    key = clients[0].cache_key(_chat(0))
    seen: list[str | None] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(clients[0]._cached(key))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=lambda c=c, i=i: [c._store(key, f"answer {i} " * 500) for _ in range(20)])
               for i, c in enumerate(clients)]  # fmt: skip
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].name == f"{key}.json"
    assert json.loads(files[0].read_text())["answer"] in {f"answer {i} " * 500 for i in range(8)}
    assert all(s is None or s in {f"answer {i} " * 500 for i in range(8)} for s in seen)  # never a torn answer


def test_a_cache_that_cannot_be_written_or_read_costs_a_request_not_a_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> bytes:
        raise storage.StorageError("cache store unreachable")

    monkeypatch.setattr(storage, "write_atomic", broken)
    monkeypatch.setattr(storage, "read_bytes", broken)
    with FakeLLM(lambda body, call: (200, "a bright tone", 0.0)) as llm:
        client = ChatClient(LLMConfig(url=llm.url, model="fake", cache_dir=str(tmp_path), retries=0))
        assert client.complete(_chat(1)) == "a bright tone" == client.complete(_chat(1))
        assert llm.calls == 2


def test_the_cache_lives_on_object_storage(s3) -> None:
    client_s3, flags = s3
    storage.configure(flags)
    with FakeLLM(lambda body, call: (200, f"answer {call}", 0.0)) as llm:
        client = ChatClient(LLMConfig(url=llm.url, model="fake", cache_dir="s3://corpus/out/.cache/llm", retries=0))
        first = client.complete(_chat(2))
        again = ChatClient(client.config).complete(_chat(2))  # another worker: the answer from the bucket
        assert first == again == "answer 1" and llm.calls == 1
    keys = [o["Key"] for o in client_s3.list_objects_v2(Bucket="corpus", Prefix="out/")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("out/.cache/llm/fake/") and ".tmp-" not in keys[0]
