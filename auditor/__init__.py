"""repro-auditor: a reproducibility auditor and static checker for ML experiments."""

__version__ = "0.1.0"
