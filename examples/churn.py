"""Customer churn: generate data, split, scale, train, evaluate, and register a good model.

A pipeline a data scientist would recognise, in plain Python so it runs anywhere:

    load_customers  (retried: the "warehouse" drops the first connection of each process)
    split           -> train, test
    fit_scaler  \\
    scale_features  }  one execution group, "features": run together on one machine
    train_model     logistic regression by gradient descent
    evaluate        accuracy and log loss on the held-out set, recorded as metrics
    register_model  only when accuracy reaches `min_accuracy` (a condition)

Run it with `python -m examples.churn`: it runs twice to show the second run served from cache.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import tempfile
from typing import Any

from flowsite.engine import FileArtifactStore, LocalExecutor, MemoryCacheStore, Pipeline, RunObserver, log_metric, step

log = logging.getLogger(__name__)

Row = dict[str, float]
_warehouse_connections = {"failed": 0}


@step(outputs=["customers"], retry=2, retry_delay=0.2, tags={"stage": "data"})
def load_customers(n_customers: int = 600, seed: int = 7) -> list[Row]:
    """Synthetic customers whose churn depends on tenure, charges and support calls."""
    if _warehouse_connections["failed"] == 0:
        _warehouse_connections["failed"] += 1
        raise ConnectionError("warehouse connection reset by peer")
    rng = random.Random(seed)
    customers = []
    for _ in range(n_customers):
        tenure = rng.uniform(0, 72)
        charges = rng.uniform(20, 120)
        calls = float(rng.randint(0, 9))
        risk = -2.8 - 0.06 * tenure + 0.03 * charges + 0.45 * calls + rng.gauss(0, 0.8)
        customers.append({"tenure": tenure, "charges": charges, "calls": calls, "churned": float(risk > 0)})
    print(f"loaded {len(customers)} customers, churn rate {sum(c['churned'] for c in customers) / len(customers):.1%}")
    return customers


@step(inputs=["customers"], outputs=["train", "test"])
def split(customers: list[Row], test_fraction: float = 0.25, seed: int = 7) -> tuple[list[Row], list[Row]]:
    rows = list(customers)
    random.Random(seed).shuffle(rows)
    cut = int(len(rows) * (1 - test_fraction))
    print(f"train {cut} rows, test {len(rows) - cut} rows")
    return rows[:cut], rows[cut:]


FEATURES = ("tenure", "charges", "calls")


@step(inputs=["train"], outputs=["scaler"], execution_group="features")
def fit_scaler(train: list[Row]) -> dict[str, tuple[float, float]]:
    scaler = {}
    for name in FEATURES:
        values = [row[name] for row in train]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        scaler[name] = (mean, std)
    return scaler


@step(inputs=["train", "test", "scaler"], outputs=["train_x", "test_x"], execution_group="features")
def scale_features(train: list[Row], test: list[Row], scaler: dict[str, tuple[float, float]]) -> tuple[list, list]:
    def scale(rows: list[Row]) -> list[tuple[list[float], float]]:
        return [([(row[n] - scaler[n][0]) / scaler[n][1] for n in FEATURES], row["churned"]) for row in rows]

    return scale(train), scale(test)


def _predict(weights: list[float], x: list[float]) -> float:
    z = weights[0] + sum(w * v for w, v in zip(weights[1:], x))
    return 1 / (1 + math.exp(-max(min(z, 30), -30)))


@step(inputs=["train_x"], outputs=["model"], timeout=120, tags={"stage": "train"})
def train_model(train_x: list, epochs: int = 150, learning_rate: float = 0.5) -> dict[str, Any]:
    weights = [0.0] * (len(FEATURES) + 1)
    for epoch in range(epochs):
        gradient = [0.0] * len(weights)
        for x, y in train_x:
            error = _predict(weights, x) - y
            gradient[0] += error
            for i, v in enumerate(x, start=1):
                gradient[i] += error * v
        weights = [w - learning_rate * g / len(train_x) for w, g in zip(weights, gradient)]
        if epoch % 10 == 0:
            log_metric("train_error", math.sqrt(sum(g * g for g in gradient)) / len(train_x), step=epoch)
        if epoch % 50 == 0:
            log.warning("epoch %d: weights %s", epoch, [round(w, 3) for w in weights])
    return {"weights": weights, "features": list(FEATURES)}


@step(inputs=["model", "test_x"], outputs=["metrics"])
def evaluate(model: dict[str, Any], test_x: list) -> dict[str, float]:
    correct = 0
    loss = 0.0
    for x, y in test_x:
        p = _predict(model["weights"], x)
        correct += (p >= 0.5) == (y == 1.0)
        loss -= y * math.log(max(p, 1e-12)) + (1 - y) * math.log(max(1 - p, 1e-12))
    metrics = {"accuracy": correct / len(test_x), "log_loss": loss / len(test_x)}
    for name, value in metrics.items():
        log_metric(name, value)
    print(f"accuracy {metrics['accuracy']:.3f}, log loss {metrics['log_loss']:.3f}")
    return metrics


def good_enough(metrics: dict[str, float], min_accuracy: float = 0.8) -> bool:
    return metrics["accuracy"] >= min_accuracy


@step(inputs=["model", "metrics"], outputs=["registered"], condition=good_enough, cache=False)
def register_model(model: dict[str, Any], metrics: dict[str, float]) -> dict[str, Any]:
    print(f"registering churn model with accuracy {metrics['accuracy']:.3f}")
    return {"name": "churn-classifier", "accuracy": metrics["accuracy"], "weights": model["weights"]}


pipeline = Pipeline(
    "churn-model",
    [load_customers, split, fit_scaler, scale_features, train_model, evaluate, register_model],
    description="Train a churn classifier on synthetic customers and register it when it is accurate enough.",
)


class PrintingObserver(RunObserver):
    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        print(f"    [{step_name}] {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.churn", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=600, help="how many customers to generate")
    parser.add_argument("--min-accuracy", type=float, default=0.8, help="register the model only at this accuracy")
    args = parser.parse_args(argv)
    params = {"n_customers": args.customers, "min_accuracy": args.min_accuracy}

    cache = MemoryCacheStore()
    executor = LocalExecutor(observer=PrintingObserver())
    with tempfile.TemporaryDirectory(prefix="flowsite-artifacts-") as folder:
        artifacts = FileArtifactStore(folder)
        for attempt in ("first run", "second run, same parameters"):
            print(f"== {pipeline.name}: {attempt}")
            result = pipeline.run(params, executor=executor, cache_store=cache, artifact_store=artifacts)
            print(result.summary())
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
