"""The shape of an analysis: the JSON schema the model must fill, evidence first, conclusion last.

The deterministic fallback fills the same model, so one renderer serves both and a reader can compare them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LINE_CHARS = 240
Line = Annotated[str, Field(min_length=1, max_length=LINE_CHARS)]


class Cause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: Line
    likelihood: Literal["high", "medium", "low"]
    based_on: Line = Field(description="the observed fact this cause rests on")
    workload: str | None = Field(description="the workload concerned, exactly as named in the facts, or null")


class Analysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observed_facts: list[Line] = Field(min_length=1, max_length=6)
    likely_causes: list[Cause] = Field(min_length=1, max_length=4, description="most likely first")
    severity: Literal["critical", "high", "medium", "low"]
    severity_reason: Line
    immediate_actions: list[Line] = Field(min_length=1, max_length=5)
    longer_term_advice: list[Line] = Field(max_length=4)
    money_at_stake_per_day: float | None = Field(description="copied from the facts, or null")
    headline: Annotated[str, Field(min_length=1, max_length=140)]
    recommended_action: str | None = Field(
        default=None, description="the name of one action listed in the facts' actions that fits, or null"
    )

    def texts(self) -> list[str]:
        """Every free-text field, for the grounding check."""
        out = [*self.observed_facts, self.severity_reason, *self.immediate_actions, *self.longer_term_advice]
        for cause in self.likely_causes:
            out += [cause.cause, cause.based_on]
        return [*out, self.headline]


SCHEMA: dict[str, Any] = Analysis.model_json_schema()
