"""Container id -> name, read from the engines' own files so the exporter needs no Docker socket.

Needing the socket would hand the exporter root on the host; the state files are readable through a read-only mount.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from exporter.cgroupfs import Kind, Workload

log = logging.getLogger(__name__)

SHORT_ID = 12


class NameResolver:
    """Caches names per container id; ids never change names except on `docker rename`, a rare, harmless lag."""

    def __init__(self, docker_root: Path, podman_root: Path) -> None:
        self._docker_root = docker_root
        self._podman_index = podman_root / "overlay-containers" / "containers.json"
        self._cache: dict[str, str] = {}
        self._podman_mtime = -1.0
        self._podman_names: dict[str, str] = {}

    def name(self, workload: Workload) -> str:
        if not workload.is_container:
            return workload.ident
        cached = self._cache.get(workload.ident)
        if cached is None:
            cached = self._lookup(workload) or workload.ident[:SHORT_ID]
            self._cache[workload.ident] = cached
        return cached

    def forget_all_but(self, live_ids: set[str]) -> None:
        """Drop names of containers that are gone, so churn does not grow the cache without bound."""
        for ident in self._cache.keys() - live_ids:
            del self._cache[ident]

    def _lookup(self, workload: Workload) -> str | None:
        if workload.kind is Kind.DOCKER:
            return self._docker_name(workload.ident)
        if workload.kind is Kind.PODMAN:
            return self._podman_name(workload.ident)
        return None

    def _docker_name(self, ident: str) -> str | None:
        path = self._docker_root / "containers" / ident / "config.v2.json"
        try:
            name = json.loads(path.read_text(encoding="utf-8")).get("Name")
        except (OSError, ValueError, AttributeError):
            return None
        return name.lstrip("/") or None if isinstance(name, str) else None

    def _podman_name(self, ident: str) -> str | None:
        try:
            mtime = self._podman_index.stat().st_mtime
            if mtime != self._podman_mtime:
                entries = json.loads(self._podman_index.read_text(encoding="utf-8"))
                self._podman_names = {e["id"]: e["names"][0] for e in entries if isinstance(e, dict) and e.get("names")}
                self._podman_mtime = mtime
        except (OSError, ValueError, KeyError, TypeError):
            log.debug("podman container index unreadable: %s", self._podman_index)
            return None
        return self._podman_names.get(ident)
