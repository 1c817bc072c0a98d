"""Reading the deployment files the way Docker Compose does (including its !reset/!override tags)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[3]


# A SafeLoader of our own, so the tags are not added to PyYAML's shared SafeLoader.
ComposeLoader: Any = type("ComposeLoader", (yaml.SafeLoader,), {})


def _tagged(loader: Any, node: Any) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


ComposeLoader.add_constructor("!reset", _tagged)
ComposeLoader.add_constructor("!override", _tagged)


def load(name: str) -> Any:
    return yaml.load((REPOSITORY / name).read_text(), Loader=ComposeLoader)
