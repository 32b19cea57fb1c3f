"""The portable runner's workers share nothing with the launcher but object storage: another
working directory, another HOME and TMPDIR, input read from and shards written to S3 (moto).
Their shards are byte-identical to the DirectRunner's."""

from __future__ import annotations

import pytest

from tests.scale.conftest import portable_matches_direct


@pytest.mark.slow
def test_isolated_portable_workers_on_s3_match_the_direct_runner(s3, tmp_path):
    client, flags = s3
    portable_matches_direct(client, flags, tmp_path)
