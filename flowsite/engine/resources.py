"""What a step or a job asks of the machine it runs on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

_MEMORY_UNITS = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?\s*$")


def parse_cpu(value: str | int | float) -> Decimal:
    """Cores as a number; accepts Kubernetes millicores such as "500m"."""
    text = str(value).strip()
    try:
        if text.endswith("m"):
            cores = Decimal(text[:-1]) / 1000
        else:
            cores = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"cpu must be a number of cores such as '2' or '500m', not {value!r}") from None
    if cores < 0:
        raise ValueError(f"cpu must not be negative, not {value!r}")
    return cores


def parse_bytes(value: str | int) -> int:
    """Bytes from a quantity such as "2Gi", "512Mi" or "1G"."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as '2Gi' or '512Mi', not {value!r}")
    number, unit = match.groups()
    return int(Decimal(number) * _MEMORY_UNITS[unit or ""])


def _larger_size(a: str, b: str) -> str:
    return a if parse_bytes(a) >= parse_bytes(b) else b


@dataclass
class ResourceConfig:
    cpu: str = "1"
    memory: str = "2Gi"
    gpu: str | None = None
    gpu_count: int = 0
    disk_size: str = "10Gi"
    machine_type: str | None = None

    def __post_init__(self) -> None:
        self.cpu = str(self.cpu)
        parse_cpu(self.cpu)
        parse_bytes(self.memory)
        parse_bytes(self.disk_size)
        if self.gpu_count < 0:
            raise ValueError(f"gpu_count must not be negative, not {self.gpu_count}")

    def merge(self, other: ResourceConfig) -> ResourceConfig:
        """The smallest request that satisfies both: the maximum of each resource."""
        cpu = self.cpu if parse_cpu(self.cpu) >= parse_cpu(other.cpu) else other.cpu
        # The accelerator type follows whichever side asks for more of them.
        gpu_side = self if (self.gpu_count, self.gpu is not None) >= (other.gpu_count, other.gpu is not None) else other
        return ResourceConfig(
            cpu=cpu,
            memory=_larger_size(self.memory, other.memory),
            gpu=gpu_side.gpu or self.gpu or other.gpu,
            gpu_count=max(self.gpu_count, other.gpu_count),
            disk_size=_larger_size(self.disk_size, other.disk_size),
            machine_type=self.machine_type or other.machine_type,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "gpu": self.gpu,
            "gpu_count": self.gpu_count,
            "disk_size": self.disk_size,
            "machine_type": self.machine_type,
        }


@dataclass
class DockerConfig:
    image: str | None = None
    env_vars: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "env_vars": dict(self.env_vars),
            "command": self.command,
            "args": self.args,
            "working_dir": self.working_dir,
        }
