"""Passes: named pure functions IR -> IR (and analyses of the IR)."""
