"""Test-only verl-med CPU test bed: a verl ``cpu`` platform and the import shims a CPU torch build needs."""
