"""Speech-aware segmentation (paper §III-A1, Fig. 1a): long audio cut into ≤ 10 s pieces between words."""
