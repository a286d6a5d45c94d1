"""Backend conformance suite: every backend must pass these tests unchanged."""
