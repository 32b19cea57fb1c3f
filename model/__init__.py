"""The bundled CLARA trainer (paper §IV–V): shards → log-mel → encoders → Eq. 3 → checkpoints.

Reads shards only through the contract in ``schemas`` (never ``pipelines``/``transforms``).

- ``python -m model.train --shards DIR|URL... --config tiny --run runs/x`` — train (``model.train.main``)
- ``model.checkpoint.load_clara(run_or_file, device)`` — a trained model, its config and tokenizer,
  with ``embed_audio(clips)`` / ``embed_text(texts, languages)`` for evaluation and serving
- ``model.data.make_loader`` / ``model.shards.resolve_shards`` — the WebDataset loader
- ``model.config.load_config`` — presets ``tiny``, ``60M``, ``100M``, ``600M`` or a YAML file
"""
