"""TFDS builder folder; importing `tfds_builders` registers it."""
