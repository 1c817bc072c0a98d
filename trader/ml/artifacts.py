"""Model artifacts on disk: one file per version, its SHA-256 kept in the registry and checked on load.

The file is a pickle (joblib); loading one runs code from it, which is why a file whose digest
differs from the one registered at training time is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import joblib

from trader.ml.drift import FeatureReference
from trader.ml.estimators import ModelParameters
from trader.ml.model import MlModel
from trader.ml.ranking_model import RANKING_KIND, RankingModel


class ArtifactIntegrityError(RuntimeError):
    """The artifact is missing or is not the file that was registered; retrain or restore it."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_path(models_dir: Path, name: str, version: int) -> Path:
    return models_dir / name / f"v{version:04d}.joblib"


def _write(payload: dict[str, Any], path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    joblib.dump(payload, temporary)
    temporary.replace(path)
    return file_sha256(path)


def _read(path: Path, expected_sha256: str) -> dict[str, Any]:
    if not path.is_file():
        raise ArtifactIntegrityError(f"model artifact {path} is missing")
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact {path} has SHA-256 {actual}, the registry expects {expected_sha256}; refusing it"
        )
    payload: dict[str, Any] = joblib.load(path)  # the digest was checked against the registry above
    return payload


def save_model(model: MlModel, path: Path) -> str:
    """Write the model; return the file's SHA-256."""
    payload: dict[str, Any] = {
        "estimator": model.estimator,
        "feature_names": list(model.feature_names),
        "horizon": model.horizon,
        "label_threshold": model.label_threshold,
        "references": {name: reference.as_dict() for name, reference in model.references.items()},
        "name": model.name,
        "version": model.version,
    }
    return _write(payload, path)


def load_model(path: Path, expected_sha256: str) -> MlModel:
    payload = _read(path, expected_sha256)
    return MlModel(
        estimator=payload["estimator"],
        feature_names=tuple(payload["feature_names"]),
        horizon=int(payload["horizon"]),
        label_threshold=float(payload["label_threshold"]),
        references={name: FeatureReference.from_dict(ref) for name, ref in payload["references"].items()},
        name=str(payload["name"]),
        version=payload["version"],
    )


def save_ranking_model(model: RankingModel, path: Path) -> str:
    """Write a cross-sectional ranking model; return the file's SHA-256."""
    return _write(
        {
            "kind": RANKING_KIND,
            "estimator": model.estimator,
            "feature_names": list(model.feature_names),
            "horizon": model.horizon,
            "top_fraction": model.top_fraction,
            "parameters": model.parameters.as_dict(),
            "references": {name: reference.as_dict() for name, reference in model.references.items()},
            "name": model.name,
            "version": model.version,
        },
        path,
    )


def load_ranking_model(path: Path, expected_sha256: str) -> RankingModel:
    payload = _read(path, expected_sha256)
    if payload.get("kind") != RANKING_KIND:
        raise ArtifactIntegrityError(f"model artifact {path} is not a cross-sectional ranking model")
    return RankingModel(
        estimator=payload["estimator"],
        feature_names=tuple(payload["feature_names"]),
        horizon=int(payload["horizon"]),
        top_fraction=float(payload["top_fraction"]),
        parameters=ModelParameters.from_dict(payload["parameters"]),
        references={name: FeatureReference.from_dict(ref) for name, ref in payload["references"].items()},
        name=str(payload["name"]),
        version=payload["version"],
    )
