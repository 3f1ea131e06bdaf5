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
    def closer_to(self) -> str | None:
        """Which replay the reported score is closer to: "quantized", "unquantized" or "equal"; None when
        there is nothing to tell apart (no declared quantization, a replay missing, or it changed nothing)."""
        if not self.quant_declared or self.reported is None or self.quantized is None or self.unquantized is None:
            return None
        if self.quant_noop:
            return None
        gap_q, gap_u = abs(self.quantized - self.reported), abs(self.unquantized - self.reported)
        if abs(gap_q - gap_u) <= 1e-12 * max(1.0, abs(self.reported)):
            return "equal"
        return "quantized" if gap_q < gap_u else "unquantized"

    @property
    def unquantized_closer(self) -> bool:
        """The incident's signature, whatever the tolerance: the score matches the replay without
        quantization better than the replay under the quantization the run declares."""
        return self.closer_to == "unquantized"

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
        if self.unquantized_closer and (self.unquantized_matches or self.quantized_matches):
            return "measured without quantization"
        if self.quantized_matches:
            return "reproduced"
        return "not reproduced"

    def to_json(self) -> dict:
        data = asdict(self)
        data["conclusion"] = self.conclusion
        data["closer_to"] = self.closer_to
        return data

    def outcome(self) -> str:
        """One line for `audit run`'s header."""
        if self.checkpoint_problem:
            return f"not replayed: checkpoint {self.checkpoint_problem}"
        def show(value):
            return "n/a" if value is None else f"{value:.4g}"
        parts = [f"reported {show(self.reported)}"]
        if self.quant_declared:
            parts.append(f"with {self.quant_description} {show(self.quantized)}")
        parts.append(f"without quantization {show(self.unquantized)}")
        closer = f", closer to the {self.closer_to} replay" if self.closer_to not in (None, "equal") else ""
        return f"{self.conclusion} ({', '.join(parts)}{closer})"

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
        if self.closer_to:
            lines.append(f"  the reported score is closer to the {self.closer_to} replay" if self.closer_to != "equal"
                         else "  the reported score is as close to either replay")
        lines.append(f"  tolerance ±{show(self.tolerance)}; conclusion: {self.conclusion}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def findings_for_example(cls, example: dict, _folder, _plugins: tuple[str, ...] = ()) -> list:
    """The example adapter of the replay scope (auditor/scopes.py): an example is a ReplayResult's fields."""
    from auditor.findings import run_location
    from auditor.meta import run_rule

    result = ReplayResult(**example)
    return run_rule(cls(), run_location(result.run_id), result)
