"""The TTS helper server's entry point: ``python -m transforms.tts`` (see :mod:`transforms.tts.server`).

Started as the package's ``__main__`` so the server module is imported once, under its own name.
"""

from transforms.tts.server import serve

serve()
