"""Hydra configs of verl-med (shipped as verl_med_plugin.configs)."""
