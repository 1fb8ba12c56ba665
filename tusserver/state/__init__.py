"""Upload state that several instances share: running `Repr-Digest` hashes that can be saved and resumed."""
