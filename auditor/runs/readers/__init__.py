"""Readers: each translates one on-disk format into `Run` records and does nothing else.

native (run.yaml/run.json), wandb, mlflow (file store and SQLite), hydra, tensorboard, sacred, guild.
Which folder is read by which reader is decided by `auditor.runs.discover`.
"""
