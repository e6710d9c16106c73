"""`rathaus mail-test`: an operator or a newcomer sends a test message through the real path."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from tests.conftest import run_cli


def test_mail_test_has_help() -> None:
    result = run_cli("mail-test", "--help")

    assert result.returncode == 0
    assert "usage: rathaus mail-test" in result.stdout
    assert "--to" in result.stdout


def test_queued_test_message_is_written_by_the_worker_as_an_eml_file(
    fresh_database_url: str, tmp_path: Path
) -> None:
    mail_dir = tmp_path / "mail"
    env = {"RATHAUS_DATABASE_URL": fresh_database_url, "RATHAUS_MAIL_DIR": str(mail_dir)}
    assert run_cli("migrate", env=env).returncode == 0

    queued = run_cli("mail-test", "--to", "newcomer@example.org", "--language", "en", env=env)
    assert queued.returncode == 0, queued.stderr
    assert "Test message queued as delivery" in queued.stdout
    assert f"It will appear as an .eml file under {mail_dir}." in queued.stdout
    assert not mail_dir.exists()

    worked = run_cli("worker", "--once", env=env)

    assert worked.returncode == 0, worked.stderr
    [eml] = list(mail_dir.iterdir())
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "newcomer@example.org"
    assert message["Subject"] == "Test message from the Digitales Rathaus"
    assert "newcomer" not in worked.stderr + worked.stdout + queued.stderr


def test_mail_test_refuses_an_invalid_address_and_an_unknown_transport(
    fresh_database_url: str,
) -> None:
    env = {"RATHAUS_DATABASE_URL": fresh_database_url}
    assert run_cli("migrate", env=env).returncode == 0

    invalid = run_cli("mail-test", "--to", "not-an-address", env=env)
    unknown = run_cli(
        "mail-test", "--to", "a@example.org", env={**env, "RATHAUS_MAIL_TRANSPORT": "smpt"}
    )

    assert (invalid.returncode, invalid.stderr.strip()) == (
        2,
        "--to is not a valid e-mail address.",
    )
    assert unknown.returncode == 2
    assert "RATHAUS_MAIL_TRANSPORT names 'smpt'" in unknown.stderr
