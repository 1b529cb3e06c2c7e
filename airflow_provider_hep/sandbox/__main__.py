"""Run the sandbox CLI: ``python -m airflow_provider_hep.sandbox --help``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
