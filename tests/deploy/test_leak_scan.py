"""The log scan of the deployment test finds every form of a secret, and excuses one line only."""

from __future__ import annotations

import base64

from deploy.leaks import scan, secret_forms

SECRET = "deploy-secret-0123456789abcdef"
TOKEN = "tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def test_the_scan_finds_the_secret_its_basic_credential_and_a_token(tmp_path):
    basic = base64.b64encode(f"client-a:{SECRET}".encode()).decode()
    log = tmp_path / "attempt=1.log"
    log.write_text(f"ok\nsecret={SECRET}\nAuthorization: Basic {basic}\nBearer {TOKEN}\nok\n")
    report = scan([log], secret_forms("client-a", SECRET, ["other-token-000000", TOKEN]))
    assert [leak.split(": ", 1)[1] for leak in report.leaks] == [
        "client secret",
        "Basic credential",
        "token #1",
    ]
    assert report.lines == 5


def test_only_airflows_mask_secret_line_is_excused(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text(
        f"[debug] Received message msg=MaskSecret(value='{SECRET}', name=None)\n"
        f"[debug] Received message msg=GetConnection(password='{SECRET}')\n"
    )
    report = scan([log], secret_forms("client-a", SECRET, [TOKEN]))
    assert len(report.excused) == 1
    assert report.leaks == [f"{log}:2: client secret"]
