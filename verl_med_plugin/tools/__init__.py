"""Tools for verl's multi-turn tool agent loop (docs/tools.md); ``zoom`` needs verl, ``crop`` does not."""
