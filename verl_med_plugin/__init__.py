"""verl-med: glue between verl 0.9.x and the medical rewards, data and sampler of VRFT-Aug."""

__version__ = "0.1.0"
