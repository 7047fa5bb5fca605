"""Behaviour features computed in the engine (sessions, click entities), shared by detectors and training."""
