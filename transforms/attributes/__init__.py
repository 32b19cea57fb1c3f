"""Measured attributes of a sample's voice and recording (speaking rate, pitch, reverberation,
speech quality) and the words that say them; the stage is :mod:`transforms.attributes.stage`."""
