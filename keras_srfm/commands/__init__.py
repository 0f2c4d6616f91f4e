"""Argument parsing for each `srfm` subcommand (one module each); see keras_srfm.cli."""
