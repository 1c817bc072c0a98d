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
from trader.ml.model import MlModel


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


def save_model(model: MlModel, path: Path) -> str:
    """Write the model; return the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "estimator": model.estimator,
        "feature_names": list(model.feature_names),
        "horizon": model.horizon,
        "label_threshold": model.label_threshold,
        "references": {name: reference.as_dict() for name, reference in model.references.items()},
        "name": model.name,
        "version": model.version,
    }
    temporary = path.with_suffix(".tmp")
    joblib.dump(payload, temporary)
    temporary.replace(path)
    return file_sha256(path)


def load_model(path: Path, expected_sha256: str) -> MlModel:
    if not path.is_file():
        raise ArtifactIntegrityError(f"model artifact {path} is missing")
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact {path} has SHA-256 {actual}, the registry expects {expected_sha256}; refusing it"
        )
    payload = joblib.load(path)  # the digest was checked against the registry above
    return MlModel(
        estimator=payload["estimator"],
        feature_names=tuple(payload["feature_names"]),
        horizon=int(payload["horizon"]),
        label_threshold=float(payload["label_threshold"]),
        references={name: FeatureReference.from_dict(ref) for name, ref in payload["references"].items()},
        name=str(payload["name"]),
        version=payload["version"],
    )
