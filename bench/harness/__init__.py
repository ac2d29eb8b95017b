"""The benchmark harness of `bench/run` (issue 8): assetd against its peers, one table."""
