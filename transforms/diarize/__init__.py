"""Who speaks when (speaker diarization) and what each speaker is like.

- :mod:`transforms.diarize.embed`: speaker embeddings of short windows (Resemblyzer offline; pyannote
  or SpeechBrain from the user's weights);
- :mod:`transforms.diarize.cluster`: clustering a block at a time, then across blocks; Viterbi
  resegmentation of each speech region;
- :mod:`transforms.diarize.core`: a recording's :class:`~transforms.diarize.turns.Diarization` from its
  VAD speech regions;
- :mod:`transforms.diarize.turns`: turns, words to speakers, the forced cuts of the segment plan;
- :mod:`transforms.diarize.gender`: each speaker's gender from pitch, and the gender a caption says.

The segment stage runs it with ``--diarize`` (:mod:`transforms.segment.speakers`); ``docs/diarize.md``
describes the settings, the measured figures and the limits.
"""
