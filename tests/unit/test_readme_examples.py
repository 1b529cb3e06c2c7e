"""Every python example in README.md runs, against the sandbox, so the docs cannot rot.

- A block right after an ``<!-- no-run -->`` line is only compiled.
- A DAG file (it contains ``@dag`` or ``DAG(``) is parsed as the DAG processor would parse it:
  it must import cleanly and define at least one DAG. It is not run.
- Every other block runs as a script in a fresh interpreter, with ``AIRFLOW_CONN_SAP_HEP_DEFAULT``
  pointing at a running sandbox and a private ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_hep.sandbox import HepSandbox

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
NO_RUN = "<!-- no-run -->"
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?:python|py|python3)[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
RUN_TIMEOUT = 180

# Parse a file with the DAG processor's DagBag (its module moved in Airflow 3.2) and report.
PARSE_DAG_FILE = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dag_ids": sorted(bag.dag_ids), "errors": {str(k): str(v) for k, v in bag.import_errors.items()}}))
"""


@dataclass(frozen=True)
class Example:
    """One fenced python block of the README."""

    line: int
    code: str
    no_run: bool

    @property
    def is_dag_file(self) -> bool:
        return "@dag" in self.code or "DAG(" in self.code

    def describe(self) -> str:
        """Name the block by its line and its first lines, for failure messages."""
        head = "\n".join(f"    {line}" for line in self.code.strip().splitlines()[:4])
        return f"README.md line {self.line}:\n{head}"


def readme_examples(text: str) -> list[Example]:
    """Return every ```python block of ``text``, in order."""
    examples = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        no_run = bool(before) and before[-1].strip() == NO_RUN
        line = text.count("\n", 0, match.start()) + 1
        code = (
            textwrap.dedent(match.group("code")) if match.group("indent") else match.group("code")
        )
        examples.append(Example(line=line, code=code, no_run=no_run))
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8")) if README.is_file() else []


def test_the_readme_has_python_examples():
    assert README.is_file(), f"{README} is missing"
    assert EXAMPLES, "README.md has no ```python block: the docs check would check nothing"


def test_the_extractor_finds_plain_indented_and_no_run_blocks():
    text = (
        "Intro\n```python\nprint(1)\n```\n\n<!-- no-run -->\n\n```python\nx = (\n```\n"
        "- item\n  ```python\n  import os\n  ```\n```bash\nmake test\n```\n"
    )
    assert readme_examples(text) == [
        Example(line=2, code="print(1)\n", no_run=False),
        Example(line=8, code="x = (\n", no_run=True),
        Example(line=12, code="import os\n", no_run=False),
    ]


@pytest.fixture
def child_env(tmp_path):
    """Give a child interpreter a private Airflow home and the sandbox as sap_hep_default."""
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    with HepSandbox() as sandbox:
        yield {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_SAP_HEP_DEFAULT": sandbox.conn_json(),
        }


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


@pytest.mark.parametrize("example", [pytest.param(e, id=f"README.md:{e.line}") for e in EXAMPLES])
def test_readme_example(example, child_env, tmp_path):
    if example.no_run:
        compile(example.code, f"README.md:{example.line}", "exec")
        return
    script = tmp_path / f"readme_example_line_{example.line}.py"
    script.write_text(example.code, encoding="utf-8")
    if example.is_dag_file:
        result = run_child(["-c", PARSE_DAG_FILE, str(script)], child_env, tmp_path)
        assert result.returncode == 0, f"{example.describe()}\n{result.stderr[-3000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["errors"] == {}, f"{example.describe()}\n{report['errors']}"
        assert report["dag_ids"], f"{example.describe()}\ndefines no DAG"
        return
    result = run_child([str(script)], child_env, tmp_path)
    assert result.returncode == 0, (
        f"{example.describe()}\nexited {result.returncode}\n{result.stderr[-3000:]}"
    )
