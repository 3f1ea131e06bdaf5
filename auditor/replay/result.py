"""What a replay measured (plain data, no torch): the subject of the replay rules RA401-RA403."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def default_tolerance(reported: float) -> float:
    """Eval noise allowance from the metric's scale: 1 point for [0, 1] scores, else 2% relative."""
    if 0.0 <= reported <= 1.0:
        return 0.01
    return 0.02 * abs(reported)


def within(measured: float | None, reported: float | None, tolerance: float) -> bool:
    return measured is not None and reported is not None and abs(measured - reported) <= tolerance + 1e-12


@dataclass
class ReplayResult:
    run_id: str
    metric: str | None = None
    reported: float | None = None
    reported_step: Any = None
    quant: str = "none"  # the spec string declared for the run
    quant_description: str = "no quantization"
    quant_declared: bool = False  # a format or a hook (not none/bf16)
    quantized: float | None = None  # the metric replayed under the declared quantization
    unquantized: float | None = None  # ... and without any
    tolerance: float = 0.0
    outputs_identical: bool | None = None  # model outputs with and without quantization (None: not seen)
    quant_report: dict = field(default_factory=dict)  # apply.QuantReport.to_json()
    checkpoint: str | None = None
    checkpoint_problem: str | None = None  # "unsafe" | "unreadable"
    checkpoint_message: str = ""
    unsafe_callables: list[str] = field(default_factory=list)
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)

    # -- conclusions (the rules use these) ----------------------------------------------------
    @property
    def quantized_matches(self) -> bool:
        return within(self.quantized, self.reported, self.tolerance)

    @property
    def unquantized_matches(self) -> bool:
        return within(self.unquantized, self.reported, self.tolerance)

    @property
    def quant_noop(self) -> bool:
        """The declared quantization changed nothing the replay could see."""
        if not self.quant_declared or self.quantized is None:
            return False
        if self.outputs_identical is not None:
            return self.outputs_identical
        return self.quantized == self.unquantized and not self.quant_report.get("quantized_modules")

    @property
    def conclusion(self) -> str:
        if self.checkpoint_problem:
            return f"checkpoint {self.checkpoint_problem}"
        if self.reported is None:
            return "nothing reported to compare"
        if self.quant_noop:
            return "quantization changes nothing"
        if self.quantized_matches:
            return "reproduced"
        if self.quant_declared and self.unquantized_matches:
            return "measured without quantization"
        return "not reproduced"

    def to_json(self) -> dict:
        data = asdict(self)
        data["conclusion"] = self.conclusion
        return data

    def verdict(self) -> str:
        """The human summary printed above the findings."""
        def show(value):
            if value is None:
                return "n/a"
            return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)

        step = f" at step {self.reported_step}" if self.reported_step is not None else ""
        lines = [f"Replay of run {self.run_id} (device {self.device})"]
        if self.checkpoint_problem:
            lines.append(f"  checkpoint {self.checkpoint}: {self.checkpoint_problem}: {self.checkpoint_message}")
            lines.append("  conclusion: not replayed")
            return "\n".join(lines) + "\n"
        lines.append(f"  reported {self.metric} = {show(self.reported)}{step}")
        if self.quant_declared:
            lines.append(f"  replay with {self.quant_description} gives {show(self.quantized)}")
        lines.append(f"  replay without quantization gives {show(self.unquantized)}")
        lines.append(f"  tolerance ±{show(self.tolerance)}; conclusion: {self.conclusion}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def findings_for_example(cls, example: dict, _folder, _plugins: tuple[str, ...] = ()) -> list:
    """The example adapter of the replay scope (auditor/scopes.py): an example is a ReplayResult's fields."""
    from auditor.findings import run_location
    from auditor.meta import run_rule

    result = ReplayResult(**example)
    return run_rule(cls(), run_location(result.run_id), result)
