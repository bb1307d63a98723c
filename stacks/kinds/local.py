"""The `local` stack: runs execute on the worker's own machine, each in its own process group
(`runs.local_runner`, which asks this kind only for the environment to give the run)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LocalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables set for the run's process (not secret)."
    )


class LocalOrchestrator:
    """Executes a run in a child of the worker, in a process group of its own."""

    def __init__(self, config: LocalConfig, secrets: dict[str, str]) -> None:
        self.config = config
        self.secrets = secrets

    @classmethod
    def for_stack(cls, config: LocalConfig, secrets: dict[str, str]) -> LocalOrchestrator:
        return cls(config, secrets)

    def validate(self) -> bool:
        return True

    def environment(self) -> dict[str, str]:
        return {**self.config.env, **self.secrets}
