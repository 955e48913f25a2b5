"""Experiment drivers: runs that combine the library into one measured result (the scale run, ...)."""
