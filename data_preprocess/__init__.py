"""Converters from raw medical datasets to verl parquet."""
