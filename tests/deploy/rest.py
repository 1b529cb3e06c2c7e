"""Talk to the Airflow REST API (v2) the way an operator's script would."""

from __future__ import annotations

from typing import Any

import requests


class AirflowApi:
    """A thin client: a JWT from ``/auth/token`` (simple auth manager, all admins), then v2 calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def login(self) -> None:
        """Get a token without credentials: ``simple_auth_manager_all_admins`` allows it."""
        response = self.session.get(f"{self.base_url}/auth/token", timeout=10)
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def health(self) -> dict[str, Any]:
        response = self.session.get(f"{self.base_url}/api/v2/monitor/health", timeout=10)
        response.raise_for_status()
        return response.json()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/api/v2/<path>``; raise with the body on an error answer."""
        response = self.session.request(
            method, f"{self.base_url}/api/v2/{path.lstrip('/')}", timeout=30, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("PATCH", path, json=body)

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"dags/{dag_id}/dagRuns", limit=100)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.get(path, limit=100)["task_instances"]
